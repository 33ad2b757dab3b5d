"""The Nuke plug-in folder (hosts/nuke), run against tests/nuke_standin/nuke.py — a STAND-IN for Nuke's
``nuke`` module implementing exactly the API the adapter uses (Nuke itself cannot be installed here).

Startup is Nuke's: the folder goes on sys.path, init.py runs (every session), menu.py runs in GUI
sessions. Pixels and jobs are real: Reads read EXR fixtures, Process renders them through a temporary
Write to EXR, the worker (a separate Python process, as in a real Nuke, or in process) runs the node,
and the internal Read shows the results. The adapter has no stand-in branches.
"""
from __future__ import annotations

import glob
import json
import os
import shlex
import sys
import threading
import time

import numpy as np
import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
PLUGIN = os.path.join(REPO, "hosts", "nuke")
PACKS = "test_worker,registry_packs.cancel_pack,mystudio_filmai.pack"
sys.path.insert(0, os.path.join(TESTS, "nuke_standin"))
import nuke  # noqa: E402  (the stand-in)

from helpers import plate, write_exr, write_sequence  # noqa: E402


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("nuke_cache"))


@pytest.fixture
def session(tmp_path, monkeypatch, cache_dir):
    """A GUI Nuke session whose nodes run in a worker process (Nuke's Python has no filmai-plugins)."""

    def start(gui=True, worker_process=True):
        monkeypatch.setenv("FILMAI_NUKE_CACHE", cache_dir)
        monkeypatch.setenv("FILMAI_PLUGIN_MODULES", PACKS)  # for in-process runs
        if worker_process:
            monkeypatch.setenv("FILMAI_PYTHON", sys.executable)
            monkeypatch.setenv("FILMAI_WORKER_ENV", f"FILMAI_PLUGIN_MODULES={PACKS}; PYTHONPATH={TESTS}")
        else:
            monkeypatch.delenv("FILMAI_PYTHON", raising=False)
            monkeypatch.delenv("FILMAI_WORKER_ENV", raising=False)
        nuke._startup([PLUGIN], gui=gui)
        root = nuke.root()
        root["first_frame"].setValue(1)
        root["last_frame"].setValue(8)
        import filmai_nuke

        return filmai_nuke

    yield start
    nuke._reset()


def read_node(pattern, first, last):
    return nuke.nodes.Read(file=pattern, first=first, last=last, origfirst=first, origlast=last)


def new_group(filmai_nuke, node_id, upstream=None, out_dir=None):
    for n in nuke.allNodes():
        n["selected"].setValue(False)
    if upstream is not None:
        upstream["selected"].setValue(True)
    group = filmai_nuke.create(node_id)
    if out_dir:
        group["output_dir"].setValue(str(out_dir))
    return group


def pixels(path):
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(path)
    return np.asarray(buf.get_pixels(oiio.FLOAT))


def wait_gui(group, kind="run"):
    """Let the GUI main loop run the adapter's executeInMainThread calls until the job has finished."""
    def finished():
        jobs = json.loads(group["filmai_job"].value() or "{}")
        return jobs.get(kind, {}).get("status") in ("done", "failed", "cancelled")

    nuke._run_main_thread(finished, timeout=120)


# ----- startup, menus, generated groups -------------------------------------------------------------


def menu_entries(menu):
    return {item.script(): f"{family.name()}/{item.name()}" for family in menu.items()
            for item in getattr(family, "items", lambda: [])()}


def test_menu_has_every_registered_node(session, tmp_path, monkeypatch):
    from filmai_plugins import list_nodes

    monkeypatch.setenv("FILMAI_NUKE_CACHE", str(tmp_path / "empty_cache"))  # a first start: nothing cached
    t0 = time.perf_counter()
    session(gui=True, worker_process=False)  # init.py and menu.py, as Nuke runs them at GUI start
    started = time.perf_counter() - t0
    menu = nuke.menu("Nodes").findItem("FilmAI")
    assert menu is not None
    assert [i.name() for i in menu.items()] == ["Loading nodes (asking the worker)…"]  # never waits for it
    nuke._run_main_thread(lambda: menu.findItem("Reload nodes") is not None, timeout=120)
    assert started < 2.0
    entries = {}
    for family in menu.items():
        for item in getattr(family, "items", lambda: [])():
            entries[item.script()] = f"{family.name()}/{item.name()}"
    expected = {f"import filmai_nuke; filmai_nuke.create({node_id!r})" for node_id in list_nodes()}
    assert set(entries) == expected
    assert entries["import filmai_nuke; filmai_nuke.create('cnn.torchscript')"] == "CNN/TorchScript - ONNX model"
    assert menu.findItem("Reload nodes") is not None
    nuke._startup([PLUGIN], gui=False)  # terminal and render sessions build no menu
    assert nuke.menu("Nodes").findItem("FilmAI") is None


def test_every_node_becomes_a_group_with_knobs_from_its_schema(session):
    filmai_nuke = session(gui=True, worker_process=False)
    schema = filmai_nuke.schema()
    for node in schema["nodes"]:
        group = new_group(filmai_nuke, node["id"])
        frame_inputs = [p for p in node["inputs"] if p["type"] == "Frames"]
        group.begin()
        inputs = [n.name() for n in nuke.allNodes("Input")]
        has_read = nuke.toNode("result") is not None
        group.end()
        if node["trainable"]:  # CopyCat's pipes: Input(s), GroundTruth, Preview
            expected = [p["name"] for p in frame_inputs if p["name"] != "target"] + ["GroundTruth", "Preview"]
        else:
            expected = [p["name"] for p in frame_inputs]
        assert inputs == expected
        assert has_read == any(p["type"] == "Frames" for p in node["outputs"])
        assert group["filmai_node"].value() == node["id"] and group["filmai_node"].getFlag(nuke.INVISIBLE)
        for p in node["params"]:
            knob = group[filmai_nuke.adapter.knob_name(p)]
            assert knob.label() == filmai_nuke.worker.display_label(p)
            if filmai_nuke.worker.is_channel_list(p):
                assert isinstance(knob, nuke.ChannelMask_Knob)
                assert filmai_nuke.adapter.channels_from_nuke(knob.value()) == (p["default"] or "")
            elif p["type"] == "enum":
                assert knob.values() == p["choices"] and knob.value() == p["default"]
            elif p["type"] == "color":
                assert [knob.value(i) for i in range(p["size"])] == list(p["default"])
            elif p["type"] in ("int", "float"):
                assert knob.value() == p["default"]
                assert knob.getFlag(nuke.NO_ANIMATION) != p["animatable"]
            elif p["type"] == "bool":
                assert knob.value() is p["default"]
        if frame_inputs:
            for p in schema["io_options"]:
                assert group.knob(f"io_{p['name']}") is not None
    gain = nuke.toNode("hoststest_gain_1")
    assert gain["strength"].range() == (0, 2)  # the soft range is the slider
    gain["strength"].setValue(9.0)  # Nuke's sliders do not stop typed values: knobChanged enforces the hard max
    assert gain["strength"].value() == 4.0 and "above the maximum 4" in gain["status"].value()
    assert gain.knob("steps") is not None and gain.knob("pair_frames") is not None  # the Training tab


