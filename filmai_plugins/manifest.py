"""Run manifests: the JSON record every ``filmai run``/``train`` writes next to its outputs.

Publishing and farm jobs read it: node, params, inputs, frames written, model hash, timings,
versions and host. Written atomically like frames.
"""
from __future__ import annotations

import getpass
import importlib.metadata
import json
import os
import platform
import socket
import sys
from typing import Any

from ._version import __version__
from .errors import BadInput
from .files import now_iso, write_json_atomic

SCHEMA = "filmai.manifest/1"
_VERSIONED = ("numpy", "OpenImageIO", "opencolorio", "torch", "safetensors", "pluggy")


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


class ManifestInvalid(BadInput):
    """A FilmAI manifest (its schema says so) whose fields have the wrong types or values."""


# What readers of a manifest rely on, by field: a type (or tuple of types; None allowed where listed),
# ("map", spec) for a JSON object of any keys, ("list", spec), or a dict of sub-fields (a leading "!"
# marks a required one). Fields not listed (new ones) are accepted as they are.
_STR_OR_NONE = (str, type(None))
_DIGEST = {"path": str, "sha256": _STR_OR_NONE}
_OUTPUT = {"!pattern": str, "frames_written": "frames", "frames_skipped": "frames", "count": int,
           "files": ("list", str), "checksums": ("map", str)}
_FIELDS: dict[str, Any] = {
    "!kind": str, "!status": str, "!node": {"!id": str, "!version": str, "family": _STR_OR_NONE},
    "params": ("map", object), "params_hash": _STR_OR_NONE, "io": ("map", object), "inputs": ("map", str),
    "frames": "frames", "model": (dict, type(None)), "timings": ("map", object), "host": (dict, type(None)),
    "error": _STR_OR_NONE, "outputs": ("map", _OUTPUT), "checkpoint": (dict, type(None)),
    "checkpoints": ("list", dict), "init_model": (dict, type(None)), "versions": ("map", object),
}
_NESTED = {"model": _DIGEST, "checkpoint": _DIGEST, "timings": {"started": _STR_OR_NONE, "finished": _STR_OR_NONE},
           "host": {"hostname": _STR_OR_NONE}}


def _type_name(spec: Any) -> str:
    if isinstance(spec, tuple) and spec and isinstance(spec[0], str):
        return f"a {'list' if spec[0] == 'list' else 'JSON object'}"
    if isinstance(spec, tuple):
        return " or ".join("null" if t is type(None) else "a JSON object" if t is dict else t.__name__ for t in spec)
    if isinstance(spec, dict):
        return "a JSON object"
    if spec == "frames":
        return "a frame spec string (1001-1100)"
    return "a JSON object" if spec is dict else spec.__name__


def _check(value: Any, spec: Any, where: str, problems: list[str]) -> None:
    if spec is object:
        return
    if spec == "frames":
        if value is None:
            return
        if isinstance(value, str):
            if value:
                from .frames.sequence import parse_frames

                try:
                    parse_frames(value)
                except Exception:
                    problems.append(f"{where} is {value!r}, not a frame spec")
            return
    elif isinstance(spec, dict):
        if not isinstance(value, dict):
            pass
        else:
            for key, sub in spec.items():
                name = key.lstrip("!")
                if name not in value:
                    if key.startswith("!"):
                        problems.append(f"{where}.{name} is missing")
                    continue
                _check(value[name], sub, f"{where}.{name}", problems)
            return
    elif isinstance(spec, tuple) and spec and isinstance(spec[0], str):
        kind, sub = spec
        if kind == "list" and isinstance(value, list):
            for i, item in enumerate(value):
                _check(item, sub, f"{where}[{i}]", problems)
            return
        if kind == "map" and isinstance(value, dict):
            for key, item in value.items():
                _check(item, sub, f"{where}.{key}", problems)
            return
    elif isinstance(value, spec) and not (isinstance(value, bool) and spec is int):
        return
    shown = "null" if value is None else type(value).__name__ if not isinstance(value, (dict, list)) else (
        "a JSON object" if isinstance(value, dict) else "a list")
    sample = "" if value is None else f" ({json.dumps(value, default=str)[:40]})"
    problems.append(f"{where} is {shown}{sample}, expected {_type_name(spec)}")


def validate_manifest(data: dict[str, Any], path: str) -> dict[str, Any]:
    """Check the fields readers rely on; raises ManifestInvalid naming the file and every bad field."""
    problems: list[str] = []
    for key, spec in _FIELDS.items():
        name = key.lstrip("!")
        if name not in data:
            if key.startswith("!"):
                problems.append(f"{name} is missing")
            continue
        _check(data[name], spec, name, problems)
        if name in _NESTED and isinstance(data[name], dict):
            _check(data[name], _NESTED[name], name, problems)
    if not problems and data["kind"] not in ("run", "train"):
        problems.append(f"kind is {data['kind']!r}, expected 'run' or 'train'")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ManifestInvalid(f"{path}: not a valid FilmAI manifest ({shown}); it was edited or written by "
                              "something else: run the node again to write a new one")
    return data


def read_manifest(path: str) -> dict[str, Any]:
    """A run or train manifest, checked against the fields publishing relies on (exit 2 naming the file)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise BadInput(f"{path}: manifest not found") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: not a JSON manifest ({exc})") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BadInput(f"{path}: not a FilmAI run manifest (schema {data.get('schema') if isinstance(data, dict) else None!r})")
    return validate_manifest(data, path)


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
