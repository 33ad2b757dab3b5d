"""``util.temporal_median``: the per-pixel median of neighbouring frames (a clean plate on locked-off shots)."""
from __future__ import annotations

import numpy as np

from filmai_plugins.errors import ParamError
from filmai_plugins.frames.image import Frame, union_window
from filmai_plugins.node import Node, Param, Port
from filmai_plugins.schema import parse_channel_list


class TemporalMedianNode(Node):
    """Replace each pixel by its median over a window of frames centred on the frame: people, cars and
    noise that pass through a locked-off shot vanish and the static background remains (a clean plate), and
    grain and flicker calm down. ``mix`` blends from the input (0) to the median (1) and can be keyed, e.g.
    ``--set mix=1001:0,1010:1`` to fade it in.

    The node asks the engine for its neighbouring frames (frame handles), so it runs in farm chunks and
    resumes with ``--skip-existing`` exactly like one whole run: frames outside the requested range are
    read when they exist on disk. At the ends of the input sequence the window shrinks to the frames that
    exist (the median of fewer frames; with an even count, the mean of the middle two). Where the data
    windows move (a render's bounding box following the action), the output's data window is the union of
    the window's (zero outside each frame's own, as EXR defines), as Nuke's bbox of a frame blend: what a
    neighbour holds outside the current frame's window is not lost. ``channels`` limits the filter to some
    channels; the others pass through untouched.
    """

    id = "util.temporal_median"
    version = "1.1.0"  # 1.1: the output data window is the union of the window's
    family = "util"
    label = "Temporal median"
    inputs = (Port("input", "Frames", "the plate"),)
    outputs = (Port("output", "Frames", "the plate with each pixel replaced by its temporal median"),)
    params = (
        Param("window", "int", 5, min=1, max=101, soft_max=15,
              help="frames in the window, centred on each frame: an odd number (3, 5, 7 ...)"),
        Param("mix", "float", 1.0, min=0.0, max=1.0, animatable=True,
              help="blend between the input (0) and the median (1); may be keyed over the shot"),
        Param("channels", "string", "",
              help="channels to filter, e.g. 'R,G,B'; empty: every channel of the part/layer (the others pass "
                   "through untouched)"),
    )

    def validate(self, ctx) -> None:
        window = self.params["window"]
        if window % 2 == 0:
            raise ParamError(f"node {self.id}: param 'window': {window} is even; the window is centred on each "
                             "frame, give an odd number (3, 5, 7 ...)")
        available = ctx.frames_on_disk()
        if available and window > len(available):
            raise ParamError(f"node {self.id}: param 'window': {window} frames is more than the input sequence "
                             f"has ({len(available)} frames on disk)")

    def frames_needed(self, frame: int) -> range:
        half = self.params["window"] // 2
        return range(frame - half, frame + half + 1)

    def process(self, frame: Frame, ctx) -> Frame:
        names = parse_channel_list(self.params["channels"]) or list(frame.channels)
        for name in names:
            frame.channel_index(name)  # a clear error naming file and frame for a channel that is not there
        neighbours = list(ctx.input_window().values())
        window = union_window(*(n.data_window for n in neighbours))
        if window != frame.data_window:
            frame = frame.with_data_window(window)  # every channel of this part, native types, zero outside
        # only these channels are converted to float; the rest of the frame passes through untouched
        stack = np.stack([neighbour.on_window(window, names=names) for neighbour in neighbours])
        median = np.median(stack, axis=0)
        mix = float(self.params["mix"])
        if mix < 1.0:
            current = frame.select(names)
            median = current + mix * (median - current)
        return frame.with_channels(names, median)


NODES = (TemporalMedianNode,)
