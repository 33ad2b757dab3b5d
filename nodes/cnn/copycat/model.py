"""``cnn.copycat`` internals (torch): the network in scene-linear terms, training, TorchScript export.

``CopycatCore`` is what trains: a U-Net working in the encoded domain, with a residual skip for every
output channel that has a same-named input channel (cleanup and look tasks start as "no change"), plus a
per-pixel colour branch (a small 1x1-convolution MLP beside the U-Net). Grades, saturation and colour keys are
mostly per-pixel functions; through that short path they are learnt in tens of steps instead of hundreds,
and the U-Net is left the spatial part (glows, sharpening, paint-outs, matte edges).
``CopycatModel`` wraps it for inference and export: scene-linear (1, C_in, H, W) in, scene-linear
(1, C_out, H, W) out; it pads to the network's alignment, applies the per-channel working encoding,
runs the core, decodes, clamps alpha/matte channels to 0–1 and crops back. Everything happens inside
``forward`` with constants created in the input's dtype, so the same TorchScript file runs in fp16
(Nuke's "Optimize for Speed and Memory", ``cnn.torchscript`` with half=true) and float32.

The log encoding is written as ``log(|x| + 1/16) + log(16)`` (and its inverse as
``exp(|y|·k − log 16) − 1/16``), algebraically the ``filmai_plugins.color`` encoding but without the
``16·|x|`` intermediate that overflows half floats for bright highlights.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from filmai_plugins.atomic import atomic_path
from filmai_plugins.errors import BadInput, CheckpointError
from filmai_plugins.training.datasets import (Augmentation, ChannelCodec, PairedCrops, ValidationSet, load_pairs,
                                              parse_channels, split_validation)
from filmai_plugins.training.loop import TrainConfig, Trainer, model_tensors

from ..unet import FULL_RES_SIZES, UNet, UNetConfig

_LOG_GAIN = 16.0
_LOG_NORM = math.log1p(_LOG_GAIN)
_LN_GAIN = math.log(_LOG_GAIN)
_ENCODING_CODES = {"linear": 0, "log": 1, "srgb": 2}
#: hidden width of the per-pixel colour branch (0 in checkpoints made before it existed: no branch)
POINTWISE_WIDTH = 32


def build_arch(size: str, channels_in: list[str], channels_out: list[str], encoding: str,
               bounded_out: list[bool], bounded_in: list[bool],
               sizes: dict[str, tuple[tuple[int, ...], int]] | None = None) -> dict[str, Any]:
    """The network description stored in checkpoints; ``sizes`` picks the size table (default ``unet.SIZES``)."""
    unet = UNetConfig.sized(size, len(channels_in), len(channels_out), sizes)
    return {
        "family": "unet",
        "size": size,
        "unet": unet.to_json(),
        "residual": [channels_in.index(c) if c in channels_in else -1 for c in channels_out],
        "pointwise": POINTWISE_WIDTH,
        "encodings_in": ["linear" if b else encoding for b in bounded_in],
        "encodings_out": ["linear" if b else encoding for b in bounded_out],
        "bounded_out": list(bounded_out),
        "bounded_in": list(bounded_in),
        "align": unet.align,
        "receptive_field": unet.receptive_field,
    }


class CopycatCore(nn.Module):
    """The trainable part: encoded (N, C_in, H, W) → encoded (N, C_out, H, W)."""

    def __init__(self, arch: dict[str, Any]):
        super().__init__()
        self.unet = UNet(UNetConfig.from_json(arch["unet"]))
        residual = [int(i) for i in arch["residual"]]
        self.register_buffer("res_index", torch.tensor([max(i, 0) for i in residual], dtype=torch.long),
                             persistent=False)
        self.register_buffer("res_mask", torch.tensor([1.0 if i >= 0 else 0.0 for i in residual]).view(1, -1, 1, 1),
                             persistent=False)
        # a list of zero or one branch (TorchScript-friendly optional module)
        self.pointwise = nn.ModuleList()
        width = int(arch.get("pointwise", 0))
        if width:
            cin, cout = len(arch["encodings_in"]), len(arch["encodings_out"])
            head = nn.Conv2d(width, cout, 1)
            nn.init.zeros_(head.weight)  # starts as "no change", like the U-Net's head
            nn.init.zeros_(head.bias)
            self.pointwise.append(nn.Sequential(nn.Conv2d(cin, width, 1), nn.LeakyReLU(0.1, inplace=True),
                                                nn.Conv2d(width, width, 1), nn.LeakyReLU(0.1, inplace=True), head))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.unet(x) + self.res_mask.to(x.dtype) * x.index_select(1, self.res_index)
        for branch in self.pointwise:
            y = y + branch(x)
        return y


def _mask(values: list[bool]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.bool).view(1, -1, 1, 1)


class CopycatModel(nn.Module):
    """Scene-linear in, scene-linear out, any frame size; the module that is exported to TorchScript."""

    def __init__(self, arch: dict[str, Any]):
        super().__init__()
        self.core = CopycatCore(arch)
        self.align = int(arch["align"])
        self.log_gain = _LOG_GAIN
        self.log_norm = _LOG_NORM
        self.ln_gain = _LN_GAIN
        enc_in = [_ENCODING_CODES[e] for e in arch["encodings_in"]]
        enc_out = [_ENCODING_CODES[e] for e in arch["encodings_out"]]
        self.register_buffer("in_log", _mask([e == 1 for e in enc_in]), persistent=False)
        self.register_buffer("in_srgb", _mask([e == 2 for e in enc_in]), persistent=False)
        self.register_buffer("out_log", _mask([e == 1 for e in enc_out]), persistent=False)
        self.register_buffer("out_srgb", _mask([e == 2 for e in enc_out]), persistent=False)
        self.register_buffer("out_bounded", _mask([bool(b) for b in arch["bounded_out"]]), persistent=False)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        a = x.abs()
        log = torch.sign(x) * (torch.log(a + 1.0 / self.log_gain) + self.ln_gain) / self.log_norm
        srgb = torch.sign(x) * torch.where(a <= 0.0031308, 12.92 * a, 1.055 * a.clamp(min=0.0031308) ** (1.0 / 2.4) - 0.055)
        return torch.where(self.in_log, log, torch.where(self.in_srgb, srgb, x))

    def _decode(self, y: torch.Tensor) -> torch.Tensor:
        a = y.abs()
        log = torch.sign(y) * (torch.exp(a * self.log_norm - self.ln_gain) - 1.0 / self.log_gain)
        srgb = torch.sign(y) * torch.where(a <= 0.04045, a / 12.92, ((a.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)
        out = torch.where(self.out_log, log, torch.where(self.out_srgb, srgb, y))
        return torch.where(self.out_bounded, out.clamp(0.0, 1.0), out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        ph = (self.align - h % self.align) % self.align
        pw = (self.align - w % self.align) % self.align
        if ph > 0 or pw > 0:
            # the same rule as cnn.torchscript's padding, so both give the same pixels at the frame edge
            if min(h, w) > max(ph, pw):
                x = F.pad(x, [0, pw, 0, ph], mode="reflect")
            else:
                x = F.pad(x, [0, pw, 0, ph], mode="replicate")
        y = self._decode(self.core(self._encode(x)))
        return y[:, :, :h, :w]


def load_model(meta: dict[str, Any], tensors: dict[str, Any], path: str | None = None) -> CopycatModel:
    """A ``CopycatModel`` with a checkpoint's weights (refusing ones that do not fit its arch)."""
    arch = meta.get("arch")
    if not isinstance(arch, dict) or arch.get("family") != "unet":
        raise CheckpointError(f"{path}: no copycat network description in the checkpoint metadata")
    model = CopycatModel(arch)
    state = {k: torch.from_numpy(np.array(v)) for k, v in model_tensors(tensors).items()}
    own = model.core.state_dict()
    if set(own) != set(state) or any(tuple(own[k].shape) != tuple(state[k].shape) for k in own):
        raise CheckpointError(f"{path}: weights do not match the network described in the checkpoint")
    model.core.load_state_dict(state)
    return model.eval()


