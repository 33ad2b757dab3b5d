"""Nodes → Nuke Groups, Process → temporary EXR Write + the worker, results → an internal Read.

Each FilmAI node becomes a Group (gizmo-like) laid out as Nuke's own Inference and CopyCat are: an input
pipe per image input, plus *GroundTruth* and *Preview* pipes for trainable nodes; *Model File*
(``modelFile``) and *Use GPU if available* (``useGPUIfAvailable``); channel pickers for channel lists;
sliders with ranges on number knobs; labels written for people; a Training tab with *Start Training* and
a Progress tab (loss and validation PSNR graph, the newest contact sheet). Inside: the inputs pass
through a Switch until Process has run, then an internal Read shows the results. The node turns orange
and says so when anything upstream (or its own knobs) changed since the result was made.

What runs where (Nuke's API is not thread-safe; ``nuke.execute`` renders on the caller's thread):

* the button press (main thread) only checks the knobs, takes a snapshot of them and returns;
* a ProgressTask thread renders each input one frame per ``executeInMainThreadWithResult`` call (the
  GUI stays responsive between frames and Cancel is honoured between them), starts and follows the
  worker, reads a timeline's summary, then hands the results to the main thread with
  ``executeInMainThread``. Cancel leaves no partial ``_input`` files and shows no error dialog;
* in terminal mode (``nuke -t``, farms) the same steps run in order on the main thread.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, NoReturn, Optional

import nuke

from . import colour, worker

MENU = "FilmAI"
ID_KNOB = "filmai_node"
JOB_KNOB = "filmai_job"
PROCESSED_KNOB = "filmai_processed"  # fingerprint of what fed the node when its result was made
SCHEMA_KNOB = "filmai_schema"  # the node's schema when the Group was made: no worker query to use it
POLL_SECONDS = 0.1
PROGRESS_SECONDS = 1.0  # how often the Progress tab is redrawn while training
STALE_COLOUR = 0xE0862AFF  # orange tile: the result is older than what feeds the node
STALE_CHECK_SECONDS = 0.5
# Knobs every Nuke Group already has, and the adapter's own: a param with one of these names gets a p_ prefix.
NUKE_RESERVED = {"name", "label", "help", "selected", "xpos", "ypos", "tile_color", "gl_color", "note_font",
                 "note_font_size", "note_font_color", "hide_input", "cached", "disable", "dope_sheet", "bookmark",
                 "postage_stamp", "postage_stamp_frame", "lifetimeStart", "lifetimeEnd", "useLifetime",
                 "lock_connections", "icon", "indicators", "knobChanged", "onCreate", "onDestroy", "updateUI",
                 "autolabel", "panel", "mapsize", "window", "file_menu", "process_mask", "help_url"}
OWN_KNOBS = {ID_KNOB, JOB_KNOB, PROCESSED_KNOB, SCHEMA_KNOB, "filmai", "filmai_help", "frames", "output_dir", "modelFile",
             "model", "useGPUIfAvailable", "device", "process", "status", "summary", "timeline", "write_edl",
             "write_csv", "pair_frames", "add_frame", "checkpoint", "continue_from_model", "startTraining",
             "train", "chunk", "farm_job", "write_farm_job", "farm_help", "io", "training", "farm", "progress",
             "progress_text", "progress_graph", "contact_sheet", "train_help"}
# knobChanged fires for every knob change (node moves included): these never concern the adapter
IGNORED_KNOBS = {"xpos", "ypos", "selected", "tile_color", "gl_color", "status", "summary", JOB_KNOB, PROCESSED_KNOB,
                 SCHEMA_KNOB,
                 "showPanel", "hidePanel", "label", "name", "note_font", "note_font_size", "note_font_color",
                 "progress_text", "progress_graph", "contact_sheet", "icon", "postage_stamp", "hide_input"}

_schema: Optional[Dict[str, Any]] = None
_menu_task: Optional[worker.BackgroundTask] = None
_stale_checked: Dict[str, float] = {}


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


def _key(cfg: worker.WorkerConfig) -> str:
    return json.dumps([cfg.python, cfg.mode, sorted(cfg.env.items())])


def cached_schema() -> Optional[Dict[str, Any]]:
    """The node list already known for the current worker settings (memory, else the cache file), or
    None. Never asks the worker: safe in knobChanged and at GUI start."""
    global _schema
    key = _key(config())
    if _schema is not None and _schema.get("_key") == key:
        return _schema
    try:
        with open(_cache_path(), encoding="utf-8") as f:
            cached = json.load(f)
    except (OSError, ValueError):
        return None
    if isinstance(cached, dict) and cached.get("_key") == key:
        _schema = cached
        return cached
    return None


def _query_and_cache(cfg: worker.WorkerConfig) -> Dict[str, Any]:
    """Ask the worker (``filmai nodes --json``) and cache the answer. Plain data and files only: runs on a
    background thread in the GUI."""
    data = worker.query_schema(cfg)
    data["_key"] = _key(cfg)
    path = _cache_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)
    return data


def schema(refresh: bool = False) -> Dict[str, Any]:
    """The node list from where nodes run, cached per worker setting (refreshed by FilmAI > Reload nodes).
    Asks the worker, waiting, when nothing is cached: call it from scripts and terminal sessions; the GUI
    paths (menu, knobChanged) use :func:`cached_schema` and ask on a thread."""
    global _schema
    if not refresh:
        cached = cached_schema()
        if cached is not None:
            return cached
    _schema = _query_and_cache(config())
    return _schema


def node_schema(group) -> Dict[str, Any]:
    """The node's schema: from the node list already known, else the copy the Group carries (so a button
    press never waits for the worker), else (scripts made before the copy existed) asked."""
    knob = group.knob(ID_KNOB)
    if knob is None:
        raise RuntimeError(f"{group.name()} is not a FilmAI node")
    known = cached_schema()
    if known is not None:
        found = next((n for n in known.get("nodes", []) if n["id"] == knob.value()), None)
        if found is not None:
            return found
    carried = _carried(group)
    if carried is not None:
        return carried["node"]
    return worker.find_node(schema(), knob.value())


def io_options(group) -> List[Dict[str, Any]]:
    known = cached_schema()
    if known is not None:
        return known.get("io_options", [])
    carried = _carried(group)
    return carried.get("io_options", []) if carried is not None else schema().get("io_options", [])


def _carried(group) -> Optional[Dict[str, Any]]:
    knob = group.knob(SCHEMA_KNOB)
    try:
        return json.loads(knob.value()) if knob is not None and knob.value() else None
    except ValueError:
        return None


def knob_name(param: Dict[str, Any]) -> str:
    name = param["name"]
    return f"p_{name}" if name in NUKE_RESERVED or name in OWN_KNOBS or name.startswith(("in_", "io_")) else name


# ----- startup --------------------------------------------------------------------------------------


def install() -> None:
    """init.py: callbacks only (every session, GUI or not)."""
    nuke.addKnobChanged(knob_changed, nodeClass="Group")
    nuke.addUpdateUI(update_ui, nodeClass="Group")


def build_menu() -> None:
    """menu.py: Nodes > FilmAI > <family> > <node>, plus Reload nodes. Never waits for the worker: with no
    node list cached, the menu says it is loading and fills itself when the worker has answered."""
    menu = nuke.menu("Nodes").addMenu(MENU)
    known = cached_schema()
    if known is None:
        menu.addCommand("Loading nodes (asking the worker)…", "nuke.message('FilmAI is asking the worker for its "
                                                             "nodes; the menu fills in when it answers')")
        _ask_in_background()
        return
    _fill_menu(menu, known["nodes"])


def _fill_menu(menu, nodes: List[Dict[str, Any]], error: str = "") -> None:
    menu.clearMenu()
    if error:
        menu.addCommand("Worker not configured (set FILMAI_PYTHON)", f"nuke.message({error!r})")
    for node in sorted(nodes, key=lambda n: (n["family"], n["label"])):
        label = node["label"].replace("/", "-")
        menu.addCommand(f"{node['family'].upper()}/{label}", f"import filmai_nuke; filmai_nuke.create({node['id']!r})")
    menu.addCommand("Reload nodes", "import filmai_nuke; filmai_nuke.reload_nodes()")


def _ask_in_background() -> None:
    """Query the worker on a thread; the menu is rebuilt on the main thread when it answers."""
    global _menu_task
    if _menu_task is not None and not _menu_task.done:
        return
    cfg = config()

    def ask():
        try:
            return _query_and_cache(cfg), ""
        except (worker.WorkerError, OSError) as exc:
            return None, str(exc)
        finally:
            nuke.executeInMainThread(_menu_answered)

    _menu_task = worker.BackgroundTask(ask, name="filmai-menu-nodes")


def _menu_answered() -> None:
    """Main thread: the worker answered (or failed); fill the menu and say so."""
    global _schema
    task = _menu_task
    if task is None:
        return
    task.wait()
    data, error = task.result
    if data is not None:
        _schema = data
    menu = nuke.menu("Nodes").addMenu(MENU)
    _fill_menu(menu, (data or {}).get("nodes", []), error)
    nuke.tprint(f"FilmAI: {error}" if error else f"FilmAI: {len(data['nodes'])} nodes")


def reload_nodes() -> None:
    """FilmAI > Reload nodes: ask the worker again (on a thread in the GUI)."""
    global _schema
    if nuke.env.get("gui"):
        menu = nuke.menu("Nodes").addMenu(MENU)
        menu.clearMenu()
        menu.addCommand("Loading nodes (asking the worker)…", "")
        _ask_in_background()
        return
    _schema = _query_and_cache(config())
    _fill_menu(nuke.menu("Nodes").addMenu(MENU), _schema["nodes"])


# ----- creating a node ------------------------------------------------------------------------------


def pipes(node: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The Group's input pipes in order: each Frames input, then for trainable nodes *GroundTruth* (what
    the input should become: the ``target`` port or training target) and *Preview* (a frame outside the
    training set, shown with the new model when training ends), as CopyCat has them."""
    out = []
    trainable = bool(node.get("trainable"))
    for port in worker.frame_ports(node["inputs"]):
        if trainable and port["name"] == "target":
            continue
        out.append({"pipe": port["name"], "port": port["name"], "role": "input",
                    "optional": bool(port.get("optional"))})
    if trainable:
        out.append({"pipe": "GroundTruth", "port": "target", "role": "target", "optional": True})
        out.append({"pipe": "Preview", "port": "preview", "role": "preview", "optional": True})
    return out


