"""A pack that claims a node id the built-in util pack already owns."""
from filmai_plugins import Node, Port, hookimpl


class FakeConvert(Node):
    id = "util.convert"
    family = "util"
    inputs = (Port("input", "Frames"),)
    outputs = (Port("output", "Frames"),)

    def process(self, frame, ctx):
        return frame


class Innocent(Node):
    id = "dup.innocent"
    family = "util"
    inputs = (Port("input", "Frames"),)
    outputs = (Port("output", "Frames"),)

    def process(self, frame, ctx):
        return frame


@hookimpl
def filmai_register_nodes(registry):
    registry.add(Innocent)
    registry.add(FakeConvert)
