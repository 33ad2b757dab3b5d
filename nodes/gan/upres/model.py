"""Loading, blending and running ``gan.upres`` checkpoints (torch; imported only when the node runs).

A checkpoint holds two weight sets of one generator, ``psnr.*`` (pixel-loss training) and ``gan.*``
(adversarial fine-tune of the same network), and the metadata that says how to use them: the
architecture (``arch``), the SR factor (``scale``), the working encoding (``encoding``) and the
channels the network was trained on.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import torch

from filmai_plugins import color
from filmai_plugins.errors import CheckpointError
from filmai_plugins.engine.ensemble import dihedral_mean

from .rrdb import ArchConfig, build_generator, interpolate_weights, split_weights

NODE_ID = "gan.upres"
WEIGHT_SETS = ("psnr", "gan")


def pack_tensors(psnr: Mapping[str, torch.Tensor], gan: Mapping[str, torch.Tensor] | None) -> dict[str, Any]:
    """One flat tensor dict holding both weight sets (the GAN set falls back to the PSNR one)."""
    out = {f"psnr.{k}": v.detach().cpu().float().contiguous() for k, v in psnr.items()}
    out.update({f"gan.{k}": v.detach().cpu().float().contiguous() for k, v in (gan or psnr).items()})
    return out


def checkpoint_meta(cfg: ArchConfig, *, encoding: str = "srgb", training: Mapping[str, Any] | None = None,
                    gan_trained: bool = True) -> dict[str, Any]:
    # The working encoding is applied to linear Rec.709 ("colorspace"): the training photographs are
    # sRGB, whose primaries those are; other plates are converted by OCIO on the way in and out.
    return {"arch": cfg.to_meta(), "scale": cfg.scale, "encoding": encoding, "colorspace": "lin_rec709",
            "channels_in": ["R", "G", "B"], "channels_out": ["R", "G", "B"],
            "weight_sets": list(WEIGHT_SETS), "gan_trained": bool(gan_trained),
            "training": dict(training or {})}


def describe(path: str | None) -> str:
    return path or "the checkpoint"


def check_checkpoint(ckpt: Any, want_scale: int | None = None) -> ArchConfig:
    """Validate an up-res checkpoint's metadata and tensors; a clear CheckpointError otherwise."""
    where = describe(getattr(ckpt, "path", None))
    meta = ckpt.meta
    if meta.get("node") != NODE_ID:
        raise CheckpointError(f"{where}: checkpoint is for node {meta.get('node')!r}, not {NODE_ID!r}")
    arch = meta.get("arch")
    if not isinstance(arch, dict) or arch.get("type") != "rrdb":
        raise CheckpointError(f"{where}: not a gan.upres generator (arch {arch!r})")
    try:
        cfg = ArchConfig.from_meta(arch)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: bad architecture metadata: {exc}") from None
    if int(meta.get("scale", cfg.scale)) != cfg.scale:
        raise CheckpointError(f"{where}: metadata scale {meta.get('scale')} disagrees with the architecture ({cfg.scale})")
    check_scale(ckpt, cfg.scale, want_scale)
    if meta.get("encoding", "srgb") not in color.WORKING_ENCODINGS:
        raise CheckpointError(f"{where}: unknown working encoding {meta.get('encoding')!r}")
    for prefix in WEIGHT_SETS:
        if not split_weights(ckpt.tensors, prefix):
            raise CheckpointError(f"{where}: no '{prefix}.*' weights in the checkpoint")
    return cfg


def is_community(ckpt: Any) -> bool:
    """A model read from a community .pth/.safetensors (see community.py), not a gan.upres checkpoint."""
    arch = ckpt.meta.get("arch")
    return isinstance(arch, dict) and arch.get("type") == "community"


def check_scale(ckpt: Any, scale: int, want_scale: int | None) -> None:
    if want_scale is not None and scale != want_scale:
        raise CheckpointError(f"{describe(getattr(ckpt, 'path', None))}: this model up-reses x{scale}, but "
                              f"scale={want_scale} was asked for; use a x{want_scale} model (the default models "
                              f"are upres_x2.ckpt and upres_x4.ckpt) or set scale={scale} (or 0: the model's own)")


