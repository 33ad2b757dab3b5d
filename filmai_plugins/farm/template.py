"""Open Job Description job templates for FilmAI nodes, generated from the node schema.

A job has up to three steps:

``Train``    (optional) ``filmai train`` writes the checkpoint the render step uses;
``Render``   ``filmai run ... --skip-existing`` per chunk of frames: a ``CHUNK[INT]`` task parameter
             (OpenJD's TASK_CHUNKING extension) so a worker renders a contiguous range per task;
             sequence-scope nodes (cut detection, video generation) run as one task;
``Publish``  (with ``--publish-root``) ``filmai publish --targets farm`` after every chunk succeeded.

Retrying a chunk is safe: outputs are written atomically and ``--skip-existing`` keeps exactly
the frames already made with the same node, params and model.

Job parameters follow the Deadline Cloud samples' conventions: an image sequence is a folder
(``PATH``, ``objectType: DIRECTORY``, ``dataFlow: IN``/``OUT``, a folder chooser) plus its file-name
pattern (``STRING``), so job attachments move the frames and path mapping rewrites the folder;
single files are ``objectType: FILE`` with file choosers. Node params become job parameters
(int/float → INT/FLOAT with the hard range, bool → a STRING check box, enum → a STRING drop-down,
string/colour → STRING, path → PATH), so a wrangler edits them in the submitter without touching
the template. Hidden ``CondaPackages``/``RezPackages`` parameters name the packages a queue
environment installs on the workers (this project and the node's pack).

Every value a user gives (paths, params, I/O options, names) travels as a job parameter value,
never inside a command's text: OpenJD expands ``{{...}}`` in commands but never in parameter
values, so ``--layer '{{Param.X}}'`` reaches ``filmai`` exactly as typed.

PATH defaults must lie inside the template's folder (OpenJD and Deadline Cloud refuse others), so
paths elsewhere are left out of the defaults and given as parameter values instead (``--values``,
the bundle's ``parameter_values.yaml``, or ``openjd run -p Name=value``).
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..atomic import atomic_open
from ..errors import BadInput
from ..frames.sequence import SequencePattern, parse_frames
from ..node import Node, Param
from ..schema import Keys
from .deps import require

SPEC_VERSION = "jobtemplate-2023-09"
EXTENSIONS = ["TASK_CHUNKING"]
PROGRESS_VARIABLES = {"FILMAI_FARM_PROGRESS": "openjd"}
# A farm's SIGTERM lets filmai finish the frames being written (atomic renames) before it stops.
CANCELATION = {"mode": "NOTIFY_THEN_TERMINATE", "notifyPeriodInSeconds": 30}
_MAX_DESCRIPTION = 2048
_MAX_LABEL = 64
_MAX_PARAM_VALUE = 1024  # OpenJD's limit on a job parameter's value


@dataclass
class FarmJob:
    """Everything a farm job needs, validated against the node's schema."""

    node: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    frames: list[int]
    chunk: int = 10
    params: dict[str, Any] = field(default_factory=dict)  # resolved run params
    model: str | None = None
    io: dict[str, Any] = field(default_factory=dict)
    train_frames: list[int] | None = None
    target: str | None = None
    train_params: dict[str, Any] = field(default_factory=dict)  # resolved train params
    publish_root: str | None = None
    project: str | None = None
    shot: str | None = None
    task: str | None = None
    publish_name: str | None = None
    colorspace: str | None = None  # for untagged frames at the publish step
    handles: tuple[int, int] = (0, 0)  # head and tail handles inside the frame range, for the publish record
    command: str = "filmai"
    gpus: int = 0
    conda_packages: str | None = None  # None: this project's and the node pack's distributions
    rez_packages: str | None = None

    node_cls: type[Node] | None = None  # the class the job was checked against

    @property
    def node_class(self) -> type[Node]:
        if self.node_cls is None:
            from ..app import default_app

            self.node_cls = default_app().get(self.node)
        return self.node_cls


