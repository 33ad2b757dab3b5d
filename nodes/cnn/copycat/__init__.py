"""``cnn.copycat``: learn an image-to-image fix from a few before/after frames of a shot, apply it to the shot."""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from filmai_plugins.errors import BadInput, CheckpointError, FrameError
from filmai_plugins.frames.image import Frame
from filmai_plugins.node import Node, Param, Port
from filmai_plugins.training.loop import training_params

EXPORT_FORMATS = ("torchscript",)


def _names(text: str) -> list[str]:
    return [c.strip() for c in text.replace(" ", ",").split(",") if c.strip()]


def _training_params() -> tuple[Param, ...]:
    """The shared training params, with crop and batch size 0 = the chosen network's own default."""
    auto = {
        "crop_size": "size of the square training crops in pixels; 0: the network's default (unet 128, look 48: "
                     "the look network learns fastest from many small crops)",
        "batch_size": "crops per step (over all processes with --nproc; must be a multiple of it); 0: the "
                      "network's default (8)",
        "learning_rate": "peak AdamW learning rate of the U-Net; the look network trains at 12.5x this rate (its "
                         "layers are narrow 1x1 convolutions)",
        "threads": "CPU threads per training process; 0: the cores other jobs leave free (from the load average), "
                   "at least one (oversubscribed threads make small steps many times slower); set it for "
                   "bit-identical reruns",
    }
    params = training_params(steps=2000, crop_size=128, batch_size=8, learning_rate=2e-3, checkpoint_interval=500,
                             contact_sheet_interval=500, validation_interval=100, loss="l2", focus=0.75)
    out = []
    for param in params:
        if param.name in ("crop_size", "batch_size"):
            param = dataclasses.replace(param, default=0, min=0, help=auto[param.name])
        elif param.name in ("learning_rate", "threads"):
            param = dataclasses.replace(param, help=auto[param.name])
        out.append(param)
        if param.name == "time_limit":
            out.append(Param("time_clock", "enum", "wall", choices=("wall", "cpu"), stage="train",
                             help="what time_limit counts: wall-clock training seconds, or CPU seconds of this "
                                  "process (the same budget on a busy shared machine: 120 CPU-s ≈ 60 s on two "
                                  "free cores)"))
    return tuple(out)


