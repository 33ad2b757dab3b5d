"""cnn.denoise side by side with Intel Open Image Denoise (pyoidn) -- quality and speed, in one run.

1. **Held-out Cycles renders** (``bench/out/cycles_pairs/eval``, scenes never trained on, rendered by
   ``recipes/render_cycles_pairs.py``): PSNR against the 256-spp reference of the noisy input, OIDN (``RT``
   filter, ``hdr``, quality ``high``) with and without the albedo/normal passes, and ``cnn.denoise`` (shipped
   model, run through the engine exactly as ``filmai run`` does) with and without them. Two figures: PSNR of
   the display image (RGB clamped to 0-1, sRGB curve; what a viewer shows) and PSNR in the ``log`` working
   encoding (scene-linear HDR included; peak 1).
2. **Fine-tuned on the shot**: for each held-out scene and each noise level (4 and 16 spp), ``filmai train
   cnn.denoise`` fine-tunes the shipped model (node defaults) on two noisy/clean frame pairs of that shot at
   that level (1001, 1004) -- what a lighter does: render a couple of frames of the shot at final quality as
   well as at the shot's sample count -- and is evaluated on the shot's other frames (1002, 1003) at the same
   level, beside OIDN on the same frames. The 4-spp model is also run on the 16-spp frames (a model tuned on
   one noise level applied to another).
3. **Seconds per 1080p frame** on this CPU: a 1920x1080 multipart EXR (beauty + passes, tiled from a held-out
   render); OIDN on the arrays vs ``cnn.denoise`` through the engine (compute time, and the whole run with
   reading and writing). Wall and CPU seconds; the machine is a shared 2-core CPU, so the load is recorded.
4. **Kodak24, AWGN sigma=25 (sRGB)** (``../shared/data/images/Kodak24``, skipped when absent): noisy, OIDN
   (``srgb`` LDR mode), and cnn.denoise on the beauty alone, beside the published CBM3D/CDnCNN/FFDNet numbers.
   Neither OIDN nor cnn.denoise is trained for Gaussian noise on photographs: an out-of-domain check.

    python bench/denoise.py            # everything; results in bench/out/denoise_bench/results.json

Needs ``pyoidn`` (``pip install -c constraints.txt -e ".[bench]"``); skips cleanly without it or without the
renders.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))
DEFAULT_PAIRS = os.path.join(HERE, "out", "cycles_pairs")
DEFAULT_OUT = os.path.join(HERE, "out", "denoise_bench")
PUBLISHED_KODAK24_SIGMA25 = {"CBM3D": 31.68, "CDnCNN": 32.03, "FFDNet": 32.13}  # notes/benchmarks.md section 5


# ----- metrics -----------------------------------------------------------------------------------------


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(peak * peak / mse)


def display_psnr(pred: np.ndarray, ref: np.ndarray) -> float:
    """PSNR of what a viewer shows: RGB clamped to 0-1 through the sRGB curve."""
    from filmai_plugins import color

    return psnr(color.encode(np.clip(pred, 0, 1), "srgb"), color.encode(np.clip(ref, 0, 1), "srgb"))


def log_psnr(pred: np.ndarray, ref: np.ndarray) -> float:
    """PSNR in the log working encoding: highlights above 1.0 count (peak 1 = scene-linear 1.0)."""
    from filmai_plugins import color

    return psnr(color.encode(pred, "log"), color.encode(ref, "log"))


# ----- OIDN --------------------------------------------------------------------------------------------


def oidn_denoise(rgb: np.ndarray, albedo: np.ndarray | None = None, normal: np.ndarray | None = None) -> np.ndarray:
    """OIDN's RT filter on scene-linear HDR (what Blender's Denoise node runs), quality high."""
    import pyoidn

    rgb = np.ascontiguousarray(np.maximum(rgb, 0.0), np.float32)  # OIDN's HDR mode takes non-negative colour
    kw = {}
    if albedo is not None:
        kw["albedo"] = np.ascontiguousarray(np.clip(albedo, 0, 1), np.float32)
    if normal is not None:
        kw["normal"] = np.ascontiguousarray(np.clip(normal, -1, 1), np.float32)
    return pyoidn.denoise(rgb, hdr=True, quality="high", **kw)


def oidn_srgb(rgb: np.ndarray) -> np.ndarray:
    """OIDN's LDR path for sRGB-encoded images (``srgb`` flag, which the convenience call does not expose)."""
    import pyoidn

    device = pyoidn.Device()
    device.commit()
    flt = pyoidn.Filter(device, "RT")
    color_in = np.ascontiguousarray(np.clip(rgb, 0, 1), np.float32)
    out = np.empty_like(color_in)
    flt.set_image("color", color_in, pyoidn.OIDN_FORMAT_FLOAT3)
    flt.set_image("output", out, pyoidn.OIDN_FORMAT_FLOAT3)
    flt.set_bool("hdr", False)
    flt.set_bool("srgb", True)
    flt.set_quality(pyoidn.OIDN_QUALITY_HIGH)
    flt.commit()
    flt.execute()
    flt.release()
    device.release()
    return out


