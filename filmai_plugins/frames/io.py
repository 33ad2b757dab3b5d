"""Reading and writing frames: OpenImageIO readers/writers, part/layer/channel selection, atomic writes.

``OIIOReader``/``OIIOWriter`` are the core's readers and writers; ``BuiltinFrameIO`` registers them with
the app's plug-in manager (``filmai_frame_reader``/``filmai_frame_writer`` hooks), answering last so packs
can take over a format. The plain functions at the bottom use OpenImageIO directly.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from ..atomic import temp_path_for
from ..errors import BadInput, FrameError
from ..hookspecs import hookimpl
from .image import Frame, FrameHeader, copy_channels

COMPRESSIONS = ("none", "rle", "zip", "zips", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab")
PIXEL_TYPES = ("keep", "half", "float")
HALF_MAX = 65504.0
# Attributes the writer sets itself or that describe the source file's layout, not its content.
_LAYOUT_ATTRIBUTES = {"compression", "oiio:subimages", "oiio:subimagename", "openexr:dwaCompressionLevel",
                      "openexr:chunkCount", "openexr:version", "tiledesc", "oiio:BitsPerSample",
                      "oiio:UnassociatedAlpha", "smpte:TimeCode:1"}
PROVENANCE_PREFIX = "filmai:"


def max_pixels() -> int:
    """Refuse headers declaring more pixel values than this (FILMAI_MAX_MEGAPIXELS, default 1024 Mpx·ch)."""
    return int(float(os.environ.get("FILMAI_MAX_MEGAPIXELS", "1024")) * 1_000_000)


class FrameReader(Protocol):
    def header(self, path: str, *, part: str | int | None = None, frame: int | None = None) -> FrameHeader: ...

    def read(self, path: str, *, part: str | int | None = None, layer: str | None = None,
             channels: Sequence[str] | None = None, frame: int | None = None) -> Frame: ...


@dataclass
class WriteOptions:
    """How to encode an output file. ``compression`` None keeps the input's, else zip."""

    compression: str | None = None
    pixel_type: str = "keep"  # keep | half | float
    provenance: Mapping[str, Any] = field(default_factory=dict)
    tile_size: int = 0  # 0: scanline


class FrameWriter(Protocol):
    def write(self, path: str, frame: Frame, options: WriteOptions) -> None: ...


# ----------------------------------------------------------------------------------------------
# OpenImageIO implementation


_threads_applied = False


def _oiio():
    import OpenImageIO as oiio  # imported lazily: hosts listing nodes never pay for it

    global _threads_applied
    if not _threads_applied:
        _threads_applied = True
        if os.environ.get("FILMAI_IO_THREADS"):
            set_io_threads(int(os.environ["FILMAI_IO_THREADS"]))
    return oiio


def set_io_threads(count: int) -> None:
    """Threads OpenImageIO (and OpenEXR under it) use to decode and encode one file; 0: one per core, its
    default. The engine already reads ahead and writes behind on its own threads; ``FILMAI_IO_THREADS``
    sets this for a process (bench/io.py measures 1 and 2 on a 2-core machine)."""
    import OpenImageIO as oiio

    count = int(count) if count > 0 else (os.cpu_count() or 1)
    oiio.attribute("threads", count)
    oiio.attribute("exr_threads", count)  # OpenEXR's own pool (de)compresses the blocks of one file


def _type_name(typedesc: Any) -> str:
    name = str(typedesc)
    return {"uint8": "uint8", "uint16": "uint16", "uint": "uint32", "half": "half", "float": "float"}.get(name, name)


def _open(path: str, frame: int | None):
    oiio = _oiio()
    if not os.path.exists(path):
        raise FrameError("file not found", path, frame)
    if os.path.isdir(path):
        raise FrameError("is a folder, not an image", path, frame)
    inp = oiio.ImageInput.open(path)
    if inp is None:
        reason = oiio.geterror() or "not an image OpenImageIO can read"
        raise FrameError(f"cannot open: {reason.strip()}", path, frame)
    return inp


def _parts(inp: Any) -> list[str]:
    names = []
    i = 0
    while inp.seek_subimage(i, 0):
        spec = inp.spec()
        names.append(spec.getattribute("name") or spec.getattribute("oiio:subimagename") or str(i))
        i += 1
    inp.seek_subimage(0, 0)
    return names


