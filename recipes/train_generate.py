"""Build real element clips from ../shared/data and train a gan.generate model on each (the models bench/generate.py
evaluates). Reproducible: clips are deterministic, training is seeded.

Clips (EXR sequences, scene-linear, written to bench/out/generate/clips/, never committed):
  stream     a Ken-Burns pan (Lissajous path, slow zoom) over the water of the mountain stream in Kodak24
             kodim13 (the lower 40% of the picture): 240 frames, 128x96. Held out: 37-48, 97-108, 157-168,
             217-228 (four 12-frame blocks spread over the pan); the other 192 frames train.
  screen     goldeneye-vfr-drop3.mp4, its first shot (a control panel: blinking lights, a screen being typed on,
             film grain): the 59 pictures before the cut at 90, renumbered 1-59, the left 4:3 at 360x272.
             Held out: 13-16, 33-36, 53-56; the other 47 train. (testvideo.mp4 has no motion inside its
             shots: stills with fades.)
  beachball  the 8-frame OpenEXR Beachball sequence (RGBA, a ball moving across), cropped to the area the ball
             crosses (1840x1180 of the 2048x1556 display window). Train 1-6, held out 7-8 (too short to
             hold out blocks inside it: the runs left would be shorter than a training clip).

Held-out frames are blocks spread over the clip, not its tail: a pan's or a shot's tail shows what the
training frames never did (other water, a later state of the screen), so a tail split measures extrapolation,
which no model of one clip can do; on the tail split the training footage itself scored worse than a PCA
model of it (docs/BENCHMARKS.md). Training skips the held-out blocks (gan.generate draws clips inside runs).

    python recipes/train_generate.py [--clips stream,screen,beachball] [--time-limit 2400] [--steps 4000]
                                   [--threads 1] [--resolution 64] [--capacity 12] [--batch-size 4]
                                   [--augment strong] [--device cpu] [--resume | --init MODELS]

Runs one training at a time; each stops at --steps or --time-limit seconds, whichever comes first. On the
shared 2-core CPU use --threads 1 (two OpenMP threads on a busy machine wait on each other for longer than
the work takes). Logs: bench/out/generate/models/<clip>.log (JSON progress lines).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))
WORK = os.path.join(os.path.dirname(HERE), "bench", "out", "generate")  # where bench/generate.py reads the models

#: name → (first frame, last frame, held-out blocks (first, last), clip_length)
CLIPS = {
    "stream": (1, 240, ((37, 48), (97, 108), (157, 168), (217, 228)), 4),
    "screen": (1, 59, ((13, 16), (33, 36), (53, 56)), 4),
    "beachball": (1, 8, ((7, 8),), 4),
}


def clip_pattern(name: str) -> str:
    return os.path.join(WORK, "clips", name, f"{name}.####.exr")


def held_out_blocks(name: str) -> list[list[int]]:
    return [list(range(a, b + 1)) for a, b in CLIPS[name][2]]


def held_out_frames(name: str) -> list[int]:
    return [f for block in held_out_blocks(name) for f in block]


def training_frame_list(name: str) -> list[int]:
    first, last, _, _ = CLIPS[name]
    held = set(held_out_frames(name))
    return [f for f in range(first, last + 1) if f not in held]


def train_frames(name: str) -> str:
    from filmai_plugins.frames.sequence import format_frames

    return format_frames(training_frame_list(name))


def _write(path: str, pixels: np.ndarray, channels: list[str]) -> None:
    from filmai_plugins.frames import Frame, WriteOptions, write_frame

    os.makedirs(os.path.dirname(path), exist_ok=True)
    frame = Frame.from_array(pixels, channels, attributes={"colorInteropID": "lin_rec709_scene"})
    write_frame(path, frame, WriteOptions(compression="zip", pixel_type="half"))


def _srgb_to_linear(pixels: np.ndarray) -> np.ndarray:
    from filmai_plugins import color

    return color.convert(pixels, "srgb_tx", "lin_rec709")


def build_stream(pattern: str) -> str:
    """Lissajous pan with a slow zoom over kodim13, sampled with OpenImageIO's filtered warp."""
    import OpenImageIO as oiio

    src = os.path.join(SHARED, "images", "Kodak24", "kodim13.png")
    buf = oiio.ImageBuf(src)
    img = _srgb_to_linear(buf.get_pixels(oiio.FLOAT)[:, :, :3])
    lin = oiio.ImageBuf(np.ascontiguousarray(img))
    out_w, out_h = 128, 96
    first, last, _, _ = CLIPS["stream"]
    for f in range(first, last + 1):
        t = f - first
        zoom = 1.15 + 0.15 * math.sin(2 * math.pi * t / 300.0)  # source pixels per output pixel
        win_w, win_h = out_w * zoom, out_h * zoom
        # the window stays on the water and its banks (y > 290 of 500): held-out frames show the same element
        cx = 230 + 140 * math.sin(2 * math.pi * t / 170.0)
        cy = 395 + 40 * math.sin(2 * math.pi * t / 240.0 + 0.7)
        # warp's matrix maps source to output pixels: u = (x - x0) / zoom, v = (y - y0) / zoom
        x0, y0 = cx - win_w / 2, cy - win_h / 2
        m = (1 / zoom, 0, 0, 0, 1 / zoom, 0, -x0 / zoom, -y0 / zoom, 1)
        warped = oiio.ImageBufAlgo.warp(lin, m, filtername="lanczos3", roi=oiio.ROI(0, out_w, 0, out_h, 0, 1, 0, 3))
        pix = np.asarray(warped.get_pixels(oiio.FLOAT), np.float32).reshape(out_h, out_w, 3)
        _write(pattern.replace("####", f"{f:04d}"), pix, ["R", "G", "B"])
    return "Ken-Burns pan over the water of Kodak24 kodim13 (mountain stream), 240 frames at 128x96"


