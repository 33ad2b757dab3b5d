"""Test nodes for the engine: slow frames (to cancel mid-run) and a node that fails on one frame."""
import os
import time

from filmai_plugins import Node, Param, Port, hookimpl


class Slow(Node):
    id = "test.slow"
    family = "util"
    inputs = (Port("input", "Frames"),)
    outputs = (Port("output", "Frames"),)
    params = (Param("seconds", "float", 0.3, min=0),
              Param("cancel_after", "int", 0, min=0, help="send SIGINT to this process after N frames"))
    rejects_nonfinite = False

    def setup(self, ctx):
        self.count = 0

    def process(self, frame, ctx):
        time.sleep(self.params["seconds"])
        self.count += 1
        if self.params["cancel_after"] and self.count == self.params["cancel_after"]:
            import signal

            os.kill(os.getpid(), signal.SIGINT)
        return frame.with_channels(frame.channels, frame.select() * 0.5)


class FailOn(Node):
    id = "test.fail_on"
    family = "util"
    inputs = (Port("input", "Frames"),)
    outputs = (Port("output", "Frames"),)
    params = (Param("frame", "int", 0),)

    def process(self, frame, ctx):
        if frame.number == self.params["frame"]:
            raise ZeroDivisionError("simulated failure")
        return frame


@hookimpl
def filmai_register_nodes(registry):
    registry.add(Slow)
    registry.add(FailOn)
