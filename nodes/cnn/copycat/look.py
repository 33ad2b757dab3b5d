"""The ``look`` network of ``cnn.copycat``: a fast full-resolution network for grades, tone curves, local
contrast, glows and colour keys.

Such a fix is a per-pixel colour function plus a few linear filters of per-pixel quantities (an unsharp
mask is a high-pass of the graded image, a glow a blur of its highlights, local contrast a band-pass of its
luminance). The network has exactly that shape::

    x ──► pointwise MLP ──► features f = [x, MLP(x)]
          f ──► depthwise k×k filter at full resolution            ┐
          f ──► box-pool /2 ──► depthwise filter ──► bilinear x2  │  one band per level:
          f ──► box-pool /4 ──► depthwise filter ──► bilinear x4  ├─ a learnt multi-scale filter bank
          …      (levels; the coarsest sees ±3·2^levels pixels)   ┘  of every feature
    [f, bands] ──► pointwise MLP ──► output (+ the input, for channels the fix keeps)

All convolutions but the small depthwise filters are 1×1, so a step costs a fraction of a U-Net's and the
trainer can take many more, smaller steps in the same time; nothing is down-sampled on the path of the
per-pixel function, so colours are exact at full resolution. No normalisation layers, no global pooling:
tiles aligned to ``align`` (2^levels) with ``receptive_field`` of overlap give the whole frame's pixels.
Depthwise filters pad by replicating the edge (a blur near the frame edge extends the edge, as compositing
tools' blurs do, instead of fading to black). TorchScript-scriptable and dtype-agnostic (fp16 works).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class LookConfig:
    in_channels: int
    out_channels: int
    #: hidden width of the first pointwise MLP and the number of features it adds to the input channels
    width: int = 32
    features: int = 13
    #: pyramid levels below full resolution (the coarsest is 2^levels smaller)
    levels: int = 4
    kernel: int = 3
    #: hidden width of the output MLP (two hidden layers)
    head_width: int = 48
    negative_slope: float = 0.1

    def __post_init__(self) -> None:
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError("the look network needs at least one input and one output channel")
        if self.levels < 0 or self.levels > 8:
            raise ValueError("levels must be 0-8")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError("kernel must be odd")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LookConfig":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def align(self) -> int:
        return 2 ** self.levels

    @property
    def receptive_field(self) -> int:
        """Pixels of context on each side: at level s the box pool, the filter and the bilinear up-sampling
        each reach about 2^s pixels (the filter (kernel // 2)·2^s); the coarsest level decides."""
        r = self.kernel // 2
        return max((1 + r + 1) * 2 ** s for s in range(self.levels + 1)) + 1

    def parameter_count(self) -> int:
        return sum(p.numel() for p in LookNet(self).parameters())


class LookNet(nn.Module):
    """(N, C_in, H, W) → (N, C_out, H, W) for H, W multiples of ``config.align``; starts as "no change"."""

    def __init__(self, config: LookConfig):
        super().__init__()
        self.config = config
        c, s = config, config.negative_slope
        f = c.in_channels + c.features
        self.pointwise = nn.Sequential(nn.Conv2d(c.in_channels, c.width, 1), nn.LeakyReLU(s, inplace=True),
                                       nn.Conv2d(c.width, c.features, 1))
        self.bands = nn.ModuleList([nn.Conv2d(f, f, c.kernel, padding=c.kernel // 2, groups=f,
                                              padding_mode="replicate") for _ in range(c.levels + 1)])
        head = nn.Conv2d(c.head_width, c.out_channels, 1)
        nn.init.zeros_(head.weight)  # starts as "no change"; the residual wrapper adds the input
        nn.init.zeros_(head.bias)
        self.head = nn.Sequential(nn.Conv2d(f * (c.levels + 2), c.head_width, 1), nn.LeakyReLU(s, inplace=True),
                                  nn.Conv2d(c.head_width, c.head_width, 1), nn.LeakyReLU(s, inplace=True), head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.cat([x, self.pointwise(x)], dim=1)
        size = [x.shape[2], x.shape[3]]
        out = [f]
        level = f
        for i, band in enumerate(self.bands):
            if i > 0:
                level = F.avg_pool2d(level, 2)
                out.append(F.interpolate(band(level), size=size, mode="bilinear", align_corners=False))
            else:
                out.append(band(level))
        return self.head(torch.cat(out, dim=1))
