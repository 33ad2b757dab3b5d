"""The node list and everything generated from it: property groups, operators and panels per node.

The schema comes from where nodes run (``filmai nodes --json`` in the worker, or in process) and is
cached in the extension's user folder; "Reload nodes" asks again and re-registers the generated classes.
No node has hand-written UI: params become properties (ranges, enums, file paths), ports become sources.
"""

import json
import os
import time

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, FloatVectorProperty, IntProperty,
                       PointerProperty, StringProperty)

from . import prefs, worker

INT_LIMIT = 2**31 - 1


class _State:
    """What is registered now: the schema, the generated classes, the jobs running in this session."""

    def __init__(self):
        self.schema: dict | None = None
        self.error = ""
        self.source = ""
        self.classes: list = []
        self.jobs: dict = {}  # "run:<node id>" / "train:<node id>" -> jobs.HostJob
        self.skipped: list[str] = []  # nodes Blender refused, with the reason
        self.reload: worker.BackgroundTask | None = None  # a node-list query under way

    def nodes(self) -> list[dict]:
        return list(self.schema.get("nodes", [])) if self.schema else []

    def node(self, node_id: str) -> dict:
        return worker.find_node(self.schema or {}, node_id)

    def io_options(self) -> list[dict]:
        return list(self.schema.get("io_options", [])) if self.schema else []

    def status_line(self) -> str:
        if self.reload is not None:
            return f"asking the worker for its nodes ({time.time() - self.reload.started:.0f} s)"
        if self.error:
            return f"no nodes: {self.error}"
        if not self.schema:
            return "nodes not loaded"
        return f"{len(self.nodes())} nodes, filmai-plugins {self.schema.get('version', '?')} ({self.source})"


STATE = _State()
RELOAD_POLL_SECONDS = 0.1


# ----- schema -------------------------------------------------------------------------------------


def _cache_path() -> str:
    folder = bpy.utils.extension_path_user(prefs.PACKAGE, path="", create=True)
    return os.path.join(folder, "nodes.json")


def _config_key(config: worker.WorkerConfig) -> str:
    return json.dumps([config.python, config.mode, sorted(config.env.items())])


def cached_schema(config: worker.WorkerConfig) -> dict | None:
    """The node list cached for these worker settings (a file read: fine on the main thread)."""
    try:
        with open(_cache_path(), encoding="utf-8") as f:
            cached = json.load(f)
        if cached.get("key") == _config_key(config):
            return cached["schema"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or damaged: asked again
    return None


def _query(config: worker.WorkerConfig) -> dict:
    """Off the main thread: ask the worker (``filmai nodes --json``) and cache the answer."""
    schema = worker.query_schema(config)
    path = _cache_path()
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"key": _config_key(config), "schema": schema}, f)
    os.replace(tmp, path)
    return schema


def _source_name(config: worker.WorkerConfig) -> str:
    return "in process" if config.runs_in_process() else "worker process"


def load_schema() -> None:
    """At registration: the cached node list, else (background sessions only) ask and wait.

    In the UI nothing waits: without a cache, ``register`` starts :func:`start_reload` and the panels
    appear when the worker has answered."""
    config = prefs.worker_config()
    STATE.error = ""
    cached = cached_schema(config)
    if cached is not None:
        STATE.schema, STATE.source = cached, "cached"
        return
    if not bpy.app.background:
        STATE.schema = None
        return
    try:  # a script or farm session: no UI to freeze, and its next line needs the operators
        STATE.schema, STATE.source = _query(config), _source_name(config)
    except (worker.WorkerError, OSError) as exc:
        STATE.schema, STATE.error = None, str(exc)
        print(f"FilmAI: {exc}")


