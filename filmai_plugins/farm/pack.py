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
    """Turns run events into OpenJD's progress protocol on stdout (``openjd run``, Deadline Cloud's worker
    agent show it as the task's progress): ``openjd_status:`` for what is happening (each stage of work
    announced), ``openjd_progress:`` as a percentage that never runs backwards across stages (events that
    carry ``overall``), and ``openjd_fail:`` with the reason when the run fails."""

    def __init__(self) -> None:
        self.total = 0
        self.last = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self.total, self.last = int(event.get("total") or 0), 0.0
            self._say(f"openjd_status: {event.get('node')} {event.get('frames') or ''} "
                      f"({event.get('todo', self.total)} to do)")
        elif kind == "stage":
            where = (f" ({event['stage_index'] + 1}/{event['stage_count']})"
                     if event.get("stage_index") is not None and event.get("stage_count") else "")
            self._say(f"openjd_status: {event.get('node')}: {event.get('stage')}{where}")
        elif kind in ("frame", "skip") and event.get("total"):
            self._progress(event["done"] / event["total"])
        elif kind == "step" and event.get("total"):
            self._progress(event["overall"] if "overall" in event else event["step"] / event["total"])
        elif kind == "done":
            self._progress(1.0)
        elif kind == "error":
            self._say(f"openjd_fail: {' '.join(str(event.get('message') or 'failed').split())}")

    def _progress(self, fraction: float) -> None:
        # a stage without declared positions restarts at 0: keep the task's bar where it was
        self.last = max(self.last, min(1.0, fraction))
        self._say(f"openjd_progress: {100.0 * self.last:.1f}")

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
