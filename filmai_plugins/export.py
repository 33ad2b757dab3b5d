"""``filmai export``: turn a FilmAI checkpoint into a file other tools load (TorchScript for Nuke, …).

Generic: the checkpoint names the node that trained it; that node class exports itself through a
classmethod ``export(checkpoint, path, format, options) -> dict`` and lists ``export_formats``. The
returned dict is printed (``--json`` prints it whole): at least ``path``; nodes add what a user needs to
load the file elsewhere (for ``cnn.copycat``: Nuke CatFileCreator settings and ``cnn.torchscript`` params).

    filmai export --model shot.ckpt --format torchscript --out shot.pt

The checkpoint is verified (sha256) before anything is written; the output appears atomically and never
replaces the checkpoint it came from.
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Any

from .errors import BadInput, FilmAIError, RunFailure
from .hookspecs import hookimpl


def export_checkpoint(model: str, out: str, format: str = "torchscript", options: dict[str, Any] | None = None,
                      device: str = "cpu", app: Any = None) -> dict[str, Any]:
    """Export ``model`` (a FilmAI checkpoint) as ``format`` to ``out``; returns the node's export info."""
    from .app import app_or_default
    from .engine.device import import_torch
    from .guard import OutputGuard
    from .training.checkpoint import load_checkpoint, read_checkpoint_meta

    if not model or not os.path.isfile(model):
        raise BadInput(f"model file not found: {model}")
    if not out:
        raise BadInput("export needs --out FILE")
    OutputGuard("filmai export").read(model, "the checkpoint").write(out, "the export (--out)").check()
    if os.path.isdir(out):
        raise BadInput(f"--out {out} is a folder; give a file name")
    meta = read_checkpoint_meta(model)
    cls = app_or_default(app).get(str(meta.get("node", "")))
    formats = tuple(getattr(cls, "export_formats", ()) or ())
    exporter = getattr(cls, "export", None)
    if exporter is None or not formats:
        raise BadInput(f"{model}: node {cls.id} has no export (it runs only through FilmAI)")
    if format not in formats:
        raise BadInput(f"node {cls.id} exports {', '.join(formats)}, not {format!r}")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise BadInput(f"output folder {folder} does not exist")
    if getattr(cls, "needs_torch", False):
        import_torch(cls.id)
    ckpt = load_checkpoint(model, expect_node=cls.id)
    try:
        info = exporter(ckpt, out, format, dict(options or {}))
    except FilmAIError:
        raise
    except Exception as exc:  # a library failure while exporting: exit 1 with the reason, nothing written
        raise RunFailure(f"export of {model} as {format} failed: {type(exc).__name__}: {exc}") from exc
    return {"node": cls.id, "format": format, "model": os.path.abspath(model), **(info or {}),
            "path": os.path.abspath(out)}


def cmd_export(args: argparse.Namespace) -> int:
    from .cliargs import parse_sets

    info = export_checkpoint(args.model, args.out, args.format, parse_sets(args.sets), app=args.app)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{info['format']}: {info['path']}  (from {info['model']}, node {info['node']})")
    ts = info.get("cnn_torchscript_params")
    if ts:
        sets = " ".join(f"--set {k}={v}" for k, v in ts.items())
        print(f"run it in FilmAI:  filmai run cnn.torchscript --model {info['path']} {sets} --input ... --output ...")
    nuke = info.get("nuke")
    if nuke:
        print("Nuke: create a CatFileCreator (NukeX), set Torchscript File to the .pt above and:")
        print(f"  Channels In  = {nuke['channelsIn']}")
        print(f"  Channels Out = {nuke['channelsOut']}")
        print(f"  Output Scale = {nuke['outputScale']}")
        print("  then Create .cat File and load the .cat in an Inference node.")
        if not nuke.get("representable"):
            print("  warning: some channels have no Nuke equivalent (Inference knows 19 fixed channel names);"
                  " shuffle them into rgba first")
        if info.get("torch"):
            print(f"  exported with torch {info['torch']}: Nuke loads TorchScript from its own PyTorch version or "
                  "older; export from a matching torch if Nuke refuses the file")
    return 0


@hookimpl
def filmai_register_commands(commands: Any) -> None:
    subparsers = commands
    p = subparsers.add_parser("export", help="export a trained checkpoint (TorchScript for Nuke's Inference / "
                                             "cnn.torchscript)")
    p.add_argument("--model", "-m", required=True, metavar="CKPT", help="a FilmAI checkpoint (.ckpt)")
    p.add_argument("--format", default="torchscript", help="export format (default torchscript)")
    p.add_argument("--out", "-o", required=True, metavar="FILE", help="file to write, e.g. shot.pt")
    p.add_argument("--set", "-s", action="append", metavar="NAME=VALUE", dest="sets", help="exporter option")
    p.add_argument("--json", action="store_true", help="print the export details as JSON")
    p.set_defaults(func=cmd_export)
