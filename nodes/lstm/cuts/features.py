"""Analysis frames for ``lstm.cuts``: any input picture → small display-referred RGB (numpy only).

The network looks at every frame squeezed to 48×27 (the whole picture, whatever its aspect, as
TransNet does), display-referred, in 0–1, stored as uint8. Scene-linear frames (EXR) are averaged down
in linear light (the physically right average) and then put through the OCIO display/view transform, so
the network sees what an editor sees on the monitor; display-referred pictures (video, PNG, JPEG, DPX)
are used as they are. Movies are scaled by swscale while they are decoded (area averaging), which is
the same operation at a fraction of the cost.
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Callable, Iterator, Sequence

import numpy as np

from filmai_plugins import color
from filmai_plugins.color import ColourConfig
from filmai_plugins.errors import BadInput, FrameError
from filmai_plugins.frames.image import Frame

ANALYSIS_SIZE = (48, 27)  # width, height


@lru_cache(maxsize=64)
def _area_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights averaging each output cell over the input pixels it covers (exact areas)."""
    m = np.zeros((dst, src), np.float32)
    scale = src / dst
    for i in range(dst):
        lo, hi = i * scale, (i + 1) * scale
        j0, j1 = int(np.floor(lo)), min(int(np.ceil(hi)), src)
        for j in range(j0, j1):
            m[i, j] = min(hi, j + 1) - max(lo, j)
        m[i] /= m[i].sum()
    return m


