"""Nodes → Nuke Groups, Process → temporary EXR Write + the worker, results → an internal Read.

Each FilmAI node becomes a Group (gizmo-like): one input pipe per image input (plus ``target`` for
trainable nodes), knobs generated from the node's params (ranges, enums, files, colours), an I/O tab
from the engine's I/O options, a Training tab for trainable nodes and a Farm tab. Inside: the inputs
pass through a Switch until Process has run, then an internal Read shows the results.

Process renders each input through a temporary Write to a lossless EXR sequence (Nuke's pixels never
go through Python), runs the node over the frame range in the headless host with a ProgressTask whose
cancel stops the worker (complete frames kept, no partial ones), and points the Read at the results.
In terminal mode (``nuke -t``, farms) the same steps run synchronously.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from typing import Any, Dict, List, NoReturn, Optional

import nuke

from . import worker

MENU = "FilmAI"
ID_KNOB = "filmai_node"
JOB_KNOB = "filmai_job"
DEVICES = ["auto", "cpu", "cuda", "mps"]
POLL_SECONDS = 0.1
# Knobs every Nuke Group already has, and the adapter's own: a param with one of these names gets a p_ prefix.
NUKE_RESERVED = {"name", "label", "help", "selected", "xpos", "ypos", "tile_color", "gl_color", "note_font",
                 "note_font_size", "note_font_color", "hide_input", "cached", "disable", "dope_sheet", "bookmark",
                 "postage_stamp", "postage_stamp_frame", "lifetimeStart", "lifetimeEnd", "useLifetime",
                 "lock_connections", "icon", "indicators", "knobChanged", "onCreate", "onDestroy", "updateUI",
                 "autolabel", "panel", "mapsize", "window", "file_menu", "process_mask", "help_url"}
OWN_KNOBS = {ID_KNOB, JOB_KNOB, "filmai", "filmai_help", "frames", "output_dir", "model", "device", "process",
             "status", "summary", "timeline", "write_edl", "write_csv", "pair_frames", "add_frame", "checkpoint",
             "continue_from_model", "train", "chunk", "farm_job", "write_farm_job", "farm_help", "io", "training",
             "farm"}

_schema: Optional[Dict[str, Any]] = None


class JobFailed(RuntimeError):
    """A job could not start (bad input: exit code 2) or failed while running (the worker's exit code)."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


# ----- schema ---------------------------------------------------------------------------------------


def config() -> worker.WorkerConfig:
    """Where nodes run: FILMAI_PYTHON, FILMAI_WORKER_MODE, FILMAI_DEVICE, FILMAI_WORKER_ENV."""
    return worker.WorkerConfig.from_env()


def _cache_path() -> str:
    base = os.environ.get("FILMAI_NUKE_CACHE") or os.path.join(os.path.expanduser("~"), ".nuke", "filmai")
    return os.path.join(base, "nodes.json")


def schema(refresh: bool = False) -> Dict[str, Any]:
    """The node list from where nodes run, cached per worker setting (refreshed by FilmAI > Reload nodes)."""
    global _schema
    cfg = config()
    key = json.dumps([cfg.python, cfg.mode, sorted(cfg.env.items())])
    if _schema is not None and not refresh and _schema.get("_key") == key:
        return _schema
    path = _cache_path()
    if not refresh and os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as f:
                cached = json.load(f)
            if cached.get("_key") == key:
                _schema = cached
                return _schema
        except (OSError, ValueError):
            pass
    data = worker.query_schema(cfg)
    data["_key"] = key
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)
    _schema = data
    return data


def node_schema(group) -> Dict[str, Any]:
    knob = group.knob(ID_KNOB)
    if knob is None:
        raise RuntimeError(f"{group.name()} is not a FilmAI node")
    return worker.find_node(schema(), knob.value())


def knob_name(param: Dict[str, Any]) -> str:
    name = param["name"]
    return f"p_{name}" if name in NUKE_RESERVED or name in OWN_KNOBS or name.startswith(("in_", "io_")) else name


# ----- startup --------------------------------------------------------------------------------------


def install() -> None:
    """init.py: callbacks only (every session, GUI or not)."""
    nuke.addKnobChanged(knob_changed, nodeClass="Group")


