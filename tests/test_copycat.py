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
    # the loss leaves out 4 px at crop sides that are not a frame border (the look network's own default)
    assert training["data"]["crop_edge_margin"] == 4
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
    assert meta["training"]["data"]["crop_edge_margin"] == 0  # the U-Net's crops are scored whole
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


# ----- colour: the working colourspace is recorded, other plates are converted in and out --------------------


def _acescg_shot(folder):
    """RGBA plates tagged ACEScg with a normal AOV (data), the same plates converted to Linear Rec.709 (tagged so),
    a warm grade of them in ACEScg, and the same grade delivered in Linear Rec.709."""
    colour = color.ColourConfig.load()
    tag = {"ACEScg": {"colorInteropID": "lin_ap1_scene"}, "rec709": {"colorInteropID": "lin_rec709_scene"}}
    names = ["R", "G", "B", "A", "N.R", "N.G", "N.B"]
    for f in range(1001, 1005):
        plate = _texture(f, 48)
        yy = np.linspace(-1, 1, 48, dtype=np.float32)
        alpha = np.clip(0.5 + yy[:, None] * np.ones((1, 48), np.float32), 0, 1)[..., None]
        normal = np.stack(np.broadcast_arrays(yy[None, :], yy[:, None], np.full((48, 48), 0.3, np.float32)), -1)
        rec709 = colour.convert_rgb(plate, "ACEScg", "lin_rec709")
        write_exr(str(folder / f"ap1.{f}.exr"), np.concatenate([plate, alpha, normal], -1), names,
                  pixel_type="float", attributes=tag["ACEScg"])
        write_exr(str(folder / f"r709.{f}.exr"), np.concatenate([rec709, alpha, normal], -1), names,
                  pixel_type="float", attributes=tag["rec709"])
        graded = np.concatenate([plate * np.array([1.25, 0.95, 0.7], np.float32), alpha * 0.8], -1)
        write_exr(str(folder / f"grade.{f}.exr"), graded, ["R", "G", "B", "A"], pixel_type="float",
                  attributes=tag["ACEScg"])
        graded709 = np.concatenate([colour.convert_rgb(graded[..., :3], "ACEScg", "lin_rec709"), graded[..., 3:]], -1)
        write_exr(str(folder / f"grade709.{f}.exr"), graded709, ["R", "G", "B", "A"], pixel_type="float",
                  attributes=tag["rec709"])
    return {k: str(folder / f"{k}.####.exr") for k in ("ap1", "r709", "grade", "grade709")}


@pytest.fixture(scope="module")
def acescg_shot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("acescg")
    paths = _acescg_shot(folder)
    params = {"steps": 60, "threads": 1, "network": "look", "channels_in": "R,G,B,A", "checkpoint_interval": 1000,
              "contact_sheet_interval": 1000}
    grade = str(folder / "grade.ckpt")
    train_node("cnn.copycat", input=paths["ap1"], target=paths["grade"], frames="1001,1003", out=grade, params=params)
    grade709 = str(folder / "grade709.ckpt")
    manifest709 = train_node("cnn.copycat", input=paths["ap1"], target=paths["grade709"], frames="1001,1003",
                             out=grade709, params=params)
    return {**paths, "folder": folder, "grade_ckpt": grade, "grade709_ckpt": grade709, "manifest709": manifest709}


