"""The ``filmai`` command: the headless host used by TDs, render farms and the DCC adapters.

Exit codes: 0 done, 2 bad usage or bad input, 1 failure while running, 130 cancelled.

``nodes``, ``info``, ``run`` and ``train`` are defined here; every other sub-command comes from a plug-in
through the ``filmai_register_commands`` hook (the core's own ``demo``, ``publish``, ``farm`` … included),
so a pack can add its own. Each command function receives ``args.app``, the app object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import Any, Sequence

from ._version import __version__
from .cliargs import add_common_run_args, add_io_args, io_values, parse_ports, parse_sets
from .errors import Cancelled, FilmAIError

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one clear line
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


# ----- commands -----------------------------------------------------------------------------------


def cmd_nodes(args: argparse.Namespace) -> int:
    from .node import nodes_markdown

    reg = args.app
    if args.markdown:
        text = nodes_markdown(reg.nodes.values())
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
        return 0
    if args.json:
        from .engine.context import IO_OPTIONS

        data = {"version": __version__, "nodes": [reg.nodes[k].schema() | {"pack": reg.node_pack[k]} for k in sorted(reg.nodes)],
                "io_options": [p.to_json() for p in IO_OPTIONS],
                "packs": reg.packs, "failed": [f.to_json() for f in reg.failed]}
        print(json.dumps(data, indent=2))
        return 0
    width = max((len(k) for k in reg.nodes), default=10)
    for node_id in sorted(reg.nodes):
        cls = reg.nodes[node_id]
        flags = " (trainable)" if cls.trainable else ""
        print(f"{node_id:<{width}}  {cls.version:<7} {cls.label or ''}{flags}")
    if not reg.nodes:
        print("no nodes registered")
    for f in reg.failed:
        print(f"FAILED pack {f.name!r} ({f.source}): {f.reason}", file=sys.stderr)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    reg = args.app
    cls = reg.get(args.node)
    if args.frames_needed:
        # what a host must render or stage for a temporal node (before clamping to what exists)
        from .frames.sequence import format_frames, parse_frames

        node = cls(parse_sets(args.sets))
        frames = parse_frames(args.frames_needed)
        needed: set[int] = set()
        for f in frames:
            node.params = cls.params_at(node.resolved, f)
            needed.update(int(n) for n in node.frames_needed(f))
        print(json.dumps({"frames": format_frames(frames), "needed": format_frames(needed)}))
        return 0
    schema = cls.schema() | {"pack": reg.node_pack[cls.id]}
    if args.json:
        print(json.dumps(schema, indent=2))
        return 0
    print(f"{schema['id']} {schema['version']} — {schema['label']} ({schema['family']}, {schema['scope']} scope"
          f"{', trainable' if schema['trainable'] else ''}; pack {schema['pack']})")
    print()
    print(schema["help"])
    for title, ports in (("inputs", schema["inputs"]), ("outputs", schema["outputs"])):
        if ports:
            print(f"\n{title}:")
            for p in ports:
                ch = f" [{', '.join(p['channels'])}]" if p["channels"] else ""
                print(f"  {p['name']:<12} {p['type']}{ch}{' (optional)' if p['optional'] else ''}  {p['help']}")
    for stage in ("run", "train"):
        ps = [p for p in schema["params"] if p["stage"] in (stage, "both")]
        if ps:
            print(f"\n{'params' if stage == 'run' else 'training params'} (--set name=value):")
            for p in ps:
                rng = f" {{{'|'.join(p['choices'])}}}" if p["type"] == "enum" else (
                    f" [{p['min']}, {p['max']}]" if p["min"] is not None or p["max"] is not None else "")
                print(f"  {p['name']:<22} {p['type']:<6} default {p['default']!r}{rng}  {p['help']}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .engine.runner import run_node

    cls = args.app.get(args.node)
    manifest = run_node(
        args.node, input=parse_ports(args.input, [p.name for p in cls.inputs]),
        output=parse_ports(args.output, [p.name for p in cls.outputs]), frames=args.frames,
        model=args.model, params=parse_sets(args.sets), device=args.device, progress=args.progress,
        skip_existing=args.skip_existing, io=io_values(args), cancel=args.cancel, manifest=args.manifest,
        app=args.app)
    if args.progress != "json":
        for port, entry in manifest.get("outputs", {}).items():
            if "frames_written" in entry:
                skipped = f", {entry['frames_skipped']} already done" if entry.get("frames_skipped") else ""
                count = entry["count"]
                print(f"{port}: {count} frame{'' if count == 1 else 's'} written to {entry['pattern']}"
                      f" ({entry['frames_written'] or 'none'}{skipped})")
            else:
                for f in entry.get("files", []):
                    print(f"{port}: {f}")
        print(f"manifest: {manifest.get('manifest_path')}  ({manifest['timings']['wall_s']:.2f} s)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .engine.runner import train_node

    cls = args.app.get(args.node)
    inputs = parse_ports(args.input, [p.name for p in cls.inputs])
    if "TORCHELASTIC_RUN_ID" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # started by torchrun (`torchrun ... -m filmai_plugins train ...`): this process is one rank
        from .training.distributed import run_worker

        manifest = run_worker({"node_id": args.node, "input": inputs, "target": args.target, "frames": args.frames,
                               "out": args.out, "params": parse_sets(args.sets), "model": args.model,
                               "device": args.device, "progress": args.progress, "io": io_values(args),
                               "error_dir": None, "train": train_node})
    else:
        manifest = train_node(
            args.node, input=inputs, target=args.target,
            frames=args.frames, out=args.out, params=parse_sets(args.sets), model=args.model, device=args.device,
            progress=args.progress, io=io_values(args), cancel=args.cancel, nproc=args.nproc, app=args.app)
    if args.progress != "json" and manifest:
        ck = manifest.get("checkpoint") or {}
        print(f"checkpoint: {ck.get('path')}  sha256 {ck.get('sha256', '')[:16]}…")
        for key, value in (manifest.get("training") or {}).items():
            if isinstance(value, (int, float, str)):
                print(f"  {key}: {value}")
        print(f"manifest: {manifest.get('manifest_path')}  ({manifest['timings']['wall_s']:.2f} s)")
    return 0


def build_parser(app: Any = None) -> argparse.ArgumentParser:
    """The ``filmai`` parser: the core commands, then every plug-in's (``filmai_register_commands``)."""
    from .app import default_app

    app = app or default_app()
    parser = _Parser(prog="filmai", description="FilmAI Plugins: ML nodes for film and VFX (headless host)")
    parser.set_defaults(app=app)
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                        default=os.environ.get("FILMAI_LOG_LEVEL", "info"),
                        help="messages shown on stderr (default info, or $FILMAI_LOG_LEVEL); warnings are also "
                             "recorded in the run manifest")
    parser.add_argument("--version", action="version", version=f"filmai {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("nodes", help="list registered nodes (and packs that failed to load)")
    p.add_argument("--json", action="store_true", help="the full schema of every node as JSON")
    p.add_argument("--markdown", action="store_true", help="the node reference (docs/nodes.md) as Markdown")
    p.add_argument("--output", "-o", help="with --markdown: write to this file")
    p.set_defaults(func=cmd_nodes)

    p = sub.add_parser("info", help="describe one node: ports, params, ranges")
    p.add_argument("node")
    p.add_argument("--json", action="store_true")
    p.add_argument("--frames-needed", metavar="SPEC",
                   help="print (JSON) the input frames the node needs to make these output frames (frame handles)")
    p.add_argument("--set", "-s", action="append", metavar="NAME=VALUE", dest="sets",
                   help="with --frames-needed: node params")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("run", help="run a node over a frame range")
    add_common_run_args(p)
    p.add_argument("--output", "-o", action="append", metavar="PATTERN", help="output sequence or file")
    p.add_argument("--skip-existing", action="store_true",
                   help="keep output frames already complete and made with the same node, params and model")
    p.add_argument("--manifest", metavar="PATH", help="where to write the run manifest (default: next to the output)")
    add_io_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", help="train a trainable node into a checkpoint")
    add_common_run_args(p)
    p.add_argument("--target", "-t", metavar="PATTERN", help="target sequence (what the input should become)")
    p.add_argument("--out", required=True, metavar="CKPT", help="checkpoint to write")
    p.add_argument("--nproc", type=int, default=1, help="data-parallel training processes (torchrun)")
    add_io_args(p)
    p.set_defaults(func=cmd_train)

    app.register_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None, app: Any = None) -> int:
    """Run one ``filmai`` command. SIGINT/SIGTERM cancel it at whatever stage it is in (exit 130/143, no
    partial output); the token reaches the command as ``args.cancel``."""
    if "numpy" not in sys.modules:
        # numpy's OpenBLAS starts a thread per core at import and gives each a buffer (about 60 ms of system
        # CPU per process here, paid by every farm task); nothing the commands run uses numpy's BLAS on a hot
        # path (torch has its own MKL threads; OpenImageIO its own pool). A value already set wins.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from .engine.cancel import CancelToken, SignalInterrupt, signals_cancel

    token = CancelToken()
    try:
        with signals_cancel(token):
            parser = build_parser(app)
            args = parser.parse_args(argv)
            from .engine.progress import configure_logging

            configure_logging(args.log_level)
            if not getattr(args, "func", None):
                parser.print_help()
                return 2
            args.cancel = token
            return int(args.func(args) or 0)
    except Cancelled as exc:
        print(f"filmai: cancelled: {exc}", file=sys.stderr)
        return exc.exit_code
    except SignalInterrupt as exc:  # a signal before or after a run (a run turns it into Cancelled)
        print(f"filmai: cancelled: {exc.reason}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("filmai: cancelled", file=sys.stderr)
        return 130
    except FilmAIError as exc:
        print(f"filmai: error: {exc}", file=sys.stderr)
        if os.environ.get("FILMAI_DEBUG"):
            traceback.print_exc()
        return exc.exit_code
    except BrokenPipeError:  # `filmai nodes | head`
        return 0
    except Exception:
        # A signal that lands inside a C extension's import or call can surface as that call's own error
        # (PyOpenColorIO's "initialization failed"): once the token is set, the run was cancelled.
        if token.cancelled:
            print(f"filmai: cancelled: {token.reason or 'interrupted'}", file=sys.stderr)
            return token.exit_code
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
