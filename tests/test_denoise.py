"""cnn.denoise: pass discovery, the shipped model on a held-out synthetic render, HDR, pass-through, tiling,
fine-tuning through the shared training loop, and bad input (exit 2 naming file and frame).

Fixtures are real EXRs written with OpenImageIO: Blender-style multipart files (``ViewLayer.Combined``,
``ViewLayer.Denoising Normal``, ``ViewLayer.Denoising Albedo`` in separate parts, as bpy 5.0 writes them) and
single-part files with generic AOV names. The "renders" are synthetic: a clean image made of albedo × shading
with an HDR emitter, and a noisy one whose per-pixel noise follows the sample mean of a few path samples
(gamma-distributed luminance and chroma noise plus rare fireflies), so the truth is known exactly.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import OpenImageIO as oiio
import pytest

import filmai_plugins as fa
from filmai_plugins import color
from filmai_plugins.cli import main as cli_main
from filmai_plugins.frames.io import read_frame
from filmai_plugins.training.checkpoint import load_checkpoint, save_checkpoint

from helpers import write_exr

SHIPPED = os.path.join(os.path.dirname(__file__), "..", "nodes", "cnn", "denoise", "models", "denoise.ckpt")


# ----- fixtures ----------------------------------------------------------------------------------------


def synthetic_render(seed: int, h: int = 64, w: int = 64, spp: int = 4, hdr: float = 20.0):
    """(noisy RGB, clean RGB, albedo, normal) of a procedural scene: a checker floor, shaded spheres, an emitter."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    check = ((xx // 8 + yy // 8) % 2)[..., None] > 0
    albedo = np.where(check, rng.uniform(0.2, 0.8, 3), rng.uniform(0.05, 0.5, 3)).astype(np.float32)
    normal = np.zeros((h, w, 3), np.float32)
    normal[..., 2] = 1.0
    emitter = np.zeros((h, w), bool)
    for i in range(3):
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        r = rng.uniform(0.1, 0.25) * min(h, w)
        d = np.hypot(xx - cx, yy - cy) / r
        inside = d < 1
        albedo[inside] = rng.uniform(0.1, 0.9, 3)
        nz = np.sqrt(np.clip(1 - d ** 2, 0, 1))
        normal[inside] = np.stack([(xx - cx) / r, (yy - cy) / r, nz], -1)[inside]
        if i == 0:
            emitter |= d < 0.3
    light = np.array([0.4, -0.5, 0.77], np.float32)
    light /= np.linalg.norm(light)
    clean = albedo * (0.15 + 1.2 * np.clip((normal * light).sum(-1), 0, None))[..., None]
    clean[emitter] = hdr
    noisy = clean * rng.gamma(spp, 1.0 / spp, (h, w, 1)) * rng.gamma(4 * spp, 1.0 / (4 * spp), (h, w, 3))
    fireflies = (rng.random((h, w)) < 0.002) & ~emitter
    noisy[fireflies] += 4.0
    noisy[emitter] = hdr
    return noisy.astype(np.float32), clean.astype(np.float32), albedo, normal


def write_multipart(path: str, parts, display=None) -> str:
    """A multipart EXR like bpy 5.0 writes: ``parts`` = [(part name, pixels (H, W, C), channel names)];
    ``display`` = (x, y, width, height): the pixels are a data window at (x, y) of a display window that size."""
    specs = []
    for name, px, chans in parts:
        h, w, c = px.shape
        spec = oiio.ImageSpec(w, h, c, "float")
        if display is not None:
            spec.x, spec.y = display[0], display[1]
            spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, display[2], display[3]
        spec.channelnames = tuple(chans)
        spec.attribute("name", name)
        spec.attribute("compression", "zip")
        specs.append(spec)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, specs), out.geterror()
    for i, (_, px, _) in enumerate(parts):
        if i:
            assert out.open(path, specs[i], "AppendSubimage"), out.geterror()
        assert out.write_image(np.ascontiguousarray(px, np.float32)), out.geterror()
    out.close()
    return path