def _select_part(inp: Any, path: str, part: str | int | None, frame: int | None) -> tuple[int, list[str]]:
    names = _parts(inp)
    if part is None or part == "":
        index = 0
    elif isinstance(part, int) or (isinstance(part, str) and part.isdigit() and part not in names):
        index = int(part)
        if not 0 <= index < len(names):
            raise FrameError(f"no part {index} (file has {len(names)} parts: {', '.join(names)})", path, frame)
    elif part in names:
        index = names.index(part)
    else:
        raise FrameError(f"no part named {part!r} (parts: {', '.join(names)})", path, frame)
    if not inp.seek_subimage(index, 0):
        raise FrameError(f"cannot seek to part {index}: {inp.geterror()}", path, frame)
    return index, names


def _header_from_spec(path: str, spec: Any, parts: list[str], index: int, fmt: str) -> FrameHeader:
    nch = spec.nchannels
    formats = list(spec.channelformats) or [spec.format] * nch
    attributes: dict[str, Any] = {}
    types: dict[str, str] = {}
    for a in spec.extra_attribs:
        attributes[a.name] = a.value
        types[a.name] = str(a.type)
    return FrameHeader(
        path=path, width=spec.width, height=spec.height, channels=list(spec.channelnames),
        pixel_types=[_type_name(f) for f in formats],
        data_window=(spec.x, spec.y, spec.width, spec.height),
        display_window=(spec.full_x, spec.full_y, spec.full_width, spec.full_height),
        attributes=attributes, attribute_types=types, parts=parts, part_index=index,
        tiled=spec.tile_width > 0, format_name=fmt)


def _check_dimensions(h: FrameHeader, frame: int | None) -> None:
    values = h.width * h.height * max(len(h.channels), 1)
    if h.width <= 0 or h.height <= 0 or h.width > 1 << 17 or h.height > 1 << 17 or values > max_pixels():
        raise FrameError(
            f"header declares absurd dimensions {h.width}x{h.height}x{len(h.channels)} "
            f"(limit {max_pixels() // 1_000_000} Mpx·channels, FILMAI_MAX_MEGAPIXELS); refusing to allocate",
            h.path, frame)


def resolve_channels(available: Sequence[str], layer: str | None, channels: Sequence[str] | None,
                     path: str, frame: int | None) -> tuple[list[int], list[str]]:
    """Indices into ``available`` and the names the frame will carry (layer prefix stripped).

    ``layer`` picks an AOV (``diffuse`` → ``diffuse.R`` …; nested names like ``left.forward`` work).
    ``channels`` names channels within the layer, or whole names; None takes all channels of the layer.
    """
    avail = list(available)
    if layer:
        prefix = layer + "."
        in_layer = [(i, n[len(prefix):]) for i, n in enumerate(avail) if n.startswith(prefix)]
        if not in_layer:
            layers = sorted({n.rsplit(".", 1)[0] for n in avail if "." in n})
            raise FrameError(f"no layer {layer!r} (layers: {', '.join(layers) or 'none'}; "
                             f"channels: {', '.join(avail)})", path, frame)
    else:
        in_layer = list(enumerate(avail))
    if channels is None:
        return [i for i, _ in in_layer], [n for _, n in in_layer]
    names = {n: i for i, n in in_layer}
    full = {n: i for i, n in enumerate(avail)}
    idx, out = [], []
    for c in channels:
        if c in names:
            idx.append(names[c])
        elif c in full:
            idx.append(full[c])
        else:
            raise FrameError(f"no channel {c!r}" + (f" in layer {layer!r}" if layer else "")
                             + f" (channels: {', '.join(avail)})", path, frame)
        out.append(c[len(layer) + 1:] if layer and c.startswith(layer + ".") else c)
    return idx, out


class OIIOReader:
    """Reads every format OpenImageIO reads: EXR scanline/tiled/multi-part, PNG, TIFF, JPEG, DPX …

    Pixels stay in the type OpenImageIO hands over natively: half as float16, 8/16-bit files as
    uint8/uint16, a part mixing types in the widest of them (float32).
    """

    def header(self, path: str, *, part: str | int | None = None, frame: int | None = None) -> FrameHeader:
        inp = _open(path, frame)
        try:
            index, names = _select_part(inp, path, part, frame)
            h = _header_from_spec(path, inp.spec(), names, index, inp.format_name())
        finally:
            inp.close()
        return h

    def read(self, path: str, *, part: str | int | None = None, layer: str | None = None,
             channels: Sequence[str] | None = None, frame: int | None = None) -> Frame:
        """One part (``part``, else the first) with ``layer``/``channels`` selected from it. Without part,
        layer or channels the whole file is read: the first part, carrying the others as ``other_parts``."""
        whole = (part is None or part == "") and not layer and channels is None
        inp = _open(path, frame)
        try:
            index, names = _select_part(inp, path, part, frame)
            fmt = inp.format_name()
            first = _read_part(inp, path, index, names, fmt, layer, channels, frame)
            if whole and len(names) > 1:
                first.other_parts = [_read_part(inp, path, i, names, fmt, None, None, frame)
                                     for i in range(1, len(names))]
                check_parts(first.parts, path, frame, "read one part with --part")
        finally:
            inp.close()
        return first


