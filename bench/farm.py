"""Farm: frames per second of a chunked run on Dask (2 workers) against one `filmai run` process on the
same frames, and what each chunk costs in scheduling and process start.

Measured in one run, side by side:
  one process    `filmai run util.convert` over every frame (the engine already reads ahead and
                 writes behind on threads)
  dask, chunk N  `filmai farm run ... --engine dask --workers 2 --chunk N` (each chunk its own
                 `filmai run --skip-existing` process, as on a farm), for several N
  local, chunk N the same chunks as 2 local processes, without Dask
  overheads      Dask scheduling per task (100 no-op tasks through the same engine code), and the
                 start-up of one `filmai run` process (its wall time minus the run's own)

Frames: the Beachball sequence from ../shared/data (2048x1556 display window, 911x876 data window,
20 half channels): its RGBA expanded to the display window and re-compressed (zip), real EXR I/O and
compression work. The 8 source frames are linked to N frame numbers in a temp folder (nothing is
copied into the repo).

    python bench/farm.py [--frames 48] [--chunks 4,8,16] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))
BEACH = os.path.join(SHARED, "exr", "Beachball")
BIN = os.path.dirname(sys.executable)
FILMAI = os.path.join(BIN, "filmai")


def link_frames(folder: str, count: int) -> str:
    os.makedirs(folder, exist_ok=True)
    for n in range(count):
        os.symlink(os.path.join(BEACH, f"singlepart.{n % 8 + 1:04d}.exr"), os.path.join(folder, f"beach.{1001 + n}.exr"))
    return os.path.join(folder, "beach.####.exr")


CONVERT = ["--set", "data_window=display", "--set", "channels=R,G,B,A", "--compression", "zip"]


def _cpu() -> float:
    """CPU seconds of every finished child process and its descendants (they are all waited for)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one_process(src: str, out: str, frames: str) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), _cpu()
    subprocess.run([FILMAI, "run", "util.convert", "-i", src, "-o", out, "-f", frames, *CONVERT,
                    "--progress", "none"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, _cpu() - c0


def farm(src: str, out: str, frames: str, chunk: int, engine: str, log_dir: str) -> tuple[float, float, dict]:
    t0, c0 = time.perf_counter(), _cpu()
    run = subprocess.run([FILMAI, "farm", "run", "util.convert", "-i", src, "-o", out, "-f", frames, *CONVERT,
                          "--chunk", str(chunk), "--engine", engine, "--workers", "2", "--retries", "0",
                          "--log-dir", log_dir, "--json"], check=True, capture_output=True, text=True)
    return time.perf_counter() - t0, _cpu() - c0, json.loads(run.stdout)


def dask_overhead(log_dir: str, tasks: int = 100) -> tuple[float, float]:
    """(ms of scheduling per task, s to start the cluster): no-op tasks through DaskEngine's own code."""
    from distributed import Client, LocalCluster, wait

    from filmai_plugins.farm.engines import _run_after
    from filmai_plugins.farm.job import Task

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    client = Client(cluster)
    started = time.perf_counter() - t0
    try:
        noop = [Task("Noop", str(i), ["true"]) for i in range(tasks)]
        t1 = time.perf_counter()
        futures = [client.submit(_run_after, t, 0, log_dir, {}, [], pure=False) for t in noop]
        wait(futures)
        wall = time.perf_counter() - t1
        busy = sum(f.result()["attempts"][0]["seconds"] for f in futures)
    finally:
        client.close()
        cluster.close()
    return max(0.0, (wall - busy / 2) / tasks * 1000), started


def process_start(src: str, out: str) -> float:
    """Seconds a `filmai run` process spends outside the run itself (interpreter, imports, registry)."""
    t0 = time.perf_counter()
    subprocess.run([FILMAI, "run", "util.convert", "-i", src, "-o", out, "-f", "1001", "--progress", "none"],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    manifest = json.load(open(os.path.join(os.path.dirname(out), "beach.1001-1001.manifest.json")))
    return wall - manifest["timings"]["wall_s"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--chunks", default="4,8,16")
    ap.add_argument("--rounds", type=int, default=2, help="best of N for every configuration")
    args = ap.parse_args()
    if not os.path.isdir(BEACH):
        print(f"skipped: {BEACH} not found (../shared/data absent)")
        return 0
    chunks = [int(c) for c in args.chunks.split(",")]
    frames = f"1001-{1000 + args.frames}"
    work = tempfile.mkdtemp(prefix="filmai-bench-farm-")
    rows = []
    try:
        src = link_frames(os.path.join(work, "src"), args.frames)
        best: dict[str, tuple[float, float]] = {}
        detail: dict[str, dict] = {}
        for r in range(args.rounds):
            key = "one filmai run process"
            wall, cpu = one_process(src, os.path.join(work, f"one{r}", "beach.####.exr"), frames)
            if wall < best.get(key, (1e9, 0))[0]:
                best[key] = (wall, cpu)
            for chunk in chunks:
                for engine in ("dask", "local"):
                    key = f"{engine}, 2 workers, chunk {chunk}"
                    out = os.path.join(work, f"{engine}{chunk}_{r}", "beach.####.exr")
                    wall, cpu, data = farm(src, out, frames, chunk, engine, os.path.join(work, f"log{engine}{chunk}_{r}"))
                    if wall < best.get(key, (1e9, 0))[0]:
                        best[key], detail[key] = (wall, cpu), data
        base, base_cpu = best["one filmai run process"]
        print(f"{args.frames} frames of {BEACH}/singlepart.*.exr (linked), util.convert RGBA to the display window, "
              f"zip; best of {args.rounds}; load average {os.getloadavg()[0]:.1f} at the end\n")
        print("| configuration | wall s | frames/s | vs one process | CPU s | CPU vs one process | chunks "
              "| mean chunk s | wall not in a chunk, ms/chunk |")
        print("|---|---|---|---|---|---|---|---|---|")
        for key, (wall, cpu) in best.items():
            if key in detail:
                tasks = detail[key]["tasks"]
                busy = sum(a["seconds"] for t in tasks for a in t["attempts"])
                per = (wall * 2 - busy) / len(tasks) * 1000
                extra = f"{len(tasks)} | {busy / len(tasks):.2f} | {per:.0f}"
            else:
                extra = "1 | – | –"
            rows.append((key, wall))
            print(f"| {key} | {wall:.1f} | {args.frames / wall:.2f} | {base / wall:.2f}x | {cpu:.1f} | "
                  f"{cpu / base_cpu:.2f}x | {extra} |")
        overhead_ms, cluster_s = dask_overhead(os.path.join(work, "noop"))
        start_s = process_start(src, os.path.join(work, "start", "beach.####.exr"))
        print(f"\nDask scheduling overhead: {overhead_ms:.1f} ms per task (100 no-op tasks, LocalCluster of 2 "
              f"thread workers, started in {cluster_s:.2f} s)")
        print(f"filmai process start per chunk: {start_s:.2f} s (interpreter, imports, plug-in registry; "
              "outside the run's own wall time)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":  # Dask workers may re-import the main module
    sys.exit(main())