# ----- training ----------------------------------------------------------------------------------


def _bounded_flags(names: list[str], spec: str) -> list[bool]:
    spec = (spec or "auto").strip()
    if spec.lower() == "auto":
        return list(ChannelCodec.for_channels(names).bounded)
    chosen = set(parse_channels(spec)) if spec.lower() != "none" else set()
    return [n in chosen for n in names]


def _check_channel_list(names: list[str], param: str) -> None:
    if not names:
        raise BadInput(f"cnn.copycat: {param} names no channels")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise BadInput(f"cnn.copycat: {param} names {', '.join(dup)} twice")


def train(ctx) -> dict[str, Any]:
    p = ctx.params
    channels_in = parse_channels(p["channels_in"])
    channels_out = parse_channels(p["channels_out"]) or list(channels_in)
    _check_channel_list(channels_in, "channels_in")
    _check_channel_list(channels_out, "channels_out")
    size = p["model_size"]
    init = ctx.init_model
    if init is not None:  # fine-tuning: the previous model decides the network and channels
        if init.meta.get("channels_in") != channels_in or init.meta.get("channels_out") != channels_out:
            raise CheckpointError(
                f"{init.path}: was trained for {','.join(init.meta.get('channels_in', []))} → "
                f"{','.join(init.meta.get('channels_out', []))}, not {','.join(channels_in)} → {','.join(channels_out)}; "
                "set channels_in/channels_out to match it")
        init_size = (init.meta.get("arch") or {}).get("size")
        if init_size and init_size != size:
            ctx.message(f"fine-tuning keeps the model size of {os.path.basename(init.path or '')}: {init_size}")
            size = init_size
        arch = dict(init.meta["arch"])
    else:
        arch = build_arch(size, channels_in, channels_out, p["encoding"],
                          _bounded_flags(channels_out, p["bounded_channels"]),
                          _bounded_flags(channels_in, p["bounded_channels"]), sizes=FULL_RES_SIZES)
    align = int(arch["align"])

    train_frames, val_frames = split_validation(ctx, p["validation_frames"])
    pairs = load_pairs(ctx, train_frames, channels_in, channels_out)
    val_pairs = load_pairs(ctx, val_frames, channels_in, channels_out) if val_frames else []
    first = pairs[0].input_path
    # what the plates are in as the run reads them (--input-colorspace, the file's tag, else the run config's
    # default), named as the run's config names it: the contact sheets are drawn through that config
    colorspace = ctx.read_input(train_frames[0]).colorspace if first else ctx.colour.scene_linear()

    codec_in = ChannelCodec(tuple(arch["encodings_in"]), tuple(bool(b) for b in arch["bounded_in"]))
    codec_out = ChannelCodec(tuple(arch["encodings_out"]), tuple(bool(b) for b in arch["bounded_out"]))
    config = TrainConfig.from_params(p)
    data = PairedCrops(pairs, config.crop_size, batch_size=config.batch_size, seed=config.seed, codec_in=codec_in,
                       codec_out=codec_out, augment=Augmentation(p["flips"], p["rotations"], p["exposure_jitter"]),
                       align=align, focus=p["focus"], rank=ctx.rank, world_size=ctx.world_size)
    if data.crop_size < config.crop_size:
        ctx.message(f"crop size {config.crop_size} is larger than the smallest training frame; using {data.crop_size}")
    validation = ValidationSet(val_pairs, codec_in, codec_out, max_size=512, align=align) if val_pairs else None
    torch.manual_seed(config.seed)
    core = CopycatCore(arch)
    meta = {"arch": arch, "channels_in": channels_in, "channels_out": channels_out, "colorspace": colorspace,
            "encoding": p["encoding"], "align": align, "receptive_field": arch["receptive_field"],
            "training_params": {k: v for k, v in p.items()}}
    trainer = Trainer(ctx, core, data, config, validation=validation, meta=meta, codec_in=codec_in,
                      codec_out=codec_out, colorspace=colorspace, identity_channels=arch["residual"])
    trainer.load_weights(init)
    return trainer.fit()


