"""cnn.copycat: learns a fix from a few pairs, applies it to a shot, exports TorchScript, refuses bad input."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from filmai_plugins import color
from filmai_plugins.cli import main as filmai
from filmai_plugins.engine.runner import run_node, train_node
from filmai_plugins.frames.io import read_frame, read_provenance
from filmai_plugins.training.checkpoint import load_checkpoint, read_checkpoint_meta, save_checkpoint
from filmai_plugins.training.datasets import psnr

from helpers import write_exr
from helpers import TINY, blob_pairs

torch = pytest.importorskip("torch")


def enc_psnr(a, b):
    """PSNR in the log working encoding: fair to HDR plates (a 5.0 highlight does not drown the rest)."""
    return psnr(color.encode(a, "log"), color.encode(b, "log"))


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """Blob-removal pairs 1001-1006 and a model trained through the CLI on three of them."""
    folder = tmp_path_factory.mktemp("copycat")
    torch.set_num_threads(1)
    src, dst = blob_pairs(str(folder), frames=range(1001, 1007), size=64)
    ckpt = str(folder / "shot.ckpt")
    sets = {**TINY, "steps": 150, "validation_frames": "1004", "validation_interval": 50, "checkpoint_interval": 1000,
            "contact_sheet_interval": 1000, "learning_rate": 3e-3, "warmup_steps": 10}
    argv = ["train", "cnn.copycat", "--input", src, "--target", dst, "--frames", "1001,1003,1005", "--out", ckpt,
            "--progress", "none"] + [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    assert filmai(argv) == 0
    return {"folder": folder, "src": src, "dst": dst, "ckpt": ckpt}


def frame_path(pattern, f):
    return pattern.replace("####", f"{f:04d}")


def test_learns_the_fix_on_frames_it_never_saw_and_keeps_hdr(shot, tmp_path, capsys):
    out = str(tmp_path / "out.####.exr")
    manifest = run_node("cnn.copycat", input=shot["src"], output=out, frames="1001-1006", model=shot["ckpt"],
                        io={"pixel_type": "float"})
    assert manifest["outputs"]["output"]["count"] == 6
    gains = []
    for f in (1002, 1004, 1006):  # never trained on
        got = read_frame(frame_path(out, f)).pixels
        truth = read_frame(frame_path(shot["dst"], f)).pixels
        src = read_frame(frame_path(shot["src"], f)).pixels
        gains.append(enc_psnr(got, truth) - enc_psnr(src, truth))
        assert got[54, 54].max() > 4.0  # the 5.0 highlight is not clamped to 1
    assert min(gains) > 3.0, gains
    meta = read_checkpoint_meta(shot["ckpt"])
    assert meta["training"]["best_validation_psnr"] > meta["training"]["identity_psnr"] + 3
    assert meta["channels_in"] == meta["channels_out"] == ["R", "G", "B"]
    prov = read_provenance(frame_path(out, 1001))
    assert prov["node"] == "cnn.copycat" and prov["modelSha256"] == manifest["model"]["sha256"]


def test_matte_rgb_to_alpha_stays_within_0_1(tmp_path):
    size = 48
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    for f in range(1001, 1005):
        img = np.stack([0.3 + 0.2 * np.sin(x / 5 + f), 0.4 + 0.2 * np.cos(y / 6), 0.5 + 0.0 * x], axis=2)
        disc = ((x - 10 - 8 * (f - 1001)) ** 2 + (y - 24) ** 2) < 60
        img[disc] = [2.5, 0.4, 0.2]  # a bright orange object (HDR) to pull a matte for
        write_exr(str(tmp_path / f"rgb.{f}.exr"), img, ["R", "G", "B"])
        write_exr(str(tmp_path / f"matte.{f}.exr"), disc.astype(np.float32), ["A"])
    ckpt = str(tmp_path / "matte.ckpt")
    train_node("cnn.copycat", input=str(tmp_path / "rgb.####.exr"), target=str(tmp_path / "matte.####.exr"),
               frames="1001-1003", out=ckpt, params={**TINY, "steps": 80, "channels_out": "A", "learning_rate": 3e-3})
    assert read_checkpoint_meta(ckpt)["arch"]["bounded_out"] == [True]
    out = str(tmp_path / "out.####.exr")
    run_node("cnn.copycat", input=str(tmp_path / "rgb.####.exr"), output=out, frames="1004", model=ckpt,
             io={"pixel_type": "float"})
    frame = read_frame(frame_path(out, 1004))
    assert frame.channels == ["R", "G", "B", "A"]  # the plate passes through, the matte is added
    matte = frame.select(["A"])[..., 0]
    assert matte.min() >= 0.0 and matte.max() <= 1.0
    truth = read_frame(str(tmp_path / "matte.1004.exr")).pixels[..., 0] > 0.5
    pred = matte > 0.5
    assert (pred & truth).sum() / max(1, (pred | truth).sum()) > 0.6  # IoU on a frame it never saw


def test_other_channels_pass_through_and_mix_zero_is_the_input(shot, tmp_path):
    plate = read_frame(frame_path(shot["src"], 1002)).pixels
    rgbaz = np.concatenate([plate, np.full(plate.shape[:2] + (1,), 0.25, np.float32),
                            np.full(plate.shape[:2] + (1,), 42.0, np.float32)], axis=2)
    write_exr(str(tmp_path / "rgbaz.1002.exr"), rgbaz, ["R", "G", "B", "A", "Z"], pixel_type="float")
    out = str(tmp_path / "o.####.exr")
    run_node("cnn.copycat", input=str(tmp_path / "rgbaz.####.exr"), output=out, frames="1002", model=shot["ckpt"])
    f = read_frame(frame_path(out, 1002))
    assert f.channels == ["R", "G", "B", "A", "Z"] and f.pixel_types == ["float"] * 5
    np.testing.assert_array_equal(f.select(["A", "Z"]), rgbaz[..., 3:])
    mixed = str(tmp_path / "m.####.exr")
    run_node("cnn.copycat", input=str(tmp_path / "rgbaz.####.exr"), output=mixed, frames="1002", model=shot["ckpt"],
             params={"mix": 0.0, "keep_other_channels": False})
    m = read_frame(frame_path(mixed, 1002))
    assert m.channels == ["R", "G", "B"]
    np.testing.assert_allclose(m.pixels, plate, atol=1e-6)


def test_tiles_match_the_whole_frame(shot, tmp_path):
    rng = np.random.default_rng(0)
    big = (rng.random((330, 410, 3)) * 2).astype(np.float32)  # not a multiple of the network's alignment
    write_exr(str(tmp_path / "big.1001.exr"), big, ["R", "G", "B"], pixel_type="float")
    whole, tiled = str(tmp_path / "whole.####.exr"), str(tmp_path / "tiled.####.exr")
    for out, tile in ((whole, 1024), (tiled, 320)):
        run_node("cnn.copycat", input=str(tmp_path / "big.####.exr"), output=out, frames="1001", model=shot["ckpt"],
                 io={"tile_size": tile, "pixel_type": "float"})
    a, b = read_frame(frame_path(whole, 1001)).pixels, read_frame(frame_path(tiled, 1001)).pixels
    assert float(np.abs(a - b).max()) < 1e-4


def test_torchscript_export_runs_in_cnn_torchscript_and_in_half(shot, tmp_path, capsys):
    pt = str(tmp_path / "shot.pt")
    assert filmai(["export", "--model", shot["ckpt"], "--format", "torchscript", "--out", pt]) == 0
    printed = capsys.readouterr().out
    assert "Channels In  = rgba.red, rgba.green, rgba.blue" in printed and "cnn.torchscript" in printed
    a_out, b_out = str(tmp_path / "cc.####.exr"), str(tmp_path / "ts.####.exr")
    run_node("cnn.copycat", input=shot["src"], output=a_out, frames="1002", model=shot["ckpt"],
             io={"pixel_type": "float"})
    meta = read_checkpoint_meta(shot["ckpt"])
    run_node("cnn.torchscript", input=shot["src"], output=b_out, frames="1002", model=pt, io={"pixel_type": "float"},
             params={"channels_in": "R,G,B", "channels_out": "R,G,B", "receptive_field": meta["receptive_field"],
                     "align": meta["align"], "scale": 1})
    a, b = read_frame(frame_path(a_out, 1002)).pixels, read_frame(frame_path(b_out, 1002)).pixels
    assert float(np.abs(a - b).max()) < 1e-4
    # Nuke's Inference casts model and input to half: the module must run (and agree) in fp16.
    module = torch.jit.load(pt).eval()
    x = torch.from_numpy(read_frame(frame_path(shot["src"], 1002)).pixels.transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        full = module(x)
        half = module.half()(x.half())
    assert half.dtype == torch.float16 and torch.isfinite(half).all()
    assert float(((half.float() - full).abs() / (full.abs() + 0.05)).max()) < 0.05
    assert filmai(["export", "--model", shot["ckpt"], "--out", shot["ckpt"]]) == 2  # never over its source


def test_wrong_channels_and_wrong_models_are_exit_2_with_nothing_written(shot, tmp_path, capsys):
    write_exr(str(tmp_path / "luma.1001.exr"), np.full((64, 64, 1), 0.5, np.float32), ["Y"])
    out = tmp_path / "out"
    rc = filmai(["run", "cnn.copycat", "--model", shot["ckpt"], "--input", str(tmp_path / "luma.####.exr"),
                 "--output", str(out / "o.####.exr"), "--frames", "1001"])
    err = capsys.readouterr().err
    assert rc == 2 and "luma.1001.exr (frame 1001)" in err and "trained on channels R,G,B" in err
    assert not any(n.endswith(".exr") for n in os.listdir(out))

    other = str(tmp_path / "denoise.ckpt")
    save_checkpoint(other, {"w": np.zeros(3, np.float32)}, {"node": "cnn.denoise"})
    rc = filmai(["run", "cnn.copycat", "--model", other, "--input", shot["src"], "--output",
                 str(out / "o.####.exr"), "--frames", "1001"])
    assert rc == 2 and "is for node 'cnn.denoise', not 'cnn.copycat'" in capsys.readouterr().err

    pickled = tmp_path / "model.pth"
    pickled.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    rc = filmai(["run", "cnn.copycat", "--model", str(pickled), "--input", shot["src"], "--output",
                 str(out / "o.####.exr"), "--frames", "1001"])
    assert rc == 2 and "never unpickles" in capsys.readouterr().err

    rc = filmai(["train", "cnn.copycat", "--model", other, "--input", shot["src"], "--target", shot["dst"],
                 "--frames", "1001", "--out", str(tmp_path / "ft.ckpt")])
    assert rc == 2 and not (tmp_path / "ft.ckpt").exists()
    rgba_model = str(tmp_path / "rgba.ckpt")
    rc = filmai(["train", "cnn.copycat", "--model", shot["ckpt"], "--input", shot["src"], "--target", shot["dst"],
                 "--frames", "1001", "--out", rgba_model, "--set", "channels_out=R,G"])
    assert rc == 2 and "was trained for R,G,B → R,G,B" in capsys.readouterr().err
    assert not any(n.endswith(".exr") for n in os.listdir(out))


def test_checkpoints_from_before_the_colour_branch_still_load():
    """Models trained before the per-pixel colour branch existed (no ``pointwise`` in their arch) load as
    the network they were, and give the same pixels as that network."""
    import torch

    from filmai_plugins.nodes.cnn.copycat import model as _copycat

    arch = _copycat.build_arch("small", ["R", "G", "B"], ["R", "G", "B"], "log", [False] * 3, [False] * 3)
    assert arch["pointwise"] > 0
    old_arch = {k: v for k, v in arch.items() if k != "pointwise"}
    torch.manual_seed(0)
    old = _copycat.CopycatModel(old_arch).eval()
    for p in old.core.unet.head.parameters():  # a trained head is not zero
        torch.nn.init.normal_(p, std=0.05)
    tensors = {k: v.numpy() for k, v in old.core.state_dict().items()}
    assert not any(k.startswith("pointwise") for k in tensors)
    loaded = _copycat.load_model({"arch": old_arch}, tensors, "old.ckpt")
    x = torch.rand(1, 3, 40, 56) * 3.0
    with torch.no_grad():
        assert torch.allclose(loaded(x), old(x), atol=1e-6)
        assert not torch.allclose(loaded(x), x, atol=1e-3)
    with pytest.raises(Exception, match="do not match"):  # a new-arch description with old weights is refused
        _copycat.load_model({"arch": arch}, tensors, "old.ckpt")


# ----- the look network and the automatic choice ---------------------------------------------------


def _texture(frame: int, size: int) -> np.ndarray:
    """A plate with texture at several scales, colour and HDR values, moving a little from frame to frame."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    x = x + 1.5 * (frame - 1001)
    img = np.zeros((size, size, 3), np.float32)
    for _ in range(12):
        fx, fy, ph = rng.uniform(0.05, 0.6), rng.uniform(0.05, 0.6), rng.uniform(0, 6.3)
        img += rng.uniform(0.02, 0.12, 3).astype(np.float32) * np.sin(fx * x + fy * y + ph)[..., None]
    return np.maximum(img + np.array([0.35, 0.3, 0.25], np.float32), 0.0) * 1.6


