"""``cnn.copycat`` internals (torch): the networks in scene-linear terms, the choice between them, training,
TorchScript export.

Two networks, both working in the encoded domain with a residual skip for every output channel that has a
same-named input channel (cleanup and look tasks start as "no change"):

- ``unet`` (``CopycatCore``): a U-Net plus a per-pixel colour branch (a small 1x1-convolution MLP beside it).
  Wide spatial context and non-linear spatial reasoning: paint-outs, dust, wires, roto-like mattes.
- ``look`` (``LookCore``, ``look.py``): a per-pixel MLP, a learnt multi-scale filter bank of its features and
  a second per-pixel MLP. Grades, tone curves, local contrast, glows, sharpening and colour keys are such
  functions; it learns them to within a few thousandths in a minute on two CPU cores because each step is
  cheap (it trains on many small crops, at a higher learning rate).

``network=auto`` (the default) chooses from the training pairs (``choose_network``): a change that covers
most of the frame and is largely a function of each pixel's own colour is a look; anything else (sparse
fixes, noise, shapes) gets the U-Net.
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
from filmai_plugins.errors import BadInput, CheckpointError, FrameError
from filmai_plugins.training.datasets import (Augmentation, ChannelCodec, PairedCrops, ValidationSet, load_pairs,
                                              parse_channels, split_validation)
from filmai_plugins.training.loop import TrainConfig, Trainer, model_tensors

from ..unet import FULL_RES_SIZES, UNet, UNetConfig
from .look import LookConfig, LookNet

_LOG_GAIN = 16.0
_LOG_NORM = math.log1p(_LOG_GAIN)
_LN_GAIN = math.log(_LOG_GAIN)
_ENCODING_CODES = {"linear": 0, "log": 1, "srgb": 2}
#: hidden width of the per-pixel colour branch (0 in checkpoints made before it existed: no branch)
POINTWISE_WIDTH = 32
#: the ``network`` param's choices (the checkpoint's ``arch.family`` is one of the last two)
NETWORKS = ("auto", "unet", "look")
#: what ``crop_size`` / ``batch_size`` 0 (auto) mean for each network. The look network learns fastest from
#: many cheap steps: 8 crops of 48 px reached 44.2 dB in 60 CPU-s where 8 crops of 96 px reached 39.5 dB
#: (grade + S-curve + local contrast, bench/NOTES.md).
TRAINING_DEFAULTS = {"unet": {"crop_size": 128, "batch_size": 8}, "look": {"crop_size": 48, "batch_size": 8}}
#: the look network's layers are narrow (1x1 convolutions on a few dozen channels): it trains best at about
#: 12x the U-Net's learning rate (measured: 2e-3 -> 35.1 dB, 1.2e-2 -> 38.1, 2.5e-2 -> 39.5, 5e-2 diverges
#: early, same budget); ``learning_rate`` stays the U-Net's figure and the look network scales it.
LR_SCALE = {"unet": 1.0, "look": 12.5}
#: pixels at each crop side that is not a frame border left out of the loss (``PairedCrops.crop_edge_margin``).
#: The look network pads at the crop edge and cannot tell it from the frame edge; taught to guess the context
#: a crop cuts off, it got the outermost pixels of the frame 3-6x worse than the inside. 4 px, two runs at 60
#: CPU-s: tone_c (sigma-10 local contrast) 42.3-42.7 -> 43.9-44.5 dB, tone_b 45.1-45.7 -> 47.1-48.0 dB; tone,
#: look and matte unchanged (bench/NOTES.md).
CROP_EDGE_MARGIN = {"unet": 0, "look": 4}


def build_arch(size: str, channels_in: list[str], channels_out: list[str], encoding: str,
               bounded_out: list[bool], bounded_in: list[bool],
               sizes: dict[str, tuple[tuple[int, ...], int]] | None = None, network: str = "unet") -> dict[str, Any]:
    """The network description stored in checkpoints; ``sizes`` picks the U-Net size table (default
    ``unet.SIZES``); ``network`` is ``unet`` or ``look`` (``size`` applies to the U-Net only)."""
    common = {
        "residual": [channels_in.index(c) if c in channels_in else -1 for c in channels_out],
        "encodings_in": ["linear" if b else encoding for b in bounded_in],
        "encodings_out": ["linear" if b else encoding for b in bounded_out],
        "bounded_out": list(bounded_out),
        "bounded_in": list(bounded_in),
    }
    if network == "look":
        look = LookConfig(len(channels_in), len(channels_out))
        return {"family": "look", "look": look.to_json(), **common, "align": look.align,
                "receptive_field": look.receptive_field}
    if network != "unet":
        raise BadInput(f"cnn.copycat: unknown network {network!r} (one of {', '.join(NETWORKS)})")
    unet = UNetConfig.sized(size, len(channels_in), len(channels_out), sizes)
    return {
        "family": "unet",
        "size": size,
        "unet": unet.to_json(),
        **common,
        "pointwise": POINTWISE_WIDTH,
        "align": unet.align,
        "receptive_field": unet.receptive_field,
    }


def _register_residual(module: nn.Module, residual: list) -> None:
    """The skip path of a core: output channel k adds input channel ``residual[k]`` (-1: none), as the
    non-persistent buffers ``res_index`` and ``res_mask`` its forward uses."""
    residual = [int(i) for i in residual]
    module.register_buffer("res_index", torch.tensor([max(i, 0) for i in residual], dtype=torch.long),
                           persistent=False)
    module.register_buffer("res_mask", torch.tensor([1.0 if i >= 0 else 0.0 for i in residual]).view(1, -1, 1, 1),
                           persistent=False)


class CopycatCore(nn.Module):
    """The trainable part: encoded (N, C_in, H, W) → encoded (N, C_out, H, W)."""

    def __init__(self, arch: dict[str, Any]):
        super().__init__()
        self.unet = UNet(UNetConfig.from_json(arch["unet"]))
        _register_residual(self, arch["residual"])
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


class LookCore(nn.Module):
    """The look network's trainable part: encoded (N, C_in, H, W) → encoded (N, C_out, H, W)."""

    def __init__(self, arch: dict[str, Any]):
        super().__init__()
        self.look = LookNet(LookConfig.from_json(arch["look"]))
        _register_residual(self, arch["residual"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.look(x) + self.res_mask.to(x.dtype) * x.index_select(1, self.res_index)


#: ``arch["family"]`` → the trainable module
CORES = {"unet": CopycatCore, "look": LookCore}


def make_core(arch: dict[str, Any]) -> nn.Module:
    return CORES[arch["family"]](arch)


def _mask(values: list[bool]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.bool).view(1, -1, 1, 1)


class CopycatModel(nn.Module):
    """Scene-linear in, scene-linear out, any frame size; the module that is exported to TorchScript."""

    def __init__(self, arch: dict[str, Any]):
        super().__init__()
        self.core = make_core(arch)
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
    if not isinstance(arch, dict) or arch.get("family") not in CORES:
        found = arch.get("family") if isinstance(arch, dict) else None
        raise CheckpointError(f"{path}: no copycat network description in the checkpoint metadata"
                              + (f" (network {found!r}; this version knows {', '.join(CORES)})" if found else ""))
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


def _box(img: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² box at every pixel of (H, W, C), the edge extended (summed-area table)."""
    pad = np.pad(img, ((r + 1, r), (r + 1, r), (0, 0)), mode="edge").cumsum(0).cumsum(1)
    k = 2 * r + 1
    return (pad[k:, k:] - pad[:-k, k:] - pad[k:, :-k] + pad[:-k, :-k]) / (k * k)


def _explained(feats: np.ndarray, change: np.ndarray) -> float:
    """Share of the change's energy a least-squares fit on ``feats`` explains on pixels it was not fitted on."""
    fit, test = slice(0, None, 2), slice(1, None, 2)
    gram = feats[fit].T @ feats[fit]
    gram += 1e-6 * np.trace(gram) / len(gram) * np.eye(len(gram))
    w = np.linalg.solve(gram, feats[fit].T @ change[fit])
    residue = float(np.mean((change[test] - feats[test] @ w) ** 2))
    return 1.0 - residue / max(float(np.mean(change[test] ** 2)), 1e-12)


#: box radii of the band-pass features ``choose_network`` gives its "local" fit (about the look network's reach)
_BAND_RADII = (1, 2, 4, 8, 16)


def choose_network(pairs: list, codec_in: ChannelCodec, codec_out: ChannelCodec, residual: list[int],
                   max_pixels: int = 120_000, seed: int = 0) -> tuple[str, dict[str, Any]]:
    """``look`` or ``unet`` for these training pairs, and the figures the choice was made on.

    Two least-squares fits of the change (target minus input in the working encoding, or the new channel),
    each scored on pixels it was not fitted on: *pointwise*, on per-pixel features (the channels and hinge
    functions of them: any smooth function of the colour is close to a combination), and *local*, on those
    plus band-passes of the input channels over 1-16 px (what a linear filter of the plate adds). A look is a
    change that covers most of the frame (at least half the pixels move by more than a tenth of the largest
    changes, the top 0.1%) and that the
    pointwise fit explains for at least 60% of its energy, or the local fit for at least 80%: grades, curves,
    keys, and with them local contrast, glows and sharpening. Paint-outs and dust (sparse), noise and shapes
    (neither fit explains them) get the U-Net. For new channels (a matte from RGB) every pixel counts as
    covered: a colour key is a look, a roto shape is not.
    """
    cin, cout = codec_in.channels, codec_out.channels
    xs, ys, bands = [], [], []
    per_pair = max(1, max_pixels // len(pairs))
    for pair in pairs:
        n = pair.height * pair.width
        stride = max(1, -(-n // per_pair))
        enc = codec_in.encode(pair.input).astype(np.float64)
        xs.append(enc.reshape(-1, cin)[::stride])
        ys.append(codec_out.encode(pair.target.reshape(-1, cout)[::stride]))
        bands.append(np.concatenate([(_box(enc, r) - enc).reshape(-1, cin)[::stride] for r in _BAND_RADII], axis=1))
    x = np.concatenate(xs)
    y = np.concatenate(ys).astype(np.float64)
    change = np.empty_like(y)
    kept = [j for j, i in enumerate(residual) if i >= 0]
    for j, i in enumerate(residual):
        change[:, j] = y[:, j] - x[:, i] if i >= 0 else y[:, j] - y[:, j].mean()
    energy = float(np.mean(change ** 2))
    stats: dict[str, Any] = {"pixels": int(len(x)), "change_rms": round(math.sqrt(energy), 5)}
    if energy < 1e-10:
        stats["why"] = "the targets equal the inputs"
        return "unet", stats
    covered = 1.0
    if kept:  # "moves": by more than a tenth of the change's own scale (a subtle grade covers the frame too)
        moved = np.abs(change[:, kept]).max(axis=1)
        covered = float(np.mean(moved > max(1e-3, 0.1 * float(np.percentile(moved, 99.9)))))
    # hinge features max(0, (x - p)·a) at random sample points p and directions a (the pointwise MLP's form)
    rng = np.random.default_rng(seed)
    hinges = 96
    a = rng.normal(size=(cin, hinges))
    a /= np.linalg.norm(a, axis=0, keepdims=True)
    points = x[rng.integers(0, len(x), hinges)]
    pointwise = np.concatenate([np.ones((len(x), 1)), x, np.maximum(0.0, x @ a - np.sum(points * a.T, axis=1))],
                               axis=1)
    explained = _explained(pointwise, change)
    local = _explained(np.concatenate([pointwise, np.concatenate(bands)], axis=1), change)
    stats.update({"covered": round(covered, 3), "pointwise_explained": round(explained, 3),
                  "local_explained": round(local, 3)})
    if covered >= 0.5 and (explained >= 0.6 or local >= 0.8):
        what = (f"{explained:.0%} of it is a function of each pixel's colour" if explained >= 0.6 else
                f"{local:.0%} of it is a function of each pixel's colour and linear filters of the plate")
        stats["why"] = f"the change covers {covered:.0%} of the frame and {what}"
        return "look", stats
    stats["why"] = (f"the change covers {covered:.0%} of the frame" if covered < 0.5 else
                    f"only {max(explained, 0.0):.0%} of the change is a function of each pixel's colour and "
                    f"{max(local, 0.0):.0%} with linear filters of the plate")
    return "unet", stats


def _load() -> float:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):  # not on every platform
        return 0.0


def free_cores(world_size: int = 1) -> int:
    """CPU threads per training process for ``threads=0``: the cores the other jobs leave free (load average),
    at least one. Threads beyond the free cores do not add speed: on a shared 2-core machine at load 8, two
    threads took 430 CPU-ms and 980 ms a step of the look network where one took 56 CPU-ms and 170 ms."""
    cores = os.cpu_count() or 1
    free = int(cores - _load() + 0.5)
    return max(1, min(cores // max(1, world_size), free // max(1, world_size)))


class CopycatTrainer(Trainer):
    """The shared loop, with the network's learning-rate scale (``LR_SCALE``) on its parameter group and a
    loss that leaves out target pixels the crops marked NaN (``CROP_EDGE_MARGIN``)."""

    def __init__(self, *args: Any, lr_scale: float = 1.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lr_scale = float(lr_scale)

    def reconstruction_loss(self, pred: Any, target: Any) -> Any:
        valid = torch.isfinite(target)
        if bool(valid.all()):
            return super().reconstruction_loss(pred, target)
        d = (pred - torch.nan_to_num(target)).masked_fill(~valid, 0.0)
        if self.config.loss == "l2":
            e = d * d
        elif self.config.loss == "charbonnier":
            e = torch.sqrt(d * d + 1e-6)
        else:
            e = d.abs()
        return e.masked_fill(~valid, 0.0).sum() / valid.sum().clamp(min=1)  # the mean over scored pixels

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.config
        group = {"params": list(self.model.parameters()), "lr_scale": self.lr_scale}
        return {"model": self.torch.optim.AdamW([group], lr=cfg.learning_rate * self.lr_scale,
                                                weight_decay=cfg.weight_decay, betas=(0.9, 0.99))}


def into_working_space(colour: Any, pairs: list, say: Any = None, working: str = "") -> str:
    """The working colourspace of a training run (``working``: the space of a model being fine-tuned; else the
    first training input's, as the engine read it: the file's tag, ``--input-colorspace`` or the config's
    default) with every pair converted into it in place:
    inputs in another space (rare) and targets in another space (a grade delivered in the show's display-
    referred space, say) through OCIO, colour layers only (``ColourConfig.convert_channels``: alpha, mattes
    and data layers untouched), so the network learns the fix alone, not a change of colourspace too."""
    whose = "the model's being fine-tuned" if working else "the first training input's"
    if not working:
        working = colour.resolve(pairs[0].input_colorspace) if pairs[0].input_colorspace else colour.scene_linear()
    said: set[tuple[str, str]] = set()
    for pair in pairs:
        for role in ("input", "target"):
            space = getattr(pair, f"{role}_colorspace")
            space = colour.resolve(space) if space else working
            if space == working:
                continue
            names = pair.channels_in if role == "input" else pair.channels_out
            pixels = getattr(pair, role)
            try:
                converted = colour.convert_channels(pixels, list(names), space, working)
            except BadInput as exc:
                path = pair.input_path if role == "input" else pair.target_path
                raise FrameError(f"the {role} is in {space!r} and the training inputs in {working!r}: {exc}",
                                 path, pair.frame) from None
            setattr(pair, role, np.ascontiguousarray(converted))
            setattr(pair, f"{role}_colorspace", working)
            if say is not None and (role, space) not in said:
                said.add((role, space))
                say(f"training {role}s in {space!r} are converted into the working colourspace {working!r} "
                    f"({whose})", level="warning")
    return working


def train(ctx) -> dict[str, Any]:
    p = dict(ctx.params)
    channels_in = parse_channels(p["channels_in"])
    channels_out = parse_channels(p["channels_out"]) or list(channels_in)
    _check_channel_list(channels_in, "channels_in")
    _check_channel_list(channels_out, "channels_out")
    size = p["model_size"]
    network = p.get("network", "auto")
    if network not in NETWORKS:
        raise BadInput(f"cnn.copycat: unknown network {network!r} (one of {', '.join(NETWORKS)})")
    init = ctx.init_model
    arch: dict[str, Any] | None = None
    if init is not None:  # fine-tuning: the previous model decides the network and channels
        if init.meta.get("channels_in") != channels_in or init.meta.get("channels_out") != channels_out:
            raise CheckpointError(
                f"{init.path}: was trained for {','.join(init.meta.get('channels_in', []))} → "
                f"{','.join(init.meta.get('channels_out', []))}, not {','.join(channels_in)} → {','.join(channels_out)}; "
                "set channels_in/channels_out to match it")
        arch = dict(init.meta["arch"])
        name = os.path.basename(init.path or "")
        if network not in ("auto", arch.get("family")):
            ctx.message(f"fine-tuning keeps the network of {name}: {arch.get('family')}")
        init_size = arch.get("size")
        if arch.get("family") == "unet" and init_size and init_size != size:
            ctx.message(f"fine-tuning keeps the model size of {name}: {init_size}")

    train_frames, val_frames = split_validation(ctx, p["validation_frames"])
    pairs = load_pairs(ctx, train_frames, channels_in, channels_out)
    val_pairs = load_pairs(ctx, val_frames, channels_in, channels_out) if val_frames else []
    colour = ctx.colour
    # fine-tuning keeps the previous model's colourspace (models from before it was recorded: the plates')
    kept = ctx.model_colorspace(ctx.node_cls.model_colorspace(init.meta), init.path or "the initial model") \
        if init is not None else ""
    working = into_working_space(colour, pairs + val_pairs, ctx.message, working=kept)

    choice: dict[str, Any] = {"asked": network}
    if arch is None:
        bounded_out = _bounded_flags(channels_out, p["bounded_channels"])
        bounded_in = _bounded_flags(channels_in, p["bounded_channels"])
        if network == "auto":
            probe = build_arch(size, channels_in, channels_out, p["encoding"], bounded_out, bounded_in,
                               sizes=FULL_RES_SIZES)
            network, stats = choose_network(
                pairs, ChannelCodec(tuple(probe["encodings_in"]), tuple(bounded_in)),
                ChannelCodec(tuple(probe["encodings_out"]), tuple(bounded_out)), probe["residual"], seed=p["seed"])
            choice.update(stats)
            ctx.message(f"network: {network} (auto: {stats['why']}; set network=unet or network=look to choose)")
        arch = build_arch(size, channels_in, channels_out, p["encoding"], bounded_out, bounded_in,
                          sizes=FULL_RES_SIZES, network=network)
    family = arch["family"]
    choice["network"] = family
    align = int(arch["align"])
    for key, value in TRAINING_DEFAULTS[family].items():  # 0: the network's own default
        if not p.get(key):
            p[key] = value
    if p["batch_size"] % ctx.world_size and not ctx.params.get("batch_size"):
        p["batch_size"] += ctx.world_size - p["batch_size"] % ctx.world_size

    if not p.get("threads"):
        p["threads"] = free_cores(ctx.world_size)
        ctx.message(f"training on {p['threads']} CPU thread{'s' if p['threads'] > 1 else ''} per process "
                    f"(load average {_load():.1f} on {os.cpu_count()} cores; set threads to choose)")

    codec_in = ChannelCodec(tuple(arch["encodings_in"]), tuple(bool(b) for b in arch["bounded_in"]))
    codec_out = ChannelCodec(tuple(arch["encodings_out"]), tuple(bool(b) for b in arch["bounded_out"]))
    config = TrainConfig.from_params(p)
    data = PairedCrops(pairs, config.crop_size, batch_size=config.batch_size, seed=config.seed, codec_in=codec_in,
                       codec_out=codec_out, augment=Augmentation(p["flips"], p["rotations"], p["exposure_jitter"]),
                       align=align, focus=p["focus"], rank=ctx.rank, world_size=ctx.world_size,
                       crop_edge_margin=CROP_EDGE_MARGIN[family])
    if data.crop_size < config.crop_size:
        ctx.message(f"crop size {config.crop_size} is larger than the smallest training frame; using {data.crop_size}")
    validation = ValidationSet(val_pairs, codec_in, codec_out, max_size=512, align=align) if val_pairs else None
    torch.manual_seed(config.seed)
    core = make_core(arch)
    colorspace = colour.portable(working)
    meta = {"arch": arch, "channels_in": channels_in, "channels_out": channels_out, "colorspace": colorspace,
            "ocio_config": colour.describe(),
            "encoding": p["encoding"], "align": align, "receptive_field": arch["receptive_field"],
            "network_choice": choice, "training_params": {k: v for k, v in p.items()}}
    trainer = CopycatTrainer(ctx, core, data, config, validation=validation, meta=meta, codec_in=codec_in,
                             codec_out=codec_out, colorspace=working, identity_channels=arch["residual"],
                             lr_scale=LR_SCALE[family])
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
