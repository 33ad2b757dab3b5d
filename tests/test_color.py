"""Colour: OCIO conversions, declared colourspaces, display transforms, the log working encoding."""
import json
import os
import subprocess
import sys

import numpy as np
import OpenEXR
import pytest

import filmai_plugins as fa
from filmai_plugins import color
from filmai_plugins.errors import BadInput
from filmai_plugins.frames import read_frame, read_header, read_provenance
from helpers import plate, write_exr


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


# ----- colour through the engine: tags in, tags out, OCIO's own conversions -------------------------


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "filmai_plugins", *args], capture_output=True, text=True)


def _aov_plate(folder, frames=(1001, 1002), tag=None):
    """RGBA + a normal AOV (N.R/G/B, data) + depth Z, half, optionally tagged with a colorInteropID."""
    for f in frames:
        rgba = plate(f, 24, 16)
        normal = np.random.default_rng(f).uniform(-1, 1, (16, 24, 3)).astype(np.float32)
        z = np.full((16, 24, 1), 7.5, np.float32)
        write_exr(os.path.join(folder, f"p.{f:04d}.exr"), np.concatenate([rgba, normal, z], axis=2),
                  ["R", "G", "B", "A", "N.R", "N.G", "N.B", "Z"], attributes={"colorInteropID": tag} if tag else None)
    return os.path.join(folder, "p.####.exr")


def _header_space(path):
    a = read_header(path).attributes
    return a.get("colorInteropID"), a.get("colorspace"), a.get("chromaticities")


def test_a_tagged_acescg_plate_keeps_its_tag(tmp_path):
    src = _aov_plate(str(tmp_path / "in"), tag="lin_ap1_scene")
    fa.run("util.convert", input=src, output=str(tmp_path / "o" / "c.####.exr"))
    interop, name, chroma = _header_space(str(tmp_path / "o" / "c.1001.exr"))
    assert (interop, name) == ("lin_ap1_scene", "ACEScg") and abs(chroma[0] - 0.713) < 1e-4


def test_output_colourspace_is_exactly_ocios_conversion_and_never_touches_data(tmp_path):
    src = _aov_plate(str(tmp_path / "in"), tag="lin_ap1_scene")
    m = fa.run("util.convert", input=src, output=str(tmp_path / "o" / "c.####.exr"),
               io={"output_colorspace": "lin_rec709_srgb", "pixel_type": "float"})
    got = read_frame(str(tmp_path / "o" / "c.1001.exr"))
    inp = read_frame(src.replace("####", "1001"))
    config = color.load_config(None)
    proc = config.getProcessor("ACEScg", "Linear Rec.709 (sRGB)").getDefaultCPUProcessor()
    expected = np.ascontiguousarray(inp.select(["R", "G", "B"]))
    proc.applyRGB(expected)
    assert np.abs(got.select(["R", "G", "B"]) - expected).max() < 1e-3
    for data in ("A", "N.R", "N.G", "N.B", "Z"):  # alpha, the normal AOV and depth pass through unconverted
        np.testing.assert_array_equal(got.select([data]), inp.select([data]))
    assert _header_space(str(tmp_path / "o" / "c.1001.exr"))[:2] == ("lin_rec709_scene", "Linear Rec.709 (sRGB)")
    assert m["io"]["output_colorspace"] == "lin_rec709_srgb"


def test_input_colourspace_tags_untagged_frames_and_wins_over_a_tag_with_a_warning(tmp_path):
    untagged = _aov_plate(str(tmp_path / "plain"))
    fa.run("util.convert", input=untagged, output=str(tmp_path / "a" / "c.####.exr"),
           io={"input_colorspace": "lin_rec709_srgb"})
    assert _header_space(str(tmp_path / "a" / "c.1001.exr"))[:2] == ("lin_rec709_scene", "Linear Rec.709 (sRGB)")
    # without a flag an untagged EXR is the config's scene_linear role (ACEScg in the built-in config)
    fa.run("util.convert", input=untagged, output=str(tmp_path / "b" / "c.####.exr"))
    assert _header_space(str(tmp_path / "b" / "c.1001.exr"))[1] == "ACEScg"
    tagged = _aov_plate(str(tmp_path / "tagged"), tag="lin_ap1_scene")
    r = _cli("run", "util.convert", "-i", tagged, "-o", str(tmp_path / "c" / "c.####.exr"),
             "--input-colorspace", "lin_rec709_srgb", "--progress", "none")
    assert r.returncode == 0, r.stderr
    assert "is tagged 'ACEScg' (colorInteropID) but --input-colorspace says 'Linear Rec.709 (sRGB)'" in r.stderr
    manifest = json.load(open(tmp_path / "c" / "c.1001-1002.manifest.json"))
    assert any("the flag wins" in w for w in manifest["warnings"])
    assert _header_space(str(tmp_path / "c" / "c.1001.exr"))[1] == "Linear Rec.709 (sRGB)"


