"""``util.convert``: re-encode an image sequence."""
from __future__ import annotations

from filmai_plugins.errors import BadInput, FrameError
from filmai_plugins.frames.image import Frame
from filmai_plugins.node import Node, Param, Port
from filmai_plugins.schema import parse_channel_list


class ConvertNode(Node):
    """Re-encode a sequence: EXR compression and pixel type (``--compression``, ``--pixel-type``), part and
    layer selection (``--part``, ``--layer``), channel selection, and the data window kept, expanded to the
    display window, or cropped to the pixels that are not empty. Without ``--part`` every part of a
    multi-part file is kept (names, channels, data windows, pixel types, attributes), as ``oiiotool -a``
    does; pixels are never converted unless the pixel type asks for it. Header attributes pass through;
    any format OpenImageIO reads (EXR, DPX, TIFF, PNG, JPEG) can be the input.
    """

    id = "util.convert"
    version = "1.1.0"
    family = "util"
    label = "Convert"
    inputs = (Port("input", "Frames", "the sequence to convert"),)
    outputs = (Port("output", "Frames", "the converted sequence"),)
    params = (
        Param("channels", "string", "",
              help="channels to keep, e.g. 'R,G,B,A' or 'diffuse.R,Z'; empty keeps all. In a multi-part file each "
                   "part keeps the named channels it has, and parts with none of them are left out"),
        Param("data_window", "enum", "keep", choices=("keep", "display", "autocrop"),
              help="keep the data window; expand/crop it to the display window; or shrink it to the non-zero "
                   "pixels (each part on its own)"),
    )
    rejects_nonfinite = False  # a converter passes NaN/Inf through untouched

    def input_channels(self, port: str) -> list[str] | None:
        return None  # channels are picked per part in process(), where every part is at hand

    def process(self, frame: Frame, ctx) -> Frame:
        names = parse_channel_list(self.params["channels"])
        if names:
            frame = select_channels(frame, names)
        mode = self.params["data_window"]
        if mode == "keep":
            return frame
        if mode == "display":
            return _per_part(frame, lambda p: p.with_data_window(p.display_window))
        if mode == "autocrop":
            return _per_part(frame, autocrop)
        raise BadInput(f"unknown data_window mode {mode!r}")  # pragma: no cover - enum validated


def _per_part(frame: Frame, fn) -> Frame:
    first = fn(frame)
    first.other_parts = [fn(p) for p in frame.other_parts]
    return first


def select_channels(frame: Frame, names: list[str]) -> Frame:
    """Each part keeps the named channels it has (in the order named); parts with none are left out. A name
    no part has is an error naming the file and frame."""
    kept = []
    for part in frame.parts:
        have = [n for n in names if n in part.channels]
        if have:
            kept.append(part.subset(have))
    found = {n for p in kept for n in p.channels}
    missing = [n for n in names if n not in found]
    if missing:
        where = "any part" if frame.other_parts else "the frame"
        listing = "; ".join(f"{p.part}: {', '.join(p.channels)}" for p in frame.parts) if frame.other_parts \
            else ", ".join(frame.channels)
        raise FrameError(f"no channel {missing[0]!r} in {where} (channels: {listing})", frame.path, frame.number)
    first = kept[0]
    first.other_parts = kept[1:]
    return first


def autocrop(frame: Frame) -> Frame:
    """Shrink the data window to the bounding box of pixels with any non-zero channel (Nuke's autocrop)."""
    box = frame.nonzero_box()
    if box is None:  # all empty: a single pixel at the display origin, as compositors do
        box = (frame.display_window[0], frame.display_window[1], 1, 1)
    return frame.with_data_window(box)


NODES = (ConvertNode,)
