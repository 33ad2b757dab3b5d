"""The worker client both DCC adapters share (hosts/worker.py) and the ``filmai timeline`` tools.

Jobs run for real: in a worker process (``python -m filmai_plugins run ... --progress json``) and in
process on a thread. This module is also a small node pack (``FILMAI_PLUGIN_MODULES=test_worker``) used
by the Blender and Nuke tests: ``hoststest.gain`` (trainable: learns a per-channel gain from pairs) and
``hoststest.cuts`` (Frames in, OTIO timeline out: the documented ``lstm.cuts`` contract, with a plain
mean-difference detector).
"""
from __future__ import annotations

import glob
import importlib.util
import json
import os
import sys
import time

import numpy as np
import pytest

from filmai_plugins import Node, Param, Port, hookimpl
from helpers import write_otio

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
# hosts/worker.py by file (standard library only, the copy the DCCs carry). Not by putting hosts/ on
# sys.path: that folder's module names would shadow real packages for every later test.
_spec = importlib.util.spec_from_file_location("worker", os.path.join(REPO, "hosts", "worker.py"))
worker = importlib.util.module_from_spec(_spec)
sys.modules["worker"] = worker
_spec.loader.exec_module(worker)

PACKS = "test_worker,registry_packs.cancel_pack,mystudio_filmai.pack"


# ----- the host-test node pack ----------------------------------------------------------------------


class GainNode(Node):
    """Multiply RGB by a learnt per-channel gain raised to ``strength``; train it from (input, target) pairs."""

    id = "hoststest.gain"
    family = "util"
    label = "Gain (host test)"
    inputs = (Port("input", "Frames"),)
    outputs = (Port("output", "Frames"),)
    params = (Param("strength", "float", 1.0, min=0, max=4, soft_max=2, help="exponent of the gain"),
              Param("tint", "color", (1.0, 1.0, 1.0), help="extra multiplier"),
              Param("steps", "int", 5, min=1, max=1000, stage="train"),
              Param("step_seconds", "float", 0.0, min=0, max=5, stage="train"))
    trainable = True
    model = "optional"

    def setup(self, ctx):
        self.gain = ctx.model.tensors["gain"] if ctx.model is not None else np.ones(3, np.float32)

    def process(self, frame, ctx):
        rgb = frame.select(["R", "G", "B"]) * self.gain ** self.params["strength"] * np.array(self.params["tint"])
        return frame.with_pixels(rgb.astype(np.float32), ["R", "G", "B"])

    @classmethod
    def train(cls, ctx):
        ratios = []
        for f in ctx.frames:
            x = ctx.read_input(f).select(["R", "G", "B"])
            y = ctx.read_target(f).select(["R", "G", "B"])
            ratios.append((x * y).sum(axis=(0, 1)) / (x * x).sum(axis=(0, 1)))
        gain = np.mean(ratios, axis=0).astype(np.float32)
        steps = ctx.params["steps"]
        for step in range(1, steps + 1):
            ctx.check_cancel()
            time.sleep(ctx.params["step_seconds"])
            ctx.progress.step(step, steps, loss=float(np.std(ratios)) / step)
        ctx.save_checkpoint({"gain": gain}, {"frames": list(ctx.frames)})


class CutsNode(Node):
    """Cuts where the mean RGB jumps by more than ``threshold``; one OTIO clip per shot, a marker with the
    confidence on each cut (the timeline lstm.cuts writes)."""

    id = "hoststest.cuts"
    family = "lstm"
    label = "Cuts (host test)"
    scope = "sequence"
    inputs = (Port("input", "Frames"),)
    outputs = (Port("output", "Timeline"),)
    params = (Param("threshold", "float", 0.2, min=0, max=10),)

    def run_sequence(self, ctx):
        import opentimelineio as otio

        frames = ctx.frames
        means = []
        for i, f in enumerate(frames):
            means.append(float(ctx.read_input(f).select(["R", "G", "B"]).mean()))
            ctx.progress.step(i + 1, len(frames))
        jumps = [abs(means[i] - means[i - 1]) for i in range(1, len(means))]
        starts = [0] + [i for i in range(1, len(frames)) if jumps[i - 1] > self.params["threshold"]]
        tl = otio.schema.Timeline(name=os.path.basename(ctx.input_path()))
        track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
        tl.tracks.append(track)
        for n, a in enumerate(starts):
            b = starts[n + 1] if n + 1 < len(starts) else len(frames)
            rng = otio.opentime.TimeRange(otio.opentime.RationalTime(frames[a], 24),
                                          otio.opentime.RationalTime(b - a, 24))
            clip = otio.schema.Clip(name=f"sh{(n + 1) * 10:04d}", source_range=rng)
            if a:
                conf = min(1.0, jumps[a - 1] / (4 * self.params["threshold"]))
                clip.metadata["hoststest"] = {"confidence": conf}
                clip.markers.append(otio.schema.Marker(
                    name=f"cut {conf:.2f}", marked_range=otio.opentime.TimeRange(rng.start_time,
                                                                                 otio.opentime.RationalTime(0, 24))))
            track.append(clip)
        with ctx.atomic_output() as fh:
            fh.write(otio.adapters.write_to_string(tl, "otio_json"))