def create(node_id: str):
    """A new FilmAI Group for ``node_id``, connected to the selection like any Nuke node.

    ``createNode`` cannot connect a Group that has no Input nodes yet, so the selection is connected once
    the pipes exist."""
    node = worker.find_node(schema(), node_id)
    selected = nuke.selectedNodes()
    upstream = selected[-1] if selected else None
    group = nuke.createNode("Group", inpanel=False)
    group.setName(f"{worker.node_slug(node_id)}_1", uniquify=True)
    _build_internals(group, node)
    _add_knobs(group, node)
    if upstream is not None and upstream is not group and pipes(node):
        if not group.setInput(0, upstream):
            nuke.tprint(f"FilmAI: could not connect {upstream.name()} to {group.name()}")
    return group


def _build_internals(group, node: Dict[str, Any]) -> None:
    group.begin()
    try:
        inputs = [nuke.nodes.Input(name=p["pipe"]) for p in pipes(node)]
        last = inputs[0] if inputs else None
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


# Nuke channel names ↔ the EXR names the worker sees. Nuke's exrWriter writes rgba.red/green/blue/alpha as
# R, G, B, A and every other channel under its full Nuke name (diffuse.red, depth.Z): that is what the staged
# inputs hold (exrWriter.cpp, Foundry's NDK examples; /work/shared/notes/nuke.md "Multi-part EXR").
_NUKE_SUFFIX = {"red": "R", "green": "G", "blue": "B", "alpha": "A"}
_ENGINE_SUFFIX = {v: k for k, v in _NUKE_SUFFIX.items()}
_LAYER_CHANNELS = {"rgba": ["red", "green", "blue", "alpha"], "rgb": ["red", "green", "blue"], "alpha": ["alpha"],
                   "depth": ["Z"], "forward": ["u", "v"], "backward": ["u", "v"], "mask": ["a"]}


def _written_name(layer: str, chan: str) -> str:
    """The EXR name Nuke's Write gives the Nuke channel ``layer.chan``."""
    if layer in ("rgba", "rgb", "alpha"):
        return _NUKE_SUFFIX.get(chan, chan)
    return f"{layer}.{chan}"


def channels_from_nuke(value: str, upstream=None) -> str:
    """A ChannelMask value ("rgba", "rgb", "rgba.red rgba.alpha", "depth", "diffuse", "none", "all") → the
    channel list the worker reads from the staged EXR ("R,G,B,A", "R,A", "depth.Z", "diffuse.red,…").
    A layer Nuke does not build in (an AOV a Read found, e.g. a multi-part file's "diffuse" part) gets its
    channels from ``upstream.channels()``, the node feeding the input. "none" and "all" give "" (the node's
    default)."""
    names = []
    available = None
    for token in str(value or "").split():
        if token in ("none", "all"):
            continue
        layer, _, chan = token.partition(".")
        if chan:
            chans = [chan]
        elif layer in _LAYER_CHANNELS:
            chans = _LAYER_CHANNELS[layer]
        else:
            if available is None:
                available = list(upstream.channels()) if upstream is not None else []
            chans = [n.split(".", 1)[1] for n in available if n.split(".", 1)[0] == layer]
        if not chans:
            raise ValueError(f"channel {token!r}: no such layer upstream (pick a layer or its channels)")
        for c in chans:
            names.append(_written_name(layer, c))
    return ",".join(dict.fromkeys(names))