class CopycatNode(Node):
    """Train a network on a handful of before/after frame pairs of a shot (paint-outs, beauty fixes, a look,
    a roto matte) and apply it to the whole shot, like Nuke's CopyCat + Inference, on any machine.

    Train: ``filmai train cnn.copycat --input plate.####.exr --target fixed.####.exr --frames 1001,1040,1090
    --out shot.ckpt``. Two networks: a U-Net for paint-outs, dust and shapes, and a fast full-resolution look
    network for grades, curves, local contrast and colour keys; ``network=auto`` picks one from the pairs. Any channels: RGB→RGB (cleanup, beauty, look), RGB→A (a matte: ``--set channels_out=A``),
    RGBA→RGBA. Scene-linear HDR values survive (the network works in an invertible log encoding, nothing is
    clamped); alpha and matte outputs stay within 0–1. Interval checkpoints and input | output | target contact
    sheets go to ``shot.train/``; ``--set resume=last`` continues an interrupted run; ``--model prev.ckpt``
    fine-tunes a previous model; ``--nproc N`` trains data-parallel.

    Apply: ``filmai run cnn.copycat --model shot.ckpt --input plate.####.exr --output out.####.exr``, tiled
    seamlessly for any frame size, on cuda/mps/cpu. The model records the colourspace it was trained in; a
    plate in another one is converted into it and back through OCIO (colour layers only, never alpha or data). Export for Nuke's Inference node (via CatFileCreator) or
    ``cnn.torchscript``: ``filmai export --model shot.ckpt --format torchscript --out shot.pt``.
    """

    id = "cnn.copycat"
    version = "1.0.0"
    family = "cnn"
    label = "CopyCat (train on the shot)"
    inputs = (
        Port("input", "Frames", "the plate (the 'before' frames when training)"),
        Port("target", "Frames", "training only: the same frames after the fix (ground truth)", optional=True),
    )
    outputs = (Port("output", "Frames", "the plate with the learned fix; other channels pass through"),)
    params = (
        Param("mix", "float", 1.0, min=0.0, max=1.0, animatable=True,
              help="blend between the input (0) and the network's result (1)"),
        Param("keep_other_channels", "bool", True,
              help="pass the input's other channels (alpha, AOVs) and other parts through to the output"),
        Param("half", "bool", False, help="half precision (fp16) on a CUDA GPU: faster, less memory"),
        Param("batch", "int", 1, min=1, max=64, help="tiles per forward pass for frames larger than the tile size"),
        Param("channels_in", "string", "R,G,B", stage="train",
              help="input channels the network reads, in order (e.g. R,G,B or R,G,B,A)"),
        Param("channels_out", "string", "", stage="train",
              help="target channels it learns to produce (e.g. A for a matte); empty: the same as channels_in"),
        Param("network", "enum", "auto", choices=("auto", "unet", "look"), stage="train",
              help="auto: chosen from the training pairs (look for a change over most of the frame that is mostly "
                   "a function of each pixel's colour, or of that and linear filters of the plate; else unet); "
                   "unet: paint-outs, dust, wires, shapes; look: a fast full-resolution network for grades, tone "
                   "curves, local contrast, glows, sharpening, colour keys"),
        Param("model_size", "enum", "small", choices=("small", "medium", "large"), stage="train",
              help="U-Net size: small (16-32-64, 0.12 M parameters): fast, most cleanup; medium (32-64-128): more "
                   "capacity, ~4x the compute; large (4 levels to 256): wide context, best on a GPU"),
        Param("encoding", "enum", "log", choices=("log", "linear", "srgb"), stage="train",
              help="working encoding of colour channels: log keeps scene-linear HDR (>1.0) without clamping; "
                   "srgb for display-referred plates; linear for data already in 0-1"),
        Param("bounded_channels", "string", "auto", stage="train",
              help="channels that are 0-1 coverage (kept linear, outputs clamped to 0-1): 'auto' = A/alpha/"
                   "matte*/mask*, 'none', or a list"),
    ) + _training_params()
    model = "required"
    model_format = "checkpoint"
    needs_torch = True
    trainable = True
    distributed = True
    export_formats = EXPORT_FORMATS

    # ----- training -------------------------------------------------------------------------------
    @classmethod
    def train(cls, ctx) -> None:
        from . import model as copycat_model

        copycat_model.train(ctx)

    @classmethod
    def export(cls, checkpoint: Any, path: str, format: str = "torchscript",
               options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write ``checkpoint`` as ``format`` to ``path``; returns what to tell the user (see filmai export)."""
        if format not in EXPORT_FORMATS:
            raise BadInput(f"cnn.copycat exports {', '.join(EXPORT_FORMATS)}, not {format!r}")
        from . import model as copycat_model

        return copycat_model.export_torchscript(checkpoint, path, dict(options or {}))

    # ----- inference ------------------------------------------------------------------------------
    def input_channels(self, port: str) -> list[str] | None:
        return None  # every channel: the model's are checked per frame, the others may pass through

    @classmethod
    def model_colorspace(cls, meta) -> str | None:
        """Models from before the engine knew colour (no ``ocio_config`` in their metadata) recorded a guess
        (any untagged EXR was "lin_rec709") or nothing: None, so they run in each plate's own space, as they
        always did."""
        recorded = meta.get("colorspace") if "ocio_config" in meta else None
        return str(recorded) if recorded else None

    def setup(self, ctx) -> None:
        from . import model as copycat_model

        torch = ctx.torch
        ckpt = ctx.model
        meta = ckpt.meta
        for key in ("arch", "channels_in", "channels_out"):
            if key not in meta:
                raise CheckpointError(f"{ckpt.path}: not a cnn.copycat model (no {key!r} in its metadata)")
        self.channels_in = list(meta["channels_in"])
        self.channels_out = list(meta["channels_out"])
        self.align = int(meta["align"])
        self.receptive_field = int(meta["receptive_field"])
        self.model_name = os.path.basename(ckpt.path or "model")
        self.device = ctx.device or "cpu"
        self.half = bool(self.params["half"]) and str(self.device).startswith("cuda")
        if self.params["half"] and not self.half:
            ctx.message("half precision is only used on a CUDA device; running in float32")
        model = copycat_model.load_model(meta, ckpt.tensors, ckpt.path).to(self.device)
        if self.device == "cpu":
            model = model.to(memory_format=torch.channels_last)
        self.model = model.half() if self.half else model
        self.torch = torch
        # The colourspace the network was trained in. Models from before the engine knew colour (no
        # ``ocio_config`` in their metadata) recorded a guess (any untagged EXR was "lin_rec709") or nothing:
        # they are taken to be in each plate's own space, which is how they always ran. An unknown name is
        # refused before any frame is written.
        self.colour = ctx.colour
        self.model_space = ctx.model_colorspace(self.model_colorspace(meta), f"model {self.model_name}") or None
        self.converted: set[str] = set()
        ctx.extra["colour"] = {"model_colorspace": self.model_space, "converted_from": []}

    def _to_space(self, pixels: np.ndarray, names: list[str], src: str, dst: str, frame: Frame) -> np.ndarray:
        try:
            return self.colour.convert_channels(pixels, names, src, dst)
        except BadInput as exc:
            raise FrameError(f"the plate is in {src!r}, model {self.model_name} was trained in {self.model_space!r}: "
                             f"{exc}", frame.path, frame.number) from None

    def _plate_space(self, frame: Frame, ctx) -> str | None:
        """The frame's colourspace when it differs from the model's (the plate is converted), else None."""
        if self.model_space is None or not frame.colorspace:
            return None
        plate = ctx.colour.resolve(frame.colorspace)
        if plate == self.model_space:
            return None
        if plate not in self.converted:  # once per plate colourspace: on stderr and in the manifest's warnings
            self.converted.add(plate)
            ctx.extra["colour"]["converted_from"].append(plate)
            ctx.message(f"model {self.model_name} was trained in {self.model_space!r}; the plate's {plate!r} colour "
                        "channels are converted into it for the network and back (OCIO)", level="warning")
        return plate

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).to(self.device)
            if self.device == "cpu":
                x = x.contiguous(memory_format=torch.channels_last)
            if self.half:
                x = x.half()
            y = self.model(x).float().cpu().numpy()
        return y.transpose(0, 2, 3, 1)

    def process(self, frame: Frame, ctx) -> Frame:
        missing = [c for c in self.channels_in if c not in frame.channels]
        if missing:
            raise FrameError(f"model {self.model_name} was trained on channels {','.join(self.channels_in)} but this "
                             f"frame has {','.join(frame.channels)} (missing {','.join(missing)}); read the right "
                             "layer with --layer, or train a model for these channels", frame.path, frame.number)
        x = frame.select(self.channels_in)
        plate = self._plate_space(frame, ctx)
        if plate is not None:
            x = self._to_space(x, self.channels_in, plate, self.model_space, frame)
        y = ctx.apply_tiled(self._forward, x, align=self.align, receptive_field=self.receptive_field,
                            batch=self.params["batch"])
        if plate is not None:
            y = self._to_space(y, self.channels_out, self.model_space, plate, frame)
        mix = float(self.params["mix"])
        names = list(self.channels_out)
        if mix < 1.0:  # blend towards the input's own channels (zero where the input has none)
            base = np.zeros_like(y)
            have = [j for j, c in enumerate(names) if c in frame.channels]
            if have:
                base[:, :, have] = frame.select([names[j] for j in have])
            y = base + mix * (y - base)
        if self.params["keep_other_channels"]:
            return frame.with_channels(names, y)  # alpha, AOVs, other parts and pixel types kept
        return frame.with_pixels(y, names, other_parts=[])  # the model's channels alone


NODES = (CopycatNode,)
