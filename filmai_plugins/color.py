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
        config = ocio.Config.CreateFromFile(source)
    except Exception as exc:
        raise BadInput(f"cannot load OCIO config {source}: {exc}") from None
    try:
        config.validate()  # a config that loads but cannot be right (a role naming no colourspace, ...)
    except Exception as exc:
        raise BadInput(f"OCIO config {source} does not validate: {exc}") from None
    return config


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
    return ColourConfig(config or default_config()).resolve(name)  # one lookup: names, aliases, interop ids


# Primaries + white point (rx, ry, gx, gy, bx, by, wx, wy) of the EXR ``chromaticities`` attribute, by the
# names older files carry; _PRIMARIES_BY_INTEROP has the same by OCIO interop id (what is written).
_PRIMARIES = {
    "lin_rec709": (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290),
    "ACEScg": (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767),
    "ACES2065-1": (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767),
    "lin_p3d65": (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290),
    "lin_rec2020": (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290),
}
_PRIMARIES_BY_INTEROP = {
    "lin_rec709_scene": _PRIMARIES["lin_rec709"], "lin_ap1_scene": _PRIMARIES["ACEScg"],
    "lin_ap0_scene": _PRIMARIES["ACES2065-1"], "lin_p3d65_scene": _PRIMARIES["lin_p3d65"],
    "lin_rec2020_scene": _PRIMARIES["lin_rec2020"],
    "lin_adobergb_scene": (0.64, 0.33, 0.21, 0.71, 0.15, 0.06, 0.3127, 0.3290),
}


#: Layers (AOVs) whose values are data, never colour-converted, by the name renderers and compositors give them
#: (case-insensitive; a layer matches by its last name component, e.g. ``ViewLayer.Normal``).
DATA_LAYERS = frozenset({
    "n", "normal", "normals", "nn", "p", "position", "pref", "pworld", "world_position", "z", "depth", "zdepth", "mist",
    "uv", "st", "motion", "motionvector", "vector", "velocity", "mv", "id", "ids", "indexob", "indexma", "objectid",
    "materialid", "crypto", "cryptomatte", "mask", "matte", "alpha", "disparity", "disparityl", "disparityr",
    "forward", "backward", "denoising normal", "denoising depth", "ao", "coverage",
})


def is_data_layer(layer: str) -> bool:
    """True when a layer holds data (normals, positions, depth, vectors, IDs, mattes), not colour."""
    last = layer.rsplit(".", 1)[-1].strip().lower()
    return last in DATA_LAYERS or last.startswith("crypto")


#: Nuke's exrWriter names an AOV's colour channels layer.red/green/blue (its main layer R, G, B).
_NUKE_COMPONENTS = {"red": "R", "green": "G", "blue": "B"}


def colour_triplets(channels: list[str]) -> list[tuple[int, int, int]]:
    """Indices of the R, G, B channels of every colour layer (the main layer's and each AOV's, data layers
    left out): what a colour conversion touches. Alpha, depth, normals, IDs and single channels never are."""
    by_layer: dict[str, dict[str, int]] = {}
    for i, name in enumerate(channels):
        layer, _, comp = name.rpartition(".")
        comp = _NUKE_COMPONENTS.get(comp, comp) if layer else comp  # Nuke writes AOVs as diffuse.red …
        if comp in ("R", "G", "B"):
            by_layer.setdefault(layer, {})[comp] = i
    out = []
    for layer, comps in by_layer.items():
        if len(comps) == 3 and not (layer and is_data_layer(layer)):
            out.append((comps["R"], comps["G"], comps["B"]))
    return out


# Test colours for matching colourspaces across configs: shadows to highlights, and out of gamut.
_MATCH_GRID = np.array([[r, g, b] for r in (-0.05, 0.0, 0.18, 1.0, 8.0) for g in (0.0, 0.5, 2.0)
                        for b in (0.02, 0.4, 1.5)], np.float32)


def _to_aces_interchange(config: Any, space: str) -> np.ndarray | None:
    """``_MATCH_GRID`` taken from ``space`` to the config's ``aces_interchange`` role; None without a path."""
    try:
        out = _MATCH_GRID.copy()
        config.getProcessor(space, "aces_interchange").getDefaultCPUProcessor().applyRGB(out)
        return out
    except Exception:  # no path between them (display-referred spaces, a missing role)
        return None


#: (config cache id, colourspace) -> the interop id matched for a space its config gives none (or None)
_MATCHED_INTEROP: dict[tuple[str, str], str | None] = {}


