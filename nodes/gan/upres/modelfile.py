"""What kind of model file a path is, from its first bytes (stdlib only: no torch, so the node's
``__init__`` can tell a FilmAI checkpoint from a community file before anything heavy is imported)."""
from __future__ import annotations

import json
import os
import struct

_MAX_HEADER = 100 * 1024 * 1024


def file_kind(path: str) -> str:
    """``filmai`` (a FilmAI checkpoint), ``safetensors``, ``pth`` (a torch.save zip or legacy pickle), or
    ``unknown``; from the first bytes, never the file name."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(9)
        if len(head) >= 9 and head[8:9] == b"{":
            n = struct.unpack("<Q", head[:8])[0]
            if 0 < n <= min(_MAX_HEADER, max(size - 8, 0)):
                f.seek(8)
                header = f.read(n)
                try:
                    meta = json.loads(header).get("__metadata__") or {}
                except (ValueError, AttributeError):
                    return "safetensors"  # a damaged header: reported when it is loaded
                return "filmai" if isinstance(meta, dict) and "filmai" in meta else "safetensors"
            return "safetensors"  # a header that claims more than the file holds: truncated, reported on load
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
        return "pth"
    return "unknown"
