"""Farm jobs with the real openjd CLI and a real Dask LocalCluster: templates generated from the node
schema, chunks retried, publish only after every chunk, and reruns after SIGKILL that match an
uninterrupted run exactly."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from filmai_plugins.cli import main
from filmai_plugins.farm import build_template, make_job, run_job
from filmai_plugins.farm.job import expand
from filmai_plugins.frames.io import read_frame, read_provenance
from filmai_plugins.publish import integrate
from helpers import write_sequence

TESTS = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
LIN709 = {"colorInteropID": "lin_rec709_scene"}


@pytest.fixture
def testpack(monkeypatch):
    """The farmtest pack, in this process and in every filmai process a test starts."""
    monkeypatch.setenv("FILMAI_PLUGIN_MODULES", "farm_testpack")
    monkeypatch.setenv("PYTHONPATH", TESTS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("PATH", BIN + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.delenv("FARMTEST_DELAY", raising=False)


def _plates(tmp_path, frames=range(1001, 1007)):
    return write_sequence(str(tmp_path / "in"), "plate", frames, attributes=LIN709)


def test_template_parameters_come_from_the_node_schema(tmp_path, testpack):
    src = _plates(tmp_path)
    job = make_job("farmtest.gain", inputs=src, outputs=str(tmp_path / "out" / "plate.####.exr"),
                   frames="1001-1011x2", chunk=2, params={"gain": "2.5", "mode": "luma", "clamp": "yes"},
                   model=None, train=None)
    template, values = build_template(job, str(tmp_path))
    defs = {d["name"]: d for d in template["parameterDefinitions"]}
    assert defs["NodeGain"].items() >= {"type": "FLOAT", "minValue": 0.0, "maxValue": 16.0, "default": 2.5}.items()
    assert defs["NodeSteps"]["type"] == "INT" and (defs["NodeSteps"]["minValue"], defs["NodeSteps"]["maxValue"]) == (1, 64)
    assert defs["NodeMode"]["allowedValues"] == ["rgb", "luma"] and defs["NodeMode"]["default"] == "luma"
    assert defs["NodeClamp"]["userInterface"]["control"] == "CHECK_BOX" and defs["NodeClamp"]["default"] == "true"
    assert defs["NodeLut"]["type"] == "PATH" and defs["NodeLut"]["dataFlow"] == "IN"
    assert defs["NodeTint"].items() >= {"type": "STRING", "default": "1.0,1.0,1.0"}.items()
    assert "TrainLearnRate" not in defs  # training params only with --train
    assert defs["Frames"]["default"] == "1001-1011:2"  # OpenJD range syntax for a stepped range
    # an image sequence is a folder (attachments, path mapping) and its file-name pattern, as the Deadline samples do
    assert {k: defs["InputDir"][k] for k in ("type", "objectType", "dataFlow", "default")} == {
        "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "IN", "default": "in"}  # inside the folder: relative
    assert defs["InputDir"]["userInterface"]["control"] == "CHOOSE_DIRECTORY"
    assert defs["InputFile"] == defs["InputFile"] | {"type": "STRING", "default": "plate.####.exr"}
    assert defs["OutputDir"]["dataFlow"] == "OUT" and defs["OutputDir"]["objectType"] == "DIRECTORY"
    assert all({"objectType", "dataFlow"} <= set(d) and d["userInterface"].get("control")
               for d in defs.values() if d["type"] == "PATH")
    # hidden parameters a queue environment reads to install this project on the workers
    assert defs["CondaPackages"]["userInterface"] == {"control": "HIDDEN"}
    assert defs["CondaPackages"]["default"].startswith("filmai-plugins=")
    assert defs["RezPackages"]["default"].startswith("filmai_plugins-")
    [render] = template["steps"]
    assert render["parameterSpace"]["taskParameterDefinitions"][0]["type"] == "CHUNK[INT]"
    assert template["extensions"] == ["TASK_CHUNKING"]

    expanded = expand(template, values, str(tmp_path))
    tasks = expanded.step("Render").tasks
    # a stepped range cannot form contiguous chunks: one frame per task, every frame exactly once
    assert [t.name for t in tasks] == [f"{f}-{f}" for f in range(1001, 1012, 2)]
    argv = tasks[0].argv
    assert argv[:3] == ["filmai", "run", "farmtest.gain"] and "--skip-existing" in argv
    assert argv[argv.index("--input") + 1] == "input=" + src
    assert argv[argv.index("--frames") + 1] == "1001-1001" and "gain=2.5" in argv and "clamp=true" in argv
    assert tasks[0].env == {"FILMAI_FARM_PROGRESS": "openjd"}

    # values a user types are parameter values, which OpenJD never expands: they reach filmai as typed
    odd = "{{Param.NodeGain}}"
    job = make_job("farmtest.gain", inputs=src, outputs=str(tmp_path / odd / "o.####.exr"), frames="1001",
                   io={"layer": odd}, params={"lut": str(tmp_path / odd)}, publish_root=str(tmp_path / "pub"),
                   project="demo", shot="sh010", task="comp")
    template, values = build_template(job, str(tmp_path))
    assert "{{" not in template["name"]
    [run] = expand(template, values, str(tmp_path)).step("Render").tasks
    assert run.argv[run.argv.index("--layer") + 1] == odd and f"lut={tmp_path / odd}" in run.argv
    assert run.argv[run.argv.index("--output") + 1] == f"output={tmp_path / odd / 'o.####.exr'}"

    with pytest.raises(Exception, match="16.0|maximum"):
        make_job("farmtest.gain", inputs=src, outputs=str(tmp_path / "o.####.exr"), frames="1001", params={"gain": 99})
    with pytest.raises(Exception, match="not trainable|--model"):
        make_job("util.convert", inputs=src, outputs=str(tmp_path / "o.####.exr"), frames="1001", train="1001")


def test_template_passes_openjd_check_and_openjd_run_publishes(tmp_path, testpack, capsys, monkeypatch):
    src = write_sequence(str(tmp_path / "in"), "plate", range(1001, 1007))  # untagged: the render says what
    monkeypatch.chdir(tmp_path)
    args = ["farm", "template", "util.convert", "--input", src, "--output", str(tmp_path / "out" / "plate.####.exr"),
            "--frames", "1001-1006", "--chunk", "3", "--set", "data_window=display", "--layer", "",
            "--input-colorspace", "lin_rec709",  # the render tags its frames; publish's --colorspace agrees
            "--publish-root", str(tmp_path / "pub"), "--project", "demo", "--shot", "sh010", "--task", "comp",
            "--colorspace", "lin_rec709", "--handles", "1,2"]
    # printed to stdout, the template's folder is unknown: no path defaults, every path is a value
    assert main(args) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert not [d for d in printed["parameterDefinitions"] if d["type"] == "PATH" and "default" in d]

    # saved in another folder with its values as JSON: openjd finds everything from anywhere
    (tmp_path / "jobs").mkdir()
    assert main(args + ["--save", "jobs/job.yaml", "--values", "jobs/v.json"]) == 0
    captured = capsys.readouterr()
    values = json.loads((tmp_path / "jobs" / "v.json").read_text())  # JSON, as its name says
    assert values["PublishColorspace"] == "lin_rec709" and values["PublishHandles"] == "1,2"
    hint = captured.err.split("run locally with: ", 1)[1].strip()
    assert hint == f"openjd run jobs/job.yaml -p file://{tmp_path / 'jobs' / 'v.json'}"
    template = yaml.safe_load((tmp_path / "jobs" / "job.yaml").read_text())
    assert [s["name"] for s in template["steps"]] == ["Render", "Publish"]
    assert template["steps"][1]["dependencies"] == [{"dependsOn": "Render"}]
    publish_args = template["steps"][1]["script"]["actions"]["onRun"]["args"]
    assert publish_args[publish_args.index("--colorspace") + 1] == "{{Param.PublishColorspace}}"

    check = subprocess.run([os.path.join(BIN, "openjd"), "check", "jobs/job.yaml"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    monkeypatch.chdir(tmp_path / "in")  # run from elsewhere: nothing depends on the current folder
    run = subprocess.run([os.path.join(BIN, "openjd"), "run", str(tmp_path / "jobs" / "job.yaml"),
                          "-p", f"file://{tmp_path / 'jobs' / 'v.json'}", "-p", f"FilmAICommand={BIN}/filmai"],
                         capture_output=True, text=True, timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log
    assert "openjd_progress: 100.0" in log and "openjd_status: util.convert 1004-1006" in log
    manifests = sorted(p.name for p in (tmp_path / "out").glob("*.manifest.json"))
    assert manifests == ["plate.1001-1003.manifest.json", "plate.1004-1006.manifest.json"]
    record = integrate.read_record(str(tmp_path / "pub" / "demo" / "sh010" / "comp" / "plate" / "v001"))
    assert record["targets"] == ["farm"] and record["frames"] == "1001-1006" and len(record["manifests"]) == 2
    assert record["farm"]["render_hosts"]
    assert record["colorspace"] == "Linear Rec.709 (sRGB)"
    assert record["colorspace_source"] == "frames (and --colorspace)"  # every run's output is tagged
    assert record["frame_range"] == {"head_in": 1001, "cut_in": 1002, "cut_out": 1004, "tail_out": 1006,
                                     "handle_head": 1, "handle_tail": 2, "cut_duration": 3}
    monkeypatch.chdir(tmp_path)

    # The same job as a Deadline Cloud bundle: every value in parameter_values.yaml, defaults only inside it.
    bundle = tmp_path / "bundle"
    assert main(args + ["--bundle", str(bundle)]) == 0
    capsys.readouterr()
    assert sorted(os.listdir(bundle)) == ["asset_references.yaml", "parameter_values.yaml", "template.yaml"]
    listed = yaml.safe_load((bundle / "parameter_values.yaml").read_text())["parameterValues"]
    values = {v["name"]: v["value"] for v in listed}
    btemplate = yaml.safe_load((bundle / "template.yaml").read_text())
    assert set(values) == {d["name"] for d in btemplate["parameterDefinitions"]}
    assert values["InputDir"] == str(tmp_path / "in") and values["InputFile"] == "plate.####.exr"
    assert "default" not in {d["name"]: d for d in btemplate["parameterDefinitions"]}["InputDir"]
    refs = yaml.safe_load((bundle / "asset_references.yaml").read_text())["assetReferences"]
    assert refs["inputs"]["directories"] == [str(tmp_path / "in")]
    assert refs["outputs"]["directories"] == [str(tmp_path / "out")]  # the publish area is shared, not attached
    check = subprocess.run([os.path.join(BIN, "openjd"), "check", str(bundle / "template.yaml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_curve_sampled_per_frame_rides_in_the_command_and_chunks_equal_one_run(tmp_path, testpack):
    """An eased curve from a DCC comes as one key per frame; over a long shot its text passes OpenJD's 1024
    characters for a parameter value, so it goes into the command itself. A temporal node's chunks read
    their handle frames and equal one whole run, bit for bit."""
    import math

    src = write_sequence(str(tmp_path / "in"), "plate", range(1001, 1081), width=8, height=4, attributes=LIN709)
    mix = ",".join(f"{1001 + i}:{0.5 - 0.5 * math.cos(math.pi * i / 79)!r}" for i in range(80))
    assert len(mix) > 1024
    job = make_job("util.temporal_median", inputs=src, outputs=str(tmp_path / "out" / "plate.####.exr"),
                   frames="1001-1080", chunk=40, params={"window": 5, "mix": mix, "channels": "R,G,B"})
    template, values = build_template(job, str(tmp_path))
    assert "NodeMix" not in values and "NodeWindow" in values
    tasks = expand(template, values, str(tmp_path)).step("Render").tasks
    assert [t.name for t in tasks] == ["1001-1040", "1041-1080"]
    assert f"mix={mix}" in tasks[0].argv
    result = run_job(job, engine="local", retries=0)
    assert result.ok, result.format()
    reference = str(tmp_path / "ref" / "plate.####.exr")
    short = make_job("util.temporal_median", inputs=src, outputs=str(tmp_path / "o" / "p.####.exr"), frames="1001-1080",
                     params={"mix": "1001:0,1080:1"})
    _, short_values = build_template(short, str(tmp_path))
    assert short_values["NodeMix"] == "1001:0.0,1080:1.0"  # short keys stay an editable job parameter
    assert main(["run", "util.temporal_median", "-i", src, "-o", reference, "-f", "1001-1080", "--set", "window=5",
                 "--set", f"mix={mix}", "--set", "channels=R,G,B", "--progress", "none"]) == 0
    for f in (1001, 1040, 1041, 1080):  # the chunk boundaries read each other's frames as handles
        np.testing.assert_array_equal(read_frame(reference.replace("####", str(f))).pixels,
                                      read_frame(str(tmp_path / "out" / f"plate.{f}.exr")).pixels)


def test_dask_retries_a_failing_chunk_then_publishes_after_every_chunk(tmp_path, testpack):
    src = _plates(tmp_path)
    marker = tmp_path / "failed-once"
    job = make_job("farmtest.gain", inputs=src, outputs=str(tmp_path / "out" / "plate.####.exr"), frames="1001-1006",
                   chunk=3, params={"gain": 2.0, "fail_frame": 1004, "fail_marker": str(marker)},
                   publish_root=str(tmp_path / "pub"), project="demo", shot="sh010", task="comp")
    result = run_job(job, engine="dask", workers=2, retries=1)
    assert result.ok, result.format()
    by_key = {r.key: r for r in result.results}
    assert [a.exit_code for a in by_key["Render/1004-1006"].attempts] == [1, 0] and marker.exists()
    assert all(len(by_key[k].attempts) == 1 for k in ("Render/1001-1003", "Publish/Publish"))
    first_log = by_key["Render/1004-1006"].attempts[0].log
    assert "deliberate failure on frame 1004" in open(first_log).read()

    version = tmp_path / "pub" / "demo" / "sh010" / "comp" / "plate" / "v001"
    record = integrate.read_record(str(version))
    assert record["frames"] == "1001-1006" and len(record["manifests"]) == 2
    assert record["created"] > max(m["finished"] for m in record["manifests"])
    assert record["farm"]["environment"]["FILMAI_FARM_ENGINE"] == "dask"
    frame = read_frame(str(version / "sh010_comp_plate_v001.1004.exr"))
    source = read_frame(src.replace("####", "1004"))
    np.testing.assert_allclose(frame.select(["R"]), source.select(["R"]) * 2.0, rtol=1e-3)
    job_record = json.load(open(os.path.join(result.log_dir, "job.json")))
    assert job_record["result"]["ok"] and job_record["parameters"]["NodeGain"] == "2.0"


def test_publish_never_runs_when_a_chunk_keeps_failing(tmp_path, testpack, capsys):
    from distributed import LocalCluster

    src = _plates(tmp_path)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        args = ["farm", "run", "farmtest.gain", "-i", src, "-o", str(tmp_path / "out" / "plate.####.exr"),
                "-f", "1001-1006", "--chunk", "3", "--set", "fail_frame=1002", "--engine", "dask",
                "--scheduler", cluster.scheduler_address, "--retries", "1", "--publish-root", str(tmp_path / "pub"),
                "--project", "demo", "--shot", "sh010", "--task", "comp", "--json"]
        assert main(args) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["cluster"] == cluster.scheduler_address
    tasks = {t["key"]: t for t in data["tasks"]}
    assert tasks["Render/1001-1003"]["status"] == "failed" and len(tasks["Render/1001-1003"]["attempts"]) == 2
    assert tasks["Render/1004-1006"]["status"] == "succeeded"
    assert tasks["Publish/Publish"]["status"] == "skipped" and tasks["Publish/Publish"]["attempts"] == []
    assert not (tmp_path / "pub").exists()

    # A publish that fails its checks (exit 2) is not retried either: another try cannot pass them
    untagged = write_sequence(str(tmp_path / "untagged"), "plate", range(1001, 1003))
    args = ["farm", "run", "farmtest.gain", "-i", untagged, "-o", str(tmp_path / "out3" / "plate.####.exr"),
            "-f", "1001-1002", "--engine", "local", "--retries", "2", "--publish-root", str(tmp_path / "pub"),
            "--project", "demo", "--shot", "sh010", "--task", "comp", "--colorspace", "lin_rec709", "--json"]
    assert main(args) == 1  # the render tags its frames ACEScg (the config's scene_linear), publish is told Rec.709
    tasks = {t["key"]: t for t in json.loads(capsys.readouterr().out)["tasks"]}
    assert [a["exit_code"] for a in tasks["Publish/Publish"]["attempts"]] == [2]
    assert "--colorspace says Linear Rec.709 (sRGB) but frames" in tasks["Publish/Publish"]["attempts"][0]["tail"]

    # Bad input fails fast: exit code 2 is not retried.
    bad = ["farm", "run", "util.convert", "-i", str(tmp_path / "missing.####.exr"), "-o",
           str(tmp_path / "out2" / "x.####.exr"), "-f", "1001-1002", "--engine", "local", "--retries", "3", "--json"]
    assert main(bad) == 1
    [task] = json.loads(capsys.readouterr().out)["tasks"]
    assert [a["exit_code"] for a in task["attempts"]] == [2] and task["reason"] == "bad input: not retried"


def test_sigkilled_chunk_reruns_to_exactly_the_uninterrupted_frames(tmp_path, testpack):
    src = _plates(tmp_path, range(1001, 1005))
    reference = str(tmp_path / "ref" / "plate.####.exr")
    killed = str(tmp_path / "out" / "plate.####.exr")
    base = [os.path.join(BIN, "filmai"), "run", "farmtest.gain", "-i", src, "-f", "1001-1004", "--set", "gain=3",
            "--skip-existing", "--progress", "none"]
    subprocess.run(base + ["-o", reference], check=True, capture_output=True)

    env = dict(os.environ, FARMTEST_DELAY="0.7")
    proc = subprocess.Popen(base + ["-o", killed], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = killed.replace("####", "1001")
    deadline = time.time() + 120
    while not os.path.exists(first) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # frame 1002 is being processed now
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = sorted(p for p in os.listdir(tmp_path / "out") if p.endswith(".exr"))
    assert "plate.1001.exr" in done and len(done) < 4
    for name in done:  # whatever is visible is complete
        read_frame(str(tmp_path / "out" / name))
    assert not list((tmp_path / "out").glob("*.manifest.json"))
    kept = os.stat(first)

    rerun = subprocess.run(base + ["-o", killed], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert os.stat(first).st_ino == kept.st_ino and os.stat(first).st_mtime_ns == kept.st_mtime_ns  # kept, not redone
    for f in range(1001, 1005):
        a, b = reference.replace("####", str(f)), killed.replace("####", str(f))
        assert read_provenance(a) == read_provenance(b)
        np.testing.assert_array_equal(read_frame(a).pixels, read_frame(b).pixels)
        assert open(a, "rb").read() == open(b, "rb").read()


def test_train_step_feeds_the_render_and_the_publish(tmp_path, testpack):
    src = _plates(tmp_path)
    ckpt = str(tmp_path / "models" / "gain.ckpt")
    job = make_job("farmtest.gain", inputs=src, outputs=str(tmp_path / "out" / "plate.####.exr"), frames="1001-1006",
                   chunk=3, model=ckpt, train="1001,1004", target=src, train_params={"learn_rate": "0.5"},
                   publish_root=str(tmp_path / "pub"), project="demo", shot="sh010", task="comp", gpus=1)
    template, values = build_template(job, str(tmp_path / "elsewhere"))
    defs = {d["name"]: d for d in template["parameterDefinitions"]}
    assert defs["Model"]["dataFlow"] == "OUT" and "default" not in defs["Model"]  # outside the template folder
    assert defs["TrainLearnRate"]["default"] == 0.5 and defs["TrainFrames"]["default"] == "1001,1004"
    expanded = expand(template, values, str(tmp_path / "elsewhere"))
    assert [(s.name, s.depends_on, len(s.tasks)) for s in expanded.steps] == [
        ("Train", [], 1), ("Render", ["Train"], 2), ("Publish", ["Render"], 1)]
    train = expanded.step("Train").tasks[0].argv
    assert train[1:3] == ["train", "farmtest.gain"] and train[train.index("--out") + 1] == ckpt
    assert "learn_rate=0.5" in train and train[train.index("--frames") + 1] == "1001,1004"
    render = expanded.step("Render").tasks[0].argv
    assert render[render.index("--model") + 1] == ckpt
    publish_argv = expanded.step("Publish").tasks[0].argv
    assert ckpt in publish_argv and publish_argv[publish_argv.index("--targets") + 1] == "farm"
    assert template["steps"][1]["hostRequirements"] == {"amounts": [{"name": "amount.worker.gpu", "min": 1}]}


def test_stopping_a_farm_run_stops_its_chunks(tmp_path, testpack):
    src = _plates(tmp_path, range(1001, 1009))
    out = tmp_path / "out"
    env = dict(os.environ, FARMTEST_DELAY="0.5")
    proc = subprocess.Popen([os.path.join(BIN, "filmai"), "farm", "run", "farmtest.gain", "-i", src, "-o",
                             str(out / "plate.####.exr"), "-f", "1001-1008", "--chunk", "4", "--engine", "local",
                             "--workers", "2", "--publish-root", str(tmp_path / "pub"), "--project", "demo",
                             "--shot", "sh010", "--task", "comp"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(out.glob("plate.*.exr")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "stopping 2 running task(s)" in stderr
    left = subprocess.run(["pgrep", "-f", str(out)], capture_output=True, text=True).stdout.split()
    assert left == []  # no chunk keeps rendering on its own
    frames = sorted(out.glob("plate.*.exr"))
    assert 0 < len(frames) < 8
    for f in frames:
        read_frame(str(f))
    assert not (tmp_path / "pub").exists() and "Publish/Publish" in stdout and "skipped" in stdout


def test_publish_names_and_colourspace_are_checked_when_the_template_is_made(tmp_path, testpack, capsys):
    src = _plates(tmp_path)
    base = ["farm", "template", "util.convert", "-i", src, "-o", str(tmp_path / "out" / "plate.####.exr"),
            "-f", "1001-1006", "--publish-root", str(tmp_path / "pub")]
    names = ["--project", "demo", "--shot", "sh010", "--task", "comp"]
    cases = [(["--project", "../../x", "--shot", "sh010", "--task", "comp"], "--project '../../x' is not a plain name"),
             (["--project", "demo", "--shot", "sh 010", "--task", "comp"], "--shot 'sh 010' is not a plain name"),
             (["--project", "demo", "--shot", "sh010"], "--publish-root needs --task"),
             (names + ["--name", "plate v2"], "nearest valid name: 'plate_v2'"),
             (names + ["--colorspace", "no_such_space"], "unknown colourspace 'no_such_space'"),
             (names + ["--handles", "4,-1"], "--handles '4,-1'"),
             (names + ["--handles", "3,3"], "handles 3,3 leave no cut")]
    for extra, message in cases:
        assert main(base + extra) == 2, extra
        captured = capsys.readouterr()
        assert message in captured.err and not captured.out, (extra, captured.err)
    assert main(["farm", "template", "util.convert", "-i", src, "-o", str(tmp_path / "o.####.exr"), "-f", "1001",
                 "--colorspace", "ACEScg"]) == 2
    assert "give --publish-root" in capsys.readouterr().err
    assert main(base + names + ["--values", str(tmp_path / "v.txt")]) == 2
    assert "name it .json or .yaml" in capsys.readouterr().err


def test_farm_features_without_the_farm_extra_say_how_to_install_it(tmp_path, testpack, monkeypatch):
    """The core installs without openjd/dask/yaml (the [farm] extra): using the farm says what to install.
    (.ci/check_install.py checks the same in a real core-only venv.)"""
    from filmai_plugins.farm.deps import FARM_EXTRA, MissingDependency, require

    monkeypatch.setitem(sys.modules, "openjd.model", None)  # what an import finds when it is not installed
    monkeypatch.setitem(sys.modules, "distributed", None)
    job = make_job("util.convert", inputs=_plates(tmp_path), outputs=str(tmp_path / "o.####.exr"), frames="1001")
    with pytest.raises(MissingDependency, match=r"a farm job template needs openjd\.model.*" + re.escape(FARM_EXTRA)):
        build_template(job)
    with pytest.raises(MissingDependency, match="dask farm engine needs distributed"):
        require("distributed", "the dask farm engine")
