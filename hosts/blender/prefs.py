"""Add-on preferences: where node work runs (worker Python / environment), the device, the output root."""

import bpy
from bpy.props import EnumProperty, StringProperty

from . import worker

PACKAGE = __package__


class FILMAI_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

    python: StringProperty(
        name="Worker Python", subtype="FILE_PATH",
        description="Python of an environment with filmai-plugins (e.g. /opt/filmai/venv/bin/python). Empty: in "
                    "process when filmai-plugins imports inside Blender, else the `filmai` command on PATH")
    mode: EnumProperty(
        name="Run nodes", default="auto",
        items=[("auto", "Automatic", "In process when filmai-plugins imports in Blender and no worker Python is set, "
                                     "else in a worker process"),
               ("process", "Worker process", "Always in a separate process: Blender's Python and numpy stay untouched"),
               ("in_process", "In process", "In Blender's own Python, on a background thread")])
    env: StringProperty(
        name="Environment",
        description="Extra worker environment, KEY=VALUE separated by ';' (e.g. CUDA_VISIBLE_DEVICES=1; "
                    "FILMAI_PLUGIN_MODULES=studio.pack)")
    device: EnumProperty(
        name="Device", default="auto",
        items=[("auto", "Automatic", "CUDA, then Apple Metal, then CPU"), ("cpu", "CPU", ""),
               ("cuda", "CUDA", "NVIDIA GPU (pick one with CUDA_VISIBLE_DEVICES)"), ("mps", "Apple Metal", "")])
    output_root: StringProperty(
        name="Output folder", default="//filmai/", subtype="DIR_PATH",
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
        row = layout.row()
        row.operator("filmai.reload_nodes", icon="FILE_REFRESH")
        row.label(text=nodes.STATE.status_line())
        for failure in nodes.STATE.schema.get("failed", []) if nodes.STATE.schema else []:
            layout.label(text=f"pack {failure['name']} failed: {failure['reason']}", icon="ERROR")


def get(context=None) -> FILMAI_AP_preferences:
    return (context or bpy.context).preferences.addons[PACKAGE].preferences


def worker_config(context=None) -> worker.WorkerConfig:
    p = get(context)
    return worker.WorkerConfig(python=bpy.path.abspath(p.python) if p.python else "", mode=p.mode,
                               env=worker.parse_env_text(p.env), device=p.device)


CLASSES = (FILMAI_AP_preferences,)
