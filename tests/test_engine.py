"""The engine: runs, manifests, provenance, skip-existing, cancel, failures, bad input, tiling, progress."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import filmai_plugins as fa
from filmai_plugins.engine import CancelToken, apply_tiled
from filmai_plugins.errors import BadInput, Cancelled, FrameError
from filmai_plugins.frames import read_frame, read_header, read_provenance
from filmai_plugins.manifest import read_manifest
from helpers import plate, write_exr, write_sequence

TESTS = os.path.dirname(__file__)


def cli(*args, env=None, **kw):
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join([TESTS, full.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "filmai_plugins", *args], capture_output=True, text=True, env=full, **kw)


def leftovers(folder):
    return [p for p in os.listdir(folder) if p.startswith(".")]


# ----- a normal run -------------------------------------------------------------------------------

def test_run_writes_frames_manifest_and_provenance(tmp_path, sequence):
    out = str(tmp_path / "out" / "conv.####.exr")
    m = fa.run("util.convert", input=sequence, output=out, io={"compression": "dwab", "pixel_type": "float"})
    assert m["status"] == "complete" and m["frames"] == "1001-1004"
    assert m["outputs"]["output"]["frames_written"] == "1001-1004"
    assert m["node"] == {"id": "util.convert", "version": "1.1.0", "family": "util"}
    assert os.path.basename(m["manifest_path"]) == "conv.1001-1004.manifest.json"
    on_disk = read_manifest(m["manifest_path"])
    assert on_disk["params_hash"] == m["params_hash"] and on_disk["versions"]["filmai_plugins"] == fa.__version__
    for key in ("wall_s", "read_s", "compute_s", "write_s"):
        assert on_disk["timings"][key] >= 0
    h = read_header(out.replace("####", "1002"))
    assert h.attributes["compression"] == "dwab" and h.pixel_types == ["float"] * 4
    prov = read_provenance(out.replace("####", "1002"))
    assert prov["node"] == "util.convert" and prov["frame"] == "1002" and prov["paramsHash"] == m["params_hash"]
    assert json.loads(prov["params"]) == {"channels": "", "data_window": "keep"}
    assert leftovers(tmp_path / "out") == []


def test_frames_spec_and_step(tmp_path, sequence):
    out = str(tmp_path / "o.####.exr")
    m = fa.run("util.convert", input=sequence, output=out, frames="1001-1004x2")
    assert sorted(glob.glob(str(tmp_path / "o.*.exr"))) == [str(tmp_path / "o.1001.exr"), str(tmp_path / "o.1003.exr")]
    assert m["outputs"]["output"]["count"] == 2


def test_convert_data_window_modes(tmp_path):
    pix = np.zeros((20, 30, 3), np.float32)
    pix[5:8, 10:14] = 1.0
    src = write_exr(str(tmp_path / "in.0001.exr"), pix, pixel_type="float", data_window=(2, 3),
                    display_window=(0, 0, 40, 30))
    pattern = str(tmp_path / "in.####.exr")
    fa.run("util.convert", input=pattern, output=str(tmp_path / "auto.####.exr"), data_window="autocrop")
    f = read_frame(str(tmp_path / "auto.0001.exr"))
    assert f.data_window == (12, 8, 4, 3) and f.display_window == (0, 0, 40, 30) and f.pixels.min() == 1.0
    fa.run("util.convert", input=pattern, output=str(tmp_path / "disp.####.exr"), data_window="display")
    g = read_frame(str(tmp_path / "disp.0001.exr"))
    assert g.data_window == (0, 0, 40, 30)
    np.testing.assert_array_equal(g.pixels[3:23, 2:32], read_frame(src).pixels)


def test_channel_selection_in_convert(tmp_path, sequence):
    fa.run("util.convert", input=sequence, output=str(tmp_path / "a.####.exr"), channels="A,R")
    # EXR stores channels by name (no order); OpenImageIO lists R, G, B, A first
    assert read_header(str(tmp_path / "a.1001.exr")).channels == ["R", "A"]


# ----- skip-existing --------------------------------------------------------------------------------

def test_skip_existing_resumes_exactly(tmp_path, sequence):
    out = str(tmp_path / "o.####.exr")
    fa.run("util.convert", input=sequence, output=out)
    m = fa.run("util.convert", input=sequence, output=out, skip_existing=True)
    assert m["outputs"]["output"]["frames_skipped"] == "1001-1004" and m["outputs"]["output"]["count"] == 0
    # a truncated frame and a frame made with other params are redone; the rest are kept
    p2 = out.replace("####", "1002")
    data = open(p2, "rb").read()
    open(p2, "wb").write(data[: len(data) // 2])
    fa.run("util.convert", input=sequence, output=str(tmp_path / "other.####.exr"), data_window="display")
    os.replace(str(tmp_path / "other.1003.exr"), out.replace("####", "1003"))
    m = fa.run("util.convert", input=sequence, output=out, skip_existing=True)
    assert m["outputs"]["output"]["frames_written"] == "1002-1003"
    assert m["outputs"]["output"]["frames_skipped"] == "1001,1004"
    read_frame(p2)  # complete again


def test_skip_existing_sees_param_changes(tmp_path, sequence):
    out = str(tmp_path / "o.####.exr")
    fa.run("util.convert", input=sequence, output=out)
    m = fa.run("util.convert", input=sequence, output=out, skip_existing=True, io={"compression": "piz"})
    assert m["outputs"]["output"]["count"] == 4  # other I/O options → other frames


# ----- cancel and failures ------------------------------------------------------------------------

def test_ctrl_c_stops_cleanly_with_no_partial_frame(tmp_path):
    src = write_sequence(str(tmp_path / "in"), frames=range(1, 9), width=256, height=256)
    out = tmp_path / "out"
    r = cli("run", "test.slow", "-i", src, "-o", str(out / "s.####.exr"), "--set", "seconds=0.2",
            "--set", "cancel_after=3", "--progress", "json", env={"FILMAI_PLUGIN_MODULES": "registry_packs.cancel_pack"})
    assert r.returncode == 130, r.stderr
    assert "cancelled" in r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "cancelled"
    written = sorted(os.listdir(out))
    frames = [f for f in written if f.endswith(".exr")]
    # the signal stops the third frame's compute at once; the two before it were written (or finish writing)
    assert 2 <= len(frames) < 8
    assert leftovers(out) == []
    for f in frames:
        read_frame(str(out / f))  # every frame on disk is complete
    manifest = read_manifest(str(out / "s.1-8.manifest.json"))
    assert manifest["status"] == "cancelled"
    assert manifest["outputs"]["output"]["count"] == len(frames)
    # and a rerun with --skip-existing completes only what is missing
    r2 = cli("run", "test.slow", "-i", src, "-o", str(out / "s.####.exr"), "--set", "seconds=0",
             "--skip-existing", env={"FILMAI_PLUGIN_MODULES": "registry_packs.cancel_pack"})
    assert r2.returncode == 0, r2.stderr
    assert len([f for f in os.listdir(out) if f.endswith(".exr")]) == 8


def test_cancel_token_from_a_host(tmp_path, monkeypatch):
    sequence = write_sequence(str(tmp_path / "in"), frames=range(1, 11))
    monkeypatch.setenv("FILMAI_PLUGIN_MODULES", "registry_packs.cancel_pack")
    from filmai_plugins.app import set_default_app

    set_default_app(None)
    token = CancelToken()

    def on_event(e):
        if e["event"] == "frame" and e["done"] == 2:
            token.cancel("artist pressed cancel")

    with pytest.raises(Cancelled, match="artist pressed cancel"):
        fa.run("test.slow", input=sequence, output=str(tmp_path / "o.####.exr"), seconds=0.05, cancel=token,
               on_event=on_event)
    frames = sorted(glob.glob(str(tmp_path / "o.*.exr")))
    assert 2 <= len(frames) < 10 and leftovers(tmp_path) == []


def test_node_failure_is_exit_1_and_keeps_complete_frames(tmp_path, sequence):
    r = cli("run", "test.fail_on", "-i", sequence, "-o", str(tmp_path / "f.####.exr"), "--set", "frame=1003",
            env={"FILMAI_PLUGIN_MODULES": "registry_packs.cancel_pack"})
    assert r.returncode == 1
    assert "ZeroDivisionError: simulated failure" in r.stderr
    m = read_manifest(str(tmp_path / "f.1001-1004.manifest.json"))
    assert m["status"] == "failed" and "simulated failure" in m["error"]
    assert not os.path.exists(tmp_path / "f.1003.exr") and leftovers(tmp_path) == []
    for f in glob.glob(str(tmp_path / "f.*.exr")):
        read_frame(f)


# ----- bad input ---------------------------------------------------------------------------------

def test_missing_frames_exit_2(tmp_path, sequence):
    r = cli("run", "util.convert", "-i", sequence, "-o", str(tmp_path / "o.####.exr"), "-f", "1001-1006")
    assert r.returncode == 2 and "2 of 6 frames missing: 1005-1006" in r.stderr and "plate.####.exr" in r.stderr
    assert not glob.glob(str(tmp_path / "o.*"))


def test_corrupt_frame_mid_sequence(tmp_path, sequence):
    bad = sequence.replace("####", "1003")
    open(bad, "wb").write(open(bad, "rb").read()[:300])
    r = cli("run", "util.convert", "-i", sequence, "-o", str(tmp_path / "o.####.exr"))
    assert r.returncode == 2 and "plate.1003.exr (frame 1003)" in r.stderr
    assert not os.path.exists(tmp_path / "o.1003.exr") and leftovers(tmp_path) == []


def test_mixed_resolutions(tmp_path):
    folder = str(tmp_path / "in")
    write_sequence(folder, frames=[1, 2])
    write_exr(os.path.join(folder, "plate.0003.exr"), plate(3, 64, 48))
    with pytest.raises(FrameError, match=r"plate.0003.exr \(frame 3\): mixed resolutions: display window 64x48 but frame 1 is 96x64"):
        fa.run("util.convert", input=os.path.join(folder, "plate.####.exr"), output=str(tmp_path / "o.####.exr"))


def test_output_that_would_overwrite_the_input(tmp_path, sequence):
    r = cli("run", "util.convert", "-i", sequence, "-o", sequence.replace("####", "%04d"))
    assert r.returncode == 2 and "would overwrite frame 1001 of the input" in r.stderr


def test_unwritable_output_folder(tmp_path, sequence):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    r = cli("run", "util.convert", "-i", sequence, "-o", str(blocker / "o.####.exr"))
    assert r.returncode == 2 and "cannot create output folder" in r.stderr


@pytest.mark.parametrize("args,msg", [
    (["--set", "data_window=sideways"], "expected one of keep, display, autocrop"),
    (["--set", "nosuch=1"], "unknown param 'nosuch'"),
    (["--set", "novalue"], "--set expects NAME=VALUE"),
    (["--tile-size", "8"], "below the minimum 64"),
])
def test_bad_params_exit_2(tmp_path, sequence, args, msg):
    r = cli("run", "util.convert", "-i", sequence, "-o", str(tmp_path / "o.####.exr"), *args)
    assert r.returncode == 2 and msg in r.stderr, r.stderr
    assert not glob.glob(str(tmp_path / "o.*"))


def test_bad_usage_exit_2(sequence):
    r = cli("run", "util.convert", "-i", sequence)
    assert r.returncode == 2 and "needs output output" in r.stderr
    assert cli("run").returncode == 2
    assert cli("frobnicate").returncode == 2


def test_unknown_part_layer_channel_exit_2(tmp_path, sequence):
    for flag, value, msg in (("--part", "beauty", "no part named 'beauty'"),
                             ("--layer", "diffuse", "no layer 'diffuse'"),
                             ("--set", "channels=R,Q", "no channel 'Q'")):
        r = cli("run", "util.convert", "-i", sequence, "-o", str(tmp_path / "o.####.exr"), flag, value)
        assert r.returncode == 2 and msg in r.stderr and "plate.1001.exr (frame 1001)" in r.stderr, r.stderr


def test_nonfinite_input_to_a_network_node(tmp_path, jit_model):
    pix = plate(1, 32, 32)
    pix[4, 5, 0] = np.nan
    write_exr(str(tmp_path / "in.0001.exr"), pix, pixel_type="float")
    pattern = str(tmp_path / "in.####.exr")
    with pytest.raises(FrameError, match=r"in.0001.exr \(frame 1\): 1 NaN/Inf pixel values"):
        fa.run("cnn.torchscript", input=pattern, output=str(tmp_path / "o.####.exr"), model=jit_model)
    m = fa.run("cnn.torchscript", input=pattern, output=str(tmp_path / "o.####.exr"), model=jit_model,
               io={"nonfinite": "zero"})
    assert m["status"] == "complete"
    # the converter passes NaN through untouched
    fa.run("util.convert", input=pattern, output=str(tmp_path / "c.####.exr"))
    assert np.isnan(read_frame(str(tmp_path / "c.0001.exr")).pixels[4, 5, 0])


# ----- progress --------------------------------------------------------------------------------------

def test_progress_json_lines(tmp_path, sequence):
    r = cli("run", "util.convert", "-i", sequence, "-o", str(tmp_path / "o.####.exr"), "--progress", "json")
    assert r.returncode == 0
    events = [json.loads(line) for line in r.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("frame") == 4
    assert events[0]["total"] == 4 and events[-1]["manifest"].endswith("o.1001-1004.manifest.json")
    assert sorted(e["frame"] for e in events if e["event"] == "frame") == [1001, 1002, 1003, 1004]
    assert events[-2]["done"] == 4


def test_util_run_does_not_import_torch(tmp_path, sequence):
    code = ("import sys, filmai_plugins as fa; fa.run('util.convert', input=sys.argv[1], output=sys.argv[2]);"
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, sequence, str(tmp_path / "o.####.exr")], capture_output=True,
                       text=True, check=True)
    assert r.stdout.strip() == "False"


# ----- tiling --------------------------------------------------------------------------------------

def _conv_net(receptive_layers=4):
    import torch

    torch.manual_seed(0)
    layers = []
    for i in range(receptive_layers):
        layers += [torch.nn.Conv2d(3 if i == 0 else 8, 8 if i < receptive_layers - 1 else 3, 3, padding=1)]
        if i < receptive_layers - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


@pytest.mark.parametrize("align,scale,batch", [(1, 1, 1), (4, 1, 3), (1, 2, 2)])
def test_tiling_is_seamless(align, scale, batch):
    import torch

    net = _conv_net()  # receptive field 4 px each side

    def fn(x):
        with torch.no_grad():
            y = net(torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
        return np.repeat(np.repeat(y, scale, 1), scale, 2)

    img = np.random.default_rng(0).random((300, 517, 3)).astype(np.float32) * 4
    whole = fn(img[None])[0]
    tiled = apply_tiled(fn, img, tile=96, receptive_field=4, align=align, batch=batch, scale=scale)
    assert tiled.shape == whole.shape
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


@pytest.mark.parametrize("scale", [1, 2])
def test_dihedral_mean_is_equivariant_and_keeps_what_already_is(scale):
    import torch

    from filmai_plugins.engine.ensemble import dihedral_mean

    net = _conv_net()

    def fn(x):  # a network plus a position-dependent term: not equivariant on its own
        y = torch.nn.functional.interpolate(net(x), scale_factor=scale, mode="nearest")
        return y + torch.linspace(0, 1, y.shape[-1])

    x = torch.from_numpy(np.random.default_rng(1).random((2, 3, 9, 13)).astype(np.float32))  # not square
    with torch.no_grad():
        out = dihedral_mean(fn, x)
        assert out.shape == (2, 3, 9 * scale, 13 * scale)
        torch.testing.assert_close(dihedral_mean(fn, torch.rot90(x, 1, (2, 3))), torch.rot90(out, 1, (2, 3)))
        torch.testing.assert_close(dihedral_mean(fn, torch.flip(x, (2,))), torch.flip(out, (2,)))
        assert not torch.allclose(out, fn(x), atol=1e-3)
        # an operation that is already equivariant comes back unchanged
        torch.testing.assert_close(dihedral_mean(lambda t: 2 * t, x), 2 * x)


def test_tile_size_too_small_for_receptive_field():
    with pytest.raises(ValueError, match="too small"):
        apply_tiled(lambda x: x, np.zeros((300, 300, 1), np.float32), tile=64, receptive_field=30)


@pytest.fixture
def jit_model(tmp_path):
    import torch

    path = str(tmp_path / "net.pt")
    torch.jit.script(_conv_net()).save(path)
    return path


def test_torchscript_node_tiled_equals_whole_frame(tmp_path, jit_model):
    img = plate(7, 300, 200, 4)
    write_exr(str(tmp_path / "in.0007.exr"), img, pixel_type="float")
    pattern = str(tmp_path / "in.####.exr")
    fa.run("cnn.torchscript", input=pattern, output=str(tmp_path / "whole.####.exr"), model=jit_model,
           receptive_field=4, io={"pixel_type": "float"})
    fa.run("cnn.torchscript", input=pattern, output=str(tmp_path / "tiled.####.exr"), model=jit_model,
           receptive_field=4, io={"pixel_type": "float", "tile_size": 64})
    whole = read_frame(str(tmp_path / "whole.0007.exr"))
    tiled = read_frame(str(tmp_path / "tiled.0007.exr"))
    assert whole.channels == ["R", "G", "B", "A"]  # alpha passed through
    np.testing.assert_allclose(tiled.pixels, whole.pixels, atol=1e-5)
    np.testing.assert_array_equal(whole.pixels[:, :, 3], img[:, :, 3])


def test_device_requests():
    from filmai_plugins.engine.device import resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda", "mps")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(BadInput, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(BadInput, match="unknown device"):
        resolve_device("tpu")


# ----- logs, checksums, time code (the records a pipeline reads) -----------------------------------

def test_warnings_reach_stderr_without_a_bar_and_the_manifest(tmp_path):
    rng = np.random.default_rng(3)
    for f in (1, 2):
        write_exr(str(tmp_path / "in" / f"r.{f:04d}.exr"), rng.uniform(0, 1, (40, 48, 3)).astype(np.float32),
                  ["R", "G", "B"])
    out = tmp_path / "out"
    r = cli("run", "cnn.denoise", "-i", str(tmp_path / "in" / "r.####.exr"), "-o", str(out / "d.####.exr"),
            "--progress", "none")
    assert r.returncode == 0, r.stderr
    assert "filmai: WARNING: cnn.denoise: no albedo or normal pass" in r.stderr
    manifest = read_manifest(str(out / "d.1-2.manifest.json"))
    assert any("no albedo or normal pass" in w for w in manifest["warnings"])
    quiet = cli("--log-level", "error", "run", "cnn.denoise", "-i", str(tmp_path / "in" / "r.####.exr"),
                "-o", str(tmp_path / "q" / "d.####.exr"), "--progress", "none")
    assert quiet.returncode == 0 and "WARNING" not in quiet.stderr


def test_manifest_records_each_frames_checksum_and_the_plates_timecode(tmp_path):
    from filmai_plugins.files import file_sha256

    import OpenImageIO as oiio

    from helpers import bcd_timecode

    for f in (1001, 1002):  # time code = frame number at 24 fps: 1001 is 00:00:41:17
        write_exr(str(tmp_path / "in" / f"p.{f:04d}.exr"), plate(f, 16, 8),
                  attributes={"smpte:TimeCode": (oiio.TypeTimeCode, (bcd_timecode(f), 0)),
                              "FramesPerSecond": (oiio.TypeRational, (24, 1))})
    out = tmp_path / "out" / "c.####.exr"
    m = fa.run("util.convert", input=str(tmp_path / "in" / "p.####.exr"), output=str(out))
    sums = m["outputs"]["output"]["checksums"]
    assert sums == {str(f): file_sha256(str(out).replace("####", str(f))) for f in (1001, 1002)}
    assert m["timecode"] == {"timecode": "00:00:41:17", "fps": 24.0, "frame": 1001}


def test_openjd_progress_never_runs_backwards_and_failures_are_reported(capsys):
    from filmai_plugins.engine.progress import Progress
    from filmai_plugins.farm.pack import _OpenJDProgress

    printer = _OpenJDProgress()
    p = Progress("none", node="lstm.cuts", observers=printer)
    p.start(total=1, unit="step")
    for stage, index in (("read", 0), ("analyse", 1)):
        for step in (1, 2):
            p.step(step, 2, stage=stage, stage_index=index, stage_count=2)
    p.error("frame 12: corrupt\nsecond line", 2)
    lines = capsys.readouterr().out.splitlines()
    values = [float(line.split(": ")[1]) for line in lines if line.startswith("openjd_progress")]
    assert values == sorted(values) and values[-1] == 100.0 and values == [25.0, 50.0, 75.0, 100.0]
    assert "openjd_status: lstm.cuts: analyse (2/2)" in lines
    assert lines[-1] == "openjd_fail: frame 12: corrupt second line"


def test_an_out_of_memory_failure_says_what_to_try():
    from filmai_plugins.engine.runner import _hint

    class Ctx:
        device = "cuda:0"

        class io:  # noqa: N801
            tile_size = 1024

    assert "lower --tile-size (now 1024)" in _hint(RuntimeError("CUDA out of memory. Tried to allocate"), Ctx)
    assert _hint(ValueError("shape"), Ctx) == ""
