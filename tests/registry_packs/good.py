"""A well-formed third-party pack with one node."""
from filmai_plugins import Node, Param, Port, hookimpl


class Exposure(Node):
    """Multiply RGB by 2^stops."""

    id = "studio.exposure"
    version = "1.2.0"
    family = "util"
    label = "Exposure"
    inputs = (Port("input", "Frames", channels=("R", "G", "B")),)
    outputs = (Port("output", "Frames"),)
    params = (Param("stops", "float", 0.0, min=-20, max=20, soft_min=-4, soft_max=4, animatable=True),)
    rejects_nonfinite = False

    def process(self, frame, ctx):
        rgb = frame.select(["R", "G", "B"]) * 2.0 ** self.params["stops"]
        return frame.with_pixels(rgb, ["R", "G", "B"])


@hookimpl
def filmai_register_nodes(registry):
    registry.add(Exposure)