# ----- processing -----------------------------------------------------------------------------------


def test_process_renders_through_a_temp_write_and_shows_the_result(session, tmp_path):
    filmai_nuke = session(gui=True, worker_process=True)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 9), width=32, height=16)
    read = read_node(src, 1, 8)
    group = new_group(filmai_nuke, "util.convert", read, tmp_path / "out")
    assert group.input(0) is read  # created like any node: connected to the selection
    group["io_compression"].setValue("piz")
    group["process"].execute()  # the Process button
    wait_gui(group)
    assert "done" in group["status"].value() and "worker process" in group["status"].value()
    assert not nuke.allNodes("Write")  # the temporary Write is gone
    task = nuke.ProgressTask._instances[-1]
    assert task.progress == 100 and task.messages[-1] == "done"
    job = json.loads(group["filmai_job"].value())["run"]
    assert job["status"] == "done" and f"{sys.executable} -m filmai_plugins run util.convert" in job["command"]
    staged = job["spec"]["inputs"]["input"]
    assert staged.endswith("_input/input.####.exr") and len(glob.glob(staged.replace("####", "*"))) == 8
    group.begin()
    assert nuke.toNode("show_result")["which"].value() == 1
    assert nuke.toNode("result")["file"].value() == job["spec"]["outputs"]["output"]
    group.end()
    for f in (1, 8):  # what the group outputs now is the node's result: here the plate, re-encoded
        out, names = nuke._render(group, f)
        assert names == ["rgba.red", "rgba.green", "rgba.blue", "rgba.alpha"]  # Nuke's names for R, G, B, A
        np.testing.assert_allclose(out, pixels(src.replace("####", f"{f:04d}")), rtol=1e-3)


def test_colour_and_float_knobs_reach_the_node(session, tmp_path):
    filmai_nuke = session(gui=False, worker_process=False)  # terminal session, in process
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 5), width=32, height=16, pixel_type="float")
    group = new_group(filmai_nuke, "hoststest.gain", read_node(src, 1, 4), tmp_path / "out")
    for i, c in enumerate((0.5, 1.0, 2.0)):
        group["tint"].setValue(c, i)
    job = filmai_nuke.process(group, frames="2-3")
    assert job.state == "done", job.summary()
    out, _ = nuke._render(group, 3)
    np.testing.assert_allclose(out, pixels(src.replace("####", "0003"))[:, :, :3] * [0.5, 1.0, 2.0], rtol=2e-3)  # written as half
    assert job.spec.params["tint"] == "0.5,1.0,2.0" and job.spec.frames == "2-3"



def _colour_plate(folder, name, rgb, frames=range(1, 4)):
    px = np.zeros((8, 16, 4), np.float32)
    px[...] = [*rgb, 1.0]
    px[:, :8, :3] *= 0.25  # two levels, so a curve would show
    for f in frames:
        write_exr(os.path.join(folder, f"{name}.{f:04d}.exr"), px, pixel_type="float")
    return os.path.join(folder, f"{name}.####.exr")


def _ocio_convert(config, rgb, src, dst):
    import PyOpenColorIO as ocio

    out = np.ascontiguousarray(rgb[..., :3], np.float32)
    ocio.Config.CreateFromFile(config).getProcessor(src, dst).getDefaultCPUProcessor().applyRGB(out)
    return out


def test_the_scripts_ocio_config_and_the_reads_colourspace_reach_the_run(session, tmp_path):
    """A Read converts its plate into the project's working space (ACEScg here); the node's inputs are staged
    raw (exact), so the run is told ACEScg and the script's config, and the result Read reads ACEScg."""
    filmai_nuke = session(gui=False, worker_process=False)
    root = nuke.root()
    root["colorManagement"].setValue("OCIO")
    root["OCIO_config"].setValue("fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1")
    config = root["OCIOConfigPath"].value()
    src = _colour_plate(str(tmp_path / "plates"), "rec709", (0.8, 0.2, 0.1))
    read = read_node(src, 1, 3)
    read["colorspace"].setValue("Linear Rec.709 (sRGB)")
    group = new_group(filmai_nuke, "util.convert", read, tmp_path / "out")
    job = filmai_nuke.process(group)
    assert job.state == "done", job.summary()
    assert job.spec.io["ocio_config"] == config and job.spec.io["input_colorspace"] == "ACEScg"
    written = job.outputs()["output"]
    assert written["colorspace"] == "ACEScg"
    out_file = written["pattern"].replace("####", "0002")
    staged = pixels(job.spec.inputs["input"].replace("####", "0002"))
    plate_acescg = _ocio_convert(config, pixels(src.replace("####", "0002")), "Linear Rec.709 (sRGB)", "ACEScg")
    np.testing.assert_allclose(staged[..., :3], plate_acescg, atol=1e-6)  # what Nuke computed, staged exactly
    np.testing.assert_array_equal(pixels(out_file), staged)
    group.begin()
    result = nuke.toNode("result")
    assert result["colorspace"].value() == "ACEScg" and not result["raw"].value()
    group.end()
    shown, _ = nuke._render(group, 2)  # the group's output: the result read back into the working space
    np.testing.assert_allclose(shown[..., :3], plate_acescg, atol=1e-6)


