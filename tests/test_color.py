"""Colour: OCIO conversions, declared colourspaces, display transforms, the log working encoding."""
import numpy as np
import OpenEXR
import pytest

from filmai_plugins import color
from filmai_plugins.errors import BadInput
from filmai_plugins.frames import read_frame


def test_log_encoding_is_invertible_and_keeps_hdr_and_negatives():
    x = np.array([-2.0, -0.01, 0.0, 0.18, 1.0, 16.0, 1000.0], np.float32)
    y = color.encode(x, "log")
    assert y[2] == 0 and abs(y[4] - 1.0) < 1e-6 and np.all(np.diff(y) > 0)
    np.testing.assert_allclose(color.decode(y, "log"), x, rtol=1e-5, atol=1e-7)
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(x)
    np.testing.assert_allclose(color.decode(color.encode(t, "log"), "log").numpy(), x, rtol=1e-5, atol=1e-7)
    with pytest.raises(BadInput):
        color.encode(x, "gamma")


def test_convert_rec709_to_acescg_and_back_keeps_alpha():
    px = np.random.default_rng(0).random((4, 5, 4)).astype(np.float32) * 3
    ap1 = color.convert(px, "lin_rec709", "ACEScg")
    assert not np.allclose(ap1[..., :3], px[..., :3])
    np.testing.assert_array_equal(ap1[..., 3], px[..., 3])
    np.testing.assert_allclose(color.convert(ap1, "ACEScg", "lin_rec709"), px, rtol=1e-4, atol=1e-5)
    with pytest.raises(BadInput, match="unknown colourspace 'Cineon-ish'"):
        color.convert(px, "Cineon-ish", "ACEScg")


def test_display_transform_is_in_display_range():
    px = np.array([[[0.0, 0.0, 0.0], [0.18, 0.18, 0.18], [50.0, 50.0, 50.0], [np.nan, 1, 1]]], np.float32)
    d = color.to_display(px)
    assert d.min() >= 0 and d.max() <= 1 and d[0, 1, 0] > 0.2 and np.isfinite(d).all()


def test_declared_colourspace_from_exr_headers(tmp_path):
    px = np.zeros((4, 4, 3), np.float32)
    cases = {
        "interop.exr": ({"colorInteropID": "lin_ap1_scene"}, "lin_ap1_scene", "colorInteropID"),
        "ap1.exr": ({"chromaticities": (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)}, "ACEScg",
                    "chromaticities"),
        "plain.exr": ({}, None, None),
    }
    for name, (extra, expected, source) in cases.items():
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **extra}
        with OpenEXR.File(header, {"RGB": px}) as f:
            f.write(str(tmp_path / name))
        frame = read_frame(str(tmp_path / name))
        declared, where = color.declared_colorspace(frame.attributes, ".exr")
        assert declared == expected and (source is None or where == source)
        if expected:
            assert color.canonical_colorspace(declared) == "ACEScg"
    # nothing declared: EXR is scene-linear Rec.709 by convention, whatever OpenImageIO guesses
    assert color.frame_colorspace(read_frame(str(tmp_path / "plain.exr")).attributes, ".exr") == "lin_rec709"
    assert color.frame_colorspace({"oiio:ColorSpace": "sRGB"}, ".png") == "sRGB"
    assert color.canonical_colorspace("sRGB") == "sRGB Encoded Rec.709 (sRGB)"
