"""Validate (Blender): the work file a publish points back to is saved."""
import pyblish.api

from filmai_plugins.publish import lib
from filmai_plugins.publish.actions import FilmAIRepairAction


class FilmAIValidateBlenderFileSaved(pyblish.api.ContextPlugin):
    """A publish records the .blend it came from, so the file must be saved, without unsaved changes
    (in an interactive Blender; background sessions cannot tell)."""

    label = "FilmAI: .blend saved"
    order = pyblish.api.ValidatorOrder
    hosts = ["blender"]
    actions = [FilmAIRepairAction]
    repair_description = "save the .blend (only when it already has a file name)"

    def process(self, context):
        import bpy

        if not bpy.data.filepath:
            lib.fail_if(["the .blend has never been saved: save it (File > Save As) before publishing"])
        # Blender without a UI (bpy as a module, --background) never clears the dirty flag.
        if bpy.data.is_dirty and not bpy.app.background:
            lib.fail_if([f"{bpy.data.filepath} has unsaved changes"])

    @classmethod
    def repair(cls, context):
        import bpy

        if not bpy.data.filepath:
            raise RuntimeError("the .blend has no file name yet; saving needs a name (File > Save As)")
        bpy.ops.wm.save_mainfile()
        return f"saved {bpy.data.filepath}"
