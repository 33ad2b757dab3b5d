"""The bad-input and fault corpus: every case is one command line on small fixtures, with the exit code and
the words the message must carry. For every case, no input file changes (byte-compared) and no temporary
file is left. Cases come from a review that ran 149 of them against the CLI (the ones that failed then are
marked); signals and stale temporaries have their own tests below."""
import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from filmai_plugins.cli import main as filmai
from helpers import write_exr, write_otio

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
SHIPPED_DENOISE = os.path.join(REPO, "nodes", "cnn", "denoise", "models", "denoise.ckpt")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A workspace: a 5-frame plate (1-5), a plate in a folder with '#' in its name, models and files."""
    import torch

    from filmai_plugins.training.checkpoint import load_checkpoint, save_checkpoint

    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    for f in range(1, 6):
        pixels = rng.uniform(0, 1, (8, 16, 4)).astype(np.float32)
        write_exr(str(root / "in" / f"plate.{f:04d}.exr"), pixels)
        write_exr(str(root / "shots" / "#12" / f"plate.{f:04d}.exr"), pixels)
    (root / "out").mkdir()
    (root / "garbage_pk.pt").write_bytes(b"PK\x03\x04" + os.urandom(200))
    (root / "empty.pt").write_bytes(b"")
    torch.save(torch.nn.Conv2d(3, 3, 1), str(root / "pickle.pt"))
    (root / "half.exr").write_bytes(open(root / "in" / "plate.0001.exr", "rb").read()[:300])
    # a denoise checkpoint whose metadata was edited to declare a network 2000x wider than its weights
    ckpt = load_checkpoint(SHIPPED_DENOISE)
    meta = dict(ckpt.meta)
    meta["arch"] = {**meta["arch"], "unet": {**meta["arch"]["unet"], "widths": [48000, 96000, 192000]}}
    save_checkpoint(str(root / "wide.ckpt"), ckpt.tensors, meta)
    write_otio(str(root / "cuts.otio"), [(16, 0.9)])
    return root


def _snapshot(root):
    digest = {}
    for folder, _, files in os.walk(root / "in"):
        for name in files:
            path = os.path.join(folder, name)
            digest[path] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    for name in ("cuts.otio", "wide.ckpt", "pickle.pt"):
        digest[name] = hashlib.sha256(open(root / name, "rb").read()).hexdigest()
    return digest


def _temporaries(root):
    return [os.path.join(f, n) for f, _, names in os.walk(root) for n in names if n.startswith(".") and ".tmp" in n]


IN = "{root}/in/plate.####.exr"
OUT = "{root}/out/{case}/o.####.exr"

#: (case, argv template, exit code, words the message carries); "was" marks what failed in the review
CASES = [
    ("manifest-onto-input", ["run", "util.convert", "-i", IN, "-o", OUT, "-f", "1-5", "--manifest",
                             "{root}/in/plate.0001.exr"], 2, ["the manifest {root}/in/plate.0001.exr would overwrite frame 1 of the input"]),  # was exit 0
    ("train-out-onto-input", ["train", "cnn.copycat", "-i", IN, "-t", IN, "-f", "1", "--out", "{root}/in/plate.0001.exr",
                              "--set", "steps=1"], 2, ["the checkpoint (--out)", "would overwrite frame 1 of the input"]),  # was exit 0
    ("single-file-for-five-frames", ["run", "util.convert", "-i", IN, "-o", "{root}/out/{case}/one.exr", "-f", "1-5"],
     2, ["single file but 5 frames", "one.####.exr"]),  # was exit 0
    ("huge-spec", ["run", "util.convert", "-i", IN, "-o", OUT, "-f", "1-100000000"], 2,
     ["names 100000000 frames", "FILMAI_MAX_FRAMES"]),  # was a traceback
    ("two-million", ["run", "util.convert", "-i", IN, "-o", OUT, "-f", "1-2000000"], 2, ["the limit is 1000000"]),
    ("fractional-frame", ["run", "util.convert", "-i", IN, "-o", OUT, "-f", "1.5"], 2, ["whole numbers"]),  # was 0
    ("garbage-torchscript", ["run", "cnn.torchscript", "-i", IN, "-o", OUT, "--model", "{root}/garbage_pk.pt"], 2,
     ["garbage_pk.pt", "damaged or truncated zip"]),  # was exit 1
    ("empty-torchscript", ["run", "cnn.torchscript", "-i", IN, "-o", OUT, "--model", "{root}/empty.pt"], 2,
     ["empty.pt", "not a TorchScript model"]),
    ("pickle-torchscript", ["run", "cnn.torchscript", "-i", IN, "-o", OUT, "--model", "{root}/pickle.pt"], 2,
     ["pickle.pt", "never unpickles"]),
    ("absurd-checkpoint", ["run", "cnn.denoise", "-i", IN, "-o", OUT, "-f", "1", "--model", "{root}/wide.ckpt"], 2,
     ["wide.ckpt", "does not fit the weights it holds"]),  # was: ran until memory ran out
    ("hash-in-folder", ["run", "util.convert", "-i", "{root}/shots/#12/plate.####.exr", "-o", OUT, "-f", "1-2"], 0,
     []),  # was refused
    ("output-is-input", ["run", "util.convert", "-i", IN, "-o", IN, "-f", "2"], 2, ["would overwrite frame 2 of the input"]),
    ("unknown-node", ["run", "util.convrt", "-i", IN, "-o", OUT], 2, ["unknown node 'util.convrt'"]),
    ("missing-frames", ["run", "util.convert", "-i", IN, "-o", OUT, "-f", "1-9"], 2, ["4 of 9 frames missing: 6-9"]),
    ("unknown-param", ["run", "util.convert", "-i", IN, "-o", OUT, "--set", "nope=1"], 2, ["unknown param 'nope'"]),
    ("set-without-value", ["run", "util.convert", "-i", IN, "-o", OUT, "--set", "channels"], 2, ["NAME=VALUE"]),
    ("bad-float", ["run", "util.temporal_median", "-i", IN, "-o", OUT, "--set", "mix=abc"], 2,
     ["param 'mix'", "invalid float"]),
    ("keys-on-fixed-param", ["run", "util.temporal_median", "-i", IN, "-o", OUT, "--set", "window=1:3"], 2,
     ["param 'window' is not animatable"]),
    ("keys-not-increasing", ["run", "util.temporal_median", "-i", IN, "-o", OUT, "--set", "mix=3:0,2:1"], 2,
     ["key frames must increase"]),
    ("even-window", ["run", "util.temporal_median", "-i", IN, "-o", OUT, "--set", "window=2"], 2, ["2 is even"]),
    ("window-larger-than-plate", ["run", "util.temporal_median", "-i", IN, "-o", OUT, "--set", "window=7"], 2,
     ["more than the input sequence has (5 frames"]),
    ("timeline-onto-itself", ["timeline", "convert", "{root}/cuts.otio", "{root}/cuts.otio", "--overwrite"], 2,
     ["the target", "would overwrite the timeline"]),
    ("export-onto-model", ["export", "--model", "{root}/wide.ckpt", "--out", "{root}/wide.ckpt"], 2,
     ["the export (--out)", "would overwrite the checkpoint"]),
    ("truncated-frame", ["run", "util.convert", "-i", "{root}/half.exr", "-o", "{root}/out/{case}/o.exr"], 2,
     ["half.exr"]),
    ("folder-as-model", ["run", "cnn.denoise", "-i", IN, "-o", OUT, "-f", "1", "--model", "{root}/in"], 2,
     ["model file not found"]),
    ("missing-model", ["run", "cnn.torchscript", "-i", IN, "-o", OUT, "--model", "{root}/nope.pt"], 2,
     ["model file not found"]),
    ("tile-too-small", ["run", "util.convert", "-i", IN, "-o", OUT, "--tile-size", "10"], 2,
     ["tile_size", "below the minimum 64"]),
    ("unknown-compression", ["run", "util.convert", "-i", IN, "-o", OUT, "--compression", "lzma"], 2,
     ["invalid choice: 'lzma'"]),
    ("empty-frame-spec", ["run", "util.convert", "-i", IN, "-o", OUT, "-f", " "], 2, ["empty frame spec"]),
    ("letters-as-frames", ["run", "util.convert", "-i", IN, "-o", OUT, "-f", "a-b"], 2, ["not a frame or a range"]),
    ("zero-step", ["run", "util.convert", "-i", IN, "-o", OUT, "-f", "1-5x0"], 2, ["step"]),
    ("two-frame-fields", ["run", "util.convert", "-i", "{root}/in/plate.####.####.exr", "-o", OUT], 2,
     ["more than one frame-number field"]),
    ("two-outputs-one-file", ["run", "util.convert", "-i", IN, "-o", OUT, "-f", "1-2", "--manifest",
                              "{root}/out/{case}/o.0001.exr"], 2, ["are the same file"]),
    ("farm-values-onto-input", ["farm", "template", "util.convert", "-i", IN, "-o", OUT, "-f", "1-5", "--values",
                                "{root}/in/plate.0002.exr"], 2, ["the parameter values (--values)",
                                                                  "would overwrite frame 2 of the input"]),
    ("farm-project-escapes", ["farm", "template", "util.convert", "-i", IN, "-o", OUT, "-f", "1-5", "--publish-root",
                              "{root}/pub", "--project", "../../x", "--shot", "s", "--task", "t"], 2, ["../../x"]),
    ("reverse-range", ["run", "util.convert", "-i", IN, "-o", OUT, "-f", "5-1"], 0, []),
    ("stepped-range", ["run", "util.convert", "-i", IN, "-o", OUT, "-f", "1-5:2"], 0, []),
    ("single-file-single-frame", ["run", "util.convert", "-i", IN, "-o", "{root}/out/{case}/one.exr", "-f", "3"], 0, []),
]


@pytest.mark.parametrize("case,argv,code,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_corpus(ws, capsys, case, argv, code, words):
    before = _snapshot(ws)
    args = [a.format(root=ws, case=case) for a in argv]
    try:
        got = filmai(args)
    except SystemExit as exc:  # argparse usage errors
        got = exc.code
    err = capsys.readouterr().err
    assert got == code, f"{case}: exit {got}, expected {code}: {err}"
    for w in words:
        assert w.format(root=ws, case=case) in err, f"{case}: {w!r} not in: {err}"
    assert "Traceback" not in err
    assert _snapshot(ws) == before, f"{case}: an input file changed"
    assert _temporaries(ws) == [], f"{case}: temporary files left"
    if code == 2:
        out = ws / "out" / case
        assert not out.exists() or not [n for n in os.listdir(out) if n.endswith(".exr")], f"{case}: frames written"


def test_the_huge_spec_is_refused_in_milliseconds(ws, capsys):
    t0 = time.perf_counter()
    assert filmai(["run", "util.convert", "-i", str(ws / "in" / "plate.####.exr"), "-o", str(ws / "out" / "x.####.exr"),
                   "-f", "1-2000000"]) == 2
    assert time.perf_counter() - t0 < 1.0


def test_stale_temporaries_of_killed_writers_are_removed(ws, capsys):
    out = ws / "out" / "resume"
    assert filmai(["run", "util.convert", "-i", str(ws / "in" / "plate.####.exr"), "-o", str(out / "o.####.exr")]) == 0
    from filmai_plugins.atomic import _host

    dead = out / f".o.0003.exr.{_host()}-999999999-deadbeef.tmp"  # a pid that cannot exist
    live = out / f".o.0004.exr.{_host()}-{os.getpid()}-0badf00d.tmp"  # this process: still writing
    for p in (dead, live):
        p.write_bytes(b"half a frame")
        os.utime(p, (time.time() - 60, time.time() - 60))
    assert filmai(["run", "util.convert", "-i", str(ws / "in" / "plate.####.exr"), "-o", str(out / "o.####.exr"),
                   "--skip-existing"]) == 0
    assert not dead.exists() and live.exists()
    live.unlink()


@pytest.mark.parametrize("delay", [0.3, 1.5, 3.0])
def test_sigterm_at_any_stage_stops_within_seconds_and_leaves_no_partial_output(tmp_path, delay):
    """SIGTERM at start-up, while resolving and loading the model, and while computing: the process ends
    within 5 seconds with exit 143 and leaves only complete frames and no temporaries."""
    rng = np.random.default_rng(1)
    for f in range(1, 41):
        write_exr(str(tmp_path / "in" / f"r.{f:04d}.exr"), rng.uniform(0, 2, (96, 128, 3)).astype(np.float32),
                  ["R", "G", "B"])
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "filmai_plugins", "run", "cnn.denoise", "-i",
                             str(tmp_path / "in" / "r.####.exr"), "-o", str(out / "d.####.exr"), "--set", "ensemble=true"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert time.perf_counter() - t0 < 5.0
    assert proc.returncode in (143, -signal.SIGTERM), err  # -15: killed before Python installed its handler
    assert "Traceback" not in err
    if out.exists():
        assert _temporaries(out) == []
        from filmai_plugins.frames import read_frame

        for name in os.listdir(out):
            if name.endswith(".exr"):
                read_frame(str(out / name))  # every frame there is complete


def test_sigterm_during_training_stops_at_the_step_and_keeps_a_resumable_checkpoint(tmp_path):
    import json

    from helpers import blob_pairs

    src, dst = blob_pairs(str(tmp_path))
    out = tmp_path / "shot.ckpt"
    proc = subprocess.Popen([sys.executable, "-m", "filmai_plugins", "train", "cnn.copycat", "-i", src, "-t", dst,
                             "-f", "1001-1003", "--out", str(out), "--set", "steps=5000", "--set", "crop_size=32",
                             "--set", "batch_size=2", "--set", "threads=1", "--progress", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:  # wait for the first training step
        if '"event": "step"' in line:
            break
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.perf_counter() - t0 < 5.0
    assert proc.returncode == 143, err
    manifest = json.load(open(tmp_path / "shot.train.manifest.json"))  # no completed attempt before: the record
    assert manifest["status"] == "cancelled"
    kept = [c["path"] for c in manifest["checkpoints"]]
    assert kept and os.path.isfile(kept[-1]) and "checkpoint_" in kept[-1]  # resumable from where it stopped
    assert not out.exists() and _temporaries(tmp_path) == []


def test_a_signal_surfacing_as_a_library_error_is_still_a_cancel(monkeypatch, capsys):
    """A SIGTERM landing inside a C extension's import (PyOpenColorIO's module init) surfaces as that import's
    own error ("initialization failed"): once the signal has set the cancel token it is a cancel, exit 143."""
    from filmai_plugins import cli

    def interrupted(args):
        args.cancel.cancel("SIGTERM", 143)  # what the signal handler does before raising
        raise ImportError("initialization failed")

    monkeypatch.setattr(cli, "cmd_nodes", interrupted)
    assert cli.main(["nodes"]) == 143
    assert "cancelled: SIGTERM" in capsys.readouterr().err