#: Pixel types OpenImageIO hands over natively as a numpy type a Frame keeps.
_NATIVE_FORMATS = ("half", "float", "uint8", "uint16")


def _read_part(inp: Any, path: str, index: int, names: list[str], fmt: str, layer: str | None,
               channels: Sequence[str] | None, frame: int | None) -> Frame:
    if not inp.seek_subimage(index, 0):
        raise FrameError(f"cannot seek to part {index}: {inp.geterror()}", path, frame)
    spec = inp.spec()
    h = _header_from_spec(path, spec, names, index, fmt)
    _check_dimensions(h, frame)
    idx, out_names = resolve_channels(h.channels, layer, channels, path, frame)
    if not idx:
        raise FrameError("no channels selected", path, frame)
    lo, hi = min(idx), max(idx) + 1
    # Native types where numpy has them; anything else (int8, double, EXR's uint) as float like before.
    want = "unknown" if _type_name(spec.format) in _NATIVE_FORMATS else "float"
    pixels = inp.read_image(index, 0, lo, hi, want)
    if pixels is None:
        err = (inp.geterror() or _oiio().geterror() or "unknown error").strip()
        raise FrameError(f"corrupt or truncated image: {err}", path, frame)
    plane = pixels if pixels.ndim == 3 else pixels.reshape(h.height, h.width, hi - lo)
    # A channel subset keeps the decoded range and points into it: no copy.
    return Frame._from_planes([plane], [(0, i - lo) for i in idx], out_names, [h.pixel_types[i] for i in idx],
                              [False] * len(idx), None, data_window=h.data_window, display_window=h.display_window,
                              attributes=h.attributes, attribute_types=h.attribute_types, layer=layer or "",
                              path=path, number=frame, part=names[index])


def check_parts(parts: Sequence[Frame], path: str, frame: int | None, hint: str) -> None:
    """Parts of one file need unique names and one display window (OpenEXR's rule for multi-part files)."""
    seen: dict[str, int] = {}
    for i, p in enumerate(parts):
        if p.part in seen:
            raise FrameError(f"parts {seen[p.part]} and {i} are both named {p.part!r}; the parts of a file need "
                             f"unique names ({hint})", path, frame)
        seen[p.part] = i
    first = parts[0]
    for p in parts[1:]:
        if p.display_window != first.display_window:
            raise FrameError(f"parts differ in display window: {first.part!r} {_box(first.display_window)} but "
                             f"{p.part!r} {_box(p.display_window)}; the parts of a multi-part file share one "
                             f"({hint})", path, frame)


def _box(window: tuple[int, int, int, int]) -> str:
    x, y, w, h = window
    return f"{w}x{h}" + (f"+{x}+{y}" if x or y else "")


def _typedesc(oiio: Any, type_name: str):
    td = oiio.TypeDesc(type_name)
    if str(td) == "unknown" and type_name.startswith("rational"):
        return oiio.TypeRational
    return td if str(td) != "unknown" else None


#: What ``pixel_type=keep`` writes to EXR for each file type. EXR holds half, float and uint, and
#: OpenImageIO writes only the first two: 8-bit values fit half's 11-bit mantissa exactly, 16-bit ones
#: need float, and EXR uint channels (object IDs), which OpenImageIO reads as normalised floats, stay float.
EXR_TYPE_FOR = {"half": "half", "float": "float", "uint8": "half", "uint16": "float", "uint32": "float"}
#: What other formats are written in (``pixel_type`` half/float applies to TIFF only).
OTHER_FORMAT_TYPES = {".png": "uint8", ".tif": "uint16", ".tiff": "uint16", ".dpx": "uint16"}