def channels_to_nuke(text: str, empty: str = "none") -> str:
    """The engine's list ("R,G,B") → a ChannelMask value ("rgb"); empty → ``empty``."""
    names = [n.strip() for n in str(text or "").split(",") if n.strip()]
    if not names:
        return empty
    for layer in ("rgba", "rgb", "alpha"):
        if names == [_NUKE_SUFFIX[c] for c in _LAYER_CHANNELS[layer]]:
            return layer
    out = []
    for n in names:
        layer, _, chan = n.rpartition(".")
        out.append(f"{layer or 'rgba'}.{_ENGINE_SUFFIX.get(chan, chan)}")  # as Nuke's Read names them
    return " ".join(out)


def param_knob(p: Dict[str, Any], name: str = ""):
    """One schema param as a knob. Number knobs get a slider over the soft range (setRange only sets the
    slider: hard limits are enforced in knob_changed, again before a job starts, and by the engine);
    channel lists get a channel picker; labels are written for people."""
    name, label, kind = name or knob_name(p), worker.display_label(p), p["type"]
    if worker.is_channel_list(p):
        knob = nuke.ChannelMask_Knob(name, label)
        empty = "all" if p["name"] == "channels" else "none"
        knob.setValue(channels_to_nuke(p.get("default") or "", empty))
        knob.setTooltip((p.get("help") or "") + f" ({empty}: the node's default)")
        return knob
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
            if kind == "int" and hi - lo <= 100_000:  # Nuke's Int_Knob shows a slider only when asked
                knob.setFlag(nuke.SLIDER)
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


def _text(name: str, label: str, text: str = ""):
    return nuke.Text_Knob(name, label, text)


def _add_knobs(group, node: Dict[str, Any]) -> None:
    add = group.addKnob
    add(nuke.Tab_Knob("filmai", "FilmAI"))
    carried = json.dumps({"node": node, "io_options": (cached_schema() or schema()).get("io_options", [])})
    for name, value in ((ID_KNOB, node["id"]), (JOB_KNOB, ""), (PROCESSED_KNOB, ""), (SCHEMA_KNOB, carried)):
        knob = nuke.String_Knob(name, name)
        knob.setValue(value)
        knob.setFlag(nuke.INVISIBLE)
        add(knob)
    first_help = (node.get("help") or "").strip().split("\n\n")[0].replace("\n", " ")
    add(_text("filmai_help", "", f"<b>{node['label']}</b> ({node['id']} {node['version']})<br>{first_help}"))
    for port in node["inputs"]:
        if port["type"] != "Frames":
            knob = nuke.File_Knob(f"in_{port['name']}", port["name"].replace("_", " ").capitalize())
            knob.setTooltip(f"{port['type']}: {port.get('help', '')}")
            add(knob)
    if node.get("model", "none") != "none":
        knob = nuke.File_Knob("modelFile", "Model File")
        knob.setTooltip("checkpoint" + (" (empty: the node's shipped model)" if node["model"] == "optional" else ""))
        add(knob)
    knob = nuke.Boolean_Knob("useGPUIfAvailable", "Use GPU if available")
    knob.setValue(True)
    knob.setTooltip("run on the GPU when the worker has one (CUDA, Apple Metal), else on the CPU; "
                    "FILMAI_DEVICE picks one GPU (cuda:1)")
    add(knob)
    for p in worker.params_for(node, "run"):
        add(param_knob(p))
    knob = nuke.String_Knob("frames", "Frame range")
    knob.setTooltip("1001-1100, 1001-1100x2 or 1,5,9-12; empty: the input's frame range")
    add(knob)
    knob = nuke.File_Knob("output_dir", "Output folder")
    knob.setTooltip("empty: a 'filmai' folder next to the script; each Process writes a new version folder")
    add(knob)
    add(_button("process", "Process", "process"))
    add(_text("status", "", "not processed"))
    if any(p["type"] == "Timeline" for p in node["outputs"]):
        add(nuke.File_Knob("timeline", "Timeline"))
        add(_button("write_edl", "Write EDL", "write_timeline"))
        add(_text("summary", "Shots", ""))
    if any(p["type"] == "Frames" for p in node["inputs"]):
        add(nuke.Tab_Knob("io", "I/O"))
        for p in (cached_schema() or schema()).get("io_options", []):
            add(param_knob(p, name=f"io_{p['name']}"))
    if node.get("trainable"):
        add(nuke.Tab_Knob("training", "Training"))
        add(_text("train_help", "", "Connect <b>GroundTruth</b> to what the input should become, add the frames "
                                    "where both are good, press <b>Start Training</b>. <b>Preview</b> (optional): "
                                    "a frame outside the training set, shown with the new model when training ends."))
        knob = nuke.String_Knob("pair_frames", "Training frames")
        knob.setTooltip("frames where input and ground truth form a pair, e.g. 1001,1040,1075")
        add(knob)
        add(_button("add_frame", "Add current frame", "add_training_frame"))
        for p in worker.params_for(node, "train"):
            if group.knob(knob_name(p)) is None:
                add(param_knob(p))
        add(nuke.File_Knob("checkpoint", "Checkpoint"))
        if node.get("model", "none") != "none":
            add(nuke.Boolean_Knob("continue_from_model", "Continue from Model File"))
        add(_button("startTraining", "Start Training", "train"))
        add(nuke.Tab_Knob("progress", "Progress"))
        add(_text("progress_text", "", "not trained"))
        add(_text("progress_graph", "", ""))
        add(_text("contact_sheet", "", ""))
    add(nuke.Tab_Knob("farm", "Farm"))
    knob = nuke.Int_Knob("chunk", "Frames per task")
    knob.setRange(1, 100)
    knob.setFlag(nuke.SLIDER)
    knob.setValue(10)
    add(knob)
    add(nuke.File_Knob("farm_job", "Job bundle folder"))
    add(_button("write_farm_job", "Write farm job", "write_farm_job"))
    add(_text("farm_help", "", "Render in Nuke on the farm: nuke -t &lt;plug-in&gt;/filmai_nuke/terminal.py "
                               "SCRIPT.nk NODE --frames 1001-1100"))


# ----- values ---------------------------------------------------------------------------------------


def knob_value(knob, p: Dict[str, Any]) -> Any:
    kind = p["type"]
    if worker.is_channel_list(p) and hasattr(knob, "isChannelEnabled"):
        group = knob.node()
        return channels_from_nuke(knob.value(), _channels_upstream(group, p["name"]) if group is not None else None)
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


def _channels_upstream(group, param: str):
    """The node feeding the pipe a channel knob names channels of: ``channels_out`` the GroundTruth (the
    target's channels), every other one the first input (the plate's)."""
    index = 0
    if param == "channels_out":
        try:
            index = next(i for i, pipe in enumerate(pipes(node_schema(group))) if pipe["role"] == "target")
        except Exception:  # noqa: BLE001 - no target pipe, or not a FilmAI group: the first input
            index = 0
    return group.input(index)


