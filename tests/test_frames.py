"""Sequence patterns, frame specs, and EXR/image reading and writing with the real OpenImageIO/OpenEXR."""
import os

import numpy as np
import OpenEXR
import OpenImageIO as oiio
import pytest

from filmai_plugins.errors import BadInput, FrameError
from filmai_plugins.frames import (COMPRESSIONS, Frame, SequencePattern, WriteOptions, format_frames, parse_frames,
                                   read_frame, read_header, read_provenance, write_frame)
from helpers import plate, without_added_colour_tags, write_exr, write_sequence


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


# ----- native pixel types, channel-safe outputs, whole multi-part files (issues 19.3 and 20) ----------

def _write_parts(path, parts, compression="piz"):
    """A multi-part EXR: parts = [(name, pixels (H, W, C), channel names, pixel type or per-channel types,
    data window origin, attributes)], all on one 64x48 display window."""
    specs = []
    for name, px, chans, ptype, origin, attrs in parts:
        h, w, c = px.shape
        types = [ptype] * c if isinstance(ptype, str) else list(ptype)
        spec = oiio.ImageSpec(w, h, c, "float" if len(set(types)) > 1 else types[0])
        if len(set(types)) > 1:
            spec.channelformats = tuple(oiio.TypeDesc(t) for t in types)
        spec.x, spec.y = origin
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 64, 48
        spec.channelnames = tuple(chans)
        spec.attribute("name", name)
        spec.attribute("compression", compression)
        for k, v in attrs.items():
            spec.attribute(k, v)
        specs.append(spec)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, specs), out.geterror()
    for i, (spec, (_, px, *_rest)) in enumerate(zip(specs, parts)):
        if i:
            assert out.open(path, spec, "AppendSubimage"), out.geterror()
        assert out.write_image(np.ascontiguousarray(px)), out.geterror()
    assert out.close()
    return path


def _ten_parts(seed=0):
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(10):
        c = 1 + i % 4
        h, w = 20 + i, 30 - i
        px = (rng.standard_normal((h, w, c)) * 50).astype(np.float32)
        px[0, 0, 0] = np.nan if i == 3 else px[0, 0, 0]  # a NaN passes through a converter bit for bit
        ptype = "float" if i % 3 == 0 else ("half" if i % 3 == 1 else ["half"] * (c - 1) + ["float"])
        if ptype == ["float"]:
            ptype = "float"
        chans = [f"layer{i}.{n}" for n in "RGBA"[:c]] if i else list("RGBA"[:c])
        parts.append((f"part{i:02d}", px, chans, ptype, (i, 2 * i), {"shotName": f"SH{i:03d}", "note": "x" * i}))
    return parts


def _raw_parts(path):
    """(name, channels, per-channel types, data window, display window, attributes, raw pixel bytes) per part,
    read straight with OpenImageIO in the file's own types (the reference the engine must match)."""
    inp = oiio.ImageInput.open(path)
    out = []
    i = 0
    while inp.seek_subimage(i, 0):
        s = inp.spec()
        types = [str(t) for t in (s.channelformats or [s.format] * s.nchannels)]
        attrs = {a.name: a.value for a in s.extra_attribs
                 if not a.name.startswith("filmai:") and a.name not in ("oiio:subimages", "openexr:chunkCount")}
        px = inp.read_image(i, 0, 0, s.nchannels, "unknown")
        out.append((s.getattribute("name"), list(s.channelnames), types, (s.x, s.y, s.width, s.height),
                    (s.full_x, s.full_y, s.full_width, s.full_height), attrs, px.tobytes(), px.dtype))
        i += 1
    inp.close()
    return out


def test_half_stays_half_in_memory_and_floats_are_made_on_demand(tmp_path):
    img = plate(1, 40, 30)
    f = read_frame(write_exr(str(tmp_path / "h.exr"), img, pixel_type="half"))
    assert f.native().dtype == np.float16 and f.plane("G").dtype == np.float16
    rgb = f.select(["R", "G", "B"])
    assert rgb.dtype == np.float32 and rgb.shape == (30, 40, 3)
    np.testing.assert_array_equal(rgb, img[:, :, :3].astype(np.float16).astype(np.float32))
    assert f.pixels.dtype == np.float32 and not f.pixels.flags.writeable
    png = str(tmp_path / "p.png")
    assert oiio.ImageBuf(np.clip(img[:, :, :3], 0, 1)).write(png, "uint8")
    p = read_frame(png)
    assert p.native().dtype == np.uint8 and p.pixel_types == ["uint8"] * 3
    inp = oiio.ImageInput.open(png)  # normalised exactly as OpenImageIO reads it as float
    np.testing.assert_array_equal(p.select(["G"])[:, :, 0], inp.read_image(0, 0, 1, 2, "float")[:, :, 0])
    inp.close()