def _uses_lut_file(cs: Any) -> bool:
    import PyOpenColorIO as ocio

    def walk(transform: Any) -> bool:
        if isinstance(transform, ocio.FileTransform):
            return True
        return isinstance(transform, ocio.GroupTransform) and any(walk(t) for t in transform)

    return any(walk(cs.getTransform(d)) for d in (ocio.COLORSPACE_DIR_TO_REFERENCE, ocio.COLORSPACE_DIR_FROM_REFERENCE))


@functools.lru_cache(maxsize=1)
def _builtin_interchange_values() -> tuple[tuple[str, np.ndarray], ...]:
    """(interop id, the grid in ACES2065-1) for every colour space of the built-in config that has an id."""
    out = []
    for cs in load_config(BUILTIN_CONFIG).getColorSpaces():
        interop = cs.getInteropID() if hasattr(cs, "getInteropID") else ""
        if interop and not cs.isData():
            values = _to_aces_interchange(load_config(BUILTIN_CONFIG), cs.getName())
            if values is not None:
                out.append((interop, values))
    return tuple(out)


class ColourConfig:
    """An OCIO config with the lookups the engine and nodes need, processors cached.

    Names are accepted as the config knows them: names, aliases and interop ids (``ACEScg``, ``lin_ap1_scene``,
    ``Linear Rec.709 (sRGB)``, ``lin_rec709_srgb``), plus the few spellings other tools write (``linear``,
    ``sRGB``). An unknown name is one clear error listing the closest names the config has.
    """

    def __init__(self, config: Any, source: str = ""):
        self.config = config
        self.source = source or "(in memory)"
        self._processors: dict[tuple[str, str], Any] = {}
        self._names: dict[str, str] = {}

    @classmethod
    def load(cls, source: Any = None) -> "ColourConfig":
        import PyOpenColorIO as ocio

        text = "" if isinstance(source, ocio.Config) else str(source or os.environ.get("OCIO") or BUILTIN_CONFIG)
        return cls(load_config(source), text)

    @property
    def name(self) -> str:
        return self.config.getName() or os.path.basename(self.source)

    def describe(self) -> dict[str, Any]:
        """What a provenance record says about the config."""
        return {"name": self.name, "source": self.source,
                "version": f"{self.config.getMajorVersion()}.{self.config.getMinorVersion()}"}

    def resolve(self, name: str) -> str:
        """The config's own name for a colourspace name, alias or interop id (BadInput when unknown)."""
        key = str(name)
        if key in self._names:
            return self._names[key]
        for candidate in (key, _ALIASES.get(key.lower(), key)):
            cs = self.config.getColorSpace(candidate)
            if cs is not None:
                self._names[key] = cs.getName()
                return cs.getName()
        matched = self._space_with_interop_id(key)
        if matched:
            self._names[key] = matched
            return matched
        import difflib

        known = []
        for cs in self.config.getColorSpaces():
            known += [cs.getName(), *cs.getAliases()]
        close = difflib.get_close_matches(key, known, n=5, cutoff=0.5) or difflib.get_close_matches(
            key.lower(), [k.lower() for k in known], n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise BadInput(f"unknown colourspace {key!r} in OCIO config {self.name!r} ({self.source}){hint} "
                       "(`filmai colourspaces` lists them)")

    def colorspace(self, name: str):
        return self.config.getColorSpace(self.resolve(name))

    def is_data(self, name: str) -> bool:
        return bool(self.colorspace(name).isData())

    def interop_id(self, name: str) -> str | None:
        """The colourspace's interop id: the config's own, else (configs that set none, such as Blender's
        bundled one or an older studio config) the id of the built-in config's colourspace it equals."""
        cs = self.colorspace(name)
        interop = cs.getInteropID() if hasattr(cs, "getInteropID") else ""
        if interop:
            return interop
        key = (self.config.getCacheID(), cs.getName())  # per config content: every run loads its own instance
        if key not in _MATCHED_INTEROP:
            _MATCHED_INTEROP[key] = self._match_builtin(cs.getName())
        return _MATCHED_INTEROP[key]

    def _space_with_interop_id(self, interop: str) -> str | None:
        """In a config that sets no interop ids, the colourspace ``interop_id`` gives ``interop`` (so a file
        this config's runs tagged ``lin_ap1_scene`` reads back in it); None for names that are no interop id."""
        if interop not in {known for known, _ in _builtin_interchange_values()}:
            return None
        for cs in self.config.getColorSpaces():
            if not cs.isData() and self.interop_id(cs.getName()) == interop:
                return cs.getName()
        return None

    def _match_builtin(self, name: str) -> str | None:
        """The interop id of the built-in config's colourspace whose conversion to ACES2065-1 gives the same
        values as ``name``'s in this config (through each config's ``aces_interchange`` role) on a grid of
        test colours, shadows to highlights and out of gamut; None where none does, or without the role.
        OCIO's own IdentifyBuiltinColorSpace finds nothing for spaces without an ``encoding`` (Blender's)."""
        cs = self.config.getColorSpace(name)
        if cs is None or cs.isData() or self.config.getColorSpace("aces_interchange") is None or _uses_lut_file(cs):
            return None  # a LUT-file space (a look, a film emulation) is no built-in one, and costly to load
        mine = _to_aces_interchange(self.config, name)
        if mine is None or not np.all(np.isfinite(mine)):
            return None
        for interop, theirs in _builtin_interchange_values():
            if np.allclose(mine, theirs, rtol=1e-4, atol=1e-5):
                return interop
        return None

    def is_scene_linear(self, name: str) -> bool:
        return self.colorspace(name).getEncoding() == "scene-linear"

    def chromaticities(self, name: str) -> tuple[float, ...] | None:
        """The EXR ``chromaticities`` of a linear colourspace whose primaries are known, else None."""
        interop = self.interop_id(name)
        if interop:  # the interop ids with primaries here are all scene-linear ones
            return _PRIMARIES_BY_INTEROP.get(interop)
        return None

    def role(self, role: str) -> str | None:
        cs = self.config.getColorSpace(role)
        return cs.getName() if cs is not None else None

    def scene_linear(self) -> str:
        """The config's ``scene_linear`` role: what untagged EXR is taken to be."""
        return self.role("scene_linear") or self.resolve("lin_rec709")

    def processor(self, src: str, dst: str):
        key = (self.resolve(src), self.resolve(dst))
        if key not in self._processors:
            self._processors[key] = self.config.getProcessor(*key).getDefaultCPUProcessor()
        return self._processors[key]

    def convert_rgb(self, rgb: np.ndarray, src: str, dst: str) -> np.ndarray:
        """RGB (..., 3) float32 from ``src`` to ``dst`` exactly as OCIO's CPU processor does (a new array).
        Converting data to or from a colour space is refused."""
        s, d = self.resolve(src), self.resolve(dst)
        out = np.array(rgb, dtype=np.float32, copy=True, order="C")
        if s == d:
            return out
        if self.is_data(s) != self.is_data(d):
            raise BadInput(f"cannot convert {s!r} to {d!r}: one of them is data (not colour), which is never "
                           "colour-converted")
        self.processor(s, d).applyRGB(out)
        return out

    def convert_channels(self, pixels: np.ndarray, channels: list[str], src: str, dst: str) -> np.ndarray:
        """``pixels`` (..., len(channels)) with every colour layer's R, G, B converted from ``src`` to ``dst``
        (``colour_triplets``); alpha, data layers (depth, normals, mattes, IDs) and single channels untouched.
        A new float32 array. What a node calls to go into its model's working space and back."""
        out = np.array(pixels, dtype=np.float32, copy=True)
        if not src or not dst:  # unknown (a frame made in memory, a model that records none): as it is
            return out
        s, d = self.resolve(src), self.resolve(dst)
        if s == d:
            return out
        for triplet in colour_triplets(list(channels)):
            idx = list(triplet)
            out[..., idx] = self.convert_rgb(out[..., idx], s, d)
        return out

    def portable(self, name: str) -> str:
        """How a checkpoint or a manifest records a colourspace so another config finds it: the interop id
        where the colourspace has one (``lin_ap1_scene``), else the config's name."""
        return self.interop_id(name) or self.resolve(name)

    def tags(self, name: str) -> dict[str, Any]:
        """Header attributes naming a colourspace: ``colorInteropID`` (where it has one), ``chromaticities`` (a
        linear space with known primaries) and ``colorspace`` (the config's name, for configs without interop
        ids)."""
        out: dict[str, Any] = {"colorspace": self.resolve(name)}
        interop = self.interop_id(name)
        if interop:
            out["colorInteropID"] = interop
        chroma = self.chromaticities(name)
        if chroma:
            out["chromaticities"] = chroma
        return out


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
