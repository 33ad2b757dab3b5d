"""Review media for publishes: thumbnails, contact sheets and H.264 preview movies.

Scene-linear frames are shrunk first (in linear light, with OpenImageIO's filtered resize) and only
then sent through the OCIO display/view transform: a 4K ACES 2.0 output transform costs about a
second a frame on a CPU, a 480-pixel one a few milliseconds. Everything is written to a temporary
name and renamed into place.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from .. import color
from ..atomic import atomic_path
from ..frames.contact import GAP, contact_sheet
from ..frames.image import Frame
from ..frames.io import WriteOptions, read_frame, write_frame

THUMBNAIL_WIDTH = 480
SHEET_CELL_WIDTH = 320
SHEET_COLUMNS = 4
SHEET_MAX_FRAMES = 12
MOVIE_MAX_WIDTH = 1920


def _picture(frame: Frame) -> np.ndarray:
    """The channels to look at: RGB when present (any layer), else the first channel as grey."""
    names = [c.split(".")[-1] for c in frame.channels]
    for trio in (("R", "G", "B"), ("r", "g", "b"), ("X", "Y", "Z")):
        if all(n in names for n in trio):
            idx = [names.index(n) for n in trio]
            full = Frame(pixels=frame.pixels[:, :, idx], channels=list(trio), data_window=frame.data_window,
                         display_window=frame.display_window)
            return full.to_display_window()
    grey = Frame(pixels=frame.pixels[:, :, :1], channels=["Y"], data_window=frame.data_window,
                 display_window=frame.display_window)
    return grey.to_display_window()


def resize(img: np.ndarray, width: int, height: int | None = None) -> np.ndarray:
    """Filtered resize with OpenImageIO (in whatever space ``img`` is in)."""
    import OpenImageIO as oiio

    h, w, c = img.shape
    height = height or max(1, round(h * width / w))
    if (w, h) == (width, height):
        return np.ascontiguousarray(img, dtype=np.float32)
    buf = oiio.ImageBuf(np.ascontiguousarray(img, dtype=np.float32))
    out = oiio.ImageBufAlgo.resize(buf, roi=oiio.ROI(0, width, 0, height, 0, 1, 0, c))
    return np.asarray(out.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(height, width, c)


def linear_proxy(path: str, frame: int | None, width: int, height: int | None = None) -> np.ndarray:
    """Read a frame and shrink its picture channels in linear light (RGB, or one grey channel)."""
    src = read_frame(path, frame=frame)
    return resize(np.nan_to_num(_picture(src), nan=0.0, posinf=65504.0, neginf=-65504.0), width, height)


def display_proxy(path: str, frame: int | None, colorspace: str, width: int, height: int | None = None,
                  config: Any = None) -> np.ndarray:
    """Read a frame, shrink it in linear light, and apply the display/view transform: RGB 0–1."""
    linear = linear_proxy(path, frame, width, height)
    if linear.shape[2] == 1:  # a matte or depth: shown as grey, not colour-managed
        return np.clip(np.repeat(linear, 3, axis=2), 0.0, 1.0)
    return color.to_display(linear, src=colorspace, config=config)


def _write_image(path: str, rgb: np.ndarray) -> str:
    write_frame(path, Frame.from_array(rgb, ["R", "G", "B"], attributes={"oiio:ColorSpace": "sRGB"}), WriteOptions())
    return path


def write_thumbnail(path: str, source: str, frame: int | None, colorspace: str, width: int = THUMBNAIL_WIDTH,
                    config: Any = None) -> str:
    """One frame as a display-referred PNG/JPEG (by ``path``'s extension)."""
    return _write_image(path, display_proxy(source, frame, colorspace, width, config=config))


def pick_frames(frames: Sequence[int], count: int) -> list[int]:
    """``count`` frames spread evenly over ``frames``, first and last included."""
    frames = list(frames)
    if len(frames) <= count:
        return frames
    idx = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [frames[i] for i in dict.fromkeys(idx.tolist())]


def write_sheet(path: str, sources: Sequence[tuple[int, str]], colorspace: str, *, columns: int = SHEET_COLUMNS,
                cell_width: int = SHEET_CELL_WIDTH, title: str = "", config: Any = None) -> str:
    """A contact sheet of the given (frame, path) pairs, each cell labelled with its frame number."""
    import OpenImageIO as oiio

    # Cells are shrunk in linear light here; contact_sheet then applies the display transform to them.
    cells = [linear_proxy(p, f, cell_width) for f, p in sources]
    rows = [cells[i:i + columns] for i in range(0, len(cells), columns)]
    sheet = contact_sheet(rows, labels=[title] if title else None, colorspace=colorspace, cell_width=cell_width,
                          config=config)
    top = sheet.shape[0] - sum(max(c.shape[0] for c in r) for r in rows) - GAP * (len(rows) - 1)
    buf = oiio.ImageBuf(np.ascontiguousarray(sheet))
    y = top
    for r, row in enumerate(rows):
        for j, cell in enumerate(row):
            number = sources[r * columns + j][0]
            x = j * (cell_width + GAP)
            oiio.ImageBufAlgo.render_text(buf, x + 6, y + cell.shape[0] - 6, str(number), 14, "", (1.0, 1.0, 0.6))
        y += max(c.shape[0] for c in row) + GAP
    out = np.asarray(buf.get_pixels(oiio.FLOAT), np.float32).reshape(sheet.shape)
    return _write_image(path, out)


def _prefetched(sources: Sequence[tuple[int, str]], load, ahead: int = 4):
    """``load(frame, path)`` for each source, in order, decoding up to ``ahead`` frames on threads
    while the caller encodes (OpenImageIO and OCIO release the GIL)."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=ahead) as pool:
        pending = iter(sources)
        window: deque = deque()
        for f, p in pending:
            window.append(pool.submit(load, f, p))
            if len(window) >= ahead:
                break
        while window:
            result = window.popleft().result()
            nxt = next(pending, None)
            if nxt is not None:
                window.append(pool.submit(load, *nxt))
            yield result


def movie_size(width: int, height: int, max_width: int = MOVIE_MAX_WIDTH) -> tuple[int, int]:
    """H.264 with 4:2:0 chroma needs even sizes; previews are capped at ``max_width``."""
    w = min(width, max_width)
    h = max(2, round(height * w / width))
    return max(2, w - w % 2), h - h % 2


def write_movie(path: str, sources: Sequence[tuple[int, str]], colorspace: str, fps: float,
                max_width: int = MOVIE_MAX_WIDTH, crf: int = 18, config: Any = None) -> dict:
    """Encode an H.264 (yuv420p, BT.709-tagged) MP4 preview with PyAV; returns what was written."""
    import av

    if not sources:
        raise ValueError("no frames for the preview movie")
    first = read_frame(sources[0][1], frame=sources[0][0])
    dw = first.display_window
    width, height = movie_size(dw[2], dw[3], max_width)
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path, extension_last=True) as tmp:  # PyAV picks the container from the extension
        container = av.open(tmp, "w")
        try:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(crf), "preset": "medium"}
            cc = stream.codec_context
            # Tag BT.709 so players do not guess (they guess BT.601 for small frames).
            cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
            for rgb in _prefetched(sources, lambda f, p: display_proxy(p, f, colorspace, width, height, config)):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray((rgb * 255.0 + 0.5).astype(np.uint8)), format="rgb24")
                frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        except BaseException:
            try:
                container.close()
            except Exception:
                pass
            raise
        container.close()
    return {"path": path, "width": width, "height": height, "fps": float(rate), "frames": len(sources),
            "codec": "h264", "pix_fmt": "yuv420p"}
