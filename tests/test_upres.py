"""gan.upres: shipped models, windows, HDR and alpha, tiling, weight blending, fine-tuning, bad input."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from helpers import write_exr, write_sequence

torch = pytest.importorskip("torch")

from filmai_plugins.cli import main  # noqa: E402
from filmai_plugins.frames.io import read_frame  # noqa: E402
from filmai_plugins.nodes.gan.upres import data  # noqa: E402
from filmai_plugins.nodes.gan.upres.model import Upscaler, hdr_safe  # noqa: E402
from filmai_plugins.nodes.gan.upres import UpresNode, shipped_model  # noqa: E402
from filmai_plugins.training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead on a shared machine
    yield
    torch.set_num_threads(threads)


def scene(size: int = 96, seed: int = 3) -> np.ndarray:
    """A generated test image (0-1 sRGB) with what up-res must handle: sharp-edged shapes, thin lines,
    smooth gradients and fine texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack([0.3 + 0.4 * x, 0.5 - 0.3 * y, 0.4 + 0.2 * np.sin(6 * x * y)], axis=2)
    for _ in range(10):
        cx, cy, r = rng.uniform(0.1, 0.9, 2).tolist() + [rng.uniform(0.04, 0.2)]
        col = rng.uniform(0, 1, 3)
        if rng.random() < 0.5:
            mask = (np.hypot(x - cx, y - cy) < r)
        else:
            mask = (np.abs(x - cx) < r) & (np.abs(y - cy) < r * 0.5)
        img[mask] = col
    for k in range(4):  # thin dark lines
        img[:, int(size * (0.2 + 0.2 * k))] *= 0.2
    img += rng.normal(0, 0.01, img.shape).astype(np.float32) * (x[:, :, None] > 0.7)
    return np.clip(img, 0, 1).astype(np.float32)