def test_a_raw_read_passes_its_own_colourspace_and_data_is_never_converted(session, tmp_path):
    filmai_nuke = session(gui=False, worker_process=False)  # nuke-default: working space "linear"
    config = nuke.root()["OCIOConfigPath"].value()
    src = _colour_plate(str(tmp_path / "plates"), "srgb", (0.8, 0.5, 0.2))
    read = read_node(src, 1, 3)
    read["colorspace"].setValue("sRGB")
    read["raw"].setValue(True)  # the file's values as they are: sRGB-encoded
    group = new_group(filmai_nuke, "util.convert", read, tmp_path / "out")
    job = filmai_nuke.process(group)
    assert job.state == "done", job.summary()
    assert job.spec.io["input_colorspace"] == "sRGB" and job.spec.io["ocio_config"] == config
    plate = pixels(src.replace("####", "0002"))
    np.testing.assert_array_equal(pixels(job.outputs()["output"]["pattern"].replace("####", "0002")), plate)
    group.begin()
    result = nuke.toNode("result")
    assert result["colorspace"].value() == "sRGB" and result["raw"].value()  # passed on as it came in
    group.end()
    np.testing.assert_array_equal(nuke._render(group, 2)[0], plate)

    group["io_output_colorspace"].setValue("linear")  # asked for linear: converted, and read back as linear
    job = filmai_nuke.process(group)
    assert job.state == "done", job.summary()
    lin = pixels(job.outputs()["output"]["pattern"].replace("####", "0002"))
    np.testing.assert_allclose(lin[..., :3], _ocio_convert(config, plate, "sRGB", "linear"), atol=1e-6)
    np.testing.assert_array_equal(lin[..., 3], plate[..., 3])  # alpha never converted
    group.begin()
    result = nuke.toNode("result")
    assert result["colorspace"].value() == "linear" and not result["raw"].value()
    group.end()

    normals = _colour_plate(str(tmp_path / "plates"), "normals", (-0.7, 0.3, 2.5))
    data = read_node(normals, 1, 3)
    data["colorspace"].setValue("raw")
    data["raw"].setValue(True)
    group = new_group(filmai_nuke, "util.convert", data, tmp_path / "out")
    job = filmai_nuke.process(group)
    assert job.state == "done" and job.spec.io["input_colorspace"] == "raw"
    np.testing.assert_array_equal(pixels(job.outputs()["output"]["pattern"].replace("####", "0002")),
                                  pixels(normals.replace("####", "0002")))

    # an OCIOColorSpace upstream: its out_colorspace is what the node receives
    convert = nuke.nodes.OCIOColorSpace(in_colorspace="linear", out_colorspace="Gamma2.2")
    convert.setInput(0, read_node(src, 1, 3))
    group = new_group(filmai_nuke, "util.convert", convert, tmp_path / "out")
    assert filmai_nuke.process(group).spec.io["input_colorspace"] == "Gamma2.2"


def test_cancel_from_the_progress_task(session, tmp_path):
    filmai_nuke = session(gui=True, worker_process=True)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 13), width=32, height=16)
    group = new_group(filmai_nuke, "test.slow", read_node(src, 1, 12), tmp_path / "out")
    group["seconds"].setValue(0.2)
    # the artist presses Cancel once the node has written its first frame
    nuke.ProgressTask._cancel_when = lambda task: any(m.startswith("wrote frame") for m in task.messages)
    group["process"].execute()
    wait_gui(group)
    job = json.loads(group["filmai_job"].value())["run"]
    assert job["status"] == "cancelled" and "no partial files" in group["status"].value()
    assert not nuke._messages  # a cancel is not an error: no dialog
    written = sorted(glob.glob(job["spec"]["outputs"]["output"].replace("####", "*")))
    assert 1 <= len(written) < 12
    folder = os.path.dirname(job["spec"]["outputs"]["output"])
    assert not [p for p in os.listdir(folder) if p.startswith(".")]  # no temp files left
    for path in written:
        pixels(path)  # every file is a complete frame
    group.begin()
    read = nuke.toNode("result")
    assert read["on_error"].value() == "black" and read["last"].value() == len(written)
    group.end()


def test_training_picks_pairs_from_two_inputs(session, tmp_path):
    filmai_nuke = session(gui=False, worker_process=False)
    src = write_sequence(str(tmp_path / "src"), "src", range(1, 7), width=32, height=16, pixel_type="float")
    dst = str(tmp_path / "dst" / "dst.####.exr")
    for f in range(1, 7):
        write_exr(dst.replace("####", f"{f:04d}"), plate(f, 32, 16) * np.array([2.0, 0.5, 1.0, 1.0], np.float32),
                  pixel_type="float")
    group = new_group(filmai_nuke, "hoststest.gain", read_node(src, 1, 6), tmp_path / "out")
    group.setInput(1, read_node(dst, 1, 6))  # the target pipe
    for f in (4, 2):
        nuke.frame(f)
        filmai_nuke.add_training_frame(group)
    assert group["pair_frames"].value() == "2,4"
    group["steps"].setValue(2)
    job = filmai_nuke.train(group)
    assert job.state == "done", job.summary()
    assert job.spec.target.endswith("_input/target.####.exr") and job.spec.frames == "2,4"
    assert group["modelFile"].value() == job.spec.out and os.path.isfile(job.spec.out)
    staged = sorted(os.path.basename(p) for p in glob.glob(os.path.join(os.path.dirname(job.spec.target), "*.exr")))
    assert staged == ["input.0002.exr", "input.0004.exr", "target.0002.exr", "target.0004.exr"]  # only the pairs
    job = filmai_nuke.process(group, frames="5")
    assert job.state == "done" and job.spec.model == group["modelFile"].value()
    out, _ = nuke._render(group, 5)
    np.testing.assert_allclose(out, pixels(src.replace("####", "0005"))[:, :, :3] * [2.0, 0.5, 1.0], rtol=2e-3)


def test_timeline_node_writes_otio_summary_and_edl(session, tmp_path):
    filmai_nuke = session(gui=False, worker_process=False)
    edit = str(tmp_path / "edit" / "edit.####.exr")
    for f in range(1, 13):
        write_exr(edit.replace("####", f"{f:04d}"), plate(f, 32, 16) * 0.1 + (0.2 if f <= 6 else 1.5))
    group = new_group(filmai_nuke, "hoststest.cuts", read_node(edit, 1, 12), tmp_path / "out")
    job = filmai_nuke.process(group)
    assert job.state == "done", job.summary()
    timeline = group["timeline"].value()
    assert timeline.endswith(".otio") and os.path.isfile(timeline)
    summary = group["summary"].value()
    assert "2 shots, 1 cuts, 12 frames" in summary and "1-6" in summary and "7-12" in summary
    edl = filmai_nuke.write_timeline(group)
    assert open(edl).read().startswith("TITLE:")
    stamp = os.stat(edl).st_mtime_ns
    assert filmai_nuke.write_timeline(group) == edl and os.stat(edl).st_mtime_ns == stamp  # never rewritten
    group.begin()
    assert nuke.toNode("result") is None and nuke.allNodes("Output")[0].input(0).Class() == "Input"
    group.end()


