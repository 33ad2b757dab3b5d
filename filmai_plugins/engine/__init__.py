"""Running nodes: device, tiling, I/O prefetch, progress, cancel, manifests."""
from .cancel import CancelToken, signals_cancel
from .context import IO_OPTIONS, IOOptions, RunContext, TrainContext
from .progress import PROGRESS_MODES, Progress
from .runner import run_node, train_node
from .tiling import apply_tiled

__all__ = ["CancelToken", "signals_cancel", "IO_OPTIONS", "IOOptions", "RunContext", "TrainContext",
           "PROGRESS_MODES", "Progress", "run_node", "train_node", "apply_tiled"]