def _grade_sharpen(linear: np.ndarray) -> np.ndarray:
    """A look: warm gain, a tone curve (power) in display space, an unsharp mask: a per-pixel function plus
    a small filter."""
    k = np.exp(-0.5 * (np.arange(-4, 5) / 1.2) ** 2)
    k /= k.sum()
    d = color.encode(np.maximum(linear * np.array([1.15, 1.0, 0.85], np.float32), 0), "srgb") ** 1.3
    pad = np.pad(d, ((4, 4), (4, 4), (0, 0)), mode="edge")
    rows = sum(w * pad[i:i + d.shape[0]] for i, w in enumerate(k))
    blur = sum(w * rows[:, i:i + d.shape[1]] for i, w in enumerate(k))
    d = d + 0.7 * (d - blur)
    return color.decode(np.clip(d, 0, 1), "srgb").astype(np.float32)


@pytest.fixture(scope="module")
def look_shot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("look")
    for f in range(1001, 1006):
        plate = _texture(f, 64)
        write_exr(str(folder / f"src.{f}.exr"), plate, ["R", "G", "B"], pixel_type="float")
        write_exr(str(folder / f"dst.{f}.exr"), _grade_sharpen(plate), ["R", "G", "B"], pixel_type="float")
    torch.set_num_threads(1)
    ckpt = str(folder / "look.ckpt")
    manifest = train_node("cnn.copycat", input=str(folder / "src.####.exr"), target=str(folder / "dst.####.exr"),
                          frames="1001,1003,1005", out=ckpt,
                          params={"steps": 300, "threads": 1, "validation_frames": "1004", "validation_interval": 100,
                                  "checkpoint_interval": 1000, "contact_sheet_interval": 1000})
    return {"folder": folder, "src": str(folder / "src.####.exr"), "dst": str(folder / "dst.####.exr"), "ckpt": ckpt,
            "manifest": manifest}


