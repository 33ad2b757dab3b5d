"""Extract: a thumbnail, a contact sheet and an H.264 preview movie, through the OCIO display transform."""
import os

import pyblish.api

from filmai_plugins.frames.sequence import SequencePattern
from filmai_plugins.publish import lib, media

DEFAULT_FPS = 24.0


def _config(instance):
    """The OCIO config the colourspace was validated in (the run's), for the display transform."""
    colour = instance.data.get("filmai_colour")
    return colour.config if colour is not None else None


def _frames(instance):
    seq = SequencePattern(instance.data["pattern"])
    return [(f, seq.path(f)) for f in instance.data["frames_expected"]]


class FilmAIExtractThumbnail(pyblish.api.InstancePlugin):
    """The middle frame, shrunk in linear light, through the config's default display and view."""

    label = "FilmAI: thumbnail"
    order = pyblish.api.ExtractorOrder
    families = ["render"]

    def process(self, instance):
        frames = _frames(instance)
        number, path = frames[len(frames) // 2]
        out = os.path.join(lib.staging_of(instance), "thumbnail.jpg")
        media.write_thumbnail(out, path, number, instance.data["colorspace"], config=_config(instance))
        lib.add_representation(instance, "thumbnail", out, "_thumbnail.jpg", frame=number)


class FilmAIExtractContactSheet(pyblish.api.InstancePlugin):
    """Up to twelve frames spread over the range, labelled with their frame numbers."""

    label = "FilmAI: contact sheet"
    order = pyblish.api.ExtractorOrder + 0.01
    families = ["render"]

    def process(self, instance):
        picked = set(media.pick_frames(instance.data["frames_expected"], media.SHEET_MAX_FRAMES))
        sources = [(f, p) for f, p in _frames(instance) if f in picked]
        out = os.path.join(lib.staging_of(instance), "sheet.jpg")
        c = instance.context.data
        title = f"{c['filmai_shot']} {c['filmai_task']} {instance.data['name']}  {instance.data['colorspace']}"
        media.write_sheet(out, sources, instance.data["colorspace"], title=title, config=_config(instance))
        lib.add_representation(instance, "sheet", out, "_sheet.jpg", frames=sorted(picked))


class FilmAIExtractPreviewMovie(pyblish.api.InstancePlugin):
    """An H.264 MP4 of every frame (yuv420p, BT.709-tagged, at most 1920 wide). The frame rate is
    --fps, else the frames' own FramesPerSecond, else the host's (Blender scene, Nuke root), else 24."""

    label = "FilmAI: H.264 preview movie"
    order = pyblish.api.ExtractorOrder + 0.02
    families = ["render"]

    def process(self, instance):
        c = instance.context.data
        if not c.get("filmai_movie", True):
            self.log.info("preview movie turned off (--no-movie)")
            return
        first = next((i for i in instance.data.get("frame_info", {}).values() if i.get("fps")), None)
        fps = c.get("filmai_fps") or (first or {}).get("fps") or c.get("filmai_host_fps") or DEFAULT_FPS
        out = os.path.join(lib.staging_of(instance), "preview.mp4")
        info = media.write_movie(out, _frames(instance), instance.data["colorspace"], float(fps), config=_config(instance))
        instance.data["fps"] = info["fps"]
        lib.add_representation(instance, "movie", out, "_preview.mp4",
                               **{k: info[k] for k in ("width", "height", "fps", "codec", "pix_fmt")})