@hookimpl
def filmai_register_nodes(registry):
    registry.add(GainNode)
    registry.add(CutsNode)


# ----- helpers --------------------------------------------------------------------------------------


def process_config(**kw) -> worker.WorkerConfig:
    """A worker process in this venv, seeing the test packs (what a DCC with its own Python does)."""
    env = {"FILMAI_PLUGIN_MODULES": PACKS, "PYTHONPATH": TESTS}
    return worker.WorkerConfig(python=sys.executable, mode="process", env=env, **kw)


@pytest.fixture
def packs(monkeypatch):
    monkeypatch.setenv("FILMAI_PLUGIN_MODULES", PACKS)


def read_pixels(path):
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(path)
    return np.asarray(buf.get_pixels(oiio.FLOAT)), list(buf.spec().channelnames)


def leftovers(folder):
    return [p for p in glob.glob(os.path.join(folder, "**", ".*"), recursive=True) if p.endswith(".tmp")
            or ".tmp" in os.path.basename(p)]


# ----- pure parts -----------------------------------------------------------------------------------

SCHEMA_NODE = {
    "id": "x.node", "label": "X", "params": [
        {"name": "gain", "type": "float", "default": 1.0, "min": 0, "max": 4, "stage": "run"},
        {"name": "count", "type": "int", "default": 3, "min": 1, "max": 9, "stage": "both"},
        {"name": "flag", "type": "bool", "default": False, "stage": "run"},
        {"name": "mode", "type": "enum", "default": "a", "choices": ["a", "b"], "stage": "run"},
        {"name": "tint", "type": "color", "default": [1, 1, 1], "size": 3, "stage": "run"},
        {"name": "steps", "type": "int", "default": 10, "min": 1, "max": None, "stage": "train"}],
    "inputs": [{"name": "input", "type": "Frames"}], "outputs": [{"name": "output", "type": "Frames"}]}
IO = [{"name": "compression", "type": "enum", "default": "keep", "choices": ["keep", "zip", "piz"]},
      {"name": "tile_size", "type": "int", "default": 1024, "min": 64, "max": 16384}]


def test_job_spec_builds_the_documented_command_line():
    spec = worker.JobSpec.from_values(
        SCHEMA_NODE, "run", {"gain": 2, "count": 4, "flag": True, "mode": "b", "tint": (0.5, 1, 2), "steps": 99},
        IO, {"compression": "piz", "tile_size": 1024}, inputs={"input": "/p/plate.####.exr"},
        outputs={"output": "/o/out.####.exr"}, frames="1001-1010x2", device="cpu", model="/m/x.ckpt")
    assert spec.params == {"gain": "2.0", "count": "4", "flag": "true", "mode": "b", "tint": "0.5,1.0,2.0"}
    assert spec.io == {"compression": "piz"}  # defaults stay implicit: the engine's own default applies
    assert spec.argv() == ["run", "x.node", "--input", "input=/p/plate.####.exr", "--output", "output=/o/out.####.exr",
                           "--frames", "1001-1010x2", "--set", "gain=2.0", "--set", "count=4", "--set", "flag=true",
                           "--set", "mode=b", "--set", "tint=0.5,1.0,2.0", "--compression", "piz", "--model",
                           "/m/x.ckpt", "--device", "cpu", "--progress", "json"]
    assert spec.command_line(worker.WorkerConfig(python="/v/bin/python")).startswith(
        "/v/bin/python -m filmai_plugins run x.node --input 'input=/p/plate.####.exr'")
    assert worker.JobSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    train = worker.JobSpec.from_values(SCHEMA_NODE, "train", {"count": 2, "steps": 7, "gain": 3}, inputs={"input": "a"},
                                       target="b", out="c.ckpt", frames="1,5")
    assert train.params == {"count": "2", "steps": "7"}  # run-only params are not training params
    assert train.argv()[:8] == ["train", "x.node", "--input", "input=a", "--target", "b", "--out", "c.ckpt"]