def test_bad_input_is_one_clear_error(session, tmp_path):
    filmai_nuke = session(gui=False, worker_process=True)
    group = new_group(filmai_nuke, "util.convert", None, tmp_path / "out")
    with pytest.raises(filmai_nuke.JobFailed, match="connect the input input") as err:
        filmai_nuke.process(group)
    assert err.value.exit_code == 2 and group["status"].value().startswith("error:")
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 5), width=32, height=16)
    group.setInput(0, read_node(src, 1, 4))
    group["frames"].setValue("1-3x")
    with pytest.raises(filmai_nuke.JobFailed, match="bad frame spec"):
        filmai_nuke.process(group)
    os.remove(src.replace("####", "0003"))  # a missing plate frame: Nuke's own Read error, before any job
    group["frames"].setValue("")
    with pytest.raises(filmai_nuke.JobFailed, match="plate.0003.exr"):
        filmai_nuke.process(group)
    assert not [p for p in glob.glob(str(tmp_path / "out" / "**" / "*_util_convert*"), recursive=True)]


# ----- temporal nodes and animated knobs (the node contract's handles and keys) ---------------------


def headless(node_id, src, out, frames, **params):
    """The same node run by the headless host on the plate itself (the reference for Nuke's result)."""
    from filmai_plugins import run

    return run(node_id, input=src, output=out, frames=frames, **params)


def same_pixels(nuke_pattern, headless_pattern, frames):
    for f in frames:
        a = pixels(nuke_pattern.replace("####", f"{f:04d}"))
        b = pixels(headless_pattern.replace("####", f"{f:04d}"))
        np.testing.assert_array_equal(a, b, err_msg=f"frame {f}")


def staged_frames(job):
    staged = job["spec"]["inputs"]["input"] if isinstance(job, dict) else job.spec.inputs["input"]
    folder, name = os.path.split(staged)
    return sorted(int(n.split(".")[-2]) for n in os.listdir(folder) if n.startswith(name.split(".")[0] + "."))


def test_a_temporal_node_gets_its_handle_frames_and_equals_headless(session, tmp_path):
    """Window-5 util.temporal_median over part of a 1001-1012 plate: Process renders the two frames
    before and after the range into the Group's input too (Nuke used to render the range only, and the
    median at its ends came from fewer frames), clamped to what the Read provides; the pixels equal the
    headless host's on the plate itself, bit for bit (a float plate: the 32-bit staging is lossless)."""
    filmai_nuke = session(gui=True, worker_process=True)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1001, 1013), width=24, height=12, pixel_type="float")
    group = new_group(filmai_nuke, "util.temporal_median", read_node(src, 1001, 1012), tmp_path / "out")
    group["frames"].setValue("1004-1006")
    group["process"].execute()
    wait_gui(group)
    job = json.loads(group["filmai_job"].value())["run"]
    assert job["status"] == "done", group["status"].value()
    assert staged_frames(job) == list(range(1002, 1009))  # 1004-1006 and their window-5 neighbours
    assert "input frames 1002-1008 read" in group["status"].value()
    headless("util.temporal_median", src, str(tmp_path / "ref" / "ref.####.exr"), "1004-1006", window=5)
    same_pixels(job["spec"]["outputs"]["output"], str(tmp_path / "ref" / "ref.####.exr"), range(1004, 1007))
    # at the ends of what the Read gives, the handles are clamped (the window shrinks, as headless)
    filmai_nuke = session(gui=False, worker_process=False)
    trimmed = read_node(src, 1003, 1010)  # the artist trimmed the Read: 1001-1002 and 1011-1012 are not upstream
    group = new_group(filmai_nuke, "util.temporal_median", trimmed, tmp_path / "out2")
    group["frames"].setValue("1003-1004")
    job = filmai_nuke.process(group)
    assert job.state == "done", job.summary()
    # 1003-1006 are the windows' frames; 1007-1008 stand for the two cut off at the start, so the staged
    # input is as long as a window (the node refuses a window longer than its input, as for a short plate)
    assert staged_frames(job) == list(range(1003, 1009))
    assert job.manifest["frames_needed"]["clamped"] == "1001-1002"
    trimmed_plate = tmp_path / "trimmed"  # what the Read gives, as a sequence on disk
    trimmed_plate.mkdir()
    for f in range(1003, 1011):
        os.link(src.replace("####", f"{f:04d}"), trimmed_plate / f"plate.{f:04d}.exr")
    ref = str(tmp_path / "ref2" / "ref.####.exr")
    headless("util.temporal_median", str(trimmed_plate / "plate.####.exr"), ref, "1003-1004", window=5)
    same_pixels(job.spec.outputs["output"], ref, (1003, 1004))