def make_job(node: str, *, inputs: Mapping[str, str] | str | None, outputs: Mapping[str, str] | str | None,
             frames: str | list[int] | None, chunk: int = 10, params: Mapping[str, Any] | None = None,
             model: str | None = None, io: Mapping[str, Any] | None = None, train: str | list[int] | None = None,
             target: str | None = None, train_params: Mapping[str, Any] | None = None,
             publish_root: str | None = None, project: str | None = None, shot: str | None = None,
             task: str | None = None, publish_name: str | None = None, command: str = "filmai",
             gpus: int = 0, colorspace: str | None = None, handles: str | tuple[int, int] | None = None,
             conda_packages: str | None = None, rez_packages: str | None = None, app: Any = None) -> FarmJob:
    """Check a farm job against the node's schema (params, ports, frames) and make paths absolute."""
    from ..app import app_or_default
    from ..engine.context import IOOptions

    job_app = app_or_default(app)
    cls = job_app.get(node)

    def bind(given: Mapping[str, str] | str | None, ports: tuple, kind: str) -> dict[str, str]:
        if given is None or given == "":
            bound = {}
        elif isinstance(given, str):
            if not ports:
                raise BadInput(f"node {cls.id} has no {kind}")
            bound = {ports[0].name: given}
        else:
            bound = dict(given)
        names = [p.name for p in ports]
        unknown = set(bound) - set(names)
        if unknown:
            raise BadInput(f"node {cls.id}: unknown {kind} {', '.join(sorted(unknown))} (has: {', '.join(names)})")
        missing = [p.name for p in ports if not p.optional and p.name not in bound]
        if missing:
            raise BadInput(f"node {cls.id} needs {kind} {', '.join(missing)} (--{kind})")
        return {k: os.path.abspath(os.fspath(v)) for k, v in bound.items()}

    ins = bind(inputs, cls.inputs, "input")
    outs = bind(outputs, cls.outputs, "output")
    frame_list = sorted(parse_frames(frames)) if frames not in (None, "") else []
    if cls.scope == "frame" and not frame_list:
        raise BadInput(f"node {cls.id}: a farm job needs --frames")
    if chunk < 1:
        raise BadInput(f"--chunk must be at least 1, got {chunk}")
    if cls.scope == "frame" and not any(SequencePattern(p).is_sequence for p in outs.values()):
        raise BadInput(f"node {cls.id}: the output must be an image sequence (name.####.exr) to render in chunks")
    resolved = cls.resolve_params(params, "run")
    io_opts = IOOptions.from_mapping(dict(io or {}))
    if train not in (None, "", []):
        if not cls.trainable:
            raise BadInput(f"node {cls.id} is not trainable (--train)")
        if not model:
            raise BadInput("--train needs --model PATH: where the training step writes the checkpoint the render uses")
        train_frames = sorted(parse_frames(train))
        resolved_train = cls.resolve_params(train_params, "train")
    else:
        if train_params:
            raise BadInput("--train-set needs --train FRAMES")
        train_frames, resolved_train = None, {}
        if cls.model == "required" and not model and not cls.default_model():
            raise BadInput(f"node {cls.id} needs a model: --model FILE (or --train to make one)")
    project = project or os.environ.get("FILMAI_PROJECT")
    shot = shot or os.environ.get("FILMAI_SHOT")
    task = task or os.environ.get("FILMAI_TASK")
    handle_pair = (0, 0)
    if publish_root:
        _check_publish_names(project, shot, task, publish_name)
        if colorspace:
            job_app.colour().resolve(colorspace)  # an unknown name fails now, not after rendering
        from ..publish.lib import parse_handles

        handle_pair = parse_handles(handles, frame_list)
    elif colorspace or publish_name or handles not in (None, "", (0, 0)):
        raise BadInput("--colorspace, --name and --handles are for the publish step: give --publish-root")
    if gpus < 0:
        raise BadInput("--gpus must be 0 or more")
    return FarmJob(node=cls.id, node_cls=cls, inputs=ins, outputs=outs, frames=frame_list, chunk=chunk, params=resolved,
                   model=os.path.abspath(model) if model else None,
                   io={k: v for k, v in io_opts.to_json().items() if k in (io or {})},
                   train_frames=train_frames, target=os.path.abspath(target) if target else None,
                   train_params=resolved_train, publish_root=os.path.abspath(publish_root) if publish_root else None,
                   project=project, shot=shot, task=task, publish_name=publish_name, command=command, gpus=gpus,
                   colorspace=colorspace or None, handles=handle_pair, conda_packages=conda_packages,
                   rez_packages=rez_packages)