def test_values_are_checked_against_the_schema_before_a_job_starts():
    with pytest.raises(worker.WorkerError) as err:
        worker.JobSpec.from_values(SCHEMA_NODE, "run", {"gain": 5.0, "count": 1.5, "mode": "c", "tint": (1, 1)})
    text = str(err.value)
    for expected in ("'gain': 5.0 is above the maximum 4", "'count'", "expected one of a, b", "'tint'"):
        assert expected in text
    p = SCHEMA_NODE["params"][0]
    assert worker.check_value(p, "0.5") == 0.5
    with pytest.raises(ValueError, match="below the minimum"):
        worker.check_value(p, -1)
    with pytest.raises(ValueError, match="finite"):
        worker.check_value(p, float("nan"))
    assert worker.check_value({"name": "b", "type": "bool"}, "on") is True


def test_frames_and_sequence_paths():
    assert worker.expand_frames("1001-1004,1010,1-9x2") == [1001, 1002, 1003, 1004, 1010, 1, 3, 5, 7, 9]
    assert worker.format_frames([5, 1, 2, 3, 9, 10]) == "1-3,5,9-10"
    with pytest.raises(ValueError, match="bad frame spec"):
        worker.expand_frames("10-x")
    assert worker.sequence_path("/a/p.####.exr", 12) == "/a/p.0012.exr"
    assert worker.sequence_path("/a/p.%05d.exr", 12) == "/a/p.00012.exr"
    assert worker.pattern_from_file("/x/plate_v2.1001.exr") == ("/x/plate_v2.####.exr", 1001)
    assert worker.pattern_from_file("/x/still.exr") == ("/x/still.exr", None)


MIX = {"name": "mix", "type": "float", "min": 0.0, "max": 1.0, "animatable": True}


def test_a_dcc_curve_sampled_per_frame_becomes_keys():
    """Every frame's value survives exactly; only samples the straight line between kept keys gives back
    are dropped (a linear curve keeps its ends), and a flat curve is one plain value."""
    import math

    from filmai_plugins.schema import Keys

    frames = range(1001, 1101)
    linear = [(f, (f - 1001) / 99) for f in frames]
    keys = worker.keys_from_samples(MIX, linear)
    assert isinstance(keys, Keys) and keys.frames == [1001, 1100]
    eased = [(f, 0.5 - 0.5 * math.cos(math.pi * (f - 1001) / 99)) for f in frames]
    held = [(f, 0.2 if f < 1050 else 0.8) for f in frames]  # a stepped curve: two flat stretches
    ramp_then_flat = [(f, min(1.0, (f - 1001) / 20)) for f in frames]
    for samples in (eased, held, ramp_then_flat, linear):
        keys = worker.keys_from_samples(MIX, samples)
        for f, value in samples:
            assert keys.at(f) == pytest.approx(value, abs=1e-9), f
    assert len(worker.keys_from_samples(MIX, eased).keys) == 100  # bends at every frame: a key each
    assert worker.keys_from_samples(MIX, held).frames == [1001, 1049, 1050, 1100]
    assert worker.keys_from_samples(MIX, ramp_then_flat).frames == [1001, 1021, 1100]
    assert worker.keys_from_samples(MIX, [(f, 0.25) for f in frames]) == 0.25
    assert worker.keys_from_samples(MIX, [(7, 0.5)]) == 0.5
    # ints: keys that round to every sample; colours: every component
    count = {"name": "count", "type": "int", "min": -10, "max": 10, "animatable": True}
    steps = [(f, round(10 * math.sin(f / 5))) for f in range(40)]
    keys = worker.keys_from_samples(count, steps)
    assert [keys.at(f, "int") for f, _ in steps] == [v for _, v in steps]
    tint = {"name": "tint", "type": "color", "size": 3, "animatable": True}
    colours = [(f, (1.0, f / 10, 0.5 + (f % 2) * 0.25)) for f in range(11)]
    keys = worker.keys_from_samples(tint, colours)
    for f, value in colours:
        assert keys.at(f, "color") == pytest.approx(value)
    assert worker.format_value(tint, keys).startswith("0:1.0 0.0 0.5;1:1.0 0.1 0.75;")
    # a curve leaving the hard range: the param, the value and the first frame out
    with pytest.raises(worker.WorkerError, match=r"'mix': 1.1 is above the maximum 1.0 \(at frame 11 "):
        worker.keys_from_samples(MIX, [(f, f / 10) for f in range(13)])


