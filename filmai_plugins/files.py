"""Small helpers every part shares for the files it records: sha256 of a file, UTC timestamps, JSON written
atomically. One home, so a manifest, a checkpoint record and a published version agree on each."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
from typing import Any

from .atomic import atomic_open

_CHUNK = 1 << 20


def file_sha256(path: str) -> str:
    """The sha256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds (what every record of the toolkit uses)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def write_json_atomic(path: str, data: Any) -> str:
    """Write ``data`` as indented JSON that appears at ``path`` only when complete; returns ``path``."""
    with atomic_open(path) as f:
        json.dump(data, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
    return path
