"""Sequence patterns, frame specs, and EXR/image reading and writing with the real OpenImageIO/OpenEXR."""
import os

import numpy as np
import OpenEXR
import OpenImageIO as oiio
import pytest

from filmai_plugins.errors import BadInput, FrameError
from filmai_plugins.frames import (COMPRESSIONS, Frame, SequencePattern, WriteOptions, format_frames, parse_frames,
                                   read_frame, read_header, read_provenance, write_frame)
from helpers import plate, write_exr, write_sequence


# ----- patterns and frame specs ---------------------------------------------------------------

@pytest.mark.parametrize("pattern,expected", [
    ("shot/plate.####.exr", "shot/plate.1001.exr"),
    ("shot/plate.%04d.exr", "shot/plate.1001.exr"),
    ("shot/plate.@@@@.exr", "shot/plate.1001.exr"),
    ("shot/plate.#.exr", "shot/plate.1001.exr"),
    ("shot/plate.######.exr", "shot/plate.001001.exr"),
    ("shot/plate.%06d.exr", "shot/plate.001001.exr"),
])
def test_patterns_one_hash_per_digit(pattern, expected):
    assert SequencePattern(pattern).path(1001) == expected
    assert SequencePattern(pattern).stem == "plate"


def test_single_digit_padding_grows_like_nuke():
    assert SequencePattern("a.#.exr").path(7) == "a.7.exr"
    assert SequencePattern("a.@.exr").path(12) == "a.12.exr"


def test_pattern_without_padding_is_one_file(tmp_path):
    p = SequencePattern(str(tmp_path / "movie.mov"))
    assert not p.is_sequence and p.path() == str(tmp_path / "movie.mov")


def test_two_frame_fields_rejected():
    with pytest.raises(BadInput):
        SequencePattern("a.####.####.exr")


@pytest.mark.parametrize("spec,frames", [
    ("1001-1005", [1001, 1002, 1003, 1004, 1005]),
    ("1001-1009x2", [1001, 1003, 1005, 1007, 1009]),
    ("1,5,9-12", [1, 5, 9, 10, 11, 12]),
    ("7", [7]),
])
def test_frame_specs(spec, frames):
    assert parse_frames(spec) == frames


@pytest.mark.parametrize("spec", ["", "1-", "a-b", "1001-1100q2", "1,,2x"])
def test_bad_frame_specs(spec):
    with pytest.raises(BadInput):
        parse_frames(spec)


def test_format_frames_compacts():
    assert format_frames([1, 2, 3, 5]) == "1-3,5"


def test_frames_on_disk_and_missing_report(tmp_path):
    pattern = write_sequence(str(tmp_path), frames=[1001, 1002, 1004, 1005])
    seq = SequencePattern(pattern)
    assert seq.frames_on_disk() == [1001, 1002, 1004, 1005]
    with pytest.raises(FrameError) as err:
        seq.resolve_frames("1001-1006")
    msg = str(err.value)
    assert "2 of 6 frames missing: 1003,1006" in msg and "plate.####.exr" in msg and "frame 1003" in msg


# ----- reading ----------------------------------------------------------------------------------

def test_read_scanline_half_and_float(tmp_path):
    img = plate(1, 40, 30)
    for ptype in ("half", "float"):
        path = write_exr(str(tmp_path / f"{ptype}.exr"), img, pixel_type=ptype)
        f = read_frame(path)
        assert f.channels == ["R", "G", "B", "A"] and f.pixel_types == [ptype] * 4
        tol = 2e-3 * np.abs(img).max() if ptype == "half" else 0
        np.testing.assert_allclose(f.pixels, img, atol=tol, rtol=1e-3)


def test_read_tiled(tmp_path):
    img = plate(2, 70, 50)
    path = write_exr(str(tmp_path / "tiled.exr"), img, tile=16, pixel_type="float")
    h = read_header(path)
    assert h.tiled
    np.testing.assert_array_equal(read_frame(path).pixels, img)


def test_data_window_differs_from_display_window(tmp_path):
    img = plate(3, 20, 10, 3)
    path = write_exr(str(tmp_path / "dw.exr"), img, pixel_type="float", data_window=(5, 7),
                     display_window=(0, 0, 64, 48))
    f = read_frame(path)
    assert f.data_window == (5, 7, 20, 10) and f.display_window == (0, 0, 64, 48)
    full = f.to_display_window()
    assert full.shape == (48, 64, 3)
    np.testing.assert_array_equal(full[7:17, 5:25], img)
    assert full[0, 0].sum() == 0
    # onto a window that crops the data on the left and top and reaches past it on the right and bottom
    part = f.on_window((10, 9, 20, 12), fill=-1.0)
    assert part.shape == (12, 20, 3)
    np.testing.assert_array_equal(part[:8, :15], img[2:, 5:])
    assert (part[8:] == -1.0).all() and (part[:, 15:] == -1.0).all()
    assert (f.on_window((100, 100, 4, 4)) == 0).all()  # no overlap at all: only fill


