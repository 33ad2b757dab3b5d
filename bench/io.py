"""Frame I/O: `filmai run util.convert` against a plain OpenImageIO loop, on the frames a facility moves.

Side by side in one run, rounds interleaved (every runner once per round, in turn), median of the rounds:

  frames   aovs:      20-channel AOV frames (../shared/data Beachball singlepart, half, 911x876 data window)
           multipart: 10-part frames (Beachball multipart, every part kept)
           rgba2k:    2K RGBA half (2048x1556, generated)
  codecs   piz, zip, dwaa: each source sequence is written in the codec it is converted to
  runners  plain loop: OpenImageIO by hand, every part read and written in its native types
           filmai API: fa.run("util.convert") (in a worker process, timed after import)
           filmai CLI: `filmai run util.convert`, process start included
           (--threads: the API and CLI again with OpenImageIO/OpenEXR limited to 1 and 2 threads)

Each row reports wall and CPU seconds per frame (CPU: the process and its children), the ratio to the plain
loop in the same round (goal <= 1.05, check <= 1.10 on a shared machine), and whether every output frame
equals the plain loop's: parts, channels, pixel types, windows, attributes and pixel bytes (FilmAI adds its
provenance and, on untagged parts, the colour tags of what they hold: never a changed or dropped attribute);
lossless codecs are also compared with the source. ``--memory`` converts a
4K 24-channel half sequence and reports peak resident memory per frame in flight.

    python bench/io.py [--frames 24] [--rounds 3] [--codecs piz,zip,dwaa] [--kinds aovs,multipart,rgba2k]
                       [--threads] [--memory] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

KINDS = {"aovs": "20-channel AOVs (Beachball singlepart, half)",
         "multipart": "10-part files (Beachball multipart, half)",
         "rgba2k": "2K RGBA half (2048x1556)"}
LOSSLESS = ("none", "rle", "zip", "zips", "piz")


# ----- the runners -----------------------------------------------------------------------------------

def plain_loop(pattern: str, frames: list[int], out_folder: str, compression: str) -> None:
    """What a TD writes by hand, and what OpenImageIO itself costs: every part read in its native type,
    written with the same spec (attributes included), one frame after another."""
    import OpenImageIO as oiio

    if os.environ.get("FILMAI_IO_THREADS"):  # the same knob the engine honours
        n = int(os.environ["FILMAI_IO_THREADS"])
        oiio.attribute("threads", n)
        oiio.attribute("exr_threads", n)
    for f in frames:
        inp = oiio.ImageInput.open(pattern.replace("####", f"{f:04d}"))
        specs, pixels = [], []
        i = 0
        while inp.seek_subimage(i, 0):
            spec = oiio.ImageSpec(inp.spec())
            pixels.append(inp.read_image(i, 0, 0, spec.nchannels, "unknown"))
            spec.attribute("compression", compression)
            spec.erase_attribute("openexr:chunkCount")  # copied, it would describe the source's layout
            specs.append(spec)
            i += 1
        inp.close()
        path = os.path.join(out_folder, f"o.{f:04d}.exr")
        out = oiio.ImageOutput.create(path)
        out.open(path, specs[0] if len(specs) == 1 else tuple(specs))
        for i, (spec, px) in enumerate(zip(specs, pixels)):
            if i:
                out.open(path, spec, "AppendSubimage")
            out.write_image(px)
        out.close()
        del px, pixels  # one frame in memory at a time


def filmai_api(pattern: str, frames: list[int], out_folder: str, compression: str) -> None:
    import filmai_plugins as fa

    fa.run("util.convert", input=pattern, output=os.path.join(out_folder, "o.####.exr"),
           frames=f"{frames[0]}-{frames[-1]}", io={"compression": compression})


def worker(args: argparse.Namespace) -> None:
    """Run one in-process runner after its imports and report wall and CPU seconds as JSON."""
    if args.worker == "api":
        import filmai_plugins  # noqa: F401  (the API row is timed after import, as a pipeline script runs it)
        from filmai_plugins.app import default_app

        default_app()  # the packs loaded, as in a pipeline script that has run a node before
    import OpenImageIO  # noqa: F401

    frames = list(range(args.first, args.first + args.frames))
    os.makedirs(args.out, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    (plain_loop if args.worker == "plain" else filmai_api)(args.pattern, frames, args.out, args.compression)
    print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}))


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(wall s, CPU s, peak RSS KiB, stdout) of one child process: CPU from its own rusage (wait4); peak RSS
    from /proc/PID/status VmHWM polled while it runs (rusage's maxrss also counts the parent's memory the
    child was forked from, before its exec)."""
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
        peak = [0]
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                try:
                    with open(f"/proc/{proc.pid}/status") as fh:
                        for line in fh:
                            if line.startswith("VmHWM:"):
                                peak[0] = max(peak[0], int(line.split()[1]))
                except OSError:
                    pass
                done.wait(0.02)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        watcher.join()
        wall = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed ({code}): {err.read().strip()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, peak[0], out


def import_floor() -> dict:
    """What any Python command that reads EXR with OpenImageIO and tags colour with OCIO pays before its
    first frame: the interpreter and the imports of numpy, OpenImageIO and PyOpenColorIO (wall and CPU s)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the filmai command sets it
    wall, cpu, _, _ = run_child([sys.executable, "-c", "import numpy, OpenImageIO, PyOpenColorIO"], env)
    return {"wall": wall, "cpu": cpu}


def measure(runner: str, pattern: str, frames: int, out: str, compression: str, threads: int | None) -> dict:
    env = dict(os.environ)
    env.pop("FILMAI_IO_THREADS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode cached; so does this run
    if threads:
        env["FILMAI_IO_THREADS"] = str(threads)
    os.makedirs(out, exist_ok=True)
    if runner == "cli":
        cmd = [sys.executable, "-m", "filmai_plugins", "run", "util.convert", "-i", pattern, "-o",
               os.path.join(out, "o.####.exr"), "--frames", f"1001-{1000 + frames}", "--compression", compression,
               "--progress", "none"]
        wall, cpu, rss, _ = run_child(cmd, env)
        return {"wall": wall, "cpu": cpu, "rss_kib": rss}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", runner, "--pattern", pattern, "--out", out,
           "--frames", str(frames), "--compression", compression]
    _, _, rss, stdout = run_child(cmd, env)
    inner = json.loads(stdout.strip().splitlines()[-1])
    return {"wall": inner["wall"], "cpu": inner["cpu"], "rss_kib": rss}


# ----- comparing outputs -----------------------------------------------------------------------------

# What FilmAI adds to every written part besides its provenance (issue 21: every part tagged with the
# colourspace it holds); a source attribute is never changed or dropped.
COLOUR_TAGS = ("colorInteropID", "colorspace", "chromaticities")


def describe(path: str) -> list[tuple]:
    """Everything a conversion must keep, per part: name, channels, types, windows, attributes (a dict),
    pixel bytes."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(path)
    parts = []
    i = 0
    while inp.seek_subimage(i, 0):
        s = inp.spec()
        types = [str(t) for t in (s.channelformats or [s.format] * s.nchannels)]
        attrs = {a.name: a.value for a in s.extra_attribs if not a.name.startswith("filmai:")
                 and a.name not in ("compression", "openexr:dwaCompressionLevel")}
        px = inp.read_image(i, 0, 0, s.nchannels, "unknown")
        parts.append((s.getattribute("name"), tuple(s.channelnames), tuple(types), (s.x, s.y, s.width, s.height),
                      (s.full_x, s.full_y, s.full_width, s.full_height), attrs, px.dtype.str, px.tobytes()))
        i += 1
    inp.close()
    return parts


def kept(reference: list[tuple], converted: list[tuple], added: set[str]) -> bool:
    """``converted`` holds every part of ``reference`` alike (attributes with the same values); the only
    attributes it may add are the colour tags (collected in ``added``)."""
    if len(reference) != len(converted):
        return False
    for ref, out in zip(reference, converted):
        if ref[:5] != out[:5] or ref[6:] != out[6:]:
            return False
        ref_attrs, out_attrs = ref[5], out[5]
        if any(k not in out_attrs or out_attrs[k] != v for k, v in ref_attrs.items() if k not in COLOUR_TAGS):
            return False
        extra = set(out_attrs) - set(ref_attrs)
        if extra - set(COLOUR_TAGS):
            return False
        added |= extra
    return True


def same_outputs(a_folder: str, b_folder: str, frames: list[int], added: set[str]) -> bool:
    return all(kept(describe(os.path.join(a_folder, f"o.{f:04d}.exr")), describe(os.path.join(b_folder, f"o.{f:04d}.exr")),
                    added) for f in frames)


def same_as_source(pattern: str, folder: str, frames: list[int], added: set[str]) -> bool:
    return all(kept(describe(pattern.replace("####", f"{f:04d}")), describe(os.path.join(folder, f"o.{f:04d}.exr")),
                    added) for f in frames)


# ----- memory ----------------------------------------------------------------------------------------

def memory_bench(work: str, frames: int) -> list[str]:
    """Peak RSS of `filmai run util.convert` (default read-ahead/write-behind of 2) over 4K 24-channel half
    frames, against the same process on a tiny frame; divided by one frame's size in memory."""
    import numpy as np
    import OpenImageIO as oiio
    from _frames import make_aov_frames

    pattern = make_aov_frames(os.path.join(work, "aov4k"), frames, "piz")
    frame_bytes = 4096 * 2160 * 24 * 2
    tiny = os.path.join(work, "tiny")
    os.makedirs(tiny, exist_ok=True)
    spec = oiio.ImageSpec(8, 8, 24, "half")
    out = oiio.ImageOutput.create("exr")
    out.open(os.path.join(tiny, "t.1001.exr"), spec)
    out.write_image(np.zeros((8, 8, 24), np.float16))
    out.close()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    lines = []
    rows = []
    for label, pat, n in (("tiny frame (start-up baseline)", os.path.join(tiny, "t.####.exr"), 1),
                          ("4K 24-channel half", pattern, frames)):
        outdir = os.path.join(work, "mem-" + str(len(rows)))
        cmd = [sys.executable, "-m", "filmai_plugins", "run", "util.convert", "-i", pat, "-o",
               os.path.join(outdir, "o.####.exr"), "--compression", "piz", "--progress", "none"]
        wall, cpu, rss, _ = run_child(cmd, env)
        shutil.rmtree(outdir, ignore_errors=True)
        rows.append((label, n, wall, cpu, rss))
        plain_out = os.path.join(work, "mem-plain")
        if n > 1:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", "plain", "--pattern", pat, "--out",
                   plain_out, "--frames", str(n), "--compression", "piz"]
            _, _, prss, _ = run_child(cmd, env)
            shutil.rmtree(plain_out, ignore_errors=True)
            rows.append(("plain loop, same frames", n, 0.0, 0.0, prss))
    base = rows[0][4] * 1024
    lines.append(f"Memory: {frames} frames of 4096x2160, 24 half channels ({frame_bytes / 2**20:.0f} MiB a frame in "
                 "memory), piz; peak RSS (VmHWM) of each process.")
    lines.append("")
    lines.append("| process | peak RSS MiB | above the tiny-frame baseline, MiB | frames in flight |")
    lines.append("|---|---|---|---|")
    for label, n, wall, cpu, rss in rows:
        above = rss * 1024 - base
        lines.append(f"| {label} | {rss / 1024:.0f} | {above / 2**20:.0f} | {above / frame_bytes:.2f} |")
    lines.append("")
    lines.append("The engine's bound: 2 frames read ahead + 1 in process + 2 written behind = 5.")
    return lines