def build_screen(pattern: str) -> str:
    from filmai_plugins.frames.movie import iter_movie_frames

    src = os.path.join(SHARED, "video", "goldeneye-vfr-drop3.mp4")
    first, last, _, _ = CLIPS["screen"]
    # The file drops every third picture (VFR): keep the pictures, number them consecutively.
    # threads=False: closing a frame-threaded decoder early has hung here (PyAV); 640x272 decodes fast.
    number = first
    for mf in iter_movie_frames(src, size=(640, 272), frames=range(0, 90), threads=False):
        if number > last:
            break
        pix = _srgb_to_linear(mf.pixels[:, :360, :3])
        _write(pattern.replace("####", f"{number:04d}"), pix, ["R", "G", "B"])
        number += 1
    return "goldeneye-vfr-drop3.mp4 first shot (pictures before frame 90, renumbered 1-59), left 360x272"


def build_beachball(pattern: str) -> str:
    from filmai_plugins.frames import read_frame

    first, last, _, _ = CLIPS["beachball"]
    x0, y0, x1, y1 = 560, 150, 2400, 1330
    for f in range(first, last + 1):
        fr = read_frame(os.path.join(SHARED, "exr", "Beachball", f"singlepart.{f:04d}.exr"),
                        channels=["R", "G", "B", "A"])
        pix = fr.to_display_window()[y0:y1, x0:x1]
        _write(pattern.replace("####", f"{f:04d}"), pix, ["R", "G", "B", "A"])
    return "OpenEXR Beachball singlepart 1-8 (RGBA), cropped to 1840x1180 where the ball moves"


BUILDERS = {"stream": build_stream, "screen": build_screen, "beachball": build_beachball}


def clip_built(name: str) -> bool:
    pattern = clip_pattern(name)
    first, last, _, _ = CLIPS[name]
    return all(os.path.exists(pattern.replace("####", f"{f:04d}")) for f in range(first, last + 1))


def build_clip(name: str) -> str:
    """Write the clip once (kept between runs); returns its pattern."""
    pattern = clip_pattern(name)
    if clip_built(name):
        return pattern
    desc = BUILDERS[name](pattern)
    with open(os.path.join(os.path.dirname(pattern), "README.txt"), "w") as fh:
        fh.write(desc + "\nBuilt by recipes/train_generate.py from ../shared/data; do not commit.\n")
    return pattern


def have_data() -> bool:
    return os.path.isdir(SHARED)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--time-limit", type=float, default=2400.0, help="seconds of training per clip")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--capacity", type=int, default=12,
                    help="12 with clips of 4 frames: ~0.24 s of CPU per step at 64x48, 2.6x cheaper than the "
                         "node's defaults (16, 8 frames), for a CPU shared by many jobs")
    ap.add_argument("--batch-size", type=int, default=4, help="clips per step (the node's default, 4)")
    ap.add_argument("--augment", default="strong", choices=("strong", "light", "none"),
                    help="DiffAugment policy (the node's default, strong)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda where there is a GPU (same script, faster)")
    ap.add_argument("--models", default=os.path.join(WORK, "models"),
                    help="where the models, their logs and training folders go (bench/generate.py --models)")
    ap.add_argument("--resume", action="store_true",
                    help="continue each clip's training from its last interval checkpoint (to a larger --steps)")
    ap.add_argument("--init", default="",
                    help="a --models folder of an earlier run: each clip fine-tunes its <clip>.ckpt (the generator's "
                         "weights; the discriminators start afresh, unlike --resume)")
    ap.add_argument("--build-only", action="store_true", help="write the clips, do not train")
    args = ap.parse_args()
    names = [c.strip() for c in args.clips.split(",") if c.strip()]
    # clips built here train anywhere they are copied (a GPU machine without ../shared/data)
    if not have_data() and not all(clip_built(n) for n in names if n in CLIPS):
        print(f"skipped: {SHARED} not found (benchmarks read ../shared/data)")
        return 0
    import torch

    import filmai_plugins as fa

    torch.set_num_threads(args.threads)
    models = args.models
    os.makedirs(models, exist_ok=True)
    for name in names:
        if name not in CLIPS:
            raise SystemExit(f"unknown clip {name!r} (one of {', '.join(CLIPS)})")
        pattern = build_clip(name)
        if args.build_only:
            print(f"{name}: {pattern}")
            continue
        clip_length = CLIPS[name][3]
        out = os.path.join(models, f"{name}.ckpt")
        log_path = os.path.join(models, f"{name}.log")
        t0 = time.time()
        with open(log_path, "a" if args.resume else "w") as log:
            def on_event(event: dict, log=log) -> None:
                log.write(json.dumps(event, default=str) + "\n")
                log.flush()

            init = os.path.join(args.init, f"{name}.ckpt") if args.init else None
            fa.train("gan.generate", input=pattern, frames=train_frames(name), out=out, on_event=on_event, model=init,
                     seed=args.seed, device=args.device, resolution=args.resolution, capacity=args.capacity,
                     batch_size=args.batch_size, augment=args.augment, clip_length=clip_length,
                     steps=args.steps, time_limit=args.time_limit,
                     contact_sheet_interval=max(250, args.steps // 20),
                     checkpoint_interval=500, resume="last" if args.resume else "")
        print(f"{name}: {out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
