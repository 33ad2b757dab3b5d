"""Collect (Nuke): the script, frame range and frame rate."""
import pyblish.api


class FilmAICollectNukeScript(pyblish.api.ContextPlugin):
    """Records the .nk script the publish came from; the root's fps becomes the preview movie's when
    the frames do not carry one."""

    label = "FilmAI: Nuke script"
    order = pyblish.api.CollectorOrder - 0.1
    hosts = ["nuke"]

    def process(self, context):
        import nuke  # only inside Nuke

        root = nuke.root()
        fps = float(root["fps"].value())
        context.data["filmai_host_fps"] = fps
        version = nuke.env.get("NukeVersionString") or "{}.{}".format(nuke.env.get("NukeVersionMajor"),
                                                                      nuke.env.get("NukeVersionMinor"))
        context.data["filmai_session"] = {
            "host": "nuke", "file": root.name(), "version": version,
            "frame_range": [int(root["first_frame"].value()), int(root["last_frame"].value())], "fps": fps}
