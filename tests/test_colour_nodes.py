"""Every image node works in its model's colourspace and converts in and out through the run's OCIO config
(issue 21): a plate in ACEScg and the same plate in linear Rec.709 give the same result (each in its own
space), a model that is the identity in its working space returns the plate, data and alpha never convert."""
from __future__ import annotations

import os

import numpy as np
import pytest

import filmai_plugins as fa
from filmai_plugins import color
from filmai_plugins.frames import read_frame, read_header
from helpers import plate, write_exr

ACESCG, REC709 = "lin_ap1_scene", "lin_rec709_scene"


def _to(px: np.ndarray, names: list[str], src: str, dst: str) -> np.ndarray:
    return color.ColourConfig.load().convert_channels(px, names, src, dst)


def _write(folder, px, names, tag, frame=1001) -> str:
    write_exr(os.path.join(folder, f"p.{frame:04d}.exr"), px, names, pixel_type="float",
              attributes={"colorInteropID": tag})
    return os.path.join(folder, "p.####.exr")


def _close(a: np.ndarray, b: np.ndarray, rel: float) -> float:
    """Largest difference relative to the magnitude (HDR highlights reach 6-60)."""
    return float((np.abs(a - b) / np.maximum(1.0, np.abs(b))).max()) if a.size else 0.0


def test_torchscript_identity_in_rec709_returns_an_acescg_plate(tmp_path):
    """A model that is the identity in its working space (linear Rec.709) gives the ACEScg plate back within
    half precision; alpha and a normal AOV pass bit-exact; the output is tagged ACEScg."""
    import torch

    class Identity(torch.nn.Module):
        def forward(self, x):
            return x * 1.0

    model = str(tmp_path / "identity.pt")
    torch.jit.save(torch.jit.script(Identity()), model)
    names = ["R", "G", "B", "A", "N.X", "N.Y", "N.Z"]
    rgba = plate(1001, 40, 24)
    normal = np.random.default_rng(1).uniform(-1, 1, (24, 40, 3)).astype(np.float32)
    src = _write(str(tmp_path / "in"), np.concatenate([rgba, normal], 2), names, ACESCG)
    fa.run("cnn.torchscript", input=src, output=str(tmp_path / "o" / "o.####.exr"), model=model,
           **{"colorspace": "lin_rec709", "channels_in": "R,G,B", "channels_out": "R,G,B"},
           io={"pixel_type": "float"})
    out, inp = read_frame(str(tmp_path / "o" / "o.1001.exr")), read_frame(src.replace("####", "1001"))
    assert _close(out.select(["R", "G", "B"]), inp.select(["R", "G", "B"]), 0) < 1e-3  # half: 2**-11
    for c in ("A", "N.X", "N.Y", "N.Z"):
        assert np.array_equal(out.select([c]), inp.select([c])), c
    assert read_header(str(tmp_path / "o" / "o.1001.exr")).attributes["colorInteropID"] == ACESCG


def test_torchscript_model_sees_its_working_space(tmp_path):
    """The network receives the plate in its colourspace: a model that zeroes G and B in linear Rec.709,
    given an ACEScg plate, gives back OCIO's conversion of (R709, 0, 0) to ACEScg."""
    import torch

    class RedOnly(torch.nn.Module):
        def forward(self, x):
            return x * torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)

    model = str(tmp_path / "red.pt")
    torch.jit.save(torch.jit.script(RedOnly()), model)
    rgb = plate(1001, 32, 16, channels=3)
    src = _write(str(tmp_path / "in"), rgb, ["R", "G", "B"], ACESCG)
    fa.run("cnn.torchscript", input=src, output=str(tmp_path / "o" / "o.####.exr"), model=model,
           **{"colorspace": "Linear Rec.709 (sRGB)"}, io={"pixel_type": "float"})
    in709 = _to(rgb, ["R", "G", "B"], ACESCG, REC709)
    in709[..., 1:] = 0.0
    expected = _to(in709, ["R", "G", "B"], REC709, ACESCG)
    assert _close(read_frame(str(tmp_path / "o" / "o.1001.exr")).pixels, expected, 0) < 1e-5


