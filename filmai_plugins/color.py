"""Colour: OpenColorIO conversions between file and model working spaces, display transforms, and the
invertible working encodings networks train in.

The config comes from the app (``app.ocio_config()``: the host's, a ``filmai_ocio_config`` plug-in's,
``$OCIO``, or the pinned built-in CG config); functions here take it as an argument and fall back to
``default_config()``. Networks never see scene-linear values directly: they work in ``log`` encoding (below),
which keeps values above 1.0 (and negative ACEScg values) without clamping.
"""
from __future__ import annotations

import functools
import math
import os
from typing import Any

import numpy as np

from .errors import BadInput

#: The config used when neither the host, a plug-in nor $OCIO names one. Pinned to a versioned built-in
#: config, never OCIO's moving ``-latest`` alias, so a show's frames do not change colour with a library upgrade.
BUILTIN_CONFIG = "ocio://cg-config-v4.0.0_aces-v2.0_ocio-v2.5"
# Names other tools write into files that the CG config knows by another name.
_ALIASES = {"srgb": "srgb_tx", "linear": "lin_rec709", "rec709": "lin_rec709", "lin_srgb": "lin_rec709",
            "acescg": "ACEScg", "aces": "ACES2065-1", "raw": "Raw", "data": "Raw", "non-color": "Raw"}
WORKING_ENCODINGS = ("log", "linear", "srgb")
_LOG_GAIN = 16.0  # log encoding: y = sign(x) * log1p(16|x|) / log1p(16): 0→0, 1→1, 100→~2.5


@functools.lru_cache(maxsize=8)
def _load_config_file(source: str):
    import PyOpenColorIO as ocio

    try:
        return ocio.Config.CreateFromFile(source)
    except Exception as exc:
        raise BadInput(f"cannot load OCIO config {source}: {exc}") from None


def load_config(source: Any = None):
    """An OCIO config from a ``PyOpenColorIO.Config``, a path or ``ocio://`` URI, or None (``$OCIO``, else
    ``BUILTIN_CONFIG``). Files are loaded once per process. Inside a run use ``ctx.app.ocio_config()``,
    which also asks the host and the plug-ins."""
    import PyOpenColorIO as ocio

    if isinstance(source, ocio.Config):
        return source
    return _load_config_file(str(source) if source else (os.environ.get("OCIO") or BUILTIN_CONFIG))


def default_config():
    """The config outside a run: ``$OCIO``, else ``BUILTIN_CONFIG``."""
    return load_config(None)


def canonical_colorspace(name: str, config: Any = None) -> str:
    """A colourspace's name in the config (accepting aliases such as OIIO's ``lin_rec709``)."""
    config = config or default_config()
    for candidate in (name, _ALIASES.get(name.lower(), name)):
        cs = config.getColorSpace(candidate)
        if cs is not None:
            return cs.getName()
    names = [cs.getName() for cs in config.getColorSpaces()]
    raise BadInput(f"unknown colourspace {name!r} in OCIO config {config.getName()!r} (known: {', '.join(names)})")


# Primaries + white point (rx, ry, gx, gy, bx, by, wx, wy) of the EXR ``chromaticities`` attribute.
_PRIMARIES = {
    "lin_rec709": (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290),
    "ACEScg": (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767),
    "ACES2065-1": (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767),
    "lin_p3d65": (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290),
    "lin_rec2020": (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290),
}


def declared_colorspace(attributes: dict[str, Any], extension: str = ".exr") -> tuple[str | None, str]:
    """The colourspace a file itself declares and where that came from; (None, reason) when it does not.

    EXR: the ``colorInteropID`` attribute (OpenEXR 3.4+; its values are OCIO interop ids such as
    ``lin_ap1_scene``), then a pipeline ``colorspace``/``colorSpace`` string, then ``chromaticities``
    matched to known primaries (EXR data is linear by convention). OpenImageIO's ``oiio:ColorSpace``
    is its own guess for EXR (always ``lin_rec709``), so it counts only for formats where it reflects
    the file (PNG, JPEG, TIFF, DPX).
    """
    for key in ("colorInteropID", "colorspace", "colorSpace"):
        value = attributes.get(key)
        if value:
            return str(value), key
    chroma = attributes.get("chromaticities")
    if chroma is not None and len(chroma) == 8:
        values = tuple(float(v) for v in chroma)
        for name, ref in _PRIMARIES.items():
            if all(abs(a - b) < 2e-3 for a, b in zip(values, ref)):
                return name, "chromaticities"
        return None, f"chromaticities {tuple(round(v, 4) for v in values)} match no known primaries"
    if extension.lower() not in (".exr", ".sxr", ".mxr"):
        value = attributes.get("oiio:ColorSpace")
        return (str(value), "oiio:ColorSpace") if value else (None, "no colourspace in the file")
    return None, "no colorInteropID, colorspace or chromaticities in the EXR header"


