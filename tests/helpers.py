"""Fixture builders shared by the test suite: real EXR sequences written with OpenImageIO."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import OpenImageIO as oiio

SHARED_DATA = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


def shared_data(*parts: str) -> str:
    """Path under ../shared/data; callers skip when it does not exist."""
    return os.path.join(SHARED_DATA, *parts)


def write_exr(path: str, pixels: np.ndarray, channels: Sequence[str] | None = None, *, pixel_type: str = "half",
              compression: str = "zip", data_window: tuple[int, int] | None = None,
              display_window: tuple[int, int, int, int] | None = None, tile: int = 0,
              attributes: dict | None = None) -> str:
    """Write one EXR with OpenImageIO (the real library, no mocks)."""
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    h, w, c = pixels.shape
    if channels is None:
        channels = ["R", "G", "B", "A"][:c] if c <= 4 else [f"c{i}" for i in range(c)]
    channels = list(channels)
    spec = oiio.ImageSpec(w, h, c, pixel_type)
    spec.channelnames = tuple(channels)
    if data_window:
        spec.x, spec.y = data_window
    if display_window:
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = display_window
    else:
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = spec.x, spec.y, w, h
    if tile:
        spec.tile_width = spec.tile_height = tile
    spec.attribute("compression", compression)
    for k, v in (attributes or {}).items():
        spec.attribute(k, v)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    out = oiio.ImageOutput.create(path)
    assert out is not None, oiio.geterror()
    assert out.open(path, spec), out.geterror()
    assert out.write_image(pixels), out.geterror()
    out.close()
    return path


def plate(frame: int, width: int = 96, height: int = 64, channels: int = 4, seed: int = 0) -> np.ndarray:
    """A procedural plate with structure, motion and HDR highlights (values above 1.0)."""
    rng = np.random.default_rng(seed + frame)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = frame * 0.15
    r = 0.5 + 0.4 * np.sin(x / 7.0 + t) * np.cos(y / 9.0)
    g = 0.5 + 0.4 * np.cos((x + y) / 11.0 - t)
    b = 0.3 + 0.2 * np.sin(np.hypot(x - width / 2, y - height / 2) / 5.0 - t)
    img = np.stack([r, g, b], axis=2)
    cx, cy = (width * (0.3 + 0.05 * (frame % 10))), height * 0.4
    spot = np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / 18.0))
    img += 6.0 * spot[:, :, None]  # an HDR highlight
    img += rng.normal(0, 0.01, img.shape).astype(np.float32)
    if channels == 4:
        img = np.concatenate([img, np.ones((height, width, 1), np.float32)], axis=2)
    return img[:, :, :channels].astype(np.float32)


def write_sequence(folder: str, name: str = "plate", frames: Sequence[int] = range(1001, 1005), *,
                   width: int = 96, height: int = 64, channels: int = 4, **kw) -> str:
    """Write ``folder/name.####.exr`` for ``frames``; returns the pattern."""
    for f in frames:
        write_exr(os.path.join(folder, f"{name}.{f:04d}.exr"), plate(f, width, height, channels), **kw)
    return os.path.join(folder, f"{name}.####.exr")