def test_upres_gives_the_same_picture_from_acescg_and_rec709(tmp_path):
    """gan.upres works in linear Rec.709 (its training photographs' primaries): an ACEScg plate goes there and
    back, so the x2 result of the ACEScg plate, converted, is the x2 result of the Rec.709 plate."""
    rgb709 = np.clip(plate(1001, 40, 32, channels=3), 0, 1)  # the model's 0-1 range: no highlight split
    acescg = _to(rgb709, ["R", "G", "B"], REC709, ACESCG)
    a = _write(str(tmp_path / "a"), acescg, ["R", "G", "B"], ACESCG)
    b = _write(str(tmp_path / "b"), rgb709, ["R", "G", "B"], REC709)
    for src, out in ((a, "oa"), (b, "ob")):
        fa.run("gan.upres", input=src, output=str(tmp_path / out / "u.####.exr"), **{"scale": 2},
               io={"pixel_type": "float"})
    up_a = read_frame(str(tmp_path / "oa" / "u.1001.exr"))
    up_b = read_frame(str(tmp_path / "ob" / "u.1001.exr"))
    assert up_a.pixels.shape == (64, 80, 3)
    assert read_header(str(tmp_path / "oa" / "u.1001.exr")).attributes["colorInteropID"] == ACESCG
    assert _close(_to(up_a.pixels, ["R", "G", "B"], ACESCG, REC709), up_b.pixels, 0) < 2e-3


def test_denoise_gives_the_same_render_from_acescg_and_rec709_and_keeps_normals(tmp_path):
    """cnn.denoise's shipped model learnt on linear Rec.709 renders: the beauty and albedo of an ACEScg render
    are converted into that space and back; the normals (data) are not converted, depth and alpha pass."""
    from test_denoise import synthetic_render

    noisy, _, albedo, normal = synthetic_render(5, 48, 48)
    h, w = noisy.shape[:2]
    names = ["R", "G", "B", "A", "albedo.R", "albedo.G", "albedo.B", "N.X", "N.Y", "N.Z"]
    alpha = np.ones((h, w, 1), np.float32)
    px709 = np.concatenate([noisy, alpha, albedo, normal], 2)
    px_aces = _to(px709, names, REC709, ACESCG)
    assert np.array_equal(px_aces[..., 7:], px709[..., 7:])  # normals are data
    a = _write(str(tmp_path / "a"), px_aces, names, ACESCG)
    b = _write(str(tmp_path / "b"), px709, names, REC709)
    for src, out in ((a, "oa"), (b, "ob")):
        fa.run("cnn.denoise", input=src, output=str(tmp_path / out / "d.####.exr"), io={"pixel_type": "float"})
    out_a = read_frame(str(tmp_path / "oa" / "d.1001.exr"))
    out_b = read_frame(str(tmp_path / "ob" / "d.1001.exr"))
    rgb_a = _to(out_a.select(["R", "G", "B"]), ["R", "G", "B"], ACESCG, REC709)
    assert _close(rgb_a, out_b.select(["R", "G", "B"]), 0) < 2e-3
    assert np.array_equal(out_a.select(["N.X", "N.Y", "N.Z"]), px_aces[..., 7:])


def test_a_model_space_the_runs_config_lacks_is_exit_2(tmp_path):
    """A studio config without the model's space: one clear message before anything is written."""
    from test_color import _studio_config

    config = _studio_config(str(tmp_path / "show.ocio"))
    src = _write(str(tmp_path / "in"), plate(1001, 24, 16, channels=3), ["R", "G", "B"], "show_linear")
    with pytest.raises(fa.BadInput, match="works in colourspace"):
        fa.run("gan.upres", input=src, output=str(tmp_path / "o" / "u.####.exr"), **{"scale": 2},
               io={"ocio_config": config})
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")