def frame_colorspace(attributes: dict[str, Any], extension: str = ".exr") -> str:
    """The declared colourspace, else the convention for the format (EXR scene-linear Rec.709, 8-bit sRGB)."""
    declared, _ = declared_colorspace(attributes, extension)
    if declared:
        return declared
    return "lin_rec709" if extension.lower() in (".exr", ".hdr", ".sxr", ".mxr") else "srgb_tx"


def convert(pixels: np.ndarray, src: str, dst: str, config: Any = None) -> np.ndarray:
    """Convert the first three channels from ``src`` to ``dst``; other channels (alpha, AOVs) pass through."""
    config = config or default_config()
    src_c, dst_c = canonical_colorspace(src, config), canonical_colorspace(dst, config)
    out = np.array(pixels, dtype=np.float32, copy=True)
    if src_c == dst_c or out.shape[-1] < 3:
        return out
    proc = config.getProcessor(src_c, dst_c).getDefaultCPUProcessor()
    rgb = np.ascontiguousarray(out[..., :3])
    proc.applyRGB(rgb)
    out[..., :3] = rgb
    return out


def to_display(pixels: np.ndarray, src: str = "lin_rec709", display: str | None = None, view: str | None = None,
               config: Any = None) -> np.ndarray:
    """Display-referred RGB in 0–1 for thumbnails and contact sheets (OCIO display/view transform)."""
    import PyOpenColorIO as ocio

    config = config or default_config()
    display = display or os.environ.get("FILMAI_DISPLAY") or config.getDefaultDisplay()
    view = view or os.environ.get("FILMAI_VIEW") or config.getDefaultView(display)
    rgb = np.array(pixels[..., :3] if pixels.shape[-1] >= 3 else np.repeat(pixels[..., :1], 3, -1),
                   dtype=np.float32, copy=True)
    rgb = np.ascontiguousarray(np.nan_to_num(rgb, nan=0.0, posinf=65504.0, neginf=0.0))
    transform = ocio.DisplayViewTransform(src=canonical_colorspace(src, config), display=display, view=view)
    config.getProcessor(transform).getDefaultCPUProcessor().applyRGB(rgb)
    return np.clip(rgb, 0.0, 1.0)


# ----- working encodings (numpy arrays or torch tensors) ---------------------------------------


def _xp(x: Any):
    if hasattr(x, "detach"):
        import torch

        return torch
    return np


def encode(x: Any, encoding: str = "log") -> Any:
    """Scene-linear → the network's working encoding. Invertible; never clamps."""
    if encoding == "linear":
        return x
    xp = _xp(x)
    if encoding == "log":
        return xp.sign(x) * xp.log1p(_LOG_GAIN * xp.abs(x)) / math.log1p(_LOG_GAIN)
    if encoding == "srgb":  # for display-referred plates already in 0-1
        a = xp.abs(x)
        return xp.sign(x) * xp.where(a <= 0.0031308, 12.92 * a, 1.055 * a ** (1 / 2.4) - 0.055)
    raise BadInput(f"unknown working encoding {encoding!r} (one of {', '.join(WORKING_ENCODINGS)})")


def decode(y: Any, encoding: str = "log") -> Any:
    """The working encoding → scene-linear (exact inverse of ``encode``)."""
    if encoding == "linear":
        return y
    xp = _xp(y)
    if encoding == "log":
        return xp.sign(y) * xp.expm1(xp.abs(y) * math.log1p(_LOG_GAIN)) / _LOG_GAIN
    if encoding == "srgb":
        a = xp.abs(y)
        return xp.sign(y) * xp.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)
    raise BadInput(f"unknown working encoding {encoding!r} (one of {', '.join(WORKING_ENCODINGS)})")
