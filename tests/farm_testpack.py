"""Test-only node pack for the farm and publish tests (loaded with FILMAI_PLUGIN_MODULES=farm_testpack).

``farmtest.gain`` multiplies RGB by ``gain``. To make farm behaviour testable it can fail on one
frame (always, or once: the first attempt leaves a marker file and fails, the retry finds it) and
can be slowed down through the environment (FARMTEST_DELAY seconds per frame, so the output and
its provenance do not depend on the delay). It also hands the publish runner an extra plug-in
folder from FARMTEST_PUBLISH_PLUGINS, the way a studio pack adds its validators.
"""
from __future__ import annotations

import os
import time

from filmai_plugins import Node, Param, Port, hookimpl


class FlakyGain(Node):
    """Multiply RGB by ``gain`` (alpha and other channels pass through)."""

    id = "farmtest.gain"
    version = "1.0.0"
    family = "util"
    label = "Gain (farm test)"
    inputs = (Port("input", "Frames"),)
    outputs = (Port("output", "Frames"),)
    params = (
        Param("gain", "float", 1.0, min=0.0, max=16.0, soft_max=4.0, help="multiplier"),
        Param("steps", "int", 3, min=1, max=64, help="an int with a range (for OpenJD INT parameters)"),
        Param("mode", "enum", "rgb", choices=("rgb", "luma"), help="an enum (for allowed values)"),
        Param("clamp", "bool", False, help="a bool (for check boxes)"),
        Param("lut", "path", "", help="a path (for PATH parameters); unused"),
        Param("tint", "color", (1.0, 1.0, 1.0), help="a colour (for STRING parameters); unused"),
        Param("fail_frame", "int", 0, min=0, help="fail on this frame (0: never)"),
        Param("fail_marker", "string", "", help="fail only while this file does not exist, then create it"),
        Param("learn_rate", "float", 0.01, stage="train", min=0.0, max=1.0, help="a training-only param"),
    )
    rejects_nonfinite = False
    trainable = True
    model = "optional"

    @classmethod
    def train(cls, ctx):
        """Learn the gain that maps the input's mean to the target's on the training frames."""
        import numpy as np

        ratio = [float(ctx.read_target(f).pixels[..., :3].mean() / max(1e-6, ctx.read_input(f).pixels[..., :3].mean()))
                 for f in ctx.frames]
        ctx.save_checkpoint({"gain": np.array([np.mean(ratio)], np.float32)}, {"arch": {"kind": "gain"}})

    def setup(self, ctx):
        self.model_gain = float(ctx.model.tensors["gain"][0]) if ctx.model is not None else 1.0

    def process(self, frame, ctx):
        delay = float(os.environ.get("FARMTEST_DELAY", "0") or 0)
        if delay:
            time.sleep(delay)
        if frame.number == self.params["fail_frame"]:
            marker = self.params["fail_marker"]
            if not marker or not os.path.exists(marker):
                if marker:
                    with open(marker, "w") as f:
                        f.write("failed once\n")
                raise RuntimeError(f"farmtest: deliberate failure on frame {frame.number}")
        idx = [frame.channels.index(c) for c in ("R", "G", "B") if c in frame.channels]
        pixels = frame.pixels.copy()
        pixels[:, :, idx] *= self.params["gain"] * self.model_gain
        return frame.with_pixels(pixels)


NODES = (FlakyGain,)


@hookimpl
def filmai_register_nodes(registry):
    registry.add(FlakyGain)


@hookimpl
def filmai_publish_plugin_paths(host_name, targets):
    extra = os.environ.get("FARMTEST_PUBLISH_PLUGINS", "")
    return [p for p in extra.split(os.pathsep) if p]
