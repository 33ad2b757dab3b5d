"""The farm's optional dependencies (the ``[farm]`` extra): imported when a farm feature is used, with
one clear message when they are missing.

The core installs without them: a farm worker needs only ``filmai run``/``filmai publish``;
writing templates (openjd-model, PyYAML) and running Dask clusters (dask, distributed) need the extra.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import BadInput

FARM_EXTRA = "pip install 'filmai-plugins[farm]'"


class MissingDependency(BadInput):
    """An optional part is not installed (exit 2: the command cannot work as the install stands)."""


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or module.split(".")[0]
        raise MissingDependency(f"{feature} needs {missing}, which is not installed: {FARM_EXTRA}") from None
