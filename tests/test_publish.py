"""Publishing with the real Pyblish: collect, validate (every problem at once, with repairs),
extract review media (OCIO, PyAV) and integrate into immutable, checksummed versions."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import OpenImageIO as oiio

import filmai_plugins as fa
from filmai_plugins.cli import main
from filmai_plugins.publish import integrate, publish
from helpers import bcd_timecode, plate, write_exr, write_sequence

TESTS = os.path.dirname(os.path.abspath(__file__))
CONTEXT = {"project": "demo", "shot": "sh010", "task": "comp"}
LIN709 = {"colorInteropID": "lin_rec709_scene"}


def _render(tmp_path, frames=range(1001, 1007), name="plate", **params):
    src = write_sequence(str(tmp_path / "in"), name, frames, attributes=LIN709)
    out = str(tmp_path / "out" / f"{name}.####.exr")
    manifest = fa.run("util.convert", input=src, output=out, frames=f"{min(frames)}-{max(frames)}", **params)
    return manifest["manifest_path"], out


def _problems(result):
    return {(p["plugin"], line) for inst in result.to_json()["instances"] for p in inst["problems"]
            for line in p["message"].splitlines()}


def test_full_publish_of_a_convert_run(tmp_path):
    manifest, out = _render(tmp_path)
    root = tmp_path / "pub"
    result = publish([manifest], root=str(root), **CONTEXT)
    assert result.ok, result.format()
    [inst] = result.instances
    version = root / "demo" / "sh010" / "comp" / "plate" / "v001"
    assert inst.published["path"] == str(version) and inst.published["version"] == 1

    record = integrate.read_record(str(version))
    assert record["family"] == "render" and record["frames"] == "1001-1006" and record["frame_count"] == 6
    assert record["colorspace"] == "Linear Rec.709 (sRGB)" and record["colorspace_source"] == "colorInteropID"
    assert record["resolution"] == [96, 64] and record["channels"] == ["R", "G", "B", "A"]
    assert record["node"]["id"] == "util.convert" and record["params_hash"]
    assert {"FilmAIValidateFrameRange", "FilmAIValidateFramesReadable", "FilmAIValidateFrameFormat",
            "FilmAIValidateFrameValues", "FilmAIValidateColorspace", "FilmAIValidateProvenance",
            "FilmAIValidateNaming", "FilmAIValidateRunManifests", "FilmAIValidatePublishContext"} <= set(record["checks"])
    frames = sorted(f["path"] for f in record["files"] if f["role"] == "frame")
    assert frames == [f"sh010_comp_plate_v001.{n}.exr" for n in range(1001, 1007)]
    # hard links: the published frame is the rendered file (no copy), and its checksum is recorded
    assert os.stat(version / frames[0]).st_ino == os.stat(out.replace("####", "1001")).st_ino
    assert integrate.verify_version(str(version)) == []
    sums = (version / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == len(record["files"]) and all(len(line.split("  ")[0]) == 64 for line in sums)

    thumb = oiio.ImageBuf(str(version / record["review"]["thumbnail"]))
    assert (thumb.spec().width, thumb.spec().height) == (480, 320)
    pixels = thumb.get_pixels(oiio.FLOAT)
    assert 0.05 < float(pixels.mean()) < 0.95  # a picture through the display transform, not black or clipped
    sheet = oiio.ImageBuf(str(version / record["review"]["sheet"]))
    assert sheet.spec().width == 4 * 320 + 3 * 4

    import av

    with av.open(str(version / record["review"]["movie"])) as movie:
        stream = movie.streams.video[0]
        assert stream.codec_context.name == "h264" and (stream.width, stream.height) == (96, 64)
        decoded = [f.to_ndarray(format="rgb24") for f in movie.decode(video=0)]
    assert len(decoded) == 6 and float(np.std(decoded[0])) > 5

    # A second publish is v002; v001 is not touched.
    before = {p: (os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in map(str, version.iterdir())}
    again = publish([manifest], root=str(root), **CONTEXT)
    assert again.ok and again.instances[0].published["version"] == 2
    assert {p: (os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in map(str, version.iterdir())} == before
    assert integrate.verify_version(str(version)) == [] and integrate.read_record(str(version)) == record
    assert not [p for p in os.listdir(version.parent) if p.startswith(".staging")]


def test_every_problem_is_listed_at_once(tmp_path):
    src = write_sequence(str(tmp_path / "in"), "plate", range(1001, 1007))
    nan = plate(1003)
    nan[5, 5, 0] = np.nan
    write_exr(str(tmp_path / "in" / "plate.1003.exr"), nan)
    out = str(tmp_path / "out" / "beauty pass.####.exr")
    manifest = fa.run("util.convert", input=src, output=out, frames="1001-1006")["manifest_path"]
    os.remove(out.replace("####", "1005"))
    with open(out.replace("####", "1002"), "r+b") as f:
        f.truncate(2000)
    fa.run("util.convert", input=src, output=out, frames="1004", data_window="display",  # other params
           io={"output_colorspace": "lin_rec709"})  # and another colourspace than the others' (ACEScg)

    result = publish([manifest], root=str(tmp_path / "pub"), **CONTEXT)
    assert not result.ok and result.stopped.startswith("extraction")
    found = _problems(result)
    text = "\n".join(line for _, line in found)
    assert "name 'beauty pass' breaks the naming convention" in text
    assert "1 of 6 frames missing: 1005" in text
    assert "beauty pass.1002.exr (frame 1002): corrupt or truncated image" in text
    assert "frame 1003): 1 NaN/Inf pixel values" in text
    assert "frames declare different colourspaces: ACEScg on 1001,1003,1006; Linear Rec.709 (sRGB) on 1004" in text
    assert any("frames 1004: paramsHash is" in line for line in text.splitlines())
    plugins = {p for p, _ in found}
    assert {"FilmAIValidateNaming", "FilmAIValidateFrameRange", "FilmAIValidateFramesReadable",
            "FilmAIValidateFrameValues", "FilmAIValidateColorspace", "FilmAIValidateProvenance"} <= plugins
    repairs = {p["plugin"]: p.get("repair") for p in result.to_json()["instances"][0]["problems"]}
    assert repairs["FilmAIValidateFrameRange"] and repairs["FilmAIValidateProvenance"] and repairs["FilmAIValidateNaming"]
    assert not repairs["FilmAIValidateFrameValues"] and not repairs["FilmAIValidateColorspace"]
    assert not (tmp_path / "pub").exists() or not any((tmp_path / "pub").rglob("v0*"))


def test_repair_rerenders_and_renames_then_publishes(tmp_path, capsys):
    manifest, out = _render(tmp_path, name="plate")
    os.remove(out.replace("####", "1002"))
    stale = out.replace("####", "1004")
    shutil.copy(out.replace("####", "1001"), stale)  # frame 1001's file under 1004's name (a "hold" hack)
    args = [manifest, "--root", str(tmp_path / "pub"), "--project", "demo", "--shot", "sh010", "--task", "comp",
            "--name", "plate v2", "--no-movie"]
    assert main(["publish", *args]) == 2  # failed checks: not publishable as it is (a farm does not retry it)
    report = capsys.readouterr().out
    assert "FilmAIValidateFrameRange: 1 of 6 frames missing: 1002" in report
    assert "frame number in the file differs from its name" in report and "repair available (--repair)" in report

    assert main(["publish", *args, "--repair", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["instances"][0]["name"] == "plate_v2"
    done = " ".join(r["done"] for r in data["repairs"])
    assert "'plate v2' → 'plate_v2'" in done and "frames 1002,1004 made again, 4 kept" in done
    record = integrate.read_record(data["instances"][0]["published"]["path"])
    assert record["repairs"] and record["frames"] == "1001-1006"


def test_two_publishers_racing_get_two_versions(tmp_path):
    manifest, _ = _render(tmp_path)
    root = tmp_path / "pub"
    cmd = [sys.executable, "-m", "filmai_plugins", "publish", manifest, "--root", str(root), "--project", "demo",
           "--shot", "sh010", "--task", "comp", "--no-movie", "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    versions = sorted(json.loads(o)["instances"][0]["published"]["version"] for o, _ in outs)
    assert versions == [1, 2]
    folder = root / "demo" / "sh010" / "comp" / "plate"
    for v in ("v001", "v002"):
        assert integrate.verify_version(str(folder / v)) == []
        assert integrate.read_record(str(folder / v))["version"] == int(v[1:])


def test_version_claims_are_distinct_under_contention(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    folder = str(tmp_path / "plate")
    os.makedirs(os.path.join(folder, "v003"))  # an existing version is never handed out again
    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(lambda _: integrate.claim_version(folder), range(16)))
    assert sorted(numbers) == list(range(4, 20))


def test_model_and_editorial_instances(tmp_path):
    import opentimelineio as otio

    from filmai_plugins.training.checkpoint import save_checkpoint

    ckpt = str(tmp_path / "shot.ckpt")
    save_checkpoint(ckpt, {"w": np.arange(12, dtype=np.float32).reshape(3, 4)},
                    {"node": "cnn.copycat", "arch": {"width": 4}, "channels_in": ["R", "G", "B"]})
    tl = otio.schema.Timeline(name="cuts")
    track = otio.schema.Track(name="V1")
    tl.tracks.append(track)
    for i, (a, b) in enumerate([(0, 24), (24, 60)]):
        track.append(otio.schema.Clip(name=f"sh{i + 1:03d}0", media_reference=otio.schema.ExternalReference(
            target_url="file:///nowhere/plate.mov"), source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(a, 24), otio.opentime.RationalTime(b - a, 24))))
    timeline = str(tmp_path / "cuts.otio")
    otio.adapters.write_to_file(tl, timeline)

    result = publish([ckpt, timeline], root=str(tmp_path / "pub"), **CONTEXT)
    assert result.ok, result.format()
    by_family = {i.family: i for i in result.instances}
    model = integrate.read_record(by_family["mlmodel"].published["path"])
    assert model["model"]["node"] == "cnn.copycat" and {f["role"] for f in model["files"]} >= {"checkpoint", "model_card"}
    edit = integrate.read_record(by_family["editorial"].published["path"])
    assert edit["timeline"]["clips"] == 2
    names = {f["path"] for f in edit["files"]}
    assert "sh010_comp_cuts_v001.otio" in names and "sh010_comp_cuts_v001.edl" in names
    assert any("media /nowhere/plate.mov not found" in w for w in by_family["editorial"].warnings)

    with open(ckpt, "r+b") as f:  # flip a weight byte: the checkpoint no longer matches its hash
        f.seek(-3, os.SEEK_END)
        byte = f.read(1)
        f.seek(-3, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))
    bad = publish([ckpt], root=str(tmp_path / "pub"), **CONTEXT)
    assert not bad.ok
    assert "weights do not match their sha256" in bad.instances[0].problems[0].message


def test_broken_studio_plugins_are_reported_and_studio_validators_run(tmp_path, monkeypatch):
    studio = tmp_path / "studio_plugins"
    studio.mkdir()
    (studio / "validate_broken.py").write_text("import studio_module_that_is_missing\n")
    (studio / "validate_duplicate.py").write_text(
        "import pyblish.api\nclass FilmAIValidateFrameRange(pyblish.api.InstancePlugin):\n"
        "    order = pyblish.api.ValidatorOrder\n    def process(self, instance):\n        pass\n")
    (studio / "validate_shot_length.py").write_text(  # the future import + dataclass breaks pyblish.discover
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "import pyblish.api\n"
        "@dataclass\nclass Limit:\n    frames: int = 4\n"
        "class StudioValidateShotLength(pyblish.api.InstancePlugin):\n"
        "    order = pyblish.api.ValidatorOrder + 0.3\n    families = ['render']\n"
        "    def process(self, instance):\n"
        "        n = len(instance.data['frames_expected'])\n"
        "        assert n <= Limit().frames, f'{n} frames is longer than the studio limit of {Limit().frames}'\n")
    monkeypatch.setenv("FILMAI_PLUGIN_MODULES", "farm_testpack")
    monkeypatch.setenv("FARMTEST_PUBLISH_PLUGINS", str(studio))
    manifest, _ = _render(tmp_path)
    result = publish([manifest], root=str(tmp_path / "pub"), **CONTEXT)
    assert not result.ok
    failed = {os.path.basename(f["file"]): f["error"] for f in result.discovery.failed}
    assert failed == {"validate_broken.py": "ModuleNotFoundError: No module named 'studio_module_that_is_missing'"}
    assert [d["name"] for d in result.discovery.duplicates] == ["FilmAIValidateFrameRange"]
    assert ("StudioValidateShotLength", "6 frames is longer than the studio limit of 4") in _problems(result)
    assert "plug-in not loaded" in result.format()


def test_host_folders_load_without_their_host_modules():
    from filmai_plugins.publish.discovery import discover
    from filmai_plugins.publish.pack import builtin_plugin_paths

    own = {"headless": "FilmAICollectHeadlessSession", "blender": "FilmAICollectBlenderScene",
           "nuke": "FilmAICollectNukeScript"}
    for host, collector in own.items():
        report = discover(builtin_plugin_paths(host), host)
        names = {p.__name__ for p in report.plugins}
        assert report.ok, report.problems()
        assert collector in names and "FilmAIIntegrateVersion" in names
        assert not names & (set(own.values()) - {collector})
        orders = [p.order for p in report.plugins]
        assert orders == sorted(orders)


BLENDER_PUBLISH = """
import json, sys
import bpy
from filmai_plugins.publish import publish
manifest, root, blend = sys.argv[1:4]
bpy.context.scene.render.fps = 25
options = dict(root=root, project="demo", shot="sh010", task="comp", host="blender")
unsaved = publish([manifest], repair=True, **options)
bpy.ops.wm.save_as_mainfile(filepath=blend)
saved = publish([manifest], **options)
print("RESULT" + json.dumps({"unsaved": unsaved.to_json(), "saved": saved.to_json()}))
"""


def test_blender_host_publish_checks_the_blend_and_uses_the_scene_rate(tmp_path):
    manifest, _ = _render(tmp_path, frames=range(1001, 1004))
    run = subprocess.run([sys.executable, "-c", BLENDER_PUBLISH, manifest, str(tmp_path / "pub"),
                          str(tmp_path / "shot.blend")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(run.stdout.split("RESULT", 1)[1])
    unsaved, saved = data["unsaved"], data["saved"]
    assert not unsaved["ok"]
    assert "never been saved" in json.dumps(unsaved["problems_before_repair"])
    assert "repair failed" in json.dumps(unsaved["problems"]) or "no file name" in json.dumps(unsaved["repairs"])
    assert saved["ok"], saved
    record = integrate.read_record(saved["instances"][0]["published"]["path"])
    assert record["session"]["host"] == "blender" and record["session"]["file"].endswith("shot.blend")
    assert record["fps"] == 25.0


def test_a_failed_training_attempt_keeps_the_good_record_and_the_finished_run_resumes(tmp_path, capsys):
    from helpers import TINY, blob_pairs

    src, dst = blob_pairs(str(tmp_path / "pairs"))
    ckpt = tmp_path / "shot.ckpt"
    train = ["train", "cnn.copycat", "-i", src, "-t", dst, "-f", "1001-1003", "--out", str(ckpt), "--progress", "none"]
    train += [arg for k, v in TINY.items() for arg in ("--set", f"{k}={v}")]
    assert main(train) == 0
    record = tmp_path / "shot.train.manifest.json"
    good = json.loads(record.read_text())
    assert good["status"] == "complete"
    assert main(train + ["--set", f"resume={tmp_path / 'nowhere.ckpt'}"]) == 2  # a failed attempt
    capsys.readouterr()
    assert json.loads(record.read_text()) == good  # the completed attempt stays what publish reads
    [failed] = (tmp_path / "shot.train" / "attempts").iterdir()
    assert failed.name.endswith("-failed.train.manifest.json")
    assert "nowhere.ckpt" in json.loads(failed.read_text())["error"]
    result = publish([str(ckpt)], root=str(tmp_path / "pub"), **CONTEXT)
    assert result.ok, result.format()
    assert result.instances[0].family == "mlmodel"

    # the finished run kept a resumable checkpoint of its last step: raise steps and resume
    assert main(train + ["--set", "steps=18", "--set", "resume=last"]) == 0
    resumed = json.loads(record.read_text())
    assert resumed["training"]["resumed_from"].endswith("checkpoint_000012.ckpt")
    assert resumed["training"]["steps"] == 18
    assert sorted(p.name.rsplit("-", 1)[1] for p in (tmp_path / "shot.train" / "attempts").iterdir()) == [
        "complete.train.manifest.json", "failed.train.manifest.json"]  # every attempt keeps its record


def _timecoded_plates(folder, frames, jump_at=None):
    for f in frames:
        spec = oiio.ImageSpec(96, 64, 4, "half")
        spec.attribute("colorInteropID", "lin_rec709_scene")
        spec.attribute("FramesPerSecond", oiio.TypeRational, (24, 1))
        spec.attribute("smpte:TimeCode", oiio.TypeTimeCode, (bcd_timecode(f + (5 if jump_at and f >= jump_at else 0)), 0))
        path = os.path.join(folder, f"plate.{f:04d}.exr")
        os.makedirs(folder, exist_ok=True)
        out = oiio.ImageOutput.create(path)
        assert out.open(path, spec) and out.write_image(plate(f)), out.geterror()
        out.close()
    return os.path.join(folder, "plate.####.exr")


def test_handles_and_the_plates_timecode_reach_the_version_record(tmp_path, capsys):
    src = _timecoded_plates(str(tmp_path / "in"), range(993, 1013))
    out = str(tmp_path / "out" / "plate.####.exr")
    manifest = fa.run("util.convert", input=src, output=out, frames="993-1012")["manifest_path"]
    args = ["publish", manifest, "--root", str(tmp_path / "pub"), "--project", "demo", "--shot", "sh010",
            "--task", "comp", "--no-movie", "--json"]
    assert main(args + ["--handles", "8,4"]) == 0
    data = json.loads(capsys.readouterr().out)
    record = integrate.read_record(data["instances"][0]["published"]["path"])
    # what shot tracking reads: the cut inside the published range, and the plate's own time code
    assert record["frame_range"] == {"head_in": 993, "cut_in": 1001, "cut_out": 1008, "tail_out": 1012,
                                     "handle_head": 8, "handle_tail": 4, "cut_duration": 8}
    assert record["timecode"] == {"first_frame": 993, "first": "00:00:41:09", "last_frame": 1012,
                                  "last": "00:00:42:04", "fps": 24.0, "source": "EXR timeCode"}
    assert record["fps"] is None or record["fps"] == 24.0
    assert not data["instances"][0]["warnings"]

    # handles that leave no cut fail the range check; a time code that jumps is a warning
    assert main(args + ["--handles", "12,12"]) == 2
    assert "handles 12,12 leave no cut in the frame range 993-1012" in capsys.readouterr().out
    jumped = _timecoded_plates(str(tmp_path / "jump"), range(1001, 1005), jump_at=1003)
    manifest = fa.run("util.convert", input=jumped, output=str(tmp_path / "out2" / "plate.####.exr"),
                      frames="1001-1004")["manifest_path"]
    result = publish([manifest], root=str(tmp_path / "pub2"), movie=False, **CONTEXT)
    assert result.ok, result.format()
    assert any("time code does not run on with the frame numbers at frames 1003-1004" in w
               for w in result.instances[0].warnings)


def test_one_failing_instance_holds_the_others_back_with_a_reason(tmp_path):
    good, _ = _render(tmp_path, name="beauty")
    bad, bad_out = _render(tmp_path, name="matte")
    os.remove(bad_out.replace("####", "1003"))
    result = publish([good, bad], root=str(tmp_path / "pub"), movie=False, **CONTEXT)
    by_name = {i.name: i for i in result.instances}
    assert not result.ok and result.exit_code == 2
    assert by_name["matte"].status == "failed" and by_name["beauty"].status == "held"
    assert not by_name["beauty"].problems and "held back because matte failed" in by_name["beauty"].held_by
    report = result.format()
    assert "held render beauty" in report and "FAIL render matte" in report and "FAIL render beauty" not in report
    assert not (tmp_path / "pub").exists() or not any((tmp_path / "pub").rglob("v0*"))

    # --partial publishes what passed its own checks
    partial = publish([good, bad], root=str(tmp_path / "pub"), movie=False, partial=True, **CONTEXT)
    by_name = {i.name: i for i in partial.instances}
    assert by_name["beauty"].status == "published" and by_name["matte"].status == "failed"
    assert by_name["beauty"].published["version"] == 1 and by_name["matte"].published is None


def test_pyblish_itself_finds_and_runs_the_plugins_after_register(tmp_path, monkeypatch):
    """What a Pyblish GUI (pyblish-lite, pyblish-qml) does: discover from registered paths, then publish."""
    import pyblish.api
    import pyblish.util

    from filmai_plugins.publish import deregister, register

    monkeypatch.delenv("PYBLISHPLUGINPATH", raising=False)
    manifest, _ = _render(tmp_path)
    paths = register(host="headless", sources=[manifest], root=str(tmp_path / "pub"), movie=False, **CONTEXT)
    try:
        assert set(paths) <= set(pyblish.api.registered_paths()) and "headless" in pyblish.api.registered_hosts()
        names = {p.__name__ for p in pyblish.api.discover()}
        assert {"FilmAICollectSession", "FilmAICollectSources", "FilmAIValidateFrameRange",
                "FilmAIIntegrateVersion", "FilmAICollectHeadlessSession"} <= names
        assert "FilmAICollectBlenderScene" not in names  # another host's plug-ins stay out
        context = pyblish.util.publish()
        failed = [(r["plugin"].__name__, str(r["error"])) for r in context.data["results"] if r["error"]]
        assert not failed
        [instance] = list(context)
        assert instance.data["family"] == "render" and instance.data["published"]["version"] == 1
    finally:
        deregister()
    assert not set(paths) & set(pyblish.api.registered_paths()) and "headless" not in pyblish.api.registered_hosts()


def test_a_manifest_with_wrong_typed_fields_is_refused_naming_the_file(tmp_path, capsys):
    manifest, out = _render(tmp_path)
    data = json.load(open(manifest))
    data["outputs"]["output"]["pattern"] = 5
    data["node"]["version"] = ["1"]
    data["frames"] = "every frame"
    edited = tmp_path / "out" / "edited.1-6.manifest.json"
    edited.write_text(json.dumps(data))
    args = ["--root", str(tmp_path / "pub"), "--project", "demo", "--shot", "sh010", "--task", "comp"]
    for source in (str(edited), out):  # given itself, or found beside its sequence
        assert main(["publish", source, *args]) == 2
        err = capsys.readouterr().err
        assert f"{edited}: not a valid FilmAI manifest" in err and "Traceback" not in err
        assert "outputs.output.pattern is int (5), expected str" in err and "node.version is a list" in err
        assert "frames is 'every frame', not a frame spec" in err
    edited.unlink()
    (tmp_path / "out" / "notes.manifest.json").write_text("[1, 2]")  # not a FilmAI manifest: passed over
    assert main(["publish", out, *args, "--no-movie"]) == 0


def test_a_frame_changed_after_its_run_is_refused_and_repaired(tmp_path):
    """The run manifest records each frame's sha256 as the engine writes it (``checksums``); a frame edited
    afterwards (header kept) is refused, and the repair re-renders it."""
    manifest, out = _render(tmp_path)
    data = json.load(open(manifest))
    assert data["outputs"]["output"]["checksums"] == {
        str(f): integrate.file_sha256(out.replace("####", str(f))) for f in range(1001, 1007)}
    changed = out.replace("####", "1003")
    buf = oiio.ImageBuf(changed)
    spec, pixels = oiio.ImageSpec(buf.spec()), buf.get_pixels(oiio.FLOAT)
    writer = oiio.ImageOutput.create(changed)  # inverted pixels, the same header (provenance included)
    assert writer.open(changed, spec) and writer.write_image(1.0 - pixels), writer.geterror()
    writer.close()
    from filmai_plugins.frames.io import read_provenance

    assert read_provenance(changed)["frame"] == "1003"

    result = publish([manifest], root=str(tmp_path / "pub"), movie=False, **CONTEXT)
    assert not result.ok and result.exit_code == 2
    assert ("FilmAIValidateChecksums", "frames 1003: the file changed after the run wrote it (sha256 differs from "
            "what plate.1001-1006.manifest.json recorded)") in _problems(result)
    repaired = publish([manifest], root=str(tmp_path / "pub"), movie=False, repair=True, **CONTEXT)
    assert repaired.ok, repaired.format()
    assert "re-rendered util.convert frames 1003 (changed after the run)" in repaired.repairs[0]["done"]
    record = integrate.read_record(repaired.instances[0].published["path"])
    assert record["checksums_verified"] == 6  # five from the run, the re-rendered frame from the repair run
