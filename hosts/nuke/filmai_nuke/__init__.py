"""FilmAI Plugins inside Nuke: every registered node as a Group with knobs generated from its schema.

Node work runs in the headless host through the shared worker client (``worker.py``): the plug-in
folder carries a copy of it when installed with ``filmai nuke install DIR``; run from the
filmai-plugins tree (NUKE_PATH = ``filmai nuke path``) it is read from ``hosts/worker.py``.
"""
from __future__ import annotations

import importlib.util
import os
import sys


def _load(module: str, candidates: tuple) -> object:
    here = os.path.dirname(os.path.abspath(__file__))
    for parts in candidates:
        path = os.path.normpath(os.path.join(here, *parts))
        if os.path.isfile(path):
            name = f"{__name__}.{module}"
            spec = importlib.util.spec_from_file_location(name, path)
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[name] = loaded  # before exec: dataclasses look their module up
            spec.loader.exec_module(loaded)
            return loaded
    raise ImportError(f"filmai_nuke: {module}.py not found; install the plug-in folder with `filmai nuke install DIR`")


# The copies installed beside this file, else the filmai-plugins tree this folder lives in: the shared
# parser first (filmai_plugins/schema.py: the repository's, or an installed package's), then the worker,
# which imports it as ``filmai_nuke.schema`` (registered in sys.modules only: the package's own ``schema``
# attribute is the adapter's node-schema function).
_load("schema", (("schema.py",), (os.pardir, os.pardir, os.pardir, "filmai_plugins", "schema.py"),
                          (os.pardir, os.pardir, os.pardir, "schema.py")))
worker = _load("worker", (("worker.py",), (os.pardir, os.pardir, "worker.py")))

from .adapter import (JobFailed, add_training_frame, build_menu, check_stale, create, install,  # noqa: E402
                      knob_changed, process, reload_nodes, schema, train, update_ui, write_farm_job, write_timeline)

__all__ = ["worker", "JobFailed", "install", "build_menu", "create", "process", "train", "add_training_frame",
           "knob_changed", "update_ui", "check_stale", "reload_nodes", "schema", "write_farm_job", "write_timeline"]