def test_auto_chooses_the_look_network_for_a_grade_and_learns_it(look_shot, tmp_path):
    meta = read_checkpoint_meta(look_shot["ckpt"])
    choice = meta["network_choice"]
    assert choice["asked"] == "auto" and choice["network"] == meta["arch"]["family"] == "look"
    assert choice["covered"] > 0.9 and choice["pointwise_explained"] > 0.6
    training = meta["training"]
    assert training["crop_size"] == 48 and training["batch_size"] == 8  # the look network's own defaults
    assert meta["training_params"]["crop_size"] == 48
    out = str(tmp_path / "out.####.exr")
    run_node("cnn.copycat", input=look_shot["src"], output=out, frames="1002", model=look_shot["ckpt"],
             io={"pixel_type": "float"})
    got = read_frame(frame_path(out, 1002)).pixels
    truth = read_frame(frame_path(look_shot["dst"], 1002)).pixels
    src = read_frame(frame_path(look_shot["src"], 1002)).pixels
    # a frame it never saw: far closer to the look than doing nothing (measured ~+20 dB after 300 steps)
    assert enc_psnr(got, truth) > enc_psnr(src, truth) + 12


def test_auto_keeps_the_unet_for_sparse_fixes_noise_and_shapes():
    """The choice itself, on pairs made in memory: a look is a dense change that a per-pixel function of the
    colour (or that plus linear filters of the plate) explains; anything else keeps the U-Net."""
    from filmai_plugins.nodes.cnn.copycat.model import choose_network
    from filmai_plugins.training.datasets import ChannelCodec, FramePair

    rng = np.random.default_rng(0)
    rgb = ChannelCodec.for_channels(["R", "G", "B"])
    plates = [_texture(f, 64) for f in range(1001, 1004)]

    def choose(targets, codec_out=rgb, residual=(0, 1, 2)):
        pairs = [FramePair(i, p, t) for i, (p, t) in enumerate(zip(plates, targets))]
        return choose_network(pairs, rgb, codec_out, list(residual))

    network, stats = choose([_grade_sharpen(p) for p in plates])
    assert network == "look" and stats["covered"] > 0.9 and stats["pointwise_explained"] > 0.6

    def unsharp(p):  # sharpening alone, in display space: no per-pixel function explains it, a linear filter does
        d = color.encode(p, "srgb").astype(np.float64)
        pad = np.pad(d, ((1, 1), (1, 1), (0, 0)), mode="edge")
        blur = sum(pad[dy:dy + 64, dx:dx + 64] for dy in range(3) for dx in range(3)) / 9
        return color.decode(np.maximum(d + 0.5 * (d - blur), 0), "srgb").astype(np.float32)

    network, stats = choose([unsharp(p) for p in plates])
    assert network == "look" and stats["pointwise_explained"] < 0.6 < 0.8 < stats["local_explained"]
    dusty = []
    for p in plates:
        d = p.copy()
        d[rng.integers(0, 64, 40), rng.integers(0, 64, 40)] = 0.0  # dust: a few pixels
        dusty.append(d)
    network, stats = choose(dusty)
    assert network == "unet" and stats["covered"] < 0.1 and "covers" in stats["why"]
    network, stats = choose([p + rng.normal(0, 0.05, p.shape).astype(np.float32) for p in plates])  # (de)noise
    assert network == "unet" and stats["pointwise_explained"] < 0.3 and stats["local_explained"] < 0.3
    matte = ChannelCodec.for_channels(["A"])
    key = [np.clip((p[..., :1] - p[..., 2:3]) * 4, 0, 1) for p in plates]  # a colour key: a look
    assert choose(key, matte, (-1,))[0] == "look"
    y, x = np.mgrid[0:64, 0:64]
    disc = [((x - 20 - 5 * i) ** 2 + (y - 30) ** 2 < 150).astype(np.float32)[..., None] for i in range(3)]
    assert choose(disc, matte, (-1,))[0] == "unet"  # a shape the colours do not tell: the U-Net
    assert choose(plates)[0] == "unet"  # nothing to learn