def start_reload() -> bool:
    """Ask the worker for its nodes on a background thread; the answer is applied on the main thread by
    :func:`reload_tick` (a ``bpy.app.timers`` callback). False when a reload is already under way."""
    if STATE.reload is not None:
        return False
    config = prefs.worker_config()
    STATE.reload = worker.BackgroundTask(_query, config, name="filmai-reload-nodes")
    STATE.reload.source = _source_name(config)
    if not bpy.app.timers.is_registered(reload_tick):
        bpy.app.timers.register(reload_tick, first_interval=RELOAD_POLL_SECONDS)
    return True


def reload_tick():
    """Timer callback (main thread): apply a finished reload; re-run in 0.1 s while it is under way."""
    task = STATE.reload
    if task is None:
        return None
    if not task.done:
        return RELOAD_POLL_SECONDS
    if STATE.jobs:  # never swap the classes under a running job: try again when it has ended
        return 0.5
    STATE.reload = None
    if task.error is not None:
        STATE.error = str(task.error)
        notify("ERROR", f"FilmAI: reload nodes failed: {task.error}")
        return None
    apply_schema(task.result, task.source)
    notify("WARNING" if STATE.skipped else "INFO", f"FilmAI: {STATE.status_line()}"
           + (f"; left out: {'; '.join(STATE.skipped)}" if STATE.skipped else ""))
    return None


def apply_pending_reload() -> None:
    """A reload that finished while no timer ran (background sessions have no event loop): apply it
    before an operator uses the node list."""
    if STATE.reload is not None and STATE.reload.done and not STATE.jobs:
        reload_tick()


def apply_schema(schema: dict, source: str) -> None:
    """Main thread: make ``schema`` the registered one (classes rebuilt only when it changed)."""
    STATE.error = ""
    changed = schema != STATE.schema or not STATE.classes
    STATE.schema, STATE.source = schema, source
    if changed:
        unregister_generated()
        register_generated()
    _redraw_all()


def notify(level: str, message: str) -> None:
    """Tell the artist (Info log and status bar through a tiny operator; the console always)."""
    print(message)
    try:
        bpy.ops.filmai.notify("EXEC_DEFAULT", level=level, message=message)
    except (RuntimeError, AttributeError):
        pass  # no window (background session): the console line is the report


def _redraw_all() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm else []:
        for area in window.screen.areas:
            area.tag_redraw()


# ----- params → properties ------------------------------------------------------------------------


def _clamp_int(v):
    return None if v is None else max(-INT_LIMIT, min(INT_LIMIT, int(v)))


def param_property(p: dict):
    """One schema param as a bpy property: hard range → min/max, soft range → slider, enum, paths, colours."""
    kind = p["type"]
    common = {"name": worker.display_label(p), "description": p.get("help", "")}
    if not p.get("animatable"):
        common["options"] = set()  # not animatable: one value per job
    if kind in ("int", "float"):
        conv = _clamp_int if kind == "int" else (lambda v: None if v is None else float(v))
        kw = dict(common)
        for key in ("min", "max", "soft_min", "soft_max"):
            if p.get(key) is not None:
                kw[key] = conv(p[key])
        default = p.get("default")
        if default is not None:
            kw["default"] = conv(default)
        return IntProperty(**kw) if kind == "int" else FloatProperty(precision=4, **kw)
    if kind == "bool":
        return BoolProperty(default=bool(p.get("default")), **common)
    if kind == "enum":
        items = [(c, c.replace("_", " ").capitalize(), "") for c in p["choices"]]
        return EnumProperty(items=items, default=p.get("default") or p["choices"][0], **common)
    if kind == "path":
        subtype = "DIR_PATH" if p.get("path_kind") == "directory" else "FILE_PATH"
        return StringProperty(default=p.get("default") or "", subtype=subtype, **common)
    if kind == "color":
        size = int(p.get("size", 3))
        default = tuple(p.get("default") or (0.0,) * size)
        return FloatVectorProperty(subtype="COLOR", size=size, default=default, **common)
    return StringProperty(default=p.get("default") or "", **common)


