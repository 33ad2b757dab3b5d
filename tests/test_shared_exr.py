"""Extra coverage on the OpenEXR sample images in ../shared/data/exr (skipped when absent)."""
import glob
import os

import numpy as np
import pytest

import filmai_plugins as fa
from filmai_plugins.errors import FrameError
from filmai_plugins.frames import read_frame, read_header
from helpers import without_added_colour_tags


def test_every_sample_image_reads(shared_data):
    paths = sorted(glob.glob(os.path.join(shared_data, "exr", "**", "*.exr"), recursive=True))
    assert len(paths) > 40
    for p in paths:
        h = read_header(p)
        for part in range(len(h.parts)):
            f = read_frame(p, part=part)
            assert f.pixels.shape[:2] == (f.data_window[3], f.data_window[2])


def test_beachball_sequence_layers_and_parts(shared_data, tmp_path):
    seq = os.path.join(shared_data, "exr", "Beachball", "singlepart.####.exr")
    m = fa.run("util.convert", input=seq, output=str(tmp_path / "left.####.exr"), frames="1-3",
               io={"layer": "left", "compression": "dwaa"})
    assert m["outputs"]["output"]["frames_written"] == "1-3"
    src = read_frame(seq.replace("####", "0002"), layer="left")
    out = read_frame(str(tmp_path / "left.0002.exr"))
    assert out.channels == ["left.R", "left.G", "left.B", "left.A", "left.Z"]  # the layer name is kept
    np.testing.assert_allclose(read_frame(str(tmp_path / "left.0002.exr"), layer="left").pixels, src.pixels,
                               rtol=0.02, atol=0.02)  # dwaa is lossy
    assert out.data_window == src.data_window == (759, 367, 912, 888)
    assert out.display_window == (0, 0, 2048, 1556)
    mp = os.path.join(shared_data, "exr", "Beachball", "multipart.0001.exr")
    assert read_frame(mp, part="depth_left").channels == ["Z"]
    with pytest.raises(FrameError, match="no part named 'depth_middle'"):
        read_frame(mp, part="depth_middle")


@pytest.mark.parametrize("n", range(1, 17))
def test_display_window_cases_survive_conversion(shared_data, tmp_path, n):
    src = os.path.join(shared_data, "exr", "DisplayWindow", f"t{n:02d}.exr")
    out = str(tmp_path / f"t{n:02d}.exr")
    fa.run("util.convert", input=src, output=out, io={"pixel_type": "half", "compression": "zip"})
    a, b = read_frame(src), read_frame(out)
    assert (a.data_window, a.display_window) == (b.data_window, b.display_window)
    np.testing.assert_array_equal(a.pixels, b.pixels)


def test_all_half_values_round_trip_bit_exact(shared_data, tmp_path):
    src = os.path.join(shared_data, "exr", "TestImages", "AllHalfValues.exr")
    out = str(tmp_path / "ahv.exr")
    fa.run("util.convert", input=src, output=out, io={"compression": "piz"})
    a, b = read_frame(src).pixels, read_frame(out).pixels
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(a[~np.isnan(a)], b[~np.isnan(b)])


def test_nan_inf_image(shared_data, tmp_path):
    src = os.path.join(shared_data, "exr", "TestImages", "BrightRingsNanInf.exr")
    fa.run("util.convert", input=src, output=str(tmp_path / "rings.exr"))  # passes through
    assert not np.isfinite(read_frame(str(tmp_path / "rings.exr")).pixels).all()


def test_tiled_and_wide_float_range(shared_data, tmp_path):
    gg = os.path.join(shared_data, "exr", "Tiles", "GoldenGate.exr")
    assert read_header(gg).tiled
    fa.run("util.convert", input=gg, output=str(tmp_path / "gg.exr"))
    assert not read_header(str(tmp_path / "gg.exr")).tiled
    wf = os.path.join(shared_data, "exr", "TestImages", "WideFloatRange.exr")
    fa.run("util.convert", input=wf, output=str(tmp_path / "wf.exr"))
    np.testing.assert_array_equal(read_frame(wf).pixels, read_frame(str(tmp_path / "wf.exr")).pixels)
    assert read_header(str(tmp_path / "wf.exr")).pixel_types == ["float"]


def _parts_of(path):
    """Per part: name, channels, per-channel types, windows, attributes (provenance and layout aside) and the
    raw pixel bytes in the file's own types, read straight with OpenImageIO."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(path)
    out = []
    i = 0
    while inp.seek_subimage(i, 0):
        s = inp.spec()
        attrs = {a.name: a.value for a in s.extra_attribs
                 if not a.name.startswith("filmai:") and a.name not in ("openexr:chunkCount", "compression")}
        px = inp.read_image(i, 0, 0, s.nchannels, "unknown")
        out.append((s.getattribute("name"), list(s.channelnames), [str(t) for t in s.channelformats or [s.format]],
                    (s.x, s.y, s.width, s.height), (s.full_x, s.full_y, s.full_width, s.full_height),
                    sorted(attrs.items(), key=str), px.dtype.str, px.tobytes()))
        i += 1
    inp.close()
    return out


@pytest.mark.parametrize("kind", ["multipart", "singlepart"])
def test_beachball_converted_whole_is_bit_identical(shared_data, tmp_path, kind):
    """The 10-part Beachball frame without --part keeps all ten parts, and the 20-channel one all its channels:
    names, channels, half types, per-part data windows, attributes and every pixel bit, re-encoded with piz."""
    seq = os.path.join(shared_data, "exr", "Beachball", f"{kind}.####.exr")
    m = fa.run("util.convert", input=seq, output=str(tmp_path / "o.####.exr"), frames="1",
               io={"compression": "piz"})
    assert m["status"] == "complete"
    src, out = _parts_of(seq.replace("####", "0001")), _parts_of(str(tmp_path / "o.0001.exr"))
    assert len(out) == (10 if kind == "multipart" else 1)
    for s_part, o_part in zip(src, out):
        attrs = dict(o_part[5])
        assert "DateTime" in attrs  # OpenImageIO stamps the writing time on files that have none, as oiiotool does
        if "DateTime" not in dict(s_part[5]):
            attrs.pop("DateTime")
        attrs = without_added_colour_tags(attrs, dict(s_part[5]))
        assert o_part[:5] + (sorted(attrs.items(), key=str),) + o_part[6:] == s_part
    assert read_header(str(tmp_path / "o.0001.exr")).attributes["compression"] == "piz"