# ----- shipped models ------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 4])
def test_shipped_model_beats_bicubic(scale):
    path = shipped_model(scale)
    ckpt = load_checkpoint(path, expect_node="gan.upres")
    assert ckpt.meta["scale"] == scale and ckpt.meta["gan_trained"] is True
    assert os.path.getsize(path) < 4 * 1024 * 1024  # a few MB at most, both weight sets
    assert UpresNode.default_model_for({"scale": scale}) == path
    hr = data.modcrop(scene(96), scale)
    h, w = hr.shape[:2]
    lr = data.quantize8(data.imresize(hr, (h // scale, w // scale)))
    bicubic = data.psnr_y(np.clip(data.imresize(lr, (h, w)), 0, 1), hr, scale)
    # the node's class-level reach (the tiler's fallback before a model is loaded) covers the shipped model's
    assert Upscaler(ckpt).receptive_field <= UpresNode.receptive_field
    model = hdr_safe(Upscaler(ckpt), scale)
    ours = data.psnr_y(np.clip(model(lr[None])[0], 0, 1), hr, scale)
    assert ours > bicubic + 0.3, (ours, bicubic)


def test_matlab_bicubic_matches_reference_values():
    # imresize([1 2 3 4], 0.5): kernel 0.5*cubic(0.5*d) over 10 taps, symmetric edges, normalised;
    # worked by hand: (-0.0234*3 - 0.0703*2 + 0.2266*1 + 0.8672*(1+2) + 0.2266*3 - 0.0703*4 - 0.0234*4) / 2.0
    m = data.resize_matrix(4, 2)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(m @ np.array([1.0, 2.0, 3.0, 4.0]), [1.4609, 3.5391], atol=1e-3)
    # upscaling a constant stays constant, and x2 then /2 of a smooth ramp is near lossless
    ramp = np.linspace(0, 1, 32)[None, :, None].repeat(8, 0)
    up = data.imresize(ramp, (16, 64))
    np.testing.assert_allclose(data.imresize(up, (8, 32)), ramp, atol=2e-3)


# ----- running the node ----------------------------------------------------------------------------


def run_cli(*args: str) -> int:
    return main(["run", "gan.upres", "--progress", "none", *args])


def test_windows_scale_hdr_and_alpha_survive(tmp_path, capsys):
    hr = scene(64)
    lin = data.srgb_to_linear(hr)
    lin[20:26, 30:36] = 12.0  # an HDR highlight well above 1
    yy, xx = np.mgrid[0:64, 0:64]
    alpha = np.clip(1.5 - np.hypot(xx - 32, yy - 32) / 16, 0, 1)[:, :, None].astype(np.float32)
    px = np.concatenate([lin * alpha, alpha], axis=2)
    write_exr(str(tmp_path / "in.0001.exr"), px, data_window=(10, 6), display_window=(0, 0, 90, 80))
    assert run_cli("--input", str(tmp_path / "in.####.exr"), "--output", str(tmp_path / "out.####.exr"),
                   "--frames", "1", "--set", "scale=2", "--pixel-type", "float") == 0
    src = read_frame(str(tmp_path / "in.0001.exr"))
    out = read_frame(str(tmp_path / "out.0001.exr"))
    assert out.channels == ["R", "G", "B", "A"]
    assert out.data_window == (20, 12, 128, 128)
    assert out.display_window == (0, 0, 180, 160)
    rgb = out.pixels[:, :, :3]
    # the highlight keeps its value and its energy (HDR goes around the network)
    assert rgb.max() > 8.0
    np.testing.assert_allclose(rgb.sum() / 4, src.pixels[:, :, :3].sum(), rtol=0.02)
    a = out.pixels[:, :, 3]
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert a[60:68, 60:68].min() > 0.99 and a[:4, :4].max() < 0.01  # solid core, empty corners
    prov = json.loads(out.attributes["filmai:params"])
    assert prov["scale"] == 2 and out.attributes["filmai:node"] == "gan.upres"


def test_tiled_equals_whole_frame(tmp_path):
    # 256x240 with 208-pixel tiles: 2x2 tiles, the smallest the shipped x4 model's receptive field allows
    write_exr(str(tmp_path / "in.0001.exr"), data.srgb_to_linear(scene(256))[:, :240], pixel_type="float")
    common = ["--input", str(tmp_path / "in.####.exr"), "--frames", "1", "--pixel-type", "float",
              "--set", "scale=4", "--set", "mode=sharp"]
    assert run_cli(*common, "--output", str(tmp_path / "whole.####.exr"), "--tile-size", "1024") == 0
    assert run_cli(*common, "--output", str(tmp_path / "tiled.####.exr"), "--tile-size", "208") == 0
    whole = read_frame(str(tmp_path / "whole.0001.exr")).pixels
    tiled = read_frame(str(tmp_path / "tiled.0001.exr")).pixels
    assert whole.shape == tiled.shape == (1024, 960, 3)
    assert float(np.abs(whole - tiled).max()) < 1e-4


def test_mode_blend_is_network_interpolation():
    ckpt = load_checkpoint(shipped_model(4))
    psnr = Upscaler(ckpt, sharpness=0.0).net.state_dict()
    gan = Upscaler(ckpt, sharpness=1.0).net.state_dict()
    half = Upscaler(ckpt, sharpness=0.5).net.state_dict()
    assert any(not torch.equal(psnr[k], gan[k]) for k in psnr)
    for k in psnr:
        torch.testing.assert_close(half[k], 0.5 * (psnr[k] + gan[k]))
    # through the node: psnr mode ignores sharpness; sharp mode at 0 equals psnr mode
    lr = scene(24)[None]
    node_psnr = UpresNode({"mode": "psnr", "sharpness": 1.0})
    node_zero = UpresNode({"mode": "sharp", "sharpness": 0.0})
    node_gan = UpresNode({"mode": "sharp", "sharpness": 1.0})
    outs = []
    for node in (node_psnr, node_zero, node_gan):
        class Ctx:
            model, device, extra = ckpt, "cpu", {}
        node.setup(Ctx)
        outs.append(node.run_net(lr))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert float(np.abs(outs[0] - outs[2]).mean()) > 1e-3


def test_ensemble_is_rotation_equivariant():
    up = Upscaler(load_checkpoint(shipped_model(2)), ensemble=True)
    x = scene(24)[None]
    turned = up(np.ascontiguousarray(np.rot90(x, 1, axes=(1, 2))))
    np.testing.assert_allclose(turned, np.rot90(up(x), 1, axes=(1, 2)), atol=1e-5)


def test_sharp_mode_is_sharper_than_psnr_mode():
    ckpt = load_checkpoint(shipped_model(4))
    hr = scene(96, seed=5)
    lr = data.quantize8(data.imresize(hr, (24, 24)))
    ratios = {}
    for s in (0.0, 1.0):
        sr = np.clip(hdr_safe(Upscaler(ckpt, sharpness=s), 4)(lr[None])[0], 0, 1)
        ratios[s] = data.sharpness_ratios(sr, hr, 4)["gradient"]
    assert ratios[1.0] > ratios[0.0], ratios


# ----- fine-tuning ---------------------------------------------------------------------------------


def test_fine_tune_on_own_plate_then_run(tmp_path, capsys):
    pattern = write_sequence(str(tmp_path / "plate"), frames=range(1, 4), width=64, height=48)
    out = str(tmp_path / "shot.ckpt")
    rc = main(["train", "gan.upres", "--input", pattern, "--frames", "1-3", "--out", out, "--progress", "none",
               "--set", "scale=2", "--set", "steps=3", "--set", "batch_size=2", "--set", "crop_size=16",
               "--set", "validation_frames=3", "--set", "validation_interval=3", "--set", "variants=1",
               "--set", "contact_sheet_interval=3"])
    assert rc == 0, capsys.readouterr().err
    ckpt = load_checkpoint(out, expect_node="gan.upres")
    assert ckpt.meta["scale"] == 2 and ckpt.meta["fine_tuned_weights"] == "psnr"
    assert ckpt.meta["fine_tuned_from"]["path"].endswith("upres_x2.ckpt")
    assert ckpt.meta["training"]["steps"] == 3 and ckpt.meta["training"]["validation_psnr"] > 20
    start = load_checkpoint(shipped_model(2))
    changed = [k for k in start.tensors if k.startswith("psnr.") and not np.array_equal(start.tensors[k], ckpt.tensors[k])]
    kept = [k for k in start.tensors if k.startswith("gan.") and np.array_equal(start.tensors[k], ckpt.tensors[k])]
    assert changed and len(kept) == len([k for k in start.tensors if k.startswith("gan.")])
    assert os.path.isfile(str(tmp_path / "shot.train" / "contact_000003.png"))
    assert run_cli("--input", pattern, "--output", str(tmp_path / "up.####.exr"), "--frames", "1",
                   "--model", out, "--set", "scale=0") == 0
    assert read_frame(str(tmp_path / "up.0001.exr")).data_window[2:] == (128, 96)


# ----- bad input -----------------------------------------------------------------------------------


def test_wrong_scale_checkpoint_is_exit_2(tmp_path, capsys):
    pattern = write_sequence(str(tmp_path / "in"), frames=[1], width=32, height=32)
    rc = run_cli("--input", pattern, "--output", str(tmp_path / "out" / "o.####.exr"), "--frames", "1",
                 "--model", shipped_model(4), "--set", "scale=2")
    err = capsys.readouterr().err
    assert rc == 2 and "upres_x4.ckpt" in err and "x4" in err and "scale=2" in err
    assert not os.path.exists(tmp_path / "out" / "o.0001.exr")
    rc = run_cli("--input", pattern, "--output", str(tmp_path / "out" / "o.####.exr"), "--frames", "1",
                 "--set", "scale=3")
    assert rc == 2 and "x3" in capsys.readouterr().err


def test_checkpoint_of_another_node_is_exit_2(tmp_path, capsys):
    pattern = write_sequence(str(tmp_path / "in"), frames=[1], width=32, height=32)
    other = str(tmp_path / "copycat.ckpt")
    save_checkpoint(other, {"w": np.zeros(3, np.float32)}, {"node": "cnn.copycat"})
    rc = run_cli("--input", pattern, "--output", str(tmp_path / "o.####.exr"), "--frames", "1", "--model", other)
    err = capsys.readouterr().err
    assert rc == 2 and "copycat.ckpt" in err and "cnn.copycat" in err
    rc = main(["train", "gan.upres", "--input", pattern, "--frames", "1", "--out", str(tmp_path / "x.ckpt"),
               "--model", other, "--progress", "none"])
    assert rc == 2 and "cnn.copycat" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.ckpt")


def test_frames_of_differing_size_are_exit_2(tmp_path, capsys):
    folder = tmp_path / "in"
    write_exr(str(folder / "p.0001.exr"), data.srgb_to_linear(scene(40)))
    write_exr(str(folder / "p.0002.exr"), data.srgb_to_linear(scene(48)))
    pattern = str(folder / "p.####.exr")
    rc = main(["train", "gan.upres", "--input", pattern, "--frames", "1-2", "--out", str(tmp_path / "s.ckpt"),
               "--progress", "none", "--set", "steps=1"])
    err = capsys.readouterr().err
    assert rc == 2 and "p.0002.exr" in err and "frame 2" in err and "differ in size" in err
    assert not os.path.exists(tmp_path / "s.ckpt")
    rc = run_cli("--input", pattern, "--output", str(tmp_path / "o.####.exr"), "--frames", "1-2", "--set", "scale=2")
    err = capsys.readouterr().err
    assert rc == 2 and "p.0002.exr" in err and "frame 2" in err


def test_plate_without_rgb_is_exit_2(tmp_path, capsys):
    write_exr(str(tmp_path / "m.0001.exr"), np.ones((16, 16, 1), np.float32), ["Z"])
    rc = run_cli("--input", str(tmp_path / "m.####.exr"), "--output", str(tmp_path / "o.####.exr"), "--frames", "1")
    err = capsys.readouterr().err
    assert rc == 2 and "m.0001.exr" in err and "frame 1" in err and "R, G and B" in err


def test_listing_nodes_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from filmai_plugins.app import default_app; "
            "assert 'gan.upres' in default_app().nodes; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