def blender_parts(rgb, albedo=None, normal=None, layer="ViewLayer"):
    h, w, _ = rgb.shape
    rgba = np.concatenate([rgb, np.ones((h, w, 1), np.float32)], -1)
    parts = [(f"{layer}.Combined", rgba, [f"{layer}.Combined.{c}" for c in "RGBA"])]
    if normal is not None:
        parts.append((f"{layer}.Denoising Normal", normal, [f"{layer}.Denoising Normal.{c}" for c in "XYZ"]))
    if albedo is not None:
        parts.append((f"{layer}.Denoising Albedo", albedo, [f"{layer}.Denoising Albedo.{c}" for c in "RGB"]))
    return parts


def blender_sequence(folder, frames, *, size=(64, 64), aux=True, seed=0, spp=4):
    """noisy.####.exr / clean.####.exr Blender-style multipart pairs; returns (noisy, clean) patterns."""
    os.makedirs(folder, exist_ok=True)
    for f in frames:
        noisy, clean, albedo, normal = synthetic_render(seed + f, *size, spp=spp)
        write_multipart(os.path.join(folder, f"noisy.{f:04d}.exr"),
                        blender_parts(noisy, albedo if aux else None, normal if aux else None))
        write_multipart(os.path.join(folder, f"clean.{f:04d}.exr"), blender_parts(clean))
    return os.path.join(folder, "noisy.####.exr"), os.path.join(folder, "clean.####.exr")


