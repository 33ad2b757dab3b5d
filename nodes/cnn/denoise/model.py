"""``cnn.denoise`` internals (torch): the network, and training / fine-tuning on noisy→clean render pairs.

The network predicts *filter kernels*, not pixels (kernel-predicting denoising, Bako et al. 2017, "Kernel-
Predicting Convolutional Networks for Denoising Monte Carlo Renderings"): the shared U-Net (``unet.UNet``)
reads the noisy beauty and the albedo/normal passes and outputs, for every pixel, softmax weights over 75
taps -- 5x5 neighbourhoods of the beauty at three scales (dilation 1, 3 and 9, the coarser ones pre-smoothed
by a box of that size), reaching 22 pixels on each side (4 spp needs wide support in flat areas) -- plus a
sharpness (see ``KernelPredictionCore.kernel_weights``). The denoised pixel is that weighted average of
noisy beauty values. Compared with predicting pixels directly this learns many times faster (the pilot on
the project's 2-core CPU went nowhere in 400 direct-prediction steps) and cannot invent colour: every
output is a convex combination of its neighbourhood, so HDR highlights keep their energy and nothing
needs clamping.

Everything happens in the beauty's ``log`` working encoding (``filmai_plugins.color``): the loss, and the
averaging (so a firefly cannot bleed into its neighbours at full strength).

Demodulated path (``arch["demodulate"]``, the default for new trainings): a second set of kernels filters the
beauty *divided by the albedo* -- the lighting, which is smooth where the texture is not -- and the result is
multiplied by the albedo again, so texture the albedo pass shows (a distant checker floor, a wood grain) comes
back sharp instead of being averaged away with the noise (Bako et al. 2017 filter diffuse lighting the same way).
A per-pixel weight, also predicted, blends the two results; it is forced to 0 where the frame has no albedo, so
beauty-only renders get exactly the direct path. Albedo and normal go in linear
(bounded data, not light) with two flags saying whether they were given (1) or are missing and zero-filled
(0): training hides the passes of a fraction of the crops, so one network denoises renders with and without
them; the node reports which it used.

Training reuses the shared machinery: ``datasets.PairedCrops`` (deterministic crops, flips, rotations,
exposure jitter), ``loop.Trainer`` (schedule, interval checkpoints, resume, validation PSNR, contact sheets,
progress, cancel). Only the pair loading is specific: the passes of a Blender multilayer EXR live in
separate parts, which ``datasets.load_pairs`` (one part per read) cannot assemble.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from filmai_plugins import color
from filmai_plugins.errors import BadInput, CheckpointError, FrameError
from filmai_plugins.training.checkpoint import load_checkpoint
from filmai_plugins.training.datasets import (Augmentation, ChannelCodec, FramePair, PairedCrops, ValidationSet,
                                              check_frames_exist, split_validation)
from filmai_plugins.training.loop import TrainConfig, Trainer, model_tensors

from .aovs import (ALBEDO_SLICE, ALBEDO_VALID, NET_CHANNELS_IN, NET_CHANNELS_OUT, NORMAL_SLICE,
                            NORMAL_VALID, PassLayout, find_beauty, resolve_layout)
from ..unet import UNet, UNetConfig

NODE_ID = "cnn.denoise"
ARCH_FAMILY = "kpn-unet"
KERNEL = 5
DILATIONS = (1, 3, 9)
MAX_SHARPNESS = 16.0
#: Where the kernels average the beauty. "log" (the shipped model): a firefly enters its neighbours'
#: average at log strength, so even the uniform blur a fresh network starts from is usable. "linear" keeps
#: the mean energy exactly but must first learn to reject fireflies: in a 100-step pilot on the Cycles pairs
#: it stayed below the noisy input (21.96 dB vs 22.60 validation log-PSNR) while "log" reached 24.07 dB
#: (both with the earlier tanh-bounded logits).
FILTER_SPACE = "log"
#: Added to the albedo before dividing by it and multiplying by it again: keeps the lighting of black surfaces
#: (albedo 0) finite, and is small against the albedos of real materials (0.02-0.9).
DEMODULATE_EPSILON = 0.02


def build_arch(size: str, demodulate: bool = True) -> dict[str, Any]:
    """The network description stored in the checkpoint (checkpoints without a ``demodulate`` key predate it
    and have the direct path only)."""
    taps = KERNEL * KERNEL * len(DILATIONS)
    # per path a sharpness channel, then one logit per tap; with the demodulated path also the blend weight
    outputs = 2 * (1 + taps) + 1 if demodulate else 1 + taps
    unet = UNetConfig.sized(size, len(NET_CHANNELS_IN), outputs)
    reach = (KERNEL // 2) * max(DILATIONS) + max(DILATIONS) // 2  # farthest tap, plus its box pre-filter
    extra = {"demodulate": {"epsilon": DEMODULATE_EPSILON}} if demodulate else {}
    return {
        "family": ARCH_FAMILY,
        "size": size,
        "unet": unet.to_json(),
        "kernel": KERNEL,
        "dilations": list(DILATIONS),
        "filter_space": FILTER_SPACE,
        "kernel_logits": "standardized",
        "max_sharpness": MAX_SHARPNESS,
        "encodings_in": ["log"] * 3 + ["linear"] * (len(NET_CHANNELS_IN) - 3),
        "encodings_out": ["log"] * 3,
        "bounded_in": [False] * len(NET_CHANNELS_IN),
        "bounded_out": [False] * 3,
        "align": unet.align,
        # an output pixel depends on its own weights (the U-Net's context) and on beauty values within reach
        "receptive_field": max(unet.receptive_field, reach),
        **extra,
    }


class KernelPredictionCore(nn.Module):
    """Encoded (N, 11, H, W) → encoded (N, 3, H, W): per-pixel softmax kernels applied to the beauty."""

    def __init__(self, arch: dict[str, Any]):
        super().__init__()
        self.unet = UNet(UNetConfig.from_json(arch["unet"]))
        self.kernel = int(arch["kernel"])
        self.dilations = [int(d) for d in arch["dilations"]]
        self.filter_space = str(arch.get("filter_space", FILTER_SPACE))
        self.max_sharpness = float(arch["max_sharpness"])
        if arch.get("kernel_logits") != "standardized":
            raise ValueError(f"unknown kernel_logits {arch.get('kernel_logits')!r}")
        if self.filter_space not in ("linear", "log"):
            raise ValueError(f"unknown filter_space {self.filter_space!r}")
        demodulate = arch.get("demodulate")
        if demodulate is not None and not isinstance(demodulate, dict):
            raise ValueError(f"demodulate must be an object, not {demodulate!r}")
        self.demodulate = demodulate is not None
        self.epsilon = float((demodulate or {}).get("epsilon", DEMODULATE_EPSILON))
        self.path_channels = 1 + self.kernel ** 2 * len(self.dilations)
        expected = 2 * self.path_channels + 1 if self.demodulate else self.path_channels
        if self.unet.config.out_channels != expected:
            raise ValueError("the U-Net must output a sharpness and one logit per tap for each filter path"
                             + (" and a blend weight" if self.demodulate else ""))

    def kernel_weights(self, raw: torch.Tensor) -> torch.Tensor:
        """Per-pixel softmax weights over the taps from the U-Net's raw output (sharpness, logits).

        The logits are standardised per pixel (zero mean, unit spread over the taps), so only their *shape*
        matters, and a separate sharpness channel (0..MAX_SHARPNESS) scales them. Raw softmax logits grew
        without bound in the pilots (a deep net without normalisation, under Adam): the softmax saturated
        to fixed one-tap kernels whose gradient vanished, and validation PSNR froze at its step-50 value;
        tanh-bounded logits saturated the same way more slowly. Standardised logits cannot saturate by
        growing, and the 1e-4 floor makes the zero-initialised head a uniform blur to start from.
        """
        sharpness, logits = raw.split([1, raw.shape[1] - 1], dim=1)  # split: one gradient buffer, not two
        z = logits - logits.mean(1, keepdim=True)
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-4)
        return torch.softmax(z * (self.max_sharpness * torch.sigmoid(sharpness)), dim=1)

    def _filter(self, image: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Each pixel of ``image`` (N, C, H, W) replaced by its kernel's weighted average of the taps."""
        n, c, h, w = image.shape
        k, r = self.kernel, self.kernel // 2
        out = None
        # split, not slices: a slice's gradient is a zero-filled buffer of the whole input, one per slice
        for d, weight in zip(self.dilations, weights.split(k * k, dim=1)):
            src = image
            if d > 1:  # smooth before sampling sparsely, so coarse taps average rather than alias
                src = F.avg_pool2d(F.pad(src, [d // 2] * 4, mode="replicate"), d, stride=1)
            taps = F.unfold(F.pad(src, [r * d] * 4, mode="replicate"), k, dilation=d).view(n, c, k * k, h, w)
            term = (taps * weight[:, None]).sum(2)
            out = term if out is None else out + term
        assert out is not None
        return out

    def _local_range(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel min and max of ``image`` over at least the farthest tap's reach.

        The max over blocks as wide as the coarsest dilation, then over enough neighbouring blocks to cover
        the reach, back to pixels: each pixel's window reaches 22-30 pixels instead of exactly 22, a
        slightly looser bound for a tenth of the time of a 45-pixel max pool (which was a third of a
        training step).
        """
        d = max(self.dilations)
        reach = (self.kernel // 2) * d + d // 2
        blocks = -(-reach // d)
        h, w = image.shape[2:]

        def box_max(t: torch.Tensor) -> torch.Tensor:
            t = F.max_pool2d(t, d, stride=d, ceil_mode=True)
            t = F.max_pool2d(t, 2 * blocks + 1, stride=1, padding=blocks)
            return F.interpolate(t, scale_factor=d, mode="nearest")[:, :, :h, :w]

        return -box_max(-image), box_max(image)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # weights and filtering in float32 even in an fp16 network: squared logits and HDR sums overflow half
        raw = self.unet(x).float()
        pc = self.path_channels
        heads = raw.split([pc, pc, 1] if self.demodulate else [pc], dim=1)
        beauty = x[:, :3].float()
        if self.filter_space == "linear":
            out = color.encode(self._filter(color.decode(beauty, "log"), self.kernel_weights(heads[0])), "log")
        else:
            out = self._filter(beauty, self.kernel_weights(heads[0]))
        if self.demodulate:
            # lighting = beauty / albedo, filtered in log, times the albedo again; blended in where an albedo
            # was given (its flag is 0 when the frame has none, so the blend weight is then exactly 0)
            albedo = x[:, ALBEDO_SLICE].float().clamp(min=0.0) + self.epsilon
            lighting = color.encode(color.decode(beauty, "log") / albedo, "log")
            smooth = self._filter(lighting, self.kernel_weights(heads[1]))
            remodulated = color.encode(color.decode(smooth, "log") * albedo, "log")
            # within the range of the noisy beauty the kernels can reach, as the direct path is by construction:
            # a dark albedo beside a bright one cannot turn lighting into energy that was never rendered there
            with torch.no_grad():  # a bound, not something to learn through
                lo, hi = self._local_range(beauty)
            remodulated = torch.minimum(torch.maximum(remodulated, lo), hi)
            blend = torch.sigmoid(heads[2]) * x[:, ALBEDO_VALID:ALBEDO_VALID + 1].float()
            out = out + blend * (remodulated - out)
        return out.to(x.dtype)


class DenoiseModel(nn.Module):
    """Scene-linear (N, 11, H, W) → scene-linear (N, 3, H, W) for any frame size: encodes, pads to the
    network's alignment, runs the core (in its dtype: fp16 on a GPU when asked), decodes in float32."""

    def __init__(self, arch: dict[str, Any]):
        super().__init__()
        self.core = KernelPredictionCore(arch)
        self.align = int(arch["align"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        ph, pw = (-h) % self.align, (-w) % self.align
        x = x.float()
        if ph or pw:  # the same rule as cnn.copycat: reflect when the frame is large enough, else replicate
            x = F.pad(x, [0, pw, 0, ph], mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        encoded = torch.cat([color.encode(x[:, :3], "log"), x[:, 3:]], dim=1)
        dtype = next(self.core.parameters()).dtype
        y = self.core(encoded.to(dtype)).float()
        return color.decode(y, "log")[:, :, :h, :w]


def check_meta(meta: dict[str, Any], path: str | None) -> None:
    """Refuse a checkpoint that is not a denoiser for these inputs (clear message, exit 2)."""
    if meta.get("node") != NODE_ID:
        raise CheckpointError(f"{path}: checkpoint is for node {meta.get('node')!r}, not {NODE_ID!r}")
    arch = meta.get("arch")
    if list(meta.get("channels_in") or []) != list(NET_CHANNELS_IN) or not isinstance(arch, dict) \
            or arch.get("family") != ARCH_FAMILY:
        raise CheckpointError(f"{path}: not a {NODE_ID} model of this version (inputs {', '.join(NET_CHANNELS_IN)}, "
                              f"network {ARCH_FAMILY}); it has {', '.join(meta.get('channels_in') or []) or 'no inputs'}"
                              f" and network {(arch or {}).get('family') if isinstance(arch, dict) else None!r}")


def load_model(checkpoint: Any) -> DenoiseModel:
    """The scene-linear model with the checkpoint's weights (refusing ones that do not fit), in eval mode."""
    check_meta(checkpoint.meta, checkpoint.path)
    model = checkpoint.build(lambda: DenoiseModel(checkpoint.meta["arch"]),
                             weights=model_tensors(checkpoint.tensors), module=lambda m: m.core)
    return model.eval()


# ----- training -----------------------------------------------------------------------------------------


class AuxDropoutCrops(PairedCrops):
    """``PairedCrops`` that also hides the albedo/normal passes of some crops (deterministically per step).

    With probability ``aux_dropout`` both passes are hidden, with ``aux_dropout / 2`` one of them; hidden
    means zeroed with its flag at 0 -- exactly what inference feeds when a frame has no such pass.
    """

    def __init__(self, *args: Any, aux_dropout: float = 0.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.aux_dropout = float(aux_dropout)
        # Exposure jitter scales light, not materials or directions: only the beauty is colour here.
        self.expose_in = np.array([i < 3 for i in range(len(NET_CHANNELS_IN))])

    def sample(self, step: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = super().sample(step, index)
        if self.aux_dropout > 0:
            r = np.random.default_rng([self.seed, int(step), int(index), 0xA0]).random()
            p = self.aux_dropout
            hide_albedo = r < p or p <= r < 1.25 * p
            hide_normal = r < p or 1.25 * p <= r < 1.5 * p
            if hide_albedo:
                x[ALBEDO_SLICE] = 0.0
                x[ALBEDO_VALID] = 0.0
            if hide_normal:
                x[NORMAL_SLICE] = 0.0
                x[NORMAL_VALID] = 0.0
        return x, y

    def describe(self) -> dict:
        return {**super().describe(), "aux_dropout": self.aux_dropout}


def load_denoise_pairs(ctx, frames: list[int], params: dict[str, Any], layout: PassLayout | None = None,
                       space: str = "") -> tuple[list[FramePair], PassLayout | None]:
    """Noisy (beauty + passes) → clean beauty pairs, checked like ``datasets.load_pairs``. Beauty and albedo
    are converted into the working colourspace ``space`` (the OCIO name; empty: each frame's own)."""
    if "target" not in ctx.inputs:
        raise BadInput(f"node {NODE_ID}: training needs the clean renders (--target PATTERN)")
    real = [f for f in frames if f is not None]
    check_frames_exist(ctx.input_path(), real, "input")
    check_frames_exist(ctx.input_path("target"), real, "target")
    pairs: list[FramePair] = []
    for f in frames:
        ctx.check_cancel()
        src = ctx.read_input(f)
        dst = ctx.read_target(f)
        if layout is None:
            layout = resolve_layout(src, params["beauty"], params["albedo"], params["normal"])
        x = layout.network_input(src, ctx.check_frame)
        try:
            beauty = [dst.channel_index(name) for name in find_beauty(dst, params["beauty"])]
        except FrameError as exc:
            raise FrameError(f"target: {exc.reason}", dst.path, f) from None
        if src.data_window == dst.data_window:
            y = dst.pixels[:, :, beauty]
        else:
            if src.display_window != dst.display_window:
                raise FrameError(f"target is {dst.display_window[2]}x{dst.display_window[3]} but the noisy input "
                                 f"{src.path} is {src.display_window[2]}x{src.display_window[3]}; pairs must line "
                                 "up pixel for pixel", dst.path, f)
            y = dst.on_window(src.data_window)[:, :, beauty]  # the clean render on the noisy one's grid
        x = ctx.colour.convert_channels(x, NET_CHANNELS_IN, src.colorspace, space or src.colorspace)
        y = ctx.colour.convert_channels(y, NET_CHANNELS_OUT, dst.colorspace, space or src.colorspace)
        pairs.append(FramePair(f, np.ascontiguousarray(x), np.ascontiguousarray(y), src.path or "", dst.path or "",
                               list(NET_CHANNELS_IN), list(NET_CHANNELS_OUT)))
    return pairs, layout


def _initial_model(ctx, params: dict[str, Any], default_path: str | None):
    """The checkpoint to start from: --model, else the shipped model (start_from=shipped), else None."""
    if ctx.init_model is not None:
        check_meta(ctx.init_model.meta, ctx.init_model.path)
        return ctx.init_model
    if params["start_from"] == "shipped":
        if default_path and os.path.isfile(default_path):
            ckpt = load_checkpoint(default_path, expect_node=NODE_ID)
            check_meta(ckpt.meta, ckpt.path)
            return ckpt
        ctx.message("no shipped denoise model found; training from scratch")
    return None


def train(ctx, default_path: str | None) -> dict[str, Any]:
    p = ctx.params
    init = _initial_model(ctx, p, default_path)
    if init is not None:
        arch = dict(init.meta["arch"])
        if p["model_size"] != arch.get("size") or p["demodulate"] != ("demodulate" in arch):
            ctx.message(f"fine-tuning {os.path.basename(init.path or '')}: keeping its network (model size "
                        f"{arch.get('size')!r}, demodulate {'demodulate' in arch}; model_size and demodulate "
                        "apply to start_from=scratch)")
        ctx.message(f"fine-tuning from {init.path}")
    else:
        arch = build_arch(p["model_size"], p["demodulate"])
    align = int(arch["align"])

    train_frames, val_frames = split_validation(ctx, p["validation_frames"])
    # The working colourspace: a fine-tuned model keeps its own; a new one learns in the plate's (the first
    # training frame's), and every pair is converted into it.
    space = ctx.model_colorspace(init.meta.get("colorspace"), f"{init.path}") if init is not None else ""
    if not space and train_frames:
        space = ctx.read_input(train_frames[0]).colorspace
    pairs, layout = load_denoise_pairs(ctx, train_frames, p, space=space)
    val_pairs, _ = load_denoise_pairs(ctx, val_frames, p, layout, space) if val_frames else ([], layout)
    assert layout is not None
    ctx.message(f"passes: {layout.describe()}")
    colorspace = ctx.colour.portable(space) if space else ""

    codec_in = ChannelCodec(tuple(arch["encodings_in"]), tuple(bool(b) for b in arch["bounded_in"]))
    codec_out = ChannelCodec(tuple(arch["encodings_out"]), tuple(bool(b) for b in arch["bounded_out"]))
    config = TrainConfig.from_params(p)
    data = AuxDropoutCrops(pairs, config.crop_size, batch_size=config.batch_size, seed=config.seed,
                           codec_in=codec_in, codec_out=codec_out,
                           augment=Augmentation(p["flips"], p["rotations"], p["exposure_jitter"]),
                           align=align, focus=p["focus"], focus_channels=[(0, 0), (1, 1), (2, 2)],
                           rank=ctx.rank, world_size=ctx.world_size, aux_dropout=p["aux_dropout"])
    validation = ValidationSet(val_pairs, codec_in, codec_out, max_size=512, align=align) if val_pairs else None
    torch.manual_seed(config.seed)
    core = KernelPredictionCore(arch)
    meta = {"arch": arch, "channels_in": list(NET_CHANNELS_IN), "channels_out": list(NET_CHANNELS_OUT),
            "colorspace": colorspace, "encoding": "log", "align": align,
            "receptive_field": arch["receptive_field"], "passes": layout.to_json(),
            "training_params": dict(p)}
    trainer = Trainer(ctx, core, data, config, validation=validation, meta=meta, codec_in=codec_in,
                      codec_out=codec_out, colorspace=space or ctx.colour.scene_linear(),
                      identity_channels=[0, 1, 2])
    trainer.load_weights(init)
    summary = trainer.fit()
    ctx.extra["passes"] = layout.to_json()
    return summary
