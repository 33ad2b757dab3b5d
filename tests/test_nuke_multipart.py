"""A multi-part EXR plate (numbered 1001-1004) through the Nuke adapter, against the labelled stand-in
(tests/nuke_standin/nuke.py), whose Read merges every part as Nuke's exrReader does.

The fixture is the shape a real shot has: parts "rgba" (R, G, B, A), "diffuse" (R, G, B) and "depth" (Z), 64x48,
float, written with OpenImageIO. Nuke names them rgba.red … , diffuse.red … , depth.Z (the part name becomes
the layer; see /work/shared/notes/nuke.md, "Multi-part EXR"). Each result is compared with the headless
``filmai run`` on the plate itself, reading the part the adapter's channel choice maps to.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import OpenImageIO as oiio
import pytest

# test_nuke's stand-in session fixtures (session, cache_dir) are imported to be found by pytest, so each test's
# `session` argument re-uses the name (noqa: F811)
from test_nuke import cache_dir, new_group, read_node, session, wait_gui  # noqa: F401
import nuke  # noqa: E402  (the stand-in, put on sys.path by test_nuke)

FRAMES = range(1001, 1005)
W, H = 64, 48
PARTS = (("rgba", ("R", "G", "B", "A")), ("diffuse", ("R", "G", "B")), ("depth", ("Z",)))


def part_pixels(frame: int, part: int, nchannels: int) -> np.ndarray:
    """Distinct values per frame, part and channel, so any mix-up of layers or frames shows."""
    rng = np.random.default_rng(frame * 10 + part)
    return rng.uniform(0.0, 2.0, (H, W, nchannels)).astype(np.float32)


def write_multipart(path: str, frame: int, windows=None) -> None:
    """One multi-part EXR: a part per PARTS entry, each named, float, sharing the display window; ``windows``
    gives each part its own data window (x, y, w, h)."""
    specs = []
    for i, (name, chans) in enumerate(PARTS):
        x, y, w, h = windows[i] if windows else (0, 0, W, H)
        spec = oiio.ImageSpec(w, h, len(chans), "float")
        spec.x, spec.y = x, y
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, W, H
        spec.channelnames = chans
        spec.attribute("name", name)
        spec.attribute("compression", "zip")
        specs.append(spec)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, specs), out.geterror()
    for i, (name, chans) in enumerate(PARTS):
        if i:
            assert out.open(path, specs[i], "AppendSubimage"), out.geterror()
        x, y, w, h = windows[i] if windows else (0, 0, W, H)
        assert out.write_image(part_pixels(frame, i, len(chans))[y:y + h, x:x + w]), out.geterror()
    out.close()


@pytest.fixture(autouse=True)
def forget_node_list():
    """The adapter keeps the worker's node list in memory for the session; tests/test_nuke.py starts from a
    Nuke that has not asked yet, so this module leaves none behind."""
    yield
    adapter = sys.modules.get("filmai_nuke.adapter")
    if adapter is not None:
        adapter._schema = None


@pytest.fixture
def plate(tmp_path):
    folder = tmp_path / "plates"
    folder.mkdir()
    for f in FRAMES:
        write_multipart(str(folder / f"shot.{f}.exr"), f)
    return str(folder / "shot.####.exr")


def headless(node_id, src, out, frames, part, **params):
    from filmai_plugins import run

    return run(node_id, input=src, output=out, frames=frames, io={"part": part}, **params)


def part_of(path: str, part: str):
    """(pixels, channel names) of one part of an EXR file."""
    inp = oiio.ImageInput.open(path)
    index = 0
    while inp.seek_subimage(index, 0):
        if inp.spec().getattribute("name") == part or index == 0 and part == "":
            spec = inp.spec()
            data = np.asarray(inp.read_image(index, 0, 0, spec.nchannels, "float")).reshape(spec.height, spec.width, -1)
            inp.close()
            return data, list(spec.channelnames)
        index += 1
    inp.close()
    raise AssertionError(f"no part {part!r} in {path}")


def channels_of(path: str, names):
    buf = oiio.ImageBuf(path)
    have = list(buf.spec().channelnames)
    return np.asarray(buf.get_pixels(oiio.FLOAT))[..., [have.index(n) for n in names]]


def test_the_read_gives_every_part_as_nuke_channels(session, plate):  # noqa: F811
    session(gui=False, worker_process=False)
    read = read_node(plate, 1001, 1004)
    assert read.channels() == ["rgba.red", "rgba.green", "rgba.blue", "rgba.alpha", "depth.Z",
                               "diffuse.red", "diffuse.green", "diffuse.blue"]
    read["raw"].setValue(True)
    out, names = nuke._render(read, 1002)
    for i, (part, chans) in enumerate(PARTS):
        want = part_pixels(1002, i, len(chans))
        for j, c in enumerate(chans):
            nuke_name = {"rgba": "rgba.", "diffuse": "diffuse.", "depth": "depth."}[part] + \
                {"R": "red", "G": "green", "B": "blue", "A": "alpha"}.get(c, c)
            np.testing.assert_array_equal(out[..., names.index(nuke_name)], want[..., j], err_msg=nuke_name)
    # the layers the Read found are known to channel knobs from now on, as in Nuke
    knob = nuke.ChannelMask_Knob("pick")
    knob.setValue("diffuse")
    assert knob.value() == "diffuse"


def test_rgba_through_the_adapter_equals_headless_on_the_first_part(session, plate, tmp_path):  # noqa: F811
    """util.temporal_median (window 3) on rgba only: the temporary Write stages rgba, the job runs, the
    result Read comes back, and the pixels equal the headless run on the plate's rgba part, bit for bit."""
    filmai_nuke = session(gui=True, worker_process=True)
    group = new_group(filmai_nuke, "util.temporal_median", read_node(plate, 1001, 1004), tmp_path / "out")
    group["p_window"].setValue(3)  # "window" is a knob every Nuke node has
    group["channels"].setValue("rgba")
    group["frames"].setValue("1001-1004")
    group["process"].execute()
    wait_gui(group)
    job = json.loads(group["filmai_job"].value())["run"]
    assert job["status"] == "done", group["status"].value()
    assert job["spec"]["params"]["channels"] == "R,G,B,A"
    staged = job["spec"]["inputs"]["input"].replace("####", "1002")
    assert oiio.ImageInput.open(staged).spec().channelnames == ("R", "G", "B", "A")
    ref = str(tmp_path / "ref" / "ref.####.exr")
    headless("util.temporal_median", plate, ref, "1001-1004", part="rgba", window=3, channels="R,G,B,A")
    for f in FRAMES:
        got = channels_of(job["spec"]["outputs"]["output"].replace("####", str(f)), ["R", "G", "B", "A"])
        want, names = part_of(ref.replace("####", str(f)), "rgba")
        np.testing.assert_array_equal(got, want[..., [names.index(c) for c in "RGBA"]], err_msg=f"frame {f}")
    group.begin()
    result = nuke.toNode("result")
    group.end()
    out, names = nuke._render(group, 1003)  # the group shows the result, Read back in Nuke's names
    assert names[:4] == ["rgba.red", "rgba.green", "rgba.blue", "rgba.alpha"] and result is not None