def area_resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize (H, W, C) float pixels by area averaging (downscaling) or linear weights (upscaling)."""
    h, w = pixels.shape[:2]
    x = pixels.astype(np.float32, copy=False)
    if (h, w) == (height, width):
        return x.copy()
    rows = _area_matrix(h, height) if height <= h else _linear_matrix(h, height)
    cols = _area_matrix(w, width) if width <= w else _linear_matrix(w, width)
    out = np.einsum("ij,jkc->ikc", rows, x, optimize=True)
    return np.einsum("kj,ijc->ikc", cols, out, optimize=True)


@lru_cache(maxsize=64)
def _linear_matrix(src: int, dst: int) -> np.ndarray:
    m = np.zeros((dst, src), np.float32)
    for i in range(dst):
        pos = (i + 0.5) * src / dst - 0.5
        j = int(np.clip(np.floor(pos), 0, src - 1))
        f = float(np.clip(pos - j, 0, 1))
        m[i, j] += 1 - f
        m[i, min(j + 1, src - 1)] += f
    return m


def rgb_channels(channels: Sequence[str]) -> list[str] | None:
    """Channel names to read for analysis: R, G, B; else a luminance channel; None: the first channel."""
    names = list(channels)
    if all(c in names for c in ("R", "G", "B")):
        return ["R", "G", "B"]
    for y in ("Y", "L", "G"):
        if y in names:
            return [y]
    return names[:1] or None


def needs_display_transform(frame: Frame, colour: ColourConfig | None = None) -> str | None:
    """The colourspace to put through the display/view transform, or None for display-referred pictures.

    The OCIO config says how a colourspace is encoded: scene-linear and log pictures (EXR plates, ACEScct
    DPX) need the view transform; video-encoded ones (sRGB, Rec.709 gamma) and data are looked at as is.
    A frame read by the engine carries the run's colourspace for it (``--input-colorspace``, the file's
    tag, else the run config's convention) and ``colour`` is the run's config; frames read outside a run
    (the training recipe) follow their tag, else their format: EXR/HDR linear Rec.709, others display.
    """
    ext = os.path.splitext(frame.path or "")[1].lower()
    space = frame.colorspace or color.frame_colorspace(frame.attributes, ext or ".exr")
    try:
        config = colour.config if colour is not None else color.default_config()
        cs = config.getColorSpace(colour.resolve(space) if colour is not None
                                  else color.canonical_colorspace(space, config))
        encoding = (cs.getEncoding() or "").lower() if cs is not None else ""
        if not encoding and colour is not None and cs is not None:
            # a config that sets no encodings (Blender's): the built-in config's equal space says
            interop = colour.interop_id(cs.getName())
            twin = color.load_config(color.BUILTIN_CONFIG).getColorSpace(interop) if interop else None
            encoding = (twin.getEncoding() or "").lower() if twin is not None else ""
    except Exception:
        encoding = ""
    if encoding in ("scene-linear", "log"):
        return space
    if encoding:
        return None
    return space if ext in (".exr", ".hdr", ".sxr") else None


def analysis_pixels(frame: Frame, size: tuple[int, int] = ANALYSIS_SIZE,
                    colour: ColourConfig | None = None) -> np.ndarray:
    """One frame → (h, w, 3) float32 display-referred RGB in 0–1 at ``size`` (width, height).

    Scene-linear and log frames are taken from their colourspace in ``colour`` (the run's OCIO config) to
    linear Rec.709 and shown through the built-in config's default view, the picture the shipped model was
    trained on: the analysis is the model's input normalisation, not what an artist's display shows, and a
    show's view (Blender's Standard clips everything above 1.0) would hide changes the model looks for.
    A run config without linear Rec.709 is looked at through its own default view."""
    px = frame.to_display_window() if frame.data_window != frame.display_window else frame.pixels
    if px.shape[2] >= 3:
        idx = [frame.channels.index(c) for c in ("R", "G", "B")] if all(
            c in frame.channels for c in ("R", "G", "B")) else [0, 1, 2]
        rgb = px[:, :, idx]
    else:
        rgb = np.repeat(px[:, :, :1], 3, axis=2)
    small = area_resize(np.nan_to_num(rgb, nan=0.0, posinf=65504.0, neginf=0.0), size[0], size[1])
    space = needs_display_transform(frame, colour)
    if space is not None:
        try:
            config = None
            if colour is not None:
                try:
                    linear = colour.resolve("lin_rec709")
                except BadInput:
                    config = colour.config
                else:
                    small, space = colour.convert_rgb(small, space, linear), "lin_rec709"
            small = color.to_display(small, src=space, config=config)
        except Exception as exc:  # an unknown colourspace name in the file
            raise FrameError(f"cannot convert colourspace {space!r} for analysis: {exc}", frame.path,
                             frame.number) from None
    return np.clip(small, 0.0, 1.0)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.round(pixels * 255.0), 0, 255).astype(np.uint8)


def read_sequence(read: Callable[[int], Frame], frames: Sequence[int], size: tuple[int, int] = ANALYSIS_SIZE,
                  threads: int = 4, on_frame: Callable[[int, int], None] | None = None,
                  check_cancel: Callable[[], None] | None = None, colour: ColourConfig | None = None) -> np.ndarray:
    """Read and reduce a frame sequence on a few threads (file reading releases the GIL).

    Returns (T, h, w, 3) uint8. ``read(number)`` returns the Frame (the run context's reader, so part,
    layer and NaN policy apply); errors propagate with the file and frame they name.
    """
    from concurrent.futures import ThreadPoolExecutor

    out = np.zeros((len(frames), size[1], size[0], 3), np.uint8)

    def work(i_f: tuple[int, int]) -> int:
        i, f = i_f
        out[i] = to_uint8(analysis_pixels(read(f), size, colour))
        return i

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="filmai-cuts-read") as pool:
        pending = list(enumerate(frames))
        # bounded submission keeps memory flat on long sequences and lets cancel stop early
        step = max(1, threads * 4)
        for k in range(0, len(pending), step):
            if check_cancel:
                check_cancel()
            for _ in pool.map(work, pending[k:k + step]):
                done += 1
            if on_frame:
                on_frame(done, len(frames))
    return out


def read_movie(path: str, size: tuple[int, int] = ANALYSIS_SIZE, frames: Sequence[int] | None = None,
               stats=None, info=None, on_frame: Callable[[int, int | None], None] | None = None,
               check_cancel: Callable[[], None] | None = None) -> tuple[np.ndarray, list[int]]:
    """Decode a movie at the analysis size: (T, h, w, 3) uint8 and the frame numbers (from PTS)."""
    from filmai_plugins.frames.movie import iter_movie_frames

    pics: list[np.ndarray] = []
    numbers: list[int] = []
    total = info.estimated_frames if info is not None else None
    for mf in iter_movie_frames(path, size=size, frames=frames, alpha=False, stats=stats, info=info):
        pics.append(to_uint8(mf.pixels))
        numbers.append(mf.number)
        if len(pics) % 64 == 0:
            if check_cancel:
                check_cancel()
            if on_frame:
                on_frame(len(pics), total)
    if not pics:
        raise FrameError("none of the requested frames are in the movie", path)
    return np.stack(pics), numbers


def iter_chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for s in range(0, n, size):
        yield s, min(n, s + size)