def test_look_network_tiles_match_the_whole_frame_and_exports(look_shot, tmp_path):
    rng = np.random.default_rng(1)
    big = (rng.random((330, 410, 3)) * 2).astype(np.float32)  # not a multiple of the alignment (16)
    write_exr(str(tmp_path / "big.1001.exr"), big, ["R", "G", "B"], pixel_type="float")
    whole, tiled = str(tmp_path / "whole.####.exr"), str(tmp_path / "tiled.####.exr")
    for out, tile in ((whole, 1024), (tiled, 300)):
        run_node("cnn.copycat", input=str(tmp_path / "big.####.exr"), output=out, frames="1001",
                 model=look_shot["ckpt"], io={"tile_size": tile, "pixel_type": "float"})
    a, b = read_frame(frame_path(whole, 1001)).pixels, read_frame(frame_path(tiled, 1001)).pixels
    assert float(np.abs(a - b).max()) < 1e-4
    pt = str(tmp_path / "look.pt")
    assert filmai(["export", "--model", look_shot["ckpt"], "--format", "torchscript", "--out", pt]) == 0
    meta = read_checkpoint_meta(look_shot["ckpt"])
    ts = str(tmp_path / "ts.####.exr")
    run_node("cnn.torchscript", input=str(tmp_path / "big.####.exr"), output=ts, frames="1001", model=pt,
             io={"pixel_type": "float"},
             params={"channels_in": "R,G,B", "channels_out": "R,G,B", "receptive_field": meta["receptive_field"],
                     "align": meta["align"], "scale": 1})
    assert float(np.abs(read_frame(frame_path(ts, 1001)).pixels - a).max()) < 1e-4
    module = torch.jit.load(pt).eval()
    x = torch.from_numpy(big.transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        half = module.half()(x.half())
    assert half.dtype == torch.float16 and torch.isfinite(half).all()


def test_network_param_fine_tuning_and_unknown_networks(look_shot, tmp_path, capsys):
    src, dst = look_shot["src"], look_shot["dst"]
    forced = str(tmp_path / "unet.ckpt")
    train_node("cnn.copycat", input=src, target=dst, frames="1001", out=forced,
               params={**TINY, "steps": 2, "network": "unet"})
    meta = read_checkpoint_meta(forced)
    assert meta["arch"]["family"] == "unet" and meta["network_choice"] == {"asked": "unet", "network": "unet"}
    assert meta["training"]["crop_size"] == 32  # an explicit crop size is kept
    # fine-tuning keeps the previous model's network, whatever is asked
    tuned = str(tmp_path / "tuned.ckpt")
    train_node("cnn.copycat", input=src, target=dst, frames="1001", out=tuned, model=look_shot["ckpt"],
               params={"steps": 2, "threads": 1, "network": "unet"})
    assert read_checkpoint_meta(tuned)["arch"] == read_checkpoint_meta(look_shot["ckpt"])["arch"]
    # a model of a network this version does not know: exit 2, the network named, nothing written
    ck = load_checkpoint(look_shot["ckpt"])
    future = str(tmp_path / "future.ckpt")
    save_checkpoint(future, dict(ck.tensors), {**ck.meta, "arch": {**ck.meta["arch"], "family": "transformer"}})
    out = tmp_path / "o"
    rc = filmai(["run", "cnn.copycat", "--model", future, "--input", src, "--output", str(out / "o.####.exr"),
                 "--frames", "1001"])
    err = capsys.readouterr().err
    assert rc == 2 and "future.ckpt" in err and "'transformer'" in err and "unet, look" in err
    assert not any(n.endswith(".exr") for n in os.listdir(out))  # the failed run's manifest only


def test_time_limit_on_the_cpu_clock(look_shot, tmp_path):
    """time_clock=cpu stops on this process's CPU seconds (a budget that means the same on a busy machine)."""
    m = train_node("cnn.copycat", input=look_shot["src"], target=look_shot["dst"], frames="1001,1003",
                   out=str(tmp_path / "cpu.ckpt"),
                   params={"steps": 100000, "time_limit": 1.5, "time_clock": "cpu", "threads": 1,
                           "checkpoint_interval": 100000, "contact_sheet_interval": 100000})
    t = m["training"]
    assert 1.5 <= t["train_cpu_seconds"] < 6 and 0 < t["steps"] < 100000
    with pytest.raises(Exception, match="time_clock"):
        train_node("cnn.copycat", input=look_shot["src"], target=look_shot["dst"], frames="1001",
                   out=str(tmp_path / "bad.ckpt"), params={**TINY, "time_clock": "sundial"})