def test_a_layer_picked_in_the_channels_knob_stages_that_layer_and_equals_headless(session, plate, tmp_path):  # noqa: F811
    """util.convert with its channels knob on the diffuse layer: the staged EXR holds the diffuse channels under
    the names Nuke's Write gives them (diffuse.red …), the node is told those names, and the result holds the
    diffuse part's pixels, equal to the headless run on the plate's diffuse part."""
    filmai_nuke = session(gui=True, worker_process=True)
    read = read_node(plate, 1001, 1004)
    read.channels()  # the Read has opened its file (as Nuke does on creation): its layers are known to knobs
    group = new_group(filmai_nuke, "util.convert", read, tmp_path / "out")
    group["channels"].setValue("diffuse")
    group["frames"].setValue("1001-1004")
    group["process"].execute()
    wait_gui(group)
    job = json.loads(group["filmai_job"].value())["run"]
    assert job["status"] == "done", group["status"].value()
    names = ["diffuse.red", "diffuse.green", "diffuse.blue"]
    assert job["spec"]["params"]["channels"] == ",".join(names)
    staged = job["spec"]["inputs"]["input"].replace("####", "1001")
    assert list(oiio.ImageInput.open(staged).spec().channelnames) == names
    ref = str(tmp_path / "ref" / "ref.####.exr")
    headless("util.convert", plate, ref, "1001-1004", part="diffuse")
    for f in FRAMES:
        got = channels_of(job["spec"]["outputs"]["output"].replace("####", str(f)), names)
        want, have = part_of(ref.replace("####", str(f)), "diffuse")
        np.testing.assert_array_equal(got, want[..., [have.index(c) for c in "RGB"]], err_msg=f"frame {f}")
        np.testing.assert_array_equal(got, part_pixels(f, 1, 3))
    out, shown = nuke._render(group, 1004)  # the result Read gives the layer back under its Nuke names
    assert shown == names