# ----- reading renders ---------------------------------------------------------------------------------


def read_passes(path: str):
    """(beauty RGB, albedo, normal) of a Blender multilayer EXR, found as cnn.denoise finds them."""
    from filmai_plugins.frames.io import read_frame
    from filmai_plugins.nodes.cnn.denoise.aovs import resolve_layout

    frame = read_frame(path)
    layout = resolve_layout(frame)
    x = layout.network_input(frame)
    return (x[..., 0:3], x[..., 3:6] if layout.albedo else None, x[..., 6:9] if layout.normal else None)


def read_beauty(path: str) -> np.ndarray:
    return read_passes(path)[0]


def _mean(values):
    return round(float(np.mean(values)), 2) if values else None


# ----- 1. held-out renders -----------------------------------------------------------------------------


def held_out(index: dict, pairs: str, out: str, model: str | None) -> dict:
    import filmai_plugins as fa

    rows: dict[str, dict[str, list[float]]] = {}
    per_scene = []
    for entry in index["eval"]:
        folder = os.path.join(pairs, entry["folder"])
        first, last = entry["frames"]
        frames = list(range(first, last + 1))
        for spp in entry["spp"]:
            noisy_pat = os.path.join(folder, f"noisy_s{spp}.####.exr")
            outs = {}
            for mode, params in (("aux", {}), ("beauty", {"albedo": "none", "normal": "none"}),
                                 ("aux_ensemble", {"ensemble": True})):
                dst = os.path.join(out, "held_out", f"scene{entry['scene']:03d}", f"s{spp}_{mode}", "d.####.exr")
                fa.run("cnn.denoise", input=noisy_pat, output=dst, frames=f"{first}-{last}", model=model, **params)
                outs[mode] = dst
            for f in frames:
                ref = read_beauty(os.path.join(folder, f"clean.{f:04d}.exr"))
                rgb, albedo, normal = read_passes(os.path.join(folder, f"noisy_s{spp}.{f:04d}.exr"))
                results = {
                    "noisy": rgb,
                    "oidn_beauty": oidn_denoise(rgb),
                    "oidn_aux": oidn_denoise(rgb, albedo, normal),
                    "cnn_beauty": read_beauty(outs["beauty"].replace("####", f"{f:04d}")),
                    "cnn_aux": read_beauty(outs["aux"].replace("####", f"{f:04d}")),
                    "cnn_aux_ensemble": read_beauty(outs["aux_ensemble"].replace("####", f"{f:04d}")),
                }
                key = f"{spp} spp"
                for name, img in results.items():
                    rows.setdefault(key, {}).setdefault(f"{name}/display", []).append(display_psnr(img, ref))
                    rows[key].setdefault(f"{name}/log", []).append(log_psnr(img, ref))
                per_scene.append({"scene": entry["scene"], "spp": spp, "frame": f,
                                  **{n: round(display_psnr(i, ref), 2) for n, i in results.items()}})
            print(f"  held-out scene {entry['scene']} at {spp} spp done", flush=True)
    table = {spp: {k: _mean(v) for k, v in metrics.items()} for spp, metrics in rows.items()}
    # the display-PSNR means of each scene, so that any subset (the earlier, smaller evaluation set) can be
    # compared as well as the whole
    by_scene: dict[str, dict[str, dict[str, list[float]]]] = {}
    for r in per_scene:
        d = by_scene.setdefault(str(r["scene"]), {}).setdefault(f"{r['spp']} spp", {})
        for k, v in r.items():
            if k not in ("scene", "spp", "frame"):
                d.setdefault(k, []).append(v)
    scenes = {sc: {spp: {k: _mean(v) for k, v in m.items()} for spp, m in d.items()} for sc, d in by_scene.items()}
    return {"mean_psnr": table, "mean_display_psnr_by_scene": scenes, "frames": per_scene}


