"""Data for ``gan.upres``: MATLAB-style bicubic resizing, the degradation model that makes training pairs,
patch sampling, and the super-resolution metrics (BT.601 luma PSNR, sharpness ratios).

numpy only at module level; torch is imported inside the functions that use it, so the benchmark's
metric code runs without paying for torch.
"""
from __future__ import annotations

import functools
import os
import secrets
import tempfile
from dataclasses import dataclass
from typing import Sequence

import numpy as np

# ----- MATLAB-compatible bicubic ``imresize`` ---------------------------------------------------
# The super-resolution literature makes its low-resolution inputs with MATLAB's ``imresize`` (bicubic,
# antialiased when shrinking, symmetric edge padding). Published Set5/Set14 numbers are only
# comparable when the LR images are made the same way, so this reproduces it exactly, as a dense
# resampling matrix per axis (out = Mh @ img @ Mw.T); the matrices are cached per size.


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2)))


@functools.lru_cache(maxsize=64)
def resize_matrix(in_len: int, out_len: int, antialias: bool = True) -> np.ndarray:
    """(out_len, in_len) float64 matrix of MATLAB ``imresize(..., 'bicubic')`` along one axis."""
    scale = out_len / in_len
    width = 4.0
    if scale < 1 and antialias:  # widen the kernel when shrinking, as MATLAB does
        kernel = lambda d: scale * _cubic(scale * d)  # noqa: E731
        width = width / scale
    else:
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in input coordinates (1-based)
    left = np.floor(u - width / 2)
    taps = int(np.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    weights = kernel(u[:, None] - idx)
    weights /= weights.sum(axis=1, keepdims=True)
    # Symmetric padding: index -1 mirrors to 0, in_len mirrors to in_len - 1 (MATLAB's "symmetric").
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    src = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    matrix = np.zeros((out_len, in_len), np.float64)
    np.add.at(matrix, (np.repeat(np.arange(out_len), taps), src.ravel()), weights.ravel())
    return matrix


def imresize(img: np.ndarray, out_hw: tuple[int, int] | None = None, scale: float | None = None,
             antialias: bool = True) -> np.ndarray:
    """MATLAB-style bicubic resize of an (H, W[, C]) float array (no rounding or clamping)."""
    h, w = img.shape[:2]
    if out_hw is None:
        if scale is None:
            raise ValueError("give out_hw or scale")
        out_hw = (int(np.ceil(h * scale)), int(np.ceil(w * scale)))
    mh = resize_matrix(h, out_hw[0], antialias)
    mw = resize_matrix(w, out_hw[1], antialias)
    arr = np.asarray(img, dtype=np.float64)
    # Two matrix products through BLAS (tensordot); a plain einsum gives the same numbers 20-30x slower.
    out = np.tensordot(mh, arr, axes=(1, 0))  # (out_h, w, ...)
    out = np.moveaxis(np.tensordot(mw, out, axes=(1, 1)), 0, 1)  # (out_h, out_w, ...)
    return out.astype(np.float32)


def quantize8(img: np.ndarray) -> np.ndarray:
    """Round 0–1 values to 8-bit levels (what saving an LR image as PNG does), still as float 0–1."""
    return np.clip(np.round(np.asarray(img) * 255.0), 0, 255).astype(np.float32) / 255.0


def modcrop(img: np.ndarray, multiple: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h - h % multiple, : w - w % multiple]


# ----- metrics ---------------------------------------------------------------------------------


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma in 0–255 from 0–1 RGB, as MATLAB's ``rgb2ycbcr`` (the SR papers' convention)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return 16.0 + rgb[..., 0] * 65.481 + rgb[..., 1] * 128.553 + rgb[..., 2] * 24.966


def psnr_y(sr: np.ndarray, hr: np.ndarray, shave: int) -> float:
    """PSNR of BT.601 luma (0–255 peak), ``shave`` pixels removed from each border; inputs 0–1 RGB,
    rounded to 8-bit first as published results are computed on saved images."""
    a = rgb_to_y(quantize8(sr))
    b = rgb_to_y(quantize8(hr))
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def _gradient_energy(y: np.ndarray) -> float:
    gy, gx = np.gradient(y)
    return float(np.mean(np.hypot(gx, gy)))


def _laplacian(y: np.ndarray) -> np.ndarray:
    p = np.pad(y, 1, mode="reflect")
    return 4 * p[1:-1, 1:-1] - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]


def sharpness_ratios(sr: np.ndarray, hr: np.ndarray, shave: int) -> dict[str, float]:
    """Weight-free sharpness of an up-res'd image against its ground truth, on luma.

    ``gradient``: mean gradient magnitude ratio SR/HR (1.0 = as much edge contrast as the truth; a
    blurry result is below 1). ``highfreq``: energy ratio of the Laplacian (fine detail and texture).
    A PSNR-trained model sits well below 1 on both; a GAN-trained one should be closer to 1.
    """
    a = rgb_to_y(quantize8(sr)) / 255.0
    b = rgb_to_y(quantize8(hr)) / 255.0
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    return {"gradient": _gradient_energy(a) / max(_gradient_energy(b), 1e-12),
            "highfreq": float(np.mean(_laplacian(a) ** 2) / max(np.mean(_laplacian(b) ** 2), 1e-12))}


