"""`filmai demo --quick`: the README's main job runs end to end and says where everything is."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

from filmai_plugins.cli import main as filmai
from filmai_plugins.demo import make_shot_frame
from filmai_plugins.frames.io import read_frame, read_header

pytest.importorskip("torch")


def test_shot_frames_have_markers_motion_and_hdr():
    dirty, clean = make_shot_frame(1001, 160, 90, frames=12)
    later, _ = make_shot_frame(1010, 160, 90, frames=12)
    assert dirty.shape == clean.shape == (90, 160, 3) and dirty.dtype == np.float32
    assert clean.max() > 4.0  # practical lights well above 1.0
    changed = np.abs(dirty - clean).max(axis=2) > 0.05
    assert 0.002 < changed.mean() < 0.1  # markers and a wire: small, but there
    assert np.abs(later - dirty).mean() > 0.01  # the camera moves


def test_quick_demo_trains_applies_and_reports(tmp_path, capsys):
    out = tmp_path / "demo"
    assert filmai(["demo", "--quick", "--out", str(out), "--threads", "1", "--progress", "none"]) == 0
    text = capsys.readouterr().out
    m = re.search(r"held-out PSNR .*?: ([\d.]+) dB\s+doing nothing: ([\d.]+) dB", text)
    assert m, text
    assert 10 < float(m.group(2)) < 60 and float(m.group(1)) > 10
    results = sorted(os.listdir(out / "result"))
    assert [n for n in results if n.endswith(".exr")] == [f"result.{f}.exr" for f in range(1001, 1009)]
    frame = read_frame(str(out / "result" / "result.1003.exr"))
    assert frame.channels == ["R", "G", "B"] and frame.pixels.max() > 1.0  # HDR kept through the model
    sheet = read_header(str(out / "demo_contact.png"))
    assert sheet.channels == ["R", "G", "B"] and sheet.width > 200
    for name in ("shot.ckpt", "shot.pt", "shot.train.manifest.json"):
        assert (out / name).is_file(), name
    for line in ("plate (input)", "result ", "contact sheet", "model "):
        assert line in text