# ----- 2. fine-tuning on the shot ------------------------------------------------------------------------


def fine_tuned(index: dict, pairs: str, out: str, model: str | None, steps: int, scenes: int) -> dict:
    import filmai_plugins as fa

    rows: dict[str, dict[str, list[float]]] = {}
    per_frame = []
    train_info = []
    for entry in index["eval"][:scenes]:
        folder = os.path.join(pairs, entry["folder"])
        first, last = entry["frames"]
        if last - first < 3:
            continue
        fit_frames = [first, first + 3]
        test_frames = [first + 1, first + 2]
        spec = ",".join(map(str, test_frames))
        # One model per noise level, each fine-tuned on the shot's own pairs at that level.
        ckpts = {}
        for spp in entry["spp"]:
            ckpt = os.path.join(out, "fine_tune", f"scene{entry['scene']:03d}_fit_s{spp}.ckpt")
            if os.path.exists(ckpt):
                os.remove(ckpt)
            shutil.rmtree(os.path.splitext(ckpt)[0] + ".train", ignore_errors=True)
            t0 = time.perf_counter()
            manifest = fa.train("cnn.denoise", input=os.path.join(folder, f"noisy_s{spp}.####.exr"),
                                target=os.path.join(folder, "clean.####.exr"),
                                frames=",".join(map(str, fit_frames)), out=ckpt, model=model, steps=steps, seed=0)
            seconds = time.perf_counter() - t0
            ckpts[spp] = ckpt
            training = manifest.get("training") or {}
            train_info.append({"scene": entry["scene"], "fit_spp": spp, "fit_frames": fit_frames, "steps": steps,
                               "learning_rate": training.get("learning_rate"),
                               "seconds": round(seconds, 1),
                               "samples_per_second": training.get("samples_per_second")})
            print(f"  fine-tuned on scene {entry['scene']} at {spp} spp in {seconds:.0f} s", flush=True)
        lowest = min(ckpts)
        for spp in entry["spp"]:
            noisy_pat = os.path.join(folder, f"noisy_s{spp}.####.exr")
            runs = {"cnn_aux_shipped": (model, False), "cnn_aux_fine_tuned": (ckpts[spp], False),
                    "cnn_aux_fine_tuned_ensemble": (ckpts[spp], True)}
            if spp != lowest:
                runs[f"cnn_aux_fine_tuned_{lowest}spp"] = (ckpts[lowest], False)
            outputs = {}
            for name, (ckpt, ensemble) in runs.items():
                dst = os.path.join(out, "fine_tune", f"scene{entry['scene']:03d}_s{spp}_{name}", "d.####.exr")
                fa.run("cnn.denoise", input=noisy_pat, output=dst, frames=spec, model=ckpt, ensemble=ensemble)
                outputs[name] = dst
            for f in test_frames:
                ref = read_beauty(os.path.join(folder, f"clean.{f:04d}.exr"))
                rgb, albedo, normal = read_passes(os.path.join(folder, f"noisy_s{spp}.{f:04d}.exr"))
                results = {"noisy": rgb, "oidn_aux": oidn_denoise(rgb, albedo, normal)}
                results.update({name: read_beauty(dst.replace("####", f"{f:04d}")) for name, dst in outputs.items()})
                scores = {}
                for name, img in results.items():
                    scores[name] = display_psnr(img, ref)
                    rows.setdefault(f"{spp} spp", {}).setdefault(f"{name}/display", []).append(scores[name])
                    rows[f"{spp} spp"].setdefault(f"{name}/log", []).append(log_psnr(img, ref))
                per_frame.append({"scene": entry["scene"], "spp": spp, "frame": f,
                                  "display_psnr": {k: round(v, 3) for k, v in scores.items()}})
    table = {spp: {k: _mean(v) for k, v in metrics.items()} for spp, metrics in rows.items()}
    return {"mean_psnr": table, "per_frame": per_frame, "training": train_info}


# ----- 3. speed ------------------------------------------------------------------------------------------


def _timed(fn, repeats: int = 2) -> tuple[float, float]:
    """(best wall seconds, CPU seconds of that run) over ``repeats`` runs."""
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if wall < best[0]:
            best = (wall, cpu)
    return round(best[0], 2), round(best[1], 2)


