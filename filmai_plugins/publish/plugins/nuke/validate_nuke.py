"""Validate (Nuke): the script a publish points back to is saved."""
import pyblish.api

from filmai_plugins.publish import lib
from filmai_plugins.publish.actions import FilmAIRepairAction


class FilmAIValidateNukeScriptSaved(pyblish.api.ContextPlugin):
    """A publish records the script it came from, so the script must be saved, without unsaved changes."""

    label = "FilmAI: Nuke script saved"
    order = pyblish.api.ValidatorOrder
    hosts = ["nuke"]
    actions = [FilmAIRepairAction]
    repair_description = "save the script (only when it already has a file name)"

    def process(self, context):
        import nuke

        root = nuke.root()
        if root.name() in ("", "Root"):
            lib.fail_if(["the script has never been saved: save it before publishing"])
        if root.modified():
            lib.fail_if([f"{root.name()} has unsaved changes"])

    @classmethod
    def repair(cls, context):
        import nuke

        if nuke.root().name() in ("", "Root"):
            raise RuntimeError("the script has no file name yet; saving needs a name")
        nuke.scriptSave()
        return f"saved {nuke.root().name()}"