def build_menu() -> None:
    """menu.py: Nodes > FilmAI > <family> > <node>, plus Reload nodes."""
    menu = nuke.menu("Nodes").addMenu(MENU)
    try:
        nodes = schema()["nodes"]
    except worker.WorkerError as exc:
        nuke.tprint(f"FilmAI: {exc}")
        menu.addCommand("Worker not configured (set FILMAI_PYTHON)",
                        f"nuke.message({str(exc)!r})")
        nodes = []
    for node in sorted(nodes, key=lambda n: (n["family"], n["label"])):
        label = node["label"].replace("/", "-")
        menu.addCommand(f"{node['family'].upper()}/{label}", f"import filmai_nuke; filmai_nuke.create({node['id']!r})")
    menu.addCommand("Reload nodes", "import filmai_nuke; filmai_nuke.reload_nodes()")


def reload_nodes() -> None:
    schema(refresh=True)
    menu = nuke.menu("Nodes").findItem(MENU)
    if menu is not None:
        menu.clearMenu()
    build_menu()


# ----- creating a node ------------------------------------------------------------------------------


def create(node_id: str):
    """A new FilmAI Group for ``node_id``, connected to the selection like any Nuke node."""
    node = worker.find_node(schema(), node_id)
    group = nuke.createNode("Group", inpanel=False)
    group.setName(f"{worker.node_slug(node_id)}_1", uniquify=True)
    _build_internals(group, node)
    _add_knobs(group, node)
    return group


def _build_internals(group, node: Dict[str, Any]) -> None:
    group.begin()
    try:
        pipes = [nuke.nodes.Input(name=p["name"]) for p in worker.frame_ports(node["inputs"])]
        if node.get("trainable") and not _has_target_port(node):
            nuke.nodes.Input(name="target")
        last = pipes[0] if pipes else None
        if any(p["type"] == "Frames" for p in node["outputs"]):
            read = nuke.nodes.Read(name="result")
            switch = nuke.nodes.Switch(name="show_result")
            if last is not None:
                switch.setInput(0, last)
            switch.setInput(1, read)
            switch["which"].setValue(0 if last is not None else 1)
            last = switch
        output = nuke.nodes.Output()
        if last is not None:
            output.setInput(0, last)
    finally:
        group.end()


def param_knob(p: Dict[str, Any], name: str = ""):
    """One schema param as a knob. setRange only sets the slider: hard limits are enforced in knob_changed
    and again before a job starts (check_value), and by the engine."""
    name, label, kind = name or knob_name(p), p.get("label") or p["name"], p["type"]
    if kind == "int":
        knob = nuke.Int_Knob(name, label)
    elif kind == "float":
        knob = nuke.Double_Knob(name, label)
    elif kind == "bool":
        knob = nuke.Boolean_Knob(name, label)
    elif kind == "enum":
        knob = nuke.Enumeration_Knob(name, label, list(p["choices"]))
    elif kind == "path":
        knob = nuke.File_Knob(name, label)
    elif kind == "color":
        knob = nuke.AColor_Knob(name, label) if int(p.get("size", 3)) == 4 else nuke.Color_Knob(name, label)
    else:
        knob = nuke.String_Knob(name, label)
    if kind in ("int", "float"):
        lo = p.get("soft_min") if p.get("soft_min") is not None else p.get("min")
        hi = p.get("soft_max") if p.get("soft_max") is not None else p.get("max")
        if lo is not None and hi is not None:
            knob.setRange(lo, hi)
    default = p.get("default")
    if default is not None:
        if kind == "color":
            for i, c in enumerate(default):
                knob.setValue(float(c), i)
        else:
            knob.setValue(default)
    hard = ""
    if kind in ("int", "float") and (p.get("min") is not None or p.get("max") is not None):
        hard = f" [{'' if p.get('min') is None else p['min']} … {'' if p.get('max') is None else p['max']}]"
    knob.setTooltip((p.get("help") or "") + hard)
    if not p.get("animatable") and kind in ("int", "float", "color"):
        knob.setFlag(nuke.NO_ANIMATION)
    return knob


def _button(name: str, label: str, call: str):
    knob = nuke.PyScript_Knob(name, label, f"import filmai_nuke; filmai_nuke.{call}(nuke.thisNode())")
    knob.setFlag(nuke.STARTLINE)
    return knob


