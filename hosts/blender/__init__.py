"""FilmAI Plugins for Blender 5.0: every FilmAI node as an operator and a panel, generated from the schema.

Node work never runs on Blender's main thread and never installs anything into Blender's Python: it
runs in the headless host (``filmai``), in process on a thread when filmai-plugins imports here, else in
a worker process of the Python set in the preferences. Settings live in the scene (saved in the .blend)
and every job is also stored there as JSON, so ``filmai blender jobs shot.blend`` rebuilds it on a farm.

Headless (farm, CI): the bpy module starts with factory settings, so enable the extension in each
session (``addon_utils.enable("bl_ext.user_default.filmai")``), then call ``bpy.ops.filmai.run_<node>()``,
which runs synchronously. The worker settings then come from the environment or from those saved by the
preferences (see prefs.py).
"""

import bpy
from bpy.app.handlers import persistent

from . import data, jobs, nodes, operators, prefs, ui, worker  # noqa: F401  (submodules of the extension)

_STATIC = prefs.CLASSES + nodes.CLASSES + operators.CLASSES


@persistent
def _on_load_pre(*_args) -> None:
    """Another file loads: the running jobs' scenes go away with this one; stop them (complete frames kept)."""
    for host_job in list(nodes.STATE.jobs.values()):
        host_job.abandon("another file was loaded")


@persistent
def _on_load_post(*_args) -> None:
    """The loaded file's jobs stored as running ran in a session that is gone: mark them interrupted."""
    count = jobs.mark_interrupted_jobs()
    if count:
        print(f"FilmAI: {count} job(s) in this file were interrupted; their folders keep the complete frames")


def register() -> None:
    for cls in _STATIC:
        bpy.utils.register_class(cls)
    nodes.load_schema()
    nodes.register_generated()
    if nodes.STATE.schema is None and not nodes.STATE.error:
        nodes.start_reload()  # the UI never waits for the worker: panels appear when it answers
    bpy.app.handlers.load_pre.append(_on_load_pre)
    bpy.app.handlers.load_post.append(_on_load_post)


def unregister() -> None:
    for handlers, fn in ((bpy.app.handlers.load_pre, _on_load_pre), (bpy.app.handlers.load_post, _on_load_post)):
        if fn in handlers:
            handlers.remove(fn)
    for timer in (nodes.reload_tick, operators.tools_tick):
        if bpy.app.timers.is_registered(timer):
            bpy.app.timers.unregister(timer)
    for host_job in list(nodes.STATE.jobs.values()):
        host_job.abandon("the add-on was disabled")  # a worker never outlives the add-on
    nodes.STATE.reload = None
    nodes.unregister_generated()
    for cls in reversed(_STATIC):
        bpy.utils.unregister_class(cls)
