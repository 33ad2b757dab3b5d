"""Add-on preferences: where node work runs (worker Python / environment), the device, the output root.

Where the worker settings come from, first match wins (the log line of every job says which):

1. the add-on preferences, when set (an artist's session);
2. the environment: ``FILMAI_PYTHON``, ``FILMAI_WORKER_MODE``, ``FILMAI_WORKER_ENV``, ``FILMAI_DEVICE``
   (farm wrappers, CI; the same variables the Nuke plug-in reads);
3. the settings last saved from the preferences, ``worker.json`` in the extension's user folder:
   background Blender (``blender -b``) starts with factory preferences, and without this file would run
   nodes somewhere else than the artist configured;
4. defaults: in process when filmai-plugins imports in Blender's Python, else ``filmai`` on PATH.

The add-on may be enabled without an entry in the preferences (``addon_utils.enable(name)`` without
``default_set=True``, as scripts do): then there are no preferences to read and 2-4 apply.
"""

import os

import bpy
from bpy.props import EnumProperty, StringProperty

from . import worker

PACKAGE = __package__
SETTINGS_FILE = "worker.json"
DEFAULT_OUTPUT_ROOT = "//filmai/"


def _settings_path() -> str:
    return os.path.join(bpy.utils.extension_path_user(PACKAGE, path="", create=True), SETTINGS_FILE)


def _save_settings(self, context) -> None:
    """Preferences changed: mirror the worker settings to worker.json for background sessions."""
    try:
        config = _from_preferences(self)
        config.save(_settings_path())
    except (OSError, ValueError, worker.WorkerError) as exc:
        print(f"FilmAI: cannot save the worker settings for background sessions: {exc}")


class FILMAI_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

    python: StringProperty(
        name="Worker Python", subtype="FILE_PATH", update=_save_settings,
        description="Python of an environment with filmai-plugins (e.g. /opt/filmai/venv/bin/python). Empty: in "
                    "process when filmai-plugins imports inside Blender, else the `filmai` command on PATH")
    mode: EnumProperty(
        name="Run nodes", default="auto", update=_save_settings,
        items=[("auto", "Automatic", "In process when filmai-plugins imports in Blender and no worker Python is set, "
                                     "else in a worker process"),
               ("process", "Worker process", "Always in a separate process: Blender's Python and numpy stay untouched"),
               ("in_process", "In process", "In Blender's own Python, on a background thread")])
    env: StringProperty(
        name="Environment", update=_save_settings,
        description="Extra worker environment, KEY=VALUE separated by ';' (e.g. CUDA_VISIBLE_DEVICES=1; "
                    "FILMAI_PLUGIN_MODULES=studio.pack)")
    device: EnumProperty(
        name="Device", default="auto", update=_save_settings,
        items=[("auto", "Automatic", "CUDA, then Apple Metal, then CPU"), ("cpu", "CPU", ""),
               ("cuda", "CUDA", "NVIDIA GPU (pick one with CUDA_VISIBLE_DEVICES)"), ("mps", "Apple Metal", "")])
    output_root: StringProperty(
        name="Output folder", default=DEFAULT_OUTPUT_ROOT, subtype="DIR_PATH",
        description="Where node results go when a node has no output folder of its own ('//' = next to the .blend)")

    def draw(self, context):
        from . import nodes

        layout = self.layout
        col = layout.column()
        col.prop(self, "python")
        col.prop(self, "mode")
        col.prop(self, "env")
        col.prop(self, "device")
        col.prop(self, "output_root")
        config, source = worker_config_and_source(context)
        layout.label(text=f"Nodes run {config.describe()} ({source})", icon="INFO")
        row = layout.row()
        row.operator("filmai.reload_nodes", icon="FILE_REFRESH")
        row.label(text=nodes.STATE.status_line())
        for failure in nodes.STATE.schema.get("failed", []) if nodes.STATE.schema else []:
            layout.label(text=f"pack {failure['name']} failed: {failure['reason']}", icon="ERROR")


def get(context=None):
    """The add-on preferences, or None when the add-on is enabled without an entry in the preferences."""
    addon = (context or bpy.context).preferences.addons.get(PACKAGE)
    return addon.preferences if addon is not None else None


def output_root(context=None) -> str:
    p = get(context)
    return (p.output_root if p is not None else "") or DEFAULT_OUTPUT_ROOT


def _from_preferences(p) -> worker.WorkerConfig:
    return worker.WorkerConfig(python=bpy.path.abspath(p.python) if p.python else "", mode=p.mode,
                               env=worker.parse_env_text(p.env), device=p.device)


def worker_config_and_source(context=None) -> "tuple[worker.WorkerConfig, str]":
    """The worker settings in force and where they came from (see the module's docstring)."""
    p = get(context)
    if p is not None:
        config = _from_preferences(p)
        if not config.is_default:
            return config, "add-on preferences"
    config = worker.WorkerConfig.from_env()
    if not config.is_default:
        return config, "FILMAI_* environment variables"
    path = _settings_path()
    saved = worker.WorkerConfig.from_file(path)
    if saved is not None and not saved.is_default:
        return saved, f"saved settings {path}"
    return worker.WorkerConfig(), "defaults"


def worker_config(context=None) -> worker.WorkerConfig:
    return worker_config_and_source(context)[0]


CLASSES = (FILMAI_AP_preferences,)