def tonemapped_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of RGB after clamping to 0-1 and the sRGB curve: what a viewer shows."""
    ta = color.encode(np.clip(a[..., :3], 0, 1), "srgb")
    tb = color.encode(np.clip(b[..., :3], 0, 1), "srgb")
    return 10 * math.log10(1.0 / float(np.mean((ta - tb) ** 2)))


@pytest.fixture(scope="module")
def shipped():
    if not os.path.isfile(SHIPPED):
        pytest.fail("nodes/cnn/denoise/models/denoise.ckpt is missing: train it with recipes/train_denoise.py")
    return SHIPPED


@pytest.fixture(scope="module")
def random_kpn(tmp_path_factory):
    """A denoise checkpoint with seeded random weights, head included (the shipped net's head starts at zero,
    which would make every kernel the same uniform blur): each pixel's kernel then depends on the U-Net's whole
    context, so tiling and pass-through are checked independently of what the shipped model learned."""
    import torch

    from filmai_plugins.nodes.cnn.denoise import model as _denoise

    arch = _denoise.build_arch("small")
    torch.manual_seed(11)
    core = _denoise.KernelPredictionCore(arch)
    torch.nn.init.normal_(core.unet.head.weight, std=0.5)
    path = str(tmp_path_factory.mktemp("kpn") / "random.ckpt")
    tensors = {k: v.detach().numpy() for k, v in core.state_dict().items()}
    save_checkpoint(path, tensors, {"node": "cnn.denoise", "arch": arch, "channels_in": list(_denoise.NET_CHANNELS_IN),
                                    "channels_out": list(_denoise.NET_CHANNELS_OUT), "encoding": "log",
                                    "align": arch["align"], "receptive_field": arch["receptive_field"]})
    return path


# ----- pass discovery (no torch) -----------------------------------------------------------------------


def test_finds_blender_multipart_and_generic_passes(tmp_path):
    from filmai_plugins.nodes.cnn.denoise.aovs import resolve_layout

    noisy, _, albedo, normal = synthetic_render(1)
    path = write_multipart(str(tmp_path / "bl.exr"), blender_parts(noisy, albedo, normal))
    frame = read_frame(path, frame=1)  # what the engine reads: part 0, the Combined pass
    layout = resolve_layout(frame)
    assert layout.beauty == ["ViewLayer.Combined.R", "ViewLayer.Combined.G", "ViewLayer.Combined.B"]
    assert (layout.albedo.part_name, layout.normal.part_name) == ("ViewLayer.Denoising Albedo",
                                                                  "ViewLayer.Denoising Normal")
    x = layout.network_input(frame)
    assert np.array_equal(x[..., 3:6], albedo) and np.array_equal(x[..., 6:9], normal)
    assert x[..., 9].min() == 1.0 and x[..., 10].min() == 1.0

    # two view layers in one file: the passes of the beauty's own view layer are taken
    other = blender_parts(noisy * 0.5, albedo * 0.5, -normal, layer="Back")
    two = write_multipart(str(tmp_path / "two.exr"), other + blender_parts(noisy, albedo, normal))
    layout2 = resolve_layout(read_frame(two, part="ViewLayer.Combined"))
    assert layout2.albedo.layer == "ViewLayer.Denoising Albedo" and layout2.normal.layer == "ViewLayer.Denoising Normal"

    # a single-part file with generic AOV names
    px = np.concatenate([noisy, np.ones_like(noisy[..., :1]), albedo, normal], -1)
    names = ["R", "G", "B", "A", "albedo.R", "albedo.G", "albedo.B", "N.X", "N.Y", "N.Z"]
    single = write_exr(str(tmp_path / "aov.exr"), px, names, pixel_type="float")
    layout3 = resolve_layout(read_frame(single))
    assert layout3.beauty == ["R", "G", "B"] and layout3.mode == "beauty+albedo+normal"
    assert layout3.albedo.part < 0  # already among the channels read: no second read

    # none: explicitly ignored; beauty only
    assert resolve_layout(read_frame(single), albedo="none", normal="none").mode == "beauty"


# ----- the network ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("demodulate", [False, True], ids=["direct", "demodulated"])
def test_kernel_prediction_network_averages_its_neighbourhood(demodulate):
    import torch

    from filmai_plugins.nodes.cnn.denoise import model as _denoise

    arch = _denoise.build_arch("small", demodulate)
    assert ("demodulate" in arch) == demodulate  # checkpoints without the key are direct-path models
    assert arch["receptive_field"] >= (arch["kernel"] // 2) * max(arch["dilations"]) + max(arch["dilations"]) // 2
    torch.manual_seed(0)
    model = _denoise.DenoiseModel(arch).eval()
    h, w = 40, 56
    x = torch.rand(1, 11, h, w) * 0.5
    x[:, :3] *= torch.exp(torch.randn(1, 3, h, w))  # HDR-ish beauty
    x[:, 9:] = 1.0  # albedo and normal given
    with torch.no_grad():
        # a fresh network (zero head) is a fixed blur: a constant frame, even at 50.0, comes back exactly
        flat = torch.cat([torch.full((1, 3, h, w), 50.0), torch.full((1, 3, h, w), 0.5), x[:, 6:]], 1)
        assert torch.allclose(model(flat), flat[:, :3], rtol=1e-5)
        torch.nn.init.normal_(model.core.unet.head.weight, std=0.5)
        # every output is a convex combination of the noisy beauty (the demodulated path is clamped to the
        # range its kernels reach): never outside its range, never NaN
        y = model(x)
        assert y.shape == (1, 3, h, w) and torch.isfinite(y).all()
        assert float(y.min()) >= float(x[:, :3].min()) - 1e-5 and float(y.max()) <= float(x[:, :3].max()) * (1 + 1e-5)
        if demodulate:
            # a black surface lit brightly beside a white one lit dimly: its lighting (beauty / albedo) is 50x
            # the white one's, and averaged across the edge and multiplied by the white albedo it would put
            # 5x the brightest rendered value on the white side; the clamp keeps every pixel in range
            edge = torch.cat([torch.full((1, 3, h, w), 0.2), torch.ones(1, 3, h, w), x[:, 6:]], 1)
            edge[:, :3, :, : w // 2] = 1.0
            edge[:, 3:6, :, : w // 2] = 0.0
            blend = 2 * model.core.path_channels * 4  # the blend weight's 4 sub-pixel outputs in the head
            fresh = _denoise.DenoiseModel(arch).eval()  # zero head: both paths a uniform blur
            fresh.core.unet.head.bias.data[blend:blend + 4] = 20.0  # blend fully to the demodulated path
            ye = fresh(edge)
            assert float(ye.max()) <= 1.0 + 1e-5 and float(ye.min()) >= 0.2 - 1e-5
        if demodulate:
            # without an albedo pass (its flag 0) the demodulated path is blended out exactly: the direct-path
            # network with the same weights (the head's first outputs, before the 2x2 pixel shuffle) agrees
            plain = x.clone()
            plain[:, 3:6] = 0.0
            plain[:, 9] = 0.0
            direct = _denoise.DenoiseModel(_denoise.build_arch("small", False)).eval()
            n = direct.core.unet.head.out_channels
            direct.core.unet.load_state_dict({k: v[:n] if k.startswith("head.") else v
                                              for k, v in model.core.unet.state_dict().items()})
            assert torch.allclose(direct(plain), model(plain), atol=1e-6)
        # the fp16 network (a CUDA GPU with half=true) filters in float32 and agrees closely
        half = _denoise.DenoiseModel(arch).eval()
        half.load_state_dict(model.state_dict())
        y16 = half.to(dtype=torch.float16)(x)
        assert y16.dtype == torch.float32
        assert torch.allclose(y16, y, rtol=2e-2, atol=2e-2), float((y16 - y).abs().max())


# ----- the shipped model -------------------------------------------------------------------------------


def test_shipped_model_denoises_held_out_render_with_and_without_passes(tmp_path, shipped):
    noisy_pat, _ = blender_sequence(str(tmp_path / "aux"), [1001], size=(96, 96), seed=4242)
    beauty_only, _ = blender_sequence(str(tmp_path / "plain"), [1001], size=(96, 96), seed=4242, aux=False)
    clean = read_frame(str(tmp_path / "aux" / "clean.1001.exr")).pixels
    noisy = read_frame(str(tmp_path / "aux" / "noisy.1001.exr")).pixels
    m_aux = fa.run("cnn.denoise", input=noisy_pat, output=str(tmp_path / "o_aux" / "d.####.exr"), frames="1001")
    m_plain = fa.run("cnn.denoise", input=beauty_only, output=str(tmp_path / "o_plain" / "d.####.exr"),
                     frames="1001")
    assert m_aux["results"]["passes"]["mode"] == "beauty+albedo+normal"
    assert m_plain["results"]["passes"]["mode"] == "beauty"
    with_aux = read_frame(str(tmp_path / "o_aux" / "d.1001.exr")).pixels
    without = read_frame(str(tmp_path / "o_plain" / "d.1001.exr")).pixels
    identity = tonemapped_psnr(noisy, clean)
    psnr_aux, psnr_plain = tonemapped_psnr(with_aux, clean), tonemapped_psnr(without, clean)
    assert psnr_aux > identity + 4.0, (identity, psnr_aux)
    assert psnr_plain > identity + 3.0, (identity, psnr_plain)
    # the passes really reach the network (whether they help is measured on held-out Cycles renders by
    # bench/denoise.py: on these synthetic ones, unlike Cycles' passes, they do not; see docs/BENCHMARKS.md)
    assert float(np.abs(with_aux[..., :3] - without[..., :3]).mean()) > 1e-3
    assert np.array_equal(with_aux[..., 3], noisy[..., 3])  # alpha untouched


def test_hdr_survives_and_other_channels_pass_through(tmp_path, shipped):
    noisy, _, albedo, normal = synthetic_render(7, 64, 80, hdr=60.0)
    h, w = noisy.shape[:2]
    alpha = np.linspace(0, 1, w, dtype=np.float32)[None, :].repeat(h, 0)[..., None]
    depth = np.full((h, w, 1), 12.5, np.float32)
    px = np.concatenate([noisy, alpha, depth, albedo, normal], -1)
    names = ["R", "G", "B", "A", "Z", "albedo.R", "albedo.G", "albedo.B", "N.X", "N.Y", "N.Z"]
    src = write_exr(str(tmp_path / "in" / "r.1001.exr"), px, names, pixel_type="half", data_window=(7, 3),
                    display_window=(0, 0, 100, 80))
    fa.run("cnn.denoise", input=str(tmp_path / "in" / "r.####.exr"), output=str(tmp_path / "out" / "r.####.exr"),
           frames="1001")
    out = read_frame(str(tmp_path / "out" / "r.1001.exr"))
    inp = read_frame(src)
    assert out.channels == inp.channels and out.pixel_types == inp.pixel_types
    assert out.data_window == (7, 3, w, h) and out.display_window == (0, 0, 100, 80)
    for c in ["A", "Z", "albedo.R", "N.Z"]:
        assert np.array_equal(out.select([c]), inp.select([c])), c
    rgb = out.select(["R", "G", "B"])
    assert float(rgb.max()) > 40.0  # the 60.0 emitter is not clamped
    assert np.isfinite(rgb).all()
    assert not np.array_equal(rgb, inp.select(["R", "G", "B"]))


def test_ensemble_is_rotation_equivariant_and_still_denoises(tmp_path, shipped):
    noisy, clean, albedo, normal = synthetic_render(77, 64, 64)
    for name, turns in (("upright", 0), ("turned", 1)):
        parts = [np.rot90(p, turns).copy() for p in (noisy, albedo, normal)]
        os.makedirs(tmp_path / name)
        write_multipart(str(tmp_path / name / "n.1001.exr"), blender_parts(*parts))
        fa.run("cnn.denoise", input=str(tmp_path / name / "n.####.exr"),
               output=str(tmp_path / f"{name}_ens" / "d.####.exr"), frames="1001", ensemble=True)
    fa.run("cnn.denoise", input=str(tmp_path / "upright" / "n.####.exr"), output=str(tmp_path / "plain" / "d.####.exr"),
           frames="1001")
    upright = read_frame(str(tmp_path / "upright_ens" / "d.1001.exr")).pixels[..., :3]
    turned = read_frame(str(tmp_path / "turned_ens" / "d.1001.exr")).pixels[..., :3]
    plain = read_frame(str(tmp_path / "plain" / "d.1001.exr")).pixels[..., :3]
    # the mean over all 8 flips/rotations does not depend on which way up the frame comes in (EXR pixels are
    # half floats, hence the tolerance); a single pass does
    np.testing.assert_allclose(turned, np.rot90(upright, 1), rtol=2e-3, atol=2e-3)
    assert float(np.abs(upright - plain).mean()) > 1e-4
    assert tonemapped_psnr(upright, clean) > tonemapped_psnr(noisy, clean) + 4.0


def test_tiles_are_seamless(tmp_path, random_kpn):
    noisy_pat, _ = blender_sequence(str(tmp_path / "s"), [1001], size=(336, 400), seed=99)
    fa.run("cnn.denoise", input=noisy_pat, output=str(tmp_path / "whole" / "d.####.exr"), frames="1001",
           model=random_kpn)
    manifest = fa.run("cnn.denoise", input=noisy_pat, output=str(tmp_path / "tiled" / "d.####.exr"),
                      frames="1001", io={"tile_size": 304}, model=random_kpn)  # 2x2 overlapping tiles
    assert manifest["io"]["tile_size"] == 304
    whole = read_frame(str(tmp_path / "whole" / "d.1001.exr")).pixels
    tiled = read_frame(str(tmp_path / "tiled" / "d.1001.exr")).pixels
    assert np.allclose(tiled, whole, rtol=1e-3, atol=1e-4), float(np.abs(tiled - whole).max())


# ----- fine-tuning ---------------------------------------------------------------------------------------


def test_fine_tune_on_shot_pairs_writes_a_checkpoint_that_runs(tmp_path, shipped):
    noisy_pat, clean_pat = blender_sequence(str(tmp_path / "shot"), [1001, 1002, 1003], size=(64, 64), seed=300)
    out = str(tmp_path / "shot.ckpt")
    rc = cli_main(["train", "cnn.denoise", "--input", noisy_pat, "--target", clean_pat, "--frames", "1001-1003",
                   "--out", out, "--progress", "none", "--set", "steps=3", "--set", "crop_size=32",
                   "--set", "batch_size=2", "--set", "validation_frames=1003", "--set", "contact_sheet_interval=3"])
    assert rc == 0
    ckpt = load_checkpoint(out, expect_node="cnn.denoise")
    assert ckpt.meta["training"]["steps"] == 3
    assert os.path.samefile(ckpt.meta["training"]["init_model"], shipped)  # fine-tuned the shipped model
    assert ckpt.meta["passes"]["mode"] == "beauty+albedo+normal"
    assert os.path.isfile(os.path.join(str(tmp_path / "shot.train"), "contact_000003.png"))
    rc = cli_main(["run", "cnn.denoise", "--model", out, "--input", noisy_pat, "--output",
                   str(tmp_path / "d" / "d.####.exr"), "--frames", "1001", "--progress", "none"])
    assert rc == 0 and os.path.isfile(str(tmp_path / "d" / "d.1001.exr"))


def test_fine_tune_places_a_cropped_clean_render_on_the_noisy_grid(tmp_path, monkeypatch, shipped):
    """A clean render saved with a smaller data window (a render region, an autocrop) pairs up with the full
    noisy frame: its pixels land where they are in the picture, zeros around them, nothing shifted."""
    from filmai_plugins.nodes.cnn.denoise import model as _denoise

    noisy_pat, clean_pat = blender_sequence(str(tmp_path / "crop"), [1001, 1002], size=(48, 48), seed=9)
    full = read_frame(clean_pat.replace("####", "1002")).pixels
    x0, y0, w, h = 8, 4, 32, 40
    write_multipart(clean_pat.replace("####", "1002"), blender_parts(full[y0:y0 + h, x0:x0 + w, :3].copy()),
                    display=(x0, y0, 48, 48))
    pairs = {}
    real_train = _denoise.train

    def train_and_keep_pairs(ctx, default_path):  # the pairs as the node's own loader reads them
        pairs.update({p.frame: p for p in _denoise.load_denoise_pairs(ctx, [1001, 1002], ctx.params)[0]})
        return real_train(ctx, default_path)

    monkeypatch.setattr(_denoise, "train", train_and_keep_pairs)
    rc = cli_main(["train", "cnn.denoise", "-i", noisy_pat, "-t", clean_pat, "-f", "1001-1002", "--out",
                   str(tmp_path / "crop.ckpt"), "--progress", "none", "--set", "steps=1",
                   "--set", "crop_size=32", "--set", "batch_size=1"])
    assert rc == 0
    target = pairs[1002].target
    assert target.shape == (48, 48, 3)
    assert np.array_equal(target[y0:y0 + h, x0:x0 + w], full[y0:y0 + h, x0:x0 + w, :3])
    outside = np.ones((48, 48), bool)
    outside[y0:y0 + h, x0:x0 + w] = False
    assert not target[outside].any()


# ----- bad input -----------------------------------------------------------------------------------------


def test_bad_input_exits_2_naming_file_and_frame(tmp_path, capsys, shipped):
    noisy_pat, clean_pat = blender_sequence(str(tmp_path / "b"), [1001, 1002], size=(48, 48), seed=5)
    out = str(tmp_path / "o" / "d.####.exr")

    # a declared pass that the file does not have
    rc = cli_main(["run", "cnn.denoise", "-i", noisy_pat, "-o", out, "-f", "1001", "--progress", "none",
                   "--set", "albedo=ViewLayer.Diffuse Color"])
    err = capsys.readouterr().err
    assert rc == 2 and "noisy.1001.exr" in err and "frame 1001" in err and "Diffuse Color" in err
    assert not os.path.exists(str(tmp_path / "o" / "d.1001.exr"))

    # a checkpoint trained for another node
    other = str(tmp_path / "copycat.ckpt")
    save_checkpoint(other, {"w": np.zeros(3, np.float32)}, {"node": "cnn.copycat"})
    rc = cli_main(["run", "cnn.denoise", "-m", other, "-i", noisy_pat, "-o", out, "-f", "1001",
                   "--progress", "none"])
    err = capsys.readouterr().err
    assert rc == 2 and "copycat.ckpt" in err and "cnn.copycat" in err

    # frame 1002 lacks the normal pass frame 1001 had: no silent switch of mode mid-shot
    noisy, _, albedo, _ = synthetic_render(77, 48, 48)
    write_multipart(str(tmp_path / "b" / "noisy.1002.exr"), blender_parts(noisy, albedo, None))
    rc = cli_main(["run", "cnn.denoise", "-i", noisy_pat, "-o", out, "-f", "1001-1002", "--progress", "none"])
    err = capsys.readouterr().err
    assert rc == 2 and "noisy.1002.exr" in err and "frame 1002" in err and "Denoising Normal" in err
    assert not os.path.exists(str(tmp_path / "o" / "d.1002.exr"))

    # training pairs that do not line up
    write_multipart(str(tmp_path / "b" / "clean.1002.exr"), blender_parts(np.ones((40, 48, 3), np.float32)))
    rc = cli_main(["train", "cnn.denoise", "-i", noisy_pat, "-t", clean_pat, "-f", "1001-1002", "--out",
                   str(tmp_path / "bad.ckpt"), "--progress", "none", "--set", "steps=1", "--set", "albedo=none",
                   "--set", "normal=none"])
    err = capsys.readouterr().err
    assert rc == 2 and "clean.1002.exr" in err and "frame 1002" in err
    assert not os.path.exists(str(tmp_path / "bad.ckpt"))


def test_listing_nodes_does_not_import_torch():
    code = ("import sys, filmai_plugins.nodes.cnn.denoise as d; assert d.NODES; "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    res = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr
