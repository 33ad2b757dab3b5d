"""``filmai demo``: the whole copycat workflow on a shot made on the spot, no downloads.

A procedural plate (a textured scene the camera pans across, HDR practicals well above 1.0, film grain)
carries tracking markers and a rig wire that the paint department would remove. The demo paints them out
of 3 frames (here: it knows the clean plate), trains ``cnn.copycat`` on those 3 before/after pairs, applies
the model to every frame of the shot, and reports the PSNR on frames it never trained on, beside the PSNR of
doing nothing. Everything is written as a real artist would get it::

    demo-out/
      plate/plate.####.exr        the shot with markers (input)
      clean/clean.####.exr        the same shot without them (ground truth, only a demo has one)
      shot.ckpt, shot.train/      the model, interval checkpoints and training contact sheets
      result/result.####.exr      the shot after the model
      demo_contact.png            plate | result | ground truth on held-out frames
      shot.pt                     the model as TorchScript (Nuke CatFileCreator / cnn.torchscript)

``make_shot_frame(frame, width, height)`` returns one (dirty, clean) pair; tests use it as a fixture.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

from .hookspecs import hookimpl
from .errors import BadInput

FIRST_FRAME = 1001


def _value_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Smooth noise: random values on a coarse grid, bicubically (smoothstep) interpolated."""
    gh, gw = height // cell + 3, width // cell + 3
    grid = rng.random((gh, gw)).astype(np.float32)
    y = np.arange(height, dtype=np.float32) / cell
    x = np.arange(width, dtype=np.float32) / cell
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = y - y0, x - x0
    sy, sx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    a = grid[y0][:, x0]
    b = grid[y0][:, x0 + 1]
    c = grid[y0 + 1][:, x0]
    d = grid[y0 + 1][:, x0 + 1]
    top = a + (b - a) * sx[None, :]
    bottom = c + (d - c) * sx[None, :]
    return top + (bottom - top) * sy[:, None]


_WORLD_CACHE: dict[tuple[int, int, int], np.ndarray] = {}


def _world(height: int, width: int, seed: int) -> np.ndarray:
    """The scene the camera pans over (scene-linear RGB, with HDR practicals), made once per size."""
    key = (height, width, seed)
    if key in _WORLD_CACHE:
        return _WORLD_CACHE[key]
    rng = np.random.default_rng(seed)
    scale = max(1, width // 96)
    n = sum(_value_noise(rng, height, width, c * scale) * w for c, w in ((24, 0.5), (8, 0.3), (3, 0.2)))
    detail = _value_noise(rng, height, width, 2 * scale)
    yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    # warm ground, cool sky, a soft horizon: a plate, not a test pattern
    clouds = np.clip(_value_noise(rng, height, width, 12 * scale) * 1.6 - 0.6, 0, 1)[..., None]
    sky = np.stack([0.30 + 0.2 * n, 0.42 + 0.2 * n, 0.75 + 0.15 * n], axis=2) * (1 - clouds) + clouds * 0.9
    ground = np.stack([0.30 + 0.45 * n, 0.22 + 0.30 * n, 0.12 + 0.15 * n], axis=2) * (0.7 + 0.6 * detail[..., None])
    horizon = np.clip((yy - 0.38) / 0.08, 0, 1)[..., None]
    img = (sky * (1 - horizon) + ground * horizon) * 0.8
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    lights = max(4, width * height // 16000)
    for i in range(lights):  # practical lights: small, very bright (4-20), spread so every frame has some
        cy, cx = rng.uniform(0.45, 0.95) * height, (i + rng.uniform(0.2, 0.8)) * width / lights
        radius = rng.uniform(1.2, 2.5) * height / 216
        spot = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius ** 2))
        tint = np.array([1.0, rng.uniform(0.6, 0.9), rng.uniform(0.3, 0.6)], np.float32)
        img += rng.uniform(4.0, 20.0) * spot[..., None] * tint
    _WORLD_CACHE[key] = img.astype(np.float32)
    return _WORLD_CACHE[key]


def _marker(img: np.ndarray, cy: float, cx: float, size: float) -> None:
    """A tracking marker (a cross of green tape), anti-aliased, painted in place."""
    h, w = img.shape[:2]
    r = int(size * 1.6) + 2
    y0, y1, x0, x1 = max(0, int(cy) - r), min(h, int(cy) + r + 1), max(0, int(cx) - r), min(w, int(cx) + r + 1)
    if y0 >= y1 or x0 >= x1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dy, dx = ys - cy, xs - cx
    d1, d2 = np.abs(dy - dx) / np.sqrt(2), np.abs(dy + dx) / np.sqrt(2)
    extent = np.maximum(np.abs(dy), np.abs(dx))
    arm = np.clip(size - extent + 0.5, 0, 1)
    tape = (np.clip(size * 0.25 - np.minimum(d1, d2) + 0.5, 0, 1) * arm)[..., None]
    patch = img[y0:y1, x0:x1]
    patch *= 1 - tape
    patch += tape * np.array([0.08, 0.6, 0.12], np.float32)


