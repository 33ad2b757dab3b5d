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
        rgb = frame.select() * 2.0 ** self.params["stops"]  # the port's channels, as float32
        return frame.with_channels(["R", "G", "B"], rgb)  # alpha, AOVs, other parts and pixel types kept


@hookimpl
def filmai_register_nodes(registry):
    registry.add(Exposure)
