import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from helpers import SHARED_DATA, write_sequence  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch):
    """Each test sees a registry built from its own environment (allow/block lists, extra packs)."""
    from filmai_plugins.app import set_default_app

    for var in ("FILMAI_PLUGINS_ALLOW", "FILMAI_PLUGINS_BLOCK", "FILMAI_PLUGIN_MODULES"):
        monkeypatch.delenv(var, raising=False)
    set_default_app(None)
    yield
    set_default_app(None)


@pytest.fixture
def sequence(tmp_path):
    """A 4-frame RGBA half EXR sequence 1001-1004 (96x64) with HDR highlights."""
    return write_sequence(str(tmp_path / "in"))


@pytest.fixture
def shared_data():
    if not os.path.isdir(SHARED_DATA):
        pytest.skip("../shared/data not present")
    return SHARED_DATA