def _wire(img: np.ndarray, x_top: float, x_bottom: float, width: float) -> None:
    """A thin dark rig wire from the top edge to the bottom edge, anti-aliased."""
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    x_line = x_top + (x_bottom - x_top) * ys / max(1, h - 1)
    cover = np.clip(width / 2 - np.abs(xs - x_line) + 0.5, 0, 1)[..., None]
    img *= 1 - 0.6 * cover
    img += cover * 0.02


def make_shot_frame(frame: int, width: int = 320, height: int = 180, seed: int = 7,
                    frames: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """(dirty, clean) scene-linear RGB float32 (H, W, 3) for ``frame`` of the demo shot."""
    t = frame - FIRST_FRAME
    pan = int(round(width * 0.4))
    world = _world(height, width + pan, seed)
    offset = pan * t / max(1, frames - 1)
    shift = int(np.floor(offset))
    frac = np.float32(offset - shift)
    a = world[:, shift:shift + width]
    b = world[:, min(shift + 1, pan):min(shift + 1, pan) + width]
    clean = (a * (1 - frac) + b * frac).astype(np.float32)
    grain = np.random.default_rng([seed, frame]).normal(0.0, 0.008, clean.shape).astype(np.float32)
    clean = clean + grain * np.sqrt(np.maximum(clean, 0.0) + 0.05)
    dirty = clean.copy()
    scale = width / 320.0
    rng = np.random.default_rng(seed + 1)
    for _ in range(4):  # markers stuck on the set: they move with the plate
        mx, my = rng.uniform(0.1, 1.3) * width, rng.uniform(0.15, 0.9) * height
        _marker(dirty, my, mx - offset, size=rng.uniform(4.0, 6.0) * scale)
    _wire(dirty, width * (0.72 - 0.25 * t / frames), width * (0.62 - 0.2 * t / frames), 1.6 * scale)
    return dirty, clean


# ----- the command -------------------------------------------------------------------------------


def run_demo(out: str, *, quick: bool = False, steps: int | None = None, progress: str = "auto",
             threads: int = 0, device: str = "auto", echo: Any = print) -> dict[str, Any]:
    """Make the shot, train, apply, export, measure; returns the figures (also printed)."""
    from .engine.runner import run_node, train_node
    from .frames.contact import write_contact_sheet
    from .frames.image import Frame
    from .frames.io import WriteOptions, read_frame, write_frame
    from .training.datasets import psnr
    from . import color

    if quick:
        width, height, n_frames, train_frames, crop, batch = 96, 64, 8, [1001, 1004, 1007], 32, 4
        default_steps = 30
    else:
        width, height, n_frames, train_frames, crop, batch = 384, 216, 36, [1001, 1018, 1035], 64, 8
        default_steps = 500
    steps = steps or default_steps
    frames = list(range(FIRST_FRAME, FIRST_FRAME + n_frames))
    held_out = [f for f in frames if f not in train_frames]
    validation = [held_out[len(held_out) // 3], held_out[2 * len(held_out) // 3]]
    out = os.path.abspath(out)
    plate_dir, clean_dir, result_dir = (os.path.join(out, d) for d in ("plate", "clean", "result"))
    for d in (plate_dir, clean_dir, result_dir):
        os.makedirs(d, exist_ok=True)
    plate = os.path.join(plate_dir, "plate.####.exr")
    clean = os.path.join(clean_dir, "clean.####.exr")
    result = os.path.join(result_dir, "result.####.exr")
    ckpt = os.path.join(out, "shot.ckpt")
    t_all = time.perf_counter()

    echo(f"1/4 making the shot: {n_frames} frames {width}x{height}, scene-linear with HDR practicals, "
         "4 tracking markers and a rig wire")
    for f in frames:
        dirty, truth = make_shot_frame(f, width, height, frames=n_frames)
        attrs = {"colorInteropID": "lin_rec709_scene"}  # linear Rec.709, said so in the header (issue 21)
        write_frame(os.path.join(plate_dir, f"plate.{f:04d}.exr"),
                    Frame.from_array(dirty, ["R", "G", "B"], attributes=attrs), WriteOptions(pixel_type="half"))
        write_frame(os.path.join(clean_dir, f"clean.{f:04d}.exr"),
                    Frame.from_array(truth, ["R", "G", "B"], attributes=attrs), WriteOptions(pixel_type="half"))

    echo(f"2/4 training cnn.copycat on {len(train_frames)} before/after pairs (frames "
         f"{', '.join(map(str, train_frames))}), {steps} steps; held out for validation: "
         f"{', '.join(map(str, validation))}")
    params = {"steps": steps, "crop_size": crop, "batch_size": batch, "validation_frames": ",".join(map(str, validation)),
              "validation_interval": max(10, steps // 10), "contact_sheet_interval": max(10, steps // 4),
              "checkpoint_interval": max(10, steps // 2), "warmup_steps": min(30, steps // 5), "learning_rate": 3e-3,
              "exposure_jitter": 1.0, "focus": 0.9, "threads": threads}
    train_manifest = train_node("cnn.copycat", input=plate, target=clean, frames=",".join(map(str, train_frames)),
                                out=ckpt, params=params, device=device, progress=progress)
    training = train_manifest["training"]

    echo(f"3/4 applying the model to all {n_frames} frames")
    run_manifest = run_node("cnn.copycat", input=plate, output=result, frames=f"{frames[0]}-{frames[-1]}",
                            model=ckpt, device=device, progress=progress)

    echo("4/4 measuring on the frames the model never saw, and exporting TorchScript")
    scores, baseline = [], []
    for f in held_out:
        truth = read_frame(clean.replace("####", f"{f:04d}")).pixels
        got = read_frame(result.replace("####", f"{f:04d}")).pixels
        src = read_frame(plate.replace("####", f"{f:04d}")).pixels
        # PSNR on the display-referred image (sRGB, 0-1), the way a compositor judges a paint-out
        disp = [np.clip(color.encode(np.clip(a, 0, None), "srgb"), 0, 1) for a in (truth, got, src)]
        scores.append(psnr(disp[1], disp[0]))
        baseline.append(psnr(disp[2], disp[0]))
    sheet_frames = [held_out[0], held_out[len(held_out) // 2], held_out[-1]]
    rows = [[read_frame(p.replace("####", f"{f:04d}")).pixels for p in (plate, result, clean)] for f in sheet_frames]
    sheet = write_contact_sheet(os.path.join(out, "demo_contact.png"), rows,
                                labels=["plate (held-out frames)", "copycat result", "ground truth"],
                                cell_width=min(384, width))
    export_path = None
    try:
        from .export import export_checkpoint

        export_path = export_checkpoint(ckpt, os.path.join(out, "shot.pt"))["path"]
    except Exception as exc:  # the demo's figures stand without the export
        echo(f"   (TorchScript export skipped: {exc})")
    figures = {
        "out": out, "plate": plate, "clean": clean, "result": result, "checkpoint": ckpt,
        "work_dir": os.path.splitext(ckpt)[0] + ".train", "contact_sheet": sheet, "torchscript": export_path,
        "train_seconds": training.get("train_seconds"), "steps": training.get("steps"),
        "held_out_psnr": float(np.mean(scores)), "identity_psnr": float(np.mean(baseline)),
        "held_out_frames": len(held_out), "validation_psnr_encoded": training.get("validation_psnr"),
        "apply_seconds": run_manifest["timings"]["wall_s"], "total_seconds": time.perf_counter() - t_all,
    }
    echo("")
    echo(f"held-out PSNR (sRGB, {len(held_out)} frames never trained on): {figures['held_out_psnr']:.2f} dB "
         f"   doing nothing: {figures['identity_psnr']:.2f} dB   (+{figures['held_out_psnr'] - figures['identity_psnr']:.2f} dB)")
    echo(f"training {figures['train_seconds']:.1f} s for {figures['steps']} steps; applying "
         f"{figures['apply_seconds']:.1f} s for {n_frames} frames; total {figures['total_seconds']:.0f} s")
    echo("")
    echo(f"plate (input)    {plate}")
    echo(f"result           {result}")
    echo(f"ground truth     {clean}")
    echo(f"contact sheet    {sheet}")
    echo(f"model            {ckpt}  (training sheets and checkpoints in {figures['work_dir']})")
    if export_path:
        echo(f"TorchScript      {export_path}  (filmai export prints the Nuke CatFileCreator settings)")
    echo(f"manifests        {train_manifest.get('manifest_path')}, {run_manifest.get('manifest_path')}")
    echo("")
    shown = os.path.relpath(ckpt)
    if shown.startswith(".."):  # outside the current folder: the absolute path reads better
        shown = os.path.abspath(ckpt)
    echo("next: filmai run cnn.copycat --model " + shown + " --input YOUR.####.exr --output "
         "OUT.####.exr, or train on your own shot: see docs/copycat.md")
    return figures


def cmd_demo(args: argparse.Namespace) -> int:
    from .engine.cancel import CancelToken, signals_cancel  # noqa: F401  (Ctrl-C is handled by the engine)

    if args.steps is not None and args.steps < 1:
        raise BadInput("--steps must be at least 1")
    progress = args.progress
    if progress == "auto":
        progress = "bar" if sys.stderr.isatty() else "none"
    run_demo(args.out, quick=args.quick, steps=args.steps, progress=progress, threads=args.threads,
             device=args.device)
    return 0


@hookimpl
def filmai_register_commands(commands: Any) -> None:
    subparsers = commands
    p = subparsers.add_parser("demo", help="train cnn.copycat on a generated shot and apply it (no downloads)")
    p.add_argument("--out", default="demo-out", help="folder for everything the demo writes (default ./demo-out)")
    p.add_argument("--quick", action="store_true", help="a tiny version that finishes in seconds (for tests)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 500, quick 30)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for training (0: one per core)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|mps")
    p.add_argument("--progress", default="auto", choices=("auto", "bar", "json", "none"))
    p.set_defaults(func=cmd_demo)
