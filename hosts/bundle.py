"""Packaging the hosts: the Blender extension zip and the Nuke plug-in folder, each carrying the worker client.

The Blender zip is built and validated by Blender's own extension tool (``blender_ext.py``, which ships
inside the ``bpy`` wheel and also runs as ``blender --command extension``); nothing here imports bpy.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib

from filmai_plugins._version import __version__
from filmai_plugins.errors import BadInput, RunFailure

HOSTS_DIR = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HOSTS_DIR, "worker.py")
BLENDER_SOURCE = os.path.join(HOSTS_DIR, "blender")
NUKE_SOURCE = os.path.join(HOSTS_DIR, "nuke")
NUKE_PACKAGE = "filmai_nuke"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def blender_manifest() -> dict:
    with open(os.path.join(BLENDER_SOURCE, "blender_manifest.toml"), "rb") as f:
        return tomllib.load(f)


def extension_zip_name() -> str:
    m = blender_manifest()
    return f"{m['id']}-{m['version']}.zip"


def find_blender_ext() -> str:
    """Blender's ``blender_ext.py``: ``$FILMAI_BLENDER_EXT``, else the copy inside the installed bpy wheel."""
    env = os.environ.get("FILMAI_BLENDER_EXT")
    if env:
        if not os.path.isfile(env):
            raise BadInput(f"FILMAI_BLENDER_EXT={env} does not exist")
        return env
    spec = importlib.util.find_spec("bpy")
    if spec is not None and spec.origin:
        root = os.path.dirname(spec.origin)
        found = sorted(glob.glob(os.path.join(root, "*", "scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")))
        if found:
            return found[-1]
    raise BadInput("cannot find Blender's extension tool: install the bpy module (pip install -c constraints.txt "
                   "bpy==5.0.1), pass --blender /path/to/blender, or set FILMAI_BLENDER_EXT")


def _tool(blender: str | None) -> list[str]:
    if blender:
        if not shutil.which(blender) and not os.path.isfile(blender):
            raise BadInput(f"Blender executable {blender!r} not found")
        return [blender, "--factory-startup", "--command", "extension"]
    return [sys.executable, find_blender_ext()]


def stage_blender_extension(dest: str) -> str:
    """Copy the extension source and the worker client into ``dest`` (what the zip will hold)."""
    manifest = blender_manifest()
    if manifest.get("version") != __version__:
        raise RunFailure(f"hosts/blender/blender_manifest.toml version {manifest.get('version')} differs from "
                         f"filmai-plugins {__version__}; bump them together")
    shutil.copytree(BLENDER_SOURCE, dest, ignore=_SKIP, dirs_exist_ok=True)
    shutil.copy2(WORKER, os.path.join(dest, "worker.py"))
    return dest


def build_blender_extension(output_dir: str = "dist", blender: str | None = None) -> str:
    """Build and validate the extension zip in ``output_dir``; returns its path."""
    os.makedirs(output_dir, exist_ok=True)
    target = os.path.join(os.path.abspath(output_dir), extension_zip_name())
    with tempfile.TemporaryDirectory(prefix="filmai-blender-") as tmp:
        src = stage_blender_extension(os.path.join(tmp, blender_manifest()["id"]))
        _run(_tool(blender) + ["build", "--source-dir", src, "--output-filepath", target])
    validate_blender_extension(target, blender)
    return target


def validate_blender_extension(path: str, blender: str | None = None) -> str:
    return _run(_tool(blender) + ["validate", path])


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = (proc.stdout + proc.stderr).strip()
    # blender_ext.py reports some failures on stdout with exit code 0: trust its words as well.
    if proc.returncode or "ERROR" in out or "FATAL_ERROR" in out:
        raise RunFailure(f"{' '.join(cmd[-3:])}: {out}")
    return out


def install_nuke_folder(dest: str) -> str:
    """Copy the NUKE_PATH plug-in folder to ``dest`` with the worker client inside it, so Nuke's own
    Python needs nothing else installed. ``dest`` must not exist or be empty."""
    if os.path.exists(dest) and (not os.path.isdir(dest) or os.listdir(dest)):
        raise BadInput(f"{dest} exists and is not empty; choose a new folder (nothing was overwritten)")
    shutil.copytree(NUKE_SOURCE, dest, ignore=_SKIP, dirs_exist_ok=True)
    shutil.copy2(WORKER, os.path.join(dest, NUKE_PACKAGE, "worker.py"))
    return dest
