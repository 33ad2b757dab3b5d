"""cnn.copycat on real footage: quality after a time budget, time to a usable result, speed.

Tasks, all built from ../shared/data (skipped cleanly when it is absent), each trained on 3 before/after
pairs and measured on frames it never saw, with the do-nothing baseline beside it:

look      Kodak24 kodim07, a 12-frame slow pan + zoom (256x256, scene-linear EXR); the target is a colour
          grade (per-channel gain and power, saturation) plus a spatial effect (a highlight glow and an
          unsharp mask). Goal: held-out PSNR >= 35 dB (sRGB, 0-1) within a 5-minute training budget.
          Also shown: the best *global* colour fit (3x4 matrix, least squares on the training pairs), what a
          grade-only tool could reach.
matte     Kodak24 kodim23 (parrots), same camera move; the target is a soft key of the red feathers (RGB→A).
          Goal: IoU >= 0.95 at 0.5 on held-out frames.
cleanup   The Beachball EXR sequence (8 real frames, 911x876 data window, HDR) with synthetic dust and
          scratches; PSNR against seconds of training (every 50-step interval checkpoint applied to two
          held-out frames), and the time to a usable result, defined as removing 75% of the damage's squared
          error (held-out sRGB PSNR >= do-nothing + 6 dB).
speed     inference seconds per 1920x1080 frame on the CPU through `filmai run` (read, tiles, write) next
          to the bare network forward in the same process; training samples per second from the tasks.

    python bench/copycat.py [--budget 300] [--threads 1] [--tasks look,matte,cleanup,speed] [--out DIR]

Prints a Markdown section (and writes DIR/copycat_bench.json) for docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))
KODAK = os.path.join(SHARED, "images", "Kodak24")
BEACH = os.path.join(SHARED, "exr", "Beachball")


# ----- sequences from stills: a slow pan and zoom ----------------------------------------------------


def bilinear(img: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    ys, xs = np.clip(ys, 0, h - 1.001), np.clip(xs, 0, w - 1.001)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = (ys - y0)[..., None], (xs - x0)[..., None]
    a, b = img[y0, x0], img[y0, x0 + 1]
    c, d = img[y0 + 1, x0], img[y0 + 1, x0 + 1]
    return ((a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy).astype(np.float32)


def camera_move(still: np.ndarray, frames: int, size: int) -> list[np.ndarray]:
    """A slow diagonal pan with a 10% push-in, sub-pixel, like a plate from a slider."""
    h, w = still.shape[:2]
    grid = np.mgrid[0:size, 0:size].astype(np.float32) - size / 2
    out = []
    for i in range(frames):
        t = i / max(1, frames - 1)
        zoom = 1.25 - 0.1 * t  # source pixels per output pixel
        cy, cx = h * (0.45 + 0.1 * t), w * (0.4 + 0.2 * t)
        out.append(bilinear(still, cy + grid[0] * zoom, cx + grid[1] * zoom))
    return out


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    r = int(3 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k = (k / k.sum()).astype(np.float32)
    pad = np.pad(img, ((r, r), (r, r), (0, 0)), mode="reflect")
    tmp = sum(k[i] * pad[i:i + img.shape[0]] for i in range(2 * r + 1))
    return sum(k[i] * tmp[:, i:i + img.shape[1]] for i in range(2 * r + 1)).astype(np.float32)


def look(linear: np.ndarray) -> np.ndarray:
    """The 'after': a warm grade with more saturation, a glow on highlights, and crisper detail (linear light)."""
    x = np.maximum(linear, 0) * np.array([1.18, 1.0, 0.82], np.float32)
    x = x ** np.array([0.9, 0.95, 1.05], np.float32)
    luma = (x * np.array([0.2126, 0.7152, 0.0722], np.float32)).sum(axis=2, keepdims=True)
    x = luma + 1.3 * (x - luma)
    x = x + 0.9 * gaussian_blur(np.maximum(x - 0.55, 0), 3.0)
    x = x + 0.6 * (x - gaussian_blur(x, 1.5))
    return np.maximum(x, 0).astype(np.float32)


def red_key(linear: np.ndarray) -> np.ndarray:
    """A soft key of red/orange: redness in display space through a smoothstep."""
    from filmai_plugins import color

    d = np.clip(color.encode(np.maximum(linear, 0), "srgb"), 0, 1)
    redness = d[..., 0] - np.maximum(d[..., 1], d[..., 2])
    t = np.clip((redness - 0.10) / 0.12, 0, 1)
    return (t * t * (3 - 2 * t)).astype(np.float32)[..., None]


def damage(clean: np.ndarray, seed: int) -> np.ndarray:
    """Dust (dark and bright specks) and a vertical scratch, as on a film scan."""
    rng = np.random.default_rng(seed)
    h, w = clean.shape[:2]
    out = clean.copy()
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    level = float(np.percentile(clean[..., :3], 99))
    for _ in range(30):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.8, 2.5)
        y0, y1, x0, x1 = int(max(0, cy - 4 * r)), int(min(h, cy + 4 * r + 1)), int(max(0, cx - 4 * r)), int(min(w, cx + 4 * r + 1))
        m = np.clip(r - np.hypot(ys[y0:y1, x0:x1] - cy, xs[y0:y1, x0:x1] - cx) + 0.5, 0, 1)[..., None]
        value = 0.02 if rng.random() < 0.6 else level
        out[y0:y1, x0:x1] = out[y0:y1, x0:x1] * (1 - m) + m * value
    sx = rng.uniform(0.1, 0.9) * w
    line = np.clip(0.8 - np.abs(xs - sx - 3 * np.sin(ys / 40)) + 0.5, 0, 1)[..., None] * 0.6
    return (out * (1 - line) + line * level).astype(np.float32)


# ----- helpers ----------------------------------------------------------------------------------------


def write_seq(folder: str, name: str, images: list[np.ndarray], channels: list[str], first: int = 1001) -> str:
    from filmai_plugins.frames.image import Frame
    from filmai_plugins.frames.io import WriteOptions, write_frame

    os.makedirs(folder, exist_ok=True)
    for i, img in enumerate(images):
        write_frame(os.path.join(folder, f"{name}.{first + i:04d}.exr"),
                    Frame.from_array(img, channels, attributes={"oiio:ColorSpace": "lin_rec709"}),
                    WriteOptions(pixel_type="float"))
    return os.path.join(folder, f"{name}.####.exr")


def srgb_psnr(a: np.ndarray, b: np.ndarray) -> float:
    from filmai_plugins import color
    from filmai_plugins.training.datasets import psnr

    da = np.clip(color.encode(np.maximum(a, 0), "srgb"), 0, 1)
    db = np.clip(color.encode(np.maximum(b, 0), "srgb"), 0, 1)
    return psnr(da, db)


def frame(pattern: str, f: int) -> np.ndarray:
    from filmai_plugins.frames.io import read_frame

    return read_frame(pattern.replace("####", f"{f:04d}")).pixels


def train_and_apply(work: str, src: str, dst: str, train_frames: list[int], val_frames: list[int],
                    all_frames: list[int], params: dict) -> tuple[dict, str]:
    from filmai_plugins.engine.runner import run_node, train_node

    ckpt = os.path.join(work, "model.ckpt")
    m = train_node("cnn.copycat", input=src, target=dst, frames=",".join(map(str, train_frames)), out=ckpt,
                   params={**params, "validation_frames": ",".join(map(str, val_frames))})
    out = os.path.join(work, "result", "result.####.exr")
    run_node("cnn.copycat", input=src, output=out, frames=f"{all_frames[0]}-{all_frames[-1]}", model=ckpt,
             io={"pixel_type": "float"})
    return m["training"], out


def global_colour_fit(src: str, dst: str, train_frames: list[int], frames: list[int]) -> float:
    """PSNR of the best 3x4 colour matrix fitted on the training pairs (what a grade alone can do)."""
    from filmai_plugins import color

    def disp(a):
        return np.clip(color.encode(np.maximum(a, 0), "srgb"), 0, 1).reshape(-1, 3)

    xs = np.concatenate([disp(frame(src, f)) for f in train_frames])
    ys = np.concatenate([disp(frame(dst, f)) for f in train_frames])
    a = np.concatenate([xs, np.ones((len(xs), 1), np.float32)], axis=1)
    m, *_ = np.linalg.lstsq(a, ys, rcond=None)
    from filmai_plugins.training.datasets import psnr

    scores = []
    for f in frames:
        x = disp(frame(src, f))
        pred = np.clip(np.concatenate([x, np.ones((len(x), 1), np.float32)], axis=1) @ m, 0, 1)
        scores.append(psnr(pred, disp(frame(dst, f))))
    return float(np.mean(scores))


# ----- tasks ------------------------------------------------------------------------------------------


def task_look(work: str, budget: float, threads: int) -> dict:
    from filmai_plugins import color
    from filmai_plugins.frames.io import read_frame

    still = color.decode(read_frame(os.path.join(KODAK, "kodim07.png")).pixels[..., :3], "srgb")
    plates = camera_move(still, 12, 256)
    src = write_seq(os.path.join(work, "src"), "src", plates, ["R", "G", "B"])
    dst = write_seq(os.path.join(work, "dst"), "dst", [look(p) for p in plates], ["R", "G", "B"])
    frames = list(range(1001, 1013))
    train_frames, val = [1001, 1006, 1011], [1003, 1009]
    held = [f for f in frames if f not in train_frames]
    params = {"steps": 100000, "time_limit": budget, "crop_size": 96, "batch_size": 8, "learning_rate": 2e-3,
              "model_size": "small", "validation_interval": 100, "checkpoint_interval": 100000,
              "contact_sheet_interval": 100000, "threads": threads, "focus": 0.0}
    summary, out = train_and_apply(work, src, dst, train_frames, val, frames, params)
    got = [srgb_psnr(frame(out, f), frame(dst, f)) for f in held]
    base = [srgb_psnr(frame(src, f), frame(dst, f)) for f in held]
    return {"task": "look", "held_out_psnr": float(np.mean(got)), "worst_frame_psnr": float(np.min(got)),
            "identity_psnr": float(np.mean(base)), "global_colour_fit_psnr": global_colour_fit(src, dst, train_frames, held),
            "train_seconds": summary["train_seconds"], "train_cpu_seconds": summary.get("train_cpu_seconds"),
            "steps": summary["steps"], "samples_per_second": summary["samples_per_second"],
            "held_out_frames": len(held), "history": summary["history"], "checkpoint": os.path.join(work, "model.ckpt")}


def task_matte(work: str, budget: float, threads: int) -> dict:
    from filmai_plugins import color
    from filmai_plugins.frames.io import read_frame

    still = color.decode(read_frame(os.path.join(KODAK, "kodim23.png")).pixels[..., :3], "srgb")
    plates = camera_move(still, 12, 256)
    src = write_seq(os.path.join(work, "src"), "src", plates, ["R", "G", "B"])
    dst = write_seq(os.path.join(work, "dst"), "matte", [red_key(p) for p in plates], ["A"])
    frames = list(range(1001, 1013))
    train_frames, val = [1001, 1006, 1011], [1003, 1009]
    held = [f for f in frames if f not in train_frames]
    params = {"steps": 100000, "time_limit": budget, "crop_size": 96, "batch_size": 8, "learning_rate": 2e-3,
              "channels_out": "A", "validation_interval": 100, "checkpoint_interval": 100000,
              "contact_sheet_interval": 100000, "threads": threads}
    summary, out = train_and_apply(work, src, dst, train_frames, val, frames, params)
    ious, empty = [], []
    from filmai_plugins.frames.io import read_frame as rf

    for f in held:
        pred = rf(out.replace("####", f"{f:04d}")).select(["A"])[..., 0] > 0.5
        truth = frame(dst, f)[..., 0] > 0.5
        ious.append((pred & truth).sum() / max(1, (pred | truth).sum()))
        empty.append(0.0)
    return {"task": "matte", "held_out_iou": float(np.mean(ious)), "worst_frame_iou": float(np.min(ious)),
            "matte_coverage": float(np.mean([(frame(dst, f) > 0.5).mean() for f in held])),
            "train_seconds": summary["train_seconds"], "steps": summary["steps"],
            "samples_per_second": summary["samples_per_second"], "held_out_frames": len(held)}


def task_cleanup(work: str, budget: float, threads: int) -> dict:
    from filmai_plugins.frames.io import read_frame

    shots = [read_frame(os.path.join(BEACH, f"singlepart.{i:04d}.exr"), channels=["R", "G", "B"]) for i in range(1, 9)]
    # the frames' data windows differ (the ball moves): place every frame on their union
    x0 = min(s.data_window[0] for s in shots)
    y0 = min(s.data_window[1] for s in shots)
    x1 = max(s.data_window[0] + s.data_window[2] for s in shots)
    y1 = max(s.data_window[1] + s.data_window[3] for s in shots)
    clean = []
    for s in shots:
        img = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
        dx, dy = s.data_window[0] - x0, s.data_window[1] - y0
        img[dy:dy + s.height, dx:dx + s.width] = s.pixels
        clean.append(img)
    src = write_seq(os.path.join(work, "src"), "src", [damage(c, i) for i, c in enumerate(clean)], ["R", "G", "B"])
    dst = write_seq(os.path.join(work, "dst"), "dst", clean, ["R", "G", "B"])
    frames = list(range(1001, 1009))
    train_frames, val = [1001, 1004, 1007], [1003, 1006]
    held = [f for f in frames if f not in train_frames]
    params = {"steps": 100000, "time_limit": budget, "crop_size": 96, "batch_size": 8, "learning_rate": 2e-3,
              "validation_interval": 50, "checkpoint_interval": 50, "contact_sheet_interval": 100000,
              "threads": threads, "focus": 0.5}
    summary, out = train_and_apply(work, src, dst, train_frames, val, frames, params)
    got = [srgb_psnr(frame(out, f), frame(dst, f)) for f in held]
    base = [srgb_psnr(frame(src, f), frame(dst, f)) for f in held]
    # PSNR against training seconds, measured like the final figure (sRGB, whole held-out frames) on two
    # held-out frames, by applying every interval checkpoint.
    import glob

    from filmai_plugins.engine.runner import run_node
    from filmai_plugins.training.checkpoint import read_checkpoint_meta

    probe = [1002, 1005]
    probe_base = float(np.mean([srgb_psnr(frame(src, f), frame(dst, f)) for f in probe]))
    curve = []
    for ck in sorted(glob.glob(os.path.join(work, "model.train", "checkpoint_*.ckpt"))):
        state = read_checkpoint_meta(ck)["train_state"]
        o = os.path.join(work, "curve", os.path.basename(ck)[:-5], "o.####.exr")
        run_node("cnn.copycat", input=src, output=o, frames="1002,1005", model=ck, io={"pixel_type": "float"})
        curve.append({"step": state["step"], "seconds": round(state["train_seconds"], 1),
                      "psnr": round(float(np.mean([srgb_psnr(frame(o, f), frame(dst, f)) for f in probe])), 2)})
    threshold = probe_base + 6.0
    usable = next((c for c in curve if c["psnr"] >= threshold), None)
    return {"task": "cleanup", "held_out_psnr": float(np.mean(got)), "identity_psnr": float(np.mean(base)),
            "curve_identity_psnr": probe_base, "usable_threshold_psnr": threshold, "curve": curve,
            "seconds_to_usable": usable["seconds"] if usable else None, "steps_to_usable": usable["step"] if usable else None,
            "train_seconds": summary["train_seconds"], "train_cpu_seconds": summary.get("train_cpu_seconds"),
            "steps": summary["steps"], "samples_per_second": summary["samples_per_second"],
            "held_out_frames": len(held)}


def task_speed(work: str, threads: int, checkpoint: str | None) -> dict:
    import torch

    from filmai_plugins.demo import make_shot_frame
    from filmai_plugins.engine.runner import run_node, train_node
    from filmai_plugins.nodes.cnn.copycat import model as _copycat
    from filmai_plugins.training.checkpoint import load_checkpoint

    if threads:
        torch.set_num_threads(threads)
    plate, _ = make_shot_frame(1001, 1920, 1080, frames=2)
    src = write_seq(os.path.join(work, "hd"), "hd", [plate, plate], ["R", "G", "B"])
    results = {}
    for size in ("small", "medium"):
        ckpt = checkpoint if (size == "small" and checkpoint) else None
        if ckpt is None:  # weights do not change the cost; a 1-step model of this size is enough
            tiny = write_seq(os.path.join(work, f"t_{size}"), "t", [plate[:256, :256]] * 2, ["R", "G", "B"])
            ckpt = os.path.join(work, f"{size}.ckpt")
            train_node("cnn.copycat", input=tiny, target=tiny, frames="1001", out=ckpt,
                       params={"steps": 1, "model_size": size, "crop_size": 64, "batch_size": 1,
                               "threads": threads, "warmup_steps": 0})
        per_tile = {}
        for tile in (1024, 2048):  # 1024 is the engine's default; 1080p then needs 2 overlapping rows of tiles
            m = run_node("cnn.copycat", input=src, output=os.path.join(work, f"o_{size}_{tile}", "o.####.exr"),
                         frames="1001-1002", model=ckpt, io={"tile_size": tile})
            per_tile[tile] = m["timings"]["wall_s"] / 2
        per_frame = per_tile[1024]
        model = _copycat.load_model(load_checkpoint(ckpt).meta, load_checkpoint(ckpt).tensors).to(
            memory_format=torch.channels_last)
        x = torch.from_numpy(plate.transpose(2, 0, 1)[None].copy()).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            t0 = time.perf_counter()
            model(x)
            bare = time.perf_counter() - t0
        results[size] = {"run_seconds_per_frame": per_frame, "run_seconds_per_frame_tile2048": per_tile[2048],
                         "bare_forward_seconds": bare,
                         "params": int(sum(p.numel() for p in model.parameters()))}
    return {"task": "speed", "1080p": results}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=300.0, help="training seconds per task (default 300)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--tasks", default="look,matte,cleanup,speed")
    ap.add_argument("--out", default="", help="work folder (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    if not os.path.isdir(KODAK) or not os.path.isdir(BEACH):
        print(f"skipped: {SHARED} (Kodak24 and Beachball) not present")
        return 0
    work = args.out or tempfile.mkdtemp(prefix="copycat-bench-")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    results: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                     "load_average_start": load0, "threads": args.threads, "budget_s": args.budget}
    try:
        for task in tasks:
            folder = os.path.join(work, task)
            print(f"[{time.perf_counter() - t0:7.0f}s] {task} ...", flush=True)
            if task == "look":
                results["look"] = task_look(folder, args.budget, args.threads)
            elif task == "matte":
                results["matte"] = task_matte(folder, args.budget, args.threads)
            elif task == "cleanup":
                results["cleanup"] = task_cleanup(folder, args.budget, args.threads)
            elif task == "speed":
                results["speed"] = task_speed(folder, args.threads, results.get("look", {}).get("checkpoint"))
            else:
                raise SystemExit(f"unknown task {task}")
            print(json.dumps(results[task], default=str)[:2000], flush=True)
    finally:
        results["load_average_end"] = os.getloadavg()[0]
        results["wall_s"] = time.perf_counter() - t0
        os.makedirs(work, exist_ok=True)
        with open(os.path.join(work, "copycat_bench.json"), "w") as f:
            json.dump(results, f, indent=2, default=str)
        print(f"results: {os.path.join(work, 'copycat_bench.json')}")
        if not args.out:
            shutil.rmtree(work, ignore_errors=True)
    print_markdown(results)
    return 0


def print_markdown(r: dict) -> None:
    print("\n| task (3 training pairs, held-out frames) | FilmAI cnn.copycat | do nothing | goal |")
    print("|---|---|---|---|")
    if "look" in r:
        x = r["look"]
        print(f"| look: grade + glow + sharpen, Kodak kodim07 pan, PSNR sRGB | {x['held_out_psnr']:.2f} dB "
              f"(worst frame {x['worst_frame_psnr']:.2f}) after {x['train_seconds']:.0f} s / {x['steps']} steps "
              f"| {x['identity_psnr']:.2f} dB (global colour fit {x['global_colour_fit_psnr']:.2f} dB) | >= 35 dB in <= 300 s |")
    if "matte" in r:
        x = r["matte"]
        print(f"| matte RGB→A, Kodak kodim23 pan, IoU at 0.5 | {x['held_out_iou']:.3f} (worst {x['worst_frame_iou']:.3f}) "
              f"after {x['train_seconds']:.0f} s | 0 | >= 0.95 |")
    if "cleanup" in r:
        x = r["cleanup"]
        usable = f"{x['seconds_to_usable']:.0f} s ({x['steps_to_usable']} steps)" if x["seconds_to_usable"] else "not reached"
        print(f"| dust + scratch cleanup, Beachball EXR, PSNR sRGB | {x['held_out_psnr']:.2f} dB after "
              f"{x['train_seconds']:.0f} s; usable (do nothing + 6 dB) after {usable} | {x['identity_psnr']:.2f} dB | "
              "time to usable |")
        print("\ncleanup curve (2 held-out frames, sRGB PSNR): " + ", ".join(
            f"{c['seconds']:.0f} s {c['psnr']:.1f} dB" for c in x["curve"]))
    if "speed" in r:
        for size, v in r["speed"]["1080p"].items():
            print(f"| inference 1920x1080, {size} ({v['params'] / 1e6:.2f} M params) | "
                  f"{v['run_seconds_per_frame']:.2f} s/frame (filmai run: read, 1024 tiles, write); "
                  f"{v['run_seconds_per_frame_tile2048']:.2f} s with --tile-size 2048 | "
                  f"bare forward {v['bare_forward_seconds']:.2f} s | recorded |")
    sps = [r[t]["samples_per_second"] for t in ("look", "matte", "cleanup") if t in r]
    if sps:
        print(f"\ntraining throughput: {', '.join(f'{v:.1f}' for v in sps)} samples/s (96x96 crops, batch 8); "
              f"load average {r['load_average_start']:.1f} → {r['load_average_end']:.1f} on {r['machine']}; "
              f"threads {r['threads'] or 'default'}")


if __name__ == "__main__":
    sys.exit(main())