def test_untouched_channels_are_written_bit_for_bit(tmp_path):
    """A 20-channel half frame and a frame mixing half and float: converted, every value comes back exactly."""
    rng = np.random.default_rng(3)
    aovs = (rng.standard_normal((24, 32, 20)) * 100).astype(np.float32)
    aovs[2, 3, 5] = np.inf
    names = ["R", "G", "B", "A", "Z"] + [f"aov{i // 3}.{'XYZ'[i % 3]}" for i in range(15)]
    src = write_exr(str(tmp_path / "many.exr"), aovs, names, pixel_type="half", compression="piz",
                    data_window=(5, 6), display_window=(0, 0, 64, 48), attributes={"shotName": "SH010"})
    mixed = _write_parts(str(tmp_path / "mixed.exr"),
                         [("rgbaz", aovs[:, :, :5], ["R", "G", "B", "A", "Z"], ["half"] * 4 + ["float"], (1, 2), {})])
    for path in (src, mixed):
        out = str(tmp_path / ("o_" + os.path.basename(path)))
        write_frame(out, read_frame(path), WriteOptions(provenance={"node": "util.convert"}))
        assert _raw_parts(out) == _raw_parts(path)


def test_with_channels_replaces_some_and_keeps_the_rest(tmp_path):
    rng = np.random.default_rng(4)
    px = rng.random((16, 20, 6)).astype(np.float32)
    names = ["R", "G", "B", "A", "Z", "id"]
    path = _write_parts(str(tmp_path / "in.exr"), [("beauty", px, names, ["half"] * 4 + ["float", "half"], (3, 4),
                                                    {"shotName": "SH020"}),
                                                   ("depth", px[:, :, 4:5] * 10, ["Z"], "float", (3, 4), {})])
    f = read_frame(path)
    rgb = f.select(["R", "G", "B"]) * 2.0
    rgb[0, 0, 0] = 1e6  # beyond half: that channel must be written as float
    g = f.with_channels(["R", "G", "B"], rgb)
    h = g.with_channels({"matte": np.ones((16, 20), np.float32)}, pixel_types={"matte": "float"})
    assert h.channels == names + ["matte"] and h.data_window == f.data_window == (3, 4, 20, 16)
    assert h.attributes["shotName"] == "SH020" and [p.part for p in h.parts] == ["beauty", "depth"]
    assert f.channels == names  # the input frame is not changed
    for c in ("A", "Z", "id"):
        assert h.plane(c) is not None and np.shares_memory(h.plane(c), f.plane(c))  # untouched: not even copied
    out = str(tmp_path / "out.exr")
    write_frame(out, h)
    back = read_frame(out)
    assert back.pixel_types == ["float", "half", "half", "half", "float", "half", "float"]
    np.testing.assert_array_equal(back.select(["R", "G", "B"])[:, :, 1:], rgb[:, :, 1:].astype(np.float16))
    assert back.select(["R"])[0, 0, 0] == 1e6
    src_raw, out_raw = _raw_parts(path), _raw_parts(out)
    assert out_raw[1] == src_raw[1]  # the other part, bit for bit
    for c in ("A", "Z", "id"):
        np.testing.assert_array_equal(back.plane(c).astype(np.float32), f.plane(c).astype(np.float32))
    with pytest.raises(ValueError, match="with_pixels"):
        f.with_channels({"R": np.zeros((8, 8), np.float32)})


def test_a_ten_part_file_converted_whole_comes_back_bit_identical(tmp_path):
    path = _write_parts(str(tmp_path / "mp.0001.exr"), _ten_parts())
    out = str(tmp_path / "o.####.exr")
    fa_run("util.convert", input=str(tmp_path / "mp.####.exr"), output=out, frames="1")
    src, got = _raw_parts(path), _raw_parts(out.replace("####", "0001"))
    assert len(got) == 10 and [p[0] for p in got] == [f"part{i:02d}" for i in range(10)]
    got = [g[:5] + (without_added_colour_tags(g[5], s[5]),) + g[6:] for g, s in zip(got, src)]
    assert got == src
    prov = read_provenance(out.replace("####", "0001"))
    assert prov["node"] == "util.convert"
    # --part still selects one part
    fa_run("util.convert", input=str(tmp_path / "mp.####.exr"), output=str(tmp_path / "p.####.exr"), frames="1",
           io={"part": "part04"})
    one = _raw_parts(str(tmp_path / "p.0001.exr"))
    one = [one[0][:5] + (without_added_colour_tags(one[0][5], src[4][5]),) + one[0][6:]]
    assert len(one) == 1 and one[0][1:] == src[4][1:]


