"""Training: checkpoints (safetensors + JSON metadata) and the shared training machinery."""
from .checkpoint import Checkpoint, file_sha256, load_checkpoint, read_checkpoint_meta, save_checkpoint

__all__ = ["Checkpoint", "file_sha256", "load_checkpoint", "read_checkpoint_meta", "save_checkpoint"]