class OIIOWriter:
    """Writes EXR (half/float per channel, any compression, windows, attributes, every part) and the
    other formats OpenImageIO writes. Untouched channels are handed to OpenImageIO as they were read."""

    def write(self, path: str, frame: Frame, options: WriteOptions) -> None:
        oiio = _oiio()
        ext = os.path.splitext(path)[1].lower()
        parts = frame.parts
        out = oiio.ImageOutput.create(path)
        if out is None:
            raise BadInput(f"{path}: no writer for {ext or 'files without extension'}: {oiio.geterror()}")
        if len(parts) > 1:
            names = [p.part or f"part{i}" for i, p in enumerate(parts)]
            if not out.supports("multiimage"):
                raise FrameError(f"the frame has {len(parts)} parts ({', '.join(names)}) but a {ext or 'this'} file "
                                 "holds one: write EXR, or choose one part with --part", path, frame.number)
            check_parts(parts, path, frame.number, "choose one with --part")
        prepared = [self._prepare(oiio, p, options, ext) for p in parts]
        if len(parts) > 1:
            for (spec, _), name in zip(prepared, names):
                spec.attribute("name", name)
        target = _temp_name(path)
        try:
            specs = prepared[0][0] if len(prepared) == 1 else tuple(s for s, _ in prepared)
            if not out.open(target, specs):
                raise OSError(out.geterror() or oiio.geterror())
            for i, (spec, pixels) in enumerate(prepared):
                if i and not out.open(target, spec, "AppendSubimage"):
                    raise OSError(out.geterror() or oiio.geterror())
                if not out.write_image(pixels):
                    raise OSError(out.geterror())
            if not out.close():
                raise OSError(out.geterror())
            os.replace(target, path)
        except BaseException:
            try:
                out.close()
            except Exception:
                pass
            _remove_quietly(target)
            raise

    def _prepare(self, oiio: Any, frame: Frame, options: WriteOptions, ext: str) -> tuple[Any, np.ndarray]:
        """The spec and the pixel buffer of one part."""
        is_exr = ext == ".exr"
        if not is_exr and frame.data_window != frame.display_window:
            frame = frame.with_data_window(frame.display_window)  # formats without data windows get the full image
        h, w, c = frame.shape
        if is_exr:
            types = exr_types(frame, options.pixel_type)
        else:
            fmt = OTHER_FORMAT_TYPES.get(ext, "uint8")
            if options.pixel_type in ("half", "float") and ext in (".tif", ".tiff"):
                fmt = options.pixel_type
            types = [fmt] * c
        uniform = len(set(types)) == 1
        spec = oiio.ImageSpec(w, h, c, types[0] if uniform else "float")
        if not uniform:
            spec.channelformats = tuple(oiio.TypeDesc(t) for t in types)
        spec.x, spec.y = frame.data_window[0], frame.data_window[1]
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = frame.display_window
        spec.channelnames = tuple(f"{frame.layer}.{n}" if frame.layer and is_exr else n for n in frame.channels)
        if "A" in frame.channels:
            spec.alpha_channel = frame.channels.index("A")
        for name, value in frame.attributes.items():
            if name in _LAYOUT_ATTRIBUTES or name.startswith(PROVENANCE_PREFIX):
                continue
            td = _typedesc(oiio, frame.attribute_types.get(name, ""))
            try:
                if td is not None:
                    spec.attribute(name, td, value)
                else:
                    spec.attribute(name, value)
            except Exception:  # an attribute OIIO cannot re-encode is not worth losing the frame over
                continue
        compression = options.compression or str(frame.attributes.get("compression") or "zip")
        if is_exr:
            base = compression.split(":")[0]
            if base not in COMPRESSIONS:
                raise BadInput(f"unknown EXR compression {compression!r} (one of {', '.join(COMPRESSIONS)})")
            spec.attribute("compression", compression)
            if options.tile_size:
                spec.tile_width = spec.tile_height = options.tile_size
        for key, value in options.provenance.items():
            spec.attribute(PROVENANCE_PREFIX + key, value if isinstance(value, str) else json.dumps(value, sort_keys=True))
        return spec, pixel_buffer(frame, types, is_exr)


