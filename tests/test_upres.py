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
            model_colorspace = staticmethod(lambda recorded, what="": recorded)
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


def test_frames_of_differing_size_run_is_exit_2(tmp_path, capsys):
    # A run refuses a sequence that changes resolution (the engine's rule for every frame node); a
    # fine-tune accepts it (each frame teaches from its own downscales: see the data-window test).
    folder = tmp_path / "in"
    write_exr(str(folder / "p.0001.exr"), data.srgb_to_linear(scene(40)))
    write_exr(str(folder / "p.0002.exr"), data.srgb_to_linear(scene(48)))
    pattern = str(folder / "p.####.exr")
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


# ----- community models (.pth / .safetensors) ---------------------------------------------------------
# The reference networks below are written here, functionally, from the published architectures
# (ESRGAN's RRDBNet with Real-ESRGAN's names; Real-ESRGAN's SRVGGNetCompact), independently of
# nodes/gan/upres/community.py: the node must give their pixels through its own loader.

import torch.nn.functional as F  # noqa: E402


def _conv(w, name, x):
    return F.conv2d(x, w[name + ".weight"], w[name + ".bias"], padding=1)


def reference_rrdbnet(w: dict, x: torch.Tensor, unshuffle: int = 1) -> torch.Tensor:
    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    feat = F.pixel_unshuffle(x, unshuffle) if unshuffle > 1 else x
    feat = _conv(w, "conv_first", feat)
    trunk = feat
    blocks = sorted({int(k.split(".")[1]) for k in w if k.startswith("body.")})
    for b in blocks:
        rrdb_in = trunk
        for r in (1, 2, 3):
            p = f"body.{b}.rdb{r}."
            xs = [trunk]
            for c in range(1, 5):
                xs.append(lrelu(_conv(w, p + f"conv{c}", torch.cat(xs, 1))))
            trunk = trunk + 0.2 * _conv(w, p + "conv5", torch.cat(xs, 1))
        trunk = rrdb_in + 0.2 * trunk
    feat = feat + _conv(w, "conv_body", trunk)
    for up in (1, 2):
        feat = lrelu(_conv(w, f"conv_up{up}", F.interpolate(feat, scale_factor=2, mode="nearest")))
    return _conv(w, "conv_last", lrelu(_conv(w, "conv_hr", feat)))


def reference_compact(w: dict, x: torch.Tensor, scale: int) -> torch.Tensor:
    out = x
    n = max(int(k.split(".")[1]) for k in w)
    for i in range(0, n + 1, 2):
        out = _conv(w, f"body.{i}", out)
        if i < n:
            out = F.prelu(out, w[f"body.{i + 1}.weight"])
    return F.pixel_shuffle(out, scale) + F.interpolate(x, scale_factor=scale, mode="nearest")


def rrdbnet_weights(seed: int, nf: int = 16, gc: int = 8, blocks: int = 2, in_ch: int = 3, out_ch: int = 3,
                    unshuffle: int = 1) -> dict:
    """Random weights in the Real-ESRGAN names whose output looks like an image (mostly inside 0-1)."""
    g = torch.Generator().manual_seed(seed)
    shapes = {"conv_first": (nf, in_ch * unshuffle ** 2), "conv_body": (nf, nf), "conv_up1": (nf, nf),
              "conv_up2": (nf, nf), "conv_hr": (nf, nf), "conv_last": (out_ch, nf)}
    for b in range(blocks):
        for r in (1, 2, 3):
            for c in range(1, 6):
                shapes[f"body.{b}.rdb{r}.conv{c}"] = (nf if c == 5 else gc, nf + (c - 1) * gc)
    w = {}
    for name, (o, i) in shapes.items():
        std = (2.0 / (9 * i)) ** 0.5 * (0.1 if name == "conv_last" else 1.0)
        w[name + ".weight"] = torch.randn(o, i, 3, 3, generator=g) * std
        w[name + ".bias"] = torch.randn(o, generator=g) * 0.01
    w["conv_last.bias"] = torch.full((out_ch,), 0.45)
    return w