def test_channel_selection_and_windows_apply_to_every_part(tmp_path):
    _write_parts(str(tmp_path / "mp.0001.exr"), _ten_parts())
    pattern = str(tmp_path / "mp.####.exr")
    fa_run("util.convert", input=pattern, output=str(tmp_path / "c.####.exr"), frames="1",
           channels="R,layer5.R,layer3.A")
    got = _raw_parts(str(tmp_path / "c.0001.exr"))
    assert [(p[0], p[1]) for p in got] == [("part00", ["R"]), ("part03", ["layer3.A"]), ("part05", ["layer5.R"])]
    picked = read_frame(str(tmp_path / "c.0001.exr"), part="part05").plane("layer5.R")
    source = read_frame(str(tmp_path / "mp.0001.exr"), part="part05").plane("layer5.R")
    assert picked.dtype == np.float16 and source.dtype == np.float32  # a half channel of a half+float part
    np.testing.assert_array_equal(picked.astype(np.float32), source)
    fa_run("util.convert", input=pattern, output=str(tmp_path / "d.####.exr"), frames="1",
           data_window="display")
    assert all(p[3] == (0, 0, 64, 48) for p in _raw_parts(str(tmp_path / "d.0001.exr")))
    with pytest.raises(FrameError, match=r"mp.0001.exr \(frame 1\): no channel 'nope' in any part"):
        fa_run("util.convert", input=pattern, output=str(tmp_path / "e.####.exr"), frames="1",
               channels="R,nope")


def test_multipart_bad_input_is_a_clear_error(tmp_path):
    _write_parts(str(tmp_path / "mp.0001.exr"), _ten_parts()[:2])
    pattern = str(tmp_path / "mp.####.exr")
    with pytest.raises(FrameError, match=r"mp.0001.exr \(frame 1\): no part named 'nope' \(parts: part00, part01\)"):
        fa_run("util.convert", input=pattern, output=str(tmp_path / "o.####.exr"), frames="1", io={"part": "nope"})
    # two parts cannot be one PNG: an error naming both, not a silently dropped part
    with pytest.raises(FrameError, match=r"2 parts \(part00, part01\) but a .png file holds one"):
        fa_run("util.convert", input=pattern, output=str(tmp_path / "o.####.png"), frames="1")
    assert not [n for n in os.listdir(tmp_path) if n.startswith(("o.", ".o.")) and not n.endswith(".manifest.json")]
    a = Frame.from_array(np.zeros((4, 4, 3), np.float32), part="beauty")
    b = Frame.from_array(np.zeros((4, 4, 1), np.float32), ["Z"], part="beauty")
    a.other_parts = [b]
    with pytest.raises(FrameError, match="parts 0 and 1 are both named 'beauty'"):
        write_frame(str(tmp_path / "clash.exr"), a)
    b.part = "depth"
    b.display_window = (0, 0, 8, 8)
    with pytest.raises(FrameError, match=r"parts differ in display window: 'beauty' 4x4 but 'depth' 8x8"):
        write_frame(str(tmp_path / "disp.exr"), a)
    # a multi-page TIFF whose pages differ in size cannot be carried whole either
    tif = str(tmp_path / "pages.tif")
    out = oiio.ImageOutput.create(tif)
    specs = (oiio.ImageSpec(8, 8, 3, "uint8"), oiio.ImageSpec(4, 4, 3, "uint8"))
    assert out.open(tif, specs)
    assert out.write_image(np.zeros((8, 8, 3), np.uint8))
    assert out.open(tif, specs[1], "AppendSubimage") and out.write_image(np.zeros((4, 4, 3), np.uint8))
    out.close()
    with pytest.raises(FrameError, match=r"pages.tif \(frame 7\): parts differ in display window.*--part"):
        read_frame(tif, frame=7)
    assert read_frame(tif, part=1).shape == (4, 4, 3)


