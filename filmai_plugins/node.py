"""The node contract: Node, Param and Port, the one schema every host translates.

A node is a class with a namespaced, versioned id, typed ports and typed params. The CLI flags,
Blender properties, Nuke knobs, OpenJD job parameters and the JSON schema are all generated from
these declarations; no host hand-writes a node's UI.

Nothing here imports torch: listing nodes must stay cheap. A node that needs torch says so with
``needs_torch = True`` and imports it inside its methods.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Literal, Mapping, Sequence

from . import schema
from .errors import ParamError, RegistryError

if TYPE_CHECKING:  # pragma: no cover
    from .engine.context import RunContext, TrainContext
    from .frames.image import Frame

ParamType = Literal["int", "float", "bool", "enum", "string", "path", "color"]
PortType = Literal["Frames", "Timeline", "Table", "Model"]
Scope = Literal["frame", "sequence"]
Stage = Literal["run", "train", "both"]

PARAM_TYPES = schema.PARAM_TYPES
PORT_TYPES = ("Frames", "Timeline", "Table", "Model")
NODE_ID_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
PARAM_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Keyword arguments of filmai_plugins.run()/train() and engine I/O options; a param may not shadow them.
RESERVED_PARAM_NAMES = frozenset({"input", "output", "target", "out", "frames", "model", "device", "progress",
                                  "skip_existing", "io", "on_event", "cancel", "nproc", "part", "layer",
                                  "compression", "pixel_type", "tile_size", "nonfinite", "manifest", "app"})


@dataclass(frozen=True)
class Param:
    """One typed parameter.

    ``min``/``max`` are the hard range (values outside are rejected); ``soft_min``/``soft_max``
    are the slider range a UI shows. ``stage`` says whether the param applies when running,
    when training, or both.
    """

    name: str
    type: ParamType
    default: Any = None
    label: str = ""
    help: str = ""
    min: float | None = None
    max: float | None = None
    soft_min: float | None = None
    soft_max: float | None = None
    choices: tuple[str, ...] = ()
    animatable: bool = False
    stage: Stage = "run"
    path_kind: Literal["file", "directory", "save"] = "file"
    size: int = 3  # components of a colour param

    def __post_init__(self) -> None:
        if not PARAM_NAME_RE.match(self.name):
            raise RegistryError(f"param name {self.name!r} must be lower_snake_case")
        if self.type not in PARAM_TYPES:
            raise RegistryError(f"param {self.name!r}: unknown type {self.type!r} (one of {', '.join(PARAM_TYPES)})")
        if self.type == "enum" and not self.choices:
            raise RegistryError(f"enum param {self.name!r} needs choices")
        if self.type == "color" and self.size not in (3, 4):
            raise RegistryError(f"colour param {self.name!r}: size must be 3 or 4")
        if self.animatable and self.type not in schema.ANIMATABLE_TYPES:
            raise RegistryError(f"param {self.name!r}: {self.type} params cannot be animatable "
                                f"(only {', '.join(schema.ANIMATABLE_TYPES)})")
        if self.default is not None:
            default = self.parse(self.default)
            if isinstance(default, schema.Keys):
                raise RegistryError(f"param {self.name!r}: the default must be one value, not keys")
            object.__setattr__(self, "default", default)

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def parse(self, value: Any) -> Any:
        """Turn a CLI string or a Python value into this param's type, enforcing the hard range.

        An animatable param also takes keys (``"1001:0,1100:1"``, ``{1001: 0.0, 1100: 1.0}``) and returns
        ``schema.Keys``; the one parser is ``filmai_plugins.schema``, shared with the DCC side.
        """
        try:
            return schema.parse_param(self.to_json(), value)
        except schema.SchemaError as exc:
            raise ParamError(str(exc)) from None

    def at(self, value: Any, frame: float | None) -> Any:
        """The plain value of this param at ``frame`` (keys interpolated, a plain value as it is)."""
        return schema.value_at(self.to_json(), value, frame)

    def to_json(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "type": self.type,
            "default": schema.to_json_value(self.default),
            "label": self.display_label,
            "help": self.help,
            "min": self.min,
            "max": self.max,
            "soft_min": self.soft_min if self.soft_min is not None else self.min,
            "soft_max": self.soft_max if self.soft_max is not None else self.max,
            "animatable": self.animatable,
            "stage": self.stage,
        }
        if self.type == "enum":
            data["choices"] = list(self.choices)
        if self.type == "path":
            data["path_kind"] = self.path_kind
        if self.type == "color":
            data["size"] = self.size
        return data


@dataclass(frozen=True)
class Port:
    """A typed input or output.

    ``channels`` names the channels a Frames input computes from (empty: any). The engine checks every
    frame has them (a missing one is an error naming file, frame and channel), applies the NaN/Inf
    policy to them, and ``frame.select()`` returns them; every channel is still read, so the others pass
    through to the output. A node whose channels depend on its params overrides ``Node.input_channels``.
    """

    name: str
    type: PortType
    help: str = ""
    channels: tuple[str, ...] = ()
    optional: bool = False

    def __post_init__(self) -> None:
        if self.type not in PORT_TYPES:
            raise RegistryError(f"port {self.name!r}: unknown type {self.type!r} (one of {', '.join(PORT_TYPES)})")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "help": self.help,
                "channels": list(self.channels), "optional": self.optional}


class Node:
    """Base class of every node.

    Subclasses set the class attributes below and implement ``process`` (frame scope: one frame in,
    one frame out; the engine reads, tiles, batches, writes and farms) or ``run_sequence``
    (sequence scope: the node needs the whole range). Trainable nodes implement ``train``.
    """

    id: ClassVar[str] = ""
    version: ClassVar[str] = "1.0.0"
    family: ClassVar[str] = ""
    label: ClassVar[str] = ""
    help: ClassVar[str] = ""
    scope: ClassVar[Scope] = "frame"
    inputs: ClassVar[tuple[Port, ...]] = ()
    outputs: ClassVar[tuple[Port, ...]] = ()
    params: ClassVar[tuple[Param, ...]] = ()
    trainable: ClassVar[bool] = False
    #: "required": --model must be given (or the node ships a default); "optional"; "none"
    model: ClassVar[Literal["required", "optional", "none"]] = "none"
    #: True when the node imports torch; the engine then picks a device and only then imports torch.
    needs_torch: ClassVar[bool] = False
    #: False when two runs with equal params may differ (then --skip-existing still trusts the seed param).
    deterministic: ClassVar[bool] = True
    #: Pixels of context a network needs on each side; the engine's tiler overlaps tiles by more than this.
    receptive_field: ClassVar[int] = 0
    #: Whether non-finite input pixels are an error for this node (ML nodes) or passed through (converters).
    rejects_nonfinite: ClassVar[bool] = True
    #: What --model is: a FilmAI "checkpoint" (loaded and verified by the engine), or a file the node
    #: loads itself ("torchscript", "onnx"); the engine still records its sha256.
    model_format: ClassVar[str] = "checkpoint"
    #: Trainable nodes that support ``filmai train --nproc N`` (torch.distributed data parallel).
    distributed: ClassVar[bool] = False

    # ----- schema -------------------------------------------------------------------------------
    @classmethod
    def validate_class(cls) -> None:
        """Check the declarations once at registration, so a broken pack fails loudly and early."""
        if not NODE_ID_RE.match(cls.id or ""):
            raise RegistryError(f"{cls.__module__}.{cls.__name__}: node id {cls.id!r} must be namespaced, e.g. 'cnn.copycat'")
        if not re.match(r"^\d+\.\d+\.\d+", cls.version):
            raise RegistryError(f"node {cls.id}: version {cls.version!r} must be semantic (1.2.3)")
        if cls.scope not in ("frame", "sequence"):
            raise RegistryError(f"node {cls.id}: scope must be 'frame' or 'sequence'")
        if not cls.family:
            raise RegistryError(f"node {cls.id}: family is empty")
        seen: set[str] = set()
        for p in cls.params:
            if p.name in RESERVED_PARAM_NAMES:
                raise RegistryError(f"node {cls.id}: param name {p.name!r} is reserved for the engine")
            if p.name in seen:
                raise RegistryError(f"node {cls.id}: param {p.name!r} declared twice")
            seen.add(p.name)
        if cls.trainable and cls.train is Node.train:
            raise RegistryError(f"node {cls.id}: trainable but has no train()")
        if cls.scope == "frame" and cls.process is Node.process:
            raise RegistryError(f"node {cls.id}: frame-scope node without process()")
        if cls.scope == "sequence" and cls.run_sequence is Node.run_sequence:
            raise RegistryError(f"node {cls.id}: sequence-scope node without run_sequence()")

    @classmethod
    def params_for(cls, stage: Literal["run", "train"]) -> tuple[Param, ...]:
        return tuple(p for p in cls.params if p.stage in (stage, "both"))

    @classmethod
    def resolve_params(cls, values: Mapping[str, Any] | None = None,
                       stage: Literal["run", "train"] = "run") -> dict[str, Any]:
        """Defaults overlaid with ``values``; unknown names and bad values raise ParamError."""
        values = dict(values or {})
        known = {p.name: p for p in cls.params_for(stage)}
        other = {p.name for p in cls.params} - set(known)
        unknown = [k for k in values if k not in known]
        if unknown:
            hint = []
            for k in unknown:
                if k in other:
                    hint.append(f"{k!r} is a {'training' if stage == 'run' else 'run'} param")
            names = ", ".join(sorted(known)) or "(none)"
            raise ParamError(
                f"node {cls.id}: unknown param {', '.join(repr(k) for k in unknown)}"
                + (f" ({'; '.join(hint)})" if hint else "") + f"; known: {names}")
        out = {}
        for name, p in known.items():
            out[name] = p.parse(values[name]) if name in values else p.default
            if isinstance(out[name], schema.Keys) and stage != "run":
                raise ParamError(f"node {cls.id}: param {name!r}: keys apply when running, not when training")
        return out

    @classmethod
    def params_at(cls, resolved: Mapping[str, Any], frame: float | None) -> dict[str, Any]:
        """Resolved params with keyed ones evaluated at ``frame`` (linear between keys, held outside)."""
        by_name = {p.name: p for p in cls.params}
        return {name: (by_name[name].at(value, frame) if isinstance(value, schema.Keys) else value)
                for name, value in resolved.items()}

    @classmethod
    def keyed_params(cls, resolved: Mapping[str, Any]) -> dict[str, "schema.Keys"]:
        """The params given as keys."""
        return {name: value for name, value in resolved.items() if isinstance(value, schema.Keys)}

    @classmethod
    def params_hash(cls, params: Mapping[str, Any], model_sha256: str | None = None) -> str:
        """Order-independent hash of what determines the output: node, version, params, model."""
        blob = json.dumps({"node": cls.id, "version": cls.version, "params": _jsonable(params),
                           "model": model_sha256}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The full JSON schema of this node, the source every host UI is generated from."""
        doc = inspect.cleandoc(cls.help or cls.__doc__ or "")
        return {
            "id": cls.id,
            "version": cls.version,
            "family": cls.family,
            "label": cls.label or cls.id,
            "help": doc,
            "scope": cls.scope,
            # frame scope with neighbouring frames (handles): hosts ask `filmai info NODE --frames-needed`
            "temporal": cls.frames_needed is not Node.frames_needed,
            "trainable": cls.trainable,
            "model": cls.model,
            "needs_torch": cls.needs_torch,
            "deterministic": cls.deterministic,
            "inputs": [p.to_json() for p in cls.inputs],
            "outputs": [p.to_json() for p in cls.outputs],
            "params": [p.to_json() for p in cls.params],
        }

    # ----- lifecycle ----------------------------------------------------------------------------
    def __init__(self, params: Mapping[str, Any] | None = None):
        #: every run param, keyed ones as ``schema.Keys`` (what the manifest records)
        self.resolved = self.resolve_params(params, "run")
        #: the values in force: keyed params evaluated at the frame being processed (the engine sets them
        #: before each ``process`` call; before the first, at the first frame)
        self.params = self.params_at(self.resolved, None)

    def validate(self, ctx: "RunContext") -> None:
        """Check params against the input before anything is written (raise ``ParamError``/``BadInput``).

        Called once after the frames are resolved and the model file is found and verified (``ctx.model``,
        ``ctx.model_path``), before any output folder, frame or manifest is written; e.g. a window larger
        than the input sequence, or a model file of the wrong kind. ``self.params`` hold the first frame's
        values.
        """

    def frames_needed(self, frame: int) -> Sequence[int]:
        """Input frames output ``frame`` needs (OpenFX's getFramesNeeded). Default: the frame itself.

        A temporal node returns its window, e.g. ``range(frame - 2, frame + 3)``. The engine reads those
        frames, also outside the requested range when they exist on disk, clamps the window to the input
        sequence (frames beyond its first or last frame are left out and recorded in the manifest), and
        hands them to ``process`` through ``ctx.input_window()``. Such a node stays frame scope: chunks on
        the farm and ``--skip-existing`` resumes give the same pixels as one run.
        """
        return (frame,)

    def setup(self, ctx: "RunContext") -> None:
        """Called once before the first frame: load the model, move it to ``ctx.device``."""

    def input_channels(self, port: str) -> list[str] | None:
        """Channels an input port computes from, checked on every frame (None: no check). Defaults to the
        port's declared ``channels``; every channel is read either way, so the others can pass through."""
        for p in self.inputs:
            if p.name == port and p.channels:
                return list(p.channels)
        return None

    def process(self, frame: "Frame", ctx: "RunContext") -> "Frame":
        """Frame scope: return the output frame for one input frame (its neighbours, for a node that
        declares ``frames_needed``, are in ``ctx.input_window()``). ``self.params`` hold this frame's values."""
        raise NotImplementedError

    def run_sequence(self, ctx: "RunContext") -> None:
        """Sequence scope: read the whole input through ``ctx`` and write the outputs through ``ctx``."""
        raise NotImplementedError

    def teardown(self, ctx: "RunContext") -> None:
        """Called once after the last frame, also after a failure or cancel."""

    @classmethod
    def train(cls, ctx: "TrainContext") -> None:
        """Trainable nodes: learn from ``ctx`` inputs/targets and save a checkpoint with ``ctx.save_checkpoint``."""
        raise NotImplementedError

    @classmethod
    def default_model(cls) -> str | None:
        """Path of a checkpoint shipped with the pack, used when --model is not given."""
        return None

    @classmethod
    def load_model(cls, path: str) -> Any:
        """Load ``--model FILE`` for a ``model_format = "checkpoint"`` node: by default a verified FilmAI
        checkpoint trained for this node. A node that also reads other files (community weights)
        overrides this and returns an object of the same shape (``path``, ``meta``, ``tensors``, ``sha256``)."""
        from .training.checkpoint import load_checkpoint

        return load_checkpoint(path, expect_node=cls.id)

    @classmethod
    def model_colorspace(cls, meta: Mapping[str, Any]) -> str | None:
        """The colourspace a loaded model works in, as its metadata records it (``colorspace``; an interop id
        or a name), or None when it records none. The engine checks, before anything is written, that the
        run's OCIO config has it. A node whose older checkpoints recorded a guess overrides this."""
        value = meta.get("colorspace")
        return str(value) if value else None

    @classmethod
    def default_model_for(cls, params: Mapping[str, Any]) -> str | None:
        """The shipped checkpoint for these (resolved) run params; a node whose default depends on a
        param (e.g. one model per up-res factor) overrides this. Defaults to ``default_model()``."""
        return cls.default_model()


