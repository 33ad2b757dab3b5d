"""Collect: decode every frame of each rendered sequence once; the validators check what was found."""
import pyblish.api

from filmai_plugins.publish import lib


class FilmAICollectFrames(pyblish.api.InstancePlugin):
    """Reads every expected frame completely (threads), recording size, channels, pixel types,
    NaN/Inf count, peak value, colourspace, time code and provenance, or the reason it cannot be read."""

    label = "FilmAI: read every frame"
    order = pyblish.api.CollectorOrder + 0.3
    families = ["render"]

    def process(self, instance):
        recorded = lib.recorded_checksums(instance.data, instance.context.data["filmai_manifests"])
        instance.data["checksums_recorded"] = recorded
        info, missing = lib.scan_sequence(instance.data["pattern"], instance.data.get("frames_expected") or [],
                                          checksums=recorded)
        instance.data["frame_info"] = info
        instance.data["frames_missing"] = missing
        readable = [i for i in info.values() if "error" not in i]
        if readable:
            first = readable[0]
            dw = first["display_window"]
            instance.data["resolution"] = [dw[2], dw[3]]
            instance.data["channels"] = first["channels"]
            instance.data["pixel_types"] = first["pixel_types"]
            instance.data["bytes"] = sum(i["size"] for i in readable)
        timed = [i for _, i in sorted(info.items()) if i.get("timecode")]
        if timed:  # the plate's own time code (EXR timeCode), carried through by the run
            instance.data["timecode"] = {"first_frame": timed[0]["frame"], "first": timed[0]["timecode"],
                                         "last_frame": timed[-1]["frame"], "last": timed[-1]["timecode"],
                                         "fps": timed[0].get("fps"), "source": "EXR timeCode",
                                         "frames": {i["frame"]: i["timecode"] for i in timed}}
