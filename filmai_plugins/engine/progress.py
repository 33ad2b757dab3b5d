"""Progress reporting: a bar on a terminal, JSON lines for hosts, and run events for plug-ins.

Every event is a dict with ``event`` and ``node``; the same dict goes to ``--progress json``
(one line on stdout each), to the app's ``filmai_run_event`` observers (``observers``, normally
``app.emit``) and to an in-process callback.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, TextIO

PROGRESS_MODES = ("auto", "bar", "json", "none")


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

    def step(self, step: int, total: int, **metrics: Any) -> None:
        """A training step (or any unit of work that is not a frame)."""
        clean = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items()}
        self.emit("step", step=step, total=total, **clean)
        if self._bar is not None:
            self._bar.n = step
            shown = {k: v for k, v in clean.items() if isinstance(v, (int, float))}
            if shown:
                self._bar.set_postfix({k: f"{v:.4g}" for k, v in list(shown.items())[:4]}, refresh=False)
            self._bar.refresh()

    def message(self, text: str, level: str = "info", **data: Any) -> None:
        self.emit("message", level=level, message=text, **data)
        if self.mode == "bar":
            if self._bar is not None:
                self._bar.write(text, file=self.bar_stream)
            else:
                print(text, file=self.bar_stream, flush=True)

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
