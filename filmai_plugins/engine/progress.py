"""Progress reporting: a bar on a terminal, JSON lines for hosts, and run events for plug-ins; messages
through ``logging``.

Every event is a dict with ``event`` and ``node``; the same dict goes to ``--progress json``
(one line on stdout each), to the app's ``filmai_run_event`` observers (``observers``, normally
``app.emit``) and to an in-process callback.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Callable, TextIO

PROGRESS_MODES = ("auto", "bar", "json", "none")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
#: Node messages are logged here (``filmai_plugins.run.<node id>``): the CLI shows them on stderr at
#: ``--log-level`` (default info), a TD's script configures ``logging`` as it likes.
log = logging.getLogger("filmai_plugins.run")


class TqdmAwareHandler(logging.StreamHandler):
    """Writes log records to stderr through ``tqdm.write`` so a progress bar on the terminal stays intact."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Show FilmAI's log messages on stderr (``filmai: warning: ...``) at ``level``; what the CLI calls."""
    logger = logging.getLogger("filmai_plugins")
    for handler in list(logger.handlers):
        if isinstance(handler, TqdmAwareHandler):
            logger.removeHandler(handler)
    handler = TqdmAwareHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("filmai: %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(LEVELS.get(level, logging.INFO))
    logger.propagate = False


class Progress:
    def __init__(self, mode: str = "auto", *, node: str = "", on_event: Callable[[dict], None] | None = None,
                 observers: Callable[[dict], None] | None = None, json_stream: TextIO | None = None,
                 bar_stream: TextIO | None = None):
        if mode not in PROGRESS_MODES:
            from ..errors import BadInput

            raise BadInput(f"unknown progress mode {mode!r} (one of {', '.join(PROGRESS_MODES)})")
        self.bar_stream = bar_stream or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.bar_stream, "isatty", lambda: False)() else "none"
        self.mode = mode
        self.node = node
        self.on_event = on_event
        self.observers = observers
        self.json_stream = json_stream or sys.stdout
        self._bar = None
        self._t0 = time.perf_counter()
        self._stage: str | None = None
        #: warnings and errors said during the run (the manifest records them)
        self.warnings: list[str] = []

    # ----- plumbing --------------------------------------------------------------------------
    def emit(self, kind: str, **data: Any) -> dict:
        event = {"event": kind, "node": self.node, "time": round(time.perf_counter() - self._t0, 4), **data}
        if self.mode == "json":
            self.json_stream.write(json.dumps(event, default=str) + "\n")
            self.json_stream.flush()
        if self.on_event is not None:
            self.on_event(event)
        if self.observers is not None:
            self.observers(event)
        return event

    def _open_bar(self, total: int, unit: str, desc: str) -> None:
        if self.mode != "bar":
            return
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit=unit, desc=desc, file=self.bar_stream, dynamic_ncols=True, leave=True)

    # ----- events ----------------------------------------------------------------------------
    def start(self, total: int, unit: str = "frame", **info: Any) -> None:
        self.emit("start", total=total, unit=unit, **info)
        self._open_bar(total, unit, self.node)

    def frame(self, number: int | None, path: str | None, done: int, total: int, seconds: float,
              skipped: bool = False) -> None:
        self.emit("skip" if skipped else "frame", frame=number, path=path, done=done, total=total,
                  seconds=round(seconds, 4))
        if self._bar is not None:
            self._bar.update(1)

    def step(self, step: int, total: int, *, stage: str | None = None, stage_index: int | None = None,
             stage_count: int | None = None, **metrics: Any) -> None:
        """A training step (or any unit of work that is not a frame).

        Work in stages (read the frames, then analyse them) names each: ``stage``, and where the node knows
        them, ``stage_index`` (0-based) of ``stage_count``: the event then carries ``overall`` (0-1 over all
        stages) so a farm's progress never runs backwards, and a new stage is announced once.
        """
        clean = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items()}
        if stage is not None:
            clean["stage"] = stage
            if stage != self._stage:
                self._stage = stage
                self.emit("stage", stage=stage, stage_index=stage_index, stage_count=stage_count)
                if self._bar is not None:
                    self._bar.set_description(f"{self.node} {stage}", refresh=False)
                    self._bar.reset(total=total)
            if stage_index is not None and stage_count:
                clean.update(stage_index=stage_index, stage_count=stage_count,
                             overall=round((stage_index + (step / total if total else 0.0)) / stage_count, 6))
        self.emit("step", step=step, total=total, **clean)
        if self._bar is not None:
            self._bar.n = step
            shown = {k: v for k, v in clean.items() if isinstance(v, (int, float))}
            if shown:
                self._bar.set_postfix({k: f"{v:.4g}" for k, v in list(shown.items())[:4]}, refresh=False)
            self._bar.refresh()

    def message(self, text: str, level: str = "info", **data: Any) -> None:
        """Say something about the run: logged (``filmai_plugins.run.<node>``; the CLI prints it on stderr
        whatever the progress mode), sent as an event, and kept for the manifest when it is a warning."""
        self.emit("message", level=level, message=text, **data)
        if level in ("warning", "error"):
            self.warnings.append(text)
        log.getChild(self.node or "engine").log(LEVELS.get(level, logging.INFO), "%s", text)

    def done(self, **info: Any) -> None:
        self._close_bar()
        self.emit("done", **info)

    def error(self, message: str, exit_code: int) -> None:
        self._close_bar()
        self.emit("error", message=message, exit_code=exit_code)

    def cancelled(self, message: str, **info: Any) -> None:
        self._close_bar()
        self.emit("cancelled", message=message, **info)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
