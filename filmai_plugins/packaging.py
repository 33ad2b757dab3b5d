"""Packaging the hosts: the Blender extension zip and the Nuke plug-in folder, each carrying the worker client
and the shared schema module; ``filmai blender|nuke`` commands.

The host folders (``hosts/`` in the repository, ``filmai_plugins.hosts`` installed) are data here: this
module copies them and runs scripts from them, and never imports them (only a DCC does). The Blender zip
is built and validated by Blender's own extension tool (``blender_ext.py``, which ships inside the ``bpy``
wheel and also runs as ``blender --command extension``); nothing here imports bpy.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from typing import Any

from ._version import __version__
from .hookspecs import hookimpl
from .errors import BadInput, RunFailure


def _hosts_dir() -> str:
    # find_spec locates the folder without importing it (importing hosts/ is for DCCs only)
    spec = importlib.util.find_spec("filmai_plugins.hosts")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a broken install
        raise RunFailure("the host folders (filmai_plugins.hosts) are not installed")
    return list(spec.submodule_search_locations)[0]


HOSTS_DIR = _hosts_dir()
WORKER = os.path.join(HOSTS_DIR, "worker.py")
BLEND_JOBS = os.path.join(HOSTS_DIR, "blend_jobs.py")
#: the one parser of param values, keys and frame specs; the hosts carry a copy beside the worker client
SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.py")
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
    shutil.copy2(SCHEMA, os.path.join(dest, "schema.py"))
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
    shutil.copy2(SCHEMA, os.path.join(dest, NUKE_PACKAGE, "schema.py"))
    return dest


def read_blend_jobs(blend: str) -> list[dict[str, Any]]:
    """Job specs saved by the extension in each scene's ``filmai.jobs_json``, read by ``hosts/blend_jobs.py``
    in a separate Python process with the bpy module (readable without the extension)."""
    if not os.path.isfile(blend):
        raise BadInput(f"{blend}: file not found")
    proc = subprocess.run([sys.executable, BLEND_JOBS, os.path.abspath(blend)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if proc.returncode:
        tail = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:] or [f"exit {proc.returncode}"]
        raise BadInput(f"{blend}: {tail[0]}" if not tail[0].startswith(blend) else tail[0])
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise RunFailure(f"{blend}: the job reader printed something that is not JSON") from None


# ----- commands ---------------------------------------------------------------------------------------


def cmd_blender_build(args: argparse.Namespace) -> int:
    print(build_blender_extension(args.output_dir, args.blender))
    return 0


def cmd_blender_jobs(args: argparse.Namespace) -> int:
    jobs = read_blend_jobs(args.blend)
    if args.json:
        print(json.dumps(jobs, indent=2))
        return 0
    if not jobs:
        print(f"{args.blend}: no FilmAI jobs stored")
    for job in jobs:
        print(f"# scene {job['scene']}: {job['node']} ({job.get('status', '')})")
        print(job.get("command") or "")
    return 0


def cmd_nuke_path(args: argparse.Namespace) -> int:
    print(NUKE_SOURCE)
    return 0


def cmd_nuke_install(args: argparse.Namespace) -> int:
    dest = install_nuke_folder(args.dest)
    print(f"{dest}\nadd it to NUKE_PATH, e.g.  export NUKE_PATH={shlex.quote(os.path.abspath(dest))}:$NUKE_PATH")
    return 0


@hookimpl
def filmai_register_commands(commands: Any) -> None:
    sub = commands
    p = sub.add_parser("blender", help="the Blender extension: build it, read jobs stored in a .blend")
    bsub = p.add_subparsers(dest="blender_command", metavar="ACTION", required=True)
    b = bsub.add_parser("build-extension", help="build and validate the extension zip")
    b.add_argument("--output-dir", default="dist")
    b.add_argument("--blender", help="a Blender executable (default: the extension tool inside the bpy module)")
    b.set_defaults(func=cmd_blender_build)
    b = bsub.add_parser("jobs", help="FilmAI jobs stored in a .blend (needs the bpy module)")
    b.add_argument("blend")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_blender_jobs)

    p = sub.add_parser("nuke", help="the Nuke plug-in folder")
    nsub = p.add_subparsers(dest="nuke_command", metavar="ACTION", required=True)
    n = nsub.add_parser("path", help="print the folder to add to NUKE_PATH")
    n.set_defaults(func=cmd_nuke_path)
    n = nsub.add_parser("install", help="copy a self-contained plug-in folder to DIR")
    n.add_argument("dest")
    n.set_defaults(func=cmd_nuke_install)
