"""FilmAI Plugins for Blender 5.0: every FilmAI node as an operator and a panel, generated from the schema.

Node work never runs on Blender's main thread and never installs anything into Blender's Python: it
runs in the headless host (``filmai``), in process on a thread when filmai-plugins imports here, else in
a worker process of the Python set in the preferences. Settings live in the scene (saved in the .blend)
and every job is also stored there as JSON, so ``filmai blender jobs shot.blend`` rebuilds it on a farm.

Headless (farm, CI): the bpy module starts with factory settings, so enable the extension in each
session (``addon_utils.enable("bl_ext.user_default.filmai")`` or ``bpy.ops.wm.read_userpref()``), then
call ``bpy.ops.filmai.run_<node>()``, which runs synchronously.
"""

import bpy

from . import data, jobs, nodes, operators, prefs, ui, worker  # noqa: F401  (submodules of the extension)

_STATIC = prefs.CLASSES + nodes.CLASSES + operators.CLASSES


def register() -> None:
    for cls in _STATIC:
        bpy.utils.register_class(cls)
    nodes.load_schema()
    nodes.register_generated()


def unregister() -> None:
    for host_job in list(nodes.STATE.jobs.values()):
        host_job.job.cancel()  # a worker never outlives the add-on
    nodes.unregister_generated()
    for cls in reversed(_STATIC):
        bpy.utils.unregister_class(cls)
