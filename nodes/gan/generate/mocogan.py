"""MoCoGAN-style video GAN for ``gan.generate``: networks, latent trajectories and DiffAugment.

A clip is decomposed as in MoCoGAN (Tulyakov et al. 2018, https://arxiv.org/abs/1707.04993): one
*content* code per clip and one *motion* code per frame. Motion codes come from a GRU driven by fresh
noise each frame, so clips can be any length; an image generator turns (content, motion_t) into frame t.
Two discriminators judge the result: one sees single frames (appearance), one sees short clips through
3-D convolutions (motion). Both use spectral normalisation and the hinge loss, the pairing that keeps
small GANs stable without gradient penalties (which would need double back-propagation, too slow on CPU),
and end with ProGAN's minibatch standard-deviation feature, which lets them see (and so punish) a
generator that gives every seed the same clip.

Everything that decides *which* clip a seed gives lives in numpy (``content_noise``, ``motion_noise``),
seeded per seed and per block of frames, so a given seed always gives the same frame N, whatever range
is rendered and on whatever machine.

Imported only when the node trains or runs: this module imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

#: Bumped when the network layout changes so an old checkpoint is refused with a clear reason.
ARCH_NAME = "mocogan/1"
#: GRU steps run before the first frame, in training and generation alike, so the motion state at
#: frame 0 is already "warm" (typical) rather than the all-zero start state.
BURN_IN = 8
#: Noise is drawn in blocks of this many frames, each from its own seed, for random access.
NOISE_BLOCK = 256
#: Group size of the minibatch standard-deviation feature in new models (ProGAN's default).
MINIBATCH_STD_GROUP = 4
#: Image-generator layout of new models (``Arch.generator``): 1 is the first, DCGAN-style stack
#: (``ImageGenerator``); 2 adds per-clip texture noise, two convolutions per level and per-layer modulation
#: by the code (``TexturedImageGenerator``).
GENERATOR_VERSION = 2


@dataclass(frozen=True)
class Arch:
    """The architecture recorded in a checkpoint's metadata (``arch``) and rebuilt from it."""

    height: int
    width: int
    channels: int
    content_dim: int = 64
    motion_dim: int = 32
    noise_dim: int = 16
    capacity: int = 24
    clip_length: int = 8
    #: Group size of the discriminators' minibatch standard-deviation feature (0: none). Checkpoints made
    #: before it existed lack the key and load as the networks they were (0); new training sets it.
    minibatch_std: int = 0
    #: Image-generator layout (see ``GENERATOR_VERSION``); checkpoints without the key are layout 1.
    generator: int = 1

    @property
    def levels(self) -> int:
        """Number of 2x up-samplings from the base grid to the output size."""
        return levels_for(max(self.height, self.width))

    @property
    def base(self) -> tuple[int, int]:
        s = 2 ** self.levels
        return self.height // s, self.width // s

    def level_channels(self) -> list[int]:
        """Feature channels at each resolution, coarse to fine: wide where cheap, narrow where big."""
        out = []
        long0 = max(self.base)
        for i in range(self.levels + 1):
            side = long0 * 2 ** i
            out.append(int(min(8 * self.capacity, max(16, self.capacity * 64 // side))))
        return out

    def level_sizes(self) -> list[tuple[int, int]]:
        """(height, width) of each generator level, coarse to fine."""
        h0, w0 = self.base
        return [(h0 * 2 ** i, w0 * 2 ** i) for i in range(self.levels + 1)]

    @property
    def texture_size(self) -> int:
        """Length of a clip's texture noise (one single-channel map per level, flattened); 0 for layout 1."""
        if self.generator < 2:
            return 0
        return sum(h * w for h, w in self.level_sizes())

    def to_json(self) -> dict[str, Any]:
        out = {"name": ARCH_NAME, "height": self.height, "width": self.width, "channels": self.channels,
               "content_dim": self.content_dim, "motion_dim": self.motion_dim, "noise_dim": self.noise_dim,
               "capacity": self.capacity, "clip_length": self.clip_length}
        # Written only when used: an arch without them is exactly what older checkpoints record, so
        # resuming or fine-tuning one compares equal.
        if self.minibatch_std:
            out["minibatch_std"] = self.minibatch_std
        if self.generator != 1:
            out["generator"] = self.generator
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Arch":
        keys = ("height", "width", "channels", "content_dim", "motion_dim", "noise_dim", "capacity", "clip_length")
        generator = int(data.get("generator", 1))
        if generator not in (1, 2):
            raise ValueError(f"image-generator layout {generator} is not one this version knows (1, 2)")
        return cls(**{k: int(data[k]) for k in keys}, minibatch_std=int(data.get("minibatch_std", 0)),
                   generator=generator)


def levels_for(side: int) -> int:
    """2x up-samplings for a long side: halve while it stays whole and at least 3 (64 → 4, 96 → 5)."""
    k = 0
    while side % 2 ** (k + 1) == 0 and side // 2 ** (k + 1) >= 3:
        k += 1
    return k


def training_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """(height, width) for a clip of ``width`` x ``height`` whose long side becomes ``resolution``.

    The short side keeps the aspect ratio, rounded to a multiple of the generator's up-sampling factor
    so every level of the network has whole pixels.
    """
    step = 2 ** levels_for(resolution)
    if width >= height:
        short = max(step, int(round(resolution * height / width / step)) * step)
        return short, resolution
    short = max(step, int(round(resolution * width / height / step)) * step)
    return resolution, short


# ----- networks --------------------------------------------------------------------------------


class PixelNorm(nn.Module):
    """ProGAN's per-pixel feature normalisation: keeps generator activations in range, batch-independent
    (unlike batch norm, a frame does not depend on which other frames share its batch)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MotionRNN(nn.Module):
    """GRU over per-frame noise: (B, L, noise_dim) → (B, L, motion_dim) motion codes."""

    def __init__(self, arch: Arch):
        super().__init__()
        self.gru = nn.GRU(arch.noise_dim, arch.motion_dim, batch_first=True)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(noise)
        return out


class ImageGenerator(nn.Module):
    """(content ⊕ motion) code → one frame (C, H, W) in the normalised working encoding."""

    def __init__(self, arch: Arch):
        super().__init__()
        ch = arch.level_channels()
        self.base = arch.base
        self.c0 = ch[0]
        latent = arch.content_dim + arch.motion_dim
        self.norm = PixelNorm()
        self.fc = nn.Linear(latent, ch[0] * self.base[0] * self.base[1])
        self.base_conv = nn.Conv2d(ch[0], ch[0], 3, padding=1)
        self.ups = nn.ModuleList(nn.Conv2d(ch[i], ch[i + 1], 3, padding=1) for i in range(arch.levels))
        self.to_image = nn.Conv2d(ch[-1], arch.channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], self.c0, *self.base)
        x = self.norm(F.leaky_relu(x, 0.2))
        x = self.norm(F.leaky_relu(self.base_conv(x), 0.2))
        for conv in self.ups:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = self.norm(F.leaky_relu(conv(x), 0.2))
        return self.to_image(x)


class TexturedImageGenerator(nn.Module):
    """Layout 2: (content ⊕ motion) code and the clip's texture noise → one frame (C, H, W).

    What layout 1 lacked (measured: after 8,000 steps on the stream clip its frames were smooth shapes with
    none of the water's fine texture, and frame SWD stayed above a PCA-Gaussian model's): a cheap source of
    fine, random detail. As in StyleGAN (Karras et al. 2019, https://arxiv.org/abs/1812.04948), each level
    adds single-channel Gaussian noise with a learnt per-channel strength (starting at 0), and every layer's
    normalised features are scaled and shifted per channel by a linear map of the code (starting at the
    identity), so the code steers every resolution, not only the coarsest grid. Unlike StyleGAN the noise
    is drawn once per *clip* and kept for all its frames: fresh noise every frame would flicker.
    """

    def __init__(self, arch: Arch):
        super().__init__()
        ch = arch.level_channels()
        self.base = arch.base
        self.sizes = arch.level_sizes()
        self.c0 = ch[0]
        latent = arch.content_dim + arch.motion_dim
        self.norm = PixelNorm()
        self.fc = nn.Linear(latent, ch[0] * self.base[0] * self.base[1])
        # level 0: one convolution on the base grid; finer levels: up-sample, then two convolutions
        layers = [(0, ch[0], ch[0])]
        for i in range(1, len(ch)):
            layers += [(i, ch[i - 1], ch[i]), (i, ch[i], ch[i])]
        self.layer_level = [lvl for lvl, _, _ in layers]
        self.convs = nn.ModuleList(nn.Conv2d(cin, cout, 3, padding=1) for _, cin, cout in layers)
        self.noise_strength = nn.ParameterList(nn.Parameter(torch.zeros(1, cout, 1, 1)) for _, _, cout in layers)
        self.styles = nn.ModuleList(nn.Linear(latent, 2 * cout) for _, _, cout in layers)
        for style in self.styles:
            nn.init.zeros_(style.weight)
            nn.init.zeros_(style.bias)
        self.to_image = nn.Conv2d(ch[-1], arch.channels, 1)

    def forward(self, z: torch.Tensor, texture: torch.Tensor) -> torch.Tensor:
        n = z.shape[0]
        maps, k = [], 0
        for h, w in self.sizes:
            maps.append(texture[:, k:k + h * w].view(n, 1, h, w))
            k += h * w
        x = self.norm(F.leaky_relu(self.fc(z).view(n, self.c0, *self.base), 0.2))
        level = 0
        for conv, strength, style, lvl in zip(self.convs, self.noise_strength, self.styles, self.layer_level):
            if lvl != level:
                x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
                level = lvl
            x = conv(x) + strength * maps[lvl]
            x = self.norm(F.leaky_relu(x, 0.2))
            scale, shift = style(z)[:, :, None, None].chunk(2, dim=1)
            x = x * (1.0 + scale) + shift
        return self.to_image(x)


class VideoGenerator(nn.Module):
    """Motion RNN + image generator: what the checkpoint ships (as its EMA copy)."""

    def __init__(self, arch: Arch):
        super().__init__()
        self.arch = arch
        self.motion = MotionRNN(arch)
        self.image = TexturedImageGenerator(arch) if arch.generator >= 2 else ImageGenerator(arch)

    def render(self, content: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        """content (N, content_dim + texture_size), motion (N, motion_dim) → frames (N, C, H, W).

        A content row is the clip's code followed by its texture noise (layout 2; none in layout 1), so
        everything that is per clip travels together through seed blends, walks and truncation.
        """
        d = self.arch.content_dim
        z = torch.cat([content[:, :d], motion], dim=1)
        if self.arch.texture_size:
            return self.image(z, content[:, d:])
        return self.image(z)

    def sample_clips(self, batch: int, length: int, max_offset: int, gen: torch.Generator | None = None,
                     device: str | torch.device = "cpu") -> torch.Tensor:
        """Random clips (B, T, C, H, W) for training: a random window of a longer noise-driven rollout,
        so the motion model learns to stay on the data from its burn-in up to ``max_offset`` frames on."""
        a = self.arch
        offset = int(torch.randint(0, max_offset + 1, (1,), generator=gen).item()) if max_offset > 0 else 0
        steps = BURN_IN + offset + length
        noise = torch.randn(batch, steps, a.noise_dim, generator=gen).to(device)
        motion = self.motion(noise)[:, BURN_IN + offset:]
        width = a.content_dim + a.texture_size
        content = torch.randn(batch, width, generator=gen).to(device)
        content = content[:, None].expand(batch, length, width)
        frames = self.render(content.reshape(-1, width), motion.reshape(-1, a.motion_dim))
        return frames.view(batch, length, *frames.shape[1:])


def _sn_conv2d(cin: int, cout: int, k: int, s: int, p: int) -> nn.Module:
    return spectral_norm(nn.Conv2d(cin, cout, k, s, p))


def _sn_conv3d(cin: int, cout: int, k: tuple[int, int, int], s: tuple[int, int, int], p: tuple[int, int, int]) -> nn.Module:
    return spectral_norm(nn.Conv3d(cin, cout, k, s, p))


class MinibatchStd(nn.Module):
    """ProGAN's minibatch standard deviation (Karras et al. 2018, section 3): one extra feature map holding
    how much the samples of a small group differ from each other, averaged over features and positions.

    A collapsed generator gives near-identical samples, so its groups show a far smaller spread than real
    ones; the discriminator can see that and the generator is pushed back towards variety. Groups take
    samples ``N / group`` apart, so frames picked from the same generated clip (adjacent in the batch)
    land in different groups. Works on (N, C, ...) of any spatial rank.
    """

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        g = min(self.group, n)
        while n % g:
            g -= 1
        y = x.view(g, n // g, *x.shape[1:])
        std = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8)  # (N/g, C, ...)
        feat = std.mean(dim=tuple(range(1, std.dim())), keepdim=True)  # (N/g, 1, 1...)
        feat = feat.repeat(g, *([1] * (x.dim() - 1))).expand(n, 1, *x.shape[2:])
        return torch.cat([x, feat], dim=1)


def _disc_channels(arch: Arch) -> list[int]:
    """Discriminator widths, fine to coarse (mirror of the generator's)."""
    return list(reversed(arch.level_channels()))


class ImageDiscriminator(nn.Module):
    """Single frames (N, C, H, W) → realness scores (N,). Spectral norm on every layer."""

    def __init__(self, arch: Arch):
        super().__init__()
        ch = _disc_channels(arch)
        self.stem = _sn_conv2d(arch.channels, ch[0], 3, 1, 1)
        self.downs = nn.ModuleList(_sn_conv2d(ch[i], ch[i + 1], 4, 2, 1) for i in range(arch.levels))
        extra = 1 if arch.minibatch_std else 0
        self.mbstd = MinibatchStd(arch.minibatch_std) if arch.minibatch_std else None
        self.head = spectral_norm(nn.Linear((ch[-1] + extra) * arch.base[0] * arch.base[1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.stem(x), 0.2)
        for conv in self.downs:
            x = F.leaky_relu(conv(x), 0.2)
        if self.mbstd is not None:
            x = self.mbstd(x)
        return self.head(x.flatten(1)).squeeze(1)


class VideoDiscriminator(nn.Module):
    """Clips (B, T, C, H, W) → realness scores (B,): judges motion, at half the frame resolution.

    Appearance at full resolution is the image discriminator's job; this one sees clips 2x down-sampled
    (motion reads fine at half size and 3-D convolutions cost T times more than 2-D ones). Each level is
    a spatial convolution that halves the size followed by a temporal one over 3 frames ("(2+1)-D"),
    the last two halving time, so an 8-frame clip is judged as a whole.
    """

    def __init__(self, arch: Arch):
        super().__init__()
        ch = _disc_channels(arch)
        levels = arch.levels - 1  # resolution >= 32: at least two levels
        t = arch.clip_length
        self.stem = _sn_conv3d(arch.channels, ch[0], (1, 3, 3), (1, 1, 1), (0, 1, 1))
        self.spatial = nn.ModuleList()
        self.temporal = nn.ModuleList()
        for i in range(levels):
            stride_t = 2 if (i >= levels - 2 and t >= 4) else 1
            self.spatial.append(_sn_conv3d(ch[i], ch[i + 1], (1, 4, 4), (1, 2, 2), (0, 1, 1)))
            self.temporal.append(_sn_conv3d(ch[i + 1], ch[i + 1], (3, 1, 1), (stride_t, 1, 1), (1, 0, 0)))
            t = (t - 1) // stride_t + 1
        extra = 1 if arch.minibatch_std else 0
        self.mbstd = MinibatchStd(arch.minibatch_std) if arch.minibatch_std else None
        self.head = spectral_norm(nn.Linear((ch[levels] + extra) * t * arch.base[0] * arch.base[1], 1))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        b, t = clips.shape[:2]
        x = F.avg_pool2d(clips.flatten(0, 1), 2)
        # Contiguous (B, C, T, H/2, W/2): a strided or channels-last input sends conv3d down a slow path.
        x = x.view(b, t, *x.shape[1:]).transpose(1, 2).contiguous()
        x = F.leaky_relu(self.stem(x), 0.2)
        for spatial, temporal in zip(self.spatial, self.temporal):
            x = F.leaky_relu(spatial(x), 0.2)
            x = F.leaky_relu(temporal(x), 0.2)
        if self.mbstd is not None:
            x = self.mbstd(x)
        return self.head(x.flatten(1)).squeeze(1)


# ----- DiffAugment ------------------------------------------------------------------------------

AUGMENT_POLICIES = {"none": (), "light": ("translation",), "strong": ("color", "translation", "cutout")}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], rgb: int = 3,
                 gen: torch.Generator | None = None) -> torch.Tensor:
    """Differentiable augmentation of discriminator inputs (Zhao et al. 2020, "DiffAugment").

    Applied to real and generated clips alike in both discriminator and generator steps, it lets a GAN
    learn from a few dozen frames without the discriminator memorising them; because both sides are
    augmented, the augmentations do not leak into what the generator makes. ``x`` is (B, T, C, H, W);
    each clip gets one random draw shared by all its frames, so augmenting never invents motion.
    Colour jitter (brightness, saturation, contrast) touches the first ``rgb`` channels only, never alpha.
    """
    if not policy:
        return x
    b, _, _, h, w = x.shape
    dev = x.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen).to(dev)

    def randint(high: int) -> list[int]:
        return torch.randint(0, high, (b,), generator=gen).tolist()

    if "color" in policy:
        c = x[:, :, :rgb]
        c = c + (rand(b, 1, 1, 1, 1) - 0.5) * 0.5
        if rgb > 1:
            mean_c = c.mean(dim=2, keepdim=True)
            c = (c - mean_c) * (rand(b, 1, 1, 1, 1) * 2.0) + mean_c
        mean_all = c.mean(dim=(1, 2, 3, 4), keepdim=True)
        c = (c - mean_all) * (rand(b, 1, 1, 1, 1) + 0.5) + mean_all
        x = torch.cat([c, x[:, :, rgb:]], dim=2) if x.shape[2] > rgb else c
    if "translation" in policy:
        sy, sx = max(1, h // 8), max(1, w // 8)
        t, ch = x.shape[1], x.shape[2]
        padded = F.pad(x.reshape(b, t * ch, h, w), (sx, sx, sy, sy)).view(b, t, ch, h + 2 * sy, w + 2 * sx)
        oy, ox = randint(2 * sy + 1), randint(2 * sx + 1)
        x = torch.stack([padded[i, :, :, oy[i]:oy[i] + h, ox[i]:ox[i] + w] for i in range(b)])
    if "cutout" in policy:
        ch_, cw = h // 2, w // 2
        cy, cx = randint(h - ch_ + 1), randint(w - cw + 1)
        mask = torch.ones(b, 1, 1, h, w, device=dev)
        for i in range(b):
            mask[i, :, :, cy[i]:cy[i] + ch_, cx[i]:cx[i] + cw] = 0.0
        x = x * mask
    return x


# ----- deterministic latents for generation ------------------------------------------------------


def content_noise(seed: int, dim: int, texture: int = 0) -> np.ndarray:
    """The content code of ``seed`` (one per clip), followed by its ``texture`` values of texture noise."""
    code = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0]).standard_normal(dim).astype(np.float32)
    if not texture:
        return code
    maps = np.random.default_rng([int(seed) & 0xFFFFFFFF, 2]).standard_normal(texture).astype(np.float32)
    return np.concatenate([code, maps])


def motion_noise(seed: int, dim: int, first: int, count: int) -> np.ndarray:
    """Motion noise of ``seed`` for GRU steps ``first .. first+count-1`` (step 0 is the first burn-in step).

    Drawn per block of ``NOISE_BLOCK`` steps from its own seed, so step k's noise does not depend on how
    many steps are asked for: frame N of a seed is the same in a 1-120 render and in a 1-240 render.
    """
    out = np.empty((count, dim), np.float32)
    k = first
    while k < first + count:
        block, pos = divmod(k, NOISE_BLOCK)
        take = min(NOISE_BLOCK - pos, first + count - k)
        noise = np.random.default_rng([int(seed) & 0xFFFFFFFF, 1, block]).standard_normal((NOISE_BLOCK, dim))
        out[k - first:k - first + take] = noise[pos:pos + take]
        k += take
    return out


def gaussian_blend(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Blend two independent standard-normal codes so the result is standard normal for every ``t``.

    A plain lerp shrinks the code toward zero half-way (a dull, average-looking clip); dividing by
    sqrt((1-t)² + t²) keeps its spread, so the walk from seed A to seed B stays on the learnt data.
    """
    t = np.asarray(t, np.float32)
    if t.ndim:
        t = t.reshape(t.shape + (1,) * (np.ndim(a) - t.ndim))
    return ((1.0 - t) * a + t * b) / np.sqrt((1.0 - t) ** 2 + t ** 2)


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    x = np.clip(np.asarray(x, np.float64), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def interpolate_rows(codes: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Codes at fractional step positions (linear between neighbouring steps): for ``speed`` != 1."""
    lo = np.floor(positions).astype(np.int64)
    hi = np.minimum(lo + 1, len(codes) - 1)
    a = (positions - lo).astype(np.float32)[:, None]
    return codes[lo] * (1.0 - a) + codes[hi] * a


def loop_positions(t: np.ndarray, loop: int, blend: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For output frame offsets ``t``: (position A, position B, weight of A) on the motion trajectory.

    A loop of ``loop`` frames plays trajectory positions 0..loop-1 and repeats. To make the wrap seamless
    the first ``blend`` frames of each repeat cross-fade from the trajectory's *continuation* past the
    end (positions loop, loop+1, ...) to its start, so frame loop-1 → frame loop (= frame 0 again) is an
    ordinary step of the motion. Without a loop: A = t, weight 1.
    """
    t = np.asarray(t, np.int64)
    if loop <= 0:
        return t.astype(np.float64), t.astype(np.float64), np.ones(t.shape, np.float64)
    u = np.mod(t, loop)
    w = np.ones(u.shape, np.float64)
    inside = u < blend
    w[inside] = smoothstep((u[inside] + 1.0) / (blend + 1.0))
    return u.astype(np.float64), (u + loop).astype(np.float64), w
