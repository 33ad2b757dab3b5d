"""Device choice for torch nodes: cuda, then mps, then cpu. Imports torch only when called."""
from __future__ import annotations

from ..errors import BadInput

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(requested: str = "auto") -> str:
    import torch

    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadInput(f"--device {requested}: no CUDA device is available to this torch "
                           f"({torch.__version__}); use --device cpu or auto")
        return requested
    if requested == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise BadInput("--device mps: Apple Metal is not available here; use --device cpu or auto")
        return "mps"
    if requested == "cpu":
        return "cpu"
    raise BadInput(f"unknown device {requested!r} (one of {', '.join(DEVICES)}, or cuda:N)")


def import_torch(node_id: str):
    """Import torch for a node that needs it, with a clear message where it is missing."""
    try:
        import torch
    except ImportError:
        raise BadInput(f"node {node_id} needs PyTorch, which is not installed in this Python "
                       "(pip install torch, or run `make` which installs torch==2.13.0)") from None
    return torch
