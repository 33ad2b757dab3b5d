"""``filmai timeline|blender|nuke``: the headless side of the DCC adapters.

* ``filmai timeline cuts FILE.otio [--json]`` — shots and cuts of a timeline (what the hosts place as
  strip splits, markers and summaries); ``filmai timeline convert IN.otio OUT.edl|.otio|.csv``.
* ``filmai blender build-extension [--output-dir dist]`` — build and validate the extension zip;
  ``filmai blender jobs FILE.blend`` — the FilmAI jobs stored in a .blend, as command lines or JSON, so a
  farm can rebuild them without the artist's session.
* ``filmai nuke path`` — the folder to put on NUKE_PATH; ``filmai nuke install DIR`` — a self-contained copy.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
from typing import Any, Iterator


def register_cli(sub: Any) -> None:
    p = sub.add_parser("timeline", help="editorial timelines: shots/cuts summary, OTIO → EDL/CSV")
    tsub = p.add_subparsers(dest="timeline_command", metavar="ACTION", required=True)
    c = tsub.add_parser("cuts", help="shots and cuts of a timeline")
    c.add_argument("path")
    c.add_argument("--rate", type=float, help="frame rate (needed to read an EDL)")
    c.add_argument("--table", help="a cut-list CSV (frame, confidence columns) for confidences the timeline lacks")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_timeline_cuts)
    c = tsub.add_parser("convert", help="write a timeline as .otio, .edl (CMX 3600) or .csv")
    c.add_argument("source")
    c.add_argument("target")
    c.add_argument("--rate", type=float, help="frame rate (needed to read an EDL)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing target")
    c.set_defaults(func=cmd_timeline_convert)

    p = sub.add_parser("blender", help="the Blender extension: build it, read jobs stored in a .blend")
    bsub = p.add_subparsers(dest="blender_command", metavar="ACTION", required=True)
    b = bsub.add_parser("build-extension", help="build and validate the extension zip")
    b.add_argument("--output-dir", default="dist")
    b.add_argument("--blender", help="a Blender executable (default: the extension tool inside the bpy module)")
    b.set_defaults(func=cmd_blender_build)
    b = bsub.add_parser("jobs", help="FilmAI jobs stored in a .blend (needs the bpy module)")
    b.add_argument("blend")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_blender_jobs)

    p = sub.add_parser("nuke", help="the Nuke plug-in folder")
    nsub = p.add_subparsers(dest="nuke_command", metavar="ACTION", required=True)
    n = nsub.add_parser("path", help="print the folder to add to NUKE_PATH")
    n.set_defaults(func=cmd_nuke_path)
    n = nsub.add_parser("install", help="copy a self-contained plug-in folder to DIR")
    n.add_argument("dest")
    n.set_defaults(func=cmd_nuke_install)


def cmd_timeline_cuts(args: argparse.Namespace) -> int:
    from . import timeline

    summary = timeline.cuts_summary(args.path, args.rate, args.table)
    print(json.dumps(summary, indent=2) if args.json else timeline.summary_text(summary))
    return 0


def cmd_timeline_convert(args: argparse.Namespace) -> int:
    from . import timeline

    print(timeline.convert(args.source, args.target, args.rate, overwrite=args.overwrite))
    return 0


def cmd_blender_build(args: argparse.Namespace) -> int:
    from . import bundle

    print(bundle.build_blender_extension(args.output_dir, args.blender))
    return 0


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Blender prints from C ("Read blend: ..."): keep fd 1 clean for JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def read_blend_jobs(blend: str) -> list[dict[str, Any]]:
    """Job specs saved by the extension in each scene's ``filmai.jobs_json`` (readable without the extension)."""
    from filmai_plugins.errors import BadInput

    if not os.path.isfile(blend):
        raise BadInput(f"{blend}: file not found")
    with _stdout_to_stderr():
        try:
            import bpy  # the bpy module; only hosts/ imports it
        except ImportError:
            raise BadInput("reading a .blend needs the bpy module (pip install -c constraints.txt bpy==5.0.1)") from None
        try:
            bpy.ops.wm.open_mainfile(filepath=os.path.abspath(blend), load_ui=False)
        except RuntimeError as exc:
            raise BadInput(f"{blend}: cannot open ({exc})") from None
        out = []
        for scene in bpy.data.scenes:
            # Blender 5.0 keeps add-on (bpy.props) properties apart from user ID properties
            system = scene.bl_system_properties_get() if hasattr(scene, "bl_system_properties_get") else scene
            group = system.get("filmai") if system is not None else None
            text = group.get("jobs_json", "") if group is not None else ""
            if not text:
                continue
            for _key, entry in sorted(json.loads(text).items()):
                out.append({"scene": scene.name, **entry})
    return out


def cmd_blender_jobs(args: argparse.Namespace) -> int:
    jobs = read_blend_jobs(args.blend)
    if args.json:
        print(json.dumps(jobs, indent=2))
        return 0
    if not jobs:
        print(f"{args.blend}: no FilmAI jobs stored")
    for job in jobs:
        print(f"# scene {job['scene']}: {job['node']} ({job.get('status', '')})")
        print(job.get("command") or "")
    return 0


def cmd_nuke_path(args: argparse.Namespace) -> int:
    from . import bundle

    print(bundle.NUKE_SOURCE)
    return 0


def cmd_nuke_install(args: argparse.Namespace) -> int:
    from . import bundle

    dest = bundle.install_nuke_folder(args.dest)
    print(f"{dest}\nadd it to NUKE_PATH, e.g.  export NUKE_PATH={shlex.quote(os.path.abspath(dest))}:$NUKE_PATH")
    return 0