def _check_publish_names(project: str | None, shot: str | None, task: str | None, name: str | None) -> None:
    """The publish step's names, checked when the template is made (the same rules as ``filmai publish``),
    so a bad name never waits until every frame has rendered."""
    from ..publish.lib import NAME_RE, TOKEN_RE, sanitize_name

    problems = []
    for flag, env, value in (("--project", "FILMAI_PROJECT", project), ("--shot", "FILMAI_SHOT", shot),
                             ("--task", "FILMAI_TASK", task)):
        if not value:
            problems.append(f"--publish-root needs {flag} (or {env})")
        elif not TOKEN_RE.match(value):
            problems.append(f"{flag} {value!r} is not a plain name (letters, digits, '_' and '-'; it becomes a "
                            "folder of the publish area)")
    if name and not NAME_RE.match(name):
        problems.append(f"--name {name!r} breaks the naming convention (a letter, then letters, digits and '_'); "
                        f"nearest valid name: {sanitize_name(name)!r}")
    if problems:
        raise BadInput("; ".join(problems))


# ----- job parameters ------------------------------------------------------------------------------


def param_job_name(param: Param, prefix: str) -> str:
    """``data_window`` → ``NodeDataWindow`` (OpenJD names: letters, digits, ``_``; 64 at most)."""
    return (prefix + "".join(w[:1].upper() + w[1:] for w in param.name.split("_")))[:64]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(_text(v) for v in value)
    return "" if value is None else str(value)


def _number(value: float, integer: bool) -> int | float:
    return int(value) if integer else float(value)


def param_definition(param: Param, value: Any, prefix: str, group: str) -> dict[str, Any]:
    """One node param as an OpenJD job parameter definition with ``value`` as its default."""
    ui: dict[str, Any] = {"label": param.display_label[:_MAX_LABEL], "groupLabel": group}
    out: dict[str, Any] = {"name": param_job_name(param, prefix)}
    if param.help:
        out["description"] = param.help[:_MAX_DESCRIPTION]
    kind = param.type
    if isinstance(value, Keys):  # an animated param: its keys as the --set text ("1001:0,1100:1")
        out.update(type="STRING", default=value.to_text(param.to_json()))
        ui["control"] = "LINE_EDIT"
    elif kind in ("int", "float"):
        integer = kind == "int"
        out["type"] = "INT" if integer else "FLOAT"
        if param.min is not None:
            out["minValue"] = _number(param.min, integer)
        if param.max is not None:
            out["maxValue"] = _number(param.max, integer)
        out["default"] = _number(value, integer)
        ui["control"] = "SPIN_BOX"
    elif kind == "bool":
        out.update(type="STRING", allowedValues=["true", "false"], default=_text(value))
        ui["control"] = "CHECK_BOX"
    elif kind == "enum":
        out.update(type="STRING", allowedValues=list(param.choices), default=str(value))
        ui["control"] = "DROPDOWN_LIST"
    elif kind == "path":
        out["type"] = "PATH"
        if param.path_kind == "directory":
            out.update(objectType="DIRECTORY", dataFlow="IN")
            ui["control"] = "CHOOSE_DIRECTORY"
        elif param.path_kind == "save":
            out.update(objectType="FILE", dataFlow="OUT")
            ui["control"] = "CHOOSE_OUTPUT_FILE"
        else:
            out.update(objectType="FILE", dataFlow="IN")
            ui["control"] = "CHOOSE_INPUT_FILE"
        out["default"] = _text(value)
    else:  # string, color
        out.update(type="STRING", default=_text(value))
        ui["control"] = "LINE_EDIT"
    out["userInterface"] = ui
    return out


def _inside(path: str, folder: str) -> str | None:
    """``path`` relative to ``folder`` when it lies inside it (OpenJD's rule for PATH defaults)."""
    try:
        rel = os.path.relpath(path, folder)
    except ValueError:  # another drive on Windows
        return None
    return None if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel) else rel


def _openjd_frames(frames: list[int]) -> str:
    IntRangeExpr = require("openjd.model", "a farm job template").IntRangeExpr
    return str(IntRangeExpr.from_list(sorted(frames)))


