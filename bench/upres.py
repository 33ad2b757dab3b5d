#!/usr/bin/env python
"""Benchmark ``gan.upres`` on Set5 against bicubic and Lanczos, in one run, and time 1080p→4K frames.

Quality (Set5, ../shared/data/images/Set5; never used in training):
    convention of /work/shared/notes/benchmarks.md §4: modcrop to the factor, LR = MATLAB-style
    antialiased bicubic downscale rounded to 8-bit, PSNR on BT.601 luma (Y) with the border shaved by
    the factor, results rounded to 8-bit first. This reproduces the published bicubic x4 figure, 28.43 dB.
    Methods side by side: bicubic (MATLAB ``imresize``), Lanczos-3 (OpenImageIO ``resize``), the model in
    PSNR mode, in sharp (GAN) mode, and blended at sharpness 0.5 and 0.6 (the node's default).
Sharpness (weight-free; no downloaded networks): luma gradient-magnitude ratio SR/HR (1.0 = as much edge
    contrast as the ground truth; blur is below 1), Laplacian energy ratio, and the sliced Wasserstein
    distance between Laplacian-pyramid 7x7 patches of SR and HR (ProGAN's texture statistic; lower is
    closer to the real image's texture).
Speed: seconds per frame for a 1920x1080 EXR → 3840x2160 (x2) and 960x540 → 3840x2160 (x4) through
    the real node (``filmai_plugins.run``: read, tiles, colour, write), beside OpenImageIO's Lanczos.

Community models: ``--community FILE`` (repeatable) adds a downloaded ``.pth``/``.safetensors`` (ESRGAN,
    Real-ESRGAN, SRVGGNetCompact, …) read through the node's own loader, beside the shipped model, for the
    factor it has. By default the Real-ESRGAN-architecture model made by recipes/train_upres_realesrgan.py
    (bench/out/realesrgan_small_x4.safetensors) is added when it exists. Beside Set5, the two Kodak24
    photographs no model trained on (kodim23/24, the recipes' validation pair) are scored the same way.
Every row records CPU seconds beside wall seconds, and the run records the machine and the load average
    before and after (the machine is shared: wall time alone misleads).

    python bench/upres.py [--models nodes/gan/models] [--community FILE] [--skip-speed | --skip-quality]
        [--json bench/out/upres.json]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SET5 = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "images", "Set5"))
KODAK = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "images", "Kodak24"))
KODAK_HELD_OUT = ("kodim23.png", "kodim24.png")  # the recipes' validation pair: never trained on
RECIPE_MODEL = os.path.join(HERE, "out", "realesrgan_small_x4.safetensors")


def lanczos(lr: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(np.ascontiguousarray(lr, dtype=np.float32))
    roi = oiio.ROI(0, out_hw[1], 0, out_hw[0], 0, 1, 0, lr.shape[2])
    out = oiio.ImageBufAlgo.resize(buf, filtername="lanczos3", roi=roi)
    return np.asarray(out.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(out_hw[0], out_hw[1], lr.shape[2])


def evaluate_quality(models: str, scales: list[int], community: list[str] = (), files: list[str] | None = None,
                     key_suffix: str = "") -> dict:
    from filmai_plugins.nodes.gan.upres import data
    from filmai_plugins.nodes.gan.upres.community import load_community
    from filmai_plugins.nodes.gan.upres.model import Upscaler, hdr_safe
    from filmai_plugins.training.checkpoint import load_checkpoint

    files = files or sorted(glob.glob(os.path.join(SET5, "*.png")))
    extra = [load_community(p) for p in community if os.path.isfile(p)]
    results: dict = {}
    for scale in scales:
        path = os.path.join(models, f"upres_x{scale}.ckpt")
        ckpt = load_checkpoint(path, expect_node="gan.upres") if os.path.isfile(path) else None
        methods: dict = {"bicubic": lambda lr, hw: data.imresize(lr, hw),
                         "lanczos3 (OIIO)": lanczos}
        if ckpt is not None:
            for label, sharp, ens in (("gan.upres psnr", 0.0, False), ("gan.upres psnr, ensemble=true", 0.0, True),
                                      ("gan.upres sharp 0.5", 0.5, False),
                                      ("gan.upres sharp 0.6 (the node's default)", 0.6, False),
                                      ("gan.upres sharp", 1.0, False)):
                up = Upscaler(ckpt, sharpness=sharp, ensemble=ens)
                run = hdr_safe(up, scale)
                # Set5 is sRGB; the models' working encoding is sRGB over linear Rec.709, so the node's
                # conversion (sRGB file → linear → sRGB encoding) is the identity and is skipped here.
                methods[label] = (lambda r: (lambda lr, hw: r(lr[None])[0]))(run)
        for model in extra:
            if model.meta["scale"] != scale:
                continue
            label = f"{model.meta['community']['description']} — {os.path.basename(model.path)}"
            run = hdr_safe(Upscaler(model), scale, "srgb")  # the node's path: sRGB in 0-1 in and out
            methods[label] = (lambda r: (lambda lr, hw: r(data.srgb_to_linear(lr)[None])[0]))(run)
            methods[label].decode = True
        per: dict = {m: {"psnr_y": [], "gradient": [], "highfreq": [], "swd": [], "seconds": 0.0, "cpu_s": 0.0}
                     for m in methods}
        for f in files:
            hr = data.modcrop(data.read_rgb(f), scale)
            h, w = hr.shape[:2]
            lr = data.quantize8(data.imresize(hr, (h // scale, w // scale)))
            for m, fn in methods.items():
                t0, c0 = time.perf_counter(), time.process_time()
                sr = fn(lr, (h, w))
                if getattr(fn, "decode", False):  # community rows ran on linear light, as in the node
                    sr = data.linear_to_srgb(sr)
                sr = np.clip(sr, 0, 1)
                per[m]["seconds"] += time.perf_counter() - t0
                per[m]["cpu_s"] += time.process_time() - c0
                per[m]["psnr_y"].append(data.psnr_y(sr, hr, scale))
                sharp = data.sharpness_ratios(sr, hr, scale)
                per[m]["gradient"].append(sharp["gradient"])
                per[m]["highfreq"].append(sharp["highfreq"])
                per[m]["swd"].append(data.laplacian_swd(sr, hr))
        results[f"x{scale}{key_suffix}"] = {
            "model": os.path.relpath(path, REPO) if ckpt is not None else None,
            "model_sha256": ckpt.sha256 if ckpt is not None else None,
            "images": [os.path.basename(f) for f in files],
            "methods": {m: {"psnr_y": round(float(np.mean(v["psnr_y"])), 3),
                            "psnr_y_per_image": [round(x, 2) for x in v["psnr_y"]],
                            "gradient_ratio": round(float(np.mean(v["gradient"])), 3),
                            "highfreq_ratio": round(float(np.mean(v["highfreq"])), 3),
                            "laplacian_swd": round(float(np.mean(v["swd"])), 2),
                            "seconds_total": round(v["seconds"], 2), "cpu_seconds_total": round(v["cpu_s"], 2)}
                        for m, v in per.items()},
        }
        if ckpt is None:
            results[f"x{scale}{key_suffix}"]["note"] = f"{path} not found: model rows skipped"
    return results


def _speed_plate(width: int, height: int) -> np.ndarray:
    """A real photograph tiled to the frame size (Kodak24), as scene-linear RGBA with a soft alpha."""
    from filmai_plugins.nodes.gan.upres import data

    src = data.srgb_to_linear(data.read_rgb(sorted(glob.glob(os.path.join(KODAK, "*.png")))[0]))
    reps = (-(-height // src.shape[0]), -(-width // src.shape[1]), 1)
    rgb = np.tile(src, reps)[:height, :width]
    y, x = np.mgrid[0:height, 0:width]
    alpha = np.clip(1.5 - np.hypot(x - width / 2, y - height / 2) / (0.4 * width), 0, 1)[:, :, None]
    return np.concatenate([rgb * alpha, alpha], axis=2).astype(np.float32)


def evaluate_speed(models: str, threads: int) -> dict:
    import OpenImageIO as oiio
    import torch

    import filmai_plugins

    torch.set_num_threads(threads)
    out: dict = {"torch_threads": threads}
    with tempfile.TemporaryDirectory(prefix="filmai-upres-bench-") as tmp:
        for scale, (w, h) in ((2, (1920, 1080)), (4, (960, 540))):
            model = os.path.join(models, f"upres_x{scale}.ckpt")
            if not os.path.isfile(model):
                continue
            src = os.path.join(tmp, f"in{scale}.0001.exr")
            spec = oiio.ImageSpec(w, h, 4, "half")
            spec.channelnames = ("R", "G", "B", "A")
            buf = oiio.ImageBuf(spec)
            buf.set_pixels(oiio.ROI(0, w, 0, h, 0, 1, 0, 4), _speed_plate(w, h))
            buf.write(src)
            t0 = time.perf_counter()
            res = oiio.ImageBufAlgo.resize(oiio.ImageBuf(src), filtername="lanczos3",
                                           roi=oiio.ROI(0, w * scale, 0, h * scale, 0, 1, 0, 4))
            res.write(os.path.join(tmp, f"lanczos{scale}.exr"))
            t_lanczos = time.perf_counter() - t0
            # the machine is shared: the 1-minute load average says how much of it this measurement had
            row = {"input": f"{w}x{h}", "output": f"{w * scale}x{h * scale}", "lanczos3_oiio_s": round(t_lanczos, 2),
                   "load_average_before": round(os.getloadavg()[0], 2)}
            for mode in ("psnr", "sharp"):
                manifest = filmai_plugins.run("gan.upres", input=os.path.join(tmp, f"in{scale}.####.exr"),
                                              output=os.path.join(tmp, f"out{scale}{mode}.####.exr"), frames="1",
                                              model=model, device="cpu", scale=scale, mode=mode)
                row[f"gan.upres_{mode}_s"] = round(manifest["timings"]["wall_s"], 2)
                row[f"gan.upres_{mode}_compute_s"] = round(manifest["timings"]["compute_s"], 2)
            row["load_average_after"] = round(os.getloadavg()[0], 2)
            out[f"x{scale}"] = row
    return out


def markdown(results: dict) -> str:
    lines = []
    if results.get("machine"):
        lines += [f"Machine: {results['machine']}; torch {results.get('torch')}, {results.get('threads')} thread(s); "
                  f"load average {results.get('load_average_before')} before, {results.get('load_average_after')} "
                  f"after; {results.get('wall_s')} s wall, {results.get('cpu_s')} s CPU.", ""]
    for key in ("x4", "x2", "x4_kodak_heldout", "x2_kodak_heldout"):
        r = results.get("quality", {}).get(key)
        if not r:
            continue
        title = "Set5" if "kodak" not in key else "Kodak24 held out (kodim23, kodim24)"
        factor = key.split("_")[0]
        lines += [f"**{title} {factor}** (Y PSNR, shave {factor[1:]}; sharpness vs ground truth)", "",
                  "| method | PSNR-Y dB | gradient ratio | Laplacian energy ratio | Laplacian SWD ↓ | CPU s |",
                  "|---|---|---|---|---|---|"]
        for m, v in r["methods"].items():
            lines.append(f"| {m} | {v['psnr_y']:.2f} | {v['gradient_ratio']:.3f} | {v['highfreq_ratio']:.3f} | "
                         f"{v['laplacian_swd']:.1f} | {v.get('cpu_seconds_total', float('nan')):.1f} |")
        lines.append("")
    sp = results.get("speed")
    if sp:
        lines += ["**Seconds per frame to 3840x2160** (one RGBA half EXR, read + process + write)", "",
                  "| factor | input | Lanczos-3 (OIIO) | gan.upres psnr | gan.upres sharp |", "|---|---|---|---|---|"]
        for key in ("x2", "x4"):
            if key in sp:
                v = sp[key]
                lines.append(f"| {key} | {v['input']} | {v['lanczos3_oiio_s']:.1f} | {v['gan.upres_psnr_s']:.1f} | "
                             f"{v['gan.upres_sharp_s']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=os.path.join(REPO, "nodes", "gan", "upres", "models"))
    p.add_argument("--scales", default="4,2")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-quality", action="store_true", help="only the speed phase (a re-run on a quieter machine)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--community", action="append", metavar="FILE",
                   help="a community model (.pth/.safetensors) to score beside the shipped one (repeatable; default: "
                        "the recipe's Real-ESRGAN-architecture model when bench/out has it)")
    p.add_argument("--json", default=os.path.join(HERE, "out", "upres.json"))
    args = p.parse_args(argv)
    if not os.path.isdir(SET5):
        print(f"skip: {SET5} not found (benchmark data lives in ../shared/data)")
        return 0
    import torch

    torch.set_num_threads(args.threads)
    results: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
                     "python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
                     "load_average_before": round(os.getloadavg()[0], 2)}
    t0, c0 = time.perf_counter(), time.process_time()
    community = args.community if args.community is not None else [RECIPE_MODEL]
    missing = [c for c in community if not os.path.isfile(c)]
    if missing:
        results["community_missing"] = missing
        print(f"note: not found, rows skipped: {', '.join(missing)} (make the recipe's model with "
              "recipes/train_upres_realesrgan.py)")
    if not args.skip_quality:
        scales = [int(s) for s in args.scales.split(",")]
        results["quality"] = evaluate_quality(args.models, scales, community)
        held_out = [os.path.join(KODAK, f) for f in KODAK_HELD_OUT if os.path.isfile(os.path.join(KODAK, f))]
        if held_out:
            results["quality"].update(evaluate_quality(args.models, scales, community, held_out, "_kodak_heldout"))
    if not args.skip_speed and os.path.isdir(KODAK):
        results["speed"] = evaluate_speed(args.models, args.threads)
    results["wall_s"] = round(time.perf_counter() - t0, 1)
    results["cpu_s"] = round(time.process_time() - c0, 1)
    results["load_average_after"] = round(os.getloadavg()[0], 2)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    print(markdown(results))
    print(f"\n(full results: {args.json}; {results['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
