"""A configurable U-Net for image-to-image nodes (``cnn.copycat``, ``cnn.denoise``).

``UNet(UNetConfig(in_channels, out_channels, widths=(16, 32, 64)))`` maps (N, C_in, H, W) to
(N, C_out, H, W) for H and W multiples of ``config.align`` (2 ** (levels - 1)). Built for CPUs as much
as GPUs: no normalisation layers (nothing to synchronise across data-parallel ranks, nothing that
changes between training and inference, and tiles give the same result as whole frames), strided 2×2
convolutions down and 2×2 transposed convolutions up (the sampling grid is exact, so tiles aligned to
``align`` match the whole frame), and a zero-initialised head, so a residual wrapper starts as the
identity and training can only move away from "no change" as far as the data asks.

Sizes: ``SIZES`` (half-resolution stems for small/medium, used by ``cnn.denoise``) and ``FULL_RES_SIZES``
(used by ``cnn.copycat``: small 16-32-64 ~0.12 M parameters, medium 32-64-128 ~0.5 M, large 32-64-128-256
~2.5 M, ~10 MB). ``receptive_field`` is computed from the layers (pixels of
context on each side a pixel of output depends on) and tells the engine's tiler how much overlap
makes tiling seamless.

The module is TorchScript-scriptable and dtype-agnostic (fp16 works on GPUs).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

#: name -> (widths per level, space-to-depth factor of the stem). Half-resolution (unshuffle 2) nets are
#: ~1.5x cheaper per step and suit dense, low-frequency fixes (denoising).
SIZES: dict[str, tuple[tuple[int, ...], int]] = {
    "small": ((24, 48, 96), 2),
    "medium": ((32, 64, 128, 256), 2),
    "large": ((32, 64, 128, 256), 1),
}

#: Full-resolution nets for sparse, pixel-sharp fixes (paint-outs, wires, mattes). Measured on the demo shot
#: (tracking markers and a wire, 400 steps, same data and seed): (16, 32, 64) at full resolution went from
#: 33.5 dB (doing nothing) to 46.1 dB held-out; the half-resolution (24, 48, 96) stayed at 34.4 dB.
FULL_RES_SIZES: dict[str, tuple[tuple[int, ...], int]] = {
    "small": ((16, 32, 64), 1),
    "medium": ((32, 64, 128), 1),
    "large": ((32, 64, 128, 256), 1),
}


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int
    out_channels: int
    widths: tuple[int, ...] = (24, 48, 96)
    convs_per_level: int = 2
    negative_slope: float = 0.1
    #: Space-to-depth factor of the stem: 2 runs the whole U-Net at half resolution on 4x the channels
    #: (FFDNet-style) and shuffles the head's output back to full resolution; ~4x cheaper per pixel.
    unshuffle: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError("a U-Net needs at least one input and one output channel")
        if not self.widths or min(self.widths) < 1:
            raise ValueError("widths must be positive")
        if self.convs_per_level < 1:
            raise ValueError("convs_per_level must be at least 1")
        if self.unshuffle not in (1, 2, 4):
            raise ValueError("unshuffle must be 1, 2 or 4")

    @classmethod
    def sized(cls, size: str, in_channels: int, out_channels: int,
              table: dict[str, tuple[tuple[int, ...], int]] | None = None) -> "UNetConfig":
        table = SIZES if table is None else table
        if size not in table:
            raise ValueError(f"unknown model size {size!r} (one of {', '.join(table)})")
        widths, unshuffle = table[size]
        return cls(in_channels, out_channels, widths, unshuffle=unshuffle)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "UNetConfig":
        known = {"in_channels", "out_channels", "widths", "convs_per_level", "negative_slope", "unshuffle"}
        return cls(**{k: (tuple(v) if k == "widths" else v) for k, v in data.items() if k in known})

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @property
    def levels(self) -> int:
        return len(self.widths)

    @property
    def align(self) -> int:
        """Frame sizes the network accepts are multiples of this."""
        return self.unshuffle * 2 ** (self.levels - 1)

    @property
    def receptive_field(self) -> int:
        """Pixels of context on each side of an output pixel (the longest path: down, bottleneck, up)."""
        rf = 0.0
        jump = 1
        for _ in range(self.levels - 1):  # encoder level, then a 2x2 stride-2 conv
            rf += self.convs_per_level * jump + 0.5 * jump
            jump *= 2
        rf += self.convs_per_level * jump  # bottleneck
        for _ in range(self.levels - 1):  # a 2x2 stride-2 transposed conv, then a decoder level
            jump //= 2
            rf += 0.5 * jump + self.convs_per_level * jump
        # ceil, plus one pixel for the half-pixel offsets of 2x2 kernels; in input pixels
        return (int(rf + 1.0) + 1) * self.unshuffle

    def parameter_count(self) -> int:
        return sum(p.numel() for p in UNet(self).parameters())


def _block(cin: int, cout: int, convs: int, slope: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.LeakyReLU(slope, inplace=True)]
    return nn.Sequential(*layers)


class UNet(nn.Module):
    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        w, k, s = config.widths, config.convs_per_level, config.negative_slope
        u = config.unshuffle
        self.unshuffle = nn.PixelUnshuffle(u) if u > 1 else nn.Identity()
        self.shuffle = nn.PixelShuffle(u) if u > 1 else nn.Identity()
        self.stem = _block(config.in_channels * u * u, w[0], k, s)
        self.downs = nn.ModuleList()
        for i in range(1, len(w)):
            self.downs.append(nn.Sequential(nn.Conv2d(w[i - 1], w[i], 2, stride=2), nn.LeakyReLU(s, inplace=True),
                                            _block(w[i], w[i], k, s)))
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for i in range(len(w) - 2, -1, -1):
            self.ups.append(nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2))
            self.decoders.append(_block(2 * w[i], w[i], k, s))
        self.head = nn.Conv2d(w[0], config.out_channels * u * u, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(self.unshuffle(x))
        skips: list[torch.Tensor] = [h]
        for down in self.downs:
            h = down(h)
            skips.append(h)
        skips.pop()  # the bottleneck output is ``h`` itself
        for up, decoder in zip(self.ups, self.decoders):
            h = up(h)
            h = decoder(torch.cat([h, skips.pop()], dim=1))
        return self.shuffle(self.head(h))