def speed(index: dict, pairs: str, out: str, model: str | None) -> dict:
    import filmai_plugins as fa
    import torch

    entry = index["eval"][0]
    src = os.path.join(pairs, entry["folder"], f"noisy_s{entry['spp'][0]}.{entry['frames'][0]:04d}.exr")
    rgb, albedo, normal = read_passes(src)
    reps = (math.ceil(1080 / rgb.shape[0]), math.ceil(1920 / rgb.shape[1]), 1)
    big = [np.ascontiguousarray(np.tile(a, reps)[:1080, :1920]) for a in (rgb, albedo, normal)]
    folder = os.path.join(out, "speed")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "hd.1001.exr")
    _write_blender_exr(path, *big)
    oidn_aux = _timed(lambda: oidn_denoise(*big))
    oidn_beauty = _timed(lambda: oidn_denoise(big[0]))

    manifests: dict[bool, list] = {False: [], True: []}

    def run_cnn(ensemble: bool):
        dst = os.path.join(folder, "den_ens" if ensemble else "den", "hd.####.exr")
        manifests[ensemble].append(fa.run("cnn.denoise", input=os.path.join(folder, "hd.####.exr"), output=dst,
                                          frames="1001", model=model, ensemble=ensemble))

    cnn = _timed(lambda: run_cnn(False))
    # the 8-pass self-ensemble is timed once: at about 8x it dwarfs the machine's run-to-run spread
    cnn_ensemble = _timed(lambda: run_cnn(True), repeats=1)
    compute = min(m["timings"]["compute_s"] for m in manifests[False])
    return {"frame": "1920x1080, beauty + albedo + normal (multipart EXR)",
            "oidn_aux": {"wall_s": oidn_aux[0], "cpu_s": oidn_aux[1]},
            "oidn_beauty": {"wall_s": oidn_beauty[0], "cpu_s": oidn_beauty[1]},
            "cnn_denoise_run": {"wall_s": cnn[0], "cpu_s": cnn[1], "compute_s": round(compute, 2),
                                "tile_size": manifests[False][-1]["io"]["tile_size"]},
            "cnn_denoise_ensemble_run": {"wall_s": cnn_ensemble[0], "cpu_s": cnn_ensemble[1],
                                         "compute_s": round(manifests[True][-1]["timings"]["compute_s"], 2)},
            "torch_threads": torch.get_num_threads(), "load_average": [round(x, 1) for x in os.getloadavg()]}


def _write_blender_exr(path: str, rgb: np.ndarray, albedo: np.ndarray, normal: np.ndarray) -> None:
    import OpenImageIO as oiio

    h, w, _ = rgb.shape
    rgba = np.concatenate([rgb, np.ones((h, w, 1), np.float32)], -1)
    parts = [("ViewLayer.Combined", rgba, [f"ViewLayer.Combined.{c}" for c in "RGBA"]),
             ("ViewLayer.Denoising Normal", normal, [f"ViewLayer.Denoising Normal.{c}" for c in "XYZ"]),
             ("ViewLayer.Denoising Albedo", albedo, [f"ViewLayer.Denoising Albedo.{c}" for c in "RGB"])]
    specs = []
    for name, px, chans in parts:
        spec = oiio.ImageSpec(w, h, px.shape[2], "half")
        spec.channelnames = tuple(chans)
        spec.attribute("name", name)
        spec.attribute("compression", "zip")
        specs.append(spec)
    out = oiio.ImageOutput.create(path)
    if not out.open(path, specs):
        raise RuntimeError(out.geterror())
    for i, (_, px, _) in enumerate(parts):
        if i and not out.open(path, specs[i], "AppendSubimage"):
            raise RuntimeError(out.geterror())
        out.write_image(np.ascontiguousarray(px, np.float32))
    out.close()


# ----- 4. Kodak24 AWGN -----------------------------------------------------------------------------------