def test_layer_and_channel_selection(tmp_path):
    pix = np.random.default_rng(0).random((8, 9, 7)).astype(np.float32)
    names = ["R", "G", "B", "A", "diffuse.R", "diffuse.G", "diffuse.B"]
    path = write_exr(str(tmp_path / "aov.exr"), pix, names, pixel_type="float")
    f = read_frame(path, layer="diffuse")
    assert f.channels == ["R", "G", "B"] and f.layer == "diffuse"
    np.testing.assert_array_equal(f.pixels, pix[:, :, [names.index(n) for n in ("diffuse.R", "diffuse.G", "diffuse.B")]])
    g = read_frame(path, channels=["A", "R"])
    assert g.channels == ["A", "R"]
    np.testing.assert_array_equal(g.pixels, pix[:, :, [names.index("A"), names.index("R")]])
    with pytest.raises(FrameError, match="no layer 'specular'.*diffuse"):
        read_frame(path, layer="specular", frame=12)
    with pytest.raises(FrameError, match=r"aov.exr \(frame 3\): no channel 'Z'"):
        read_frame(path, channels=["Z"], frame=3)


def _write_multipart(path):
    rgba = plate(1, 24, 16)
    depth = np.linspace(1, 10, 24 * 16, dtype=np.float32).reshape(16, 24, 1)
    specs = []
    bufs = []
    for name, pix, chans in (("beauty", rgba, ("R", "G", "B", "A")), ("depth", depth, ("Z",))):
        spec = oiio.ImageSpec(24, 16, len(chans), "float")
        spec.channelnames = chans
        spec.attribute("name", name)
        spec.attribute("compression", "zip")
        specs.append(spec)
        bufs.append(pix)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, specs)
    for i, (spec, pix) in enumerate(zip(specs, bufs)):
        if i:
            assert out.open(path, spec, "AppendSubimage")
        assert out.write_image(pix)
    out.close()
    return rgba, depth


def test_multipart_part_selection(tmp_path):
    path = str(tmp_path / "mp.exr")
    rgba, depth = _write_multipart(path)
    h = read_header(path)
    assert h.parts == ["beauty", "depth"]
    np.testing.assert_array_equal(read_frame(path, part="depth").pixels, depth)
    np.testing.assert_array_equal(read_frame(path, part=1).pixels, depth)
    np.testing.assert_array_equal(read_frame(path).pixels, rgba)
    with pytest.raises(FrameError, match="no part named 'spec'.*beauty, depth"):
        read_frame(path, part="spec")


@pytest.mark.parametrize("ext", [".png", ".tif", ".jpg", ".dpx"])
def test_other_formats_as_inputs(tmp_path, ext):
    img = np.clip(plate(1, 32, 24, 3), 0, 1)
    buf = oiio.ImageBuf(img)
    path = str(tmp_path / f"img{ext}")
    assert buf.write(path, "uint16" if ext in (".png", ".tif", ".dpx") else "uint8")
    f = read_frame(path)
    assert f.pixels.shape == (24, 32, 3)
    err = np.abs(f.pixels - img)
    assert (err.mean() < 0.02) if ext == ".jpg" else (err.max() < 1e-3)


def test_truncated_exr_is_a_clear_error(tmp_path):
    path = write_exr(str(tmp_path / "shot.1001.exr"), np.random.default_rng(1).random((256, 256, 4)), compression="none")
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(FrameError) as err:
        read_frame(path, frame=1001)
    assert "shot.1001.exr (frame 1001)" in str(err.value) and "corrupt or truncated" in str(err.value)


def test_not_an_image_is_a_clear_error(tmp_path):
    path = tmp_path / "shot.1001.exr"
    path.write_bytes(b"this is not an exr file at all")
    with pytest.raises(FrameError, match="cannot open"):
        read_frame(str(path), frame=1001)


def test_absurd_header_dimensions_refused(tmp_path, monkeypatch):
    path = write_exr(str(tmp_path / "big.exr"), plate(1, 64, 64), compression="none")
    monkeypatch.setenv("FILMAI_MAX_MEGAPIXELS", "0.001")  # 1000 values: this 64x64x4 frame is "absurd"
    with pytest.raises(FrameError, match="absurd dimensions 64x64x4"):
        read_frame(path, frame=5)


