"""docs/nodes.md is generated from the node schema (`make docs`), never edited by hand: it must match."""
from __future__ import annotations

import os

from filmai_plugins.cli import main as filmai
from filmai_plugins.app import set_default_app

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_node_reference_is_generated_from_the_built_in_packs(tmp_path, monkeypatch):
    for name in ("FILMAI_PLUGINS_ALLOW", "FILMAI_PLUGINS_BLOCK", "FILMAI_PLUGIN_MODULES"):
        monkeypatch.delenv(name, raising=False)
    set_default_app(None)  # the built-in packs only, as a user's install has them
    try:
        out = tmp_path / "nodes.md"
        assert filmai(["nodes", "--markdown", "--output", str(out)]) == 0
    finally:
        set_default_app(None)
    generated = out.read_text(encoding="utf-8")
    for node in ("cnn.copycat", "cnn.denoise", "gan.upres", "gan.generate", "lstm.cuts", "lstm.recommend"):
        assert f"## {node}" in generated
    with open(os.path.join(REPO, "docs", "nodes.md"), encoding="utf-8") as f:
        committed = f.read()
    assert committed == generated, "docs/nodes.md is out of date with the node schema: run `make docs`"


def test_make_bench_runs_every_evaluation_script(tmp_path):
    """`make bench` calls bench/run_all.py: it must exist and list every evaluation script in bench/ (the
    training scripts and helpers are not benchmarks), and a run it cannot do fails with a clear exit code."""
    import subprocess
    import sys

    runner = os.path.join(REPO, "bench", "run_all.py")
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as f:
        assert "bench/run_all.py" in f.read()
    listed = subprocess.run([sys.executable, runner, "--list"], capture_output=True, text=True, check=True).stdout
    scripts = {line.split()[1] for line in listed.splitlines()}
    on_disk = {f"bench/{name}" for name in os.listdir(os.path.join(REPO, "bench"))
               if name.endswith(".py") and not name.startswith(("_", "train_", "render_")) and name != "run_all.py"}
    assert scripts == on_disk
    bad = subprocess.run([sys.executable, runner, "--only", "nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown benchmark nonsense" in bad.stderr
