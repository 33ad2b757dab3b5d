"""Checkpoints: safetensors weights with the node's JSON metadata in the same file, and a sha256.

Layout: a standard safetensors file whose ``__metadata__`` holds one key, ``filmai``, a JSON object:
node id and version, architecture config, input/output channels, colourspace and working encoding,
training summary, and ``weights_sha256`` (over tensor names, dtypes, shapes and bytes). Loading
never unpickles: a pickle or ``torch.save`` zip is refused by its magic bytes, and the weights hash
is checked before anything is returned.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .._version import __version__
from ..atomic import atomic_open
from ..errors import CheckpointError
from ..files import file_sha256  # noqa: F401  (part of this module's API)

FORMAT = "filmai.checkpoint/1"
_MAX_HEADER = 100 * 1024 * 1024


def weights_sha256(tensors: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        h.update(name.encode())
        h.update(str(arr.dtype).encode())
        h.update(json.dumps(list(arr.shape)).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value)
    detach = getattr(value, "detach", None)
    if detach is not None:  # a torch tensor; torch is not imported here
        return np.ascontiguousarray(detach().cpu().numpy())
    return np.ascontiguousarray(np.asarray(value))


@dataclass
class Checkpoint:
    path: str | None
    meta: dict[str, Any]
    tensors: dict[str, np.ndarray] = field(repr=False)
    sha256: str = ""

    @property
    def node(self) -> str:
        return str(self.meta.get("node", ""))

    @property
    def arch(self) -> dict[str, Any]:
        return dict(self.meta.get("arch", {}))

    def torch_state_dict(self, device: str = "cpu") -> dict[str, Any]:
        import torch

        return {k: torch.from_numpy(np.array(v)).to(device) for k, v in self.tensors.items()}

    def build(self, build: Callable[[], Any], *, weights: Mapping[str, Any] | None = None,
              module: Callable[[Any], Any] = lambda m: m) -> Any:
        """Build the network this checkpoint's metadata describes (``build()``) and load its weights.

        The network is first built on torch's ``meta`` device, which allocates nothing, and its parameters
        are compared with the tensors in the file: metadata that declares another or a far larger network
        (edited, damaged, from another version) is refused with a CheckpointError naming the file before
        any memory is taken. ``weights``: the tensors to load (default: all of the file's);
        ``module(model)``: the part of the built model they belong to.
        """
        import torch

        weights = dict(self.tensors if weights is None else weights)
        try:
            with torch.device("meta"):
                probe = build()
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{self.path}: bad network description in the metadata ({exc})") from None
        own = {k: tuple(v.shape) for k, v in module(probe).state_dict().items()}
        held = {k: tuple(np.shape(v)) for k, v in weights.items()}
        missing, unexpected = sorted(set(own) - set(held)), sorted(set(held) - set(own))
        wrong = sorted(k for k in set(own) & set(held) if own[k] != held[k])
        if missing or unexpected or wrong:
            declared = sum(int(np.prod(shape)) for shape in own.values())
            stored = sum(int(np.prod(shape)) for shape in held.values())
            detail = "; ".join(filter(None, [
                f"missing {', '.join(missing[:3])}" if missing else "",
                f"unexpected {', '.join(unexpected[:3])}" if unexpected else "",
                f"shapes differ for {', '.join(f'{k} {held[k]} vs {own[k]}' for k in wrong[:3])}" if wrong else ""]))
            raise CheckpointError(f"{self.path}: the network its metadata describes ({declared:,} values) does not "
                                  f"fit the weights it holds ({stored:,} values): {detail}")
        model = build()
        module(model).load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
        return model


def save_checkpoint(path: str, tensors: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """Write atomically; returns the file's sha256. ``meta`` must name the node."""
    from safetensors.numpy import save

    if not meta.get("node"):
        raise ValueError("checkpoint metadata needs the node id")
    arrays = {str(k): _to_numpy(v) for k, v in tensors.items()}
    full = {"format": FORMAT, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "filmai_version": __version__, **dict(meta), "weights_sha256": weights_sha256(arrays)}
    blob = save(arrays, metadata={"filmai": json.dumps(full, sort_keys=True, default=_json_default)})
    with atomic_open(path, "wb") as f:
        f.write(blob)
    return hashlib.sha256(blob).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _sniff(path: str, head: bytes, size: int) -> int:
    """Return the safetensors header length, or raise with a clear reason."""
    # Safetensors first: its 8-byte little-endian header length starts with 0x80 whenever the header
    # is 128 bytes long modulo 256, which the pickle test below would otherwise mistake for a pickle.
    if len(head) >= 9 and head[8:9] == b"{":
        n = struct.unpack("<Q", head[:8])[0]
        if 0 < n <= min(_MAX_HEADER, size - 8):
            return n
    if head[:1] == b"\x80" or head[:2] in (b"(d", b"(l", b"}q", b"]q"):
        raise CheckpointError(f"{path}: this is a Python pickle; FilmAI never unpickles model files "
                              "(they can run arbitrary code). Convert it to a FilmAI checkpoint (safetensors).")
    if head[:4] == b"PK\x03\x04":
        raise CheckpointError(f"{path}: this is a torch.save/zip archive (pickle inside); FilmAI never unpickles "
                              "model files. Export a FilmAI checkpoint, or use cnn.torchscript for TorchScript .pt files.")
    if len(head) < 9:
        raise CheckpointError(f"{path}: too short to be a checkpoint ({size} bytes)")
    n = struct.unpack("<Q", head[:8])[0]
    if head[8:9] != b"{" or n <= 0 or n > min(_MAX_HEADER, size - 8):
        raise CheckpointError(f"{path}: not a FilmAI checkpoint (not a safetensors file)")
    return n


def read_checkpoint_meta(path: str) -> dict[str, Any]:
    """The metadata alone, without loading weights (cheap; for ``filmai info`` and validators)."""
    path = str(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: model file not found")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(9)
        n = _sniff(path, head, size)
        f.seek(8)
        header_bytes = f.read(n)
    try:
        header = json.loads(header_bytes)
        meta = json.loads(header["__metadata__"]["filmai"])
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path}: a safetensors file without FilmAI metadata (not trained by a FilmAI node)") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {meta.get('format')!r} (expected {FORMAT})")
    return meta


def load_checkpoint(path: str, expect_node: str | None = None) -> Checkpoint:
    """Load and verify a checkpoint; ``expect_node`` refuses one trained for another node."""
    from safetensors.numpy import load

    path = str(path)
    meta = read_checkpoint_meta(path)
    if expect_node and meta.get("node") != expect_node:
        raise CheckpointError(f"{path}: checkpoint is for node {meta.get('node')!r}, not {expect_node!r}")
    with open(path, "rb") as f:
        blob = f.read()
    try:
        tensors = load(blob)
    except Exception as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint: {exc}") from None
    if weights_sha256(tensors) != meta.get("weights_sha256"):
        raise CheckpointError(f"{path}: weights do not match their sha256 (file corrupt or modified)")
    return Checkpoint(path=path, meta=meta, tensors=tensors, sha256=hashlib.sha256(blob).hexdigest())