def test_an_animated_knob_becomes_keys_sampled_at_every_frame(session, tmp_path):
    """mix keyed 0 at 1001 and 1 at 1012 with Nuke's default (smooth) interpolation: the job gets the
    knob's value at every frame of the run, so the node sees the eased curve the artist sees (linear
    keys between 1001 and 1012 would not); a linear curve becomes its two keys. The result equals the
    headless host given the same keys, and the keys reach the saved script and the farm job."""
    from filmai_plugins.schema import Keys, parse_param

    filmai_nuke = session(gui=False, worker_process=False)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1001, 1013), width=24, height=12, pixel_type="float")
    group = new_group(filmai_nuke, "util.temporal_median", read_node(src, 1001, 1012), tmp_path / "out")
    mix = group["mix"]
    nuke.frame(1001)
    assert mix.setAnimated() and mix.setValueAt(0.0, 1001) and mix.setValueAt(1.0, 1012)
    job = filmai_nuke.process(group)
    assert job.state == "done", job.summary()
    param = next(p for p in filmai_nuke.adapter.node_schema(group)["params"] if p["name"] == "mix")
    keys = parse_param(param, job.spec.params["mix"])
    assert isinstance(keys, Keys) and keys.frames == list(range(1001, 1013))  # eased: every frame is a key
    for f in range(1001, 1013):
        assert keys.at(f) == pytest.approx(mix.getValueAt(f), abs=1e-12)
    assert keys.at(1003) < (1003 - 1001) / 11  # slower than linear at the start: not the two keys joined
    ref = str(tmp_path / "ref" / "ref.####.exr")
    headless("util.temporal_median", src, ref, "1001-1012", window=5, mix=job.spec.params["mix"])
    same_pixels(job.spec.outputs["output"], ref, range(1001, 1013))
    assert job.manifest["params"]["mix"]["keys"][0] == [1001, 0.0]
    if "farm" in __import__("filmai_plugins.cli", fromlist=["x"]).build_parser()._subparsers._group_actions[0].choices:
        bundle = filmai_nuke.write_farm_job(group)  # the farm job repeats the run with the same curve
        assert job.spec.params["mix"] in open(os.path.join(bundle, "parameter_values.yaml")).read()
    # scrubbing does not make the result stale; moving a key does
    nuke.frame(1005)
    assert not filmai_nuke.check_stale(group)
    mix.setValueAt(0.5, 1006)
    assert filmai_nuke.check_stale(group)
    # a linear curve: its two keys are the whole story
    mix.animation(0).removeKey([k for k in mix.animation(0).keys() if k.x == 1006])
    mix.animation(0).changeInterpolation(mix.animation(0).keys(), nuke.LINEAR)
    job = filmai_nuke.process(group, frames="1001-1012")
    assert job.spec.params["mix"] == "1001:0.0,1012:1.0"
    # saved in the script: `nuke -t terminal.py` (a farm rendering in Nuke) gets the same keys
    script = str(tmp_path / "shot.nk")
    nuke.scriptSaveAs(script)
    filmai_nuke = session(gui=False, worker_process=False)
    from filmai_nuke import terminal

    assert terminal.main([script, group.name(), "--frames", "1001-1006"]) == 0
    nuke.scriptOpen(script)
    group = nuke.toNode(group.name())
    again = json.loads(group["filmai_job"].value())["run"]
    assert group["mix"].isAnimated()  # the curve was saved with the script
    assert again["spec"]["params"]["mix"] == f"1001:0.0,1006:{group['mix'].getValueAt(1006)!r}"  # over 1001-1006
    # a curve leaving the param's range is refused before anything renders, naming the first frame out
    group["mix"].setValueAt(1.5, 1012)
    with pytest.raises(filmai_nuke.JobFailed, match=r"'mix'.*above the maximum 1.0 \(at frame 1009"):
        filmai_nuke.process(group, frames="1001-1012")


def test_a_third_party_temporal_pack_equals_headless_in_nuke(session, tmp_path):
    """A studio's pack written from docs/writing-nodes.md (tests/mystudio_filmai): a temporal node looking
    two frames back, with an animated knob, in a worker process: handles rendered, keys sampled, the
    pixels equal the headless host's."""
    filmai_nuke = session(gui=True, worker_process=True)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 11), width=24, height=12, pixel_type="float")
    group = new_group(filmai_nuke, "mystudio.trail", read_node(src, 1, 10), tmp_path / "out")
    assert filmai_nuke.adapter.node_schema(group)["temporal"] is True
    amount = group["amount"]
    assert amount.setAnimated() and amount.setValueAt(0.2, 4) and amount.setValueAt(1.0, 8)
    group["frames"].setValue("5-8")
    group["process"].execute()
    wait_gui(group)
    job = json.loads(group["filmai_job"].value())["run"]
    assert job["status"] == "done", group["status"].value()
    assert staged_frames(job) == list(range(3, 9))  # two frames back, none ahead
    ref = str(tmp_path / "ref" / "ref.####.exr")
    headless("mystudio.trail", src, ref, "5-8", length=2, amount=job["spec"]["params"]["amount"])
    same_pixels(job["spec"]["outputs"]["output"], ref, range(5, 9))


# ----- terminal mode and farm -----------------------------------------------------------------------


def test_terminal_mode_processes_a_saved_script(session, tmp_path):
    filmai_nuke = session(gui=False, worker_process=False)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 7), width=32, height=16)
    group = new_group(filmai_nuke, "util.convert", read_node(src, 1, 6), tmp_path / "out")
    group["data_window"].setValue("display")
    script = str(tmp_path / "shot.nk")
    nuke.scriptSaveAs(script)

    filmai_nuke = session(gui=False, worker_process=False)  # a fresh `nuke -t` session
    from filmai_nuke import terminal

    assert terminal.main([script, "util_convert_1", "--frames", "2-5"]) == 0
    nuke.scriptOpen(script)  # the script was saved with the Read pointing at the results
    group = nuke.toNode("util_convert_1")
    job = json.loads(group["filmai_job"].value())["run"]
    assert job["status"] == "done" and job["spec"]["frames"] == "2-5"
    assert job["spec"]["params"]["data_window"] == "display"
    assert len(glob.glob(job["spec"]["outputs"]["output"].replace("####", "*"))) == 4
    assert terminal.main([script, "no_such_node"]) == 2
    assert terminal.main([script, "util_convert_1", "--frames", "7-9"]) == 2  # beyond the plate: Read error


def test_farm_job_template_repeats_the_last_process(session, tmp_path):
    from filmai_plugins.cli import build_parser

    filmai_nuke = session(gui=False, worker_process=False)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 5), width=32, height=16)
    group = new_group(filmai_nuke, "util.convert", read_node(src, 1, 4), tmp_path / "out")
    with pytest.raises(RuntimeError, match="process the node once first"):
        filmai_nuke.write_farm_job(group)
    filmai_nuke.process(group)
    group["chunk"].setValue(2)
    if "farm" in build_parser()._subparsers._group_actions[0].choices:
        bundle = filmai_nuke.write_farm_job(group)
        assert "specificationVersion" in open(os.path.join(bundle, "template.yaml")).read()
        values = open(os.path.join(bundle, "parameter_values.yaml")).read()
        assert "_input\n" in values and "value: input.####.exr" in values  # the inputs Process rendered
        assert "value: 1-4" in values
        with pytest.raises(filmai_nuke.worker.WorkerError, match="never overwritten"):
            filmai_nuke.write_farm_job(group)
    else:
        with pytest.raises(filmai_nuke.worker.WorkerError, match="filmai farm template util.convert"):
            filmai_nuke.write_farm_job(group)


def test_adapter_does_not_know_it_runs_on_the_stand_in():
    for path in glob.glob(os.path.join(PLUGIN, "**", "*.py"), recursive=True):
        text = open(path).read()
        assert "STANDIN" not in text and "standin" not in text.lower() and "nuke._" not in text, path


# ----- the stand-in is as strict as Nuke ------------------------------------------------------------


