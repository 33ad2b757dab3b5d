"""``cnn.denoise`` internals (torch): the network, and training / fine-tuning on noisy→clean render pairs.

The network is the shared copycat network (``_copycat.CopycatModel`` around ``_unet.UNet``): scene-linear in,
scene-linear out, the beauty in the invertible ``log`` working encoding (HDR survives, nothing is clamped),
a residual skip so it starts as "no change". Its 11 inputs are ``_denoise_aovs.NET_CHANNELS_IN``: beauty
RGB, albedo RGB and normal XYZ (both linear: they are bounded data, not light) and two flags saying whether
albedo and normal were given. Training drops the auxiliary passes of a fraction of the crops (flags set to 0,
passes zeroed), so one network denoises renders with and without AOVs; the node reports which it used.

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

from filmai_plugins import color
from filmai_plugins.errors import BadInput, CheckpointError, FrameError
from filmai_plugins.training.checkpoint import load_checkpoint
from filmai_plugins.training.datasets import (Augmentation, ChannelCodec, FramePair, PairedCrops, ValidationSet,
                                              check_frames_exist, split_validation)
from filmai_plugins.training.loop import TrainConfig, Trainer

from . import _copycat
from ._denoise_aovs import (ALBEDO_SLICE, ALBEDO_VALID, NET_CHANNELS_IN, NET_CHANNELS_OUT, NORMAL_SLICE,
                            NORMAL_VALID, PassLayout, find_beauty, resolve_layout)

NODE_ID = "cnn.denoise"
BEAUTY = slice(0, 3)


def build_arch(size: str) -> dict[str, Any]:
    """The network description stored in the checkpoint: beauty in log, passes and flags linear."""
    channels_in, channels_out = list(NET_CHANNELS_IN), list(NET_CHANNELS_OUT)
    arch = _copycat.build_arch(size, channels_in, channels_out, "log", [False] * 3, [False] * len(channels_in))
    arch["encodings_in"] = ["log"] * 3 + ["linear"] * (len(channels_in) - 3)
    return arch


def check_meta(meta: dict[str, Any], path: str | None) -> None:
    """Refuse a checkpoint that is not a denoiser for these inputs (clear message, exit 2)."""
    if meta.get("node") != NODE_ID:
        raise CheckpointError(f"{path}: checkpoint is for node {meta.get('node')!r}, not {NODE_ID!r}")
    if list(meta.get("channels_in") or []) != list(NET_CHANNELS_IN) or not isinstance(meta.get("arch"), dict):
        raise CheckpointError(f"{path}: not a {NODE_ID} model for inputs {', '.join(NET_CHANNELS_IN)} "
                              f"(it has {', '.join(meta.get('channels_in') or []) or 'no channel list'})")


def load_model(checkpoint: Any) -> torch.nn.Module:
    """Scene-linear (N, 11, H, W) → (N, 3, H, W) module with the checkpoint's weights, in eval mode."""
    check_meta(checkpoint.meta, checkpoint.path)
    return _copycat.load_model(checkpoint.meta, checkpoint.tensors, checkpoint.path)


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


def _on_window(pixels: np.ndarray, window: tuple[int, int, int, int], target: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, w, h = target
    out = np.zeros((h, w, pixels.shape[2]), np.float32)
    ax, ay, aw, ah = window
    sx0, sy0, sx1, sy1 = max(x0, ax), max(y0, ay), min(x0 + w, ax + aw), min(y0 + h, ay + ah)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = pixels[sy0 - ay:sy1 - ay, sx0 - ax:sx1 - ax]
    return out


def load_denoise_pairs(ctx, frames: list[int], params: dict[str, Any],
                       layout: PassLayout | None = None) -> tuple[list[FramePair], PassLayout | None]:
    """Noisy (beauty + passes) → clean beauty pairs, checked like ``datasets.load_pairs``."""
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
            y = dst.select(find_beauty(dst, params["beauty"]))
        except FrameError as exc:
            raise FrameError(f"target: {exc.reason}", dst.path, f) from None
        if src.data_window != dst.data_window:
            if src.display_window != dst.display_window:
                raise FrameError(f"target is {dst.display_window[2]}x{dst.display_window[3]} but the noisy input "
                                 f"{src.path} is {src.display_window[2]}x{src.display_window[3]}; pairs must line "
                                 "up pixel for pixel", dst.path, f)
            y = _on_window(y, dst.data_window, src.data_window)  # the clean render on the noisy one's grid
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
    from filmai_plugins.frames.io import read_header

    p = ctx.params
    init = _initial_model(ctx, p, default_path)
    if init is not None:
        arch = dict(init.meta["arch"])
        if p["model_size"] != arch.get("size"):
            ctx.message(f"fine-tuning {os.path.basename(init.path or '')}: keeping its model size "
                        f"{arch.get('size')!r} (model_size applies to start_from=scratch)")
        ctx.message(f"fine-tuning from {init.path}")
    else:
        arch = build_arch(p["model_size"])
    align = int(arch["align"])

    train_frames, val_frames = split_validation(ctx, p["validation_frames"])
    pairs, layout = load_denoise_pairs(ctx, train_frames, p)
    val_pairs, _ = load_denoise_pairs(ctx, val_frames, p, layout) if val_frames else ([], layout)
    assert layout is not None
    ctx.message(f"passes: {layout.describe()}")
    first = pairs[0].input_path
    colorspace = color.frame_colorspace(read_header(first).attributes, os.path.splitext(first)[1]) if first \
        else "lin_rec709"

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
    core = _copycat.CopycatCore(arch)
    meta = {"arch": arch, "channels_in": list(NET_CHANNELS_IN), "channels_out": list(NET_CHANNELS_OUT),
            "colorspace": colorspace, "encoding": "log", "align": align,
            "receptive_field": arch["receptive_field"], "passes": layout.to_json(),
            "training_params": dict(p)}
    trainer = Trainer(ctx, core, data, config, validation=validation, meta=meta, codec_in=codec_in,
                      codec_out=codec_out, colorspace=colorspace, identity_channels=[0, 1, 2])
    trainer.load_weights(init)
    summary = trainer.fit()
    ctx.extra["passes"] = layout.to_json()
    return summary
