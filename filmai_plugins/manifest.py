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


def _attempt_name(data: dict[str, Any]) -> str:
    started = str((data.get("timings") or {}).get("started") or now_iso())
    stamp = "".join(c for c in started if c.isalnum() or c in ".-")  # 2026-12-10T10:15:00.123+00:00 → safe
    return f"{stamp}-{data.get('status') or 'unknown'}.train.manifest.json"


def write_train_record(out: str, data: dict[str, Any], work_dir: str) -> str:
    """Record one training attempt of checkpoint ``out``; returns where this attempt's record went.

    ``<ckpt stem>.train.manifest.json`` is what publishing reads: the latest *complete* attempt
    (or, before any completed, the latest attempt). A failed or cancelled attempt after a
    completed one goes to ``<work_dir>/attempts/`` and leaves that record alone; a record that is
    replaced moves there too, so every attempt keeps its record.
    """
    main = manifest_path_for(out, None, kind="train")
    attempts = os.path.join(work_dir, "attempts")
    previous = None
    try:
        with open(main, encoding="utf-8") as f:
            previous = json.load(f)
    except (OSError, ValueError):
        pass
    previous_complete = isinstance(previous, dict) and previous.get("status") == "complete"
    if data.get("status") != "complete" and previous_complete:
        os.makedirs(attempts, exist_ok=True)
        return write_json_atomic(os.path.join(attempts, _attempt_name(data)), data)
    if isinstance(previous, dict):
        os.makedirs(attempts, exist_ok=True)
        os.replace(main, os.path.join(attempts, _attempt_name(previous)))
    return write_json_atomic(main, data)