class Upscaler:
    """A generator loaded from a checkpoint with its PSNR/GAN weight blend applied, ready to run on
    (N, h, w, 3) working-encoding arrays. Community models (one weight set) run as they are; their
    output is clamped to 0-1, as their own inference does (they were trained on 0-1 targets)."""

    def __init__(self, ckpt: Any, *, sharpness: float = 0.0, device: str = "cpu", want_scale: int | None = None,
                 ensemble: bool = False, half: bool = False):
        self.encoding = str(ckpt.meta.get("encoding", "srgb"))
        self.device = device
        self.community = is_community(ckpt)
        if self.community:
            from .community import ModelSpec, build_network

            spec = ModelSpec.from_meta(ckpt.meta["arch"])
            check_scale(ckpt, spec.scale, want_scale)
            self.spec, self.scale, self.receptive_field = spec, spec.scale, spec.receptive_field
            net = build_network(spec, ckpt.tensors, getattr(ckpt, "path", None))
        else:
            self.cfg = check_checkpoint(ckpt, want_scale)
            self.scale = self.cfg.scale
            state = ckpt.torch_state_dict("cpu")
            psnr, gan = split_weights(state, "psnr"), split_weights(state, "gan")
            weights = psnr if sharpness <= 0 else interpolate_weights(psnr, gan, sharpness)
            try:
                net = build_generator(self.cfg, weights)
            except RuntimeError as exc:
                raise CheckpointError(f"{describe(getattr(ckpt, 'path', None))}: weights do not fit the declared "
                                      f"architecture: {str(exc).splitlines()[0]}") from None
            self.receptive_field = self.cfg.receptive_field
        # pixel-unshuffle models group pixels in 2x2 / 4x4 cells: tiles start on that grid
        self.align = self.spec.align if self.community else 1
        # fp16 only on CUDA: CPU half convolutions are slow or missing
        self.half = bool(half) and str(device).startswith("cuda")
        self.net = (net.half() if self.half else net).to(device).eval()
        self.ensemble = ensemble

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, h, w, C) → (N, h*s, w*s, C) for C = 3 (RGB) or 1 (a matte, run as grey)."""
        x = torch.from_numpy(np.ascontiguousarray(np.transpose(batch, (0, 3, 1, 2)), dtype=np.float32))
        grey = x.shape[1] == 1
        if grey:
            x = x.expand(-1, 3, -1, -1)
        with torch.inference_mode():
            x = x.to(self.device)
            if self.half:
                x = x.half()
            if self.ensemble:
                y = dihedral_mean(self.net, x).float().cpu()
            else:
                y = self.net(x).float().cpu()
            if self.community:
                y = y.clamp(0.0, 1.0)
        if grey:
            y = y.mean(dim=1, keepdim=True)
        return np.transpose(y.numpy(), (0, 2, 3, 1))


def split_range(x: np.ndarray, lo: float = 0.0, hi: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(in-range part, overflow) with x = in-range + overflow. The network only ever sees the range it
    was trained on; HDR highlights above 1 and negative values are carried by the overflow."""
    inside = np.clip(x, lo, hi)
    return inside, x - inside


def smooth_upscale(x: np.ndarray, scale: int, mode: str = "bilinear") -> np.ndarray:
    """(N, h, w, C) interpolation. Bilinear for the HDR overflow: it never rings, so it adds no halo
    around a highlight and keeps its energy (the highlight's shape comes from the in-range part)."""
    t = torch.from_numpy(np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)), dtype=np.float32))
    y = torch.nn.functional.interpolate(t, scale_factor=scale, mode=mode, align_corners=False)
    return np.ascontiguousarray(np.transpose(y.numpy(), (0, 2, 3, 1)))


def hdr_safe(fn: Callable[[np.ndarray], np.ndarray], scale: int, encoding: str = "linear"
             ) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap an up-res network for scene-linear (N, h, w, C) input.

    The 0-1 part is encoded, up-res'd by the network and decoded; what lies outside 0-1 goes around
    the network and is interpolated in linear light, where interpolation preserves energy (in an
    encoded space a smoothed highlight would lose brightness on the way back). Both working encodings
    map linear 0-1 onto 0-1, so clipping before or after encoding is the same.
    """

    def run(batch: np.ndarray) -> np.ndarray:
        inside, over = split_range(batch)
        out = color.decode(fn(color.encode(inside, encoding)), encoding)
        if np.any(over):
            out = out + smooth_upscale(over, scale)
        return np.asarray(out, np.float32)

    return run