# ----- main ------------------------------------------------------------------------------------------

def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import OpenImageIO as oiio

    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB; Python {platform.python_version()}, OpenImageIO "
            f"{oiio.VERSION_STRING}; OpenImageIO threads {oiio.get_int_attribute('threads')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--codecs", default="piz,zip,dwaa")
    ap.add_argument("--kinds", default="aovs,multipart,rgba2k")
    ap.add_argument("--threads", action="store_true",
                    help="also run the API and CLI with 1 and 2 OpenImageIO threads (on the first codec)")
    ap.add_argument("--memory", action="store_true", help="peak RSS per frame in flight on 4K 24-channel half frames")
    ap.add_argument("--memory-frames", type=int, default=8)
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--worker", choices=("plain", "api"), help=argparse.SUPPRESS)
    ap.add_argument("--pattern", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--compression", default="piz", help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, default=1001, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return

    from _frames import BEACHBALL, beachball, make_frames, recompress

    kinds = [k for k in args.kinds.split(",") if k]
    if not os.path.isdir(BEACHBALL):
        print("../shared/data/exr/Beachball absent: only the generated 2K RGBA frames are measured")
        kinds = [k for k in kinds if k == "rgba2k"]
    codecs = [c for c in args.codecs.split(",") if c]
    runners = [("plain", None), ("api", None), ("cli", None)]
    if args.threads:
        runners += [("api", 1), ("api", 2), ("cli", 1), ("cli", 2)]
    work = tempfile.mkdtemp(prefix="filmai-bench-io-")
    results: list[dict] = []
    loads: list[float] = []
    floors: list[dict] = []
    c_start = resource.getrusage(resource.RUSAGE_CHILDREN)
    t_start = time.perf_counter()
    try:
        for kind in kinds:
            for codec in codecs:
                src = os.path.join(work, f"src-{kind}-{codec}")
                if kind == "rgba2k":
                    pattern, _ = make_frames(src, args.frames, codec)
                else:
                    pattern = recompress(beachball("singlepart" if kind == "aovs" else "multipart"), src, args.frames,
                                         codec)
                frames = list(range(1001, 1001 + args.frames))
                todo = runners if codec == codecs[0] else runners[:3]  # thread counts: on the first codec
                warm = os.path.join(work, "warm-up")
                for runner in todo:  # bytecode written, files in the page cache: every round starts alike
                    measure(runner[0], pattern, 2, warm, codec, runner[1])
                    shutil.rmtree(warm, ignore_errors=True)
                times: dict[tuple, list[dict]] = {r: [] for r in todo}
                added: set[str] = set()
                identical = {r: True for r in todo}
                to_source = {r: True for r in todo}
                for rnd in range(args.rounds):
                    floors.append(import_floor())
                    outs = {}
                    for runner in todo:
                        out = os.path.join(work, f"out-{kind}-{codec}-{rnd}-{runner[0]}-{runner[1]}")
                        loads.append(os.getloadavg()[0])
                        times[runner].append(measure(runner[0], pattern, args.frames, out, codec, runner[1]))
                        outs[runner] = out
                    check = frames if rnd == 0 else [frames[0], frames[-1]]
                    for runner in todo[1:]:
                        identical[runner] &= same_outputs(outs[todo[0]], outs[runner], check, added)
                    if codec in LOSSLESS:
                        for runner in todo:
                            to_source[runner] &= same_as_source(pattern, outs[runner], check[:3], added)
                    for out in outs.values():
                        shutil.rmtree(out, ignore_errors=True)
                base_wall = statistics.median(t["wall"] for t in times[runners[0]])
                base_cpu = statistics.median(t["cpu"] for t in times[runners[0]])
                for runner in todo:
                    wall = statistics.median(t["wall"] for t in times[runner])
                    cpu = statistics.median(t["cpu"] for t in times[runner])
                    ratios = [t["wall"] / b["wall"] for t, b in zip(times[runner], times[runners[0]])]
                    results.append({"kind": kind, "codec": codec, "runner": runner[0], "threads": runner[1],
                                    "wall_s_per_frame": wall / args.frames, "cpu_s_per_frame": cpu / args.frames,
                                    "wall_ratio": wall / base_wall, "cpu_ratio": cpu / base_cpu,
                                    "round_ratios": ratios, "same_as_plain_loop": identical[runner],
                                    "tags_added": sorted(added),
                                    "plain_wall_s": base_wall,
                                    "same_as_source": to_source[runner] if codec in LOSSLESS else None,
                                    "rounds": times[runner]})
                shutil.rmtree(src, ignore_errors=True)
                print(f"... {kind} {codec} done (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
        memory_lines = memory_bench(work, args.memory_frames) if args.memory else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    c_end = resource.getrusage(resource.RUSAGE_CHILDREN)

    names = {"plain": "plain OpenImageIO loop", "api": "filmai API (`fa.run`)",
             "cli": "`filmai run util.convert` (process start included)"}
    print(f"Machine: {machine()}")
    print(f"Load average (1 min) at each measurement: min {min(loads):.1f}, median {statistics.median(loads):.1f}, "
          f"max {max(loads):.1f}; bench wall {time.perf_counter() - t_start:.0f} s, children's CPU "
          f"{c_end.ru_utime + c_end.ru_stime - c_start.ru_utime - c_start.ru_stime:.0f} s")
    print(f"{args.frames} frames per sequence, {args.rounds} interleaved rounds, median; ratios to the plain loop")
    print()
    print("| frames | codec | runner | wall s/frame | CPU s/frame | wall ratio | CPU ratio | output = plain loop's "
          "| lossless: = source |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        runner = names[r["runner"]] + (f", OpenImageIO threads {r['threads']}" if r["threads"] else "")
        same = "—" if r["runner"] == "plain" else ("yes" if r["same_as_plain_loop"] else "**no**")
        src = "—" if r["same_as_source"] is None else ("yes" if r["same_as_source"] else "**no**")
        ratio = f"{r['wall_ratio']:.3f}" if r["runner"] == "plain" else f"**{r['wall_ratio']:.3f}**"
        print(f"| {KINDS[r['kind']]} | {r['codec']} | {runner} | {r['wall_s_per_frame']:.3f} | "
              f"{r['cpu_s_per_frame']:.3f} | {ratio} | {r['cpu_ratio']:.3f} | {same} | {src} |")
    floor_wall = statistics.median(f["wall"] for f in floors)
    floor_cpu = statistics.median(f["cpu"] for f in floors)
    print()
    print(f"Start-up floor: `python -c 'import numpy, OpenImageIO, PyOpenColorIO'` takes {floor_wall:.3f} s wall "
          f"({floor_cpu:.3f} s CPU), median of {len(floors)}. Before its first frame any Python command that reads "
          "EXR and tags colour pays this; the least CLI ratio it allows per row (1 + floor / plain loop's run):")
    seen = set()
    for r in results:
        if r["runner"] == "plain" and (r["kind"], r["codec"]) not in seen:
            seen.add((r["kind"], r["codec"]))
            print(f"- {KINDS[r['kind']]}, {r['codec']}: {1 + floor_wall / r['plain_wall_s']:.3f}")
    tags = sorted({t for r in results for t in r["tags_added"]})
    if tags:
        print()
        print(f"Attributes FilmAI added to the sources' (besides filmai:* provenance): {', '.join(tags)}")
    if memory_lines:
        print()
        print("\n".join(memory_lines))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": machine(), "loads": loads, "results": results, "memory": memory_lines,
                       "import_floor": floors}, fh, indent=1)


if __name__ == "__main__":
    main()