def test_all_channels_stage_every_layer_as_nuke_names_them(session, plate, tmp_path):  # noqa: F811
    """channels "all" (util.convert's default): every layer is staged in one EXR under Nuke's written names
    (R, G, B, A, depth.Z, diffuse.red …) and comes back unchanged."""
    filmai_nuke = session(gui=False, worker_process=False)
    group = new_group(filmai_nuke, "util.convert", read_node(plate, 1001, 1004), tmp_path / "out")
    group["frames"].setValue("1001-1002")
    job = filmai_nuke.process(group)
    assert job.state == "done", job.summary()
    staged = job.spec.inputs["input"].replace("####", "1001")
    assert list(oiio.ImageInput.open(staged).spec().channelnames) == \
        ["R", "G", "B", "A", "depth.Z", "diffuse.red", "diffuse.green", "diffuse.blue"]
    out = job.spec.outputs["output"].replace("####", "1002")
    np.testing.assert_array_equal(channels_of(out, ["depth.Z"])[..., 0], part_pixels(1002, 2, 1)[..., 0])


def test_parts_with_different_data_windows_are_one_clear_error(session, tmp_path):  # noqa: F811
    """Nuke's Read refuses a multi-part file whose parts have different data windows (one bbox per Read):
    Process stops with one error naming the file and the frame, and leaves no staged frames behind."""
    filmai_nuke = session(gui=False, worker_process=False)
    folder = tmp_path / "plates"
    folder.mkdir()
    for f in FRAMES:
        windows = [(0, 0, W, H), (8, 4, 40, 30) if f == 1003 else (0, 0, W, H), (0, 0, W, H)]
        write_multipart(str(folder / f"shot.{f}.exr"), f, windows)
    group = new_group(filmai_nuke, "util.convert", read_node(str(folder / "shot.####.exr"), 1001, 1004),
                      tmp_path / "out")
    group["frames"].setValue("1001-1004")
    with pytest.raises(filmai_nuke.JobFailed) as err:
        filmai_nuke.process(group)
    message = str(err.value)
    assert "shot.1003.exr" in message and "1003" in message and "data window" in message
    assert not list((tmp_path / "out").rglob("*.exr"))


def test_channel_names_map_as_nukes_read_and_write_name_them(session, plate):  # noqa: F811
    filmai_nuke = session(gui=False, worker_process=False)
    adapter = filmai_nuke.adapter
    read = read_node(plate, 1001, 1004)
    # knob value → the names in the staged EXR (exrWriter: rgba as R, G, B, A; other layers by full Nuke name)
    assert adapter.channels_from_nuke("rgba.red diffuse.green depth.Z") == "R,diffuse.green,depth.Z"
    assert adapter.channels_from_nuke("diffuse", read) == "diffuse.red,diffuse.green,diffuse.blue"
    with pytest.raises(ValueError, match="no such layer upstream"):
        adapter.channels_from_nuke("specular", read)
    # an engine default → the knob, as Nuke's Read names an EXR's channels (diffuse.R → diffuse.red)
    assert adapter.channels_to_nuke("diffuse.R,diffuse.G") == "diffuse.red diffuse.green"
    # and the engine treats a Nuke-written AOV's red/green/blue as a colour layer (converted with R, G, B)
    from filmai_plugins.color import colour_triplets

    assert colour_triplets(["R", "G", "B", "A", "diffuse.red", "diffuse.green", "diffuse.blue", "depth.Z"]) == \
        [(0, 1, 2), (4, 5, 6)]


def test_channels_out_names_the_ground_truths_layers(session, plate, tmp_path):  # noqa: F811
    """cnn.copycat's channels_out are the target's channels: a layer only the GroundTruth has (the
    multi-part plate's diffuse) expands from the GroundTruth's channels, not the plate's (plain RGBA)."""
    from helpers import write_exr

    filmai_nuke = session(gui=False, worker_process=False)
    for f in FRAMES:
        write_exr(str(tmp_path / "rgba" / f"rgba.{f}.exr"), part_pixels(f, 0, 4))
    group = new_group(filmai_nuke, "cnn.copycat", read_node(str(tmp_path / "rgba" / "rgba.####.exr"), 1001, 1004))
    truth = read_node(plate, 1001, 1004)
    truth.channels()  # Nuke knows a Read's layers once it has read the file
    assert group.setInput(1, truth)  # GroundTruth
    schema = next(p for p in filmai_nuke.adapter.node_schema(group)["params"] if p["name"] == "channels_out")
    group["channels_out"].setValue("diffuse")
    assert filmai_nuke.adapter.knob_value(group["channels_out"], schema) == "diffuse.red,diffuse.green,diffuse.blue"