def _add_knobs(group, node: Dict[str, Any]) -> None:
    add = group.addKnob
    add(nuke.Tab_Knob("filmai", "FilmAI"))
    for name, value in ((ID_KNOB, node["id"]), (JOB_KNOB, "")):
        knob = nuke.String_Knob(name, name)
        knob.setValue(value)
        knob.setFlag(nuke.INVISIBLE)
        add(knob)
    first_help = (node.get("help") or "").strip().split("\n\n")[0].replace("\n", " ")
    add(nuke.Text_Knob("filmai_help", "", f"<b>{node['label']}</b> ({node['id']} {node['version']})<br>{first_help}"))
    for port in node["inputs"]:
        if port["type"] != "Frames":
            knob = nuke.File_Knob(f"in_{port['name']}", port["name"])
            knob.setTooltip(f"{port['type']}: {port.get('help', '')}")
            add(knob)
    if node.get("model", "none") != "none":
        knob = nuke.File_Knob("model", "model")
        knob.setTooltip("checkpoint" + (" (empty: the node's shipped model)" if node["model"] == "optional" else ""))
        add(knob)
    for p in worker.params_for(node, "run"):
        add(param_knob(p))
    knob = nuke.String_Knob("frames", "frames")
    knob.setTooltip("1001-1100, 1001-1100x2 or 1,5,9-12; empty: the input's frame range")
    add(knob)
    knob = nuke.File_Knob("output_dir", "output folder")
    knob.setTooltip("empty: a 'filmai' folder next to the script; each Process writes a new version folder")
    add(knob)
    add(nuke.Enumeration_Knob("device", "device", DEVICES))
    add(_button("process", "Process", "process"))
    add(nuke.Text_Knob("status", "status", "not processed"))
    if any(p["type"] == "Timeline" for p in node["outputs"]):
        add(nuke.File_Knob("timeline", "timeline"))
        add(_button("write_edl", "Write EDL", "write_timeline"))
        add(nuke.Text_Knob("summary", "shots", ""))
    if any(p["type"] == "Frames" for p in node["inputs"]):
        add(nuke.Tab_Knob("io", "I/O"))
        for p in schema().get("io_options", []):
            add(param_knob(p, name=f"io_{p['name']}"))
    if node.get("trainable"):
        add(nuke.Tab_Knob("training", "Training"))
        add(nuke.Text_Knob("train_help", "", "Connect the target pipe to what the input should become, and list "
                                                 "the frames to learn from."))
        knob = nuke.String_Knob("pair_frames", "training frames")
        knob.setTooltip("frames where input and target form a pair, e.g. 1001,1040,1075")
        add(knob)
        add(_button("add_frame", "Add current frame", "add_training_frame"))
        for p in worker.params_for(node, "train"):
            if group.knob(knob_name(p)) is None:
                add(param_knob(p))
        add(nuke.File_Knob("checkpoint", "checkpoint"))
        if node.get("model", "none") != "none":
            add(nuke.Boolean_Knob("continue_from_model", "continue from model"))
        add(_button("train", "Train", "train"))
    add(nuke.Tab_Knob("farm", "Farm"))
    knob = nuke.Int_Knob("chunk", "frames per task")
    knob.setRange(1, 100)
    knob.setValue(10)
    add(knob)
    add(nuke.File_Knob("farm_job", "job bundle folder"))
    add(_button("write_farm_job", "Write farm job", "write_farm_job"))
    add(nuke.Text_Knob("farm_help", "", "Render in Nuke on the farm: nuke -t &lt;plug-in&gt;/filmai_nuke/terminal.py "
                                        "SCRIPT.nk NODE --frames 1001-1100"))


# ----- values ---------------------------------------------------------------------------------------


def knob_value(knob, p: Dict[str, Any]) -> Any:
    kind = p["type"]
    if kind == "color":
        return tuple(float(knob.value(i)) for i in range(int(p.get("size", 3))))
    if kind == "int":
        return int(knob.value())
    if kind == "float":
        return float(knob.value())
    if kind == "bool":
        return bool(knob.value())
    if kind == "path":
        return knob.evaluate()
    return knob.value()


def _values(group, params: List[Dict[str, Any]], prefix_io: bool = False) -> Dict[str, Any]:
    out = {}
    for p in params:
        name = f"io_{p['name']}" if prefix_io else knob_name(p)
        knob = group.knob(name)
        if knob is not None:
            out[p["name"]] = knob_value(knob, p)
    return out


