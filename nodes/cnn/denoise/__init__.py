"""``cnn.denoise``: denoise rendered frames, guided by the albedo and normal passes when the EXR has them."""
from __future__ import annotations

import os

import numpy as np

from filmai_plugins.engine.ensemble import dihedral_mean
from filmai_plugins.errors import CheckpointError
from filmai_plugins.frames.image import Frame
from filmai_plugins.node import Node, Param, Port
from filmai_plugins.training.loop import training_params

MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
SHIPPED_MODEL = os.path.join(MODEL_DIR, "denoise.ckpt")

_PASS_HELP = ("'auto' finds {what}; 'none' ignores it; or the layer name exactly as in the file "
              "(e.g. '{example}'). A layer named here but missing from a frame is an error.")


class DenoiseNode(Node):
    """Remove Monte Carlo noise from rendered frames (Cycles, Arnold, RenderMan, Karma …), like Blender's
    Denoise node (Intel Open Image Denoise), as a node that also runs on the farm and learns from your shot.

    Reads the beauty and, when the EXR has them, the albedo and normal passes: in Blender enable View Layer
    Properties → Passes → Data → Denoising Data, and the multilayer EXR carries ``Denoising Albedo`` and
    ``Denoising Normal`` (in their own parts; they are found there). Generic AOV names (``albedo.R/G/B``,
    ``N.X/Y/Z``) are recognised too. Without them the same model denoises the beauty alone, with less detail
    kept; the run says which passes it used. Scene-linear HDR values (highlights far above 1.0) survive: the
    network works in an invertible log encoding and nothing is clamped. Only the beauty's R, G, B change;
    alpha and every other channel of the part pass through untouched.

    The shipped model (``models/denoise.ckpt``) was trained by ``recipes/train_denoise.py`` on procedural
    Cycles scenes rendered by ``recipes/render_cycles_pairs.py``. Fine-tune it on a few noisy/clean frame
    pairs of your own shot (render them once at high samples)::

        filmai train cnn.denoise --input noisy.####.exr --target clean.####.exr --frames 1001,1050 --out shot.ckpt
        filmai run cnn.denoise --model shot.ckpt --input noisy.####.exr --output denoised.####.exr

    Frames of any size are processed in seamless tiles (``--tile-size``) on cuda/mps/cpu.
    """

    id = "cnn.denoise"
    version = "1.0.0"
    family = "cnn"
    label = "Denoise renders"
    inputs = (
        Port("input", "Frames", "noisy renders (beauty, optionally with albedo and normal passes)"),
        Port("target", "Frames", "training only: the same frames rendered clean (high samples)", optional=True),
    )
    outputs = (Port("output", "Frames", "the renders with the beauty denoised; other channels pass through"),)
    params = (
        Param("beauty", "string", "auto", stage="both",
              help="layer holding the noisy R,G,B: 'auto' takes the main layer's R,G,B, else a layer named "
                   "Combined/beauty/rgba (Blender: 'ViewLayer.Combined'); or the layer name"),
        Param("albedo", "string", "auto", stage="both",
              help=_PASS_HELP.format(what="Blender's 'Denoising Albedo' or an 'albedo' layer in any part",
                                     example="ViewLayer.Denoising Albedo")),
        Param("normal", "string", "auto", stage="both",
              help=_PASS_HELP.format(what="Blender's 'Denoising Normal' or an 'N'/'normal' layer in any part",
                                     example="ViewLayer.Denoising Normal")),
        Param("mix", "float", 1.0, min=0.0, max=1.0, animatable=True,
              help="blend between the noisy input (0) and the denoised result (1)"),
        Param("half", "bool", False, help="half precision (fp16) on a CUDA GPU: faster, less memory"),
        Param("batch", "int", 1, min=1, max=64, help="tiles per forward pass for frames larger than the tile size"),
        Param("ensemble", "bool", False,
              help="average the network over the 8 flips/rotations of the frame: about +0.15-0.4 dB "
                   "(less residual noise), 8x slower"),
        Param("start_from", "enum", "shipped", choices=("shipped", "scratch"), stage="train",
              help="shipped: fine-tune the shipped model (or --model); scratch: a new network (model_size)"),
        Param("model_size", "enum", "small", choices=("small", "medium", "large"), stage="train",
              help="network size when training from scratch (small: fast on CPUs; large: best on a GPU)"),
        Param("demodulate", "bool", True, stage="train",
              help="network when training from scratch: also filter the lighting (beauty divided by the albedo) "
                   "and blend it in where an albedo pass exists, which keeps texture sharp (about 1.5x the "
                   "time per step); fine-tuning keeps the network of the model it starts from"),
        Param("aux_dropout", "float", 0.0, min=0.0, max=0.66, stage="train",
              help="fraction of training crops whose albedo/normal are hidden, so the model also learns to "
                   "denoise without them (the shipped model used 0.3; 0 specialises to the shot's passes)"),
    ) + training_params(steps=1000, crop_size=96, batch_size=8, learning_rate=2e-3, warmup_steps=20,
                        checkpoint_interval=100, contact_sheet_interval=100, validation_interval=50,
                        exposure_jitter=1.0, focus=0.0, loss="l1")
    model = "required"
    model_format = "checkpoint"
    needs_torch = True
    trainable = True
    #: context the shipped ("small") network needs on each side; a loaded model's own value is used per run
    receptive_field = 50

    @classmethod
    def default_model(cls) -> str | None:
        return SHIPPED_MODEL if os.path.isfile(SHIPPED_MODEL) else None

    # ----- training -----------------------------------------------------------------------------------
    @classmethod
    def train(cls, ctx) -> None:
        from . import model as denoise_model

        denoise_model.train(ctx, cls.default_model())

    # ----- inference ----------------------------------------------------------------------------------
    def input_channels(self, port: str) -> list[str] | None:
        return None  # every channel of the part: the passes may sit beside the beauty, the rest passes through

    def setup(self, ctx) -> None:
        from . import model as denoise_model

        torch = ctx.torch
        ckpt = ctx.model
        model = denoise_model.load_model(ckpt)
        meta = ckpt.meta
        try:
            self.align = int(meta["align"])
            self.model_receptive_field = int(meta["receptive_field"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{ckpt.path}: checkpoint lacks align/receptive_field metadata") from None
        self.model_name = os.path.basename(ckpt.path or "model")
        # the space the model learnt in (the shipped model: Cycles renders, linear Rec.709); plates in another
        # are converted into it and back (beauty and albedo; normals are data)
        self.model_space = ctx.model_colorspace(meta.get("colorspace"), f"{self.model_name}")
        self.device = ctx.device or "cpu"
        self.half = bool(self.params["half"]) and str(self.device).startswith("cuda")
        if self.params["half"] and not self.half:
            ctx.message("half precision is only used on a CUDA device; running in float32")
        model = model.to(self.device)
        if self.device == "cpu":
            model = model.to(memory_format=torch.channels_last)
        self.model = model.half() if self.half else model
        self.torch = torch
        self.layout = None

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).to(self.device)
            if self.half:
                x = x.half()
            if self.params["ensemble"]:
                y = dihedral_mean(self._network, x).cpu().numpy()
            else:
                y = self._network(x).float().cpu().numpy()
        return y.transpose(0, 2, 3, 1)

    def _network(self, x):
        if self.device == "cpu":  # a rotated view is no longer channels-last
            x = x.contiguous(memory_format=self.torch.channels_last)
        return self.model(x)

    def process(self, frame: Frame, ctx) -> Frame:
        from .aovs import NET_CHANNELS_IN, NET_CHANNELS_OUT, resolve_layout

        if self.layout is None:  # found once, on the first frame; every later frame must match it
            self.layout = resolve_layout(frame, self.params["beauty"], self.params["albedo"], self.params["normal"])
            layout = self.layout
            if layout.albedo is None and layout.normal is None:
                ctx.message(f"cnn.denoise: no albedo or normal pass in {os.path.basename(frame.path or '')}: "
                            "denoising the beauty alone (less detail kept; in Blender enable Passes > Data > "
                            "Denoising Data)", level="warning")
            elif layout.albedo is None or layout.normal is None:
                missing = "albedo" if layout.albedo is None else "normal"
                ctx.message(f"cnn.denoise: no {missing} pass found; using {layout.describe()}", level="warning")
            else:
                ctx.message(f"cnn.denoise: using {layout.describe()}")
            ctx.extra["passes"] = layout.to_json()
        x = self.layout.network_input(frame, ctx.check_frame)
        space = self.model_space or frame.colorspace
        x = ctx.colour.convert_channels(x, NET_CHANNELS_IN, frame.colorspace, space)
        y = ctx.apply_tiled(self._forward, x, align=self.align, receptive_field=self.model_receptive_field,
                            batch=self.params["batch"])
        mix = float(self.params["mix"])
        if mix < 1.0:
            y = x[:, :, :3] + mix * (y - x[:, :, :3])
        y = ctx.colour.convert_channels(y, NET_CHANNELS_OUT, space, frame.colorspace)
        return frame.with_channels(list(self.layout.beauty), y)  # every other channel and part untouched


NODES = (DenoiseNode,)
