"""Run manifests: the JSON record every ``filmai run``/``train`` writes next to its outputs.

Publishing and farm jobs read it: node, params, inputs, frames written, model hash, timings,
versions and host. Written atomically like frames.
"""
from __future__ import annotations

import datetime as _dt
import getpass
import importlib.metadata
import json
import os
import platform
import socket
import sys
from typing import Any

from ._version import __version__

SCHEMA = "filmai.manifest/1"
_VERSIONED = ("numpy", "OpenImageIO", "OpenEXR", "opencolorio", "torch", "safetensors", "pluggy", "fileseq")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def versions() -> dict[str, str]:
    """Versions of what produced the outputs (read from package metadata: importing torch is not needed)."""
    out = {"filmai_plugins": __version__, "python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    torch = sys.modules.get("torch")
    if torch is not None:  # the build actually loaded (a CUDA build may differ from the dist name)
        out["torch"] = str(torch.__version__)
    return out


def host_info(device: str | None = None) -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except Exception:  # no user database entry in some containers
        user = os.environ.get("USER", "")
    info = {"hostname": socket.gethostname(), "platform": platform.platform(), "user": user,
            "pid": os.getpid(), "cpu_count": os.cpu_count()}
    if device:
        info["device"] = device
    return info


def write_json_atomic(path: str, data: Any) -> str:
    from .atomic import atomic_open

    with atomic_open(path) as f:
        json.dump(data, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
    return path


def read_manifest(path: str) -> dict[str, Any]:
    from .errors import BadInput

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise BadInput(f"{path}: manifest not found") from None
    except ValueError as exc:
        raise BadInput(f"{path}: not a JSON manifest ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BadInput(f"{path}: not a FilmAI run manifest (schema {data.get('schema') if isinstance(data, dict) else None!r})")
    return data


def manifest_path_for(output: str, frames: list[int] | None, kind: str = "run") -> str:
    """``out/plate.####.exr`` frames 1001-1100 → ``out/plate.1001-1100.manifest.json``.

    The frame range is part of the name so farm chunks writing one sequence never collide.
    """
    from .frames.sequence import SequencePattern

    seq = SequencePattern(output)
    folder = seq.directory
    if seq.is_sequence and frames:
        name = f"{seq.stem}.{min(frames)}-{max(frames)}"
    else:
        name = os.path.splitext(os.path.basename(output))[0] or "output"
    suffix = "train.manifest.json" if kind == "train" else "manifest.json"
    return os.path.join(folder, f"{name}.{suffix}")
