"""Tiled inference with overlap and feathered blending.

A frame larger than the tile size is cut into tiles that overlap by ``2 * receptive_field + ramp``
pixels. Each tile's weight is zero within ``receptive_field`` pixels of an edge it shares with a
neighbour (where its output is not exact) and ramps up linearly beyond; outputs are blended by
normalised weights. For a network whose receptive field fits in that margin the result equals the
whole-frame result within float tolerance: tiling is seamless, not approximately so.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import BadInput

TileFn = Callable[[np.ndarray], np.ndarray]  # (N, h, w, C) -> (N, h*s, w*s, C_out)


class TileSizeTooSmall(BadInput, ValueError):
    """``--tile-size`` below what the model's receptive field needs: bad usage (exit 2)."""


def _axis(size: int, tile: int, overlap: int, align: int) -> tuple[list[int], int]:
    """Tile starts along one axis and the tile length: as few tiles as the limit allows, sized evenly.

    Even sizing matters: a 1080-line frame with a 1024 limit becomes two ~560-line tiles rather than
    two 1024-line tiles that would nearly double the work.
    """
    if size <= tile:
        return [0], size
    step_max = tile - overlap - (align - 1)
    count = -(-(size - overlap - (align - 1)) // max(step_max, 1))
    while True:
        length = -(-(size + (count - 1) * (overlap + align - 1)) // count)
        length = min(tile, -(-length // align) * align)
        # neighbouring starts stay at least ``overlap`` apart from the far edge even after alignment
        stride = max(align, (length - overlap - (align - 1)) // align * align)
        if (count - 1) * stride + length >= size:
            break
        count += 1
    starts = [i * stride for i in range(count - 1)]
    last = -(-(size - length) // align) * align  # aligned last tile, clipped by the image edge if need be
    starts = [s for s in starts if s < last] + [last]
    return starts, length


def _ramp(length: int, start_interior: bool, end_interior: bool, margin: int, ramp: int) -> np.ndarray:
    d = np.arange(length, dtype=np.float64)
    w = np.ones(length)
    if start_interior:
        w = np.minimum(w, np.clip((d - margin + 0.5) / ramp, 0.0, 1.0))
    if end_interior:
        w = np.minimum(w, np.clip((length - 1 - d - margin + 0.5) / ramp, 0.0, 1.0))
    return w


def tile_plan(height: int, width: int, tile: int, receptive_field: int, align: int = 1,
              ramp: int | None = None) -> list[tuple[int, int, int, int]]:
    """(y, x, h, w) tiles covering the image."""
    ramp = ramp if ramp is not None else max(8, receptive_field)
    overlap = 2 * receptive_field + ramp
    if tile < 2 * overlap:
        raise TileSizeTooSmall(f"tile size {tile} is too small for this model (receptive field {receptive_field} "
                               f"pixels): give --tile-size {2 * overlap} or more")
    ys, th = _axis(height, tile, overlap, align)
    xs, tw = _axis(width, tile, overlap, align)
    return [(y, x, min(th, height - y), min(tw, width - x)) for y in ys for x in xs]


def apply_tiled(fn: TileFn, image: np.ndarray, *, tile: int = 1024, receptive_field: int = 0,
                scale: int = 1, align: int = 1, batch: int = 1,
                check_cancel: Callable[[], None] | None = None) -> np.ndarray:
    """Run ``fn`` over ``image`` (H, W, C) in tiles; returns (H*scale, W*scale, C_out) float32.

    ``fn`` maps a batch (N, h, w, C) to (N, h*scale, w*scale, C_out). Tiles of equal shape are
    batched ``batch`` at a time. ``check_cancel`` is called between batches.
    """
    h, w = image.shape[:2]
    if h <= tile and w <= tile:
        out = fn(image[None])[0]
        return np.asarray(out, dtype=np.float32)
    ramp = max(8, receptive_field)
    plan = tile_plan(h, w, tile, receptive_field, align, ramp)
    out: np.ndarray | None = None
    weight = np.zeros((h * scale, w * scale, 1), np.float32)
    groups: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}
    for t in plan:
        groups.setdefault((t[2], t[3]), []).append(t)
    for tiles in groups.values():
        for i in range(0, len(tiles), max(batch, 1)):
            if check_cancel is not None:
                check_cancel()
            chunk = tiles[i:i + max(batch, 1)]
            x = np.stack([image[y:y + th, x0:x0 + tw] for (y, x0, th, tw) in chunk])
            y_out = np.asarray(fn(x), dtype=np.float32)
            if out is None:
                out = np.zeros((h * scale, w * scale, y_out.shape[-1]), np.float32)
            for (ty, tx, th, tw), res in zip(chunk, y_out):
                wy = _ramp(th * scale, ty > 0, ty + th < h, receptive_field * scale, ramp * scale)
                wx = _ramp(tw * scale, tx > 0, tx + tw < w, receptive_field * scale, ramp * scale)
                wt = (wy[:, None] * wx[None, :]).astype(np.float32)[:, :, None]
                sy, sx = ty * scale, tx * scale
                out[sy:sy + th * scale, sx:sx + tw * scale] += res * wt
                weight[sy:sy + th * scale, sx:sx + tw * scale] += wt
    assert out is not None
    if float(weight.min()) <= 0.0:  # pragma: no cover - guarded by tile_plan's size check
        raise RuntimeError("tiling left pixels uncovered")
    out /= weight
    return out
