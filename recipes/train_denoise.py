"""Train the shipped ``cnn.denoise`` model (nodes/cnn/denoise/models/denoise.ckpt) from the Cycles pairs.

Reads the pairs rendered by ``recipes/render_cycles_pairs.py`` (``bench/out/cycles_pairs``), holds out the last
``--val-scenes`` training scenes' frames for validation PSNR (never trained on; the held-out *evaluation* scenes
of ``bench/denoise.py`` are not read at all), and trains through the node's own ``train()`` -- the same path
``filmai train cnn.denoise`` takes, with the shared copycat machinery -- from scratch, seeded::

    nice -n 10 python recipes/train_denoise.py > bench/out/train_denoise.log 2>&1 &

The shipped model (demodulated path, 8,000 steps on 192 scenes, validated on 8) took 54 minutes on one thread
to step 3,500 and 47 more on two (resumed with ``--resume --threads 2``); on the 2-core CPU a step costs about
0.6 s on two threads, 0.9 s on one beside another training (the direct-path network: 0.45 s).

Interval checkpoints, contact sheets and the training manifest go to ``bench/out/denoise_train/``; the final
checkpoint is then written to ``nodes/cnn/denoise/models/denoise.ckpt`` with paths in its metadata made relative to
the repository. ``--resume`` continues an interrupted run from its last interval checkpoint (batches are a
pure function of seed and step, so the result is the same as an uninterrupted run up to float rounding when
the thread count changes).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_PAIRS = os.path.join(REPO, "bench", "out", "cycles_pairs")
DEFAULT_WORK = os.path.join(REPO, "bench", "out", "denoise_train")
SHIPPED = os.path.join(REPO, "nodes", "cnn", "denoise", "models", "denoise.ckpt")

#: The recipe of the shipped model (recorded in its metadata through the node's training params).
RECIPE = {
    "start_from": "scratch",
    "model_size": "small",
    "demodulate": True,
    "steps": 8000,
    "crop_size": 96,
    "batch_size": 8,
    "learning_rate": 1e-3,
    "warmup_steps": 100,
    "lr_schedule": "cosine",
    "loss": "l1",
    "aux_dropout": 0.3,
    "exposure_jitter": 1.5,
    "focus": 0.0,
    "validation_interval": 250,
    "checkpoint_interval": 250,
    "contact_sheet_interval": 1000,
    "seed": 0,
}


def _relative(value, root: str):
    """Absolute paths under ``root`` inside (nested) metadata → repository-relative."""
    if isinstance(value, str) and value.startswith(root + os.sep):
        return os.path.relpath(value, root)
    if isinstance(value, dict):
        return {k: _relative(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, root) for v in value]
    return value


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", default=DEFAULT_PAIRS, help="output folder of render_cycles_pairs.py")
    ap.add_argument("--work", default=DEFAULT_WORK, help="training work folder (interval checkpoints, sheets)")
    ap.add_argument("--out", default=SHIPPED, help="where the final model goes")
    ap.add_argument("--steps", type=int, default=RECIPE["steps"])
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads; 1 is fastest on a shared, oversubscribed CPU")
    ap.add_argument("--resume", action="store_true", help="continue from the last interval checkpoint")
    ap.add_argument("--val-scenes", type=int, default=8,
                    help="the last N rendered training scenes are validation, never trained on")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a recipe entry for a pilot run (e.g. crop_size=64); recorded in the metadata")
    args = ap.parse_args(argv)

    index_path = os.path.join(args.pairs, "pairs.json")
    if not os.path.isfile(index_path):
        print(f"skipped: no rendered pairs at {args.pairs} (run recipes/render_cycles_pairs.py first)")
        return 0
    with open(index_path, encoding="utf-8") as f:
        index = json.load(f)
    entries = index["train"]
    if not entries:
        print("skipped: pairs.json lists no training pairs yet")
        return 0
    scenes = sorted({e["scene"] for e in entries})
    if len(scenes) <= args.val_scenes:
        ap.error(f"--val-scenes {args.val_scenes}: only {len(scenes)} scenes are rendered")
    val_scenes = set(scenes[-args.val_scenes:])
    val = [e["frame"] for e in entries if e["scene"] in val_scenes]
    train = [e["frame"] for e in entries if e["scene"] not in val_scenes]

    import torch

    torch.set_num_threads(args.threads)
    import filmai_plugins as fa
    from filmai_plugins.frames.sequence import format_frames
    from filmai_plugins.training.checkpoint import load_checkpoint, save_checkpoint
    from filmai_plugins.training.loop import model_tensors

    os.makedirs(args.work, exist_ok=True)
    work_ckpt = os.path.join(args.work, "denoise.ckpt")
    params = dict(RECIPE, steps=args.steps, validation_frames=format_frames(val),
                  resume="last" if args.resume else "")
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key not in RECIPE:
            ap.error(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(RECIPE)}")
        if isinstance(RECIPE[key], bool):  # bool("false") is True
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                ap.error(f"--set {item!r}: {key} is true or false")
            params[key] = value.lower() in ("true", "1", "yes")
        else:
            params[key] = type(RECIPE[key])(value)
    print(f"training on {len(train)} pairs ({len(scenes) - len(val_scenes)} scenes), validating on "
          f"{len(val)} pairs of scenes {min(val_scenes)}-{max(val_scenes)}; {args.steps} steps, "
          f"{args.threads} thread(s)", flush=True)
    t0 = time.perf_counter()
    manifest = fa.train("cnn.denoise", input=os.path.join(args.pairs, "train", "noisy.####.exr"),
                        target=os.path.join(args.pairs, "train", "clean.####.exr"),
                        frames=format_frames(train + val), out=work_ckpt, device="cpu", progress="json", **params)
    wall = time.perf_counter() - t0
    summary = manifest.get("training") or {}
    print(f"trained in {wall:.0f} s: validation PSNR {summary.get('validation_psnr')} dB (log encoding) vs "
          f"identity {summary.get('identity_psnr')} dB; {summary.get('samples_per_second')} samples/s", flush=True)

    ckpt = load_checkpoint(work_ckpt, expect_node="cnn.denoise")
    meta = {k: v for k, v in ckpt.meta.items() if k not in ("format", "created", "filmai_version", "weights_sha256")}
    meta = _relative(meta, REPO)
    meta["trained_by"] = {"script": "recipes/train_denoise.py", "data": "recipes/render_cycles_pairs.py",
                          "render_args": index.get("args"), "blender": index.get("blender"),
                          "validation_scenes": sorted(val_scenes), "wall_seconds": round(wall, 1),
                          "threads": args.threads}
    sha = save_checkpoint(args.out, model_tensors(ckpt.tensors), meta)
    print(f"shipped model: {os.path.relpath(args.out, REPO)} ({os.path.getsize(args.out) / 1e6:.2f} MB, "
          f"sha256 {sha[:16]}…)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