def test_standin_is_as_strict_as_the_documented_api(session):
    session(gui=True, worker_process=False)
    read = nuke.nodes.Read(file="x.####.exr", first=1, last=1)
    group = nuke.nodes.Group()
    assert group.maximumInputs() == 0 and not hasattr(group, "maxInputs")
    assert group.setInput(0, read) is False and group.input(0) is None  # a Group with no Input nodes
    group.begin()
    nuke.nodes.Input()
    group.end()
    assert group.maximumInputs() == 1 and group.setInput(0, read) is True
    assert group.setInput(1, read) is False  # no second pipe
    assert read.setInput(0, group) is False  # a Read has no input
    blur_like = nuke.nodes.Switch()
    blur_like.setInput(0, group)
    assert group.setInput(0, blur_like) is False  # a loop
    for n in nuke.allNodes():
        n["selected"].setValue(False)
    read["selected"].setValue(True)
    made = nuke.createNode("Group", inpanel=False)
    assert made.input(0) is None  # createNode cannot connect an empty Group
    errors = []

    def off_main():
        for call in (lambda: read["first"].setValue(3), lambda: nuke.nodes.Write(),
                     lambda: nuke.execute(read, 1, 1)):
            try:
                call()
            except RuntimeError as exc:
                errors.append(str(exc))

    t = threading.Thread(target=off_main)
    t.start()
    t.join()
    assert len(errors) == 3 and all("not thread-safe" in e for e in errors)
    with pytest.raises(RuntimeError, match="main thread"):
        nuke.executeInMainThreadWithResult(lambda: 1)


# ----- the main thread stays free -------------------------------------------------------------------


def slow_worker(tmp_path, monkeypatch, delay):
    """A worker Python that takes ``delay`` seconds before it runs (a cold network venv)."""
    path = tmp_path / "slow_python"
    path.write_text(f'#!/bin/sh\nsleep {delay}\nexec {shlex.quote(sys.executable)} "$@"\n')
    path.chmod(0o755)
    monkeypatch.setenv("FILMAI_PYTHON", str(path))
    return str(path)


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


def worst_stall(since=0):
    stalls = nuke._main_stalls[since:]
    return max(stalls)[0] if stalls else 0.0, len(stalls)


def test_no_host_operation_stalls_nukes_main_thread(session, tmp_path, monkeypatch):
    """Every call the GUI main thread makes (the button press, then each executeInMainThread(WithResult)
    call the stand-in's event loop runs) is timed, with a worker that takes 1.5 s to start."""
    filmai_nuke = session(gui=True, worker_process=True)
    filmai_nuke.schema()  # the node list is cached (reload is measured below)
    slow_worker(tmp_path, monkeypatch, 1.5)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 9), width=32, height=16)
    worst = {}

    def measure(op, press, until, timeout=120):
        start = len(nuke._main_stalls)
        _, pressed = timed(press)
        nuke._run_main_thread(until, timeout=timeout)
        stall, calls = worst_stall(start)
        worst[op] = (max(pressed, stall), calls)
        print(op, "press", round(pressed * 1000, 1), "ms; slowest main-thread calls",
              sorted(((round(t * 1000, 1), w) for t, w in nuke._main_stalls[start:]), reverse=True)[:3])

    # warm-up, not measured: the stand-in's first EXR write loads OpenImageIO's EXR plug-in (~80 ms), a
    # cost of this stand-in's renderer (Nuke's own renders are one frame per main-thread call below)
    warm = new_group(filmai_nuke, "util.convert", read_node(src, 1, 8), tmp_path / "warm")
    warm["frames"].setValue("1")
    warm["process"].execute()
    nuke._run_main_thread(lambda: job_state(warm) == "done", timeout=120)
    # run
    group = new_group(filmai_nuke, "test.slow", read_node(src, 1, 8), tmp_path / "out")
    group["seconds"].setValue(0.1)
    measure("run", group["process"].execute, lambda: job_state(group) == "done")
    # a temporal node with an animated knob: its handle frames asked of the (slow) worker off the main thread
    median = new_group(filmai_nuke, "util.temporal_median", read_node(src, 1, 8), tmp_path / "out")
    median["frames"].setValue("3-5")
    nuke.frame(1)
    median["mix"].setAnimated()
    median["mix"].setValueAt(1.0, 8)
    measure("temporal", median["process"].execute, lambda: job_state(median) == "done")
    # cancel
    group["seconds"].setValue(0.5)
    nuke.ProgressTask._cancel_when = lambda task: any(m.startswith("wrote frame") for m in task.messages)
    measure("cancel", group["process"].execute, lambda: job_state(group) == "cancelled")
    nuke.ProgressTask._cancel_when = None
    # train
    dst = str(tmp_path / "dst" / "dst.####.exr")
    for f in range(1, 9):
        write_exr(dst.replace("####", f"{f:04d}"), plate(f, 32, 16) * 2.0)
    gain = new_group(filmai_nuke, "hoststest.gain", read_node(src, 1, 8), tmp_path / "out")
    gain.setInput(1, read_node(dst, 1, 8))
    gain["pair_frames"].setValue("2,5")
    gain["steps"].setValue(4)
    gain["step_seconds"].setValue(0.2)
    measure("train", gain["startTraining"].execute, lambda: job_state(gain, "train") == "done")
    # split: a timeline node, its summary read with `filmai timeline cuts` (slow worker) off the main thread
    edit = str(tmp_path / "edit" / "edit.####.exr")
    for f in range(1, 13):
        write_exr(edit.replace("####", f"{f:04d}"), plate(f, 32, 16) * 0.1 + (0.2 if f <= 6 else 1.5))
    cuts = new_group(filmai_nuke, "hoststest.cuts", read_node(edit, 1, 12), tmp_path / "out")
    measure("split", cuts["process"].execute, lambda: job_state(cuts) == "done")
    assert "2 shots" in cuts["summary"].value()
    # export: the EDL and a farm job, written by the (slow) worker on a thread
    measure("export", cuts["write_edl"].execute, lambda: cuts["status"].value().startswith("wrote"))
    group["farm_job"].setValue(str(tmp_path / "farm_bundle"))
    measure("export2", group["write_farm_job"].execute, lambda: group["status"].value().startswith(("wrote", "error")))
    # reload: the worker takes 1.5 s to answer
    menu = nuke.menu("Nodes").findItem("FilmAI")
    measure("reload", filmai_nuke.reload_nodes, lambda: menu.findItem("Reload nodes") is not None)
    print("worst main-thread stall (ms, calls):", {op: (round(v[0] * 1000, 1), v[1]) for op, v in worst.items()})
    for op, (seconds, calls) in worst.items():
        assert seconds < 0.1, f"{op}: Nuke's main thread held {seconds * 1000:.0f} ms (of {calls} calls)"
    assert worst["run"][1] >= 8  # the inputs really were rendered on the main thread, frame by frame
    assert worst["temporal"][1] >= 7  # frames 3-5 and their neighbours 1-7