def _studio_config(path):
    """A show's own config with a log space defined only there (as a studio's would be)."""
    import PyOpenColorIO as ocio

    cfg = ocio.Config.CreateRaw()
    lin = ocio.ColorSpace(ocio.REFERENCE_SPACE_SCENE, name="show_linear", encoding="scene-linear")
    log = ocio.ColorSpace(ocio.REFERENCE_SPACE_SCENE, name="show_log", encoding="log")
    curve = ocio.LogAffineTransform(logSideSlope=[0.07, 0.07, 0.07], logSideOffset=[0.45, 0.45, 0.45],
                                    linSideSlope=[1.0, 1.0, 1.0], linSideOffset=[0.005, 0.005, 0.005])
    curve.setBase(2.0)
    log.setTransform(curve, ocio.COLORSPACE_DIR_FROM_REFERENCE)
    cfg.addColorSpace(lin)
    cfg.addColorSpace(log)
    cfg.setRole("scene_linear", "show_linear")
    cfg.validate()
    with open(path, "w") as f:
        f.write(cfg.serialize())
    return path


def test_a_studio_config_converts_exactly_as_ocio_does_with_it(tmp_path):
    import PyOpenColorIO as ocio

    config_path = _studio_config(str(tmp_path / "show.ocio"))
    src = _aov_plate(str(tmp_path / "in"))
    r = _cli("run", "util.convert", "-i", src, "-o", str(tmp_path / "o" / "c.####.exr"), "--ocio-config", config_path,
             "--output-colorspace", "show_log", "--pixel-type", "float", "--progress", "none")
    assert r.returncode == 0, r.stderr
    cfg = ocio.Config.CreateFromFile(config_path)
    expected = np.ascontiguousarray(read_frame(src.replace("####", "1002")).select(["R", "G", "B"]))
    cfg.getProcessor("show_linear", "show_log").getDefaultCPUProcessor().applyRGB(expected)
    got = read_frame(str(tmp_path / "o" / "c.1002.exr"))
    assert np.abs(got.select(["R", "G", "B"]) - expected).max() < 1e-5
    assert read_header(str(tmp_path / "o" / "c.1002.exr")).attributes["colorspace"] == "show_log"
    assert json.loads(read_provenance(str(tmp_path / "o" / "c.1002.exr"))["ocioConfig"])["source"] == config_path


def test_a_config_without_interop_ids_still_tags_what_it_can_name(tmp_path):
    """Blender's bundled config and many studio configs give no interop ids: a colourspace that converts to
    ACES2065-1 exactly as one of the built-in config's does is tagged with that one's id and primaries; a
    show's own log space, matching none, is named only."""
    import PyOpenColorIO as ocio

    cfg = ocio.Config.CreateRaw()
    aces = ocio.ColorSpace(ocio.REFERENCE_SPACE_SCENE, name="ACES - ACES2065-1")
    cg = ocio.ColorSpace(ocio.REFERENCE_SPACE_SCENE, name="ACES - ACEScg")
    ap0_to_ap1 = [1.4514393161, -0.2365107469, -0.2149285693, 0.0, -0.0765537734, 1.1762296998, -0.0996759264, 0.0,
                  0.0083161484, -0.0060324498, 0.9977163014, 0.0, 0.0, 0.0, 0.0, 1.0]
    cg.setTransform(ocio.MatrixTransform(ap0_to_ap1), ocio.COLORSPACE_DIR_FROM_REFERENCE)
    log = ocio.ColorSpace(ocio.REFERENCE_SPACE_SCENE, name="show_log")
    log.setTransform(ocio.LogTransform(base=10.0), ocio.COLORSPACE_DIR_FROM_REFERENCE)
    for space in (aces, cg, log):
        cfg.addColorSpace(space)
    cfg.setRole("aces_interchange", "ACES - ACES2065-1")
    cfg.setRole("scene_linear", "ACES - ACEScg")
    cfg.validate()
    config_path = str(tmp_path / "show.ocio")
    with open(config_path, "w") as f:
        f.write(cfg.serialize())
    colour = color.ColourConfig.load(config_path)
    assert colour.interop_id("ACES - ACEScg") == "lin_ap1_scene" and colour.interop_id("show_log") is None
    src = _aov_plate(str(tmp_path / "in"))
    r = _cli("run", "util.convert", "-i", src, "-o", str(tmp_path / "o" / "c.####.exr"), "--ocio-config", config_path,
             "--progress", "none")
    assert r.returncode == 0, r.stderr
    interop, name, chroma = _header_space(str(tmp_path / "o" / "c.1001.exr"))
    assert (interop, name) == ("lin_ap1_scene", "ACES - ACEScg") and abs(chroma[0] - 0.713) < 1e-4
    # the next run in the same config reads that tag back as its ACEScg (the id names no space by itself)
    m = fa.run("util.convert", input=str(tmp_path / "o" / "c.####.exr"), output=str(tmp_path / "o2" / "c.####.exr"),
               io={"ocio_config": config_path})
    assert m["outputs"]["output"]["colorspace"] == "ACES - ACEScg" and not m["warnings"]


