"""``gan.upres``: x2 / x4 super-resolution of plates with a GAN-trained residual generator."""
from __future__ import annotations

import os

import numpy as np

from filmai_plugins.errors import BadInput, CheckpointError, FrameError
from filmai_plugins.frames.image import Frame
from filmai_plugins.node import Node, Param, Port
from filmai_plugins.training.loop import training_params

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
SHIPPED_SCALES = (2, 4)
RGB = ("R", "G", "B")


def shipped_model(scale: int) -> str:
    return os.path.join(MODELS, f"upres_x{scale}.ckpt")


class UpresNode(Node):
    """Up-res a plate x2 or x4 with an RRDB generator (ESRGAN-style), in two flavours from one model:
    ``psnr`` mode (trained on a pixel loss: faithful, no invented detail — the choice for plates that
    are comped and graded) and ``sharp`` mode (the same network fine-tuned adversarially: crisper edges
    and texture, may invent plausible detail). ``sharpness`` blends the two weight sets continuously
    (ESRGAN network interpolation) so a supervisor can dial it per shot.

    Scene-linear EXR in, scene-linear EXR out: the plate is converted to the model's working encoding
    and back, values above 1.0 (and negative ones) pass around the network so highlights keep their
    energy, alpha is up-res'd too (through the network as a matte, or smoothly), and the data and
    display windows scale with the image. Large plates are processed in overlapping tiles that blend
    seamlessly. ``filmai train gan.upres`` fine-tunes the model on a shot's own plate, self-supervised:
    the plate's own downscaled copies teach it, no high-resolution ground truth needed.
    """

    id = "gan.upres"
    version = "1.0.0"
    family = "gan"
    label = "Up-res (GAN super-resolution)"
    inputs = (Port("input", "Frames", "the plate (scene-linear EXR, or any image OpenImageIO reads)", channels=RGB),)
    outputs = (Port("output", "Frames", "the plate at 2x or 4x, with scaled data/display windows"),)
    params = (
        Param("scale", "int", 0, min=0, max=8, stage="both",
              help="up-res factor. 0 (default): the factor of --model, or the shipped x4 model without one; "
                   "2 or 4 picks the shipped model, or checks that --model has that factor (1 and 8 need a "
                   "community model of that factor)"),
        Param("mode", "enum", "psnr", choices=("psnr", "sharp"),
              help="psnr: faithful, no invented detail; sharp: the GAN-trained weights, crisper texture"),
        Param("sharpness", "float", 0.6, min=0.0, max=1.0,
              help="sharp mode: blend of PSNR (0) and GAN (1) weights (network interpolation); 1 is the "
                   "strongest texture but can streak flat areas, 0.5-0.7 keeps most of the crispness"),
        Param("ensemble", "bool", False,
              help="average the network over the 8 flips/rotations of the plate: slightly more accurate "
                   "(about +0.2 dB on Set5), 8x slower"),
        Param("alpha", "enum", "network", choices=("network", "smooth"),
              help="how alpha is up-res'd: through the network as a matte (edges as crisp as the RGB), "
                   "or a smooth bicubic; either way clamped to 0-1"),
        Param("other_channels", "enum", "drop", choices=("drop", "nearest", "smooth"),
              help="channels besides RGB and alpha (AOVs, Z) and the file's other parts: drop them, or scale them "
                   "by nearest neighbour (IDs, depth) or bicubic (note: motion vectors are not rescaled)"),
        Param("half", "bool", False, help="half precision (fp16) on a CUDA GPU: faster, less memory; ignored on CPU"),
        # --- self-supervised fine-tuning (filmai train) ---
        Param("train_weights", "enum", "psnr", choices=("psnr", "gan"), stage="train",
              help="which weights the fine-tune updates: psnr (pixel loss) or gan (adversarial + pixel + "
                   "Laplacian + feature matching); the other set is kept from the starting model"),
        Param("clean_fraction", "float", 0.6, min=0.0, max=1.0, stage="train",
              help="share of training pairs made by clean bicubic downscaling; the rest add blur, noise "
                   "and JPEG like the shipped models' training"),
        Param("variants", "int", 3, min=1, max=16, stage="train",
              help="degraded low-resolution copies made of each frame (more: more varied pairs)"),
        Param("gan_loss", "enum", "ragan", choices=("ragan", "hinge"), stage="train",
              help="adversarial loss when train_weights=gan: relativistic average (ESRGAN) or hinge"),
    ) + training_params(steps=300, crop_size=32, batch_size=8, learning_rate=2e-4, warmup_steps=20,
                        checkpoint_interval=100, contact_sheet_interval=100, validation_interval=50, focus=0.3)
    trainable = True
    model = "required"
    needs_torch = True
    #: the shipped x4 model's reach in input pixels; the loaded model's own value is passed to the tiler
    receptive_field = 34

    # ----- models ---------------------------------------------------------------------------------
    @classmethod
    def default_model(cls) -> str | None:
        path = shipped_model(4)
        return path if os.path.isfile(path) else None

    @classmethod
    def default_model_for(cls, params) -> str | None:
        scale = int(params.get("scale", 0) or 4)
        if scale not in SHIPPED_SCALES:
            raise BadInput(f"gan.upres ships x2 and x4 models; for scale={scale} give a x{scale} model with --model")
        path = shipped_model(scale)
        return path if os.path.isfile(path) else None

    @classmethod
    def load_model(cls, path: str):
        """A FilmAI checkpoint of this node, or a community model (.pth / .safetensors: ESRGAN, Real-ESRGAN,
        SRVGGNetCompact built in, more through spandrel), told apart by the file's first bytes."""
        from filmai_plugins.training.checkpoint import load_checkpoint

        from .modelfile import file_kind

        kind = file_kind(path)
        if kind == "filmai":
            return load_checkpoint(path, expect_node=cls.id)
        if kind == "unknown":
            raise CheckpointError(f"{path}: not a model file gan.upres reads: neither a FilmAI checkpoint nor a "
                                  "community model (.safetensors, or a .pth of weights)")
        from .community import load_community  # imports torch: only for a community file

        return load_community(path)

    def setup(self, ctx) -> None:
        from .model import Upscaler, hdr_safe, is_community

        scale = int(self.params["scale"])
        community = is_community(ctx.model)
        alpha = self.params["sharpness"] if self.params["mode"] == "sharp" and not community else 0.0
        if community and self.params["mode"] == "sharp":
            ctx.message(f"gan.upres: {os.path.basename(ctx.model.path or 'the model')} has one weight set; "
                        "mode=sharp and sharpness apply to FilmAI up-res checkpoints only (ignored)", level="warning")
        self.half = bool(self.params["half"]) and str(ctx.device or "cpu").startswith("cuda")
        if self.params["half"] and not self.half:
            ctx.message("gan.upres: half precision needs a CUDA GPU; running in float32", level="warning")
        self.upscaler = Upscaler(ctx.model, sharpness=alpha, device=ctx.device or "cpu", want_scale=scale or None,
                                 ensemble=self.params["ensemble"], half=self.half)
        self.scale = self.upscaler.scale
        self.run_net = hdr_safe(self.upscaler, self.scale, self.upscaler.encoding)  # scene-linear RGB
        self.run_matte = hdr_safe(self.upscaler, self.scale)  # alpha: already a 0-1 coverage value
        meta = ctx.model.meta
        # The shipped and community models learnt on sRGB photographs: linear Rec.709 primaries, then the
        # model's encoding. Plates go there and back through the run's OCIO config.
        self.model_space = ctx.model_colorspace(str(meta.get("colorspace", "lin_rec709")), "gan.upres's model")
        ctx.extra.update({"scale": self.scale, "weights_blend": alpha, "model_encoding": self.upscaler.encoding,
                          "receptive_field": self.upscaler.receptive_field})
        if community:
            ctx.extra["model_architecture"] = self.upscaler.spec.describe()

    # ----- frames ---------------------------------------------------------------------------------
    def process(self, frame: Frame, ctx) -> Frame:
        from .model import smooth_upscale

        missing = [c for c in RGB if c not in frame.channels]
        if missing:
            raise FrameError(f"gan.upres needs R, G and B channels; missing {', '.join(missing)} "
                             f"(channels: {', '.join(frame.channels)}; use --layer to pick an AOV)",
                             frame.path, frame.number)
        s = self.scale
        rgb = ctx.colour.convert_channels(frame.select(list(RGB)), RGB, frame.colorspace, self.model_space)
        tiled = dict(scale=s, receptive_field=self.upscaler.receptive_field, align=self.upscaler.align)
        self._check_tile_size(frame, ctx)
        out_rgb = ctx.colour.convert_channels(ctx.apply_tiled(self.run_net, rgb, **tiled), RGB, self.model_space,
                                              frame.colorspace)
        planes, names = [out_rgb], list(RGB)

        if "A" in frame.channels:
            a = frame.select(["A"])
            if float(a.max()) == float(a.min()):  # constant (usually 1): nothing to up-res
                up = np.full((a.shape[0] * s, a.shape[1] * s, 1), float(a.flat[0]), np.float32)
            elif self.params["alpha"] == "network":
                up = ctx.apply_tiled(self.run_matte, a, **tiled)
            else:
                up = smooth_upscale(a[None], s, "bicubic")[0]
            planes.append(np.clip(up, 0.0, 1.0))
            names.append("A")

        others = [c for c in frame.channels if c not in names]
        how = self.params["other_channels"]
        if others and how != "drop":
            planes.append(self._resample(frame.select(others), how))
            names += others
        scaled_parts = []
        if how != "drop":  # every part of a file shares one display window: the other parts scale too
            for part in frame.other_parts:
                up = self._resample(part.select(part.channels), how)
                scaled_parts.append(part.with_pixels(up, part.channels, scale=s, other_parts=[]))
        dropped = others + [f"part {p.part!r}" for p in frame.other_parts if how == "drop"]
        if dropped and not getattr(self, "_told_dropped", False):
            ctx.message(f"gan.upres: dropping {', '.join(dropped)} (set other_channels=nearest or smooth to "
                        "keep them)", level="warning")
            self._told_dropped = True
        # pixel types follow the channel names (half stays half); windows scale with the image
        return frame.with_pixels(np.concatenate(planes, axis=2), names, scale=s, other_parts=scaled_parts)

    def _resample(self, px: np.ndarray, how: str) -> np.ndarray:
        """Channels besides RGB and alpha: nearest neighbour (IDs, depth) or bicubic."""
        from .model import smooth_upscale

        s = self.scale
        if how == "nearest":
            return np.repeat(np.repeat(px, s, axis=0), s, axis=1)
        return smooth_upscale(px[None], s, "bicubic")[0]

    def _check_tile_size(self, frame: Frame, ctx) -> None:
        """A tile must hold the model's reach on both sides plus a blend ramp (the tiler's rule); say so
        as bad usage, naming the size that works, before any work is done."""
        tile = int(getattr(getattr(ctx, "io", None), "tile_size", 0) or 0)
        rf = int(self.upscaler.receptive_field)
        needed = 2 * (2 * rf + max(8, rf))
        if tile and max(frame.width, frame.height) > tile and tile < needed:
            raise FrameError(f"--tile-size {tile} is too small for this model (it reaches {rf} input pixels; "
                             f"tiles need at least {needed}): use --tile-size {needed} or more", frame.path,
                             frame.number)

    # ----- self-supervised fine-tuning --------------------------------------------------------------
    @classmethod
    def train(cls, ctx) -> None:
        from .train import fine_tune

        fine_tune(cls, ctx)


NODES = (UpresNode,)
