"""A pack whose node declares an out-of-range default."""
from filmai_plugins import Node, Param, Port, hookimpl


@hookimpl
def filmai_register_nodes(registry):
    class Bad(Node):
        id = "bad.param"
        family = "util"
        inputs = (Port("input", "Frames"),)
        outputs = (Port("output", "Frames"),)
        params = (Param("gain", "float", 5.0, max=1.0),)

        def process(self, frame, ctx):
            return frame

    registry.add(Bad)