def test_png_uint8_to_exr_is_half_exactly(tmp_path):
    img = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    png = str(tmp_path / "ramp.0001.png")
    assert oiio.ImageBuf(img).write(png, "uint8")
    fa_run("util.convert", input=str(tmp_path / "ramp.####.png"), output=str(tmp_path / "r.####.exr"), frames="1")
    h = read_header(str(tmp_path / "r.0001.exr"))
    assert h.pixel_types == ["half"] * 3  # documented: 8-bit values fit half exactly
    back = np.round(read_frame(str(tmp_path / "r.0001.exr")).select(["R"])[:, :, 0] * 255)
    np.testing.assert_array_equal(back, img[:, :, 0])


def test_port_channels_are_checked_and_selected(tmp_path, monkeypatch):
    from filmai_plugins.app import set_default_app

    monkeypatch.setenv("FILMAI_PLUGIN_MODULES", "registry_packs.good,registry_packs.channel_pack")
    set_default_app(None)
    names = ["R", "G", "B", "A", "diffuse.R"]
    px = plate(1, 24, 16, 4)
    px = np.concatenate([px, px[:, :, :1]], axis=2)
    px[1, 1, 4] = np.nan  # in a channel the node never reads: no error, passes through
    write_exr(str(tmp_path / "in.0001.exr"), px, names, pixel_type="half")
    fa_run("studio.exposure", input=str(tmp_path / "in.####.exr"), output=str(tmp_path / "o.####.exr"),
           frames="1", stops=1.0)
    out, src = read_frame(str(tmp_path / "o.0001.exr")), read_frame(str(tmp_path / "in.0001.exr"))
    assert out.channels == names and out.pixel_types == ["half"] * 5  # alpha and the AOV kept, half stays half
    np.testing.assert_array_equal(out.select(["R", "G", "B"]), (src.select(["R", "G", "B"]) * 2).astype(np.float16))
    assert np.array_equal(out.plane("A"), src.plane("A")) and np.isnan(out.plane("diffuse.R")[1, 1])
    write_exr(str(tmp_path / "rg.0001.exr"), px[:, :, :2], ["R", "G"])
    with pytest.raises(FrameError, match=r"rg.0001.exr \(frame 1\): node studio.exposure needs channels R, G and B: "
                                         r"missing B"):
        fa_run("studio.exposure", input=str(tmp_path / "rg.####.exr"), output=str(tmp_path / "x.####.exr"), frames="1")
    px[2, 2, 1] = np.nan
    write_exr(str(tmp_path / "nan.0001.exr"), px, names)
    with pytest.raises(FrameError, match=r"nan.0001.exr \(frame 1\): 1 NaN/Inf pixel values in channels R, G, B"):
        fa_run("test.strict_rgb", input=str(tmp_path / "nan.####.exr"), output=str(tmp_path / "s.####.exr"), frames="1")
    fa_run("test.strict_rgb", input=str(tmp_path / "nan.####.exr"), output=str(tmp_path / "s.####.exr"), frames="1",
           io={"nonfinite": "zero"})
    s = read_frame(str(tmp_path / "s.0001.exr"))
    assert s.select(["G"])[2, 2, 0] == 0 and np.isnan(s.plane("diffuse.R")[1, 1])
    assert np.isnan(s.plane("diffuse.R")).sum() == 1 and s.channels == names  # unread channels untouched


def fa_run(*args, **kw):
    import filmai_plugins as fa

    return fa.run(*args, **kw)


def test_prepared_channels_are_handed_over_once_and_checked():
    px = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4).astype(np.float16)
    f = Frame.from_array(px, ["R", "G", "B", "A"])
    f.prepare(["R", "G"])
    first = f.select(["R", "G"])
    np.testing.assert_array_equal(first, px[:, :, :2].astype(np.float32))
    first[:] = -1  # the caller owns what select() returns: a later select() converts afresh
    np.testing.assert_array_equal(f.select(["R", "G"]), px[:, :, :2].astype(np.float32))
    bad = px.copy()
    bad[1, 1, 2] = np.inf
    g = Frame.from_array(bad, ["R", "G", "B", "A"], path="x.exr", number=3)
    g.nonfinite = "error"
    with pytest.raises(FrameError, match=r"x.exr \(frame 3\): 1 NaN/Inf pixel values in channels R, G, B"):
        g.prepare(["R", "G", "B"])
    g.prepare(["R", "G"])  # the Inf is in B: R and G are fine
    g.nonfinite = "zero"
    assert g.select(["B"])[1, 1, 0] == 0 and np.isinf(g.plane("B")[1, 1])  # the frame itself is untouched
