"""Fixture builders shared by the test suite: real EXR sequences written with OpenImageIO."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import OpenImageIO as oiio

RECIPES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "recipes"))
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
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], oiio.TypeDesc):
            spec.attribute(k, v[0], v[1])  # a typed attribute: (TypeDesc, value)
        else:
            spec.attribute(k, v)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    out = oiio.ImageOutput.create(path)
    assert out is not None, oiio.geterror()
    assert out.open(path, spec), out.geterror()
    assert out.write_image(pixels), out.geterror()
    out.close()
    return path


def bcd_timecode(frame: int, fps: int = 24) -> int:
    """The SMPTE word of an EXR ``timeCode`` for frame number ``frame`` counted from 00:00:00:00."""
    parts = (frame % fps, (frame // fps) % 60, (frame // (fps * 60)) % 60, frame // (fps * 3600))
    return sum(((v // 10) << 4 | v % 10) << (8 * i) for i, v in enumerate(parts))


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


# ----- training fixtures ---------------------------------------------------------------------------

#: training params small enough for a test to train in seconds
TINY = {"steps": 12, "crop_size": 32, "batch_size": 4, "warmup_steps": 2, "threads": 1, "validation_interval": 6,
        "checkpoint_interval": 6, "contact_sheet_interval": 6}

def blob_pairs(folder, frames=range(1001, 1005), size=48, channels=("R", "G", "B")):
    """Input: a smooth HDR plate with a moving magenta blob; target: the plate without it."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    for f in frames:
        t = f - 1001
        plate = np.stack([0.4 + 0.3 * np.sin(x / 6 + t * 0.2), 0.5 + 0.3 * np.cos(y / 7),
                          0.3 + 0.2 * np.sin((x + y) / 9)], axis=2)
        # a highlight far above 1.0, in a corner the blob never crosses
        plate += 5.0 * np.exp(-((x - (size - 10)) ** 2 + (y - (size - 10)) ** 2) / 6.0)[..., None]
        blob = np.exp(-((x - 8 - 6 * t) ** 2 + (y - 30 + 3 * t) ** 2) / 6.0)[..., None]
        dirty = plate * (1 - blob) + blob * np.array([1.6, 0.05, 1.4], np.float32)  # magenta: unlike the plate
        extra = [np.ones((size, size, 1), np.float32)] if "A" in channels else []
        write_exr(os.path.join(folder, f"src.{f:04d}.exr"), np.concatenate([dirty] + extra, axis=2), list(channels))
        write_exr(os.path.join(folder, f"dst.{f:04d}.exr"), np.concatenate([plate] + extra, axis=2), list(channels))
    return os.path.join(folder, "src.####.exr"), os.path.join(folder, "dst.####.exr")


# ----- timelines ------------------------------------------------------------------------------------

def write_otio(path, cuts, length=40, first=1001, kind=None):
    """A timeline like lstm.cuts writes: one clip per shot, confidence on each cut (a dissolve optional)."""
    import opentimelineio as otio

    tl = otio.schema.Timeline(name="edit")
    track = otio.schema.Track(name="V1")
    tl.tracks.append(track)
    bounds = [0] + [c for c, _ in cuts] + [length]
    ref = otio.schema.ImageSequenceReference(target_url_base="/plates/", name_prefix="edit.", name_suffix=".exr",
                                             start_frame=first, rate=24, frame_zero_padding=4,
                                             available_range=otio.opentime.TimeRange(
                                                 otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(length, 24)))
    for i in range(len(bounds) - 1):
        a, b = bounds[i], bounds[i + 1]
        if i and kind == "dissolve" and i == 1:
            track.append(otio.schema.Transition(transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                                                in_offset=otio.opentime.RationalTime(2, 24),
                                                out_offset=otio.opentime.RationalTime(2, 24)))
        clip = otio.schema.Clip(name=f"sh{(i + 1) * 10:04d}", media_reference=ref.clone(),
                                source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(a, 24),
                                                                      otio.opentime.RationalTime(b - a, 24)))
        if i:
            clip.metadata["filmai"] = {"confidence": cuts[i - 1][1]}
        track.append(clip)
    otio.adapters.write_to_file(tl, path)
    return path


def recipe(name: str):
    """A module of recipes/ (the scripts that make shipped models and their synthetic data)."""
    import importlib
    import sys

    if RECIPES not in sys.path:
        sys.path.insert(0, RECIPES)
    return importlib.import_module(name)


#: The header attributes every output frame gets naming its colourspace (issue 21: every frame is tagged)
COLOUR_TAGS = ("colorInteropID", "chromaticities", "colorspace", "oiio:ColorSpace")


def without_added_colour_tags(out_attrs: dict, src_attrs: dict) -> dict:
    """``out_attrs`` less the colour tags the engine added to an untagged source (they must name a colourspace);
    tags the source had are kept, so they are compared."""
    out = dict(out_attrs)
    assert out.get("colorspace"), "an output frame names its colourspace"
    for key in COLOUR_TAGS:
        if key not in src_attrs:
            out.pop(key, None)
    return out