def compact_weights(seed: int, nf: int = 16, convs: int = 4, scale: int = 4) -> dict:
    g = torch.Generator().manual_seed(seed)
    w, idx, ch = {}, 0, 3
    for k in range(convs + 2):
        o = 3 * scale * scale if k == convs + 1 else nf
        w[f"body.{idx}.weight"] = torch.randn(o, ch, 3, 3, generator=g) * (2.0 / (9 * ch)) ** 0.5 * 0.3
        w[f"body.{idx}.bias"] = torch.zeros(o)
        if k <= convs:
            w[f"body.{idx + 1}.weight"] = torch.full((nf,), 0.25)  # PReLU slopes
        idx, ch = idx + 2, o
    return w


def to_old_layout(w: dict) -> dict:
    """Real-ESRGAN names → the old ESRGAN ``model.N`` names (x4: two upsampling convs)."""
    blocks = sorted({int(k.split(".")[1]) for k in w if k.startswith("body.")})
    out = {}
    for k, v in w.items():
        name, kind = k.rsplit(".", 1)
        if name == "conv_first":
            out[f"model.0.{kind}"] = v
        elif name.startswith("body."):
            _, b, rdb, conv = name.split(".")
            out[f"model.1.sub.{b}.RDB{rdb[-1]}.{conv}.0.{kind}"] = v
        elif name == "conv_body":
            out[f"model.1.sub.{len(blocks)}.{kind}"] = v
        else:
            out[f"model.{ {'conv_up1': 3, 'conv_up2': 6, 'conv_hr': 8, 'conv_last': 10}[name]}.{kind}"] = v
    return out


def to_esrgan_layout(w: dict) -> dict:
    names = {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}
    out = {}
    for k, v in w.items():
        name, kind = k.rsplit(".", 1)
        if name.startswith("body."):
            _, b, rdb, conv = name.split(".")
            out[f"RRDB_trunk.{b}.RDB{rdb[-1]}.{conv}.{kind}"] = v
        else:
            out[f"{names.get(name, name)}.{kind}"] = v
    return out


def save_model(path: str, payload) -> str:
    if path.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in payload.items()}, path)
    else:
        torch.save(payload, path)
    return path


def srgb_plate(tmp_path, size=(40, 48), seed=3, alpha=False) -> tuple[str, np.ndarray]:
    """A 0-1 sRGB picture written as a scene-linear EXR (float), and the sRGB picture."""
    img = scene(max(size), seed)[: size[0], : size[1]]
    px = data.srgb_to_linear(img)
    if alpha:
        yy, xx = np.mgrid[0:size[0], 0:size[1]]
        a = np.clip(1.2 - np.hypot(xx - size[1] / 2, yy - size[0] / 2) / 12, 0, 1)[:, :, None].astype(np.float32)
        px = np.concatenate([px, a], axis=2)
    # tagged as what it is (an untagged EXR would be read as the config's scene_linear role, ACEScg)
    write_exr(str(tmp_path / "plate.0001.exr"), px, pixel_type="float",
              attributes={"colorInteropID": "lin_rec709_scene"})
    return str(tmp_path / "plate.####.exr"), img


def run_model(tmp_path, pattern, model, out="up", *extra) -> int:
    return run_cli("--input", pattern, "--output", str(tmp_path / out / "o.####.exr"), "--frames", "1",
                   "--pixel-type", "float", "--model", model, *extra)


def reference_output(net, img: np.ndarray) -> np.ndarray:
    """What the reference gives for an sRGB picture, as scene-linear (clamped to 0-1 first, as the
    models' own inference does)."""
    with torch.no_grad():
        y = net(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None])[0]
    y = y.clamp(0, 1).numpy().transpose(1, 2, 0)
    assert 0.05 < float(y.std()) and float(((y > 0) & (y < 1)).mean()) > 0.6  # an image, not a constant
    return data.srgb_to_linear(y)


