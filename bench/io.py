"""Frame I/O overhead: `filmai run util.convert` against a plain OpenImageIO read+write loop.

Both re-encode the same 1080p+ EXR frames (half, same compression) side by side in one run,
alternating A/B for several rounds; the ratio of medians is the engine's overhead (goal: <= 1.05).
Frames come from the Beachball sequence in ../shared/data (expanded to its 2048x1556 display
window) when present, else from procedural 1920x1080 plates.

    python bench/io.py [--frames 24] [--rounds 3] [--compression zip]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import OpenImageIO as oiio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _frames import make_frames  # noqa: E402


def plain_loop(pattern: str, frames: range, out_folder: str, compression: str) -> float:
    """What a TD would write by hand: open, read, write, close, one frame after another."""
    os.makedirs(out_folder, exist_ok=True)
    t0 = time.perf_counter()
    for f in frames:
        src = pattern.replace("####", f"{f:04d}")
        inp = oiio.ImageInput.open(src)
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, spec.nchannels, "float")
        inp.close()
        ospec = oiio.ImageSpec(spec)
        ospec.set_format(oiio.HALF)
        ospec.attribute("compression", compression)
        out = oiio.ImageOutput.create("exr")
        out.open(os.path.join(out_folder, f"plain.{f:04d}.exr"), ospec)
        out.write_image(pixels)
        out.close()
    return time.perf_counter() - t0


def filmai_api(pattern: str, out_folder: str, compression: str) -> float:
    import filmai_plugins as fa

    t0 = time.perf_counter()
    fa.run("util.convert", input=pattern, output=os.path.join(out_folder, "api.####.exr"),
           io={"compression": compression, "pixel_type": "half"})
    return time.perf_counter() - t0


def filmai_cli(pattern: str, out_folder: str, compression: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "filmai_plugins", "run", "util.convert", "-i", pattern, "-o",
                    os.path.join(out_folder, "cli.####.exr"), "--compression", compression, "--pixel-type", "half",
                    "--progress", "none"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compression", default="zip")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="filmai-bench-io-")
    try:
        pattern, desc = make_frames(os.path.join(work, "src"), args.frames, args.compression)
        frames = range(1001, 1001 + args.frames)
        times: dict[str, list[float]] = {"plain OpenImageIO loop": [], "filmai API (fa.run)": [],
                                         "filmai CLI (incl. interpreter start)": []}
        for r in range(args.rounds):
            for name, fn in (("plain OpenImageIO loop", lambda o: plain_loop(pattern, frames, o, args.compression)),
                             ("filmai API (fa.run)", lambda o: filmai_api(pattern, o, args.compression)),
                             ("filmai CLI (incl. interpreter start)", lambda o: filmai_cli(pattern, o, args.compression))):
                out = os.path.join(work, f"out-{r}-{len(times[name])}")
                times[name].append(fn(out))
                shutil.rmtree(out, ignore_errors=True)
        base = statistics.median(times["plain OpenImageIO loop"])
        print(f"frames: {args.frames} x {desc}; compression {args.compression}, half; {args.rounds} rounds, median")
        print("| runner | median s | s/frame | ratio to plain loop |")
        print("|---|---|---|---|")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"| {name} | {med:.2f} | {med / args.frames:.3f} | {med / base:.3f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