def test_handle_frames_to_stage_for_a_temporal_node():
    # the job's frames and their neighbours, clamped to what the input provides
    assert worker.with_handles([1004, 1005], range(1002, 1008), 1001, 1012) == list(range(1002, 1008))
    assert worker.with_handles([5, 6], range(3, 9), 5, 100) == [5, 6, 7, 8, 9, 10]  # 3-4 cut off: 9-10 staged
    assert worker.with_handles([1, 2], range(-1, 5), 1, 3) == [1, 2, 3]  # a short input stays short
    assert worker.with_handles([10], [10], 1, 20) == [10]
    assert {7, 8} <= set(worker.with_handles([7, 8], range(5, 11), 1, 6))  # beyond the input: Nuke's Read says so
    assert worker.describe_handles({"frames_needed": {"read": "1-8", "outside_range": "1-2", "clamped": "-1-0"}}) == (
        "input frames 1-8 read for the node's windows (1-2 beyond the frames made); -1-0 not in the input "
        "(windows shortened at its ends)")
    assert worker.describe_handles({}) == ""


def test_frames_needed_comes_from_the_node_where_it_runs(packs):
    spec = worker.JobSpec(node="util.temporal_median", frames="1001-1003,1010", params={"window": "5"})
    assert worker.frames_needed(worker.WorkerConfig(mode="in_process"), spec) == list(range(999, 1006)) + list(
        range(1008, 1013))
    spec = worker.JobSpec(node="mystudio.trail", frames="10", params={"length": "3", "amount": "1:0,20:1"})
    assert worker.frames_needed(process_config(), spec) == [7, 8, 9, 10]
    with pytest.raises(worker.WorkerError, match="'window'"):
        worker.frames_needed(worker.WorkerConfig(mode="in_process"),
                             worker.JobSpec(node="util.temporal_median", frames="1", params={"window": "x"}))


def test_worker_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/dcc/own/site-packages")
    monkeypatch.setenv("PYTHONHOME", "/dcc")
    env = worker.WorkerConfig(env={"CUDA_VISIBLE_DEVICES": "1"}).process_env()
    assert "PYTHONPATH" not in env and "PYTHONHOME" not in env  # a DCC's Python must not leak into the worker
    assert env["CUDA_VISIBLE_DEVICES"] == "1"
    assert worker.parse_env_text("A=1; B = two\n# note\nC=x=y") == {"A": "1", "B": "two", "C": "x=y"}
    with pytest.raises(worker.WorkerError, match="not KEY=VALUE"):
        worker.parse_env_text("oops")
    with pytest.raises(worker.WorkerError, match="does not exist or is not executable"):
        worker.WorkerConfig(python=str(tmp_path / "nope" / "python")).command()
    cfg = worker.WorkerConfig.from_env({"FILMAI_PYTHON": sys.executable, "FILMAI_DEVICE": "cpu",
                                        "FILMAI_WORKER_ENV": "X=1"})
    assert cfg.command() == [sys.executable, "-m", "filmai_plugins"] and cfg.device == "cpu" and cfg.env == {"X": "1"}
    assert cfg.runs_in_process() is False  # a configured worker Python is used even where filmai imports
    assert worker.WorkerConfig().runs_in_process() is True  # here filmai_plugins imports


# ----- real jobs ------------------------------------------------------------------------------------


