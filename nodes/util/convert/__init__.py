"""``util.convert``: re-encode an image sequence."""
from __future__ import annotations

import numpy as np

from filmai_plugins.errors import BadInput
from filmai_plugins.frames.image import Frame
from filmai_plugins.node import Node, Param, Port
from filmai_plugins.schema import parse_channel_list


class ConvertNode(Node):
    """Re-encode a sequence: EXR compression and pixel type (``--compression``, ``--pixel-type``), part and
    layer selection (``--part``, ``--layer``), channel selection, and the data window kept, expanded to the
    display window, or cropped to the pixels that are not empty. Header attributes pass through; any format
    OpenImageIO reads (EXR, DPX, TIFF, PNG, JPEG) can be the input.
    """

    id = "util.convert"
    version = "1.0.0"
    family = "util"
    label = "Convert"
    inputs = (Port("input", "Frames", "the sequence to convert"),)
    outputs = (Port("output", "Frames", "the converted sequence"),)
    params = (
        Param("channels", "string", "", help="channels to keep, e.g. 'R,G,B,A' or 'diffuse.R,Z'; empty keeps all"),
        Param("data_window", "enum", "keep", choices=("keep", "display", "autocrop"),
              help="keep the data window; expand/crop it to the display window; or shrink it to the non-zero pixels"),
    )
    rejects_nonfinite = False  # a converter passes NaN/Inf through untouched

    def input_channels(self, port: str) -> list[str] | None:
        return parse_channel_list(self.params["channels"]) or None

    def process(self, frame: Frame, ctx) -> Frame:
        mode = self.params["data_window"]
        if mode == "keep":
            return frame
        if mode == "display":
            out = frame.with_pixels(frame.to_display_window())
            out.data_window = frame.display_window
            return out
        if mode == "autocrop":
            return autocrop(frame)
        raise BadInput(f"unknown data_window mode {mode!r}")  # pragma: no cover - enum validated


def autocrop(frame: Frame) -> Frame:
    """Shrink the data window to the bounding box of pixels with any non-zero channel (Nuke's autocrop)."""
    nonzero = np.any(frame.pixels != 0, axis=2)
    rows = np.flatnonzero(nonzero.any(axis=1))
    cols = np.flatnonzero(nonzero.any(axis=0))
    x0, y0 = frame.data_window[:2]
    if rows.size == 0:  # all empty: a single pixel at the display origin, as compositors do
        out = frame.with_pixels(np.zeros((1, 1, frame.pixels.shape[2]), np.float32))
        out.data_window = (frame.display_window[0], frame.display_window[1], 1, 1)
        return out
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    out = frame.with_pixels(frame.pixels[r0:r1, c0:c1])
    out.data_window = (x0 + int(c0), y0 + int(r0), int(c1 - c0), int(r1 - r0))
    return out

NODES = (ConvertNode,)
