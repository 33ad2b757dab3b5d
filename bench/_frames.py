"""Source frames shared by the I/O and engine benchmarks."""
from __future__ import annotations

import os

import numpy as np
import OpenImageIO as oiio

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))


def make_frames(folder: str, count: int, compression: str) -> tuple[str, str]:
    """Write the source sequence; returns (pattern, description)."""
    beach = os.path.join(SHARED, "exr", "Beachball")
    os.makedirs(folder, exist_ok=True)
    if os.path.isdir(beach):
        from filmai_plugins.frames import read_frame

        sources = [read_frame(os.path.join(beach, f"singlepart.{i:04d}.exr"), channels=["R", "G", "B", "A"])
                   for i in range(1, 9)]
        desc = "Beachball RGBA expanded to its 2048x1556 display window (real footage, ../shared/data)"
        images = [s.to_display_window() for s in sources]
    else:
        y, x = np.mgrid[0:1080, 0:1920].astype(np.float32)
        images = [np.stack([np.sin(x / 40 + i) * 0.5 + 0.5, np.cos(y / 30 - i) * 0.5 + 0.5,
                            (x * y / 2e6) % 1.0, np.ones_like(x)], axis=2) for i in range(8)]
        desc = "procedural 1920x1080 RGBA plates (../shared/data absent)"
    for n in range(count):
        img = images[n % len(images)]
        spec = oiio.ImageSpec(img.shape[1], img.shape[0], 4, "half")
        spec.channelnames = ("R", "G", "B", "A")
        spec.attribute("compression", compression)
        out = oiio.ImageOutput.create("exr")
        path = os.path.join(folder, f"src.{1001 + n:04d}.exr")
        out.open(path, spec)
        out.write_image(img)
        out.close()
    return os.path.join(folder, "src.####.exr"), desc