def laplacian_swd(sr: np.ndarray, hr: np.ndarray, *, patch: int = 7, levels: int = 3, patches: int = 4096,
                  projections: int = 256, seed: int = 0) -> float:
    """Sliced Wasserstein distance between 7x7 patches of the Laplacian pyramids of two RGB images
    (ProGAN's texture statistic, computed without any learned weights; lower is closer), x100,
    averaged over pyramid levels. ``hr`` is the reference whose statistics normalise both."""
    rng = np.random.default_rng(seed)
    total = 0.0

    def pyramid(img: np.ndarray) -> list[np.ndarray]:
        out, cur = [], np.asarray(img, np.float64)
        for _ in range(levels):
            small = imresize(cur, scale=0.5)
            up = imresize(small, out_hw=cur.shape[:2])
            out.append(cur - up)
            cur = small
        return out

    for la, lb in zip(pyramid(sr), pyramid(hr)):
        descs = []
        for band in (la, lb):
            h, w = band.shape[:2]
            if h < patch or w < patch:
                continue
            ys = rng.integers(0, h - patch + 1, patches)
            xs = rng.integers(0, w - patch + 1, patches)
            descs.append(np.stack([band[y:y + patch, x:x + patch].ravel() for y, x in zip(ys, xs)]))
        if len(descs) < 2:
            continue
        # Normalise both sets by the reference's per-dimension statistics. ProGAN normalises each set by
        # its own, which hides exactly what matters here: a blurry result has too little band energy.
        mu, sd = descs[1].mean(axis=0), descs[1].std(axis=0) + 1e-8
        descs = [(d - mu) / sd for d in descs]
        dirs = rng.normal(size=(descs[0].shape[1], projections))
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        pa = np.sort(descs[0] @ dirs, axis=0)
        pb = np.sort(descs[1] @ dirs, axis=0)
        total += float(np.mean(np.abs(pa - pb)))
    return 100.0 * total / levels


# ----- reading training/evaluation images ------------------------------------------------------


def read_rgb(path: str) -> np.ndarray:
    """An 8-bit image file as float 0–1 RGB (H, W, 3) via OpenImageIO; greyscale is replicated."""
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(path)
    if buf.has_error:
        raise ValueError(f"{path}: {buf.geterror()}")
    px = np.asarray(buf.get_pixels(oiio.FLOAT), dtype=np.float32)
    if px.ndim == 2:
        px = px[:, :, None]
    if px.shape[2] == 1:
        px = np.repeat(px, 3, axis=2)
    return np.ascontiguousarray(px[:, :, :3])


# ----- degradations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DegradationConfig:
    """How training LR images are made from HR crops.

    ``clean_fraction`` of the pairs use clean MATLAB bicubic downscaling rounded to 8-bit (the
    benchmark's convention, and what a clean digital plate resembles); the rest go through a camera-like
    chain: optical blur (isotropic or anisotropic Gaussian, in linear light), bicubic/area downscale,
    sensor noise (Gaussian, optionally luminance-only), and JPEG compression at random quality. Each
    stage is skipped with some probability so mild cases stay common.
    """

    clean_fraction: float = 0.6
    blur_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.2, 1.6)  # Gaussian sigma at x2, in HR pixels; scaled by factor/2
    noise_prob: float = 0.5
    noise_sigma: tuple[float, float] = (0.5 / 255, 6.0 / 255)
    jpeg_prob: float = 0.4
    jpeg_quality: tuple[int, int] = (55, 95)
    quantize: bool = True  # round LR to 8-bit (photographs); off for float plates


def gaussian_kernel(sigma_x: float, sigma_y: float, theta: float, size: int) -> np.ndarray:
    """A normalised (possibly anisotropic, rotated) Gaussian blur kernel."""
    r = (size - 1) / 2
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    c, s = np.cos(theta), np.sin(theta)
    xr, yr = c * x + s * y, -s * x + c * y
    k = np.exp(-0.5 * ((xr / sigma_x) ** 2 + (yr / sigma_y) ** 2))
    return (k / k.sum()).astype(np.float32)