def knob_changed() -> None:
    """Clamp a param knob to its hard range (Nuke's setRange only limits the slider)."""
    group, knob = nuke.thisNode(), nuke.thisKnob()
    if group.knob(ID_KNOB) is None or knob is None:
        return
    try:
        node = node_schema(group)
    except (worker.WorkerError, RuntimeError):
        return
    params = {knob_name(p): p for p in node["params"]}
    params.update({f"io_{p['name']}": p for p in schema().get("io_options", [])})
    p = params.get(knob.name())
    if p is None or p["type"] not in ("int", "float"):
        return
    value = knob_value(knob, p)
    try:
        worker.check_value(p, value)
    except ValueError as exc:
        bound = p["min"] if p.get("min") is not None and value < p["min"] else p["max"]
        knob.setValue(int(bound) if p["type"] == "int" else float(bound))
        group["status"].setValue(f"{exc}; set to {bound}")


# ----- running --------------------------------------------------------------------------------------


def _parent(group):
    full = group.fullName()
    return nuke.toNode(full.rsplit(".", 1)[0]) if "." in full else nuke.root()


def _default_root() -> str:
    script = nuke.root().name()
    if script and script != "Root":
        return os.path.join(os.path.dirname(os.path.abspath(script)), "filmai")
    return os.path.join(tempfile.gettempdir(), "filmai-unsaved-nk")


def _frame_spec(group, override: str = "") -> str:
    text = (override or group["frames"].value()).strip()
    if text:
        worker.expand_frames(text)  # a bad spec is reported before anything renders
        return text
    upstream = group.input(0)
    if upstream is None:
        root = nuke.root()
        return f"{int(root['first_frame'].value())}-{int(root['last_frame'].value())}"
    return f"{upstream.firstFrame()}-{upstream.lastFrame()}"


def _runs(frames: List[int]) -> List[tuple]:
    """[1, 2, 3, 7] → [(1, 3), (7, 7)]: contiguous ranges for nuke.execute."""
    out: List[tuple] = []
    for f in sorted(set(frames)):
        if out and f == out[-1][1] + 1:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return out


def render_input(group, index: int, pattern: str, frames: List[int]) -> str:
    """Render what feeds input ``index`` through a temporary Write to a 32-bit float EXR sequence, all
    channels, no colour conversion (Nuke's scene-linear working space goes out as is)."""
    upstream = group.input(index)
    os.makedirs(os.path.dirname(pattern), exist_ok=True)
    parent = _parent(group)
    parent.begin()
    try:
        write = nuke.nodes.Write(file=pattern.replace(os.sep, "/"), file_type="exr")
        write["datatype"].setValue("32 bit float")
        write["compression"].setValue("Zip (1 scanline)")
        write["channels"].setValue("all")
        write["metadata"].setValue("all metadata")
        write["raw"].setValue(True)
        write.setInput(0, upstream)
        try:
            for first, last in _runs(frames):
                nuke.execute(write, first, last, 1)
        finally:
            nuke.delete(write)
    finally:
        parent.end()
    return pattern


def _has_target_port(node: Dict[str, Any]) -> bool:
    """Trainable nodes may declare their training target as an input port (cnn.copycat does)."""
    return any(p["name"] == "target" and p["type"] == "Frames" for p in node["inputs"])


def _stage_inputs(group, node: Dict[str, Any], folder: str, frames: List[int], with_target: bool) -> Dict[str, str]:
    inputs: Dict[str, str] = {}
    pipes = worker.frame_ports(node["inputs"])
    for index, port in enumerate(pipes):
        if port["name"] == "target" and node.get("trainable") and not with_target:
            continue  # a training input: not rendered for Process
        if group.input(index) is None:
            if port.get("optional"):
                continue
            raise worker.WorkerError(f"{group.name()}: connect the {port['name']} input")
        inputs[port["name"]] = render_input(group, index, os.path.join(folder, "_input", f"{port['name']}.####.exr"),
                                            frames)
    for port in node["inputs"]:
        if port["type"] != "Frames":
            path = group[f"in_{port['name']}"].evaluate()
            if path:
                inputs[port["name"]] = path
            elif not port.get("optional"):
                raise worker.WorkerError(f"{group.name()}: set the {port['name']} file")
    if with_target and not _has_target_port(node):
        index = len(pipes)
        if group.input(index) is not None:
            inputs["target"] = render_input(group, index, os.path.join(folder, "_input", "target.####.exr"), frames)
    return inputs


def _folder(group, suffix: str = "") -> str:
    root = group["output_dir"].evaluate().strip() or _default_root()
    return worker.version_folder(root, group.name() + suffix)


