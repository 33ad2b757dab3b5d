"""The shared training machinery: datasets, the Trainer loop (seed, resume, cancel, schedules), DDP."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from filmai_plugins.engine.cancel import CancelToken
from filmai_plugins.engine.runner import train_node
from filmai_plugins.errors import BadInput, Cancelled, FrameError
from filmai_plugins.training.checkpoint import load_checkpoint, read_checkpoint_meta
from filmai_plugins.training.datasets import (Augmentation, ChannelCodec, FramePair, PairedCrops, channel_kind)
from filmai_plugins.training.loop import TrainConfig, latest_interval_checkpoint

from helpers import TINY, blob_pairs, write_exr

torch = pytest.importorskip("torch")

# Small and single-threaded: steps stay fast on a busy 2-core machine.




@pytest.fixture
def pairs(tmp_path):
    return blob_pairs(str(tmp_path))


def weights_sha(path):
    return read_checkpoint_meta(path)["weights_sha256"]


# ----- datasets ------------------------------------------------------------------------------------


def test_codec_round_trips_hdr_and_clamps_only_bounded_channels():
    codec = ChannelCodec.for_channels(["R", "G", "B", "A"])
    assert codec.encodings == ("log", "log", "log", "linear") and codec.bounded == (False, False, False, True)
    px = np.array([[[0.0, 1.0, 250.0, 0.5], [-0.02, 0.18, 40.0, 1.0]]], np.float32)
    enc = codec.encode(px)
    assert enc[0, 0, 2] < 4.0  # 250 compressed into a range a network handles
    np.testing.assert_allclose(codec.decode(enc), px, rtol=1e-5, atol=1e-6)
    over = enc.copy()
    over[..., 3] = 1.3
    assert codec.decode(over)[..., 3].max() == 1.0 and codec.decode(over)[..., 2].max() > 40
    assert [channel_kind(n) for n in ("R", "diffuse.G", "A", "matte", "Z", "N.x")] == \
        ["colour", "colour", "bounded", "bounded", "data", "data"]


def _pair(size=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((size, size, 4)).astype(np.float32) * 3
    x[..., 3] = rng.random((size, size))
    y = x * np.array([2.0, 2.0, 2.0, 1.0], np.float32)  # a pixelwise map: target = 2 * input (alpha unchanged)
    return FramePair(1, x, y, channels_in=list("RGBA"), channels_out=list("RGBA"))


def test_crops_are_deterministic_and_ranks_split_the_same_batch():
    codec = ChannelCodec.for_channels(list("RGBA"))
    kw = dict(batch_size=4, seed=3, codec_in=codec, codec_out=codec, augment=Augmentation(True, True, 2.0))
    a = PairedCrops([_pair(), _pair(seed=1)], 16, **kw)
    b = PairedCrops([_pair(), _pair(seed=1)], 16, **kw)
    xa, ya = a.batch(7)
    xb, yb = b.batch(7)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(xa, a.batch(8)[0])
    assert not np.array_equal(xa, PairedCrops([_pair(), _pair(seed=1)], 16, **{**kw, "seed": 4}).batch(7)[0])
    r0 = PairedCrops([_pair(), _pair(seed=1)], 16, rank=0, world_size=2, **kw).batch(7)
    r1 = PairedCrops([_pair(), _pair(seed=1)], 16, rank=1, world_size=2, **kw).batch(7)
    np.testing.assert_array_equal(np.concatenate([r0[0], r1[0]]), xa)
    with pytest.raises(BadInput, match="multiple"):
        PairedCrops([_pair()], 16, rank=0, world_size=3, **kw)


def test_augmentation_keeps_input_and_target_aligned_and_exposes_only_colour():
    codec = ChannelCodec.for_channels(list("RGBA"))
    pair = _pair()
    data = PairedCrops([pair], 16, batch_size=8, seed=0, codec_in=codec, codec_out=codec,
                       augment=Augmentation(flips=True, rotations=True, exposure=3.0))
    x, y = data.batch(1)
    lx = codec.decode(x, axis=1)
    ly = codec.decode(y, axis=1)
    # the pixelwise map survives flips, rotations and exposure: target RGB = 2 * input RGB, alpha equal
    np.testing.assert_allclose(ly[:, :3], 2 * lx[:, :3], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ly[:, 3], lx[:, 3], atol=1e-6)
    assert lx[:, 3].max() <= 1.0  # alpha is never scaled by exposure jitter
    assert lx[:, :3].max() > 3.0  # but colour is (the plate tops out at 3.0)


def test_focus_finds_a_small_fix_in_most_crops():
    x = np.full((128, 128, 3), 0.3, np.float32)
    y = x.copy()
    x[100:104, 20:24] = [0.0, 2.0, 0.0]  # a 4x4 marker in a 128x128 frame
    pair = FramePair(1, x, y, channels_in=list("RGB"), channels_out=list("RGB"))
    codec = ChannelCodec.for_channels(list("RGB"))

    def hits(focus):
        data = PairedCrops([pair], 24, batch_size=8, seed=0, codec_in=codec, codec_out=codec, focus=focus)
        n = 0
        for step in range(1, 26):
            xb, yb = data.batch(step)
            n += int(np.sum(np.abs(xb - yb).reshape(8, -1).max(axis=1) > 0.1))
        return n / 200

    assert hits(0.9) > 0.8 > 0.2 > hits(0.0)


def test_crop_edge_margin_leaves_out_crop_sides_but_not_frame_borders():
    pair = _pair(size=40)
    codec = ChannelCodec.for_channels(list("RGBA"))
    plain = PairedCrops([pair], 16, batch_size=8, seed=2, codec_in=codec, codec_out=codec)
    assert not np.isnan(plain.batch(1)[1]).any()  # off by default
    data = PairedCrops([pair], 16, batch_size=1, seed=2, codec_in=codec, codec_out=codec, crop_edge_margin=3,
                       augment=Augmentation(False, False, 0.0))  # the margin where the crop was cut, unturned
    whole = PairedCrops([pair], 40, batch_size=1, seed=2, codec_in=codec, codec_out=codec, crop_edge_margin=3)
    assert whole.crop_edge_margin == 3 and not np.isnan(whole.batch(1)[1]).any()  # the crop is the frame
    seen = set()
    for step in range(200):
        rng = np.random.default_rng([2, step, 0])
        rng.integers(1)
        y0, x0 = data._crop_origin(rng, 0, False)
        nan = np.isnan(data.sample(step, 0)[1][0])
        expect = np.zeros((16, 16), bool)
        expect[:3] |= y0 > 0
        expect[-3:] |= y0 + 16 < 40
        expect[:, :3] |= x0 > 0
        expect[:, -3:] |= x0 + 16 < 40
        np.testing.assert_array_equal(nan, expect)
        seen.add((y0 == 0, x0 == 0, y0 == 24, x0 == 24))
    assert len(seen) >= 4  # crops at the border and inside were both drawn
    assert PairedCrops([pair], 16, batch_size=1, codec_in=codec, codec_out=codec, crop_edge_margin=9).crop_edge_margin == 4


def test_lr_schedules_warm_up_and_decay():
    cfg = TrainConfig(learning_rate=1.0, warmup_steps=10, lr_schedule="cosine")
    assert cfg.lr_factor(0.0, 1) < cfg.lr_factor(0.0, 5) < cfg.lr_factor(0.0, 10) < 1.0
    assert cfg.lr_factor(0.2, 11) > cfg.lr_factor(0.6, 60) > cfg.lr_factor(1.0, 100) == pytest.approx(0.01)
    step = TrainConfig(warmup_steps=0, lr_schedule="step")
    assert [step.lr_factor(p, 50) for p in (0.1, 0.6, 0.9)] == [1.0, 0.1, 0.01]
    assert TrainConfig(warmup_steps=0, lr_schedule="constant").lr_factor(0.99, 99) == 1.0


# ----- the loop, through cnn.copycat --------------------------------------------------------------


def test_same_seed_same_model_and_training_summary(pairs, tmp_path):
    src, dst = pairs
    params = {**TINY, "validation_frames": "1004"}
    m1 = train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(tmp_path / "a.ckpt"), params=params)
    train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(tmp_path / "b.ckpt"), params=params)
    train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(tmp_path / "c.ckpt"),
               params={**params, "seed": 1})
    assert weights_sha(tmp_path / "a.ckpt") == weights_sha(tmp_path / "b.ckpt") != weights_sha(tmp_path / "c.ckpt")
    t = m1["training"]
    assert t["steps"] == 12 and t["validation_frames"] == [1004] and t["training_frames"] == [1001, 1002, 1003]
    assert t["identity_psnr"] > 10 and [h["step"] for h in t["history"]] == [6, 12]
    assert t["samples_per_second"] > 0
    sheets = t["contact_sheets"]
    assert [os.path.basename(p) for p in sheets] == ["contact_000006.png", "contact_000012.png"]
    from filmai_plugins.frames.io import read_header

    h = read_header(sheets[-1])
    assert h.width > 3 * 200 and h.channels == ["R", "G", "B"]  # input | output | target
    meta = read_checkpoint_meta(str(tmp_path / "a.ckpt"))
    assert meta["node"] == "cnn.copycat" and meta["training"]["steps"] == 12 and "train_state" not in meta
    ckpt = load_checkpoint(str(tmp_path / "a.ckpt"))
    assert not any(k.startswith("train_state/") for k in ckpt.tensors)
    assert os.path.isfile(tmp_path / "a.train" / "checkpoint_000006.ckpt")


def test_cancel_keeps_a_checkpoint_and_resume_matches_an_uninterrupted_run(pairs, tmp_path):
    src, dst = pairs
    full = tmp_path / "full.ckpt"
    train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(full), params=TINY)

    token = CancelToken()

    def on_event(event):
        if event["event"] == "step" and event["step"] == 8:
            token.cancel("test cancel")

    part = tmp_path / "part.ckpt"
    with pytest.raises(Cancelled):
        train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(part), params=TINY,
                   cancel=token, on_event=on_event)
    assert not part.exists()  # the final checkpoint is written only by a finished run
    kept = latest_interval_checkpoint(str(tmp_path / "part.train"))
    assert kept.endswith("checkpoint_000008.ckpt")  # the last completed step, not the last interval
    state = read_checkpoint_meta(kept)["train_state"]
    assert state["step"] == 8 and state["reason"] == "cancelled"

    m = train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(part),
                   params={**TINY, "resume": "last"})
    assert m["training"]["resumed_from"] == kept and m["training"]["steps"] == 12
    assert weights_sha(part) == weights_sha(full)  # exactly the uninterrupted model


def test_resuming_a_training_whose_time_limit_is_spent_is_refused(pairs, tmp_path):
    src, dst = pairs
    out = tmp_path / "model.ckpt"
    params = {**TINY, "steps": 4, "checkpoint_interval": 2}
    train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(out), params=params)
    before = weights_sha(out)
    # the limit counts the whole training: the 4 steps of the finished run (its final checkpoint) took longer
    with pytest.raises(BadInput, match=r"checkpoint_000004\.ckpt: this training has already run .* time_limit"):
        train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(out),
                   params={**params, "steps": 8, "resume": "last", "time_limit": 1e-6})
    assert weights_sha(out) == before  # the finished model is not replaced by the older state


def test_fine_tune_starts_from_the_previous_model(pairs, tmp_path):
    src, dst = pairs
    first = tmp_path / "first.ckpt"
    train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(first), params=TINY)
    m = train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(tmp_path / "ft.ckpt"),
                   model=str(first), params={**TINY, "steps": 2, "learning_rate": 1e-7, "warmup_steps": 0})
    assert m["training"]["init_model"] == str(first) and m["init_model"]["path"] == str(first)
    a, b = load_checkpoint(str(first)).tensors, load_checkpoint(str(tmp_path / "ft.ckpt")).tensors
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) < 1e-4  # started from it, barely moved


def test_bad_pairs_are_clear_errors_naming_file_and_frame(tmp_path):
    src, dst = blob_pairs(str(tmp_path))
    write_exr(str(tmp_path / "dst.1002.exr"), np.zeros((40, 48, 3), np.float32), ["R", "G", "B"])  # wrong size
    with pytest.raises(FrameError, match=r"dst\.1002\.exr \(frame 1002\).*line up"):
        train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(tmp_path / "x.ckpt"), params=TINY)
    with pytest.raises(FrameError, match=r"frames missing: 1007-1008"):
        train_node("cnn.copycat", input=src, target=dst, frames="1001", out=str(tmp_path / "x.ckpt"),
                   params={**TINY, "validation_frames": "1007,1008"})
    nan = np.full((48, 48, 3), 0.5, np.float32)
    nan[3, 3, 1] = np.nan
    write_exr(str(tmp_path / "dst.1003.exr"), nan, ["R", "G", "B"], pixel_type="float")
    with pytest.raises(FrameError, match=r"dst\.1003\.exr \(frame 1003\): 1 NaN/Inf"):
        train_node("cnn.copycat", input=src, target=dst, frames="1003", out=str(tmp_path / "x.ckpt"), params=TINY)
    with pytest.raises(FrameError, match=r"src\.1001\.exr \(frame 1001\): input has no channel 'A'"):
        train_node("cnn.copycat", input=src, target=dst, frames="1001", out=str(tmp_path / "x.ckpt"),
                   params={**TINY, "channels_in": "R,G,B,A"})
    assert not (tmp_path / "x.ckpt").exists()


def test_data_parallel_two_processes_match_one(pairs, tmp_path):
    """--nproc 2 (gloo on CPU): each rank trains on half of every batch; the result is the one-process model."""
    src, dst = pairs
    sets = [f"--set={k}={v}" for k, v in {**TINY, "steps": 6, "checkpoint_interval": 3}.items()]
    common = ["train", "cnn.copycat", "--input", src, "--target", dst, "--frames", "1001-1003", *sets,
              "--progress", "none"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run([sys.executable, "-m", "filmai_plugins", *common, "--out", str(tmp_path / "ddp.ckpt"),
                          "--nproc", "2"], capture_output=True, text=True, env=env, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    meta = read_checkpoint_meta(str(tmp_path / "ddp.ckpt"))
    assert meta["training"]["world_size"] == 2 and meta["training"]["steps"] == 6
    assert os.path.isfile(tmp_path / "ddp.train" / "checkpoint_000003.ckpt")
    assert os.path.isfile(tmp_path / "ddp.train.manifest.json")
    train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(tmp_path / "one.ckpt"),
               params={**TINY, "steps": 6, "checkpoint_interval": 3})
    a, b = load_checkpoint(str(tmp_path / "ddp.ckpt")).tensors, load_checkpoint(str(tmp_path / "one.ckpt")).tensors
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) < 1e-3

    with pytest.raises(BadInput, match="multiple of the number of processes"):  # refused before spawning
        train_node("cnn.copycat", input=src, target=dst, frames="1001-1003", out=str(tmp_path / "bad.ckpt"),
                   params={**TINY, "batch_size": 3}, nproc=2)
    assert not (tmp_path / "bad.ckpt").exists()
