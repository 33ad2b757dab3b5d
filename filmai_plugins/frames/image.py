"""Frames in memory: numpy arrays (H, W, C) in their file's pixel types, with channel names, parts and metadata.

A ``Frame`` is one image (one part of a file) over its data window. Its channels live in one or more
*planes*: numpy arrays (H, W, k) kept in the type they were read in (half stays ``float16``, PNG stays
``uint8``). A node converts to float only what it reads (``frame.select(names)``, ``frame.pixels``) and
hands back only what it computed (``frame.with_channels({...})``); every other channel, its pixel type,
the windows, the attributes and the file's other parts pass through untouched and are written back as
they were read.

OpenImageIO hands over a part whose channels mix pixel types (half colour beside float depth) in the
widest of them (float32); each channel still records its file type and is written back in it, so the
values survive bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..errors import FrameError

#: (x, y, width, height) in pixels, OpenEXR convention (y down, origin top-left of the display window).
Window = tuple[int, int, int, int]

#: numpy types a plane may hold; any other input is stored as float32.
NATIVE_DTYPES = (np.float16, np.float32, np.uint8, np.uint16, np.uint32)
#: File pixel type of each numpy type (what a plane of that type is written as under ``keep``).
TYPE_OF_DTYPE = {np.dtype(np.float16): "half", np.dtype(np.float32): "float", np.dtype(np.uint8): "uint8",
                 np.dtype(np.uint16): "uint16", np.dtype(np.uint32): "uint32"}
NONFINITE_POLICIES = ("error", "zero", "pass")


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


def to_float32(array: np.ndarray) -> np.ndarray:
    """A float32 copy of native pixels; integers are normalised to 0-1 as OpenImageIO does."""
    if array.dtype == np.float32:
        return array.copy()
    if array.dtype.kind == "u":
        return array.astype(np.float32) * np.float32(1.0 / np.iinfo(array.dtype).max)
    return array.astype(np.float32)


def _as_plane(array: Any) -> np.ndarray:
    arr = np.asarray(array)
    if arr.dtype.type not in NATIVE_DTYPES:
        arr = arr.astype(np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"frame pixels must be (H, W, C), got shape {arr.shape}")
    return arr


class Frame:
    """One image: channels over the data window, in their native pixel types.

    - ``channels``: names of the channels (without the ``layer`` prefix they were read with: a network sees
      R, G, B whatever AOV it came from); ``pixel_types``: the file type of each (``None`` for a frame built
      from arrays; new channels count as half, float where half would clip);
    - ``data_window`` / ``display_window``: (x, y, width, height); ``attributes``: the file's header;
    - ``part``: the part's name in its file; ``other_parts``: the file's other parts (Frames), carried
      along untouched and written back after this one;
    - ``path`` / ``number``: where it came from, for messages.

    Reading pixels: ``select(names)`` (float32, a new array), ``pixels`` (float32 of every channel, made
    on first use, read-only), ``plane(name)`` (the native array, no copy). Making the output:
    ``with_channels({...})`` replaces or adds channels and keeps everything else; ``with_pixels`` makes a
    new image from scratch (all channels, possibly another size); ``subset(names)`` keeps some channels.
    """

    def __init__(self, pixels: Any, channels: Sequence[str] | None = None, data_window: Window | None = None,
                 display_window: Window | None = None, attributes: Mapping[str, Any] | None = None,
                 attribute_types: Mapping[str, str] | None = None, pixel_types: Sequence[str | None] | None = None,
                 layer: str = "", path: str | None = None, number: int | None = None, part: str = "",
                 other_parts: Iterable["Frame"] = ()) -> None:
        plane = _as_plane(pixels)
        c = plane.shape[2]
        names = list(channels) if channels is not None else default_channel_names(c)
        if len(names) != c:
            raise ValueError(f"{len(names)} channel names for {c} channels")
        self._planes: list[np.ndarray] = [plane]
        self._slots: list[tuple[int, int]] = [(0, i) for i in range(c)]
        self._init_meta(names, pixel_types, [pixel_types is None] * c, data_window, display_window, attributes,
                        attribute_types, layer, path, number, part, other_parts)

    def _init_meta(self, names: list[str], pixel_types: Sequence[str | None] | None, computed: list[bool],
                   data_window: Window | None, display_window: Window | None,
                   attributes: Mapping[str, Any] | None, attribute_types: Mapping[str, str] | None,
                   layer: str, path: str | None, number: int | None, part: str,
                   other_parts: Iterable["Frame"]) -> None:
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise FrameError(f"channel names repeat: {', '.join(dup)}", path, number)
        self._channels = names
        types = list(pixel_types) if pixel_types is not None else [None] * len(names)
        if len(types) != len(names):
            raise ValueError(f"{len(types)} pixel types for {len(names)} channels")
        self._types: list[str | None] = types
        self._computed = computed
        h, w = self._planes[0].shape[:2] if self._planes else (0, 0)
        for p in self._planes:
            if p.shape[:2] != (h, w):
                raise ValueError(f"planes of one frame differ in size: {p.shape[:2]} and {(h, w)}")
        dw = data_window if data_window is not None else (0, 0, w, h)
        # pixels define the data window size; keep its origin
        self.data_window: Window = (int(dw[0]), int(dw[1]), w, h)
        disp = display_window if display_window is not None else (self.data_window[0], self.data_window[1], w, h)
        self.display_window: Window = tuple(int(v) for v in disp)  # type: ignore[assignment]
        self.attributes: dict[str, Any] = dict(attributes or {})
        self.attribute_types: dict[str, str] = dict(attribute_types or {})
        self.layer = layer
        self.path = path
        self.number = number
        self.part = part
        self.other_parts: list[Frame] = list(other_parts)
        #: What reading a channel as float does with NaN/Inf: error (naming file and frame), zero, pass.
        self.nonfinite = "pass"
        #: Channels the node's input port declared (``Port(channels=...)``): what ``select()`` returns.
        self.port_channels: tuple[str, ...] = ()
        #: The OCIO colourspace of the colour channels (the config's name), set by the engine when it reads
        #: the frame (the file's tag, --input-colorspace, or the config's default); "" when unknown.
        self.colorspace = ""
        self._float_cache: np.ndarray | None = None
        self._prepared: dict[tuple[str, ...], np.ndarray] = {}

    @classmethod
    def _from_planes(cls, planes: list[np.ndarray], slots: list[tuple[int, int]], names: list[str],
                     types: list[str | None], computed: list[bool], like: "Frame | None", **meta: Any) -> "Frame":
        self = cls.__new__(cls)
        # drop planes no channel refers to any more (their memory goes with them)
        used = sorted({p for p, _ in slots})
        remap = {old: new for new, old in enumerate(used)}
        self._planes = [planes[i] for i in used]
        self._slots = [(remap[p], i) for p, i in slots]
        base: dict[str, Any] = {}
        if like is not None:
            base = dict(data_window=like.data_window, display_window=like.display_window,
                        attributes=like.attributes, attribute_types=like.attribute_types, layer=like.layer,
                        path=like.path, number=like.number, part=like.part, other_parts=like.other_parts)
        base.update(meta)
        self._init_meta(names, types, computed, base.get("data_window"), base.get("display_window"),
                        base.get("attributes"), base.get("attribute_types"), base.get("layer", ""),
                        base.get("path"), base.get("number"), base.get("part", ""), base.get("other_parts", ()))
        if like is not None:
            self.nonfinite = like.nonfinite
            self.port_channels = tuple(c for c in like.port_channels if c in names)
            self.colorspace = like.colorspace
        return self

    @classmethod
    def from_array(cls, pixels: Any, channels: Sequence[str] | None = None, **kw: Any) -> "Frame":
        """A frame whose data window equals its display window (a plain image). float16 stays half;
        float32 (and anything else, as float32) is written as half, or float where half would clip."""
        return cls(pixels, channels, **kw)

    # ----- shape and names ---------------------------------------------------------------------------
    @property
    def channels(self) -> list[str]:
        return self._channels

    @property
    def height(self) -> int:
        return int(self._planes[0].shape[0]) if self._planes else 0

    @property
    def width(self) -> int:
        return int(self._planes[0].shape[1]) if self._planes else 0

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, len(self._channels))

    @property
    def pixel_types(self) -> list[str] | None:
        """The file pixel type of each channel; None for a frame built from arrays. A channel added by
        a node counts as half (the writer keeps float where half would clip)."""
        if all(t is None for t in self._types):
            return None
        return [t or "half" for t in self._types]

    @pixel_types.setter
    def pixel_types(self, types: Sequence[str | None] | None) -> None:
        if types is None:
            self._types = [None] * len(self._channels)
            return
        if len(types) != len(self._channels):
            raise ValueError(f"{len(types)} pixel types for {len(self._channels)} channels")
        self._types = list(types)

    @property
    def parts(self) -> list["Frame"]:
        """This part followed by the file's other parts, in file order."""
        return [self] + self.other_parts

    def where(self) -> str:
        """'file (frame N)' for messages."""
        return f"{self.path or '<memory>'}" + (f" (frame {self.number})" if self.number is not None else "")

    def channel_index(self, name: str) -> int:
        try:
            return self._channels.index(name)
        except ValueError:
            raise FrameError(f"no channel {name!r} (channels: {', '.join(self._channels)})", self.path,
                             self.number) from None

    def missing(self, names: Iterable[str]) -> list[str]:
        """The names in ``names`` this frame has no channel for."""
        have = set(self._channels)
        return [n for n in names if n not in have]

    # ----- native pixels -----------------------------------------------------------------------------
    def plane(self, name: str) -> np.ndarray:
        """The named channel as its native (H, W) array: a read-only view, no copy, no conversion."""
        p, i = self._slots[self.channel_index(name)]
        view = self._planes[p][:, :, i]
        view.flags.writeable = False  # other frames may share the array (with_channels keeps what it can)
        return view

    def native(self) -> np.ndarray | None:
        """Every channel as the one (H, W, C) native array they are stored in, or None when they are not
        in one array in order (after ``with_channels``); no copy."""
        if len(self._planes) == 1 and self._slots == [(0, i) for i in range(self._planes[0].shape[2])]:
            return self._planes[0]
        return None

    def storage(self) -> list[tuple[np.ndarray, list[int], list[int]]]:
        """(plane, channel indices in the plane, channel positions in the frame) for every plane."""
        groups: dict[int, tuple[list[int], list[int]]] = {}
        for pos, (p, i) in enumerate(self._slots):
            src, dst = groups.setdefault(p, ([], []))
            src.append(i)
            dst.append(pos)
        return [(self._planes[p], src, dst) for p, (src, dst) in groups.items()]

    def file_types(self) -> list[str | None]:
        """Per channel: the pixel type of the file it was read from; None for a channel made in memory
        without a declared type (written as half, float where half would clip)."""
        return list(self._types)

    def computed(self) -> list[bool]:
        """Per channel: made in memory (a node's output or an array) rather than read from the file."""
        return list(self._computed)

    # ----- float views -------------------------------------------------------------------------------
    def select(self, names: Sequence[str] | None = None) -> np.ndarray:
        """The named channels, in that order, as a new float32 (H, W, len(names)) array; only these are
        converted. Without names: the channels the input port declared, else every channel. NaN/Inf are
        handled by the frame's ``nonfinite`` policy (set by the engine from ``--nonfinite``)."""
        if names is None:
            names = list(self.port_channels) or self._channels
        ready = self._prepared.pop(tuple(names), None)
        if ready is not None:  # converted (and checked) ahead, on the engine's read thread
            return ready
        idx = [self.channel_index(n) for n in names]
        out = np.empty((self.height, self.width, len(idx)), np.float32)
        by_plane: dict[int, tuple[list[int], list[int]]] = {}
        for j, pos in enumerate(idx):
            p, i = self._slots[pos]
            src, dst = by_plane.setdefault(p, ([], []))
            src.append(i)
            dst.append(j)
        for p, (src, dst) in by_plane.items():
            copy_channels(out, dst, self._planes[p], src)
        return self._apply_nonfinite(out, names)

    @property
    def pixels(self) -> np.ndarray:
        """Every channel as float32 (H, W, C), made on first use and kept; read-only (build the output
        with ``with_channels``/``with_pixels``). A frame stored as one float32 array is not copied."""
        if self._float_cache is None:
            arr = self.native()
            if arr is not None and arr.dtype == np.float32 and self.nonfinite == "pass":
                view = arr.view()
            elif arr is not None and arr.dtype == np.float32 and bool(np.isfinite(arr).all()):
                view = arr.view()
            else:
                view = self.select(self._channels)
            view.flags.writeable = False
            self._float_cache = view
        return self._float_cache

    def prepare(self, names: Sequence[str]) -> None:
        """Convert (and check) the named channels now, so the next ``select(names)`` hands them over without
        work: the engine does this on its read threads for the channels a port declares."""
        self._prepared[tuple(names)] = self.select(names)

    def _apply_nonfinite(self, out: np.ndarray, names: Sequence[str]) -> np.ndarray:
        if self.nonfinite == "pass" or out.size == 0:
            return out
        finite = np.isfinite(out)
        if finite.all():
            return out
        if self.nonfinite == "zero":
            out[~finite] = 0.0
            return out
        bad = int(finite.size - np.count_nonzero(finite))
        raise FrameError(f"{bad} NaN/Inf pixel values in channels {', '.join(names)} (this node needs finite "
                         "input; use --nonfinite zero to replace them)", self.path, self.number)

    def nonfinite_count(self, names: Sequence[str] | None = None) -> int:
        """NaN/Inf values among the named channels (all channels when None); integer planes have none."""
        total = 0
        wanted = set(names) if names is not None else None
        for plane, src, dst in self.storage():
            keep = [i for i, pos in zip(src, dst) if wanted is None or self._channels[pos] in wanted]
            if keep and plane.dtype.kind == "f":
                sub = plane if keep == list(range(plane.shape[2])) else plane[:, :, keep]
                total += int(sub.size - np.count_nonzero(np.isfinite(sub)))
        return total

    # ----- building outputs --------------------------------------------------------------------------
    def with_channels(self, channels: Mapping[str, Any] | Sequence[str], pixels: Any = None, *,
                      pixel_types: Mapping[str, str] | None = None) -> "Frame":
        """This frame with the named channels replaced or added; everything else is kept as it is: the
        other channels (untouched, in their pixel types), the windows, the attributes, the other parts.

        ``frame.with_channels({"R": r, "G": g, "B": b})`` with (H, W) arrays, or
        ``frame.with_channels(["R", "G", "B"], rgb)`` with one (H, W, 3) array. A replaced channel keeps
        its place and its pixel type; a new one is appended and written as half (float where half would
        clip) unless ``pixel_types`` names its type.
        """
        if isinstance(channels, Mapping):
            if pixels is not None:
                raise TypeError("with_channels: give a {name: array} mapping, or names and one array")
            names = [str(n) for n in channels]
            arrays = [_as_plane(a) for a in channels.values()]
            for n, a in zip(names, arrays):
                if a.shape[2] != 1:
                    raise ValueError(f"with_channels: channel {n!r} has shape {a.shape}; expected (H, W)")
            dtypes = {a.dtype for a in arrays}
            plane = (np.concatenate(arrays, axis=2) if len(dtypes) == 1
                     else np.concatenate([a.astype(np.float32) for a in arrays], axis=2)) if arrays else None
        else:
            names = [str(n) for n in channels]
            if pixels is None:
                raise TypeError("with_channels(names, pixels): pixels missing")
            plane = _as_plane(pixels)
            if plane.shape[2] != len(names):
                raise ValueError(f"with_channels: {len(names)} names for {plane.shape[2]} channels")
        if len(set(names)) != len(names):
            raise ValueError(f"with_channels: a channel is named twice ({', '.join(names)})")
        if plane is None:
            return self._copy()
        if plane.shape[:2] != (self.height, self.width):
            raise ValueError(f"with_channels: channels are {plane.shape[1]}x{plane.shape[0]} but the frame's data "
                             f"window is {self.width}x{self.height} (to change the size use with_pixels)")
        planes = list(self._planes) + [plane]
        new = len(planes) - 1
        slots, out_names = list(self._slots), list(self._channels)
        types, computed = list(self._types), list(self._computed)
        explicit = dict(pixel_types or {})
        for j, name in enumerate(names):
            if name in out_names:
                pos = out_names.index(name)
                slots[pos] = (new, j)
                computed[pos] = True
                if name in explicit:
                    types[pos] = explicit[name]
            else:
                out_names.append(name)
                slots.append((new, j))
                types.append(explicit.get(name))
                computed.append(True)
        return Frame._from_planes(planes, slots, out_names, types, computed, self)

    def with_pixels(self, pixels: Any, channels: Sequence[str] | None = None, *, scale: int = 1,
                    pixel_types: Sequence[str | None] | None = None,
                    other_parts: Iterable["Frame"] | None = None) -> "Frame":
        """A new image made from ``pixels`` alone: every channel replaced (channels not named are dropped),
        possibly at another size (``scale`` multiplies both windows, as an up-res does). Attributes, layer,
        path and part are kept. To change some channels and keep the rest, use ``with_channels``.

        Pixel types: ``pixel_types``, else the type a channel of the same name had. The file's other parts
        are kept at scale 1; at another scale pass them (scaled) as ``other_parts``, since every part of a
        file shares one display window.
        """
        plane = _as_plane(pixels)
        names = list(channels) if channels is not None else list(self._channels)
        if len(names) != plane.shape[2]:
            raise ValueError(f"{len(names)} channel names for {plane.shape[2]} channels")
        if pixel_types is None:
            by_name = dict(zip(self._channels, self._types))
            pixel_types = [by_name.get(n) for n in names]
        dw, disp = self.data_window, self.display_window
        if scale != 1:
            dw = (dw[0] * scale, dw[1] * scale, dw[2] * scale, dw[3] * scale)
            disp = (disp[0] * scale, disp[1] * scale, disp[2] * scale, disp[3] * scale)
        if other_parts is None:
            if scale != 1 and self.other_parts:
                raise ValueError(f"with_pixels(scale={scale}): the file's {len(self.other_parts)} other parts must be "
                                 "scaled too (pass them as other_parts=, or [] to leave them out)")
            other_parts = self.other_parts
        out = Frame._from_planes([plane], [(0, i) for i in range(len(names))], names, list(pixel_types),
                                 [True] * len(names), self, data_window=dw, display_window=disp,
                                 other_parts=other_parts)
        return out

    def subset(self, names: Sequence[str]) -> "Frame":
        """A frame with only the named channels (in that order), untouched in their native types."""
        idx = [self.channel_index(n) for n in names]
        return Frame._from_planes(list(self._planes), [self._slots[i] for i in idx], [self._channels[i] for i in idx],
                                  [self._types[i] for i in idx], [self._computed[i] for i in idx], self)

    def without_pixels(self) -> "Frame":
        """This frame's metadata (attributes, windows, part, path, number) with no channels and no memory
        held: what a record of the frame needs. The windows keep their origin; the data window's size is 0."""
        out = Frame._from_planes([], [], [], [], [], self, other_parts=())
        out.display_window = self.display_window
        return out

    def with_data_window(self, window: Window, fill: float = 0.0) -> "Frame":
        """The same channels placed on another data window (cropped where they lie outside it, ``fill``
        where it reaches beyond them), in their native types."""
        planes = [place_on_window(p, self.data_window, window, fill) for p in self._planes]
        return Frame._from_planes(planes, list(self._slots), list(self._channels), list(self._types),
                                  list(self._computed), self, data_window=window)

    def nonzero_box(self) -> Window | None:
        """The smallest window holding every pixel with a non-zero channel (None: all zero); native types."""
        mask = np.zeros((self.height, self.width), bool)
        for plane, src, _ in self.storage():
            sub = plane if src == list(range(plane.shape[2])) else plane[:, :, src]
            mask |= np.any(sub != 0, axis=2)
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(mask.any(axis=0))
        x0, y0 = self.data_window[:2]
        return (x0 + int(cols[0]), y0 + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))

    def _copy(self) -> "Frame":
        return Frame._from_planes(list(self._planes), list(self._slots), list(self._channels), list(self._types),
                                  list(self._computed), self)

    # ----- windows -----------------------------------------------------------------------------------
    def to_display_window(self, fill: float = 0.0) -> np.ndarray:
        """Pixels (float32) placed on the full display window (cropping what lies outside it)."""
        return self.on_window(self.display_window, fill)

    def on_window(self, window: tuple[int, int, int, int], fill: float = 0.0,
                  names: Sequence[str] | None = None) -> np.ndarray:
        """Pixels (float32; only ``names`` when given) placed on another (x, y, w, h) window: cropped where
        they lie outside it, ``fill`` where it reaches beyond them."""
        return place_on_window(self.pixels if names is None else self.select(names), self.data_window, window, fill)

    def __repr__(self) -> str:
        types = sorted({t for t in self._types if t}) or ["unset"]
        return (f"<Frame {self.where()} {self.width}x{self.height} {len(self._channels)} channels "
                f"({'/'.join(types)}) part {self.part!r}, {len(self.other_parts)} other parts>")


