"""Validate: a timeline reads with OpenTimelineIO and holds clips."""
import os

import pyblish.api

from filmai_plugins.publish import lib


class FilmAIValidateTimeline(pyblish.api.InstancePlugin):
    """The .otio file reads, has at least one track with clips, and every clip has a positive
    duration; media references that point at missing files are reported as warnings."""

    label = "FilmAI: timeline reads and holds clips"
    order = pyblish.api.ValidatorOrder + 0.1
    families = ["editorial"]

    def process(self, instance):
        import opentimelineio as otio

        path = instance.data["timeline"]
        try:
            timeline = otio.adapters.read_from_file(path)
        except Exception as exc:
            lib.fail_if([f"{path}: OpenTimelineIO cannot read it: {exc}"])
        problems = []
        if not isinstance(timeline, otio.schema.Timeline):
            lib.fail_if([f"{path}: holds a {type(timeline).__name__}, not a Timeline"])
        clips = list(timeline.find_clips())
        if not timeline.tracks or not clips:
            problems.append(f"{path}: the timeline has no clips")
        for clip in clips:
            rng = clip.source_range or clip.available_range()
            if rng.duration.value <= 0:
                problems.append(f"{path}: clip {clip.name!r} has no duration")
            ref = clip.media_reference
            url = getattr(ref, "target_url", "") or ""
            if url.startswith("file://"):
                url = url[len("file://"):]
            if url and not url.startswith(("http:", "https:")) and "#" not in url and "%" not in url \
                    and not os.path.exists(url):
                self.log.warning("clip %s: media %s not found", clip.name, url)
        instance.data["timeline_summary"] = {"name": timeline.name, "clips": len(clips),
                                             "tracks": len(timeline.tracks),
                                             "duration_s": float(timeline.duration().to_seconds())}
        lib.fail_if(problems)
