"""``filmai models FILE …``: what a model file is, before anything runs it.

For a FilmAI checkpoint: the node it belongs to, its architecture, scale, channels, parameter count,
training summary and sha256 (read from the safetensors header; no weights are loaded). For a community
up-res model (``.pth``/``.safetensors`` from Real-ESRGAN, OpenModelDB, …): the architecture recognised
from its tensors, the scale, channels, parameters, where the weights sat in the file, the sha256, and how
to run it with ``gan.upres``. A file that is neither — or a ``.pth`` that holds more than tensors — is
exit 2 with the reason; nothing in a file is ever executed.
"""
from __future__ import annotations

import argparse
import json
import os
import struct
from typing import Any

from .errors import BadInput, CheckpointError
from .hookspecs import hookimpl


def _safetensors_shapes(path: str) -> dict[str, list[int]]:
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def _count(shapes) -> int:
    total = 0
    for shape in shapes:
        n = 1
        for d in shape:
            n *= int(d)
        total += n
    return total


def describe_filmai(path: str) -> dict[str, Any]:
    from .files import file_sha256
    from .training.checkpoint import read_checkpoint_meta

    meta = read_checkpoint_meta(path)
    shapes = _safetensors_shapes(path)
    sets = [str(s) for s in meta.get("weight_sets") or []]
    per_set = [shape for name, shape in shapes.items() if not sets or name.startswith(sets[0] + ".")]
    training = meta.get("training") or {}
    return {
        "file": os.path.abspath(path), "kind": "FilmAI checkpoint", "node": meta.get("node"),
        "architecture": meta.get("arch"), "scale": meta.get("scale"),
        "channels_in": meta.get("channels_in"), "channels_out": meta.get("channels_out"),
        "parameters": _count(per_set), "weight_sets": sets or None,
        "colorspace": meta.get("colorspace"), "encoding": meta.get("encoding"),
        "created": meta.get("created"), "filmai_version": meta.get("filmai_version"),
        "training": {k: v for k, v in training.items() if isinstance(v, (int, float, str, bool))} or None,
        "size_bytes": os.path.getsize(path), "sha256": file_sha256(path),
        "run": f"filmai run {meta.get('node')} --model {path} …" if meta.get("node") else None,
    }


def describe_community(path: str) -> dict[str, Any]:
    try:
        from filmai_plugins.nodes.gan.upres.community import describe_file
    except ImportError as exc:  # torch missing: community files are read with it
        raise BadInput(f"{path}: reading a community model needs torch ({exc})") from None
    return describe_file(path)


def describe(path: str) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise BadInput(f"model file not found: {path}")
    from filmai_plugins.nodes.gan.upres.modelfile import file_kind

    kind = file_kind(path)
    if kind == "filmai":
        return describe_filmai(path)
    if kind in ("safetensors", "pth"):
        return describe_community(path)
    raise CheckpointError(f"{path}: not a model file FilmAI reads (a FilmAI checkpoint, or a community up-res "
                          ".safetensors / .pth)")


def text(info: dict[str, Any]) -> str:
    arch = info.get("architecture")
    if isinstance(arch, dict):
        arch = ", ".join(f"{k}={v}" for k, v in arch.items())
    ch_in, ch_out = info.get("channels_in"), info.get("channels_out")
    rows = [("file", info["file"]), ("kind", info["kind"]), ("node", info.get("node")),
            ("architecture", info.get("description") or arch),
            ("scale", f"x{info['scale']}" if info.get("scale") else None),
            ("channels", f"{','.join(ch_in) if isinstance(ch_in, list) else ch_in} in, "
                         f"{','.join(ch_out) if isinstance(ch_out, list) else ch_out} out" if ch_in else None),
            ("parameters", f"{info['parameters']:,}" + (f" per weight set ({', '.join(info['weight_sets'])})"
                                                      if info.get("weight_sets") and len(info["weight_sets"]) > 1
                                                      else "")),
            ("weights", info.get("weights")), ("working space", info.get("working_space")),
            ("colorspace", info.get("colorspace")), ("encoding", info.get("encoding")),
            ("created", info.get("created")), ("size", f"{info['size_bytes'] / 1e6:.1f} MB"),
            ("sha256", info["sha256"]), ("run", info.get("run")), ("note", info.get("note"))]
    training = info.get("training")
    if training:
        rows.insert(-3, ("training", ", ".join(f"{k}={v}" for k, v in list(training.items())[:8])))
    width = max(len(k) for k, v in rows if v)
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in rows if v not in (None, ""))


def cmd_models(args: argparse.Namespace) -> int:
    infos = [describe(p) for p in args.files]
    if args.json:
        print(json.dumps(infos if len(infos) > 1 else infos[0], indent=2))
    else:
        print("\n\n".join(text(i) for i in infos))
    return 0


@hookimpl
def filmai_register_commands(commands: Any) -> None:
    p = commands.add_parser("models", help="describe model files: a FilmAI checkpoint, or a community up-res model "
                                             "(.pth/.safetensors): architecture, scale, channels, parameters, sha256")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=cmd_models)
