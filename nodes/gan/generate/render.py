"""Generating with a trained ``gan.generate`` model: seeds, seed walks, loops and speed → latent codes → frames.

Which picture a frame shows is a pure function of (model, seed settings, frame offset): codes come from
the per-seed, per-block noise of ``mocogan``, the motion GRU runs from its burn-in to the furthest frame
asked for, and frames are rendered from (content, motion) codes. So the same seed gives identical frames
whether 10 or 1000 are asked for, and any frame can be re-rendered alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from filmai_plugins.errors import BadInput, CheckpointError
from filmai_plugins.training.datasets import ChannelCodec
from filmai_plugins.training.loop import model_tensors

from . import mocogan as mg

RENDER_BATCH = 8


@dataclass(frozen=True)
class GenerationSettings:
    """The run params that decide the latent codes (see ``GenerateNode.params`` for their help)."""

    seed: int = 0
    seed_b: int = -1
    mix: float = 0.5
    walk: bool = False
    loop: int = 0
    loop_blend: int = 0
    speed: float = 1.0
    truncation: float = 1.0

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "GenerationSettings":
        s = cls(**{k: params[k] for k in cls.__dataclass_fields__ if k in params})
        s.validate()
        return s

    def validate(self) -> None:
        if self.walk and self.seed_b < 0:
            raise BadInput("walk=true needs seed_b: the seed to walk to (e.g. --set seed_b=12)")
        if self.walk and self.loop:
            raise BadInput("walk and loop cannot be combined: a walk from seed to seed_b does not come back "
                           "to its start; set loop=0 or walk=false")
        if self.loop and self.loop_blend >= self.loop:
            raise BadInput(f"loop_blend ({self.loop_blend}) must be shorter than the loop ({self.loop} frames)")

    @property
    def blend_frames(self) -> int:
        if not self.loop:
            return 0
        return self.loop_blend or max(1, self.loop // 4)


def load_generator(ckpt: Any, device: str | torch.device = "cpu") -> tuple[mg.VideoGenerator, mg.Arch]:
    """The EMA generator of a gan.generate checkpoint (final or interval), in eval mode."""
    arch_meta = ckpt.meta.get("arch") or {}
    if arch_meta.get("name") != mg.ARCH_NAME:
        raise CheckpointError(f"{ckpt.path}: model architecture {arch_meta.get('name')!r} is not "
                              f"{mg.ARCH_NAME!r} (made by another version of gan.generate)")
    for key in ("channels", "normalize", "codec"):
        if key not in ckpt.meta:
            raise CheckpointError(f"{ckpt.path}: gan.generate checkpoint without {key!r} in its metadata")
    try:
        arch = mg.Arch.from_json(arch_meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{ckpt.path}: bad network description in the metadata ({exc})") from None
    g = ckpt.build(lambda: mg.VideoGenerator(arch), weights=model_tensors(ckpt.tensors))
    return g.to(device).eval(), arch


def codec_from_meta(meta: Mapping[str, Any]) -> ChannelCodec:
    c = meta["codec"]
    return ChannelCodec(tuple(c["encodings"]), tuple(bool(b) for b in c["bounded"]))


@dataclass(frozen=True)
class ContentCodes:
    """The content rows of N frames (each the clip's code, then its texture noise), held as the rows of
    ``seed`` and ``seed_b`` and a blend weight per frame. A layout-2 model's texture noise has as many
    values as its frames have pixels (a 1024-px model: 4 MB a frame), so N frames' rows are never stored,
    only made batch by batch."""

    a: np.ndarray  # (D,) the row of ``seed``
    b: np.ndarray | None  # (D,) the row of ``seed_b``, or None
    mix: np.ndarray  # (N,) weight of ``b`` per frame (zeros without ``b``)
    scale: float  # truncation

    def __len__(self) -> int:
        return len(self.mix)

    def take(self, rows: Sequence[int]) -> "ContentCodes":
        """The codes of some frames, in the order given."""
        return replace(self, mix=self.mix[np.asarray(list(rows), np.int64)])

    def rows(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(n, D) float32 rows of frames ``start .. stop - 1``."""
        m = self.mix[start:stop]
        if self.b is None:
            out = np.repeat(self.a[None], len(m), axis=0)
        else:
            out = mg.gaussian_blend(self.a[None], self.b[None], m)
        return (out * self.scale).astype(np.float32)


def latent_codes(g: mg.VideoGenerator, arch: mg.Arch, offsets: Sequence[int], s: GenerationSettings,
                 device: str | torch.device = "cpu") -> tuple[ContentCodes, np.ndarray, list[int]]:
    """(content codes, motion codes (N, motion_dim), render keys) for frame offsets.

    Frames with equal keys have identical codes (the repeats of a loop) and are rendered once.
    """
    t = np.asarray(list(offsets), np.int64)
    content_a = mg.content_noise(s.seed, arch.content_dim, arch.texture_size)
    if t.size == 0:
        return (ContentCodes(content_a, None, np.zeros(0, np.float32), s.truncation),
                np.zeros((0, arch.motion_dim), np.float32), [])
    if t.min() < 0:
        raise BadInput(f"frame offset {int(t.min())} is before the start of the motion")
    pa, pb, w = mg.loop_positions(t, s.loop, s.blend_frames)
    pa, pb = pa * s.speed, pb * s.speed
    steps = int(math.ceil(max(pa.max(), pb.max()))) + 2
    total = mg.BURN_IN + steps
    eps = mg.motion_noise(s.seed, arch.noise_dim, 0, total)
    content = ContentCodes(content_a, None, np.zeros(len(t), np.float32), s.truncation)
    if s.seed_b >= 0:
        eps_b = mg.motion_noise(s.seed_b, arch.noise_dim, 0, total)
        content_b = mg.content_noise(s.seed_b, arch.content_dim, arch.texture_size)
        if s.walk:
            t0, t1 = int(t.min()), int(t.max())
            span = max(1, t1 - t0)
            m_frames = mg.smoothstep((t - t0) / span)
            step_pos = np.arange(total, dtype=np.float64) - mg.BURN_IN
            m_steps = mg.smoothstep((step_pos - t0 * s.speed) / (span * s.speed))
            eps = mg.gaussian_blend(eps, eps_b, m_steps)
            content = replace(content, b=content_b, mix=m_frames.astype(np.float32))
        else:
            eps = mg.gaussian_blend(eps, eps_b, s.mix)
            content = replace(content, b=content_b, mix=np.full(len(t), s.mix, np.float32))
    with torch.no_grad():
        traj = g.motion(torch.from_numpy(np.ascontiguousarray(eps, np.float32))[None].to(device))[0, mg.BURN_IN:]
    traj_np = traj.float().cpu().numpy()
    wa = w.astype(np.float32)[:, None]
    motion = wa * mg.interpolate_rows(traj_np, pa) + (1.0 - wa) * mg.interpolate_rows(traj_np, pb)
    keys = [int(k) for k in (np.mod(t, s.loop) if s.loop and not s.walk else t)]
    return content, motion.astype(np.float32), keys


def to_linear(x: np.ndarray, codec: ChannelCodec, norm: Mapping[str, Any]) -> np.ndarray:
    """Generator output (N, C, H, W), normalised working encoding → scene-linear (N, H, W, C)."""
    mean = np.asarray(norm["mean"], np.float32)
    enc = x.transpose(0, 2, 3, 1) * float(norm["std"]) + mean
    return codec.decode(enc)


def render(g: mg.VideoGenerator, content: ContentCodes, motion: np.ndarray, device: str | torch.device = "cpu",
           check_cancel: Callable[[], None] | None = None) -> Iterator[np.ndarray]:
    """Normalised frames (n, C, H, W) in batches of ``RENDER_BATCH``, in order."""
    for i in range(0, len(content), RENDER_BATCH):
        if check_cancel is not None:
            check_cancel()
        c = torch.from_numpy(content.rows(i, i + RENDER_BATCH)).to(device)
        m = torch.from_numpy(motion[i:i + RENDER_BATCH]).to(device)
        with torch.no_grad():
            yield g.render(c, m).float().cpu().numpy()


def generate_clip(g: mg.VideoGenerator, arch: mg.Arch, codec: ChannelCodec, norm: Mapping[str, Any],
                  offsets: Sequence[int], settings: GenerationSettings,
                  device: str | torch.device = "cpu") -> np.ndarray:
    """Scene-linear frames (N, H, W, C) for frame offsets (contact sheets, benchmarks, tests)."""
    was_training = g.training
    g.eval()
    try:
        content, motion, _ = latent_codes(g, arch, offsets, settings, device)
        out = [to_linear(x, codec, norm) for x in render(g, content, motion, device)]
    finally:
        g.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, arch.height, arch.width, arch.channels), np.float32)
