"""Geometric self-ensemble: a network's mean output over the 8 flips/rotations of its input.

Each transformed input goes through the network and its output is mapped back before averaging, so the
result is exactly equivariant to flips and 90-degree rotations and the network's orientation-dependent
errors partly cancel (EDSR+'s trick for super-resolution; it works the same for denoisers). It costs 8
forward passes. Used by every image node that offers an ``ensemble`` parameter.
"""
from __future__ import annotations

from typing import Any, Callable


def dihedral_mean(fn: Callable[[Any], Any], x: Any) -> Any:
    """Mean of ``fn`` over the 8 flips/rotations of ``x``, a (N, C, H, W) torch tensor.

    ``fn`` maps an (N, C, h, w) tensor to an (N, C', h*s, w*s) one (any integer spatial scale ``s``), so
    non-square inputs and up-scalers work alike. The sum is kept in float32 whatever ``fn`` returns.
    """
    import torch

    total = None
    for k in range(4):
        for flip in (False, True):
            t = torch.rot90(x, k, (2, 3))
            t = torch.flip(t, (3,)) if flip else t
            y = fn(t.contiguous()).float()
            y = torch.flip(y, (3,)) if flip else y
            y = torch.rot90(y, -k, (2, 3))
            total = y if total is None else total + y
    return total / 8
