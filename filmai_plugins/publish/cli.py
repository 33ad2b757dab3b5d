"""``filmai publish``: validate and publish run outputs, checkpoints and timelines."""
from __future__ import annotations

import argparse
import json


def cmd_publish(args: argparse.Namespace) -> int:
    from .runner import HOST_NAMES, publish

    if args.host not in HOST_NAMES:
        from ..errors import BadInput

        raise BadInput(f"unknown host {args.host!r} (one of {', '.join(HOST_NAMES)})")
    result = publish(args.sources, root=args.root, project=args.project, shot=args.shot, task=args.task,
                     name=args.name, targets=[args.targets], host=args.host, frames=args.frames,
                     colorspace=args.colorspace, fps=args.fps, transfer="copy" if args.copy else "link",
                     repair=args.repair, movie=not args.no_movie, extra_plugin_paths=args.plugins or (),
                     handles=args.handles, partial=args.partial)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        print(result.format())
    return result.exit_code


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "publish", help="validate and publish run outputs, checkpoints and timelines (Pyblish)",
        description="Collect, validate, extract review media and publish a new version into "
                    "<root>/<project>/<shot>/<task>/<name>/v###/. Exit code 1 when anything failed.")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="run manifest(s), a folder of manifests, an output sequence (its manifests are found "
                        "next to it), a checkpoint, or an .otio timeline")
    p.add_argument("--root", help="publish root (default $FILMAI_PUBLISH_ROOT)")
    p.add_argument("--project", help="project (default $FILMAI_PROJECT)")
    p.add_argument("--shot", help="shot (default $FILMAI_SHOT)")
    p.add_argument("--task", help="task (default $FILMAI_TASK)")
    p.add_argument("--name", help="publish name (default: the sequence, checkpoint or timeline name)")
    p.add_argument("--targets", default="local", choices=("local", "farm"),
                   help="Pyblish target: local (a workstation) or farm (a farm job's publish step)")
    p.add_argument("--frames", metavar="SPEC", help="frame range the sequence must contain (default: the "
                   "manifests' range); FilmAI (1001-1100x2) or OpenJD (1001-1099:2) syntax")
    p.add_argument("--handles", metavar="HEAD[,TAIL]", help="frames at the head (and tail) of the range that "
                   "are handles, outside the cut: recorded as head in, cut in, cut out, tail out (default 0)")
    p.add_argument("--colorspace", help="record this colourspace for frames whose header names none "
                   "(tagged frames need no flag; a tag that contradicts it is refused)")
    p.add_argument("--fps", type=float, help="preview movie frame rate (default: the frames', else 24)")
    p.add_argument("--copy", action="store_true", help="copy files instead of hard-linking them")
    p.add_argument("--repair", action="store_true",
                   help="run the mechanical repairs of failed checks (re-render missing/stale frames, "
                        "fix names), then publish again")
    p.add_argument("--no-movie", action="store_true", help="skip the H.264 preview movie")
    p.add_argument("--partial", action="store_true", help="publish every instance that passed its own checks even "
                   "when another failed (default: one failure holds every instance back)")
    p.add_argument("--host", default="headless", help="host whose plug-ins run (headless, blender, nuke)")
    p.add_argument("--plugins", action="append", metavar="DIR", help="an extra folder of Pyblish plug-ins")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_publish)