def test_the_runs_own_output_publishes_without_being_told_its_colourspace(tmp_path):
    from filmai_plugins.publish import publish

    src = _aov_plate(str(tmp_path / "in"))
    m = fa.run("util.convert", input=src, output=str(tmp_path / "o" / "plate.####.exr"))
    result = publish([m["manifest_path"]], root=str(tmp_path / "pub"), project="demo", shot="sh010", task="comp",
                     movie=False)
    assert result.ok, result.format()
    from filmai_plugins.publish import integrate

    record = integrate.read_record(result.instances[0].published["path"])
    assert record["colorspace"] == "ACEScg" and "--colorspace" not in record["colorspace_source"]


def test_output_in_a_studio_config_publishes_in_that_config(tmp_path):
    """Frames written in a show's own log space (known only to its config) publish without --colorspace: the
    validator checks names in the run's config (from its manifest), and the review media use it too."""
    from filmai_plugins.publish import integrate, publish

    config_path = _studio_config(str(tmp_path / "show.ocio"))
    src = _aov_plate(str(tmp_path / "in"))
    m = fa.run("util.convert", input=src, output=str(tmp_path / "o" / "plate.####.exr"),
               io={"ocio_config": config_path, "output_colorspace": "show_log"})
    result = publish([m["manifest_path"]], root=str(tmp_path / "pub"), project="demo", shot="sh010", task="comp",
                     movie=False)
    assert result.ok, result.format()
    record = integrate.read_record(result.instances[0].published["path"])
    assert record["colorspace"] == "show_log"
    assert record["ocio_config"]["source"] == config_path


def test_a_config_that_loads_but_does_not_validate_is_exit_2(tmp_path):
    import PyOpenColorIO as ocio

    cfg = ocio.Config.CreateRaw()
    cfg.setRole("scene_linear", "no_such_space")  # a role naming a colourspace the config lacks
    path = tmp_path / "broken.ocio"
    path.write_text(cfg.serialize())
    src = _aov_plate(str(tmp_path / "in"))
    r = _cli("run", "util.convert", "-i", src, "-o", str(tmp_path / "o" / "c.####.exr"), "--ocio-config", str(path))
    assert r.returncode == 2 and "does not validate" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")