def _set_status(group, text: str) -> None:
    group["status"].setValue(text)


def _job_spec(group, node: Dict[str, Any], kind: str, fields: Dict[str, Any]) -> worker.JobSpec:
    """The worker's job from the group's knobs: the node's params for ``kind`` and the I/O options."""
    io_options = schema().get("io_options", [])
    return worker.JobSpec.from_values(node, kind, _values(group, worker.params_for(node, kind)), io_options,
                                      _values(group, io_options, prefix_io=True), **fields)


def _fail(group, folder: str, exc: Exception) -> NoReturn:
    """A job that could not be built: remove its empty version folder, show why, raise for Nuke."""
    if folder:
        worker.remove_if_empty(folder)
    _set_status(group, f"error: {exc}")
    raise JobFailed(f"FilmAI {group.name()}: {exc}", 2) from None


def _store(group, spec: worker.JobSpec, status: str, cfg: worker.WorkerConfig) -> None:
    """The job as JSON in a hidden knob (saved in the .nk): a farm can rebuild the command line."""
    jobs = json.loads(group[JOB_KNOB].value() or "{}")
    jobs[spec.kind] = {"status": status, "spec": spec.to_json(), "command": spec.command_line(cfg),
                       "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    group[JOB_KNOB].setValue(json.dumps(jobs))


def process(group=None, frames: str = ""):
    """Run the node over the frame range: temp EXR Write per input, the worker, the result in the Read."""
    group = group or nuke.thisNode()
    node = node_schema(group)
    cfg = config()
    folder = ""
    try:
        spec_frames = _frame_spec(group, frames)
        folder = _folder(group)
        inputs = _stage_inputs(group, node, folder, worker.expand_frames(spec_frames), with_target=False)
        fields: Dict[str, Any] = dict(inputs=inputs, outputs=worker.output_paths(node, folder, group.name()),
                                      frames=spec_frames, device=group["device"].value())
        if group.knob("model") is not None and group["model"].evaluate():
            fields["model"] = group["model"].evaluate()
        spec = _job_spec(group, node, "run", fields)
    except (worker.WorkerError, ValueError, RuntimeError) as exc:
        _fail(group, folder, exc)
    return _start(group, node, spec, cfg)


def train(group=None):
    """Train on the pairs (input, target) at the training frames; the checkpoint becomes the node's model."""
    group = group or nuke.thisNode()
    node = node_schema(group)
    cfg = config()
    pairs = group["pair_frames"].value().strip()
    folder = ""
    try:
        if not pairs:
            raise worker.WorkerError("list the training frames first (Add current frame)")
        folder = _folder(group, "_train")
        inputs = _stage_inputs(group, node, folder, worker.expand_frames(pairs), with_target=True)
        target = inputs.pop("target", "")
        out = group["checkpoint"].evaluate() or os.path.join(folder, f"{group.name()}.ckpt")
        fields: Dict[str, Any] = dict(inputs=inputs, target=target, out=out, frames=pairs,
                                      device=group["device"].value())
        if group.knob("continue_from_model") is not None and group["continue_from_model"].value() \
                and group["model"].evaluate():
            fields["model"] = group["model"].evaluate()
        spec = _job_spec(group, node, "train", fields)
    except (worker.WorkerError, ValueError, RuntimeError) as exc:
        _fail(group, folder, exc)
    return _start(group, node, spec, cfg)


def _start(group, node: Dict[str, Any], spec: worker.JobSpec, cfg: worker.WorkerConfig) -> worker.Job:
    job = worker.Job(spec, cfg, needs_torch=bool(node.get("needs_torch")))
    _store(group, spec, "running", cfg)
    _set_status(group, "starting")
    nuke.tprint(f"FilmAI: {spec.command_line(cfg)}")
    job.start()
    name = group.fullName()
    if nuke.env.get("gui"):
        threading.Thread(target=_watch, args=(name, job, node["label"]), daemon=True,
                         name=f"filmai-{name}").start()
        return job
    # terminal mode and farms: synchronous, one line per event
    job.wait(on_event=lambda e: worker.describe_event(e) and nuke.tprint(f"FilmAI {name}: {worker.describe_event(e)}"))
    _finish(name, job)
    return job


def _watch(name: str, job: worker.Job, label: str) -> None:
    """GUI: follow the worker off the main thread; the ProgressTask's cancel button stops it."""
    task = nuke.ProgressTask(f"FilmAI {label}")
    try:
        while True:
            job.poll()
            if task.isCancelled():
                job.cancel()
            task.setProgress(int(job.progress * 100))
            task.setMessage(job.status or job.state)
            if job.done:
                break
            time.sleep(POLL_SECONDS)
    finally:
        del task
    nuke.executeInMainThread(_finish, args=(name, job))


def _finish(name: str, job: worker.Job) -> None:
    """Main thread: show what the job made, or say why it did not."""
    group = nuke.toNode(name)
    if group is None:
        return  # deleted while running; the files are on disk
    cfg = config()
    _store(group, job.spec, job.state, cfg)
    _set_status(group, job.summary())
    if job.state == "failed":
        if nuke.env.get("gui"):
            nuke.message(job.summary())
            return
        raise JobFailed(job.summary(), job.exit_code or 1)
    if job.spec.kind == "train":
        if job.state == "done" and group.knob("model") is not None:
            group["model"].setValue(job.spec.out)
        return
    node = node_schema(group)
    for port in node["outputs"]:
        entry = job.outputs().get(port["name"])
        if entry and port["type"] == "Frames":
            _show_frames(group, entry)
    found = worker.timeline_files(node, job.outputs())
    if "otio" in found and job.state == "done":
        group["timeline"].setValue(found["otio"])
        args = ["timeline", "cuts", found["otio"]] + (["--table", found["table"]] if "table" in found else [])
        group["summary"].setValue(worker.tool(cfg, args).strip().replace("\n", "<br>"))


def _show_frames(group, entry: Dict[str, Any]) -> None:
    pattern = entry["pattern"]
    frames = sorted(set(worker.expand_frames(entry.get("frames_written", "")))
                    | set(worker.expand_frames(entry.get("frames_skipped", ""))))
    if not frames:
        return
    group.begin()
    try:
        read = nuke.toNode("result")
        read["file"].setValue(pattern.replace(os.sep, "/"))
        for knob in ("first", "origfirst"):
            read[knob].setValue(frames[0])
        for knob in ("last", "origlast"):
            read[knob].setValue(frames[-1])
        read["raw"].setValue(True)
        read["on_error"].setValue("black")  # frames a cancel did not reach stay black, never stale
        read["reload"].execute()
        nuke.toNode("show_result")["which"].setValue(1)
    finally:
        group.end()


def add_training_frame(group=None) -> None:
    group = group or nuke.thisNode()
    text = group["pair_frames"].value().strip()
    frames = worker.expand_frames(text) if text else []
    current = int(nuke.frame())
    if current not in frames:
        frames.append(current)
    group["pair_frames"].setValue(",".join(str(f) for f in sorted(frames)))


def write_timeline(group=None, extension: str = ".edl") -> str:
    """The node's timeline as an EDL (or .csv) next to it: written from the OTIO unless the node already
    wrote one (lstm.cuts writes its EDL itself); an existing file is never replaced."""
    group = group or nuke.thisNode()
    source = group["timeline"].value()
    if not source:
        raise RuntimeError(f"FilmAI {group.name()}: process the node first; it has no timeline yet")
    target = os.path.splitext(source)[0] + extension
    if os.path.isfile(target):
        _set_status(group, f"{target} (already written)")
        return target
    fps = float(nuke.root()["fps"].value())
    worker.timeline_convert(config(), source, target, rate=fps)
    _set_status(group, f"wrote {target}")
    return target


def write_farm_job(group=None) -> str:
    """A job bundle (OpenJD template + parameter values, ``filmai farm template --bundle``) repeating the last
    Process: its inputs are the EXRs Process rendered, so the farm needs only the headless host. For
    rendering in Nuke on the farm instead, see terminal.py."""
    group = group or nuke.thisNode()
    last = json.loads(group[JOB_KNOB].value() or "{}").get("run")
    if not last:
        raise RuntimeError(f"FilmAI {group.name()}: process the node once first; the farm job repeats that run")
    spec = worker.JobSpec.from_json(last["spec"])
    path = group["farm_job"].evaluate() or os.path.join(os.path.dirname(spec.outputs[next(iter(spec.outputs))]),
                                                        "farm_job")
    worker.farm_template(config(), spec, path, int(group["chunk"].value()))
    _set_status(group, f"wrote {path}")
    return path