def test_schema_from_the_worker_matches_in_process(packs):
    from filmai_plugins import list_nodes

    remote = worker.query_schema(process_config())
    local = worker.query_schema(worker.WorkerConfig())
    ids = [n["id"] for n in remote["nodes"]]
    assert ids == [n["id"] for n in local["nodes"]] == sorted(list_nodes())
    assert {"util.convert", "cnn.torchscript", "hoststest.gain", "hoststest.cuts"} <= set(ids)
    assert [p["name"] for p in remote["io_options"]] == ["part", "layer", "compression", "pixel_type", "tile_size",
                                                          "input_colorspace", "output_colorspace", "ocio_config",
                                                          "nonfinite"]


def test_worker_process_streams_progress_and_returns_the_manifest(tmp_path, sequence):
    out = str(tmp_path / "out" / "conv.####.exr")
    spec = worker.JobSpec(node="util.convert", inputs={"input": sequence}, outputs={"output": out},
                          io={"compression": "piz"})
    seen = []
    job = worker.run(spec, process_config(), on_event=seen.append, timeout=120)
    assert job.state == "done" and job.exit_code == 0 and not job.in_process, job.summary()
    kinds = [e["event"] for e in seen]
    assert kinds[0] == "start" and kinds[-1] == "exit" and kinds.count("frame") == 4 and "done" in kinds
    assert job.progress == 1.0
    manifest = job.manifest
    assert manifest["status"] == "complete" and manifest["io"]["compression"] == "piz"
    assert job.outputs()["output"]["frames_written"] == "1001-1004"
    for f in range(1001, 1005):
        a, _ = read_pixels(worker.sequence_path(sequence, f))
        b, _ = read_pixels(worker.sequence_path(out, f))
        np.testing.assert_array_equal(a, b)


def test_cancel_stops_the_worker_and_keeps_only_complete_frames(tmp_path, sequence):
    seq = tmp_path / "long"
    from helpers import write_sequence

    pattern = write_sequence(str(seq), "p", range(1, 13), width=32, height=16)
    out = str(tmp_path / "out" / "slow.####.exr")
    spec = worker.JobSpec(node="test.slow", inputs={"input": pattern}, outputs={"output": out},
                          params={"seconds": "0.3"})
    job = worker.Job(spec, process_config()).start()
    deadline = time.time() + 60
    while time.time() < deadline and not any(e["event"] == "frame" for e in job.events):
        job.poll()
        time.sleep(0.02)
    job.cancel()
    job.wait(timeout=60)
    assert job.state == "cancelled" and job.exit_code == worker.EXIT_TERMINATED, job.summary()  # SIGTERM: 143
    written = worker.expand_frames(job.outputs()["output"]["frames_written"])
    assert 1 <= len(written) < 12
    on_disk = sorted(glob.glob(str(tmp_path / "out" / "slow.*.exr")))
    assert len(on_disk) == len(written)  # every file on disk is a complete frame the manifest lists
    for path in on_disk:
        read_pixels(path)
    assert leftovers(str(tmp_path / "out")) == []
    assert job.manifest["status"] == "cancelled"
    assert "complete frames kept" in job.summary()


def test_in_process_job_cancels_and_trains(tmp_path, packs):
    from helpers import write_sequence

    pattern = write_sequence(str(tmp_path / "a"), "p", range(1, 9), width=32, height=16)
    job = worker.Job(worker.JobSpec(node="test.slow", inputs={"input": pattern},
                                    outputs={"output": str(tmp_path / "o" / "s.####.exr")}, params={"seconds": "0.2"}))
    assert job.in_process
    job.start()
    while not any(e["event"] == "frame" for e in job.events):
        job.poll()
        time.sleep(0.01)
    job.cancel()
    assert job.wait(timeout=30) == "cancelled" and job.exit_code == 130
    assert 1 <= len(glob.glob(str(tmp_path / "o" / "s.*.exr"))) < 8

    # training: steps stream as progress, the checkpoint is written, and a run with it applies the gain
    target = write_sequence(str(tmp_path / "b"), "p", range(1, 9), width=32, height=16)
    for f in range(1, 9):  # the target is the input times (2, 0.5, 1)
        px, names = read_pixels(worker.sequence_path(pattern, f))
        from helpers import write_exr

        write_exr(worker.sequence_path(target, f), px * np.array([2, 0.5, 1, 1], np.float32), names, pixel_type="float")
    ckpt = str(tmp_path / "gain.ckpt")
    steps = []
    job = worker.run(worker.JobSpec(node="hoststest.gain", kind="train", inputs={"input": pattern}, target=target,
                                    out=ckpt, frames="2,6", params={"steps": "4"}), on_event=steps.append)
    assert job.state == "done", job.summary()
    assert [e["step"] for e in steps if e["event"] == "step"] == [1, 2, 3, 4]
    assert os.path.isfile(ckpt) and job.manifest["checkpoint"]["path"] == ckpt


