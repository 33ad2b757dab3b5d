"""The studio pack written from docs/writing-nodes.md alone (tests/mystudio_filmai), in the headless host.

It is the fixture the Blender and Nuke tests compare against the headless host; here its results are
checked against numpy, so "equal in every host" also means right: loaded the way the docs say (the
``filmai`` command with ``FILMAI_PLUGIN_MODULES``), listed as temporal, its handle frames read from
disk and clamped at the start, its keyed amount applied per frame, and farm-sized chunks equal to one run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from helpers import write_sequence

TESTS = os.path.dirname(os.path.abspath(__file__))


def filmai(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, FILMAI_PLUGIN_MODULES="mystudio_filmai.pack",
               PYTHONPATH=TESTS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "filmai_plugins", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_the_documented_pack_loads_and_trails_with_keyed_amount(tmp_path):
    from filmai_plugins.frames.io import read_frame

    src = write_sequence(str(tmp_path / "in"), "plate", range(1, 9), width=12, height=6, pixel_type="float")
    listed = filmai("nodes", "--json")
    assert listed.returncode == 0, listed.stderr
    node = next(n for n in json.loads(listed.stdout)["nodes"] if n["id"] == "mystudio.trail")
    assert node["temporal"] and node["pack"] == "mystudio_filmai.pack"
    assert next(p for p in node["params"] if p["name"] == "amount")["animatable"]
    needed = filmai("info", "mystudio.trail", "--frames-needed", "3-4", "--set", "length=2")
    assert json.loads(needed.stdout) == {"frames": "3-4", "needed": "1-4"}

    keys = "2:0.0,6:1.0"
    whole = str(tmp_path / "whole" / "t.####.exr")
    chunks = str(tmp_path / "chunks" / "t.####.exr")
    common = ["--set", "length=2", "--set", f"amount={keys}", "--progress", "none"]
    assert filmai("run", "mystudio.trail", "-i", src, "-o", whole, "-f", "1-8", *common).returncode == 0
    for part in ("1-3", "4-6", "7-8"):  # farm chunks read their handle frames from the plate
        run = filmai("run", "mystudio.trail", "-i", src, "-o", chunks, "-f", part, *common)
        assert run.returncode == 0, run.stderr
    plate = {f: read_frame(src.replace("####", f"{f:04d}")).select(["R", "G", "B"]) for f in range(1, 9)}
    for f in range(1, 9):
        amount = min(1.0, max(0.0, (f - 2) / 4))  # linear between the keys, held outside them
        brightest = np.max([plate[n] for n in range(max(1, f - 2), f + 1)], axis=0)  # clamped at frame 1
        expected = plate[f] + np.float32(amount) * (brightest - plate[f])
        got = read_frame(whole.replace("####", f"{f:04d}"))
        if got.pixel_types[0] == "half":  # the frame as written: float32 arithmetic, stored as half
            expected = expected.astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(got.select(["R", "G", "B"]), expected)
        np.testing.assert_array_equal(read_frame(chunks.replace("####", f"{f:04d}")).pixels, got.pixels)
