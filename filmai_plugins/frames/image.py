"""Frames in memory: float32 numpy arrays (H, W, C) with channel names and the file's metadata."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from ..errors import FrameError

#: (x, y, width, height) in pixels, OpenEXR convention (y down, origin top-left of the display window).
Window = tuple[int, int, int, int]


@dataclass
class FrameHeader:
    """What a file says about itself without decoding pixels."""

    path: str
    width: int
    height: int
    channels: list[str]
    pixel_types: list[str]  # per channel: "half", "float", "uint8", "uint16", "uint32"
    data_window: Window
    display_window: Window
    attributes: dict[str, Any] = field(default_factory=dict)
    attribute_types: dict[str, str] = field(default_factory=dict)
    parts: list[str] = field(default_factory=list)  # part (subimage) names; one entry for single-part
    part_index: int = 0
    tiled: bool = False
    format_name: str = ""


@dataclass
class Frame:
    """One image: ``pixels`` cover the data window; ``channels`` name the last axis.

    ``layer`` is the layer/AOV prefix the channels were read from ("" for the main layer); channel
    names are kept without it so a network sees R, G, B whatever layer it came from.
    """

    pixels: np.ndarray
    channels: list[str]
    data_window: Window
    display_window: Window
    attributes: dict[str, Any] = field(default_factory=dict)
    attribute_types: dict[str, str] = field(default_factory=dict)
    pixel_types: list[str] | None = None
    layer: str = ""
    path: str | None = None
    number: int | None = None

    def __post_init__(self) -> None:
        if self.pixels.ndim == 2:
            self.pixels = self.pixels[:, :, None]
        if self.pixels.ndim != 3:
            raise ValueError(f"frame pixels must be (H, W, C), got shape {self.pixels.shape}")
        if self.pixels.dtype != np.float32:
            self.pixels = self.pixels.astype(np.float32)
        if len(self.channels) != self.pixels.shape[2]:
            raise ValueError(f"{len(self.channels)} channel names for {self.pixels.shape[2]} channels")
        dw = self.data_window
        if (dw[2], dw[3]) != (self.pixels.shape[1], self.pixels.shape[0]):
            # pixels define the data window size; keep the origin
            self.data_window = (dw[0], dw[1], self.pixels.shape[1], self.pixels.shape[0])

    @classmethod
    def from_array(cls, pixels: np.ndarray, channels: Sequence[str] | None = None, **kw: Any) -> "Frame":
        """A frame whose data window equals its display window (a plain image)."""
        arr = np.asarray(pixels, dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        h, w, c = arr.shape
        if channels is None:
            channels = {1: ["Y"], 2: ["Y", "A"], 3: ["R", "G", "B"], 4: ["R", "G", "B", "A"]}.get(c) or [f"c{i}" for i in range(c)]
        return cls(pixels=arr, channels=list(channels), data_window=kw.pop("data_window", (0, 0, w, h)),
                   display_window=kw.pop("display_window", (0, 0, w, h)), **kw)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    def where(self) -> str:
        """'file (frame N)' for messages."""
        return f"{self.path or '<memory>'}" + (f" (frame {self.number})" if self.number is not None else "")

    def channel_index(self, name: str) -> int:
        try:
            return self.channels.index(name)
        except ValueError:
            raise FrameError(f"no channel {name!r} (channels: {', '.join(self.channels)})", self.path, self.number) from None

    def select(self, names: Sequence[str]) -> np.ndarray:
        """Pixels of the named channels, in that order, as a new (H, W, len(names)) array."""
        idx = [self.channel_index(n) for n in names]
        return self.pixels[:, :, idx]

    def with_pixels(self, pixels: np.ndarray, channels: Sequence[str] | None = None, *,
                    scale: int = 1, pixel_types: list[str] | None = None) -> "Frame":
        """A new frame with other pixels (and channels), keeping metadata; ``scale`` scales both windows."""
        dw, disp = self.data_window, self.display_window
        if scale != 1:
            dw = (dw[0] * scale, dw[1] * scale, dw[2] * scale, dw[3] * scale)
            disp = (disp[0] * scale, disp[1] * scale, disp[2] * scale, disp[3] * scale)
        chans = list(channels) if channels is not None else list(self.channels)
        if pixel_types is None and self.pixel_types is not None and chans == self.channels:
            pixel_types = list(self.pixel_types)
        return replace(self, pixels=np.asarray(pixels, dtype=np.float32), channels=chans, data_window=dw,
                       display_window=disp, attributes=dict(self.attributes),
                       attribute_types=dict(self.attribute_types), pixel_types=pixel_types)

    def nonfinite_count(self) -> int:
        return int(self.pixels.size - np.count_nonzero(np.isfinite(self.pixels)))

    def to_display_window(self, fill: float = 0.0) -> np.ndarray:
        """Pixels placed on the full display window (cropping what lies outside it)."""
        return self.on_window(self.display_window, fill)

    def on_window(self, window: tuple[int, int, int, int], fill: float = 0.0) -> np.ndarray:
        """Pixels placed on another (x, y, w, h) window: cropped where they lie outside it, ``fill``
        where it reaches beyond them."""
        wx, wy, ww, wh = window
        out = np.full((wh, ww, self.pixels.shape[2]), fill, np.float32)
        x0, y0, w, h = self.data_window
        sx0, sy0 = max(x0, wx), max(y0, wy)
        sx1, sy1 = min(x0 + w, wx + ww), min(y0 + h, wy + wh)
        if sx1 > sx0 and sy1 > sy0:
            out[sy0 - wy:sy1 - wy, sx0 - wx:sx1 - wx] = self.pixels[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
        return out
