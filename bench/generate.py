"""gan.generate on real clips: sliced Wasserstein distance to held-out frames (appearance) and to held-out frame
differences (motion), side by side with simple baselines, and generation speed. One run, one table.

For each clip built by recipes/train_generate.py (stream, screen, beachball) and its trained model:

  gan.generate       4 takes (seeds 0-3) as long as the held-out part, through `filmai run` (EXR written)
  gan.generate @1000 the same seeds 1000 frames into their motion (does a long render stay on the element?)
  dynamic texture    PCA of the training frames + a linear Gaussian AR(1) model of the PCA coefficients
                     (Doretto et al. 2003), sampled as 4 takes: the classic "Gaussian model of frames" with motion
  PCA-Gaussian       independent Gaussian samples of the PCA coefficients (frames without motion model)
  training frames    for each held-out block, as many training frames just before it (real footage next to it)
  all training frames every training frame: what a generator that had learnt the clip perfectly would give.
                     A baseline that scores below this row is closer to the held-out part than the footage
                     itself, and "beating" it then asks a model for something other than the clip it learnt

Metrics, all on the same frames at the model's resolution, sRGB-encoded RGB clipped to 0-1 (as ProGAN's 8-bit
images):

  SWD frames   ProGAN's sliced Wasserstein distance (Karras et al. 2018, implemented here): Laplacian pyramid
               down to 16 px, 7x7 neighbourhoods sampled at random per level, each set normalised by its own
               per-channel mean/std (ProGAN's convention), 16384 per set and level, 4 x 128 random
               directions; x1e3, averaged over levels
  SWD motion   the same on frame differences x[t+1] - x[t] (inside each held-out block, never across a gap), both
               sets normalised by the held-out set's statistics (per-set normalisation would erase how much
               things move)
  motion       mean |x[t+1] - x[t]| (0-1 display units), beside the held-out clip's
  seed spread  mean |take - mean of the takes| at the same frame (0-1 display units): near 0 means every seed
               gives the same clip (a collapsed generator)

    python bench/generate.py [--clips stream,screen,beachball] [--takes 4] [--threads 1] [--json out.json]

Skips cleanly when ../shared/data or the trained models are absent (train them with recipes/train_generate.py).
Writes bench/out/generate/results.json and, per clip, compare_<clip>.png (rows: held-out frames, gan.generate,
gan.generate @1000, dynamic texture, PCA-Gaussian).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "recipes"))
import train_generate as tg  # noqa: E402

SWD_PATCH = 7
SWD_DIRS = 128
SWD_REPEATS = 4
SWD_MIN_SIZE = 16
#: neighbourhoods drawn per set and level, spread evenly over its images
SWD_DESCRIPTORS = 16384


# ----- sliced Wasserstein distance on Laplacian pyramids ------------------------------------------


def _blur(x: np.ndarray) -> np.ndarray:
    """Separable 5-tap binomial blur ([1 4 6 4 1]/16) of (N, C, H, W), edges reflected."""
    k = np.array([1, 4, 6, 4, 1], np.float32) / 16.0
    p = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
    h = sum(k[i] * p[:, :, :, i:i + x.shape[3]] for i in range(5))
    return sum(k[i] * h[:, :, i:i + x.shape[2], :] for i in range(5))


def _down(x: np.ndarray) -> np.ndarray:
    return _blur(x)[:, :, ::2, ::2]


def _up(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    up = np.zeros(x.shape[:2] + shape, np.float32)
    up[:, :, ::2, ::2] = x
    return _blur(up) * 4.0


def laplacian_pyramid(x: np.ndarray, min_size: int = SWD_MIN_SIZE) -> list[np.ndarray]:
    """Band-pass levels, finest first, ending with the low-pass residual whose long side is >= min_size."""
    levels = []
    cur = x.astype(np.float32)
    while max(cur.shape[2:]) // 2 >= min_size and min(cur.shape[2:]) // 2 >= SWD_PATCH:
        small = _down(cur)
        levels.append(cur - _up(small, cur.shape[2:]))
        cur = small
    levels.append(cur)
    return levels


def descriptors(level: np.ndarray, per_image: int, rng: np.random.Generator) -> np.ndarray:
    """Random 7x7 neighbourhoods of every image of a level: (N * per_image, C, 7, 7)."""
    n, c, h, w = level.shape
    ys = rng.integers(0, h - SWD_PATCH + 1, size=(n, per_image))
    xs = rng.integers(0, w - SWD_PATCH + 1, size=(n, per_image))
    dy, dx = np.mgrid[0:SWD_PATCH, 0:SWD_PATCH]
    rows = (ys[:, :, None, None] + dy).reshape(n, -1)
    cols = (xs[:, :, None, None] + dx).reshape(n, -1)
    patches = level[np.arange(n)[:, None], :, rows, cols]  # (N, P*49, C)
    return patches.reshape(n, per_image, SWD_PATCH, SWD_PATCH, c).transpose(0, 1, 4, 2, 3).reshape(-1, c, SWD_PATCH, SWD_PATCH)


def _normalise(desc: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    mean, std = stats if stats is not None else _stats(desc)
    return ((desc - mean) / std).reshape(len(desc), -1)


def _stats(desc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = desc.mean(axis=(0, 2, 3), keepdims=True)
    std = desc.std(axis=(0, 2, 3), keepdims=True) + 1e-8
    return mean, std


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> float:
    """Mean over random unit directions of the 1-D Wasserstein-1 distance between the projections.

    Sets of different sizes are compared through their quantile functions on a common grid (equal sizes:
    exactly the sorted-difference form ProGAN uses).
    """
    n = min(len(a), len(b))
    q = (np.arange(n) + 0.5) / n
    values = []
    for _ in range(SWD_REPEATS):
        dirs = rng.standard_normal((a.shape[1], SWD_DIRS)).astype(np.float32)
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        # (directions, samples), each row contiguous: sorting rows is ~10x faster than sorting columns
        pa = _quantiles(np.sort(np.ascontiguousarray((a @ dirs).T), axis=1), q)
        pb = _quantiles(np.sort(np.ascontiguousarray((b @ dirs).T), axis=1), q)
        values.append(float(np.abs(pa - pb).mean()))
    return float(np.mean(values))


def _quantiles(sorted_values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles at ``q`` of each row of an array sorted along its rows (linear interpolation)."""
    n = sorted_values.shape[1]
    if n == len(q):
        return sorted_values
    pos = q * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    w = pos - lo
    return sorted_values[:, lo] * (1.0 - w) + sorted_values[:, hi] * w


