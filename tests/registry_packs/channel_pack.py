"""A pack whose node declares the channels it computes from and refuses NaN/Inf in them (frame tests)."""
from filmai_plugins import Node, Port, hookimpl


class Strict(Node):
    """Halve R, G and B; keeps every other channel and part."""

    id = "test.strict_rgb"
    family = "util"
    inputs = (Port("input", "Frames", channels=("R", "G", "B")),)
    outputs = (Port("output", "Frames"),)

    def process(self, frame, ctx):
        return frame.with_channels(["R", "G", "B"], frame.select() * 0.5)


@hookimpl
def filmai_register_nodes(registry):
    registry.add(Strict)
