"""What a running node sees: its params, model, device, inputs and outputs, and the engine's services."""
from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from ..atomic import atomic_open
from ..errors import BadInput, FrameError
from ..files import file_sha256
from ..frames.image import Frame
from .. import color
from ..color import ColourConfig
from ..frames.io import WriteOptions
from ..frames.sequence import SequencePattern
from ..node import Node, Param
from ..schema import to_json_value
from .cancel import CancelToken
from .progress import Progress
from .tiling import apply_tiled

NONFINITE_POLICIES = ("error", "zero", "pass")

#: Engine I/O options every frame node accepts; hosts draw them from this schema like node params.
IO_OPTIONS: tuple[Param, ...] = (
    Param("part", "string", "", help="EXR part (subimage) to read, by name or index; empty: every part (a node "
                                     "computes on the first, the others pass through)"),
    Param("layer", "string", "", help="layer/AOV to read (e.g. 'diffuse' reads diffuse.R/G/B); empty: the main layer"),
    Param("compression", "enum", "keep", choices=("keep", "none", "rle", "zip", "zips", "piz", "pxr24", "b44",
                                                    "b44a", "dwaa", "dwab"),
          help="EXR compression of written frames; keep: the input's (zip when unknown)"),
    Param("pixel_type", "enum", "keep", choices=("keep", "half", "float"),
          help="EXR pixel type of written frames; keep: the input's per channel (half for new channels, "
               "float where half would clip)"),
    Param("tile_size", "int", 1024, min=64, max=16384,
          help="frames larger than this are processed in overlapping tiles (seamless) to bound memory"),
    Param("input_colorspace", "string", "",
          help="the OCIO colourspace of the input frames (a name, alias or interop id: ACEScg, lin_ap1_scene, "
               "lin_rec709_srgb ...); it wins over the files' own tags (with a warning where they differ); empty: "
               "each file's tag (colorInteropID, colorspace, chromaticities), else the config's scene_linear role "
               "for EXR and sRGB for 8/16-bit images"),
    Param("output_colorspace", "string", "",
          help="the OCIO colourspace to write (colour channels converted, data channels never); empty: the input's"),
    Param("ocio_config", "string", "",
          help="OCIO config file or ocio:// URI; empty: the host's, $OCIO, else the pinned built-in CG config"),
    Param("nonfinite", "enum", "error", choices=NONFINITE_POLICIES,
          help="NaN/Inf in the channels a node reads: error (name file and frame), zero (the node sees 0), pass; "
               "channels it does not read pass through untouched"),
)


@dataclass
class IOOptions:
    part: str = ""
    layer: str = ""
    compression: str = "keep"
    pixel_type: str = "keep"
    tile_size: int = 1024
    input_colorspace: str = ""
    output_colorspace: str = ""
    ocio_config: str = ""
    nonfinite: str = "error"

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None) -> "IOOptions":
        values = dict(values or {})
        known = {p.name: p for p in IO_OPTIONS}
        unknown = set(values) - set(known)
        if unknown:
            raise BadInput(f"unknown I/O option {', '.join(sorted(unknown))} (known: {', '.join(known)})")
        parsed = {k: known[k].parse(v) for k, v in values.items() if v is not None}
        return cls(**parsed)

    def write_options(self, provenance: dict[str, Any]) -> WriteOptions:
        return WriteOptions(compression=None if self.compression == "keep" else self.compression,
                            pixel_type=self.pixel_type, provenance=provenance)

    def to_json(self) -> dict[str, Any]:
        return {p.name: getattr(self, p.name) for p in IO_OPTIONS}


@dataclass
class Timings:
    """Seconds spent reading, computing and writing, summed over threads (they overlap in wall time)."""

    read_s: float = 0.0
    compute_s: float = 0.0
    write_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, seconds: float) -> None:
        with self._lock:
            setattr(self, kind, getattr(self, kind) + seconds)

    def to_json(self) -> dict[str, float]:
        return {"read_s": round(self.read_s, 4), "compute_s": round(self.compute_s, 4),
                "write_s": round(self.write_s, 4)}