def property_value(pg, prop: str, p: dict):
    """The value of a generated property as the worker expects it (colour as a tuple)."""
    value = getattr(pg, prop)
    if p["type"] == "float":  # Blender stores single precision: 0.003 reads back as 0.0030000000260…
        return float(f"{value:.7g}")
    if p["type"] == "color":
        return tuple(float(f"{c:.7g}") for c in value)
    if p["type"] == "path" and value:
        return bpy.path.abspath(value)
    return value


# ----- static property groups ---------------------------------------------------------------------

SOURCE_KINDS = [
    ("IMAGE", "Image", "An image or image-sequence datablock (a generated or painted image is saved to EXR first)"),
    ("STRIP", "Strip", "An image or movie strip of the Video Sequencer"),
    ("RENDER", "Render", "This scene's rendered sequence (Output Properties path)"),
    ("FILES", "Files", "A file or sequence on disk: plate.####.exr, plate.%04d.exr or one frame of it"),
]


FRAME_PLACEMENTS = [
    ("SCENE_START", "First frame at scene start",
     "The sequence's first frame on disk shows at the scene's start frame, as Blender's Image node places a "
     "sequence it loads (plate 1001-1012 in a scene 1-12: file 1001 at frame 1)"),
    ("FRAME_NUMBERS", "Same numbers", "File frame N shows at scene frame N (a scene numbered like its plates)"),
    ("OFFSET", "Start and offset",
     "As an Image node's Start Frame and Offset: file frame = scene frame - Start + 1 + Offset"),
]


class FILMAI_PG_source(bpy.types.PropertyGroup):
    """Where one input port reads from, and (sequences) where its frames sit in the scene."""

    kind: EnumProperty(name="Source", items=SOURCE_KINDS, default="IMAGE")
    image: PointerProperty(name="Image", type=bpy.types.Image)
    strip: StringProperty(name="Strip", description="Name of a VSE image or movie strip")
    path: StringProperty(name="Path", subtype="FILE_PATH")
    placement: EnumProperty(name="Frames in scene", items=FRAME_PLACEMENTS, default="SCENE_START",
                            description="Where an image sequence's frames sit on the scene's timeline")
    frame_start: IntProperty(name="Start Frame", default=1,
                             description="Scene frame where the sequence starts (Start and offset)")
    frame_offset: IntProperty(name="Offset", default=0,
                              description="Offset to the file frame numbers (Start and offset): 1000 shows "
                                          "file 1001 at the start frame")


FRAME_MODES = [("ALL", "All", "Every frame of the source"),
               ("SCENE", "Scene range", "The scene's frame range"),
               ("CUSTOM", "Custom", "Frame numbers of the source: 1001-1100, 1001-1100x2, 1,5,9-12")]
BRING_BACK = [("IMAGE", "Image", "Load the result as an image sequence datablock"),
              ("STRIP", "Strip", "Add the result as a VSE strip above the source"),
              ("COMPOSITOR", "Compositor", "Add an Image node with the result to the scene's compositor"),
              ("NONE", "Files only", "Leave the result on disk")]


def has_target_port(node: dict) -> bool:
    """Trainable nodes may declare their training target as an input port (cnn.copycat does)."""
    return any(p["name"] == "target" and p["type"] == "Frames" for p in node["inputs"])


def training_only(node: dict, port: dict) -> bool:
    return bool(node.get("trainable")) and port["name"] == "target" and port["type"] == "Frames"