def knob_value_at(knob, p: Dict[str, Any], frame: int) -> Any:
    """An animated knob's value at ``frame``: Nuke's own evaluation of its curve (or expression)."""
    if p["type"] == "color":
        return tuple(float(knob.getValueAt(frame, i)) for i in range(int(p.get("size", 3))))
    value = knob.getValueAt(frame, 0)
    return int(round(value)) if p["type"] == "int" else float(value)


def is_animated(knob) -> bool:
    return callable(getattr(knob, "isAnimated", None)) and bool(knob.isAnimated())


def _values(group, params: List[Dict[str, Any]], prefix_io: bool = False, frames: Optional[List[int]] = None,
            notes: Optional[List[str]] = None) -> Dict[str, Any]:
    """The params' values for a job, read from the knobs (main thread).

    An animated knob of an animatable param becomes the node contract's keys: the knob's value at every
    frame of the run (``frames``), as Nuke evaluates its curve, thinned where it is straight
    (``worker.keys_from_samples``). Nuke's default interpolation (smooth) is not straight between keys, so
    its keys alone would not give what the artist sees. Without ``frames`` (training takes one value per
    param) an animated knob gives its value at the current frame, and ``notes`` says so."""
    out = {}
    for p in params:
        name = f"io_{p['name']}" if prefix_io else knob_name(p)
        knob = group.knob(name)
        if knob is None:
            continue
        if p.get("animatable") and p["type"] in ("int", "float", "color") and is_animated(knob):
            if frames:
                out[p["name"]] = worker.keys_from_samples(p, [(f, knob_value_at(knob, p, f)) for f in frames])
                continue
            if notes is not None:
                notes.append(worker.animated_note(p, knob_value(knob, p), int(nuke.frame())))
        out[p["name"]] = knob_value(knob, p)
    return out


def _model_file(group) -> str:
    knob = group.knob("modelFile") or group.knob("model")  # scripts saved before modelFile have "model"
    return knob.evaluate() if knob is not None else ""


def _device(group) -> str:
    gpu = group.knob("useGPUIfAvailable")
    if gpu is not None:
        return (os.environ.get("FILMAI_DEVICE") or "auto") if gpu.value() else "cpu"
    old = group.knob("device")  # scripts saved before useGPUIfAvailable
    return old.value() if old is not None else "auto"


def knob_changed() -> None:
    """Keep it cheap (Nuke calls it for every knob change, node moves included): clamp a param knob to
    its hard range (Nuke's setRange only limits the slider) and flag a result made with other settings.
    Reads only the node list already known; never asks the worker."""
    knob = nuke.thisKnob()
    if knob is None or knob.name() in IGNORED_KNOBS:
        return
    group = nuke.thisNode()
    id_knob = group.knob(ID_KNOB)
    if id_knob is None:
        return
    known = cached_schema() or _carried(group)
    if known is None:
        return
    node = next((n for n in known.get("nodes", []) if n["id"] == id_knob.value()), None) or known.get("node")
    if node is None or node.get("id") != id_knob.value():
        return
    if knob.name() == "inputChange":
        check_stale(group)
        return
    params = {knob_name(p): p for p in node["params"]}
    params.update({f"io_{p['name']}": p for p in known.get("io_options", [])})
    p = params.get(knob.name())
    if p is None:
        return
    if p["type"] in ("int", "float"):
        value = knob_value(knob, p)
        try:
            worker.check_value(p, value)
        except ValueError as exc:
            bound = p["min"] if p.get("min") is not None and value < p["min"] else p["max"]
            knob.setValue(int(bound) if p["type"] == "int" else float(bound))
            group["status"].setValue(f"{exc}; set to {bound}")
            return
    check_stale(group)


# ----- stale results --------------------------------------------------------------------------------