@dataclass
class RunContext:
    """Handed to ``Node.validate/setup/process/run_sequence``.

    ``app`` is the host's app object (frame I/O, OCIO config, events); ``params`` the resolved run
    params with keyed ones as ``schema.Keys`` (a node reads this frame's values from ``self.params``,
    or any frame's with ``param_at``).
    """

    app: Any
    node_cls: type[Node]
    params: dict[str, Any]
    inputs: dict[str, str]
    outputs: dict[str, str]
    frames: list[int]
    io: IOOptions
    progress: Progress
    cancel: CancelToken
    device: str | None = None
    model: Any = None  # a Checkpoint for checkpoint nodes, else None
    model_path: str | None = None
    model_sha256: str | None = None
    params_hash: str = ""
    timings: Timings = field(default_factory=Timings)
    written: dict[str, list[Any]] = field(default_factory=dict)  # port -> frames or files written
    checksums: dict[str, dict[str, str]] = field(default_factory=dict)  # port -> frame (or file) -> sha256
    first_written: Frame | None = None  # its header gives the manifest the plate's timecode and rate
    written_colorspace: dict[str, str] = field(default_factory=dict)  # port -> colourspace its header names
    extra: dict[str, Any] = field(default_factory=dict)  # node results for the manifest (stats, summaries)
    #: the input frames of the output frame being processed, by number (set by the engine before process())
    window: dict[int, Frame] = field(default_factory=dict)
    _colour: Any = field(default=None, repr=False)
    _colour_said: set = field(default_factory=set, repr=False)  # warnings already given once
    #: frames read for windows beyond the requested range, and window frames clamped away (manifest)
    handles: dict[str, str] = field(default_factory=dict)
    _on_disk: dict[str, list[int]] = field(default_factory=dict, repr=False)

    # ----- convenience -----------------------------------------------------------------------
    @property
    def node_id(self) -> str:
        return self.node_cls.id

    def check_cancel(self) -> None:
        self.cancel.check()

    def message(self, text: str, **data: Any) -> None:
        self.progress.message(text, **data)

    def param_at(self, name: str, frame: float | None) -> Any:
        """The value of run param ``name`` at ``frame`` (keys interpolated; a plain value as given)."""
        return self.node_cls.params_at({name: self.params[name]}, frame)[name]

    def params_json(self) -> dict[str, Any]:
        """The run params as JSON data (keys as ``{"keys": [[frame, value], ...]}``)."""
        return {k: to_json_value(v) for k, v in self.params.items()}

    def input_window(self) -> dict[int, Frame]:
        """Frame scope: the input frames the current output frame needs (``Node.frames_needed``, clamped to the
        input sequence), by frame number in order; the current frame is among them."""
        return dict(self.window)

    def frames_on_disk(self, port: str | None = None) -> list[int]:
        """Frames of an input sequence that exist on disk (listed once per run)."""
        name, pattern = self._port(self.inputs, port, "input")
        if name not in self._on_disk:
            self._on_disk[name] = SequencePattern(pattern).frames_on_disk()
        return self._on_disk[name]

    @property
    def torch(self):
        from .device import import_torch

        return import_torch(self.node_id)

    def _port(self, ports: dict[str, str], name: str | None, kind: str) -> tuple[str, str]:
        if name is None:
            declared = self.node_cls.inputs if kind == "input" else self.node_cls.outputs
            for p in declared:
                if p.name in ports:
                    return p.name, ports[p.name]
            if ports:
                return next(iter(ports.items()))
            raise BadInput(f"node {self.node_id}: no {kind} given")
        if name not in ports:
            raise BadInput(f"node {self.node_id}: {kind} {name!r} was not given")
        return name, ports[name]

    def input_path(self, port: str | None = None) -> str:
        return self._port(self.inputs, port, "input")[1]

    def output_path(self, port: str | None = None) -> str:
        return self._port(self.outputs, port, "output")[1]

    # ----- colour ----------------------------------------------------------------------------
    @property
    def colour(self) -> ColourConfig:
        """The run's OCIO config (``--ocio-config``, else the app's) with its name lookups and processors."""
        if self._colour is None:
            self._colour = ColourConfig.load(self.io.ocio_config) if self.io.ocio_config else self.app.colour()
        return self._colour

    def check_colour(self) -> None:
        """Before anything is written: the config loads and the colourspaces given are known (exit 2 naming the
        closest names otherwise); an output colourspace that is data (not colour) is refused."""
        colour = self.colour
        if self.io.input_colorspace:
            colour.resolve(self.io.input_colorspace)
        if self.io.output_colorspace:
            out = colour.resolve(self.io.output_colorspace)
            if colour.is_data(out):
                raise BadInput(f"--output-colorspace {self.io.output_colorspace!r} is a data colourspace ({out}): "
                               "colour frames are never written as data; leave it empty to keep the input's")

    def model_colorspace(self, recorded: str | None, model: str = "the model") -> str:
        """The run config's name for the colourspace a model works in, as its checkpoint records it (an interop
        id or a name; ``ColourConfig.portable``); "" when it records none (the model takes plates as they are).
        A config that lacks it is bad usage: the run cannot be right."""
        if not recorded:
            return ""
        try:
            return self.colour.resolve(recorded)
        except BadInput:
            raise BadInput(f"{model} works in colourspace {recorded!r}, which OCIO config {self.colour.name!r} "
                           f"({self.colour.source}) does not have: use a config that defines it (its interop id "
                           "is what is matched) or one of the ACES/CG configs") from None

    def frame_colorspace(self, f: Frame) -> str:
        """What ``f``'s colour channels are: ``--input-colorspace`` (it wins over the file's tag, with a warning
        once where they differ), else the file's tag, else the config's ``scene_linear`` role for EXR and other
        float images and sRGB for 8/16-bit ones."""
        colour = self.colour
        ext = os.path.splitext(f.path or "")[1] or ".exr"
        declared, where = color.declared_colorspace(f.attributes, ext)
        if self.io.input_colorspace:
            given = colour.resolve(self.io.input_colorspace)
            if declared:
                try:
                    tagged = colour.resolve(declared)
                except BadInput:
                    tagged = declared
                if tagged != given and ("input", tagged) not in self._colour_said:
                    self._colour_said.add(("input", tagged))
                    self.message(f"{f.where()} is tagged {tagged!r} ({where}) but --input-colorspace says "
                                 f"{given!r}: the flag wins", level="warning")
            return given
        if declared:
            try:
                return colour.resolve(declared)
            except BadInput:
                raise FrameError(f"the file says its colourspace is {declared!r} ({where}), which OCIO config "
                                 f"{colour.name!r} does not know: give the show's config (--ocio-config) or "
                                 "--input-colorspace", f.path, f.number) from None
        types = f.file_types()
        if types and all(t in ("uint8", "uint16") for t in types if t):
            try:
                return colour.resolve("srgb_tx")
            except BadInput:
                raise FrameError(f"an 8/16-bit image with no colourspace in the file, and OCIO config "
                                 f"{colour.name!r} has no sRGB colourspace to take it for: give "
                                 "--input-colorspace", f.path, f.number) from None
        return colour.scene_linear()

    def output_colour(self, frame: Frame) -> Frame:
        """``frame`` (and its other parts) in the output colourspace, tagged: colour channels converted with
        OCIO's CPU processor when ``--output-colorspace`` differs from the frame's; data layers, alpha and
        single channels never; ``colorInteropID``, ``chromaticities`` and ``colorspace`` set in each part's
        header."""
        colour = self.colour
        src = frame.colorspace or (colour.resolve(self.io.input_colorspace) if self.io.input_colorspace
                                   else colour.scene_linear())
        dst = colour.resolve(self.io.output_colorspace) if self.io.output_colorspace else src
        parts = []
        chromaticities = colour.chromaticities(dst)
        for part in frame.parts:
            if dst != src:
                names = [part.channels[i] for triplet in color.colour_triplets(part.channels) for i in triplet]
                if names:
                    part = part.with_channels(names, colour.convert_channels(part.select(names), names, src, dst))
            tagged = {k: v for k, v in part.attributes.items()
                      if k not in ("colorInteropID", "chromaticities", "colorspace", "colorSpace", "oiio:ColorSpace")}
            # a part of data only (depth, vectors, disparity, mattes) is tagged as the config's data space, not
            # as colour it never held
            space = dst if color.colour_triplets(part.channels) else colour.role("data")
            if space:
                tags = colour.tags(space)
                tagged.update(tags)
                tagged["oiio:ColorSpace"] = tags.get("colorInteropID") or tags["colorspace"]
            if chromaticities:  # an attribute OpenEXR shares across the parts of a file: the same on every part
                tagged["chromaticities"] = chromaticities
            part.attributes = tagged
            if "chromaticities" in tagged:
                part.attribute_types = {**part.attribute_types, "chromaticities": "float[8]"}
            part.colorspace = dst
            parts.append(part)
        first = parts[0]
        first.other_parts = parts[1:]
        return first

    # ----- frames ----------------------------------------------------------------------------
    def read_input(self, frame: int | None, port: str | None = None, *, channels: list[str] | None = None,
                   layer: str | None = None, require: list[str] | None = None) -> Frame:
        """Read one input frame with the run's part/layer selection and the non-finite policy.

        ``channels`` reads only those channels (of one part); without it every channel of the part, and
        without ``--part``/``--layer`` every part of the file, comes along to pass through. ``require``
        names channels the node computes from: missing ones are an error naming file and frame, and
        ``frame.select()`` returns them."""
        pattern = SequencePattern(self.input_path(port))
        path = pattern.path(frame) if pattern.is_sequence else pattern.pattern
        t0 = time.perf_counter()
        f = self.app.read_frame(path, part=self.io.part or None, layer=self.io.layer if layer is None else layer,
                                channels=channels, frame=frame)
        self.timings.add("read_s", time.perf_counter() - t0)
        return self.check_frame(f, require)

    def check_frame(self, f: Frame, require: list[str] | None = None) -> Frame:
        """Apply the run's NaN/Inf policy to ``f`` (checked where a channel is read as float, so channels
        the node never reads pass through untouched) and check it has the ``require``d channels."""
        if require:
            missing = f.missing(require)
            if missing:
                listed = ", ".join(require[:-1]) + f" and {require[-1]}" if len(require) > 1 else require[0]
                raise FrameError(f"node {self.node_id} needs channels {listed}: missing "
                                 f"{', '.join(missing)} (channels: {', '.join(f.channels)}"
                                 + (f"; other parts: {', '.join(p.part for p in f.other_parts)}" if f.other_parts
                                    else "") + "; pick a layer with --layer or a part with --part)", f.path, f.number)
            f.port_channels = tuple(require)
        if self.node_cls.rejects_nonfinite:
            for part in f.parts:
                part.nonfinite = self.io.nonfinite
        space = self.frame_colorspace(f)
        for part in f.parts:
            part.colorspace = space
        if require:
            f.prepare(require)  # float32 conversion and NaN/Inf check here, on the read thread, not in process()
        return f

    def provenance(self, frame: int | None, source: str | None = None) -> dict[str, Any]:
        from .._version import __version__

        prov: dict[str, Any] = {"node": self.node_id, "nodeVersion": self.node_cls.version,
                                "params": self.params_json(), "paramsHash": self.params_hash, "version": __version__}
        if self.model_sha256:
            prov["modelSha256"] = self.model_sha256
        if frame is not None:
            prov["frame"] = str(frame)
        if source:
            prov["source"] = os.path.basename(source)
        prov["ocioConfig"] = self.colour.describe()
        return prov

    def write_output(self, frame: Frame, number: int | None, port: str | None = None,
                     source: str | None = None) -> str:
        """Write one output frame atomically with provenance; returns its path. The file's sha256 goes into
        the manifest, so publishing can tell a frame changed after the run."""
        name, pattern_str = self._port(self.outputs, port, "output")
        pattern = SequencePattern(pattern_str)
        path = pattern.path(number) if pattern.is_sequence else pattern.pattern
        t0 = time.perf_counter()
        frame = self.output_colour(frame)
        self.app.write_frame(path, frame, self.io.write_options(self.provenance(number, source)))
        digest = file_sha256(path)  # on the write thread, from the page cache
        self.timings.add("write_s", time.perf_counter() - t0)
        self.written.setdefault(name, []).append(number if pattern.is_sequence else path)
        self.checksums.setdefault(name, {})[str(number) if pattern.is_sequence else os.path.abspath(path)] = digest
        if self.first_written is None:
            self.first_written = frame.without_pixels()  # its header: the pixels must not stay in memory
        written_space = frame.attributes.get("colorspace") or frame.colorspace  # as the header names it
        if written_space:
            self.written_colorspace.setdefault(name, written_space)
        return path

    def apply_tiled(self, fn: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray, *, scale: int = 1,
                    align: int = 1, batch: int = 1, receptive_field: int | None = None) -> np.ndarray:
        """Run ``fn`` over ``pixels`` in seamless overlapping tiles of the run's tile size."""
        rf = self.node_cls.receptive_field if receptive_field is None else receptive_field
        return apply_tiled(fn, pixels, tile=self.io.tile_size, receptive_field=rf, scale=scale, align=align,
                           batch=batch, check_cancel=self.check_cancel)

    # ----- other files -----------------------------------------------------------------------
    @contextlib.contextmanager
    def atomic_output(self, path: str | None = None, mode: str = "w", port: str | None = None,
                      encoding: str | None = "utf-8") -> Iterator[Any]:
        """Open a non-frame output (OTIO, EDL, CSV …) for writing; it appears only when complete."""
        name = port or (self.node_cls.outputs[0].name if self.node_cls.outputs else "output")
        target = path or self.output_path(port)
        with atomic_open(target, mode, encoding=encoding, newline="") as fh:
            yield fh
        self.written.setdefault(name, []).append(target)

    def record_output(self, path: str, port: str | None = None) -> None:
        """Note a file the node wrote by other means (already complete) in the manifest."""
        name = port or (self.node_cls.outputs[0].name if self.node_cls.outputs else "output")
        self.written.setdefault(name, []).append(path)


