"""The plug-in manager and the app object: built-in packs through entry points, allow/block lists, broken and
duplicate packs, commands from plug-ins."""
import json
import subprocess
import sys

import pytest

import filmai_plugins as fa
from filmai_plugins.errors import BadInput
from filmai_plugins.app import App, default_app, set_default_app


def test_builtin_packs_register_through_entry_points():
    reg = default_app()
    for pack in ("util", "cnn", "gan", "lstm"):
        assert pack in reg.packs, reg.failed
        assert reg.packs[pack].startswith("filmai-plugins")  # came from the distribution's entry points
    assert reg.node_pack["util.convert"] == "util"
    assert reg.node_pack["cnn.torchscript"] == "cnn"
    assert not reg.failed


def test_third_party_pack_via_module_env(monkeypatch):
    monkeypatch.setenv("FILMAI_PLUGIN_MODULES", "registry_packs.good")
    set_default_app(None)
    node = fa.get_node("studio.exposure")
    assert node.version == "1.2.0" and default_app().node_pack["studio.exposure"] == "registry_packs.good"


def test_allow_list(monkeypatch):
    monkeypatch.setenv("FILMAI_PLUGINS_ALLOW", "util")
    set_default_app(None)
    assert set(fa.nodes()) == {"util.convert", "util.temporal_median"}


def test_block_list(monkeypatch):
    monkeypatch.setenv("FILMAI_PLUGINS_BLOCK", "cnn")
    set_default_app(None)
    assert "cnn.torchscript" not in fa.nodes() and "util.convert" in fa.nodes()


@pytest.mark.parametrize("module,reason", [
    ("registry_packs.broken_import", "ModuleNotFoundError: No module named 'filmai_missing_dependency_xyz'"),
    ("registry_packs.duplicate", "duplicate node id 'util.convert': already registered by pack 'util'"),
    ("registry_packs.misspelt_hook", "unknown hook or wrong hook arguments: unknown hook 'filmai_register_node'"),
    ("registry_packs.bad_param", "5.0 is above the maximum 1.0"),
])
def test_broken_packs_are_reported_not_fatal(monkeypatch, module, reason):
    monkeypatch.setenv("FILMAI_PLUGIN_MODULES", f"{module},registry_packs.good")
    set_default_app(None)
    reg = default_app()
    failed = {f.name: f.reason for f in reg.failed}
    assert reason in failed[module]
    assert "studio.exposure" in reg.nodes and "util.convert" in reg.nodes  # everything else still works
    assert reg.node_pack["util.convert"] == "util"
    if module.endswith("duplicate"):
        assert "dup.innocent" not in reg.nodes  # a rejected pack registers nothing


def test_filmai_nodes_lists_failed_packs(monkeypatch):
    env = {"FILMAI_PLUGIN_MODULES": "registry_packs.broken_import"}
    out = _cli(["nodes"], env)
    assert out.returncode == 0 and "util.convert" in out.stdout
    assert "FAILED pack 'registry_packs.broken_import'" in out.stderr and "filmai_missing_dependency_xyz" in out.stderr
    data = json.loads(_cli(["nodes", "--json"], env).stdout)
    assert data["failed"][0]["name"] == "registry_packs.broken_import"


def test_unknown_node_names_the_alternatives():
    with pytest.raises(BadInput, match="unknown node 'convert'. Did you mean util.convert"):
        fa.get_node("convert")


def test_in_process_plugins_and_run_events():
    events = []

    class Observer:
        @fa.hookimpl
        def filmai_run_event(self, event):
            events.append(event["event"])

    app = App(plugins=[("observer", Observer())])
    app.emit({"event": "start"})
    assert events == ["start"]


def test_listing_nodes_does_not_import_torch_or_openimageio():
    code = ("import sys, filmai_plugins.cli as c; c.main(['nodes', '--json']);"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', 'OIIO' if 'OpenImageIO' in sys.modules else 'NO-OIIO',"
            " file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "NO-TORCH NO-OIIO" in out.stderr


def _cli(args, env=None):
    import os

    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join([os.path.dirname(__file__), full.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "filmai_plugins", *args], capture_output=True, text=True, env=full)
