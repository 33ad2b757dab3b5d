"""Hosts: does the DCC's main thread stay free while a node runs, what does the worker path cost, and a
copycat shot trained and applied from Blender (the image in docs/blender.md).

Part 1, side by side in one run, the same cnn.torchscript job (a small conv net, 480x270, N frames):
  direct        filmai_plugins.run in this process (no host)
  worker        hosts/worker.py Job in a worker process, polled every 10 ms like Blender's modal timer
                and Nuke's ProgressTask thread
  in process    the same Job on a thread of this process (what a DCC does when filmai imports in it)
  blocking      the job on the main thread (what a naive add-on does: the UI freezes)
Measured: wall time, and the worst gap between two main-thread ticks (what an artist feels as a freeze).
Goal: worst tick gap < 100 ms for the worker path, and worker wall <= direct + 3 s (process start-up).

Part 2 (needs the bpy module): build and install the Blender extension headless, load a wire-removal
plate as a VSE strip, pick 3 training frames on the timeline, train cnn.copycat from Blender in a worker
process, apply it to the strip, and write docs/images/blender_copycat.png (plate | result | clean on
frames the model never saw) with PSNR beside doing nothing.

    python bench/hosts.py [--frames 12] [--steps 200] [--skip-blender]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "hosts"))
import worker  # noqa: E402  (hosts/worker.py, the client both DCC adapters carry)

IMAGE = os.path.join(REPO, "docs", "images", "blender_copycat.png")


def conv_model(path: str) -> str:
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(16, 3, 3, padding=1))
    torch.jit.save(torch.jit.script(net.eval()), path)
    return path


def plate_sequence(folder: str, frames: int, width: int, height: int) -> str:
    from filmai_plugins.demo import make_shot_frame
    from filmai_plugins.frames.image import Frame
    from filmai_plugins.frames.io import WriteOptions, write_frame

    os.makedirs(folder, exist_ok=True)
    for f in range(1, frames + 1):
        dirty, _ = make_shot_frame(1000 + f, width, height, frames=frames)
        write_frame(os.path.join(folder, f"plate.{f:04d}.exr"), Frame.from_array(dirty, ["R", "G", "B"]),
                    WriteOptions(pixel_type="half"))
    return os.path.join(folder, "plate.####.exr")


def ticks(step, tick: float = 0.01) -> tuple[float, float]:
    """Call ``step`` every ``tick`` s on this (main) thread until it returns True; (wall s, worst gap s)."""
    t0 = last = time.perf_counter()
    worst = 0.0
    while True:
        done = step()
        now = time.perf_counter()
        worst = max(worst, now - last)
        last = now
        if done:
            return now - t0, worst
        time.sleep(tick)
        last_sleep = time.perf_counter()
        worst = max(worst, last_sleep - now - tick)  # oversleeping is a missed tick too
        last = last_sleep


def part1(frames: int, width: int, height: int, rounds: int = 2) -> dict:
    import filmai_plugins

    tmp = tempfile.mkdtemp(prefix="filmai-bench-hosts-")
    seq = plate_sequence(os.path.join(tmp, "plate"), frames, width, height)
    model = conv_model(os.path.join(tmp, "conv.pt"))
    params = {"scale": "1", "receptive_field": "8"}

    def spec(name):
        return worker.JobSpec(node="cnn.torchscript", inputs={"input": seq}, model=model, params=params,
                              outputs={"output": os.path.join(tmp, name, "out.####.exr")}, device="cpu")

    def direct(name, on_event=None):
        filmai_plugins.run("cnn.torchscript", input=seq, output=os.path.join(tmp, name, "out.####.exr"),
                           model=model, device="cpu", on_event=on_event, **params)

    direct("warmup")  # torch import and TorchScript first-call costs are not the host's
    results: dict = {}

    def keep(label, wall, gap):
        best = results.get(label)
        if best is None or wall < best["wall_s"]:
            results[label] = {"wall_s": wall, "worst_gap_ms": gap}

    for round_ in range(rounds):
        t0 = time.perf_counter()
        direct(f"direct{round_}")
        keep("direct (no host)", time.perf_counter() - t0, None)
        # blocking: the job on the main thread, which ticks again only when it returns
        t0 = time.perf_counter()
        direct(f"blocking{round_}", on_event=lambda e: None)
        wall = time.perf_counter() - t0
        keep("blocking (job on the main thread)", wall, wall * 1000)
        for label, cfg in (("worker process", worker.WorkerConfig(python=sys.executable, mode="process")),
                           ("in process (thread)", worker.WorkerConfig(mode="in_process"))):
            job = worker.Job(spec(f"{label.split()[0]}{round_}"), cfg, needs_torch=True).start()

            def step(job=job):
                job.poll()
                return job.done

            wall, gap = ticks(step)
            assert job.state == "done", job.summary()
            keep(label, wall, gap * 1000)
            if results[label]["wall_s"] == wall:  # the host's own cost: all but the engine's run
                results[label]["outside_engine_s"] = wall - job.manifest["timings"]["wall_s"]
    return results


def part2(frames: int, steps: int) -> dict:
    """Runs the Blender walkthrough in a bpy subprocess (bpy is imported once per process)."""
    import importlib.util

    if importlib.util.find_spec("bpy") is None:
        return {"skipped": "the bpy module is not installed"}
    from filmai_plugins import packaging as bundle

    tmp = tempfile.mkdtemp(prefix="filmai-bench-blender-")
    zip_path = bundle.build_blender_extension(os.path.join(tmp, "dist"))
    env = dict(os.environ, BLENDER_USER_RESOURCES=os.path.join(tmp, "user"))
    args = json.dumps({"zip": zip_path, "work": tmp, "frames": frames, "steps": steps})
    proc = subprocess.run([sys.executable, __file__, "--blender-session", args], env=env, text=True,
                          capture_output=True)
    report = os.path.join(tmp, "report.json")
    if proc.returncode or not os.path.isfile(report):
        raise SystemExit(f"blender session failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    with open(report) as f:
        return json.load(f)


def blender_session(cfg: dict) -> None:
    import bpy

    from filmai_plugins.demo import make_shot_frame
    from filmai_plugins.frames.contact import write_contact_sheet
    from filmai_plugins.frames.image import Frame
    from filmai_plugins.frames.io import WriteOptions, read_frame, write_frame
    from filmai_plugins.training.datasets import psnr
    from filmai_plugins import color

    work, n = cfg["work"], cfg["frames"]
    width, height = 192, 108
    for name in ("plate", "clean"):
        os.makedirs(os.path.join(work, name), exist_ok=True)
    for f in range(1, n + 1):
        dirty, clean = make_shot_frame(1000 + f, width, height, frames=n)
        for name, px in (("plate", dirty), ("clean", clean)):
            write_frame(os.path.join(work, name, f"{name}.{f:04d}.exr"), Frame.from_array(px, ["R", "G", "B"]),
                        WriteOptions(pixel_type="half"))
    t0 = time.perf_counter()
    bpy.ops.extensions.package_install_files(filepath=cfg["zip"], repo="user_default", enable_on_install=True)
    install_s = time.perf_counter() - t0
    module = "bl_ext.user_default.filmai"
    prefs = bpy.context.preferences.addons[module].preferences
    prefs.mode, prefs.python, prefs.device = "process", sys.executable, "cpu"
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, n
    se = scene.sequence_editor_create()
    strip = se.strips.new_image("plate", os.path.join(work, "plate", "plate.0001.exr"), 1, 1)
    for f in range(2, n + 1):
        strip.elements.append(f"plate.{f:04d}.exr")
    pg = scene.filmai.cnn_copycat
    pg.in_input.kind, pg.in_input.strip = "STRIP", strip.name
    pg.in_target.kind, pg.in_target.path = "FILES", os.path.join(work, "clean", "clean.####.exr")
    pg.out_dir = os.path.join(work, "out")
    train_frames = [1, n // 2, n]
    for f in train_frames:  # the artist scrubs to a frame and presses "Add current frame"
        scene.frame_current = f
        bpy.ops.filmai.add_training_frame(node="cnn.copycat")
    pg.p_steps = cfg["steps"]
    for name, value in (("p_crop_size", 48), ("p_batch_size", 4), ("p_learning_rate", 3e-3)):
        if hasattr(pg, name):
            setattr(pg, name, value)
    t0 = time.perf_counter()
    bpy.ops.filmai.train_cnn_copycat()
    train_s = time.perf_counter() - t0
    pg.bring_back = "STRIP"
    t0 = time.perf_counter()
    bpy.ops.filmai.run_cnn_copycat()
    run_s = time.perf_counter() - t0
    jobs = json.loads(scene.filmai.jobs_json)
    out_pattern = jobs["run:cnn.copycat"]["spec"]["outputs"]["output"]
    held = [f for f in range(1, n + 1) if f not in train_frames]
    rows, scores, base = [], [], []
    for f in held:
        plate = read_frame(os.path.join(work, "plate", f"plate.{f:04d}.exr")).pixels
        clean = read_frame(os.path.join(work, "clean", f"clean.{f:04d}.exr")).pixels
        got = read_frame(worker.sequence_path(out_pattern, f)).pixels[:, :, :3]
        disp = [np.clip(color.to_display(x), 0, 1) for x in (plate, got, clean)]
        base.append(psnr(disp[0], disp[2]))
        scores.append(psnr(disp[1], disp[2]))
        if f in (held[len(held) // 3], held[2 * len(held) // 3]):
            rows.append([plate, got, clean])
    os.makedirs(os.path.dirname(IMAGE), exist_ok=True)
    write_contact_sheet(IMAGE, rows, labels=["plate (VSE strip)", "cnn.copycat trained in Blender", "clean"],
                        cell_width=384)
    report = {"install_s": install_s, "train_s": train_s, "run_s": run_s, "frames": n, "steps": cfg["steps"],
              "train_frames": pg.pair_frames, "held_out_psnr": float(np.mean(scores)),
              "do_nothing_psnr": float(np.mean(base)), "image": IMAGE,
              "train_command": jobs["train:cnn.copycat"]["command"], "run_command": jobs["run:cnn.copycat"]["command"]}
    with open(os.path.join(work, "report.json"), "w") as f:
        json.dump(report, f, indent=1)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--blender-session":
        blender_session(json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--width", type=int, default=480)
    ap.add_argument("--height", type=int, default=270)
    ap.add_argument("--steps", type=int, default=200, help="copycat training steps in the Blender walkthrough")
    ap.add_argument("--rounds", type=int, default=2, help="part 1: best of this many rounds per path")
    ap.add_argument("--skip-blender", action="store_true")
    args = ap.parse_args()
    print(f"part 1: cnn.torchscript, {args.frames} frames {args.width}x{args.height}, CPU, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, best of {args.rounds}")
    results = part1(args.frames, args.width, args.height, args.rounds)
    print(f"{'path':<36}{'wall s':>9}{'worst main-thread gap ms':>27}{'outside the engine s':>23}")
    for label, r in results.items():
        gap = "-" if r["worst_gap_ms"] is None else f"{r['worst_gap_ms']:.0f}"
        outside = f"{r['outside_engine_s']:.2f}" if "outside_engine_s" in r else "-"
        print(f"{label:<36}{r['wall_s']:>9.2f}{gap:>27}{outside:>23}")
    if not args.skip_blender:
        print(f"part 2: cnn.copycat from Blender, {args.frames} frames, {args.steps} steps")
        r = part2(args.frames, args.steps)
        print(json.dumps(r, indent=1))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