def job_state(group, kind="run"):
    return json.loads(group["filmai_job"].value() or "{}").get(kind, {}).get("status")


def test_knob_changed_never_asks_the_worker(session, tmp_path, monkeypatch):
    filmai_nuke = session(gui=True, worker_process=True)
    group = new_group(filmai_nuke, "hoststest.gain", None, tmp_path / "out")
    os.remove(filmai_nuke.adapter._cache_path())  # the cache is gone, the worker is slow
    filmai_nuke.adapter._schema = None
    slow_worker(tmp_path, monkeypatch, 5)
    _, seconds = timed(group["strength"].setValue, 1.5)
    _, moved = timed(group["selected"].setValue, True)
    assert seconds < 0.1 and moved < 0.1


def test_cancel_while_rendering_inputs_leaves_nothing(session, tmp_path):
    filmai_nuke = session(gui=True, worker_process=True)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 25), width=32, height=16)
    group = new_group(filmai_nuke, "util.convert", read_node(src, 1, 24), tmp_path / "out")
    nuke.ProgressTask._cancel_when = lambda task: any(m.startswith("rendering input frame 3") for m in task.messages)
    group["process"].execute()
    nuke._run_main_thread(lambda: job_state(group) == "cancelled", timeout=60)
    assert "nothing was written" in group["status"].value() and not nuke._messages  # no JobFailed dialog
    assert not glob.glob(str(tmp_path / "out" / "**" / "*.exr"), recursive=True)  # no partial _input EXRs
    assert not os.listdir(tmp_path / "out") or not glob.glob(str(tmp_path / "out" / "*" / "v*"))
    assert not nuke.allNodes("Write")


# ----- Nuke's own conventions -----------------------------------------------------------------------


def test_inference_and_copycat_conventions(session):
    filmai_nuke = session(gui=True, worker_process=False)
    ts = new_group(filmai_nuke, "cnn.torchscript")
    assert ts["modelFile"].label() == "Model File" and ts["useGPUIfAvailable"].value() is True
    assert isinstance(ts["channels_in"], nuke.ChannelMask_Knob) and ts["channels_in"].value() == "rgb"
    ts["channels_in"].setValue("rgba")
    assert filmai_nuke.adapter.channels_from_nuke(ts["channels_in"].value()) == "R,G,B,A"
    assert filmai_nuke.adapter.channels_from_nuke("rgba.red depth") == "R,depth.Z"
    assert filmai_nuke.adapter.channels_to_nuke("diffuse.R,diffuse.G") == "diffuse.red diffuse.green"
    with pytest.raises(ValueError):
        ts["channels_in"].setValue("R,G,B")  # not a channel name Nuke knows: refused, as Nuke does
    assert ts["scale"].getFlag(nuke.SLIDER) and ts["scale"].range() == (0, 16)  # integer sliders with ranges
    cc = new_group(filmai_nuke, "cnn.copycat")
    cc.begin()
    assert [n.name() for n in nuke.allNodes("Input")] == ["input", "GroundTruth", "Preview"]
    cc.end()
    assert cc["startTraining"].label() == "Start Training" and cc.knob("progress_graph") is not None
    assert cc["lr_schedule"].label() == "LR schedule" and cc["half"].label() == "Half precision (fp16)"
    assert cc["steps"].getFlag(nuke.SLIDER) and not cc["seed"].getFlag(nuke.SLIDER)  # no slider over 2^31


def test_a_result_older_than_its_upstream_is_flagged(session, tmp_path):
    filmai_nuke = session(gui=False, worker_process=False)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 5), width=32, height=16)
    other = write_sequence(str(tmp_path / "other"), "other", range(1, 5), width=32, height=16)
    read = read_node(src, 1, 4)
    group = new_group(filmai_nuke, "util.convert", read, tmp_path / "out")
    job = filmai_nuke.process(group)
    assert job.state == "done" and group["tile_color"].value() == 0
    nuke._update_ui()
    assert not filmai_nuke.check_stale(group)
    read["file"].setValue(other)  # upstream changed: Nuke's updateUI callback notices
    filmai_nuke.adapter._stale_checked.clear()
    nuke._update_ui()
    assert group["tile_color"].value() == filmai_nuke.adapter.STALE_COLOUR
    assert group["status"].value().startswith("STALE")
    read["file"].setValue(src)
    filmai_nuke.adapter._stale_checked.clear()
    nuke._update_ui()
    assert group["tile_color"].value() == 0 and not group["status"].value().startswith("STALE")
    group["data_window"].setValue("display")  # the node's own settings count too (knobChanged)
    assert group["tile_color"].value() == filmai_nuke.adapter.STALE_COLOUR


def test_training_shows_progress_and_the_preview_with_the_new_model(session, tmp_path):
    filmai_nuke = session(gui=True, worker_process=True)
    src = write_sequence(str(tmp_path / "src"), "src", range(1, 9), width=32, height=16, pixel_type="float")
    dst = str(tmp_path / "dst" / "dst.####.exr")
    for f in range(1, 9):
        write_exr(dst.replace("####", f"{f:04d}"), plate(f, 32, 16) * np.array([2.0, 0.5, 1.0, 1.0], np.float32),
                  pixel_type="float")
    group = new_group(filmai_nuke, "hoststest.gain", read_node(src, 1, 8), tmp_path / "out")
    group.setInput(1, read_node(dst, 1, 8))  # GroundTruth
    assert group.setInput(2, read_node(src, 1, 8))  # Preview: a frame outside the training set
    group["pair_frames"].setValue("2,4")
    group["steps"].setValue(6)
    group["step_seconds"].setValue(0.15)
    nuke.frame(7)
    group["startTraining"].execute()
    nuke._run_main_thread(lambda: job_state(group, "train") in ("done", "failed"), timeout=120)
    assert job_state(group, "train") == "done", group["status"].value()
    assert "step 6" in group["progress_text"].value() and "loss" in group["progress_text"].value()
    graph = group["progress_graph"].value().split('src="')[1].split('"')[0]
    import OpenImageIO as oiio

    spec = oiio.ImageInput.open(graph).spec()
    assert (spec.width, spec.height, spec.nchannels) == (360, 140, 3)
    assert "showing the Preview input with the new model" in group["status"].value()
    assert group["modelFile"].value().endswith(".ckpt")
    out, _ = nuke._render(group, 7)
    np.testing.assert_allclose(out, pixels(src.replace("####", "0007"))[:, :, :3] * [2.0, 0.5, 1.0], rtol=2e-3)