def test_absurd_dimensions_in_a_doctored_header(tmp_path):
    path = write_exr(str(tmp_path / "doctored.exr"), plate(1, 16, 16), compression="none")
    data = bytearray(open(path, "rb").read())
    for attr in (b"dataWindow\0box2i\0", b"displayWindow\0box2i\0"):
        at = data.index(attr) + len(attr) + 4  # skip the size field
        data[at + 8:at + 16] = np.array([200000, 200000], "<i4").tobytes()  # xMax, yMax
    open(path, "wb").write(bytes(data))
    with pytest.raises(FrameError) as err:
        read_frame(path, frame=1)
    assert "doctored.exr" in str(err.value)


# ----- writing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_write_every_compression_keeps_windows_names_and_attributes(tmp_path, compression):
    img = plate(4, 33, 21)
    src = write_exr(str(tmp_path / "src.exr"), img, ["R", "G", "B", "A"], pixel_type="half", data_window=(3, 4),
                    display_window=(0, 0, 50, 40), attributes={"shotName": "SH010", "cameraName": "A001"})
    f = read_frame(src)
    out = str(tmp_path / f"out_{compression}.exr")
    write_frame(out, f, WriteOptions(compression=compression, provenance={"node": "util.convert"}))
    g = read_frame(out)
    assert g.data_window == (3, 4, 33, 21) and g.display_window == (0, 0, 50, 40)
    assert g.channels == ["R", "G", "B", "A"]
    assert g.attributes["shotName"] == "SH010" and g.attributes["cameraName"] == "A001"
    assert str(g.attributes["compression"]).startswith(compression if compression != "b44a" else "b44")
    assert read_provenance(out)["node"] == "util.convert"
    lossy = compression in ("b44", "b44a", "dwaa", "dwab", "pxr24")
    np.testing.assert_allclose(g.pixels, f.pixels, atol=0.05 * 6 if lossy else 0, rtol=0.05 if lossy else 0)


def test_write_float_and_half_and_mixed_types(tmp_path):
    f = Frame.from_array(np.random.default_rng(2).random((10, 12, 3)).astype(np.float32) * 4, ["R", "G", "B"])
    f.pixel_types = ["half", "half", "float"]
    write_frame(str(tmp_path / "keep.exr"), f)
    assert read_header(str(tmp_path / "keep.exr")).pixel_types == ["half", "half", "float"]
    write_frame(str(tmp_path / "float.exr"), f, WriteOptions(pixel_type="float"))
    np.testing.assert_array_equal(read_frame(str(tmp_path / "float.exr")).pixels, f.pixels)
    write_frame(str(tmp_path / "half.exr"), f, WriteOptions(pixel_type="half"))
    assert read_header(str(tmp_path / "half.exr")).pixel_types == ["half"] * 3


def test_new_channels_default_to_half_but_float_where_half_would_clip(tmp_path):
    pix = np.ones((4, 4, 2), np.float32)
    pix[0, 0, 1] = 1e6
    write_frame(str(tmp_path / "x.exr"), Frame.from_array(pix, ["Y", "Z"]))
    assert read_header(str(tmp_path / "x.exr")).pixel_types == ["half", "float"]
    assert read_frame(str(tmp_path / "x.exr")).pixels[0, 0, 1] == 1e6


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    out = tmp_path / "final.exr"
    out.write_bytes(b"previous version")
    f = Frame.from_array(np.zeros((4, 4, 3), np.float32))

    def explode(self, pixels):
        raise OSError("disk full")

    monkeypatch.setattr(oiio.ImageOutput, "write_image", explode)
    with pytest.raises(OSError):
        write_frame(str(out), f)
    assert out.read_bytes() == b"previous version"
    assert os.listdir(tmp_path) == ["final.exr"]  # no temporary left behind


def test_unknown_compression_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="unknown EXR compression 'lzw'"):
        write_frame(str(tmp_path / "x.exr"), Frame.from_array(np.zeros((2, 2, 3))), WriteOptions(compression="lzw"))


def test_written_exr_is_valid_for_the_openexr_library(tmp_path):
    f = Frame.from_array(plate(5, 16, 12))
    write_frame(str(tmp_path / "o.exr"), f, WriteOptions(compression="piz", provenance={"node": "x.y"}))
    with OpenEXR.File(str(tmp_path / "o.exr")) as exr:
        header = exr.header()
        assert header["filmai:node"] == "x.y"
        assert header["compression"] == OpenEXR.PIZ_COMPRESSION