def kodak(out: str, model: str | None, sigma: float = 25.0) -> dict | None:
    import OpenImageIO as oiio

    import filmai_plugins as fa
    from filmai_plugins import color
    from filmai_plugins.frames.image import Frame
    from filmai_plugins.frames.io import read_frame, write_frame

    folder = os.path.join(SHARED, "images", "Kodak24")
    if not os.path.isdir(folder):
        return None
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))
    rng = np.random.default_rng(0)
    work = os.path.join(out, "kodak")
    os.makedirs(work, exist_ok=True)
    cleans, noisies = [], []
    for i, name in enumerate(names):
        buf = oiio.ImageBuf(os.path.join(folder, name))
        clean = np.asarray(buf.get_pixels(oiio.FLOAT), np.float32)[..., :3]
        noisy = clean + rng.normal(0.0, sigma / 255.0, clean.shape).astype(np.float32)
        cleans.append(clean)
        noisies.append(noisy)
        # cnn.denoise works on scene-linear light: the sRGB-encoded noisy photo, linearised (sign kept)
        write_frame(os.path.join(work, f"noisy.{1001 + i:04d}.exr"),
                    Frame.from_array(color.decode(noisy, "srgb"), ["R", "G", "B"]))
    frames = f"1001-{1000 + len(names)}"
    fa.run("cnn.denoise", input=os.path.join(work, "noisy.####.exr"), output=os.path.join(work, "den", "d.####.exr"),
           frames=frames, model=model, albedo="none", normal="none", io={"pixel_type": "float"})
    scores = {"noisy": [], "oidn_srgb": [], "cnn_beauty": []}
    for i, (clean, noisy) in enumerate(zip(cleans, noisies)):
        ours = color.encode(read_frame(os.path.join(work, "den", f"d.{1001 + i:04d}.exr")).pixels, "srgb")
        for key, img in (("noisy", noisy), ("oidn_srgb", oidn_srgb(noisy)), ("cnn_beauty", ours)):
            # the usual protocol: RGB on the 0-255 scale, output clipped to the valid range
            scores[key].append(psnr(np.clip(img, 0, 1), clean))
    return {"images": len(names), "sigma": sigma, "mean_psnr_rgb": {k: _mean(v) for k, v in scores.items()},
            "published": PUBLISHED_KODAK24_SIGMA25}


# ----- main ----------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", default=DEFAULT_PAIRS)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--model", default=None, help="checkpoint to evaluate (default: the shipped model)")
    ap.add_argument("--fine-tune-steps", type=int, default=1000)
    ap.add_argument("--fine-tune-scenes", type=int, default=3,
                    help="fine-tune on the first N held-out scenes (two fine-tunes each, ~10 minutes apiece on a "
                         "2-core CPU; the first 3 are the scenes of the earlier evaluation)")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: held_out,fine_tune,speed,kodak")
    args = ap.parse_args(argv)
    try:
        import pyoidn  # noqa: F401
    except ImportError:
        print("skipped: pyoidn is not installed (pip install -c constraints.txt -e '.[bench]')")
        return 0
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    index_path = os.path.join(args.pairs, "pairs.json")
    index = None
    if os.path.isfile(index_path):
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    results: dict = {"machine": f"{os.cpu_count()}-core CPU (shared)", "model": args.model or "shipped"}
    t0 = time.perf_counter()
    if index and index.get("eval"):
        if "held_out" not in skip:
            print("held-out Cycles renders ...", flush=True)
            results["held_out"] = held_out(index, args.pairs, args.out, args.model)
        if "fine_tune" not in skip:
            print("fine-tuning on each held-out shot ...", flush=True)
            results["fine_tune"] = fine_tuned(index, args.pairs, args.out, args.model, args.fine_tune_steps,
                                              args.fine_tune_scenes)
        if "speed" not in skip:
            print("1080p timing ...", flush=True)
            results["speed_1080p"] = speed(index, args.pairs, args.out, args.model)
    else:
        print(f"skipped the render comparisons: no held-out renders at {args.pairs} "
              "(run recipes/render_cycles_pairs.py)", flush=True)
    if "kodak" not in skip:
        print("Kodak24 sigma=25 ...", flush=True)
        k = kodak(args.out, args.model)
        if k is None:
            print(f"  skipped: {SHARED}/images/Kodak24 not present", flush=True)
        else:
            results["kodak24_awgn25"] = k
    results["wall_s"] = round(time.perf_counter() - t0, 1)
    path = os.path.join(args.out, "results.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    os.replace(path + ".tmp", path)
    print(json.dumps({k: v for k, v in results.items() if k not in ("held_out",)} |
                     ({"held_out": results["held_out"]["mean_psnr"]} if "held_out" in results else {}), indent=1))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
