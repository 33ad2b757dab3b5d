"""Validate: each frame is byte for byte what its run wrote (the sha256 recorded in the run manifest)."""
import pyblish.api

from filmai_plugins.publish import lib
from filmai_plugins.publish.actions import FilmAIRepairAction


class FilmAIValidateChecksums(pyblish.api.InstancePlugin):
    """A frame changed after its run (painted over, inverted, re-saved by another tool: the header and
    provenance may still match) no longer has the sha256 the run recorded when it wrote the file.
    Frames whose run recorded no checksum (older runs) are not checked."""

    label = "FilmAI: frames unchanged since their run (sha256)"
    order = pyblish.api.ValidatorOrder + 0.16
    families = ["render"]
    actions = [FilmAIRepairAction]
    repair_description = "re-render the changed frames (their files are replaced atomically)"

    def process(self, instance):
        recorded = instance.data.get("checksums_recorded") or {}
        changed = {}
        for number, info in sorted(instance.data.get("frame_info", {}).items()):
            expected = recorded.get(number)
            if expected and "sha256" in info and info["sha256"] != expected[0]:
                changed.setdefault(expected[1].rsplit("/", 1)[-1], []).append(number)
        instance.data["checksums_verified"] = sum(1 for n in recorded if "sha256" in instance.data.get(
            "frame_info", {}).get(n, {}))
        lib.fail_if([f"frames {lib.ranges(frames)}: the file changed after the run wrote it (sha256 differs from "
                     f"what {manifest} recorded)" for manifest, frames in changed.items()])

    @classmethod
    def repair(cls, instance):
        recorded = instance.data.get("checksums_recorded") or {}
        changed = [n for n, info in sorted(instance.data.get("frame_info", {}).items())
                   if recorded.get(n) and info.get("sha256") not in (None, recorded[n][0])]
        if not changed:
            return "nothing changed"
        return lib.rerender_frames(instance, changed, "changed after the run")
