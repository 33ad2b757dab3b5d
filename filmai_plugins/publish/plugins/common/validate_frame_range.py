"""Validate: every frame of the range is on disk."""
import pyblish.api

from filmai_plugins.publish import lib
from filmai_plugins.publish.actions import FilmAIRepairAction


class FilmAIValidateFrameRange(pyblish.api.InstancePlugin):
    """The sequence holds every frame of its range (the manifests' range, or --frames)."""

    label = "FilmAI: frame range complete"
    order = pyblish.api.ValidatorOrder + 0.1
    families = ["render"]
    actions = [FilmAIRepairAction]
    repair_description = "re-run the node from its manifest for the missing frames (--skip-existing keeps the rest)"

    def process(self, instance):
        expected = instance.data.get("frames_expected") or []
        missing = instance.data.get("frames_missing") or []
        problems = []
        if not expected:
            problems.append("no frame range: the manifests list no frames (give --frames)")
        elif missing:
            problems.append(f"{len(missing)} of {len(expected)} frames missing: {lib.ranges(missing)} "
                            f"({instance.data['pattern']}, range {lib.ranges(expected)} from "
                            f"{instance.data.get('frames_source', 'manifests')})")
        lib.fail_if(problems)

    @classmethod
    def repair(cls, instance):
        return lib.repair_by_rerender(instance)
