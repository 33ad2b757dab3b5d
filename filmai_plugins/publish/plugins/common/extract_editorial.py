"""Extract: the timeline as OTIO (the source of truth) and as a CMX 3600 EDL for editors."""
import os

import pyblish.api

from filmai_plugins.publish import lib


class FilmAIExtractEditorial(pyblish.api.InstancePlugin):
    """Writes the timeline again as .otio, and as .edl when the timeline fits CMX 3600 (one video
    track); an EDL that cannot be written is a warning, the OTIO is what is published."""

    label = "FilmAI: OTIO and EDL"
    order = pyblish.api.ExtractorOrder
    families = ["editorial"]

    def process(self, instance):
        import opentimelineio as otio

        timeline = otio.adapters.read_from_file(instance.data["timeline"])
        staging = lib.staging_of(instance)
        out = os.path.join(staging, "timeline.otio")
        otio.adapters.write_to_file(timeline, out)
        lib.add_representation(instance, "timeline", out, ".otio")
        edl = os.path.join(staging, "timeline.edl")
        try:
            # black gaps as BL events (fades to/from black) and record time from the timeline's start
            from filmai_plugins.timeline import edl_text

            text = edl_text(timeline)
            with open(edl, "w", encoding="utf-8") as f:
                f.write(text)
        except Exception as exc:
            if os.path.exists(edl):
                os.remove(edl)
            self.log.warning("no EDL: %s", exc)
            return
        lib.add_representation(instance, "edl", edl, ".edl")
