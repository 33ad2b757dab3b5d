"""Engine pipelining: does reading ahead and writing behind hide I/O behind compute?

Three measurements on the same frames, in one run:
  pure I/O     `util.convert` over the sequence (read + write, no compute)
  pure compute the TorchScript model's forward passes on frames already in memory (same tiling)
  pipeline     `cnn.torchscript` over the sequence through the engine
Goal: pipeline <= 1.10 x max(pure I/O, pure compute).

    python bench/engine.py [--frames 16] [--width 1920 --height 1080] [--rounds 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _frames import make_frames  # noqa: E402


def build_model(path: str, width: int = 8, depth: int = 4) -> None:
    """A compute-heavy residual conv net (receptive field `depth` px), scripted to TorchScript."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = torch.nn.Conv2d(3, width, 3, padding=1)
            self.body = torch.nn.ModuleList([torch.nn.Conv2d(width, width, 3, padding=1) for _ in range(depth - 2)])
            self.tail = torch.nn.Conv2d(width, 3, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.head(x))
            for conv in self.body:
                y = torch.relu(conv(y)) + y
            return x + self.tail(y)

    torch.manual_seed(0)
    torch.jit.script(Net().eval()).save(path)


def pure_compute(pattern: str, frames: list[int], model: str, tile: int, rf: int) -> float:
    import torch

    from filmai_plugins.engine.tiling import apply_tiled
    from filmai_plugins.frames import read_frame

    net = torch.jit.load(model).eval()
    images = [read_frame(pattern.replace("####", f"{f:04d}"), channels=["R", "G", "B"]).pixels for f in frames]

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy().transpose(0, 2, 3, 1)

    t0 = time.perf_counter()
    for img in images:
        apply_tiled(fn, img, tile=tile, receptive_field=rf)
    return time.perf_counter() - t0


def main() -> None:
    import filmai_plugins as fa

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tile", type=int, default=1024)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="filmai-bench-engine-")
    try:
        pattern, desc = make_frames(os.path.join(work, "src"), args.frames, "zip")
        frames = list(range(1001, 1001 + args.frames))
        model = os.path.join(work, "net.pt")
        build_model(model)
        rf = 4
        io_opts = {"compression": "zip", "pixel_type": "half", "tile_size": args.tile}
        res: dict[str, list[float]] = {"pure I/O (util.convert)": [], "pure compute (in memory)": [],
                                       "pipeline (cnn.torchscript)": []}
        for r in range(args.rounds):
            out = os.path.join(work, f"io-{r}")
            t0 = time.perf_counter()
            fa.run("util.convert", input=pattern, output=os.path.join(out, "c.####.exr"), channels="R,G,B",
                   io=io_opts)
            res["pure I/O (util.convert)"].append(time.perf_counter() - t0)
            res["pure compute (in memory)"].append(pure_compute(pattern, frames, model, args.tile, rf))
            t0 = time.perf_counter()
            fa.run("cnn.torchscript", input=pattern, output=os.path.join(out, "t.####.exr"), model=model,
                   receptive_field=rf, keep_other_channels=False, io=io_opts)
            res["pipeline (cnn.torchscript)"].append(time.perf_counter() - t0)
            shutil.rmtree(out, ignore_errors=True)
        med = {k: statistics.median(v) for k, v in res.items()}
        bound = max(med["pure I/O (util.convert)"], med["pure compute (in memory)"])
        print(f"frames: {args.frames} x {desc}; tile {args.tile}; {args.rounds} rounds, median")
        print("| measurement | median s | s/frame | ratio to max(I/O, compute) |")
        print("|---|---|---|---|")
        for k, v in med.items():
            print(f"| {k} | {v:.2f} | {v / args.frames:.3f} | {v / bound:.3f} |")
        print(f"| serial sum (I/O + compute) | {med['pure I/O (util.convert)'] + med['pure compute (in memory)']:.2f} | | "
              f"{(med['pure I/O (util.convert)'] + med['pure compute (in memory)']) / bound:.3f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