def test_a_model_trained_in_acescg_converts_a_rec709_plate_in_and_back(acescg_shot, tmp_path, capsys):
    """The grade is learnt in ACEScg; on a Linear Rec.709 plate the node converts into ACEScg for the network
    and back (once said, on stderr and in the manifest), so the result is the ACEScg result in Rec.709. The
    alpha (a network channel) and the normal AOV (data) are never converted."""
    meta = read_checkpoint_meta(acescg_shot["grade_ckpt"])
    assert meta["colorspace"] == "lin_ap1_scene" and meta["ocio_config"]["name"]
    colour = color.ColourConfig.load()
    outs = {}
    for key, src, io in (("ap1", acescg_shot["ap1"], {}), ("r709", acescg_shot["r709"], {}),
                         ("unconverted", acescg_shot["r709"], {"input_colorspace": "ACEScg"})):
        out = str(tmp_path / f"{key}.####.exr")
        manifest = run_node("cnn.copycat", input=src, output=out, frames="1002", model=acescg_shot["grade_ckpt"],
                            io={"pixel_type": "float", **io})
        outs[key] = (read_frame(frame_path(out, 1002)), manifest)
    ap1, r709 = outs["ap1"][0], outs["r709"][0]
    assert ap1.channels == r709.channels == ["R", "G", "B", "A", "N.R", "N.G", "N.B"]
    assert r709.attributes["colorInteropID"] == "lin_rec709_scene"
    want = colour.convert_rgb(ap1.select(["R", "G", "B"]), "ACEScg", "lin_rec709")
    got = r709.select(["R", "G", "B"])
    assert np.abs(got - want).max() < 2e-4 * max(1.0, float(np.abs(want).max()))
    # the grade does not commute with the change of primaries: without the conversion the result is wrong
    naive = outs["unconverted"][0].select(["R", "G", "B"])
    assert np.abs(naive - want).max() > 0.02
    assert np.abs(r709.select(["A"]) - ap1.select(["A"])).max() < 1e-5  # alpha: never converted
    src = read_frame(frame_path(acescg_shot["r709"], 1002))
    assert np.array_equal(r709.select(["N.R", "N.G", "N.B"]), src.select(["N.R", "N.G", "N.B"]))  # data untouched
    said = outs["r709"][1]
    assert said["results"]["colour"] == {"model_colorspace": "ACEScg", "converted_from": ["Linear Rec.709 (sRGB)"]}
    assert [w for w in said["warnings"] if "trained in 'ACEScg'" in w and "converted" in w]
    assert outs["ap1"][1]["results"]["colour"]["converted_from"] == []


def test_targets_in_another_space_are_converted_into_the_inputs(acescg_shot, tmp_path):
    """The grade delivered in Linear Rec.709 for ACEScg inputs is converted into ACEScg before training (said in
    the manifest): the model learns the same grade as from ACEScg targets, and records ACEScg."""
    manifest = acescg_shot["manifest709"]
    assert [w for w in manifest["warnings"] if "training targets in 'Linear Rec.709 (sRGB)' are converted" in w]
    assert read_checkpoint_meta(acescg_shot["grade709_ckpt"])["colorspace"] == "lin_ap1_scene"
    outs = []
    for ckpt in (acescg_shot["grade_ckpt"], acescg_shot["grade709_ckpt"]):
        out = str(tmp_path / f"{os.path.basename(ckpt)}.####.exr")
        run_node("cnn.copycat", input=acescg_shot["ap1"], output=out, frames="1004", model=ckpt,
                 io={"pixel_type": "float"})
        outs.append(read_frame(frame_path(out, 1004)).select(["R", "G", "B", "A"]))
    truth = read_frame(frame_path(acescg_shot["grade"], 1004)).select(["R", "G", "B", "A"])
    plate = read_frame(frame_path(acescg_shot["ap1"], 1004)).select(["R", "G", "B", "A"])
    assert np.abs(outs[1] - outs[0]).max() < 1e-3
    assert enc_psnr(outs[1], truth) > enc_psnr(plate, truth) + 6  # it learnt the grade, not a change of primaries
    # fine-tuning on Rec.709 plates keeps the model's ACEScg: the plates are converted into it
    tuned = str(tmp_path / "tuned.ckpt")
    m = train_node("cnn.copycat", input=acescg_shot["r709"], target=acescg_shot["grade709"], frames="1002",
                   out=tuned, model=acescg_shot["grade_ckpt"],
                   params={"steps": 5, "threads": 1, "channels_in": "R,G,B,A", "checkpoint_interval": 1000,
                           "contact_sheet_interval": 1000})
    assert read_checkpoint_meta(tuned)["colorspace"] == "lin_ap1_scene"
    assert [w for w in m["warnings"] if "training inputs in 'Linear Rec.709 (sRGB)'" in w and "fine-tuned" in w]


