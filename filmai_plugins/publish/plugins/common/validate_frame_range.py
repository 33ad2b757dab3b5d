"""Validate: every frame of the range is on disk, the handles leave a cut, the time code runs on."""
import pyblish.api

from filmai_plugins.errors import BadInput
from filmai_plugins.publish import lib
from filmai_plugins.publish.actions import FilmAIRepairAction


class FilmAIValidateFrameRange(pyblish.api.InstancePlugin):
    """The sequence holds every frame of its range (the manifests' range, or --frames); --handles
    (head and tail frames outside the cut) fit inside it, giving the cut range a shot-tracking system
    records. Frames whose headers carry a time code must run on one frame per frame number (a jump
    is a warning: a retimed or re-used plate)."""

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
        if expected:
            try:
                instance.data["frame_range"] = lib.cut_range(expected, instance.context.data.get("filmai_handles")
                                                             or (0, 0))
            except BadInput as exc:
                problems.append(str(exc))
        self._check_timecode(instance)
        lib.fail_if(problems)

    def _check_timecode(self, instance):
        tc = instance.data.get("timecode")
        c = instance.context.data
        fps = (tc or {}).get("fps") or c.get("filmai_fps") or c.get("filmai_host_fps")
        if not tc or not fps or len(tc["frames"]) < 2:
            return
        import opentimelineio as otio

        first = tc["first_frame"]
        try:
            start = otio.opentime.from_timecode(tc["first"], fps).value
            jumps = [f for f, code in sorted(tc["frames"].items())
                     if otio.opentime.from_timecode(code, fps).value - start != f - first]
        except ValueError as exc:  # a time code the rate cannot hold (frame 30 at 24 fps)
            self.log.warning("time code does not fit %g fps: %s", fps, exc)
            return
        if jumps:
            self.log.warning("time code does not run on with the frame numbers at frames %s (first %s at frame %d, "
                             "%g fps)", lib.ranges(jumps), tc["first"], first, fps)

    @classmethod
    def repair(cls, instance):
        return lib.repair_by_rerender(instance)
