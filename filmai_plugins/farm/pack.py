"""The built-in farm pack: registers the ``local`` and ``dask`` engines, and speaks OpenJD's progress
protocol for runs started by a farm job.

Loaded through the ``filmai_plugins`` entry-point group like any pack; importing it stays cheap (no
Dask until a Dask engine is made).
"""
from __future__ import annotations

import os
import sys
from typing import Any

from filmai_plugins.hookspecs import hookimpl

#: Set by the steps of FilmAI job templates (and the engines) for the ``filmai`` processes they start.
PROGRESS_ENV = "FILMAI_FARM_PROGRESS"


def _local(**options: Any):
    from .engines import LocalEngine

    return LocalEngine(**options)


def _dask(**options: Any):
    from .engines import DaskEngine

    return DaskEngine(**options)


@hookimpl
def filmai_register_farm_engines(registry) -> None:
    registry.add("local", _local)
    registry.add("dask", _dask)


class _OpenJDProgress:
    """Turns run events into ``openjd_progress: N`` / ``openjd_status: ...`` lines on stdout, which
    OpenJD runtimes (``openjd run``, Deadline Cloud's worker agent) show as task progress."""

    def __init__(self) -> None:
        self.total = 0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self.total = int(event.get("total") or 0)
            self._say(f"openjd_status: {event.get('node')} {event.get('frames') or ''} "
                      f"({event.get('todo', self.total)} to do)")
        elif kind in ("frame", "skip") and event.get("total"):
            self._say(f"openjd_progress: {100.0 * event['done'] / event['total']:.1f}")
        elif kind == "step" and event.get("total"):
            self._say(f"openjd_progress: {100.0 * event['step'] / event['total']:.1f}")
        elif kind == "done":
            self._say("openjd_progress: 100.0")

    @staticmethod
    def _say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


_progress = _OpenJDProgress()


@hookimpl
def filmai_run_event(event: dict[str, Any]) -> None:
    if os.environ.get(PROGRESS_ENV) == "openjd":
        _progress(event)


@hookimpl
def filmai_register_commands(commands) -> None:
    from . import cli

    cli.register_cli(commands)