@pytest.mark.parametrize("args,message", [
    (["--output-colorspace", "ACEScgg"], "unknown colourspace 'ACEScgg'"),
    (["--input-colorspace", "lin_rec709x"], "did you mean 'lin_rec709'"),
    (["--ocio-config", "/nonexistent/show.ocio"], "cannot load OCIO config /nonexistent/show.ocio"),
    (["--output-colorspace", "Raw"], "is a data colourspace"),
])
def test_colour_bad_input_exits_2_before_anything_is_written(tmp_path, args, message):
    src = _aov_plate(str(tmp_path / "in"))
    r = _cli("run", "util.convert", "-i", src, "-o", str(tmp_path / "o" / "c.####.exr"), *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")


def test_a_file_tagged_with_a_name_the_config_does_not_know_is_named(tmp_path):
    src = _aov_plate(str(tmp_path / "in"), tag="arri_logc4_camera_ours")
    r = _cli("run", "util.convert", "-i", src, "-o", str(tmp_path / "o" / "c.####.exr"))
    assert r.returncode == 2 and "p.1001.exr (frame 1001)" in r.stderr and "--ocio-config" in r.stderr


def test_convert_channels_touches_colour_layers_only():
    """ColourConfig.convert_channels: every colour layer's R, G, B is converted as OCIO does; alpha, a data
    layer (normals) and a single channel pass bit-exact; portable() names a space by its interop id."""
    colour = color.ColourConfig.load()
    channels = ["R", "G", "B", "A", "diffuse.R", "diffuse.G", "diffuse.B", "N.X", "N.Y", "N.Z", "Z"]
    rng = np.random.default_rng(3)
    px = rng.uniform(-0.1, 4.0, size=(5, 7, len(channels))).astype(np.float32)
    out = colour.convert_channels(px, channels, "ACEScg", "lin_rec709_srgb")
    ref = np.ascontiguousarray(px[..., :3]).copy()
    colour.config.getProcessor(colour.resolve("ACEScg"), colour.resolve("lin_rec709_srgb")) \
        .getDefaultCPUProcessor().applyRGB(ref)
    assert np.abs(out[..., :3] - ref).max() < 1e-6
    assert np.abs(out[..., 4:7] - colour.convert_rgb(px[..., 4:7], "ACEScg", "lin_rec709_srgb")).max() < 1e-6
    for i in (3, 7, 8, 9, 10):
        assert np.array_equal(out[..., i], px[..., i]), channels[i]
    back = colour.convert_channels(out, channels, "lin_rec709_srgb", "ACEScg")
    assert np.abs(back - px).max() < 1e-4
    assert colour.portable("ACEScg") == "lin_ap1_scene"


def test_colourspaces_command_lists_a_studio_configs_own_spaces(tmp_path):
    config_path = _studio_config(str(tmp_path / "show.ocio"))
    r = _cli("colourspaces", "--ocio-config", config_path, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert {"show_linear", "show_log"} <= {s["name"] for s in info["colorspaces"]}
    assert info["scene_linear"] == "show_linear" and info["config"]["source"] == config_path
    builtin = _cli("colorspaces")
    assert builtin.returncode == 0 and "ACEScg" in builtin.stdout and "lin_ap1_scene" in builtin.stdout
    assert "Raw" in builtin.stdout and "data" in builtin.stdout


def test_parts_of_data_only_are_tagged_as_data_not_colour(tmp_path):
    """A render's depth, vector and matte parts hold no colour: tagged as the config's data space (Raw), while
    the beauty part gets the colourspace; converting the beauty leaves the data parts' pixels bit for bit."""
    import OpenImageIO as oiio

    from test_frames import _write_parts

    rng = np.random.default_rng(2)
    parts = [("beauty", rng.uniform(0, 4, (48, 64, 4)).astype(np.float32), ["R", "G", "B", "A"], "half", (0, 0), {}),
             ("depth", rng.uniform(1, 90, (48, 64, 1)).astype(np.float32), ["Z"], "float", (0, 0), {}),
             ("vectors", rng.normal(0, 3, (48, 64, 2)).astype(np.float32), ["forward.u", "forward.v"], "half",
              (0, 0), {})]
    os.makedirs(tmp_path / "in")
    _write_parts(str(tmp_path / "in" / "r.1001.exr"), parts)
    fa.run("util.convert", input=str(tmp_path / "in" / "r.####.exr"), output=str(tmp_path / "o" / "r.####.exr"),
           io={"input_colorspace": "ACEScg", "output_colorspace": "lin_rec709_srgb"})
    inp = oiio.ImageInput.open(str(tmp_path / "o" / "r.1001.exr"))
    tags = []
    i = 0
    while inp.seek_subimage(i, 0):
        s = inp.spec()
        tags.append((s.getattribute("name"), s.getattribute("colorInteropID"), s.getattribute("colorspace")))
        if i:
            assert np.array_equal(inp.read_image(i, 0, 0, s.nchannels, "float"),
                                  np.asarray(parts[i][1]).astype(np.float16 if parts[i][3] == "half" else np.float32)
                                  .astype(np.float32)), s.getattribute("name")
        i += 1
    inp.close()
    assert tags == [("beauty", "lin_rec709_scene", "Linear Rec.709 (sRGB)"), ("depth", "data", "Raw"),
                    ("vectors", "data", "Raw")]


def test_an_8bit_image_under_a_config_without_srgb_needs_input_colorspace(tmp_path):
    """A PNG (sRGB by its format) under a studio config with no sRGB space: exit 2 naming the file, the frame
    and --input-colorspace; with it, the frames are taken as that space and tagged so."""
    import OpenImageIO as oiio

    config = _studio_config(str(tmp_path / "show.ocio"))
    os.makedirs(tmp_path / "in")
    px = (np.random.default_rng(0).uniform(0, 255, (8, 12, 3))).astype(np.uint8)
    out = oiio.ImageOutput.create(str(tmp_path / "in" / "p.0001.png"))
    assert out.open(str(tmp_path / "in" / "p.0001.png"), oiio.ImageSpec(12, 8, 3, "uint8"))
    assert out.write_image(px) and out.close()
    args = ["run", "util.convert", "-i", str(tmp_path / "in" / "p.####.png"), "-o", str(tmp_path / "o" / "p.####.exr"),
            "--ocio-config", config]
    r = _cli(*args)
    assert r.returncode == 2 and "sRGB" in r.stderr and "--input-colorspace" in r.stderr and "p.0001.png" in r.stderr, r.stderr
    r = _cli(*args, "--input-colorspace", "show_log")
    assert r.returncode == 0, r.stderr
    assert read_header(str(tmp_path / "o" / "p.0001.exr")).attributes["colorspace"] == "show_log"