CASES = {
    # name: (file, payload builder, reference, scale)
    "realesrgan_params_ema_pth": ("m.pth", lambda w: {"params_ema": w, "params": rrdbnet_weights(99)},
                                  lambda w: (lambda x: reference_rrdbnet(w, x)), 4),
    "old_layout_pth": ("old.pth", to_old_layout, lambda w: (lambda x: reference_rrdbnet(w, x)), 4),
    "esrgan_layout_safetensors": ("esrgan.safetensors", to_esrgan_layout,
                                  lambda w: (lambda x: reference_rrdbnet(w, x)), 4),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_community_rrdbnet_gives_the_reference_pixels(tmp_path, case):
    name, build, ref, scale = CASES[case]
    w = rrdbnet_weights(1)
    model = save_model(str(tmp_path / name), build(w))
    pattern, img = srgb_plate(tmp_path)
    assert run_model(tmp_path, pattern, model) == 0  # scale 0 (default): the model's x4
    out = read_frame(str(tmp_path / "up" / "o.0001.exr"))
    assert out.pixels.shape == (40 * scale, 48 * scale, 3)
    expected = reference_output(ref(w), img)
    assert float(np.abs(out.pixels - expected).mean()) < 2e-3
    assert float(np.abs(out.pixels - expected).max()) < 2e-2
    prov = json.loads(out.attributes["filmai:params"])
    assert prov["scale"] == 0 and out.attributes["filmai:node"] == "gan.upres"
    manifest = json.loads((tmp_path / "up" / "o.1-1.manifest.json").read_text())
    assert manifest["model"]["path"].endswith(name)


def test_community_x2_pixel_unshuffle_safetensors(tmp_path):
    # fp16 tensors, as many OpenModelDB files ship; the reference uses the same rounded weights
    w = {k: v.half().float() for k, v in rrdbnet_weights(2, unshuffle=2).items()}
    model = save_model(str(tmp_path / "x2.safetensors"), {k: v.half() for k, v in w.items()})
    pattern, img = srgb_plate(tmp_path, size=(36, 44))
    assert run_model(tmp_path, pattern, model, "up", "--set", "scale=2") == 0
    out = read_frame(str(tmp_path / "up" / "o.0001.exr")).pixels
    expected = reference_output(lambda x: reference_rrdbnet(w, x, unshuffle=2), img)
    assert out.shape == (72, 88, 3)
    assert float(np.abs(out - expected).mean()) < 2e-3
    # a plate that is not a whole number of 2x2 cells still comes out at exactly twice its size
    write_exr(str(tmp_path / "odd.0001.exr"), data.srgb_to_linear(scene(41)[:, :37]), pixel_type="float")
    assert run_model(tmp_path, str(tmp_path / "odd.####.exr"), model, "odd") == 0
    assert read_frame(str(tmp_path / "odd" / "o.0001.exr")).pixels.shape == (82, 74, 3)


def test_community_old_layout_x2_without_unshuffle(tmp_path):
    """Old ESRGAN x2 files upsample once: model.3 is the one upsampling conv, model.5 HR, model.7 last."""
    w = {k: v for k, v in rrdbnet_weights(7).items() if not k.startswith("conv_up2")}
    old = {}
    for k, v in to_old_layout({**w, "conv_up2.weight": w["conv_up1.weight"], "conv_up2.bias": w["conv_up1.bias"]}).items():
        idx = k.split(".")[1]
        if k.startswith("model.") and idx in ("6",):
            continue
        old[k.replace("model.8.", "model.5.").replace("model.10.", "model.7.")] = v
    model = save_model(str(tmp_path / "old_x2.pth"), old)
    pattern, img = srgb_plate(tmp_path)

    def reference(x):
        feat = _conv(w, "conv_first", x)
        trunk = feat
        for b in (0, 1):
            rrdb_in = trunk
            for r in (1, 2, 3):
                xs = [trunk]
                for c in range(1, 5):
                    xs.append(F.leaky_relu(_conv(w, f"body.{b}.rdb{r}.conv{c}", torch.cat(xs, 1)), 0.2))
                trunk = trunk + 0.2 * _conv(w, f"body.{b}.rdb{r}.conv5", torch.cat(xs, 1))
            trunk = rrdb_in + 0.2 * trunk
        feat = feat + _conv(w, "conv_body", trunk)
        feat = F.leaky_relu(_conv(w, "conv_up1", F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return _conv(w, "conv_last", F.leaky_relu(_conv(w, "conv_hr", feat), 0.2))

    assert run_model(tmp_path, pattern, model) == 0
    out = read_frame(str(tmp_path / "up" / "o.0001.exr")).pixels
    assert out.shape == (80, 96, 3)
    assert float(np.abs(out - reference_output(reference, img)).mean()) < 2e-3


def test_community_x1_model_runs_at_scale_one(tmp_path):
    w = rrdbnet_weights(4, unshuffle=4)
    model = save_model(str(tmp_path / "1x_clean.pth"), {"params": w})
    pattern, img = srgb_plate(tmp_path, size=(32, 40))
    assert run_model(tmp_path, pattern, model) == 0
    out = read_frame(str(tmp_path / "up" / "o.0001.exr"))
    expected = reference_output(lambda x: reference_rrdbnet(w, x, unshuffle=4), img)
    assert out.pixels.shape == (32, 40, 3) and out.data_window[2:] == (40, 32)
    assert float(np.abs(out.pixels - expected).mean()) < 2e-3


def test_community_compact_model(tmp_path):
    w = compact_weights(5)
    model = save_model(str(tmp_path / "realesr-general-x4v3.pth"), {"params": w})
    pattern, img = srgb_plate(tmp_path)
    assert run_model(tmp_path, pattern, model, "up", "--set", "scale=4", "--set", "half=true") == 0  # CPU: float32
    out = read_frame(str(tmp_path / "up" / "o.0001.exr")).pixels
    expected = reference_output(lambda x: reference_compact(w, x, 4), img)
    assert float(np.abs(out - expected).mean()) < 2e-3
    manifest = json.loads((tmp_path / "up" / "o.1-1.manifest.json").read_text())
    assert any("half precision needs a CUDA GPU" in m for m in manifest["warnings"])


def test_community_model_hdr_alpha_and_tiles(tmp_path):
    """Above 1.0 the shipped model's HDR path applies: the network sees the 0-1 part, the excess goes
    around it (interpolated in linear light) and is added back; alpha goes through the network as a
    matte; tiles (aligned to the 2x2 cells of a pixel-unshuffle model) equal the whole frame."""
    # one RRDB: its reach (38 input pixels) is inside the tiling margin, so tiles must be exact
    model = save_model(str(tmp_path / "x2.pth"), {"params_ema": rrdbnet_weights(6, blocks=1, unshuffle=2)})
    lin = data.srgb_to_linear(scene(250, seed=8))[:, :240]
    lin[40:46, 50:56] = 12.0
    yy, xx = np.mgrid[0:250, 0:240]
    alpha = np.clip(1.5 - np.hypot(xx - 120, yy - 125) / 60, 0, 1)[:, :, None].astype(np.float32)
    write_exr(str(tmp_path / "hdr.0001.exr"), np.concatenate([lin, alpha], axis=2), pixel_type="float")
    pattern = str(tmp_path / "hdr.####.exr")
    assert run_model(tmp_path, pattern, model, "whole", "--tile-size", "1024") == 0
    assert run_model(tmp_path, pattern, model, "tiled", "--tile-size", "231") == 0  # odd: starts must align
    whole = read_frame(str(tmp_path / "whole" / "o.0001.exr"))
    tiled = read_frame(str(tmp_path / "tiled" / "o.0001.exr")).pixels
    assert whole.channels == ["R", "G", "B", "A"] and whole.pixels.shape == (500, 480, 4)
    assert float(np.abs(whole.pixels - tiled).max()) < 1e-4
    rgb, a = whole.pixels[:, :, :3], whole.pixels[:, :, 3]
    assert rgb.max() > 8.0  # the highlight keeps its value…
    # …and its energy: the same plate clipped at 1.0 differs from it by the excess alone, interpolated
    write_exr(str(tmp_path / "clip.0001.exr"), np.concatenate([np.minimum(lin, 1.0), alpha], axis=2),
              pixel_type="float")
    assert run_model(tmp_path, str(tmp_path / "clip.####.exr"), model, "clip") == 0
    clipped = read_frame(str(tmp_path / "clip" / "o.0001.exr")).pixels[:, :, :3]
    np.testing.assert_allclose((rgb - clipped).sum() / 4, (lin - np.minimum(lin, 1.0)).sum(), rtol=0.01)
    assert float(np.abs(rgb - clipped)[:60, 160:].max()) < 1e-5  # far from the highlight: untouched
    assert a.min() >= 0.0 and a.max() <= 1.0


# ----- community models: bad input ------------------------------------------------------------------


class Payload:
    """Pickles as a call that would create a file if the unpickler ever ran it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("zipped", [True, False])
def test_pickle_payload_in_pth_never_runs(tmp_path, capsys, zipped):
    marker = str(tmp_path / "payload-ran")
    model = str(tmp_path / "RealESRGAN_x4plus.pth")
    torch.save({"params_ema": rrdbnet_weights(1), "extra": Payload(marker)}, model,
               _use_new_zipfile_serialization=zipped)
    pattern, _ = srgb_plate(tmp_path)
    rc = run_model(tmp_path, pattern, model)
    err = capsys.readouterr().err
    assert rc == 2 and "RealESRGAN_x4plus.pth" in err and "refused" in err and "weights_only" in err
    assert not os.path.exists(marker)
    assert not os.path.exists(tmp_path / "up" / "o.0001.exr")
    assert main(["models", model]) == 2 and not os.path.exists(marker)
    rc = main(["train", "gan.upres", "--input", pattern, "--frames", "1", "--out", str(tmp_path / "t.ckpt"),
               "--model", model, "--progress", "none"])
    assert rc == 2 and not os.path.exists(marker) and not os.path.exists(tmp_path / "t.ckpt")


def test_bad_community_files_are_exit_2_naming_the_file(tmp_path, capsys, monkeypatch):
    from filmai_plugins.nodes.gan.upres import community

    monkeypatch.setattr(community, "_spandrel", lambda: None)  # the message without the spandrel extra
    pattern, _ = srgb_plate(tmp_path)

    def refused(model, *extra) -> str:
        rc = run_model(tmp_path, pattern, model, "out", *extra)
        err = capsys.readouterr().err
        assert rc == 2 and os.path.basename(model) in err, err
        written = os.listdir(tmp_path / "out") if (tmp_path / "out").exists() else []
        assert not [f for f in written if f.endswith(".exr")], (written, err)
        return err

    good = save_model(str(tmp_path / "good.safetensors"), rrdbnet_weights(1))
    blob = open(good, "rb").read()
    cut = str(tmp_path / "cut.safetensors")
    open(cut, "wb").write(blob[: len(blob) // 2])
    assert "truncated or corrupt" in refused(cut)

    swin = save_model(str(tmp_path / "4x_swinir.safetensors"),
                      {"layers.0.residual_group.blocks.0.attn.qkv.weight": torch.zeros(8, 8),
                       "conv_after_body.weight": torch.zeros(4, 4, 3, 3)})
    err = refused(swin)
    assert "unsupported architecture" in err and "layers.0.residual_group" in err
    assert "RRDBNet" in err and "SRVGGNetCompact" in err and "spandrel" in err

    grey = save_model(str(tmp_path / "grey.pth"), {"params_ema": rrdbnet_weights(1, in_ch=1, out_ch=1)})
    assert "1 input and 1 output" in refused(grey) and "3 in, 3 out" in capsys.readouterr().err + "3 in, 3 out"

    err = refused(good, "--set", "scale=2")
    assert "x4" in err and "scale=2" in err

    broken = rrdbnet_weights(1)
    broken["conv_hr.weight"] = broken["conv_hr.weight"][:, :8]
    assert "do not fit" in refused(save_model(str(tmp_path / "broken.pth"), broken))

    text = str(tmp_path / "notes.pth")
    open(text, "w").write("not a model")
    assert "not a model file" in refused(text)

    # a tile too small for the model's reach is bad usage (exit 2) naming the size that works
    write_exr(str(tmp_path / "big.0001.exr"), data.srgb_to_linear(scene(80)), pixel_type="float")
    rc = run_model(tmp_path, str(tmp_path / "big.####.exr"), good, "tiny", "--tile-size", "64")
    err = capsys.readouterr().err
    assert rc == 2 and "big.0001.exr" in err and "reaches 35 input pixels" in err and "--tile-size 210" in err
    assert not os.path.exists(tmp_path / "tiny" / "o.0001.exr")


# ----- filmai models --------------------------------------------------------------------------------


def test_models_command_describes_files(tmp_path, capsys):
    import hashlib

    w = rrdbnet_weights(1, unshuffle=2)
    pth = save_model(str(tmp_path / "x2plus.pth"), {"params_ema": w})
    assert main(["models", "--json", pth]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["architecture"]["arch"] == "RRDBNet" and info["architecture"]["layout"] == "Real-ESRGAN"
    assert info["scale"] == 2 and info["channels_in"] == 3 and info["channels_out"] == 3
    assert info["architecture"]["blocks"] == 2 and info["architecture"]["nf"] == 16
    assert info["parameters"] == sum(v.numel() for v in w.values())
    assert info["sha256"] == hashlib.sha256(open(pth, "rb").read()).hexdigest()
    assert info["weights"].startswith("params_ema")

    compact = save_model(str(tmp_path / "compact.safetensors"), compact_weights(1, convs=6, scale=2))
    assert main(["models", compact, shipped_model(4)]) == 0
    out = capsys.readouterr().out
    assert "SRVGGNetCompact x2 (6 convs, 16 features, prelu" in out
    assert "FilmAI checkpoint" in out and "gan.upres" in out and "x4" in out
    assert load_checkpoint(shipped_model(4)).sha256 in out
    assert main(["models", str(tmp_path / "missing.pth")]) == 2


# ----- issue 24: scale from the model, data windows, fine-tune sources ---------------------------------


def test_scale_comes_from_the_model_unless_set(tmp_path, capsys):
    pattern = write_sequence(str(tmp_path / "in"), frames=[1], width=24, height=20)
    assert run_cli("--input", pattern, "--output", str(tmp_path / "d" / "o.####.exr"), "--frames", "1") == 0
    assert read_frame(str(tmp_path / "d" / "o.0001.exr")).data_window[2:] == (96, 80)  # no model: shipped x4
    assert run_cli("--input", pattern, "--output", str(tmp_path / "m" / "o.####.exr"), "--frames", "1",
                   "--model", shipped_model(2)) == 0
    assert read_frame(str(tmp_path / "m" / "o.0001.exr")).data_window[2:] == (48, 40)  # the model's x2


def test_fine_tune_accepts_frames_with_differing_data_windows(tmp_path, capsys):
    folder = tmp_path / "bbox"
    for f, (origin, size) in zip((1, 2, 3), (((0, 0), 48), ((10, 4), 40), ((3, 9), 56))):
        px = data.srgb_to_linear(scene(size, seed=f))
        write_exr(str(folder / f"p.{f:04d}.exr"), px, data_window=origin, display_window=(0, 0, 64, 64))
    out = str(tmp_path / "shot.ckpt")
    rc = main(["train", "gan.upres", "--input", str(folder / "p.####.exr"), "--frames", "1-3", "--out", out,
               "--progress", "none", "--set", "scale=2", "--set", "steps=2", "--set", "batch_size=2",
               "--set", "crop_size=16", "--set", "variants=1", "--set", "validation_frames=3",
               "--set", "validation_interval=2"])
    assert rc == 0, capsys.readouterr().err
    assert load_checkpoint(out, expect_node="gan.upres").meta["scale"] == 2


def test_fine_tuning_at_another_scale_than_the_model_is_refused(tmp_path, capsys):
    # gan.upres has no model_size: the network is the starting model's; a factor that disagrees with it
    # is refused rather than recorded while the old network is kept
    pattern = write_sequence(str(tmp_path / "in"), frames=[1], width=32, height=32)
    rc = main(["train", "gan.upres", "--input", pattern, "--frames", "1", "--out", str(tmp_path / "t.ckpt"),
               "--model", shipped_model(4), "--set", "scale=2", "--progress", "none"])
    err = capsys.readouterr().err
    assert rc == 2 and "upres_x4.ckpt" in err and "scale=2" in err
    assert not os.path.exists(tmp_path / "t.ckpt")


def test_fine_tuning_a_community_model_is_refused_clearly(tmp_path, capsys):
    pattern = write_sequence(str(tmp_path / "in"), frames=[1], width=32, height=32)
    model = save_model(str(tmp_path / "RealESRGAN_x4plus.pth"), {"params_ema": rrdbnet_weights(1)})
    rc = main(["train", "gan.upres", "--input", pattern, "--frames", "1", "--out", str(tmp_path / "t.ckpt"),
               "--model", model, "--progress", "none"])
    err = capsys.readouterr().err
    assert rc == 2 and "RealESRGAN_x4plus.pth" in err and "community model" in err and "RRDBNet x4" in err
    assert not os.path.exists(tmp_path / "t.ckpt")
