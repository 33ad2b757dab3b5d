"""Run every evaluation benchmark in ``bench/`` one after another (what ``make bench`` calls).

Each script runs in its own process with this interpreter, so one that fails or is interrupted does not
stop the others; a summary of exit codes and wall times is printed at the end, and the exit code is 1
when any script failed. Scripts whose data is absent (``../shared/data``, the Cycles renders of
``recipes/render_cycles_pairs.py``, the models of ``recipes/train_generate.py``) print "skipped" and exit 0,
as on a clean clone. The recipes that make the shipped models (``recipes/``) are not run here: they take hours
and rewrite the shipped models; run them alone, as docs/BENCHMARKS.md says.

    python bench/run_all.py                      # everything (hours on a 2-core CPU with all data present)
    python bench/run_all.py --only io,engine     # some
    python bench/run_all.py --skip denoise       # all but some
    python bench/run_all.py --list

Benchmarks run one at a time on purpose: their speed figures are ratios measured side by side within one
script, and two scripts sharing the CPU would distort each other's.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

#: name → script. Their wall times are in docs/BENCHMARKS.md where measured; the longest is denoise (about an
#: hour with its fine-tuning part).
BENCHMARKS = {
    "io": "io.py",
    "engine": "engine.py",
    "farm": "farm.py",
    "hosts": "hosts.py",
    "copycat": "copycat.py",
    "denoise": "denoise.py",
    "upres": "upres.py",
    "generate": "generate.py",
    "cuts": "cuts.py",
    "recommend": "recommend.py",
}


def _names(spec: str, parser: argparse.ArgumentParser) -> list[str]:
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)} (one of {', '.join(BENCHMARKS)})")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma list of benchmarks to run")
    parser.add_argument("--skip", default="", help="comma list of benchmarks to leave out")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, script in BENCHMARKS.items():
            print(f"{name:10s} bench/{script}")
        return 0
    chosen = _names(args.only, parser) or list(BENCHMARKS)
    skipped = set(_names(args.skip, parser))
    chosen = [n for n in chosen if n not in skipped]

    results: list[tuple[str, int, float]] = []
    for name in chosen:
        script = BENCHMARKS[name]
        print(f"\n=== {name}: bench/{script} ===", flush=True)
        t0 = time.perf_counter()
        try:
            code = subprocess.call([sys.executable, os.path.join(HERE, script)], cwd=os.path.dirname(HERE))
        except KeyboardInterrupt:
            results.append((name, 130, time.perf_counter() - t0))
            print(f"\ninterrupted during {name}; not starting the rest", flush=True)
            break
        results.append((name, code, time.perf_counter() - t0))

    print("\n| benchmark | exit | wall |\n|---|---|---|")
    for name, code, seconds in results:
        print(f"| {name} | {code} | {seconds / 60:.1f} min |")
    failed = [name for name, code, _ in results if code != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