def test_the_identity_in_acescg_returns_a_rec709_plate_within_half_precision(acescg_shot, tmp_path):
    """A model that is the identity in its working space (the look network with its last layer zero) returns a
    plate in another space unchanged, to half precision, after the round trip through the working space."""
    ckpt = load_checkpoint(acescg_shot["grade_ckpt"])
    heads = [k for k in ckpt.tensors if k.endswith("look.head.4.weight") or k.endswith("look.head.4.bias")]
    assert len(heads) == 2
    tensors = {k: (np.zeros_like(v) if k in heads else v) for k, v in ckpt.tensors.items()}
    identity = str(tmp_path / "identity.ckpt")
    save_checkpoint(identity, tensors, ckpt.meta)
    out = str(tmp_path / "out.####.exr")
    manifest = run_node("cnn.copycat", input=acescg_shot["r709"], output=out, frames="1004", model=identity)
    assert manifest["results"]["colour"]["converted_from"] == ["Linear Rec.709 (sRGB)"]
    got = read_frame(frame_path(out, 1004))
    plate = read_frame(frame_path(acescg_shot["r709"], 1004))
    assert got.attributes["colorInteropID"] == "lin_rec709_scene"
    rgba = ["R", "G", "B", "A"]
    assert np.allclose(got.select(rgba), plate.select(rgba), rtol=2 ** -10, atol=2 ** -14)  # half precision


def test_models_from_before_the_working_space_was_recorded_run_in_the_plates_space(acescg_shot, tmp_path, capsys):
    """A checkpoint without ``ocio_config`` recorded its colourspace as a guess (any untagged EXR was
    "lin_rec709"): it runs in each plate's own space, as it always did. `filmai models` shows a checkpoint's
    working space; a space the config does not know is exit 2 before anything is written."""
    ckpt = load_checkpoint(acescg_shot["grade_ckpt"])
    old_meta = {k: v for k, v in ckpt.meta.items() if k not in ("ocio_config", "node", "node_version")}
    old_meta["colorspace"] = "lin_rec709"
    old = str(tmp_path / "old.ckpt")
    save_checkpoint(old, ckpt.tensors, {"node": "cnn.copycat", "node_version": "1.0.0", **old_meta})
    outs = {}
    for key, model in (("old", old), ("new_unconverted", acescg_shot["grade_ckpt"])):
        out = str(tmp_path / f"{key}.####.exr")
        io = {"pixel_type": "float"} if key == "old" else {"pixel_type": "float", "input_colorspace": "ACEScg"}
        manifest = run_node("cnn.copycat", input=acescg_shot["r709"], output=out, frames="1002", model=model, io=io)
        outs[key] = read_frame(frame_path(out, 1002)).select(["R", "G", "B"])
        if key == "old":
            assert manifest["results"]["colour"]["model_colorspace"] is None
            assert not [w for w in manifest["warnings"] if "converted" in w]
    assert np.abs(outs["old"] - outs["new_unconverted"]).max() < 1e-5
    # its guessed space is not held against a config that lacks it (a studio's, Nuke's nuke-default)
    from test_color import _studio_config

    studio = _studio_config(str(tmp_path / "show.ocio"))
    run_node("cnn.copycat", input=acescg_shot["r709"], output=str(tmp_path / "studio.####.exr"), frames="1002",
             model=old, io={"ocio_config": studio, "input_colorspace": "show_linear"})

    capsys.readouterr()
    assert filmai(["models", acescg_shot["grade_ckpt"]]) == 0
    assert "colorspace:" in capsys.readouterr().out.split("lin_ap1_scene")[0].splitlines()[-1]

    unknown = str(tmp_path / "unknown.ckpt")
    save_checkpoint(unknown, ckpt.tensors, {**ckpt.meta, "colorspace": "show_log_v3"})
    out_dir = tmp_path / "never"
    out_dir.mkdir()
    code = filmai(["run", "cnn.copycat", "--model", unknown, "--input", acescg_shot["r709"], "--output",
                   str(out_dir / "o.####.exr"), "--frames", "1002", "--progress", "none"])
    assert code == 2 and "show_log_v3" in capsys.readouterr().err
    assert not any(n.endswith(".exr") for n in os.listdir(out_dir))