@dataclass
class TrainContext(RunContext):
    """Handed to ``Node.train``: inputs (``input``, and ``target`` for paired training), the frames to
    learn from, training params, the checkpoint path, an optional initial model to fine-tune."""

    out: str = ""
    init_model: Any = None  # Checkpoint to start from (--model), or None
    rank: int = 0
    world_size: int = 1
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes checkpoints, contact sheets and the manifest."""
        return self.rank == 0

    @property
    def work_dir(self) -> str:
        """``shot.ckpt`` → ``shot.train/``: contact sheets, interval checkpoints, logs."""
        stem = os.path.splitext(os.path.abspath(self.out))[0]
        return stem + ".train"

    def read_target(self, frame: int | None, *, channels: list[str] | None = None) -> Frame:
        return self.read_input(frame, "target", channels=channels)

    def save_checkpoint(self, tensors: dict[str, Any], meta: dict[str, Any], path: str | None = None) -> str:
        """Save weights + metadata (node id/version added) atomically; ``path`` defaults to ``--out``."""
        from ..training.checkpoint import save_checkpoint

        target = path or self.out
        full = {"node": self.node_id, "node_version": self.node_cls.version, **meta}
        sha = save_checkpoint(target, tensors, full)
        self.checkpoints.append({"path": os.path.abspath(target), "sha256": sha})
        if target == self.out:
            self.model_sha256 = sha
        return sha
