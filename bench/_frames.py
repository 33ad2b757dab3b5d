"""Source frames shared by the I/O and engine benchmarks (written with plain OpenImageIO, native types)."""
from __future__ import annotations

import os
import shutil

import numpy as np
import OpenImageIO as oiio

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))
BEACHBALL = os.path.join(SHARED, "exr", "Beachball")


def make_frames(folder: str, count: int, compression: str) -> tuple[str, str]:
    """2K RGBA half frames: ``folder/src.####.exr`` from 1001; returns (pattern, description)."""
    os.makedirs(folder, exist_ok=True)
    if os.path.isdir(BEACHBALL):
        from filmai_plugins.frames import read_frame

        sources = [read_frame(os.path.join(BEACHBALL, f"singlepart.{i:04d}.exr"), channels=["R", "G", "B", "A"])
                   for i in range(1, 9)]
        desc = "Beachball RGBA expanded to its 2048x1556 display window (real footage, ../shared/data)"
        images = [s.to_display_window().astype(np.float16) for s in sources]
    else:
        y, x = np.mgrid[0:1556, 0:2048].astype(np.float32)
        images = [np.stack([np.sin(x / 40 + i) * 0.5 + 0.5, np.cos(y / 30 - i) * 0.5 + 0.5,
                            (x * y / 2e6) % 1.0, np.ones_like(x)], axis=2).astype(np.float16) for i in range(8)]
        desc = "procedural 2048x1556 RGBA half plates (../shared/data absent)"
    for n in range(count):
        img = images[n % len(images)]
        spec = oiio.ImageSpec(img.shape[1], img.shape[0], 4, "half")
        spec.channelnames = ("R", "G", "B", "A")
        spec.alpha_channel = 3
        spec.attribute("compression", compression)
        _write(os.path.join(folder, f"src.{1001 + n:04d}.exr"), [spec], [img])
    return os.path.join(folder, "src.####.exr"), desc


def recompress(sources: list[str], folder: str, count: int, compression: str, name: str = "src") -> str:
    """``count`` frames cycling through ``sources``, every part re-encoded natively with ``compression``."""
    os.makedirs(folder, exist_ok=True)
    for n in range(count):
        specs, pixels = read_parts(sources[n % len(sources)])
        for s in specs:
            s.attribute("compression", compression)
        _write(os.path.join(folder, f"{name}.{1001 + n:04d}.exr"), specs, pixels)
    return os.path.join(folder, f"{name}.####.exr")


def beachball(kind: str) -> list[str]:
    """The real files: ``singlepart`` (8 frames, 20 channels) or ``multipart`` (3 frames, 10 parts)."""
    count = 8 if kind == "singlepart" else 3
    return [os.path.join(BEACHBALL, f"{kind}.{i:04d}.exr") for i in range(1, count + 1)]


def make_aov_frames(folder: str, count: int, compression: str, width: int = 4096, height: int = 2160,
                    channels: int = 24) -> str:
    """A ``channels``-channel half render at ``width`` x ``height`` (smooth AOVs); one frame written, the rest
    hard links to it (memory benchmarks need many frames, not many different ones)."""
    os.makedirs(folder, exist_ok=True)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = [(np.sin(x / (50 + 7 * c) + c) * np.cos(y / (40 + 5 * c)) * (1 + c)).astype(np.float16)
              for c in range(channels)]
    img = np.stack(planes, axis=2)
    names = ["R", "G", "B", "A", "Z"] + [f"aov{i // 3}.{'RGB'[i % 3]}" for i in range(channels - 5)]
    spec = oiio.ImageSpec(width, height, channels, "half")
    spec.channelnames = tuple(names)
    spec.attribute("compression", compression)
    first = os.path.join(folder, "aov.1001.exr")
    _write(first, [spec], [img])
    for n in range(1, count):
        path = os.path.join(folder, f"aov.{1001 + n:04d}.exr")
        try:
            os.link(first, path)
        except OSError:
            shutil.copyfile(first, path)
    return os.path.join(folder, "aov.####.exr")


def read_parts(path: str) -> tuple[list, list[np.ndarray]]:
    """Every part's spec and pixels in the file's own types (OpenImageIO's native read)."""
    inp = oiio.ImageInput.open(path)
    specs, pixels = [], []
    i = 0
    while inp.seek_subimage(i, 0):
        spec = oiio.ImageSpec(inp.spec())
        spec.erase_attribute("openexr:chunkCount")  # the layout of the file read, not of the one written
        specs.append(spec)
        pixels.append(inp.read_image(i, 0, 0, spec.nchannels, "unknown"))
        i += 1
    inp.close()
    return specs, pixels


def _write(path: str, specs: list, pixels: list[np.ndarray]) -> None:
    out = oiio.ImageOutput.create(path)
    if not out.open(path, specs[0] if len(specs) == 1 else tuple(specs)):
        raise OSError(out.geterror())
    for i, (spec, px) in enumerate(zip(specs, pixels)):
        if i and not out.open(path, spec, "AppendSubimage"):
            raise OSError(out.geterror())
        if not out.write_image(px):
            raise OSError(out.geterror())
    out.close()
