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
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Literal, Mapping

from .errors import ParamError, RegistryError

if TYPE_CHECKING:  # pragma: no cover
    from .engine.context import RunContext, TrainContext
    from .frames.image import Frame

ParamType = Literal["int", "float", "bool", "enum", "string", "path", "color"]
PortType = Literal["Frames", "Timeline", "Table", "Model"]
Scope = Literal["frame", "sequence"]
Stage = Literal["run", "train", "both"]

PARAM_TYPES = ("int", "float", "bool", "enum", "string", "path", "color")
PORT_TYPES = ("Frames", "Timeline", "Table", "Model")
NODE_ID_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
PARAM_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TRUE = {"1", "true", "yes", "on"}
# Keyword arguments of filmai_plugins.run()/train() and engine I/O options; a param may not shadow them.
RESERVED_PARAM_NAMES = frozenset({"input", "output", "target", "out", "frames", "model", "device", "progress",
                                  "skip_existing", "io", "on_event", "cancel", "nproc", "part", "layer",
                                  "compression", "pixel_type", "tile_size", "nonfinite", "manifest"})
_FALSE = {"0", "false", "no", "off"}


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
        if self.default is not None:
            object.__setattr__(self, "default", self.parse(self.default))

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def parse(self, value: Any) -> Any:
        """Turn a CLI string or a Python value into this param's type, enforcing the hard range."""
        kind = self.type
        try:
            if kind == "int":
                if isinstance(value, bool):
                    raise ValueError("a bool is not an int")
                if isinstance(value, str):
                    value = float(value.strip()) if re.fullmatch(r"\s*[+-]?\d+\.0*\s*", value) else int(value.strip())
                if isinstance(value, float):
                    if not value.is_integer():
                        raise ValueError(f"{value} is not a whole number")
                    out = int(value)
                else:
                    out = int(value)
            elif kind == "float":
                if isinstance(value, bool):
                    raise ValueError("a bool is not a number")
                out = float(value)
                if not math.isfinite(out):
                    raise ValueError("must be finite")
            elif kind == "bool":
                if isinstance(value, bool):
                    out = value
                elif isinstance(value, (int, float)) and value in (0, 1):
                    out = bool(value)
                elif isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                    out = value.strip().lower() in _TRUE
                else:
                    raise ValueError("expected true/false")
            elif kind == "enum":
                out = str(value)
                if out not in self.choices:
                    raise ValueError(f"expected one of {', '.join(self.choices)}")
            elif kind in ("string", "path"):
                out = "" if value is None else str(value)
            elif kind == "color":
                if isinstance(value, str):
                    parts = [p for p in re.split(r"[,\s]+", value.strip()) if p]
                else:
                    parts = list(value)
                comps = [float(p) for p in parts]
                if len(comps) == 1:
                    comps = comps * self.size
                if len(comps) != self.size:
                    raise ValueError(f"expected {self.size} components")
                if not all(math.isfinite(c) for c in comps):
                    raise ValueError("components must be finite")
                out = tuple(comps)
            else:  # pragma: no cover - guarded in __post_init__
                raise ValueError(f"unknown type {kind}")
        except (TypeError, ValueError) as exc:
            raise ParamError(f"param {self.name!r}: invalid {kind} value {value!r}: {exc}") from None
        if kind in ("int", "float"):
            if self.min is not None and out < self.min:
                raise ParamError(f"param {self.name!r}: {out} is below the minimum {self.min}")
            if self.max is not None and out > self.max:
                raise ParamError(f"param {self.name!r}: {out} is above the maximum {self.max}")
        return out

    def to_json(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "type": self.type,
            "default": list(self.default) if isinstance(self.default, tuple) else self.default,
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
    """A typed input or output. ``channels`` names the channels a Frames port expects (empty: any)."""

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
        return out

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
        self.params = self.resolve_params(params, "run")

    def setup(self, ctx: "RunContext") -> None:
        """Called once before the first frame: load the model, move it to ``ctx.device``."""

    def input_channels(self, port: str) -> list[str] | None:
        """Channels the engine should read for an input port (None: every channel of the part/layer)."""
        return None

    def process(self, frame: "Frame", ctx: "RunContext") -> "Frame":
        """Frame scope: return the output frame for one input frame."""
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
    def default_model_for(cls, params: Mapping[str, Any]) -> str | None:
        """The shipped checkpoint for these (resolved) run params; a node whose default depends on a
        param (e.g. one model per up-res factor) overrides this. Defaults to ``default_model()``."""
        return cls.default_model()


def _jsonable(value: Any) -> Any:
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