def _convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """2-D convolution with reflected borders, per channel (small kernels; numpy only)."""
    k = kernel.shape[0]
    r = k // 2
    p = np.pad(img, ((r, r), (r, r), (0, 0)), mode="reflect")
    h, w = img.shape[:2]
    out = np.zeros_like(img, dtype=np.float32)
    for dy in range(k):
        for dx in range(k):
            wgt = kernel[dy, dx]
            if wgt > 1e-6:
                out += wgt * p[dy:dy + h, dx:dx + w]
    return out


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((np.maximum(x, 0) + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.maximum(x, 0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


_JPEG_DIR: str | None = None


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Compress 0–1 RGB as a JPEG of ``quality`` and decode it (libjpeg through OpenImageIO)."""
    import OpenImageIO as oiio

    global _JPEG_DIR
    if _JPEG_DIR is None:
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        _JPEG_DIR = tempfile.mkdtemp(prefix="filmai-upres-jpeg-", dir=base)
    path = os.path.join(_JPEG_DIR, f"{os.getpid()}-{secrets.token_hex(4)}.jpg")
    h, w = img.shape[:2]
    spec = oiio.ImageSpec(w, h, 3, "uint8")
    spec.attribute("Compression", f"jpeg:{int(quality)}")
    out = oiio.ImageOutput.create(path)
    try:
        if out is None:
            raise RuntimeError(f"no JPEG writer: {oiio.geterror()}")
        if not out.open(path, spec) or not out.write_image(np.ascontiguousarray(np.clip(img, 0, 1), np.float32)):
            raise RuntimeError(f"JPEG write of {w}x{h} failed: {out.geterror() or oiio.geterror()}")
        out.close()
        buf = oiio.ImageBuf(path)
        px = np.asarray(buf.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(h, w, 3)
    finally:
        if os.path.exists(path):
            os.remove(path)
    return px


def degrade(hr: np.ndarray, scale: int, rng: np.random.Generator, cfg: DegradationConfig = DegradationConfig()
            ) -> tuple[np.ndarray, str]:
    """An LR image (0–1 sRGB, H/scale x W/scale) made from an HR crop (0–1 sRGB) and the chain's label."""
    h, w = hr.shape[:2]
    out_hw = (h // scale, w // scale)
    q = quantize8 if cfg.quantize else (lambda a: np.asarray(a, np.float32))
    if rng.random() < cfg.clean_fraction:
        return q(imresize(hr, out_hw)), "clean"
    steps = []
    lin = srgb_to_linear(hr)
    if rng.random() < cfg.blur_prob:
        # Optical blur acts on the HR image before sampling; sigma in HR pixels grows with the factor.
        lo, hi = cfg.blur_sigma
        sx = rng.uniform(lo, hi) * scale / 2
        sy = sx if rng.random() < 0.5 else rng.uniform(lo, hi) * scale / 2
        size = int(2 * np.ceil(3 * max(sx, sy)) + 1)
        lin = _convolve(lin, gaussian_kernel(sx, sy, rng.uniform(0, np.pi), size))
        steps.append("blur")
    if rng.random() < 0.5:
        lr = imresize(lin, out_hw)  # bicubic in linear light
    else:  # area averaging, what a sensor's photosites do
        lr = lin.reshape(out_hw[0], scale, out_hw[1], scale, 3).mean(axis=(1, 3))
    lr = linear_to_srgb(np.maximum(lr, 0))
    if rng.random() < cfg.noise_prob:
        sigma = rng.uniform(*cfg.noise_sigma)
        if rng.random() < 0.4:  # luminance-only grain
            lr = lr + rng.normal(0, sigma, lr.shape[:2] + (1,)).astype(np.float32)
        else:
            lr = lr + rng.normal(0, sigma, lr.shape).astype(np.float32)
        steps.append("noise")
    lr = np.clip(lr, 0, 1)
    if rng.random() < cfg.jpeg_prob:
        lr = jpeg_roundtrip(lr, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
        steps.append("jpeg")
    return q(lr), "+".join(steps) or "resample"


def random_crops(images: Sequence[np.ndarray], n: int, size: int, rng: np.random.Generator,
                 augment: bool = True) -> list[np.ndarray]:
    """``n`` random ``size``x``size`` crops (with flips and 90° rotations) from a list of images."""
    out = []
    for _ in range(n):
        img = images[int(rng.integers(len(images)))]
        h, w = img.shape[:2]
        y = int(rng.integers(0, h - size + 1))
        x = int(rng.integers(0, w - size + 1))
        c = img[y:y + size, x:x + size]
        if augment:
            if rng.random() < 0.5:
                c = c[:, ::-1]
            if rng.random() < 0.5:
                c = c[::-1]
            c = np.rot90(c, int(rng.integers(4)))
        out.append(np.ascontiguousarray(c))
    return out


def make_batch(images: Sequence[np.ndarray], batch: int, hr_size: int, scale: int, rng: np.random.Generator,
               cfg: DegradationConfig = DegradationConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(lr, hr) as (N, 3, h, w) float32 arrays in 0–1 sRGB."""
    hrs = random_crops(images, batch, hr_size, rng)
    lrs = [degrade(c, scale, rng, cfg)[0] for c in hrs]
    lr = np.stack(lrs).transpose(0, 3, 1, 2)
    hr = np.stack(hrs).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(lr, np.float32), np.ascontiguousarray(hr, np.float32)
