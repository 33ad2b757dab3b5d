"""``mystudio.trail``: a studio's own temporal node, written from docs/writing-nodes.md alone (tests only).

Loaded the way the docs say a pack loads without packaging: ``FILMAI_PLUGIN_MODULES=mystudio_filmai.pack``
(the tests put ``tests/`` on the path). It is the host check of the node contract: a temporal node (it
declares the input frames each output frame needs) with an animatable param, run headless, in Blender and
in Nuke with the same results.
"""
import numpy as np

from filmai_plugins import Node, Param, Port, hookimpl


class Trail(Node):
    """Light trails: each pixel is mixed towards the brightest value it had over the frames before it
    (``length`` frames back). ``amount`` (animatable) goes from none (0) to the full trail (1)."""

    id = "mystudio.trail"
    version = "1.0.0"
    family = "util"
    label = "Light trail"
    inputs = (Port("input", "Frames", channels=("R", "G", "B")),)
    outputs = (Port("output", "Frames"),)
    params = (
        Param("length", "int", 2, min=0, max=24, soft_max=8, help="frames before each frame that leave a trail"),
        Param("amount", "float", 1.0, min=0.0, max=1.0, animatable=True, help="how much of the trail (0: none)"),
    )

    def frames_needed(self, frame):
        return range(frame - self.params["length"], frame + 1)

    def process(self, frame, ctx):
        rgb = frame.select(["R", "G", "B"])
        brightest = np.max([f.select(["R", "G", "B"]) for f in ctx.input_window().values()], axis=0)
        trail = rgb + self.params["amount"] * (brightest - rgb)
        return frame.with_channels(["R", "G", "B"], trail)  # alpha, AOVs and other parts kept


@hookimpl
def filmai_register_nodes(registry):
    registry.add(Trail)