# ----- export ------------------------------------------------------------------------------------

#: FilmAI channel name → the Nuke channel CatFileCreator's Channels In/Out knobs know (nuke.md, section 10)
NUKE_CHANNELS = {"R": "rgba.red", "G": "rgba.green", "B": "rgba.blue", "A": "rgba.alpha", "Z": "depth.Z",
                 "depth.Z": "depth.Z", "mask.a": "mask.a", "u": "forward.u", "v": "forward.v"}


def export_torchscript(checkpoint: Any, path: str, options: dict[str, Any]) -> dict[str, Any]:
    """Write a TorchScript ``.pt`` of the checkpoint (atomic) and check it reproduces the network."""
    meta = checkpoint.meta
    model = load_model(meta, checkpoint.tensors, checkpoint.path)
    scripted = torch.jit.script(model)
    info = {
        "node": meta.get("node"), "node_version": meta.get("node_version"),
        "source_checkpoint": os.path.basename(checkpoint.path or ""), "source_sha256": checkpoint.sha256,
        "channels_in": meta["channels_in"], "channels_out": meta["channels_out"],
        "colorspace": meta.get("colorspace"), "receptive_field": meta["receptive_field"], "align": meta["align"],
        "torch": torch.__version__,
    }
    with atomic_path(path) as tmp:
        torch.jit.save(scripted, tmp, _extra_files={"filmai.json": json.dumps(info, sort_keys=True)})
        reloaded = torch.jit.load(tmp, map_location="cpu")
        probe = torch.rand(1, len(meta["channels_in"]), 37, 53) * 4.0  # odd sizes exercise the padding, >1 the HDR path
        with torch.no_grad():
            diff = float((reloaded(probe) - model(probe)).abs().max())
        if not diff <= 1e-4:
            raise RuntimeError(f"exported TorchScript differs from the checkpoint's network by {diff}")
    nuke_in = [NUKE_CHANNELS.get(c) for c in meta["channels_in"]]
    nuke_out = [NUKE_CHANNELS.get(c) for c in meta["channels_out"]]
    info["nuke"] = {
        "channelsIn": ", ".join(n or "?" for n in nuke_in),
        "channelsOut": ", ".join(n or "?" for n in nuke_out),
        "outputScale": 1,
        "representable": all(nuke_in) and all(nuke_out),
    }
    info["cnn_torchscript_params"] = {
        "channels_in": ",".join(meta["channels_in"]), "channels_out": ",".join(meta["channels_out"]),
        "receptive_field": int(meta["receptive_field"]), "align": int(meta["align"]), "scale": 1,
    }
    info["path"] = os.path.abspath(path)
    return info