class _Builder:
    """Collects parameter definitions and their values while the steps are written."""

    def __init__(self, template_dir: str | None):
        # None: where the template will live is unknown (printed to stdout), so no PATH has a default
        self.template_dir = os.path.abspath(template_dir) if template_dir else None
        self.definitions: list[dict[str, Any]] = []
        self.values: dict[str, str] = {}

    def add(self, definition: dict[str, Any], value: Any) -> str:
        name = definition["name"]
        if any(d["name"] == name for d in self.definitions):
            raise BadInput(f"two job parameters would be called {name}")
        if definition["type"] == "PATH":
            text = _text(value)
            if text and os.path.isabs(text):
                rel = _inside(text, self.template_dir) if self.template_dir else None
                if rel is None:
                    definition.pop("default", None)  # given as a parameter value instead
                else:
                    definition["default"] = rel
            self.values[name] = text
        else:
            self.values[name] = _text(value)
        self.definitions.append(definition)
        return "{{Param.%s}}" % name

    def path(self, name: str, value: str | None, label: str, help: str, *, kind: str = "FILE",
             flow: str = "IN", control: str | None = None, group: str = "Files") -> str:
        if control is None:
            control = ("CHOOSE_DIRECTORY" if kind == "DIRECTORY" else
                       "CHOOSE_OUTPUT_FILE" if flow == "OUT" else "CHOOSE_INPUT_FILE")
        d: dict[str, Any] = {"name": name, "type": "PATH", "objectType": kind, "dataFlow": flow,
                             "description": help, "default": value or "",
                             "userInterface": {"control": control, "label": label[:_MAX_LABEL], "groupLabel": group}}
        return self.add(d, value or "")

    def sequence(self, base: str, pattern: str, label: str, help: str, flow: str) -> str:
        """An image sequence as its folder (PATH, DIRECTORY) and file-name pattern (STRING), joined in
        the command: job attachments and path mapping work on the folder, the pattern stays as typed."""
        folder, name = os.path.split(pattern)
        d = self.path(f"{base}Dir", folder, f"{label} folder",
                      f"folder of the {help}", kind="DIRECTORY", flow=flow)
        f = self.string(f"{base}File", name, f"{label} file name",
                        f"file names of the {help}: a pattern such as plate.####.exr", group="Files")
        return f"{d}/{f}"

    def hidden(self, name: str, value: str, help: str) -> str:
        return self.add({"name": name, "type": "STRING", "description": help, "default": value,
                         "userInterface": {"control": "HIDDEN"}}, value)

    def string(self, name: str, value: str, label: str, help: str, group: str = "Job") -> str:
        return self.add({"name": name, "type": "STRING", "description": help, "default": value,
                         "userInterface": {"label": label, "groupLabel": group, "control": "LINE_EDIT"}}, value)


def _port_param(kind: str, port: str, first: bool) -> str:
    base = "Input" if kind == "input" else "Output"
    return base if first else base + re.sub(r"[^A-Za-z0-9]", "", port.title())


