"""Validate: every frame decodes, all frames agree on format, and the pixels are usable."""
import pyblish.api

from filmai_plugins.publish import lib
from filmai_plugins.publish.actions import FilmAIRepairAction


def _readable(instance):
    return [i for _, i in sorted(instance.data.get("frame_info", {}).items()) if "error" not in i]


def _groups(infos, key):
    """{value: [frames]} for a per-frame property, in frame order."""
    out = {}
    for i in infos:
        out.setdefault(key(i), []).append(i["frame"])
    return out


class FilmAIValidateFramesReadable(pyblish.api.InstancePlugin):
    """Every frame on disk decodes completely (truncated, corrupt and foreign files are listed)."""

    label = "FilmAI: every frame readable"
    order = pyblish.api.ValidatorOrder + 0.11
    families = ["render"]
    actions = [FilmAIRepairAction]
    repair_description = "re-run the node for the unreadable frames (they are written again, atomically)"

    def process(self, instance):
        bad = [i for _, i in sorted(instance.data.get("frame_info", {}).items()) if "error" in i]
        lib.fail_if([i["error"] for i in bad])

    @classmethod
    def repair(cls, instance):
        return lib.repair_by_rerender(instance)


class FilmAIValidateFrameFormat(pyblish.api.InstancePlugin):
    """All frames share one resolution (display window), one channel list and one pixel type per
    channel. Data windows may differ from frame to frame (cropped renders); display windows may not."""

    label = "FilmAI: resolution, channels, pixel types consistent"
    order = pyblish.api.ValidatorOrder + 0.12
    families = ["render"]

    def process(self, instance):
        infos = _readable(instance)
        problems = []
        checks = (("resolution", lambda i: "{2}x{3} at ({0},{1})".format(*i["display_window"])),
                  ("channels", lambda i: ",".join(i["channels"])),
                  ("pixel types", lambda i: ",".join(i["pixel_types"])))
        for what, key in checks:
            groups = _groups(infos, key)
            if len(groups) > 1:
                problems.append(f"frames differ in {what}: " + "; ".join(
                    f"{value} on {lib.ranges(frames)}" for value, frames in groups.items()))
        lib.fail_if(problems)


class FilmAIValidateFrameValues(pyblish.api.InstancePlugin):
    """No NaN or Inf pixel values, and not every frame black (a render that produced nothing).
    A few black frames in a sequence that has picture are allowed (fades), and reported as a warning."""

    label = "FilmAI: no NaN/Inf, not all black"
    order = pyblish.api.ValidatorOrder + 0.13
    families = ["render"]

    def process(self, instance):
        infos = _readable(instance)
        problems = [f"{i['path']} (frame {i['frame']}): {i['nonfinite']} NaN/Inf pixel values"
                    for i in infos if i["nonfinite"]]
        black = [i["frame"] for i in infos if i["peak"] == 0.0]
        if infos and len(black) == len(infos):
            problems.append(f"every frame is black ({lib.ranges(black)}): the run produced no picture")
        elif black:
            self.log.warning("black frames: %s", lib.ranges(black))
        lib.fail_if(problems)
