"""The ``filmai`` command: the headless host used by TDs, render farms and the DCC adapters.

Exit codes: 0 done, 2 bad usage or bad input, 1 failure while running, 130 cancelled.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import traceback
from typing import Any, Sequence

from ._version import __version__
from .errors import BadInput, Cancelled, FilmAIError

# Sub-commands that live with the part they belong to; each module defines register_cli(subparsers).
EXTENSION_COMMANDS = (
    "filmai_plugins.demo",
    "filmai_plugins.export",
    "filmai_plugins.publish.cli",
    "filmai_plugins.farm.cli",
    "filmai_plugins.timeline",
    "filmai_plugins.packaging",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one clear line
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def parse_sets(pairs: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise BadInput(f"--set expects NAME=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        name = name.strip()
        if not name:
            raise BadInput(f"--set expects NAME=VALUE, got {pair!r}")
        out[name] = value
    return out


def parse_ports(values: Sequence[str] | None, ports: Sequence[str]) -> Any:
    """``--input PATTERN`` or ``--input port=PATTERN`` (repeatable)."""
    if not values:
        return None
    bound: dict[str, str] = {}
    for v in values:
        name, sep, rest = v.partition("=")
        if sep and name in ports:
            bound[name] = rest
        elif not bound and len(values) == 1:
            return v
        else:
            first = ports[0] if ports else "input"
            if first in bound:
                raise BadInput(f"give each input once; use PORT=PATTERN for the others (ports: {', '.join(ports)})")
            bound[first] = v
    return bound


def _io_args(parser: argparse.ArgumentParser) -> None:
    from .engine.context import IO_OPTIONS

    group = parser.add_argument_group("input/output options")
    for p in IO_OPTIONS:
        flag = "--" + p.name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": "io_" + p.name, "default": None, "help": p.help}
        if p.type == "enum":
            kwargs["choices"] = p.choices
        group.add_argument(flag, **kwargs)


def _common_run_args(parser: argparse.ArgumentParser) -> None:
    from .engine.device import DEVICES
    from .engine.progress import PROGRESS_MODES

    parser.add_argument("node", help="node id, e.g. cnn.copycat (see `filmai nodes`)")
    parser.add_argument("--input", "-i", action="append", metavar="PATTERN",
                        help="input sequence or file (name.####.exr, name.%%04d.exr, name.@.exr); PORT=PATTERN for other ports")
    parser.add_argument("--frames", "-f", metavar="SPEC", help="frames: 1001-1100, 1001-1100x2, 1,5,9-12")
    parser.add_argument("--set", "-s", action="append", metavar="NAME=VALUE", dest="sets", help="node parameter")
    parser.add_argument("--model", "-m", metavar="FILE", help="model checkpoint")
    parser.add_argument("--device", default="auto", help=f"{'|'.join(DEVICES)} or cuda:N (default auto)")
    parser.add_argument("--progress", default="auto", choices=PROGRESS_MODES,
                        help="bar on a terminal, json lines on stdout for hosts, or none (default auto)")


def _io_values(args: argparse.Namespace) -> dict[str, Any]:
    return {k[3:]: v for k, v in vars(args).items() if k.startswith("io_") and v is not None}


# ----- commands -----------------------------------------------------------------------------------


def cmd_nodes(args: argparse.Namespace) -> int:
    from .node import nodes_markdown
    from .registry import get_registry

    reg = get_registry()
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
    from .registry import get_registry

    reg = get_registry()
    cls = reg.get(args.node)
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
    from .engine.cancel import CancelToken, signals_cancel
    from .engine.runner import run_node
    from .registry import get_registry

    cls = get_registry().get(args.node)
    token = CancelToken()
    with signals_cancel(token):
        manifest = run_node(
            args.node, input=parse_ports(args.input, [p.name for p in cls.inputs]),
            output=parse_ports(args.output, [p.name for p in cls.outputs]), frames=args.frames,
            model=args.model, params=parse_sets(args.sets), device=args.device, progress=args.progress,
            skip_existing=args.skip_existing, io=_io_values(args), cancel=token, manifest=args.manifest)
    if args.progress != "json":
        for port, entry in manifest.get("outputs", {}).items():
            if "frames_written" in entry:
                skipped = f", {entry['frames_skipped']} already done" if entry.get("frames_skipped") else ""
                print(f"{port}: {entry['count']} frames written to {entry['pattern']}"
                      f" ({entry['frames_written'] or 'none'}{skipped})")
            else:
                for f in entry.get("files", []):
                    print(f"{port}: {f}")
        print(f"manifest: {manifest.get('manifest_path')}  ({manifest['timings']['wall_s']:.2f} s)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .engine.cancel import CancelToken, signals_cancel
    from .engine.runner import train_node
    from .registry import get_registry

    cls = get_registry().get(args.node)
    token = CancelToken()
    with signals_cancel(token):
        manifest = train_node(
            args.node, input=parse_ports(args.input, [p.name for p in cls.inputs]), target=args.target,
            frames=args.frames, out=args.out, params=parse_sets(args.sets), model=args.model, device=args.device,
            progress=args.progress, io=_io_values(args), cancel=token, nproc=args.nproc)
    if args.progress != "json" and manifest:
        ck = manifest.get("checkpoint") or {}
        print(f"checkpoint: {ck.get('path')}  sha256 {ck.get('sha256', '')[:16]}…")
        for key, value in (manifest.get("training") or {}).items():
            if isinstance(value, (int, float, str)):
                print(f"  {key}: {value}")
        print(f"manifest: {manifest.get('manifest_path')}  ({manifest['timings']['wall_s']:.2f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="filmai", description="FilmAI Plugins: ML nodes for film and VFX (headless host)")
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
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("run", help="run a node over a frame range")
    _common_run_args(p)
    p.add_argument("--output", "-o", action="append", metavar="PATTERN", help="output sequence or file")
    p.add_argument("--skip-existing", action="store_true",
                   help="keep output frames already complete and made with the same node, params and model")
    p.add_argument("--manifest", metavar="PATH", help="where to write the run manifest (default: next to the output)")
    _io_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", help="train a trainable node into a checkpoint")
    _common_run_args(p)
    p.add_argument("--target", "-t", metavar="PATTERN", help="target sequence (what the input should become)")
    p.add_argument("--out", required=True, metavar="CKPT", help="checkpoint to write")
    p.add_argument("--nproc", type=int, default=1, help="data-parallel training processes (torchrun)")
    _io_args(p)
    p.set_defaults(func=cmd_train)

    for module in EXTENSION_COMMANDS:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            importlib.import_module(module).register_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except Cancelled as exc:
        print(f"filmai: cancelled: {exc}", file=sys.stderr)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