def exr_types(frame: Frame, pixel_type: str) -> list[str]:
    """The EXR type each channel is written as: ``half``/``float`` for all, or ``keep``: the file's type
    (``EXR_TYPE_FOR``), half for new channels, and float for a computed channel whose values half would clip."""
    c = len(frame.channels)
    if pixel_type in ("half", "float"):
        return [pixel_type] * c
    if pixel_type != "keep":
        raise BadInput(f"unknown pixel type {pixel_type!r} (one of {', '.join(PIXEL_TYPES)})")
    types = [EXR_TYPE_FOR.get(t or "half", "float") for t in frame.file_types()]
    computed = frame.computed()
    suspects = [pos for pos, t in enumerate(types) if t == "half" and computed[pos]]
    for pos in half_clipping(frame, suspects):
        types[pos] = "float"
    return types


def half_clipping(frame: Frame, positions: Sequence[int]) -> list[int]:
    """Of the channels at ``positions``, those holding finite values beyond half's range (65504): one
    vectorised pass per plane over those channels only (float16 and integer planes cannot)."""
    wanted = set(positions)
    clipping: list[int] = []
    for plane, src, dst in frame.storage():
        if plane.dtype != np.float32:
            continue
        pick = [(i, pos) for i, pos in zip(src, dst) if pos in wanted]
        if not pick:
            continue
        sub = plane[:, :, [i for i, _ in pick]]
        peak = np.fmax.reduce(np.abs(sub).reshape(-1, len(pick)), axis=0)  # fmax skips NaN
        for j in np.flatnonzero(peak > HALF_MAX):
            if np.isfinite(peak[j]):
                clipping.append(pick[j][1])
            else:  # an Inf is no reason for float; a finite value beyond half is
                ch = sub[:, :, j]
                if bool(np.any(np.isfinite(ch) & (np.abs(ch) > HALF_MAX))):
                    clipping.append(pick[j][1])
    return clipping


def pixel_buffer(frame: Frame, types: Sequence[str], is_exr: bool) -> np.ndarray:
    """One (H, W, C) buffer for OpenImageIO. Channels stored as one array in order go as they are (OpenImageIO
    converts to the file's types); otherwise half-only EXR output is gathered as float16 (only computed
    channels are converted), anything else as float32."""
    arr = frame.native()
    if arr is not None:
        return np.ascontiguousarray(arr)
    dtype = np.float16 if is_exr and set(types) == {"half"} else np.float32
    buf = np.empty(frame.shape, dtype)
    for plane, src, dst in frame.storage():
        copy_channels(buf, dst, plane, src)
    return buf


def _temp_name(path: str) -> str:
    # Hidden, and without the image extension last, so no sequence scan or viewer ever picks it up.
    return temp_path_for(path)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


class BuiltinFrameIO:
    """The core's frame I/O plug-in (registered by the app like any other); answers last so other
    plug-ins can claim a format first."""

    def __init__(self) -> None:
        self.reader = OIIOReader()
        self.writer = OIIOWriter()

    @hookimpl(trylast=True)
    def filmai_frame_reader(self, path: str) -> FrameReader:
        return self.reader

    @hookimpl(trylast=True)
    def filmai_frame_writer(self, path: str) -> FrameWriter:
        return self.writer


# ----------------------------------------------------------------------------------------------
# Plain functions over OpenImageIO. Inside a run, read and write through the app (``ctx.app``/``app.read_frame``)
# so a pack that claims a format through ``filmai_frame_reader``/``filmai_frame_writer`` is used.

_READER = OIIOReader()
_WRITER = OIIOWriter()


def read_header(path: str, *, part: str | int | None = None, frame: int | None = None) -> FrameHeader:
    return _READER.header(str(path), part=part, frame=frame)


def read_frame(path: str, *, part: str | int | None = None, layer: str | None = None,
               channels: Sequence[str] | None = None, frame: int | None = None) -> Frame:
    return _READER.read(str(path), part=part, layer=layer, channels=channels, frame=frame)


def write_frame(path: str, frame: Frame, options: WriteOptions | None = None) -> None:
    """Write atomically: a hidden temporary file in the same folder, renamed into place."""
    path = str(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise BadInput(f"output folder {folder} does not exist")
    _WRITER.write(path, frame, options or WriteOptions())


def provenance_of(header: FrameHeader) -> dict[str, str]:
    """The ``filmai:*`` attributes of a header (empty for files FilmAI did not write)."""
    return {k[len(PROVENANCE_PREFIX):]: v for k, v in header.attributes.items() if k.startswith(PROVENANCE_PREFIX)}


def read_provenance(path: str) -> dict[str, str]:
    """The ``filmai:*`` attributes of a file written by FilmAI (empty when there are none)."""
    return provenance_of(read_header(path))