def _jsonable(value: Any) -> Any:
    if isinstance(value, schema.Keys):
        return value.to_json()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def nodes_markdown(node_classes: Iterable[type[Node]]) -> str:
    """The node reference (docs/nodes.md), generated from the schema."""
    lines = ["# Node reference", "",
             "Generated by `filmai nodes --markdown` from the node schema; do not edit by hand.", ""]
    classes = sorted(node_classes, key=lambda c: c.id)
    for cls in classes:
        lines.append(f"- [`{cls.id}`](#{cls.id.replace('.', '')}) — {cls.label or cls.id}")
    lines.append("")
    for cls in classes:
        s = cls.schema()
        lines += [f"## {cls.id}", "", f"**{s['label']}** · family `{s['family']}` · version {s['version']} · "
                  f"scope `{s['scope']}`" + (" · trainable" if s["trainable"] else "")
                  + (f" · model {s['model']}" if s["model"] != "none" else ""), "", s["help"], ""]
        for title, ports in (("Inputs", s["inputs"]), ("Outputs", s["outputs"])):
            if ports:
                lines += [f"**{title}**", "", "| port | type | channels | help |", "|---|---|---|---|"]
                for p in ports:
                    lines.append(f"| `{p['name']}`{' (optional)' if p['optional'] else ''} | {p['type']} | "
                                 f"{', '.join(p['channels']) or 'any'} | {p['help']} |")
                lines.append("")
        for stage, title in (("run", "Parameters"), ("train", "Training parameters")):
            ps = [p for p in s["params"] if p["stage"] in (stage, "both")]
            if not ps:
                continue
            lines += [f"**{title}** (`--set name=value`)", "", "| name | type | default | range / choices | help |",
                      "|---|---|---|---|---|"]
            for p in ps:
                if p["type"] == "enum":
                    rng = " \\| ".join(p["choices"])
                elif p["min"] is not None or p["max"] is not None:
                    rng = f"{'' if p['min'] is None else p['min']} … {'' if p['max'] is None else p['max']}"
                else:
                    rng = ""
                lines.append(f"| `{p['name']}` | {p['type']}{' (animatable)' if p['animatable'] else ''} | "
                             f"`{p['default']}` | {rng} | {p['help']} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
