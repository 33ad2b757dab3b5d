"""FilmAI Plugins inside Nuke: every registered node as a Group with knobs generated from its schema.

Node work runs in the headless host through the shared worker client (``worker.py``): the plug-in
folder carries a copy of it when installed with ``filmai nuke install DIR``; run from the
filmai-plugins tree (NUKE_PATH = ``filmai nuke path``) it is read from ``hosts/worker.py``.
"""
from __future__ import annotations

import importlib.util
import os
import sys


def _load_worker():
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.path.join(here, "worker.py"), os.path.join(here, os.pardir, os.pardir, "worker.py")):
        if os.path.isfile(path):
            name = f"{__name__}.worker"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # before exec: dataclasses look their module up
            spec.loader.exec_module(module)
            return module
    raise ImportError("filmai_nuke: worker.py not found; install the plug-in folder with `filmai nuke install DIR`")


worker = _load_worker()

from .adapter import (JobFailed, add_training_frame, build_menu, create, install, knob_changed, process,  # noqa: E402
                      reload_nodes, schema, train, write_farm_job, write_timeline)

__all__ = ["worker", "JobFailed", "install", "build_menu", "create", "process", "train", "add_training_frame", "knob_changed",
           "reload_nodes", "schema", "write_farm_job", "write_timeline"]
