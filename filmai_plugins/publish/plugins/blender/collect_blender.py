"""Collect (Blender): the work file, scene, frame range and frame rate."""
import pyblish.api


class FilmAICollectBlenderScene(pyblish.api.ContextPlugin):
    """Records the .blend and scene the publish came from; the scene's frame rate becomes the
    preview movie's when the frames do not carry one."""

    label = "FilmAI: Blender scene"
    order = pyblish.api.CollectorOrder - 0.1
    hosts = ["blender"]

    def process(self, context):
        import bpy  # only inside Blender: Pyblish loads this file anywhere without importing bpy

        scene = bpy.context.scene
        fps = scene.render.fps / (scene.render.fps_base or 1.0)
        context.data["filmai_host_fps"] = fps
        context.data["filmai_session"] = {
            "host": "blender", "version": bpy.app.version_string, "file": bpy.data.filepath or None,
            "scene": scene.name, "frame_range": [scene.frame_start, scene.frame_end], "fps": fps}