def build_template(job: FarmJob, template_dir: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The OpenJD job template for ``job`` and the value of every job parameter (absolute paths).

    ``template_dir`` is where the template will be saved: PATH defaults inside it are written
    relative to it; other paths (all of them when ``template_dir`` is None) appear only in the
    returned values.
    """
    cls = job.node_class
    b = _Builder(template_dir)
    cmd = b.string("FilmAICommand", job.command, "filmai command",
                   "the filmai executable on the workers (a name on PATH or a full path)", group="Workers")
    frames_ref = b.string("Frames", _openjd_frames(job.frames) if job.frames else "", "Frames",
                          "frames to render, as an OpenJD range expression (1001-1100, 1001-1099:2)", group="Frames")
    chunk_ref = "{{Param.ChunkSize}}"
    if cls.scope == "frame":
        b.add({"name": "ChunkSize", "type": "INT", "minValue": 1, "default": job.chunk,
               "description": "frames per task: each task renders one contiguous chunk",
               "userInterface": {"label": "Frames per task", "groupLabel": "Frames", "control": "SPIN_BOX"}},
              job.chunk)
    def port_ref(kind: str, port: Any, value: str, first: bool) -> str:
        base = _port_param(kind, port.name, first)
        label = ("Input" if kind == "input" else "Output") + ("" if port.name == kind else f" {port.name}")
        what = f"{port.help or port.name}"
        flow = "IN" if kind == "input" else "OUT"
        if SequencePattern(value).is_sequence:
            return b.sequence(base, value, label, f"{kind} sequence ({what})", flow)
        return b.path(base, value, label, f"{kind} file ({what})", flow=flow)

    input_args: list[str] = []
    for i, port in enumerate(p for p in cls.inputs if p.name in job.inputs):
        input_args += ["--input", f"{port.name}={port_ref('input', port, job.inputs[port.name], i == 0)}"]
    output_args: list[str] = []
    output_refs: list[str] = []
    for i, port in enumerate(p for p in cls.outputs if p.name in job.outputs):
        ref = port_ref("output", port, job.outputs[port.name], i == 0)
        output_args += ["--output", f"{port.name}={ref}"]
        output_refs.append(ref)
    model_ref = None
    if job.model:
        trained = job.train_frames is not None
        model_ref = b.path("Model", job.model, "Model checkpoint",
                           "checkpoint the training step writes and the render step uses" if trained else
                           "model checkpoint (FilmAI checkpoint, TorchScript or ONNX file)",
                           flow="OUT" if trained else "IN",
                           control="CHOOSE_OUTPUT_FILE" if trained else "CHOOSE_INPUT_FILE")
    set_args: list[str] = []
    for p in cls.params:
        if p.stage in ("run", "both") and p.name in job.params:
            value = job.params[p.name]
            keys = value.to_text(p.to_json()) if isinstance(value, Keys) else None  # "1001:0,1100:1"
            if keys is not None and len(keys) > _MAX_PARAM_VALUE:
                # a DCC curve sampled at every frame (hosts send keys per frame where it eases): too long
                # for a job parameter, so it goes into the command itself (digits and separators only)
                set_args += ["--set", f"{p.name}={keys}"]
                continue
            ref = b.add(param_definition(p, value, "Node", f"{cls.id} parameters"[:64]),
                        keys if keys is not None else value)
            set_args += ["--set", f"{p.name}={ref}"]
    from ..engine.context import IO_OPTIONS

    io_args: list[str] = []
    for option in IO_OPTIONS:
        if option.name in job.io:  # as a parameter value: OpenJD never expands it
            ref = b.add(param_definition(option, job.io[option.name], "IO", "I/O options"), job.io[option.name])
            io_args += ["--" + option.name.replace("_", "-"), ref]
    conda, rez = _worker_packages(cls)
    b.hidden("CondaPackages", conda if job.conda_packages is None else job.conda_packages,
             "space-separated conda match specifications a queue environment installs on the workers "
             "(this project and the node's pack); empty: the workers' own installation")
    b.hidden("RezPackages", rez if job.rez_packages is None else job.rez_packages,
             "space-separated rez package requests a queue environment resolves on the workers; "
             "empty: the workers' own installation")

    steps: list[dict[str, Any]] = []
    host_requirements = ({"amounts": [{"name": "amount.worker.gpu", "min": job.gpus}]} if job.gpus else None)
    if job.train_frames is not None:
        train_set: list[str] = []
        for p in cls.params:
            if p.stage in ("train", "both") and p.name in job.train_params:
                if p.stage == "both" and p.name in job.params:
                    ref = "{{Param.%s}}" % param_job_name(p, "Node")
                else:
                    ref = b.add(param_definition(p, job.train_params[p.name], "Train", "Training parameters"),
                                job.train_params[p.name])
                train_set += ["--set", f"{p.name}={ref}"]
        train_frames = b.string("TrainFrames", ",".join(str(f) for f in job.train_frames), "Training frames",
                                "frames to learn from (FilmAI frame spec: 1001,1050 or 1001-1010)", group="Training")
        target_args = []
        if job.target:
            help_text = "training target (what the input should become, on the training frames)"
            target_args = ["--target", b.sequence("Target", job.target, "Training target", help_text, "IN")
                           if SequencePattern(job.target).is_sequence else
                           b.path("Target", job.target, "Training target", help_text)]
        train = {"name": "Train", "description": f"filmai train {cls.id}: writes the checkpoint the render step uses",
                 "stepEnvironments": [{"name": "FilmAIProgress", "variables": dict(PROGRESS_VARIABLES)}],
                 "script": {"actions": {"onRun": {
                     "command": cmd,
                     "args": ["train", cls.id, *input_args, *target_args, "--frames", train_frames,
                              "--out", model_ref, "--progress", "none", *train_set, *io_args],
                     "cancelation": dict(CANCELATION)}}}}
        if host_requirements:
            train["hostRequirements"] = host_requirements
        steps.append(train)

    run_args = ["run", cls.id, *input_args, *output_args, "--skip-existing", "--progress", "none", *set_args, *io_args]
    if model_ref:
        run_args += ["--model", model_ref]
    render: dict[str, Any] = {"name": "Render", "stepEnvironments": [
        {"name": "FilmAIProgress", "variables": dict(PROGRESS_VARIABLES)}]}
    if cls.scope == "frame":
        render["description"] = f"filmai run {cls.id} --skip-existing, one contiguous chunk of frames per task"
        render["parameterSpace"] = {"taskParameterDefinitions": [
            {"name": "Frame", "type": "CHUNK[INT]", "range": frames_ref,
             "chunks": {"defaultTaskCount": chunk_ref, "rangeConstraint": "CONTIGUOUS"}}]}
        run_args += ["--frames", "{{Task.Param.Frame}}"]
    else:
        render["description"] = f"filmai run {cls.id} (a sequence node: the whole range in one task)"
        if job.frames:
            run_args += ["--frames", frames_ref]
    render["script"] = {"actions": {"onRun": {"command": cmd, "args": run_args, "cancelation": dict(CANCELATION)}}}
    if job.train_frames is not None:
        render["dependencies"] = [{"dependsOn": "Train"}]
    if host_requirements:
        render["hostRequirements"] = host_requirements
    steps.append(render)

    if job.publish_root:
        # NONE: a publish area is shared storage the workers see (a storage profile), never an attachment
        root = b.path("PublishRoot", job.publish_root, "Publish root", "the publish area's root folder (on "
                      "storage every worker shares: new versions are numbered from what is there)",
                      kind="DIRECTORY", flow="NONE", group="Publish")
        names = [b.string(n, v or "", n, f"publish {n.lower()}", group="Publish")
                 for n, v in (("Project", job.project), ("Shot", job.shot), ("Task", job.task))]
        publish_args = ["publish", *output_refs]
        if model_ref and job.train_frames is not None:
            publish_args.append(model_ref)
        publish_args += ["--targets", "farm", "--root", root, "--project", names[0], "--shot", names[1],
                         "--task", names[2]]
        if cls.scope == "frame":
            publish_args += ["--frames", frames_ref]
        if job.publish_name:
            publish_args += ["--name", b.string("PublishName", job.publish_name, "Publish name",
                                                "name of the published render", group="Publish")]
        publish_args += ["--colorspace", b.string(
            "PublishColorspace", job.colorspace or "", "Colourspace of untagged frames",
            "recorded for frames whose header names no colourspace (empty: every frame must be tagged)",
            group="Publish")]
        publish_args += ["--handles", b.string(
            "PublishHandles", f"{job.handles[0]},{job.handles[1]}", "Handles (head,tail)",
            "frames at the head and tail of the range that are handles, outside the cut", group="Publish")]
        steps.append({"name": "Publish", "description": "filmai publish --targets farm, after every task succeeded",
                      "dependencies": [{"dependsOn": "Render"}],
                      "script": {"actions": {"onRun": {"command": cmd, "args": publish_args}}}})

    stem = SequencePattern(next(iter(job.outputs.values()))).stem if job.outputs else cls.id
    template = {
        "specificationVersion": SPEC_VERSION,
        "extensions": list(EXTENSIONS),
        # the job name is a format string: nothing a user typed may bring "{{" into it
        "name": _no_format(f"FilmAI {cls.id} {stem}")[:128],
        "description": (f"{cls.label or cls.id} ({cls.id} {cls.version}), generated by filmai farm template. "
                        "Tasks are safe to retry: outputs are atomic and --skip-existing keeps finished "
                        "frames.")[:_MAX_DESCRIPTION],
        "parameterDefinitions": b.definitions,
        "steps": steps,
    }
    validate_template(template)
    return template, b.values


def _no_format(text: str) -> str:
    return re.sub(r"[{}]+", "_", text)


def _worker_packages(cls: type[Node]) -> tuple[str, str]:
    """Conda and rez requests for this project and the distribution that ships the node's pack."""
    import importlib.metadata as md

    from .._version import __version__

    found = {"filmai-plugins": __version__}
    top = cls.__module__.split(".")[0]
    for dist in md.packages_distributions().get(top, []):
        try:
            found.setdefault(dist, md.version(dist))
        except md.PackageNotFoundError:
            continue
    conda = " ".join(f"{name.lower()}={version}" for name, version in found.items())
    rez = " ".join(f"{re.sub(r'[^A-Za-z0-9_]', '_', name)}-{version}" for name, version in found.items())
    return conda, rez


def validate_template(template: dict[str, Any]) -> Any:
    """Decode with openjd-model (what ``openjd check`` does); a bad template is a bug, said clearly."""
    openjd_model = require("openjd.model", "a farm job template")
    DecodeValidationError, decode_job_template = openjd_model.DecodeValidationError, openjd_model.decode_job_template
    try:
        return decode_job_template(template=template, supported_extensions=EXTENSIONS)
    except DecodeValidationError as exc:
        raise BadInput(f"generated job template does not validate: {exc}") from None


def to_yaml(data: Any) -> str:
    yaml = require("yaml", "a farm job template in YAML")

    return yaml.safe_dump(data, sort_keys=False, width=120, allow_unicode=True)


def to_json(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_values(path: str, values: Mapping[str, str]) -> str:
    """Parameter values for ``openjd run -p file://PATH``: JSON for ``.json``, YAML for ``.yaml``/``.yml``
    (``openjd`` reads the file by its extension)."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".json":
        text = to_json(dict(values))
    elif ext in (".yaml", ".yml"):
        text = to_yaml(dict(values))
    else:
        raise BadInput(f"--values {path}: name it .json or .yaml (openjd reads the file by its extension)")
    with atomic_open(path) as f:
        f.write(text)
    return path


def write_template(path: str, template: dict[str, Any]) -> str:
    """The template as YAML, or JSON for a ``.json`` name."""
    text = to_json(template) if path.lower().endswith(".json") else to_yaml(template)
    with atomic_open(path) as f:
        f.write(text)
    return path


def openjd_run_hint(template_path: str, values: Mapping[str, str], template: dict[str, Any]) -> str:
    """The ``openjd run`` command line for parameters that have no default in the template."""
    defaults = {d["name"] for d in template["parameterDefinitions"] if "default" in d}
    missing = [f"-p {shlex.quote(f'{k}={v}')}" for k, v in values.items() if k not in defaults]
    return " ".join(["openjd run", shlex.quote(template_path), *missing])


def write_bundle(folder: str, template: dict[str, Any], values: Mapping[str, str]) -> list[str]:
    """A Deadline Cloud job bundle: template.yaml, parameter_values.yaml (every value, absolute paths)
    and asset_references.yaml (input folders to upload, output folders to download)."""
    os.makedirs(folder, exist_ok=True)
    in_dirs, in_files, out_dirs = set(), set(), set()
    for d in template["parameterDefinitions"]:
        value = values.get(d["name"])
        if d["type"] != "PATH" or not value:
            continue
        flow, is_dir = d.get("dataFlow", "NONE"), d.get("objectType") == "DIRECTORY"
        if flow in ("IN", "INOUT"):
            (in_dirs if is_dir else in_files).add(value)
        if flow in ("OUT", "INOUT"):
            out_dirs.add(value if is_dir else os.path.dirname(value))
    files = {
        "template.yaml": to_yaml(template),
        "parameter_values.yaml": to_yaml({"parameterValues": [{"name": k, "value": v} for k, v in values.items()]}),
        "asset_references.yaml": to_yaml({"assetReferences": {
            "inputs": {"directories": sorted(in_dirs), "filenames": sorted(in_files)},
            "outputs": {"directories": sorted(out_dirs)}, "referencedPaths": []}}),
    }
    written = []
    for name, text in files.items():
        path = os.path.join(folder, name)
        with atomic_open(path) as f:
            f.write(text)
        written.append(path)
    return written