def node_property_group(node: dict, io_options: list[dict]):
    """The property group holding one node's settings in the scene (saved in the .blend)."""
    ann = {}
    for port in node["inputs"]:
        ann[f"in_{port['name']}"] = PointerProperty(type=FILMAI_PG_source, name=port["name"],
                                                    description=port.get("help", ""))
    ann["frame_mode"] = EnumProperty(name="Frames", items=FRAME_MODES, default="ALL")
    ann["frames"] = StringProperty(name="Frames", description="Frame numbers of the source: 1001-1100x2, 1,5,9-12")
    ann["out_dir"] = StringProperty(name="Output folder", subtype="DIR_PATH",
                                    description="Empty: the add-on's output folder. Each run writes a new version folder")
    ann["bring_back"] = EnumProperty(name="Result", items=BRING_BACK, default="IMAGE")
    ann["skip_existing"] = BoolProperty(name="Skip frames already done",
                                        description="Keep output frames already made with the same params and model")
    if node.get("model", "none") != "none":
        ann["model"] = StringProperty(name="Model", subtype="FILE_PATH",
                                      description="Checkpoint (empty: the node's shipped model, where it has one)")
    for p in node["params"]:
        ann[f"p_{p['name']}"] = param_property(p)
    if any(port["type"] == "Frames" for port in node["inputs"]):
        for p in io_options:
            ann[f"io_{p['name']}"] = param_property(p)
    if node.get("trainable"):
        if not has_target_port(node):
            ann["target"] = PointerProperty(type=FILMAI_PG_source, name="target",
                                            description="What the input should become (paired training)")
        ann["pair_frames"] = StringProperty(name="Training frames",
                                            description="Frames of the source to learn from, e.g. 1001,1040,1075")
        ann["checkpoint"] = StringProperty(name="Checkpoint", subtype="FILE_PATH",
                                           description="Where training writes (empty: a new version in the output folder)")
        ann["train_from_model"] = BoolProperty(name="Continue from model",
                                               description="Start training from the node's current model (fine-tune)")
    return type(f"FILMAI_PG_node_{worker.node_slug(node['id'])}", (bpy.types.PropertyGroup,), {"__annotations__": ann})


def scene_property_group(node_groups: dict):
    ann = {slug: PointerProperty(type=cls) for slug, cls in node_groups.items()}
    ann["jobs_json"] = StringProperty(
        name="Jobs", description="The last job of each node as JSON (read by `filmai blender jobs FILE.blend`)")
    ann["timelines_json"] = StringProperty(name="Timelines", description="Timeline results by node (JSON)")
    return type("FILMAI_PG_scene", (bpy.types.PropertyGroup,), {"__annotations__": ann})


def node_settings(scene, node_id: str):
    return getattr(scene.filmai, worker.node_slug(node_id))


# ----- registration -------------------------------------------------------------------------------


def register_generated() -> None:
    """Register property groups, operators and panels for every node of STATE.schema.

    A node whose classes Blender refuses is left out and listed (like a broken pack in the registry);
    the other nodes still work."""
    from . import operators, ui

    registered: list = []
    node_groups = {}
    usable = []
    STATE.skipped = []
    for node in STATE.nodes():
        try:
            group = node_property_group(node, STATE.io_options())
            bpy.utils.register_class(group)
        except Exception as exc:  # a schema Blender cannot express: report it, keep the rest
            STATE.skipped.append(f"{node['id']}: {exc}")
            continue
        registered.append(group)
        node_groups[worker.node_slug(node["id"])] = group
        usable.append(node)
    scene_group = scene_property_group(node_groups)
    bpy.utils.register_class(scene_group)
    registered.append(scene_group)
    bpy.types.Scene.filmai = PointerProperty(type=scene_group)
    for node in list(usable):
        done = []
        try:
            for cls in operators.node_operators(node):
                bpy.utils.register_class(cls)
                done.append(cls)
        except Exception as exc:
            for cls in reversed(done):
                bpy.utils.unregister_class(cls)
            STATE.skipped.append(f"{node['id']}: {exc}")
            usable.remove(node)
            continue
        registered += done
    for cls in ui.panels(usable):
        bpy.utils.register_class(cls)
        registered.append(cls)
    for line in STATE.skipped:
        print(f"FilmAI: node left out: {line}")
    STATE.classes = registered


def unregister_generated() -> None:
    if hasattr(bpy.types.Scene, "filmai"):
        del bpy.types.Scene.filmai
    for cls in reversed(STATE.classes):
        bpy.utils.unregister_class(cls)
    STATE.classes = []


CLASSES = (FILMAI_PG_source,)
