"""Finding the beauty, albedo and normal passes of a rendered frame (no torch; shared by run and train).

Renderers name and store these passes differently:

- Blender 5.0 multilayer EXR: one *part* per pass, ``ViewLayer.Combined.R/G/B/A``,
  ``ViewLayer.Denoising Albedo.R/G/B``, ``ViewLayer.Denoising Normal.X/Y/Z`` (plus ``Denoising Depth``);
- single-part AOV files: ``R,G,B,A`` next to ``albedo.R/G/B`` and ``N.X/Y/Z`` (or ``normal.R/G/B``).

``resolve_layout`` looks at every part of the first frame's file, picks the passes (by the names the
user gave, or by the conventions above), and returns a ``PassLayout`` that reads the same passes from
every later frame, so a sequence is denoised one way from first frame to last: a frame that lacks a
pass the first frame had is an error naming that file and frame, never a silent switch to another
mode (which would flicker).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from filmai_plugins.errors import FrameError
from filmai_plugins.frames.image import Frame
from filmai_plugins.frames.io import read_frame, read_header

#: Internal channel names of the network's input, in order. The two ``valid`` channels say whether
#: albedo / normal were given (1) or are missing and zero-filled (0): one network serves both cases.
NET_CHANNELS_IN = ("R", "G", "B", "albedo.R", "albedo.G", "albedo.B", "N.X", "N.Y", "N.Z", "albedo.valid", "N.valid")
NET_CHANNELS_OUT = ("R", "G", "B")
ALBEDO_SLICE = slice(3, 6)
NORMAL_SLICE = slice(6, 9)
ALBEDO_VALID, NORMAL_VALID = 9, 10

#: Layer names (last dot-separated component, lower case) recognised when a param is ``auto``.
BEAUTY_NAMES = ("combined", "beauty", "rgba", "rgb", "color", "colour", "image")
ALBEDO_NAMES = ("denoising albedo", "albedo", "denoise_albedo", "denoisingalbedo", "diffuse_albedo")
NORMAL_NAMES = ("denoising normal", "n", "normal", "normals", "denoise_normal", "denoisingnormal")
#: Component names accepted for each pass, tried in order.
COLOUR_COMPONENTS = (("R", "G", "B"), ("r", "g", "b"), ("red", "green", "blue"))
VECTOR_COMPONENTS = (("X", "Y", "Z"), ("x", "y", "z"), ("R", "G", "B"), ("r", "g", "b"))

AUTO, NONE = "auto", "none"


def _layer_of(name: str) -> tuple[str, str]:
    """``"ViewLayer.Combined.R"`` → ``("ViewLayer.Combined", "R")``; ``"R"`` → ``("", "R")``."""
    if "." in name:
        layer, comp = name.rsplit(".", 1)
        return layer, comp
    return "", name


def _layers(channels: Sequence[str]) -> dict[str, dict[str, str]]:
    """layer → {component: full channel name}, in file order."""
    out: dict[str, dict[str, str]] = {}
    for c in channels:
        layer, comp = _layer_of(c)
        out.setdefault(layer, {})[comp] = c
    return out


def _components(comps: dict[str, str], options: Sequence[tuple[str, str, str]]) -> list[str] | None:
    for names in options:
        if all(n in comps for n in names):
            return [comps[n] for n in names]
    return None


@dataclass(frozen=True)
class PassSource:
    """Where one pass lives: a part of the file (by name and index) and three full channel names."""

    kind: str  # "beauty" | "albedo" | "normal"
    part: int
    part_name: str
    layer: str
    channels: tuple[str, ...]

    def describe(self) -> str:
        where = f"{self.kind} {', '.join(self.channels)}"
        return where + (f" (part {self.part} {self.part_name!r})" if self.part > 0 else "")

    def to_json(self) -> dict[str, Any]:
        return {"part": self.part, "part_name": self.part_name, "layer": self.layer, "channels": list(self.channels)}


def find_beauty(frame: Frame, spec: str) -> list[str]:
    """The three channel names of ``frame`` that hold the beauty RGB (``spec``: ``auto`` or a layer name)."""
    layers = _layers(frame.channels)
    spec = (spec or AUTO).strip()
    if spec.lower() != AUTO:
        comps = layers.get(spec)
        found = _components(comps, COLOUR_COMPONENTS) if comps else None
        if found is None:
            raise FrameError(f"no beauty layer {spec!r} with R,G,B (layers: "
                             f"{', '.join(repr(k) for k in layers) or 'none'}; channels: {', '.join(frame.channels)})",
                             frame.path, frame.number)
        return found
    candidates = [""] + [k for k in layers if k and k.rsplit(".", 1)[-1].lower() in BEAUTY_NAMES]
    for layer in candidates:
        found = _components(layers.get(layer, {}), COLOUR_COMPONENTS)
        if found is not None:
            return found
    raise FrameError(f"cannot find the beauty R,G,B (channels: {', '.join(frame.channels)}); name its layer with "
                     "--set beauty=LAYER (e.g. 'ViewLayer.Combined'), or read another part with --part",
                     frame.path, frame.number)


def _file_parts(path: str, frame: int | None) -> list[tuple[int, str, list[str]]]:
    """(index, name, channel names) of every part of ``path``."""
    first = read_header(path, frame=frame)
    parts = first.parts or ["0"]
    out = [(0, parts[0], list(first.channels))]
    for i in range(1, len(parts)):
        h = read_header(path, part=i, frame=frame)
        out.append((i, parts[i], list(h.channels)))
    return out


def _find_pass(kind: str, spec: str, parts: list[tuple[int, str, list[str]]], prefer_prefix: str,
               names: Sequence[str], components: Sequence[tuple[str, str, str]], path: str,
               frame: int | None) -> PassSource | None:
    spec = (spec or AUTO).strip()
    if spec.lower() == NONE:
        return None
    matches: list[PassSource] = []
    for index, part_name, channels in parts:
        for layer, comps in _layers(channels).items():
            if spec.lower() == AUTO:
                last = layer.rsplit(".", 1)[-1].lower()
                if not layer or last not in names:
                    continue
            elif layer != spec:
                continue
            found = _components(comps, components)
            if found is not None:
                matches.append(PassSource(kind, index, part_name, layer, tuple(found)))
    if not matches:
        if spec.lower() == AUTO:
            return None
        available = sorted({layer for _, _, ch in parts for layer in _layers(ch) if layer})
        want = "/".join(components[0])
        raise FrameError(f"no {kind} layer {spec!r} with {want} channels in any part of the file (layers: "
                         f"{', '.join(repr(a) for a in available) or 'none'}); set {kind}=auto or {kind}=none "
                         "to denoise without it", path, frame)
    # Several view layers in one file: the one that shares the beauty's prefix ("ViewLayer.").
    same = [m for m in matches if prefer_prefix and m.layer.startswith(prefer_prefix)]
    if same:
        return same[0]
    if spec.lower() == AUTO:  # prefer the most specific convention (Blender's denoising passes first)
        matches.sort(key=lambda m: names.index(m.layer.rsplit(".", 1)[-1].lower()))
    return matches[0]


@dataclass
class PassLayout:
    """Which channels hold the beauty, albedo and normal; reads them for any frame of the sequence."""

    beauty: list[str]
    albedo: PassSource | None
    normal: PassSource | None
    source: str = ""  # the file the layout was found in

    @property
    def mode(self) -> str:
        used = [k for k, v in (("albedo", self.albedo), ("normal", self.normal)) if v is not None]
        return "+".join(["beauty"] + used)

    def describe(self) -> str:
        parts = [f"beauty: {', '.join(self.beauty)}"]
        for src, kind in ((self.albedo, "albedo"), (self.normal, "normal")):
            parts.append(src.describe() if src is not None else f"{kind}: not found (not used)")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "beauty": list(self.beauty),
                "albedo": self.albedo.to_json() if self.albedo else None,
                "normal": self.normal.to_json() if self.normal else None,
                "found_in": os.path.basename(self.source)}

    # ----- reading ----------------------------------------------------------------------------------
    def _read_pass(self, src: PassSource, frame: Frame, check: Callable[[Frame], Frame] | None) -> np.ndarray:
        path = frame.path or "<memory>"
        try:
            if src.part < 0:  # among the channels the engine already read
                return frame.select(list(src.channels))
            carried = [p for p in frame.other_parts if p.part == src.part_name]
            if carried:  # the engine read the whole file: the pass came along as another part
                aov = carried[0].subset(list(src.channels))
            else:
                aov = read_frame(path, part=src.part_name or src.part, channels=list(src.channels),
                                 frame=frame.number)
        except FrameError as exc:
            raise FrameError(f"{exc.reason} -- the {src.kind} pass {src.layer!r} found in "
                             f"{os.path.basename(self.source)} is missing here; every frame of a sequence must "
                             "have the same passes", path, frame.number) from None
        if check is not None:
            aov = check(aov)
        return aov.pixels if aov.data_window == frame.data_window else aov.on_window(frame.data_window)

    def network_input(self, frame: Frame, check: Callable[[Frame], Frame] | None = None) -> np.ndarray:
        """(H, W, 11) scene-linear network input (``NET_CHANNELS_IN``) for ``frame``."""
        h, w = frame.height, frame.width
        x = np.zeros((h, w, len(NET_CHANNELS_IN)), np.float32)
        try:
            x[:, :, 0:3] = frame.select(self.beauty)
        except FrameError as exc:
            raise FrameError(f"{exc.reason} -- the beauty channels found in {os.path.basename(self.source)} are "
                             "missing here", frame.path, frame.number) from None
        if self.albedo is not None:
            x[:, :, ALBEDO_SLICE] = self._read_pass(self.albedo, frame, check)
            x[:, :, ALBEDO_VALID] = 1.0
        if self.normal is not None:
            x[:, :, NORMAL_SLICE] = self._read_pass(self.normal, frame, check)
            x[:, :, NORMAL_VALID] = 1.0
        return x


def resolve_layout(frame: Frame, beauty: str = AUTO, albedo: str = AUTO, normal: str = AUTO) -> PassLayout:
    """Find the passes in ``frame`` (as read by the engine) and in the other parts of its file."""
    beauty_channels = find_beauty(frame, beauty)
    path = frame.path
    if path and os.path.isfile(path):
        parts = _file_parts(path, frame.number)
        # the frame's own channels may carry a --layer prefix stripped; look at them as read too
        parts = [(-1, "", list(frame.channels))] + parts
    else:  # an in-memory frame (Python API): only its own channels
        parts = [(-1, "", list(frame.channels))]
    beauty_layer = _layer_of(beauty_channels[0])[0]
    if frame.layer:
        beauty_layer = f"{frame.layer}.{beauty_layer}" if beauty_layer else frame.layer
    prefix = beauty_layer.rsplit(".", 1)[0] + "." if "." in beauty_layer else ""
    found = {}
    for kind, spec, names, comps in (("albedo", albedo, ALBEDO_NAMES, COLOUR_COMPONENTS),
                                     ("normal", normal, NORMAL_NAMES, VECTOR_COMPONENTS)):
        found[kind] = _find_pass(kind, spec, parts, prefix, names, comps, path or "<memory>", frame.number)
    return PassLayout(beauty_channels, found["albedo"], found["normal"], source=path or "")
