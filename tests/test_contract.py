"""The node contract v2: frame handles (util.temporal_median), keyed params, the shared schema parser, and
the structure of the core (no import circle, nothing below the engine reaching up to the app, hosts/ only
in DCC code)."""
import ast
import glob
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import filmai_plugins as fa
from filmai_plugins import schema
from filmai_plugins.frames import read_frame, read_provenance
from helpers import write_exr

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)


def cli(*args, env=None):
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join([TESTS, full.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "filmai_plugins", *args], capture_output=True, text=True, env=full)


@pytest.fixture
def shaky(tmp_path):
    """12 frames (1-12) of a static background with a moving blob and per-frame noise, RGBA + a Z channel,
    half."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:24, 0:32].astype(np.float32)
    background = np.stack([0.2 + x / 64, 0.3 + y / 48, 0.5 + 0 * x], axis=2)
    for f in range(1, 13):
        blob = np.exp(-((x - 2.5 * f) ** 2 + (y - 12) ** 2) / 4.0)[..., None]
        rgb = background * (1 - blob) + 3.0 * blob + rng.normal(0, 0.02, background.shape)
        pixels = np.concatenate([rgb, np.ones((24, 32, 1)), np.full((24, 32, 1), 10.0 + f)], axis=2)
        write_exr(str(tmp_path / "in" / f"plate.{f:04d}.exr"), pixels, ["R", "G", "B", "A", "Z"])
    return str(tmp_path / "in" / "plate.####.exr")


def frames_of(pattern, frames):
    return {f: read_frame(pattern.replace("####", f"{f:04d}")).pixels for f in frames}


def test_chunks_equal_one_run_and_interior_frames_are_the_median(tmp_path, shaky):
    whole = str(tmp_path / "whole" / "m.####.exr")
    chunks = str(tmp_path / "chunks" / "m.####.exr")
    m = fa.run("util.temporal_median", input=shaky, output=whole, frames="1-12")
    for spec in ("1-4", "5-8", "9-12"):
        fa.run("util.temporal_median", input=shaky, output=chunks, frames=spec)
    a, b = frames_of(whole, range(1, 13)), frames_of(chunks, range(1, 13))
    for f in range(1, 13):
        assert np.array_equal(a[f], b[f]), f"frame {f}: chunked result differs from one run"
    src = frames_of(shaky, range(1, 13))
    for f in range(3, 11):  # interior: the full window of 5
        expected = np.median(np.stack([src[n] for n in range(f - 2, f + 3)]), axis=0)
        np.testing.assert_array_equal(a[f], expected.astype(np.float16).astype(np.float32))
    # the end: the window shrinks to frames 1-3
    np.testing.assert_array_equal(a[1], np.median(np.stack([src[1], src[2], src[3]]), axis=0)
                                  .astype(np.float16).astype(np.float32))
    assert m["frames_needed"] == {"read": "1-12", "outside_range": "", "clamped": "-1-0,13-14"}
    first_chunk = json.load(open(glob.glob(str(tmp_path / "chunks" / "m.1-4.manifest.json"))[0]))
    assert first_chunk["frames_needed"]["outside_range"] == "5-6"  # handles read beyond the chunk


def test_moving_data_windows_keep_what_the_neighbours_hold(tmp_path):
    """A render's bounding box follows the action: each frame's data window is elsewhere on a 40x20
    display window. The median's data window is the union of the window's (as Nuke's bbox), zero outside
    each frame's own; a pixel only the neighbours cover is their median with the current frame's zero."""
    boxes = {1: (0, 2, 16, 10), 2: (12, 4, 12, 10), 3: (4, 6, 16, 10)}
    placed = {}
    for f, (x, y, w, h) in boxes.items():
        pixels = np.full((h, w, 4), 0.25 * f, np.float32)
        pixels[..., 3] = 1.0
        pixels[..., 0] += np.arange(w)[None, :] / 64
        write_exr(str(tmp_path / "in" / f"plate.{f:04d}.exr"), pixels, data_window=(x, y),
                  display_window=(0, 0, 40, 20))
        full = np.zeros((20, 40, 4), np.float32)
        full[y:y + h, x:x + w] = pixels.astype(np.float16)
        placed[f] = full
    out = str(tmp_path / "out" / "m.####.exr")
    fa.run("util.temporal_median", input=str(tmp_path / "in" / "plate.####.exr"), output=out, frames="2",
           window=3)
    result = read_frame(out.replace("####", "0002"))
    assert result.data_window == (0, 2, 24, 14)  # the union of frames 1-3, not frame 2's (12, 4, 12, 10)
    expected = np.median(np.stack([placed[1], placed[2], placed[3]]), axis=0).astype(np.float16)
    np.testing.assert_array_equal(result.to_display_window(), expected.astype(np.float32))
    # frames 1 and 3 both cover x 4-11, y 6-11, which frame 2 does not: the median there is the smaller of
    # their values, not nothing
    assert np.all(result.to_display_window()[6:12, 4:12, 3] == 1.0)


def test_skip_existing_redoes_only_the_missing_frame(tmp_path, shaky):
    out = str(tmp_path / "o" / "m.####.exr")
    fa.run("util.temporal_median", input=shaky, output=out, frames="1-12")
    before = {f: os.stat(out.replace("####", f"{f:04d}")).st_mtime_ns for f in range(1, 13)}
    reference = frames_of(out, [7])[7]
    os.remove(out.replace("####", "0007"))
    m = fa.run("util.temporal_median", input=shaky, output=out, frames="1-12", skip_existing=True)
    assert m["outputs"]["output"]["frames_written"] == "7"
    assert m["outputs"]["output"]["frames_skipped"] == "1-6,8-12"
    after = {f: os.stat(out.replace("####", f"{f:04d}")).st_mtime_ns for f in range(1, 13) if f != 7}
    assert all(after[f] == before[f] for f in after)
    np.testing.assert_array_equal(frames_of(out, [7])[7], reference)


def test_keyed_mix_is_the_linear_blend(tmp_path, shaky):
    median = str(tmp_path / "full" / "m.####.exr")
    keyed = str(tmp_path / "keyed" / "m.####.exr")
    fa.run("util.temporal_median", input=shaky, output=median, frames="1-12")
    r = cli("run", "util.temporal_median", "-i", shaky, "-o", keyed, "-f", "1-12", "--set", "mix=1:0,12:1")
    assert r.returncode == 0, r.stderr
    src, med, out = frames_of(shaky, [1, 6, 12]), frames_of(median, [1, 6, 12]), frames_of(keyed, [1, 6, 12])
    np.testing.assert_array_equal(out[1], src[1])  # mix 0: the input, untouched
    np.testing.assert_array_equal(out[12], med[12])  # mix 1: the median
    t = 5 / 11  # frame 6 between keys 1 and 12
    np.testing.assert_allclose(out[6], src[6] + t * (med[6] - src[6]), atol=2e-3)
    manifest = json.load(open(glob.glob(str(tmp_path / "keyed" / "*.manifest.json"))[0]))
    assert manifest["keys"] == {"mix": [[1, 0.0], [12, 1.0]]}
    assert manifest["params"]["mix"] == {"keys": [[1, 0.0], [12, 1.0]]}
    assert json.loads(read_provenance(keyed.replace("####", "0006"))["params"])["mix"] == {"keys": [[1, 0.0], [12, 1.0]]}


def test_channels_param_filters_some_and_passes_the_others(tmp_path, shaky):
    out = str(tmp_path / "o" / "m.####.exr")
    fa.run("util.temporal_median", input=shaky, output=out, frames="5", channels="R,G,B")
    got, src = frames_of(out, [5])[5], frames_of(shaky, [5])[5]
    np.testing.assert_array_equal(got[:, :, 3:], src[:, :, 3:])  # A and Z untouched (Z differs per frame)
    assert not np.array_equal(got[:, :, :3], src[:, :, :3])


@pytest.mark.parametrize("sets,message", [
    (["window=4"], "param 'window': 4 is even"),
    (["window=13"], "param 'window': 13 frames is more than the input sequence has (12 frames on disk)"),
    (["mix=12:0,1:1"], "param 'mix': key frames must increase (12 then 1)"),
    (["mix=1:0,5:2"], "param 'mix': 2.0 is above the maximum 1.0"),
    (["window=1:3,5:5"], "param 'window' is not animatable"),
    (["mix=1:0,x"], "param 'mix': key 'x' is not FRAME:VALUE"),
])
def test_bad_window_and_keys_exit_2_naming_the_param(tmp_path, shaky, sets, message):
    out = tmp_path / "o"
    args = ["run", "util.temporal_median", "-i", shaky, "-o", str(out / "m.####.exr"), "-f", "1-12"]
    for s in sets:
        args += ["--set", s]
    r = cli(*args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() or os.listdir(out) == []  # nothing written, not even a manifest


def test_a_gap_inside_the_window_is_named(tmp_path, shaky):
    os.remove(shaky.replace("####", "0006"))
    r = cli("run", "util.temporal_median", "-i", shaky, "-o", str(tmp_path / "o" / "m.####.exr"), "-f", "4")
    assert r.returncode == 2 and "plate.0006.exr (frame 6)" in r.stderr and "needs input frames 2-6" in r.stderr


def test_frames_needed_are_reported_for_hosts(shaky):
    r = cli("info", "util.temporal_median", "--frames-needed", "1-3", "--set", "window=3")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"frames": "1-3", "needed": "0-4"}
    assert fa.get_node("util.temporal_median").schema()["temporal"] is True
    assert fa.get_node("util.convert").schema()["temporal"] is False


# ----- keys through the API ------------------------------------------------------------------------

def test_keys_from_python_and_their_evaluation():
    cls = fa.get_node("util.temporal_median")
    resolved = cls.resolve_params({"mix": {1001: 0.0, 1101: 1.0}})
    assert isinstance(resolved["mix"], schema.Keys)
    assert cls.params_at(resolved, 900)["mix"] == 0.0  # held before the first key
    assert cls.params_at(resolved, 1051)["mix"] == pytest.approx(0.5)
    assert cls.params_at(resolved, 2000)["mix"] == 1.0  # held after the last
    assert cls.resolve_params({"mix": [(1, 0.25)]})["mix"] == schema.Keys([(1, 0.25)])


# ----- one parser, one table, the core and the DCC side -------------------------------------------

FLOAT = {"name": "gain", "type": "float", "min": 0.0, "max": 8.0, "animatable": True}
INT = {"name": "steps", "type": "int", "min": 1, "max": None}
COLOR = {"name": "tint", "type": "color", "size": 3, "animatable": True}
BOOL = {"name": "half", "type": "bool"}
ENUM = {"name": "mode", "type": "enum", "choices": ["a", "b"]}

class E(str):
    """An expected error message (a plain value otherwise)."""


#: (param, given, expected value or E(error text))
VALUES = [
    (FLOAT, "1.5", 1.5), (FLOAT, 2, 2.0), (FLOAT, "9", E("above the maximum 8.0")), (FLOAT, "nan", E("must be finite")),
    (INT, "3", 3), (INT, "3.0", 3), (INT, 4.0, 4), (INT, "3.5", E("not a whole number")), (INT, True, E("bool")),
    (INT, "0", E("below the minimum 1")),
    (COLOR, "1,0,0", (1.0, 0.0, 0.0)), (COLOR, "1 0 0", (1.0, 0.0, 0.0)), (COLOR, 0.5, (0.5, 0.5, 0.5)),
    (COLOR, [1, 2, 3], (1.0, 2.0, 3.0)), (COLOR, "1,0", E("expected 3 components")),
    (BOOL, "yes", True), (BOOL, "off", False), (BOOL, 1, True), (BOOL, "maybe", E("expected true/false")),
    (ENUM, "b", "b"), (ENUM, "c", E("expected one of a, b")),
    (FLOAT, "1001:0,1100:8", schema.Keys([(1001, 0.0), (1100, 8.0)])),
    (COLOR, "1:1 0 0;5:0 0 1", schema.Keys([(1, (1.0, 0.0, 0.0)), (5, (0.0, 0.0, 1.0))])),
    (FLOAT, {"keys": [[1, 2], [3, 4]]}, schema.Keys([(1, 2.0), (3, 4.0)])),
    (FLOAT, "5:1,5:2", E("key frames must increase")), (INT, "1:3", E("not animatable")),
]
#: (spec, expected frames or E(error text))
SPECS = [
    ("1001-1004", [1001, 1002, 1003, 1004]), ("1001-1008:2", [1001, 1003, 1005, 1007]),
    ("1001-1008x2", [1001, 1003, 1005, 1007]), ("1,5,9-11", [1, 5, 9, 10, 11]), ("3-1", [3, 2, 1]),
    ("-2-1", [-2, -1, 0, 1]), ("1001", [1001]), ("1-3,2", [1, 2, 3]),
    ("1.5", E("whole numbers")), ("1-10:0", E("step")), ("a-b", E("not a frame or a range")), ("", E("empty frame spec")),
    ("1-100000000", E("names 100000000 frames; the limit is 1000000")), ("1,,2", E("empty item")),
]


def _worker_module():
    spec = importlib.util.spec_from_file_location("worker_for_contract", os.path.join(REPO, "hosts", "worker.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("side", ["core", "dcc"])
def test_one_table_for_values_and_frame_specs(side):
    from filmai_plugins.node import Param

    worker = _worker_module()
    for param, given, expected in VALUES:
        if side == "core":
            p = Param(param["name"], param["type"], None, min=param.get("min"), max=param.get("max"),
                      choices=tuple(param.get("choices", ())), animatable=param.get("animatable", False),
                      size=param.get("size", 3))
            call = lambda: p.parse(given)  # noqa: E731
            error = fa.ParamError
        else:
            call = lambda: worker.check_value(param, given)  # noqa: E731
            error = ValueError
        if isinstance(expected, E):
            with pytest.raises(error, match=expected.replace("(", r"\(").replace(")", r"\)")):
                call()
        else:
            assert call() == expected, (param["name"], given)
    for spec, expected in SPECS:
        if side == "dcc" and spec == "":
            assert worker.expand_frames("") == []  # a manifest's empty frames_written: no frames
            continue
        parse = (lambda s: fa.frames.parse_frames(s)) if side == "core" else worker.expand_frames  # noqa: E731
        error = fa.BadInput if side == "core" else ValueError
        if isinstance(expected, E):
            with pytest.raises(error, match=expected):
                parse(spec)
        else:
            assert parse(spec) == expected, spec


def test_frame_spec_formatting_round_trips():
    for frames in ([1, 2, 3, 10], [1001, 1003, 1005, 1007], [5], [1, 3], [-2, -1, 0, 7, 9, 11]):
        text = schema.format_frame_spec(frames)
        assert schema.parse_frame_spec(text) == sorted(frames), text
    assert schema.format_frame_spec([1001, 1003, 1005, 1007]) == "1001-1007x2"


def test_a_huge_spec_over_a_short_sequence_fails_fast(tmp_path, shaky):
    import time

    t0 = time.perf_counter()
    r = cli("run", "util.convert", "-i", shaky, "-o", str(tmp_path / "o.####.exr"), "-f", "1-2000000")
    assert r.returncode == 2 and "2000000 frames; the limit is 1000000" in r.stderr
    t0 = time.perf_counter()
    r = cli("run", "util.convert", "-i", shaky, "-o", str(tmp_path / "o.####.exr"), "-f", "1-900000")
    assert r.returncode == 2 and "899988 of 900000 frames missing" in r.stderr
    assert time.perf_counter() - t0 < 10


# ----- structure of the core ----------------------------------------------------------------------

CORE = os.path.join(REPO, "filmai_plugins")


def _module_name(path):
    rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def _runtime_nodes(tree):
    """Every node of a module except those under ``if TYPE_CHECKING:`` (type-only imports never run)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return [n for n in ast.walk(tree) if id(n) not in skip]


def _imports(path):
    """Every module ``path`` imports at run time, anywhere in the file (lazy imports count)."""
    name = _module_name(path)
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for a in node.names:
                found.add(f"{base}.{a.name}")
                found.add(base)
    return found


def _core_graph():
    files = [p for p in glob.glob(os.path.join(CORE, "**", "*.py"), recursive=True) if "/plugins/" not in p]
    modules = {_module_name(p): p for p in files}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imp in _imports(path):
            # a module's own parent packages are initialised before it: importing them is no circle
            if imp in modules and imp != name and not name.startswith(imp + "."):
                targets.add(imp)
        graph[name] = targets
    return graph


def test_no_import_circle_in_the_core():
    graph = _core_graph()
    state, stack, cycles = {}, [], []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                cycles.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_nothing_below_the_engine_reaches_up_to_the_app_or_the_cli():
    graph = _core_graph()
    low = [n for n in graph if n.startswith(("filmai_plugins.frames", "filmai_plugins.training",
                                             "filmai_plugins.engine.context", "filmai_plugins.engine.progress",
                                             "filmai_plugins.engine.tiling", "filmai_plugins.engine.cancel"))
           or n in ("filmai_plugins.color", "filmai_plugins.node", "filmai_plugins.schema", "filmai_plugins.registry",
                    "filmai_plugins.hookspecs", "filmai_plugins.manifest")]
    for n in low:
        assert not graph[n] & {"filmai_plugins.app", "filmai_plugins.cli", "filmai_plugins.cliargs"}, n
    importers_of_cli = sorted(n for n, targets in graph.items() if "filmai_plugins.cli" in targets)
    assert importers_of_cli == ["filmai_plugins.__main__"], importers_of_cli  # only the entry point
    for n in low:  # no global registry, nothing that looks one up
        source = open(os.path.join(REPO, *n.split(".")) + ".py" if os.path.isfile(
            os.path.join(REPO, *n.split(".")) + ".py") else os.path.join(REPO, *n.split("."), "__init__.py")).read()
        assert "default_app(" not in source and "get_registry" not in source, n


def test_schema_module_is_standard_library_only():
    tree = ast.parse(open(os.path.join(CORE, "schema.py"), encoding="utf-8").read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_hosts_are_imported_only_by_dcc_code():
    offenders = []
    # publish/plugins/<host>/ are Pyblish plug-in folders that Pyblish executes inside that host (data to the
    # core, which never imports them)
    dcc_publish = (os.path.join(CORE, "publish", "plugins", "blender"), os.path.join(CORE, "publish", "plugins", "nuke"))
    for root in ("filmai_plugins", "nodes"):
        for path in glob.glob(os.path.join(REPO, root, "**", "*.py"), recursive=True):
            if path.startswith(dcc_publish):
                continue
            for imp in _imports(path):
                if imp.startswith(("filmai_plugins.hosts", "hosts.")) or imp in ("bpy", "nuke", "hosts"):
                    offenders.append(f"{os.path.relpath(path, REPO)} imports {imp}")
    assert not offenders, offenders
