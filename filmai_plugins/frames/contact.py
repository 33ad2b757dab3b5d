"""Contact sheets: rows of images side by side, display-transformed through OCIO, labelled, as PNG/JPEG.

Used by training (input | output | target every N steps), publishing (thumbnails, sheets) and the demo.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from .. import color

LABEL_HEIGHT = 22
GAP = 4


def _fit(img: np.ndarray, width: int) -> np.ndarray:
    """Resize to ``width`` (keeping aspect) with OpenImageIO's filtered resize."""
    import OpenImageIO as oiio

    h, w = img.shape[:2]
    if w == width:
        return img
    height = max(1, round(h * width / w))
    buf = oiio.ImageBuf(np.ascontiguousarray(img, dtype=np.float32))
    out = oiio.ImageBufAlgo.resize(buf, roi=oiio.ROI(0, width, 0, height, 0, 1, 0, img.shape[2]))
    return np.asarray(out.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(height, width, img.shape[2])


def _as_rgb(img: np.ndarray, colorspace: str, config: Any = None) -> np.ndarray:
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 1 or arr.shape[2] == 2:  # a matte or luminance: show as grey, no display transform
        return np.clip(np.repeat(arr[:, :, :1], 3, axis=2), 0, 1)
    return color.to_display(arr[:, :, :3], src=colorspace, config=config)


def contact_sheet(rows: Sequence[Sequence[np.ndarray]], labels: Sequence[str] | None = None,
                  colorspace: str = "lin_rec709", cell_width: int = 320, config: Any = None) -> np.ndarray:
    """Compose display-referred RGB (0–1): one row per entry, one cell per image, optional column labels."""
    import OpenImageIO as oiio

    ncols = max(len(r) for r in rows)
    cells = [[_fit(_as_rgb(img, colorspace, config), cell_width) for img in row] for row in rows]
    row_heights = [max(c.shape[0] for c in row) for row in cells]
    top = LABEL_HEIGHT if labels else 0
    height = top + sum(row_heights) + GAP * (len(rows) - 1)
    width = ncols * cell_width + GAP * (ncols - 1)
    sheet = np.full((height, width, 3), 0.08, np.float32)
    y = top
    for row, rh in zip(cells, row_heights):
        for j, cell in enumerate(row):
            x = j * (cell_width + GAP)
            sheet[y:y + cell.shape[0], x:x + cell.shape[1]] = cell
        y += rh + GAP
    if labels:
        buf = oiio.ImageBuf(sheet)
        for j, text in enumerate(labels[:ncols]):
            oiio.ImageBufAlgo.render_text(buf, j * (cell_width + GAP) + 6, LABEL_HEIGHT - 6, str(text), 15, "",
                                          (0.9, 0.9, 0.9))
        sheet = np.asarray(buf.get_pixels(oiio.FLOAT), np.float32).reshape(height, width, 3)
    return sheet


def write_contact_sheet(path: str, rows: Sequence[Sequence[np.ndarray]], labels: Sequence[str] | None = None,
                        colorspace: str = "lin_rec709", cell_width: int = 320, config: Any = None) -> str:
    """Write a contact sheet PNG/JPEG atomically; returns the path."""
    from .image import Frame
    from .io import WriteOptions, write_frame

    sheet = contact_sheet(rows, labels, colorspace, cell_width, config)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    frame = Frame.from_array(sheet, ["R", "G", "B"], attributes={"oiio:ColorSpace": "sRGB"})
    write_frame(path, frame, WriteOptions())
    return path