def fingerprint(group) -> str:
    """What feeds the node now: every upstream node's class, name and knob values, and the node's own
    param knobs. A result made from another fingerprint is stale."""
    parts: List[str] = []
    seen: set = set()
    todo = [group.input(i) for i in range(group.inputs())]
    flags = nuke.WRITE_NON_DEFAULT_ONLY | nuke.TO_SCRIPT | nuke.TO_VALUE
    while todo and len(seen) < 5000:
        n = todo.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        parts.append(f"{n.Class()}|{n.fullName()}|{n.writeKnobs(flags)}")
        todo += [n.input(i) for i in range(n.inputs())]
    parts.append(";".join(f"{i}:{getattr(group.input(i), 'fullName', lambda: '')()}" for i in range(group.inputs())))
    for name, knob in sorted(group.knobs().items()):
        if name in OWN_KNOBS or name in NUKE_RESERVED or name in IGNORED_KNOBS:
            continue
        if isinstance(knob, (nuke.PyScript_Knob, nuke.Tab_Knob, nuke.Text_Knob)):
            continue
        parts.append(f"{name}={_knob_state(knob)}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def _knob_state(knob) -> str:
    """A knob's setting for the fingerprint: its value, or for an animated knob its keys (the value at the
    current frame would change with every scrub)."""
    if not is_animated(knob):
        return str(knob.value())
    user_slope = getattr(nuke, "USER_SET_SLOPE", 0)
    return "animated " + repr([[(k.x, k.y, k.interpolation) + ((k.lslope, k.rslope) if k.interpolation & user_slope
                                                               else ()) for k in curve.keys()]
                               for curve in knob.animations()])


def check_stale(group) -> bool:
    """Show whether the node's result is older than what feeds it (orange tile and a status line)."""
    made = group.knob(PROCESSED_KNOB)
    if made is None or not made.value():
        return False
    stale = fingerprint(group) != made.value()
    colour = STALE_COLOUR if stale else 0
    if int(group["tile_color"].value()) != colour:
        group["tile_color"].setValue(colour)
        text = group["status"].value()
        prefix = "STALE: upstream or settings changed since Process. "
        if stale and not text.startswith(prefix):
            group["status"].setValue(prefix + text)
        elif not stale and text.startswith(prefix):
            group["status"].setValue(text[len(prefix):])
    return stale


def update_ui() -> None:
    """Nuke's updateUI callback: check a FilmAI node for a stale result now and then (upstream knob edits
    do not reach this node's knobChanged)."""
    group = nuke.thisNode()
    if group.knob(ID_KNOB) is None or group.knob(PROCESSED_KNOB) is None:
        return
    now = time.time()
    name = group.fullName()
    if now - _stale_checked.get(name, 0.0) < STALE_CHECK_SECONDS:
        return
    _stale_checked[name] = now
    check_stale(group)


# ----- planning a job (main thread: knobs → a snapshot) ---------------------------------------------


@dataclass
class Render:
    """One pipe rendered to EXR through a temporary Write: its upstream node, the files, the frames."""

    index: int
    port: str
    pattern: str
    frames: List[int]
    channels: str = "all"
    #: the upstream's frame range (first, last), where handle frames of a temporal node are clamped
    available: Optional[tuple] = None


@dataclass
class Plan:
    group: str  # full name: the node is found again by name (it may be renamed or deleted meanwhile)
    label: str
    kind: str
    folder: str
    spec: worker.JobSpec
    renders: List[Render]
    needs_torch: bool
    fingerprint: str
    node: Dict[str, Any] = field(default_factory=dict)
    preview: Optional[Render] = None
    summary_tool: bool = False
    extras: Dict[str, Any] = field(default_factory=dict)
    temporal: bool = False  # the node needs neighbouring input frames (handles): rendered too
    notes: List[str] = field(default_factory=list)
    stream: str = ""  # the colourspace of the pixels reaching the main input (see colour.stream_colorspace)


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


def _write_channels(group, node: Dict[str, Any], port: str) -> str:
    """Which channels the temporary Write renders for ``port``: what the node reads (its channel picker)
    plus alpha where it keeps other channels; all channels when it may read any (no picker)."""
    for p in node["params"]:
        if worker.is_channel_list(p) and p["name"] in ("channels_in", "channels"):
            knob = group.knob(knob_name(p))
            value = knob.value() if knob is not None else "all"
            if value in ("all", "none") or any(q["name"] == "keep_other_channels" for q in node["params"]):
                return "all"
            return value
    return "all"


def _plan(group, node: Dict[str, Any], kind: str, frames_override: str = "") -> Plan:
    """Check the knobs and take everything a job needs from them (main thread). Raises WorkerError or
    ValueError with a message for the artist."""
    folder = ""
    try:
        if kind == "run":
            spec_frames = _frame_spec(group, frames_override)
        else:
            spec_frames = group["pair_frames"].value().strip()
            if not spec_frames:
                raise worker.WorkerError("list the training frames first (Add current frame)")
        frame_list = worker.expand_frames(spec_frames)
        if kind == "train":  # held-out frames are read for validation: render them too
            held_out = _values(group, [p for p in node["params"] if p["name"] == "validation_frames"])
            extra = worker.expand_frames(held_out.get("validation_frames") or "")
            frame_list = sorted(set(frame_list) | set(extra))
        root = group["output_dir"].evaluate().strip() or _default_root()
        folder = worker.version_folder(root, group.name() + ("_train" if kind == "train" else ""))
        renders, inputs, preview = [], {}, None
        for index, pipe in enumerate(pipes(node)):
            wanted = pipe["role"] == "input" or (kind == "train" and pipe["role"] in ("target", "preview"))
            if not wanted:
                continue
            if group.input(index) is None:
                if pipe["optional"]:
                    continue
                raise worker.WorkerError(f"{group.name()}: connect the {pipe['pipe']} input")
            pattern = os.path.join(folder, "_input", f"{pipe['port']}.####.exr")
            if pipe["role"] == "preview":
                preview = Render(index, "preview", pattern, [int(nuke.frame())])
                continue
            upstream = group.input(index)
            renders.append(Render(index, pipe["port"], pattern, frame_list, _write_channels(group, node, pipe["port"]),
                                  available=(int(upstream.firstFrame()), int(upstream.lastFrame()))))
            inputs[pipe["port"]] = pattern
        if kind == "train" and "target" not in inputs:
            raise worker.WorkerError(f"{group.name()}: connect the GroundTruth input (what the input should become)")
        for port in node["inputs"]:
            if port["type"] != "Frames":
                path = group[f"in_{port['name']}"].evaluate()
                if path:
                    inputs[port["name"]] = path
                elif not port.get("optional"):
                    raise worker.WorkerError(f"{group.name()}: set the {port['name']} file")
        fields: Dict[str, Any] = dict(inputs=inputs, frames=spec_frames, device=_device(group))
        model = _model_file(group)
        if kind == "run":
            fields["outputs"] = worker.output_paths(node, folder, group.name())
            if model:
                fields["model"] = model
        else:
            fields["target"] = inputs.pop("target")
            fields["out"] = group["checkpoint"].evaluate() or os.path.join(folder, f"{group.name()}.ckpt")
            if group.knob("continue_from_model") is not None and group["continue_from_model"].value() and model:
                fields["model"] = model
        options = io_options(group)
        notes: List[str] = []
        values = _values(group, worker.params_for(node, kind), frames=frame_list if kind == "run" else None,
                         notes=notes)
        io_values = _values(group, options, prefix_io=True)
        streams = {r.port: colour.stream_colorspace(group.input(r.index)) for r in renders}
        if group.knob("io_ocio_config") is not None:
            notes += _colour(io_values, streams)
        spec = worker.JobSpec.from_values(node, kind, values, options, io_values, **fields)
        plan = Plan(group=group.fullName(), label=node["label"], kind=kind, folder=folder, spec=spec,
                    renders=renders, needs_torch=bool(node.get("needs_torch")), fingerprint=fingerprint(group),
                    node=node, preview=preview, summary_tool=any(p["type"] == "Timeline" for p in node["outputs"]),
                    temporal=bool(node.get("temporal")) and kind == "run", notes=notes,
                    stream=next(iter(streams.values()), ""))
        return plan
    except (worker.WorkerError, ValueError, RuntimeError) as exc:
        _fail(group, folder, exc)


def _colour(io_values: Dict[str, Any], streams: Dict[str, str]) -> List[str]:
    """The script's OCIO config and the colourspace of the staged inputs join the run's I/O options,
    unless the node's I/O tab names them. The engine reads every input of a run in one colourspace: inputs
    that arrive in different ones pass none (each file's tag decides), and the note says so."""
    if not io_values.get("ocio_config"):
        io_values["ocio_config"] = colour.config_path()
    if io_values.get("input_colorspace") or not streams:
        return []
    spaces = set(streams.values())
    if len(spaces) == 1:
        io_values["input_colorspace"] = spaces.pop()
        return []
    said = ", ".join(f"{port}: {space}" for port, space in streams.items())
    return [f"the inputs arrive in different colourspaces ({said}); a run reads all its inputs in one, so "
            "none is passed: set I/O > input colorspace, or an OCIOColorSpace upstream"]


def _fail(group, folder: str, exc: Exception) -> NoReturn:
    """A job that could not be built: remove its empty version folder, show why, raise for Nuke."""
    if folder:
        worker.remove_if_empty(folder)
    _set_status(group, f"error: {exc}")
    raise JobFailed(f"FilmAI {group.name()}: {exc}", 2) from None


def _set_status(group, text: str) -> None:
    group["status"].setValue(text)


def _store(group, spec: worker.JobSpec, status: str, cfg: worker.WorkerConfig, error: str = "") -> None:
    """The job as JSON in a hidden knob (saved in the .nk): a farm can rebuild the command line."""
    jobs = json.loads(group[JOB_KNOB].value() or "{}")
    jobs[spec.kind] = {"status": status, "spec": spec.to_json(), "command": spec.command_line(cfg),
                       "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if error:
        jobs[spec.kind]["error"] = error
    group[JOB_KNOB].setValue(json.dumps(jobs))


# ----- main-thread steps (each short) ---------------------------------------------------------------


def _open_write(group_name: str, render: Render) -> str:
    """A temporary Write on pipe ``render.index`` of the group: 32-bit float EXR, only the channels the node
    reads, raw: no colour conversion, so the staged pixels are exactly those Nuke computed (an output
    transform and the run's conversion back would be an OCIO round trip, not exact for LUT-based spaces);
    the run is told which colourspace they are in (colour.stream_colorspace, the plan's I/O options)."""
    group = nuke.toNode(group_name)
    if group is None:
        raise RuntimeError(f"{group_name} was deleted")
    os.makedirs(os.path.dirname(render.pattern), exist_ok=True)
    parent = _parent(group)
    parent.begin()
    try:
        write = nuke.nodes.Write(file=render.pattern.replace(os.sep, "/"), file_type="exr")
        write["datatype"].setValue("32 bit float")
        write["compression"].setValue("Zip (1 scanline)")
        write["channels"].setValue(render.channels)
        write["metadata"].setValue("all metadata")
        write["raw"].setValue(True)
        if not write.setInput(0, group.input(render.index)):
            nuke.delete(write)
            raise RuntimeError(f"{group_name}: cannot connect a Write to input {render.port}")
        write.setName(f"FilmAI_input_{group.name()}_{render.port}", uniquify=True)
        return write.fullName()
    finally:
        parent.end()


def _render_frame(write_name: str, frame: int) -> None:
    write = nuke.toNode(write_name)
    if write is None:
        raise RuntimeError(f"{write_name} was deleted")
    nuke.execute(write, frame, frame, 1)


def _close_write(write_name: str) -> None:
    write = nuke.toNode(write_name)
    if write is not None:
        nuke.delete(write)


def _guarded(call: Callable, args: tuple) -> tuple:
    """Run on the main thread, returning ("ok", result) or ("error", message): executeInMainThreadWithResult
    hands back None (and only prints) when the call raises."""
    try:
        return "ok", call(*args)
    except Exception as exc:  # noqa: BLE001 - carried back to the worker thread as a message
        return "error", str(exc)


class _Cancelled(Exception):
    pass


class _Pipeline:
    """Everything after the button: render the inputs, run the worker, read summaries, show results.

    GUI: runs on a thread with a ProgressTask, doing Nuke work through executeInMainThreadWithResult
    one frame at a time. Terminal: runs in place."""

    def __init__(self, plan: Plan, cfg: worker.WorkerConfig, gui: bool):
        self.plan, self.cfg, self.gui = plan, cfg, gui
        self.task = None
        self.job: Optional[worker.Job] = None
        self.history: List[Dict[str, float]] = []
        self._last_progress = 0.0

    # main-thread hops
    def main(self, call: Callable, *args: Any) -> Any:
        if not self.gui:
            return call(*args)
        answer = nuke.executeInMainThreadWithResult(_guarded, (call, args))
        if answer is None:
            raise RuntimeError(f"{getattr(call, '__name__', call)} failed in Nuke's main thread")
        status, value = answer
        if status == "error":
            raise RuntimeError(value)
        return value

    def later(self, call: Callable, *args: Any) -> None:
        if self.gui:
            nuke.executeInMainThread(call, args)
        else:
            call(*args)

    def cancelled(self) -> bool:
        return self.task is not None and self.task.isCancelled()

    def progress(self, value: float, message: str) -> None:
        if self.task is not None:
            self.task.setProgress(int(max(0.0, min(1.0, value)) * 100))
            self.task.setMessage(message)
        elif message:
            nuke.tprint(f"FilmAI {self.plan.group}: {message}")

    # the steps
    def add_handles(self) -> None:
        """A temporal node: ask it (off the main thread) which input frames its windows need, and render
        those of its main input too, clamped to the upstream's frame range, so the node gets the same
        neighbours it gets from the whole sequence on disk."""
        # the engine hands windows of the node's first Frames input that the job binds
        render = next((r for p in self.plan.node.get("inputs", []) if p["type"] == "Frames"
                       for r in self.plan.renders if r.port == p["name"]), None)
        if render is None or render.available is None:
            return
        self.progress(0.0, "asking the node which input frames it needs")
        stop = threading.Event()
        task = worker.BackgroundTask(worker.frames_needed, self.cfg, self.plan.spec, cancel=stop,
                                     name="filmai-frames-needed")
        while not task.done:  # Cancel is honoured while a slow worker answers (and ends it)
            if self.cancelled():
                stop.set()
                raise _Cancelled()
            time.sleep(POLL_SECONDS if self.gui else 0.02)
        try:
            needed = task.wait()
        except worker.WorkerError as exc:
            raise RuntimeError(f"asking {self.plan.spec.node} which frames it needs: {exc}") from None
        render.frames = worker.with_handles(render.frames, needed, *render.available)

    def render_inputs(self) -> None:
        if self.plan.temporal:
            self.add_handles()
        renders = list(self.plan.renders) + ([self.plan.preview] if self.plan.preview else [])
        total = sum(len(r.frames) for r in renders) or 1
        done = 0
        for render in renders:
            write = self.main(_open_write, self.plan.group, render)
            try:
                for frame in render.frames:
                    if self.cancelled():
                        raise _Cancelled()
                    self.progress(0.2 * done / total, f"rendering {render.port} frame {frame}")
                    self.main(_render_frame, write, frame)
                    done += 1
            finally:
                self.main(_close_write, write)

    def run(self) -> None:
        plan = self.plan
        if self.gui:
            self.task = nuke.ProgressTask(f"FilmAI {plan.label}")
        try:
            try:
                self.render_inputs()
            except _Cancelled:
                self.discard()
                self.later(_cancelled_before_start, plan, self.cfg)
                return
            except RuntimeError as exc:
                self.discard()
                self.later(_render_failed, plan, self.cfg, str(exc), self.gui)
                return
            self.job = worker.Job(plan.spec, self.cfg, needs_torch=plan.needs_torch)
            try:
                self.job.start()
            except worker.WorkerError:
                self.discard()
                self.later(_finish, plan, self.job, self.cfg, {})
                return
            nuke.tprint(f"FilmAI: {plan.spec.command_line(self.cfg)}")
            self.follow()
            extras = self.after()
            self.later(_finish, plan, self.job, self.cfg, extras)
        except JobFailed:
            raise  # terminal mode: the exit code says it
        except Exception as exc:  # noqa: BLE001 - a thread never dies silently: the node says what happened
            if self.job is not None and not self.job.done:
                self.job.cancel()
            if not self.gui:
                raise
            self.later(_render_failed, plan, self.cfg, f"{type(exc).__name__}: {exc}", self.gui, "the job failed")
        finally:
            if self.task is not None:
                del self.task
                self.task = None

    def follow(self) -> None:
        job = self.job
        while True:
            for event in job.poll():
                if event.get("event") == "step" and "loss" in event:
                    self.history.append({k: float(event[k]) for k in ("step", "loss", "psnr") if k in event})
                if not self.gui and worker.describe_event(event):
                    nuke.tprint(f"FilmAI {self.plan.group}: {worker.describe_event(event)}")
            if self.cancelled():
                job.cancel()
            self.progress(0.2 + 0.8 * job.progress, job.status or job.state)
            if self.plan.kind == "train" and time.time() - self._last_progress > PROGRESS_SECONDS:
                self._last_progress = time.time()
                self.show_training()
            if job.done:
                break
            time.sleep(POLL_SECONDS if self.gui else 0.05)
        if self.plan.kind == "train":
            self.show_training()

    def show_training(self) -> None:
        """Draw the loss/PSNR graph (a PNG written here, off the main thread) and point the Progress tab at
        it and at the newest contact sheet."""
        work_dir = os.path.splitext(self.plan.spec.out)[0] + ".train"
        graph = ""
        if self.history:
            graph = os.path.join(work_dir if os.path.isdir(work_dir) else self.plan.folder,
                                 f"progress_{len(self.history):06d}.png")
            write_progress_graph(graph, self.history)
            for old in os.listdir(os.path.dirname(graph)):
                if old.startswith("progress_") and old.endswith(".png") and old != os.path.basename(graph):
                    try:
                        os.remove(os.path.join(os.path.dirname(graph), old))
                    except OSError:
                        pass
        sheets = sorted(n for n in os.listdir(work_dir) if n.startswith("contact_")) if os.path.isdir(work_dir) else []
        contact = os.path.join(work_dir, sheets[-1]) if sheets else ""
        self.later(_show_training, self.plan.group, list(self.history[-1:]), graph, contact)

    def after(self) -> Dict[str, Any]:
        """Plain-data work once the job has ended (a timeline's summary, the preview run)."""
        extras: Dict[str, Any] = {"history": list(self.history)}
        job = self.job
        if job.state != "done":
            return extras
        if self.plan.summary_tool:
            found = worker.timeline_files(self.plan.node, job.outputs())
            if "otio" in found:
                args = ["timeline", "cuts", found["otio"]] + (["--table", found["table"]] if "table" in found else [])
                try:
                    extras["summary"] = worker.tool(self.cfg, args).strip()
                except worker.WorkerError as exc:
                    extras["summary"] = f"(no summary: {exc})"
                extras["timeline"] = found["otio"]
        if self.plan.kind == "train" and self.plan.preview is not None:
            first = self.plan.renders[0].port if self.plan.renders else "input"
            preview = worker.JobSpec(node=self.plan.spec.node, inputs={first: self.plan.preview.pattern},
                                     outputs={"output": os.path.join(self.plan.folder, "preview", "preview.####.exr")},
                                     frames=worker.format_frames(self.plan.preview.frames), model=self.plan.spec.out,
                                     device=self.plan.spec.device,
                                     io={k: v for k, v in self.plan.spec.io.items()
                                         if k in ("ocio_config", "input_colorspace", "output_colorspace")})
            self.progress(0.99, "preview with the new model")
            run = worker.Job(preview, self.cfg, needs_torch=self.plan.needs_torch)
            try:
                run.start()
                run.wait()
                extras["preview"] = run.outputs().get("output") if run.state == "done" else None
                if run.state != "done":
                    extras["preview_error"] = run.summary()
            except worker.WorkerError as exc:
                extras["preview_error"] = str(exc)
        return extras

    def discard(self) -> None:
        """No partial inputs: the staged EXRs of a job that never ran go, and its empty version folder."""
        shutil.rmtree(os.path.join(self.plan.folder, "_input"), ignore_errors=True)
        worker.remove_if_empty(self.plan.folder)


def _launch(group, plan: Plan, cfg: worker.WorkerConfig):
    """Store the job, then run the pipeline: on a thread in the GUI, in place in terminal mode."""
    _store(group, plan.spec, "running", cfg)
    _set_status(group, "; ".join(["starting"] + plan.notes))
    for note in plan.notes:
        nuke.tprint(f"FilmAI {plan.group}: {note}")
    gui = bool(nuke.env.get("gui"))
    pipeline = _Pipeline(plan, cfg, gui)
    if gui:
        threading.Thread(target=pipeline.run, daemon=True, name=f"filmai-{plan.group}").start()
        return pipeline
    pipeline.run()
    return pipeline.job


def process(group=None, frames: str = ""):
    """Run the node over the frame range: temp EXR Write per input, the worker, the result in the Read.
    GUI: returns at once (the work goes on in a ProgressTask). Terminal: returns the finished job."""
    group = group or nuke.thisNode()
    node = node_schema(group)
    return _launch(group, _plan(group, node, "run", frames), config())


def train(group=None):
    """Start Training: the pairs (input, GroundTruth) at the training frames; the checkpoint becomes the
    node's Model File, and a connected Preview is shown with it."""
    group = group or nuke.thisNode()
    node = node_schema(group)
    return _launch(group, _plan(group, node, "train"), config())


# ----- main-thread endings --------------------------------------------------------------------------


def _cancelled_before_start(plan: Plan, cfg: worker.WorkerConfig) -> None:
    group = nuke.toNode(plan.group)
    if group is None:
        return
    _store(group, plan.spec, "cancelled", cfg)
    _set_status(group, "cancelled while rendering the inputs; nothing was written")


def _render_failed(plan: Plan, cfg: worker.WorkerConfig, message: str, gui: bool,
                   what: str = "rendering the inputs failed") -> None:
    group = nuke.toNode(plan.group)
    text = f"FilmAI {plan.group}: {what}: {message}"
    if group is not None:
        _store(group, plan.spec, "failed", cfg, error=message)
        _set_status(group, f"error: {message}")
    if gui:
        nuke.message(text)
        return
    raise JobFailed(text, 2)


def _show_training(group_name: str, last: List[Dict[str, float]], graph: str, contact: str) -> None:
    group = nuke.toNode(group_name)
    if group is None or group.knob("progress_text") is None:
        return
    if last:
        m = last[-1]
        text = f"step {int(m['step'])}  loss {m['loss']:.4g}" + (f"  validation PSNR {m['psnr']:.2f} dB"
                                                                 if "psnr" in m else "")
        group["progress_text"].setValue(text)
    if graph:
        group["progress_graph"].setValue(f'<img src="{graph}"><br><font color="#f0a040">loss</font> '
                                         f'<font color="#60d080">validation PSNR</font>')
    if contact:
        group["contact_sheet"].setValue(f'<img src="{contact}" width="480"><br>{os.path.basename(contact)}: '
                                        'input | output | ground truth')


def _finish(plan: Plan, job: worker.Job, cfg: worker.WorkerConfig, extras: Dict[str, Any]) -> None:
    """Main thread: show what the job made, or say why it did not."""
    group = nuke.toNode(plan.group)
    if group is None:
        return  # deleted while running; the files are on disk
    _store(group, job.spec, job.state, cfg, error=job.error if job.state == "failed" else "")
    _set_status(group, job.summary())
    if job.state == "failed":
        made = [n for n in os.listdir(plan.folder) if n != "_input"] if os.path.isdir(plan.folder) else []
        if not made:  # nothing came of it: the inputs rendered for it go too (Process renders them again)
            shutil.rmtree(os.path.join(plan.folder, "_input"), ignore_errors=True)
        worker.remove_if_empty(plan.folder)
        if nuke.env.get("gui"):
            nuke.message(job.summary())
            return
        raise JobFailed(job.summary(), job.exit_code or 1)
    if job.spec.kind == "train":
        if job.state == "done":
            knob = group.knob("modelFile") or group.knob("model")
            if knob is not None:
                knob.setValue(job.spec.out)
        preview = extras.get("preview")
        if preview:
            _show_frames(group, preview, plan)
            _set_status(group, f"{job.summary()}; showing the Preview input with the new model (Process applies "
                               "it to the whole range)")
        elif extras.get("preview_error"):
            _set_status(group, f"{job.summary()}; preview failed: {extras['preview_error']}")
        return
    handles = worker.describe_handles(job.manifest)
    if handles:
        _set_status(group, f"{job.summary()}; {handles}")
    node = plan.node
    shown = False
    for port in node["outputs"]:
        entry = job.outputs().get(port["name"])
        if entry and port["type"] == "Frames":
            shown = _show_frames(group, entry, plan) or shown
    if extras.get("timeline"):
        group["timeline"].setValue(extras["timeline"])
        group["summary"].setValue(extras.get("summary", "").replace("\n", "<br>"))
    if shown or extras.get("timeline"):
        group[PROCESSED_KNOB].setValue(plan.fingerprint)
        group["tile_color"].setValue(0)
        check_stale(group)


def _show_frames(group, entry: Dict[str, Any], plan: Plan) -> bool:
    """Point the internal Read at a result, reading it as the colourspace it was written in: the manifest's
    record, else the output colourspace asked for, else the input's (what the engine writes then)."""
    pattern = entry["pattern"]
    frames = sorted(set(worker.expand_frames(entry.get("frames_written", "")))
                    | set(worker.expand_frames(entry.get("frames_skipped", ""))))
    if not frames:
        return False
    group.begin()
    try:
        read = nuke.toNode("result")
        if read is None:
            return False
        read["file"].setValue(pattern.replace(os.sep, "/"))
        for knob in ("first", "origfirst"):
            read[knob].setValue(frames[0])
        for knob in ("last", "origlast"):
            read[knob].setValue(frames[-1])
        io = plan.spec.io
        written = entry.get("colorspace") or io.get("output_colorspace") or io.get("input_colorspace") or ""
        note = colour.set_result_read(read, written, plan.stream)
        if note:
            _set_status(group, f"{group['status'].value()}; {note}")
        read["on_error"].setValue("black")  # frames a cancel did not reach stay black, never stale
        read["reload"].execute()
        nuke.toNode("show_result")["which"].setValue(1)
    finally:
        group.end()
    return True


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
    _in_background_or_now(group, f"writing {target}", worker.timeline_convert, config(), source, target, rate=fps)
    return target


def _in_background_or_now(group, doing: str, fn: Callable, *args: Any, **kwargs: Any) -> None:
    """A worker tool call: on a thread in the GUI (the status says when it is done), in place in terminal
    mode (errors raise)."""
    if not nuke.env.get("gui"):
        result = fn(*args, **kwargs)
        _set_status(group, f"wrote {result}")
        return
    name = group.fullName()
    _set_status(group, doing)

    def work() -> None:
        try:
            message = f"wrote {fn(*args, **kwargs)}"
        except (worker.WorkerError, OSError, ValueError) as exc:
            message = f"error: {exc}"
        nuke.executeInMainThread(_status_of, (name, message))

    worker.BackgroundTask(work, name=f"filmai-{fn.__name__}")


def _status_of(name: str, message: str) -> None:
    group = nuke.toNode(name)
    if group is not None:
        _set_status(group, message)
    if message.startswith("error:"):
        nuke.message(f"FilmAI {name}: {message[7:]}")


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
    if os.path.isdir(path) and os.listdir(path):  # said at once, not after a thread
        raise worker.WorkerError(f"{path} exists and is not empty; farm jobs are never overwritten")
    _in_background_or_now(group, f"writing {path}", worker.farm_template, config(), spec, path,
                          int(group["chunk"].value()))
    return path


# ----- the training graph: a small PNG, standard library only ---------------------------------------


def write_progress_graph(path: str, history: List[Dict[str, float]], width: int = 360, height: int = 140) -> str:
    """Loss (orange, log scale) and validation PSNR (green) against the step, as an RGB PNG that the
    Progress tab shows (Nuke's Text_Knob renders HTML, images included)."""
    bg, grid = (38, 38, 38), (70, 70, 70)
    px = bytearray(bytes(bg) * (width * height))

    def put(x: int, y: int, c) -> None:
        if 0 <= x < width and 0 <= y < height:
            i = (y * width + x) * 3
            px[i:i + 3] = bytes(c)

    def line(x0, y0, x1, y1, c) -> None:
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            put(x0, y0, c)
            put(x0, y0 + 1, c)
            if x0 == x1 and y0 == y1:
                break
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    for gy in range(0, height, height // 4):
        for x in range(width):
            put(x, gy, grid)
    steps = [h["step"] for h in history]
    s0, s1 = min(steps), max(steps)

    def curve(values, colour, transform) -> None:
        pts = [(h["step"], transform(v)) for h, v in values]
        if not pts:
            return
        lo, hi = min(p[1] for p in pts), max(p[1] for p in pts)
        span, sspan = (hi - lo) or 1.0, (s1 - s0) or 1.0
        xy = [(int((s - s0) / sspan * (width - 1)), int((1 - (v - lo) / span) * (height - 5)) + 2) for s, v in pts]
        for a, b in zip(xy, xy[1:] or xy):
            line(a[0], a[1], b[0], b[1], colour)

    import math

    curve([(h, h["loss"]) for h in history if h.get("loss", 0) > 0], (240, 160, 64), math.log10)
    curve([(h, h["psnr"]) for h in history if "psnr" in h], (96, 208, 128), float)
    raw = b"".join(b"\x00" + bytes(px[y * width * 3:(y + 1) * width * 3]) for y in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, path)
    return path