def swd(real: np.ndarray, fake: np.ndarray, *, reference_stats: bool = False, seed: int = 0) -> list[float]:
    """SWD x1e3 per pyramid level (finest first) between image sets (N, C, H, W)."""
    rng = np.random.default_rng(seed)
    pr, pf = laplacian_pyramid(real), laplacian_pyramid(fake)
    out = []
    for lr, lf in zip(pr, pf):
        dr = descriptors(lr, -(-SWD_DESCRIPTORS // len(lr)), rng)
        df = descriptors(lf, -(-SWD_DESCRIPTORS // len(lf)), rng)
        if reference_stats:
            stats = _stats(dr)
            a, b = _normalise(dr, stats), _normalise(df, stats)
        else:
            a, b = _normalise(dr), _normalise(df)
        out.append(1e3 * sliced_wasserstein(a, b, rng))
    return out


# ----- baselines: Gaussian models of the frames ---------------------------------------------------------


class PCAModel:
    """PCA of the training frames in the log working encoding (what the GAN learns from), with a Gaussian
    over the coefficients and a linear AR(1) model of how they move (a dynamic texture)."""

    def __init__(self, frames: np.ndarray, runs: list[np.ndarray] | None = None, variance: float = 0.99,
                 max_components: int = 128):
        """``runs``: index arrays of consecutive frames (the AR(1) model learns from pairs inside a run, never
        across a gap left by held-out frames); one run of all frames when omitted."""
        n = len(frames)
        self.shape = frames.shape[1:]
        x = frames.reshape(n, -1).astype(np.float64)
        self.mean = x.mean(axis=0)
        u, s, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        energy = np.cumsum(s ** 2) / np.sum(s ** 2)
        k = int(min(max_components, n - 1, np.searchsorted(energy, variance) + 1))
        self.components = vt[:k]
        coef = (x - self.mean) @ self.components.T  # (n, k)
        self.coef = coef
        self.std = coef.std(axis=0) + 1e-8
        # AR(1): c[t+1] = A c[t] + v, least squares with a little ridge; eigenvalues kept inside the unit circle
        runs = [np.arange(n)] if runs is None else runs
        c0 = np.concatenate([coef[r[:-1]] for r in runs if len(r) > 1])
        c1 = np.concatenate([coef[r[1:]] for r in runs if len(r) > 1])
        ridge = 1e-3 * np.trace(c0.T @ c0) / k
        a = np.linalg.solve(c0.T @ c0 + ridge * np.eye(k), c0.T @ c1).T
        w, v = np.linalg.eig(a)
        if np.abs(w).max() > 0.995:
            w = np.where(np.abs(w) > 0.995, w / np.abs(w) * 0.995, w)
            a = np.real(v @ np.diag(w) @ np.linalg.inv(v))
        self.a = a
        resid = c1 - c0 @ a.T
        self.noise = np.linalg.cholesky(np.cov(resid.T) + 1e-8 * np.eye(k))
        self.k = k

    def _decode(self, coef: np.ndarray) -> np.ndarray:
        return (self.mean + coef @ self.components).reshape((len(coef),) + self.shape).astype(np.float32)

    def iid(self, count: int, rng: np.random.Generator) -> np.ndarray:
        return self._decode(rng.standard_normal((count, self.k)) * self.std)

    def dynamic(self, count: int, rng: np.random.Generator) -> np.ndarray:
        c = self.coef[rng.integers(0, len(self.coef))].copy()  # start on a real state
        for _ in range(50):  # then run into the model's own stationary behaviour
            c = self.a @ c + self.noise @ rng.standard_normal(self.k)
        out = []
        for _ in range(count):
            c = self.a @ c + self.noise @ rng.standard_normal(self.k)
            out.append(c.copy())
        return self._decode(np.stack(out))


# ----- evaluation ---------------------------------------------------------------------------------


def display(linear: np.ndarray) -> np.ndarray:
    """(N, H, W, C) scene-linear → (N, 3, H, W) sRGB-encoded RGB in 0-1 (the frames the metrics see)."""
    from filmai_plugins import color

    rgb = np.clip(linear[..., :3], 0.0, 1.0)
    return np.ascontiguousarray(color.encode(rgb, "srgb").transpose(0, 3, 1, 2).astype(np.float32))


def read_clip(pattern: str, frames: list[int], width: int, height: int, channels: list[str]) -> np.ndarray:
    """Frames resized to the model's size as training does (OpenImageIO filtered resize, linear light)."""
    from filmai_plugins.frames import read_frame
    from filmai_plugins.nodes.gan.generate.train import _resize

    out = []
    for f in frames:
        fr = read_frame(pattern.replace("####", f"{f:04d}"), channels=channels)
        out.append(_resize(fr.to_display_window(), width, height))
    return np.stack(out)


def motion_energy(clips: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(np.diff(c, axis=0)).mean() for c in clips if len(c) > 1]))


def seed_spread(clips: list[np.ndarray]) -> float | None:
    """Mean |take - mean of the takes| at the same frame: how different the seeds are (0 when a generator
    ignores its seed, i.e. has collapsed); None for a single clip."""
    if len(clips) < 2:
        return None
    takes = np.stack(clips)
    return float(np.abs(takes - takes.mean(axis=0, keepdims=True)).mean())


def differences(clips: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.diff(c, axis=0) for c in clips if len(c) > 1])


def evaluate(name: str, model: str, takes: int, work: str) -> dict:
    import filmai_plugins as fa
    from filmai_plugins.frames import read_frame
    from filmai_plugins.training.checkpoint import load_checkpoint
    from filmai_plugins.training.datasets import ChannelCodec
    from filmai_plugins.training.loop import model_tensors

    ckpt = load_checkpoint(model, expect_node="gan.generate")
    arch, channels = ckpt.meta["arch"], ckpt.meta["channels"]
    w, h = arch["width"], arch["height"]
    pattern = tg.clip_pattern(name)
    blocks = tg.held_out_blocks(name)
    held = tg.held_out_frames(name)
    n = len(held)
    train_frames = tg.training_frame_list(name)
    real = read_clip(pattern, held, w, h, channels)
    train = read_clip(pattern, train_frames, w, h, channels)
    real_d = display(real)
    # the held-out blocks as separate clips, so no frame difference spans a gap
    edges = np.cumsum([0] + [len(b) for b in blocks])
    real_blocks = [real_d[a:b] for a, b in zip(edges[:-1], edges[1:])]

    # gan.generate through the real command path: frames as EXRs, then read back
    gan_clips, long_clips, fps = [], [], []
    for seed in range(takes):
        out = os.path.join(work, name, f"seed{seed}", "gen.####.exr")
        m = fa.run("gan.generate", model=model, output=out, frames=f"1-{n}", seed=seed)
        fps.append(m["results"]["frames_per_second"])
        gan_clips.append(np.stack([read_frame(out.replace("####", f"{f:04d}")).pixels for f in range(1, n + 1)]))
        out_long = os.path.join(work, name, f"long{seed}", "gen.####.exr")
        fa.run("gan.generate", model=model, output=out_long, frames=f"1001-{1000 + n}", seed=seed)
        long_clips.append(np.stack([read_frame(out_long.replace("####", f"{f:04d}")).pixels
                                    for f in range(1001, 1001 + n)]))

    # the network alone (no EXR writing): frames per second of generation
    import torch

    from filmai_plugins.nodes.gan.generate.render import GenerationSettings, codec_from_meta, generate_clip, load_generator

    g, a = load_generator(ckpt)
    t0 = time.perf_counter()
    count = 0
    for seed in range(takes):
        count += len(generate_clip(g, a, codec_from_meta(ckpt.meta), ckpt.meta["normalize"], range(120),
                                   GenerationSettings(seed=seed)))
    net_fps = count / (time.perf_counter() - t0)

    # baselines, fitted on the training frames in the same working encoding
    codec = ChannelCodec.for_channels(channels)
    index = {f: i for i, f in enumerate(train_frames)}
    runs = np.split(np.arange(len(train_frames)), np.flatnonzero(np.diff(train_frames) > 1) + 1)
    pca = PCAModel(codec.encode(train), runs)
    rng = np.random.default_rng(0)
    dyn = [codec.decode(pca.dynamic(n, rng)) for _ in range(takes)]
    iid = [codec.decode(pca.iid(n, rng)) for _ in range(takes)]
    # the training frames just before each held-out block (just after it for a block at the start)
    floor = []
    for block in blocks:
        before = [f for f in range(block[0] - len(block), block[0]) if f in index]
        near = before if len(before) == len(block) else [f for f in range(block[-1] + 1, block[-1] + 1 + len(block))
                                                           if f in index]
        floor.append(train[[index[f] for f in near]])
    footage = [train[r] for r in runs]

    from filmai_plugins.frames.contact import write_contact_sheet

    shown = min(6, n)
    sheet = os.path.join(tg.WORK, f"compare_{name}.png")
    write_contact_sheet(sheet, [list(real[:shown]), list(gan_clips[0][:shown]), list(long_clips[0][:shown]),
                                list(dyn[0][:shown]), list(iid[0][:shown])],
                        labels=["held out | gan | gan@1000 | dyn. texture | PCA"] + [""] * (shown - 1),
                        cell_width=max(128, w * 2))

    rows = {}
    # footage rows are separate stretches of one clip, not takes of it: no seed spread
    footage_rows = {"training frames": floor, "all training frames": footage}
    for label, clips in (("gan.generate", gan_clips), ("gan.generate @1000", long_clips),
                         ("dynamic texture", dyn), ("PCA-Gaussian", iid), *footage_rows.items()):
        frames = display(np.concatenate(clips))
        diffs = differences([display(c) for c in clips])
        levels = swd(real_d, frames)
        motion_levels = swd(differences(real_blocks), diffs, reference_stats=True)
        rows[label] = {"swd_frames": float(np.mean(levels)), "swd_frames_levels": [round(v, 2) for v in levels],
                       "swd_motion": float(np.mean(motion_levels)),
                       "swd_motion_levels": [round(v, 2) for v in motion_levels],
                       "motion": motion_energy([display(c) for c in clips]),
                       "seed_spread": None if label in footage_rows else seed_spread([display(c) for c in clips])}
    training = ckpt.meta.get("training", {})
    from filmai_plugins.frames.sequence import format_frames

    return {"clip": name, "size": [w, h], "channels": channels, "held_out": format_frames(held),
            "train_frames": tg.train_frames(name), "real_motion": motion_energy(real_blocks),
            "pca_components": pca.k, "rows": rows,
            "fps_exr": float(np.median(fps)), "fps_network": net_fps, "threads": torch.get_num_threads(),
            "model": os.path.relpath(model, os.path.dirname(HERE)), "model_sha256": ckpt.sha256,
            "interval_checkpoint": not model.endswith(f"{name}.ckpt"),
            "training_steps": training.get("steps"), "training_seconds": training.get("train_seconds"),
            "model_mb": os.path.getsize(model) / 1e6,
            # what a finished model of the same step holds: the generator's weights (interval checkpoints also
            # carry both discriminators and the optimisers' state for resuming)
            "generator_mb": sum(np.asarray(v).nbytes for v in model_tensors(ckpt.tensors).values()) / 1e6}


def markdown(results: list[dict]) -> str:
    lines = ["| clip (held out) | model | SWD frames ↓ | SWD motion ↓ | motion (real) | seed spread |",
             "|---|---|---|---|---|---|"]
    for r in results:
        for label, row in r["rows"].items():
            spread = "–" if row.get("seed_spread") is None else f"{row['seed_spread']:.4f}"
            lines.append(f"| {r['clip']} ({r['held_out']}) | {label} | {row['swd_frames']:.1f} | "
                         f"{row['swd_motion']:.1f} | {row['motion']:.4f} ({r['real_motion']:.4f}) | {spread} |")
    lines += ["", "| clip | size | training | generator weights | generation, network | generation, EXR written |",
              "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['clip']} | {r['size'][0]}x{r['size'][1]} {','.join(r['channels'])} | "
                     f"{r['training_steps']} steps, {r['training_seconds'] / 60:.0f} min"
                     f"{' (interval checkpoint)' if r['interval_checkpoint'] else ''} | {r['generator_mb']:.1f} MB | "
                     f"{r['fps_network']:.0f} frames/s | {r['fps_exr']:.0f} frames/s |")
    return "\n".join(lines)


def find_model(models: str, name: str) -> str | None:
    """The finished model ``<name>.ckpt``, else the latest interval checkpoint of an interrupted training.

    Interval checkpoints hold the averaged generator as their model (plus the resumable training state), so they
    generate exactly as a finished model of that step would; the results record which one was measured.
    """
    from filmai_plugins.training.loop import latest_interval_checkpoint

    final = os.path.join(models, f"{name}.ckpt")
    if os.path.exists(final):
        return final
    # by step number, as the training loop's resume does (a sorted glob would put step 500 after 1000)
    return latest_interval_checkpoint(os.path.join(models, f"{name}.train"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default=",".join(tg.CLIPS))
    ap.add_argument("--models", default=os.path.join(tg.WORK, "models"))
    ap.add_argument("--takes", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=os.path.join(tg.WORK, "results.json"))
    args = ap.parse_args()
    if not tg.have_data():
        print(f"skipped: {tg.SHARED} not found (benchmarks read ../shared/data)")
        return 0
    import torch

    torch.set_num_threads(args.threads)
    results = []
    work = tempfile.mkdtemp(prefix="filmai-bench-generate-")
    try:
        for name in [c.strip() for c in args.clips.split(",") if c.strip()]:
            model = find_model(args.models, name)
            if model is None:
                print(f"{name}: no model at {os.path.join(args.models, name + '.ckpt')} nor an interval checkpoint "
                      f"in {name}.train/; train it with recipes/train_generate.py --clips {name}")
                continue
            tg.build_clip(name)
            results.append(evaluate(name, model, args.takes, work))
            print(json.dumps(results[-1]["rows"], indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not results:
        print("skipped: no trained models")
        return 0
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(results, fh, indent=1)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