def default_channel_names(count: int) -> list[str]:
    return {1: ["Y"], 2: ["Y", "A"], 3: ["R", "G", "B"], 4: ["R", "G", "B", "A"]}.get(count) or [f"c{i}" for i in range(count)]


def copy_channels(out: np.ndarray, dst: list[int], plane: np.ndarray, src: list[int]) -> None:
    """``out[..., dst] = plane[..., src]`` in ``out``'s (float) type, integers normalised to 0-1; one slice
    copy when both runs are contiguous, else one strided copy per channel (no gather temporaries)."""
    if src == list(range(src[0], src[0] + len(src))) and dst == list(range(dst[0], dst[0] + len(dst))):
        block = plane[:, :, src[0]:src[0] + len(src)]
        if block.dtype.kind == "u":
            np.multiply(block, np.float32(1.0 / np.iinfo(block.dtype).max), out=out[:, :, dst[0]:dst[0] + len(dst)],
                        casting="unsafe")
        else:
            out[:, :, dst[0]:dst[0] + len(dst)] = block
        return
    for d, s in zip(dst, src):
        ch = plane[:, :, s]
        if ch.dtype.kind == "u":
            np.multiply(ch, np.float32(1.0 / np.iinfo(ch.dtype).max), out=out[:, :, d], casting="unsafe")
        else:
            out[:, :, d] = ch


def union_window(*windows: Window) -> Window:
    """The smallest (x, y, w, h) window holding all of ``windows`` (what Nuke calls the union of bboxes)."""
    x0, y0 = min(w[0] for w in windows), min(w[1] for w in windows)
    x1, y1 = max(w[0] + w[2] for w in windows), max(w[1] + w[3] for w in windows)
    return x0, y0, x1 - x0, y1 - y0


def place_on_window(pixels: np.ndarray, data_window: Window, window: Window, fill: float = 0.0) -> np.ndarray:
    """``pixels`` lying on ``data_window`` placed on ``window``: cropped outside it, ``fill`` beyond them."""
    wx, wy, ww, wh = window
    out = np.full((wh, ww, pixels.shape[2]), fill, pixels.dtype)
    x0, y0, w, h = data_window
    sx0, sy0 = max(x0, wx), max(y0, wy)
    sx1, sy1 = min(x0 + w, wx + ww), min(y0 + h, wy + wh)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - wy:sy1 - wy, sx0 - wx:sx1 - wx] = pixels[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
    return out