def test_a_worker_that_hangs_is_cancelled_without_freezing(session, tmp_path, monkeypatch):
    filmai_nuke = session(gui=True, worker_process=True)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 4), width=32, height=16)
    group = new_group(filmai_nuke, "util.convert", read_node(src, 1, 3), tmp_path / "out")
    slow_worker(tmp_path, monkeypatch, 600)  # never gets to run the node; nor to list its nodes
    cancel_at = []

    def cancel(task):
        if "running" in task.messages and not cancel_at:
            cancel_at.append(time.time())
        return bool(cancel_at) and time.time() - cancel_at[0] > 0.5

    nuke.ProgressTask._cancel_when = cancel
    start = len(nuke._main_stalls)
    group["process"].execute()
    nuke._run_main_thread(lambda: job_state(group) == "cancelled", timeout=30)
    assert time.time() - cancel_at[0] < 10  # SIGTERM ended the hung worker
    assert worst_stall(start)[0] < 0.1 and not nuke._messages


def test_cancel_while_a_hung_worker_is_asked_for_a_temporal_nodes_frames(session, tmp_path, monkeypatch):
    filmai_nuke = session(gui=True, worker_process=True)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 6), width=16, height=8)
    group = new_group(filmai_nuke, "util.temporal_median", read_node(src, 1, 5), tmp_path / "out")
    slow_worker(tmp_path, monkeypatch, 599)  # never answers which frames the node needs
    asked = []

    def cancel(task):
        if any(m.startswith("asking the node") for m in task.messages) and not asked:
            asked.append(time.time())
        return bool(asked) and time.time() - asked[0] > 0.5

    nuke.ProgressTask._cancel_when = cancel
    start = len(nuke._main_stalls)
    group["process"].execute()
    nuke._run_main_thread(lambda: job_state(group) == "cancelled", timeout=30)
    assert time.time() - asked[0] < 5 and "nothing was written" in group["status"].value()
    assert worst_stall(start)[0] < 0.1 and not nuke._messages
    assert not glob.glob(str(tmp_path / "out" / "**" / "*.exr"), recursive=True)
    deadline = time.time() + 5
    while time.time() < deadline and sleeping(599):
        time.sleep(0.05)
    assert not sleeping(599)  # the hung worker was ended with the cancel, not left behind


def sleeping(seconds):
    """Whether a `sleep SECONDS` process (a slow worker's) is still running."""
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            if open(cmdline, "rb").read().split(b"\0")[:2] == [b"sleep", str(seconds).encode()]:
                return True
        except OSError:
            pass
    return False


def test_a_model_made_for_other_channels_is_one_readable_error(session, tmp_path):
    import torch

    filmai_nuke = session(gui=False, worker_process=True)
    path = str(tmp_path / "four_channels.pt")
    torch.jit.save(torch.jit.script(torch.nn.Conv2d(4, 3, 3, padding=1).eval()), path)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 3), width=32, height=16)
    group = new_group(filmai_nuke, "cnn.torchscript", read_node(src, 1, 2), tmp_path / "out")
    group["modelFile"].setValue(path)
    with pytest.raises(filmai_nuke.JobFailed, match="to have 4 channels, but got 3") as err:
        filmai_nuke.process(group)
    assert "Traceback" not in str(err.value) and "to have 4 channels" in group["status"].value()
    assert job_state(group) == "failed"


def test_copycat_progress_tab_shows_loss_psnr_and_the_contact_sheet(session, tmp_path):
    filmai_nuke = session(gui=False, worker_process=False)  # a farm/terminal session, in process
    src = write_sequence(str(tmp_path / "src"), "src", range(1, 5), width=32, height=32)
    dst = str(tmp_path / "dst" / "dst.####.exr")
    for f in range(1, 5):
        write_exr(dst.replace("####", f"{f:04d}"), plate(f, 32, 32) * 0.5)
    group = new_group(filmai_nuke, "cnn.copycat", read_node(src, 1, 4), tmp_path / "out")
    assert group.setInput(1, read_node(dst, 1, 4))  # GroundTruth
    group["pair_frames"].setValue("1,2")
    for name, value in (("steps", 3), ("crop_size", 16), ("batch_size", 1), ("contact_sheet_interval", 1),
                        ("validation_interval", 1), ("threads", 1)):
        group[name].setValue(value)
    group["validation_frames"].setValue("3")
    job = filmai_nuke.train(group)
    assert job.state == "done", job.summary()
    text = group["progress_text"].value()
    assert text.startswith("step 3") and "validation PSNR" in text and "dB" in text
    sheet = group["contact_sheet"].value().split('src="')[1].split('"')[0]
    assert os.path.basename(sheet) == "contact_000003.png" and os.path.isfile(sheet)
    assert os.path.isfile(group["progress_graph"].value().split('src="')[1].split('"')[0])


def test_a_worker_that_prints_garbage_or_dies_is_one_clear_error(session, tmp_path, monkeypatch):
    filmai_nuke = session(gui=False, worker_process=True)
    src = write_sequence(str(tmp_path / "plates"), "plate", range(1, 3), width=32, height=16)
    group = new_group(filmai_nuke, "util.convert", read_node(src, 1, 2), tmp_path / "out")
    garbage, dying = tmp_path / "garbage_python", tmp_path / "dying_python"
    garbage.write_text('#!/bin/sh\necho "~~~ not json ~~~"\nexit 0\n')
    dying.write_text('#!/bin/sh\necho "worker: libcudnn.so.8: cannot open shared object file" >&2\nexit 3\n')
    for path in (garbage, dying):
        path.chmod(0o755)
    monkeypatch.setenv("FILMAI_PYTHON", str(garbage))
    with pytest.raises(filmai_nuke.JobFailed, match="exited without running the job.*not json"):
        filmai_nuke.process(group)
    monkeypatch.setenv("FILMAI_PYTHON", str(dying))
    with pytest.raises(filmai_nuke.JobFailed, match="libcudnn.so.8") as err:
        filmai_nuke.process(group)
    assert err.value.exit_code == 3 and job_state(group) == "failed"
    monkeypatch.setenv("FILMAI_PYTHON", str(garbage))
    with pytest.raises(filmai_nuke.worker.WorkerError, match="not JSON"):
        filmai_nuke.reload_nodes()  # a terminal session asks and waits; the error names the problem
    assert not glob.glob(str(tmp_path / "out" / "**" / "*.exr"), recursive=True)