def test_bad_input_fails_with_the_file_and_frame(tmp_path, sequence):
    os.remove(worker.sequence_path(sequence, 1003))
    out_dir = tmp_path / "out"
    job = worker.run(worker.JobSpec(node="util.convert", inputs={"input": sequence},
                                    outputs={"output": str(out_dir / "c.####.exr")}, frames="1001-1004"),
                     process_config(), timeout=120)
    assert job.state == "failed" and job.exit_code == 2
    assert "frame 1003" in job.error and "1 of 4 frames missing" in job.error
    assert not glob.glob(str(out_dir / "*.exr"))


# ----- timelines ------------------------------------------------------------------------------------




def test_timeline_cuts_and_exports(tmp_path):
    src = write_otio(str(tmp_path / "cuts.otio"), [(16, 0.97), (32, 0.61)], kind="dissolve")
    cfg = worker.WorkerConfig()  # in process: the same `filmai timeline` command the worker runs
    summary = worker.timeline_cuts(cfg, src)
    assert [c["offset"] for c in summary["cuts"]] == [16, 32]
    assert [c["confidence"] for c in summary["cuts"]] == [0.97, 0.61]
    assert [c["kind"] for c in summary["cuts"]] == ["dissolve", "cut"] and summary["cuts"][0]["duration"] == 4
    assert [c["source_frame"] for c in summary["cuts"]] == [1017, 1033]  # the image sequence's own numbering
    assert [(s["start"], s["end"]) for s in summary["shots"]] == [(0, 16), (16, 32), (32, 40)]
    text = worker.tool(cfg, ["timeline", "cuts", src])
    assert "3 shots, 2 cuts, 40 frames at 24 fps" in text and "1017-1032" in text and "confidence 0.61" in text

    edl = worker.timeline_convert(cfg, src, str(tmp_path / "cuts.edl"), rate=24)
    edl_text = open(edl).read()
    assert "TITLE: edit" in edl_text and " D 004 " in edl_text and "003  " in edl_text  # the dissolve, 3 events
    csv_text = open(worker.timeline_convert(cfg, src, str(tmp_path / "cuts.csv"))).read().splitlines()
    assert csv_text[0].startswith("shot,name,first_frame") and csv_text[3].startswith("3,sh0030,1033,1040,8,cut,0,0.6100")
    with pytest.raises(worker.WorkerError, match="exists; choose another name"):
        worker.timeline_convert(cfg, src, edl)
    worker.timeline_convert(cfg, src, edl, overwrite=True)
    with pytest.raises(worker.WorkerError, match="not a readable timeline"):
        worker.timeline_cuts(cfg, str(tmp_path / "cuts.csv"))


def test_farm_job_bundle_from_a_host_job(tmp_path, sequence):
    spec = worker.JobSpec(node="util.convert", inputs={"input": sequence}, device="cpu",
                          outputs={"output": str(tmp_path / "o" / "c.####.exr")}, frames="1001-1004")
    bundle = str(tmp_path / "bundle")
    from filmai_plugins.cli import build_parser

    has_farm = "farm" in build_parser()._subparsers._group_actions[0].choices
    if has_farm:
        worker.farm_template(worker.WorkerConfig(), spec, bundle, chunk=2)
        assert "specificationVersion" in open(os.path.join(bundle, "template.yaml")).read()
        values = open(os.path.join(bundle, "parameter_values.yaml")).read()
        assert os.path.dirname(sequence) in values and os.path.basename(sequence) in values  # folder + pattern
        assert "value: 1001-1004" in values
        with pytest.raises(worker.WorkerError, match="never overwritten"):
            worker.farm_template(worker.WorkerConfig(), spec, bundle, chunk=2)
    else:  # the farm command is not in this checkout: the host says what to run instead
        with pytest.raises(worker.WorkerError, match=r"filmai farm template util\.convert --input"):
            worker.farm_template(worker.WorkerConfig(), spec, bundle, chunk=2)
        assert not os.path.exists(bundle)
