"""Cooperative cancellation: Ctrl-C, SIGTERM from a farm, or a host's cancel button.

The engine checks the token between frames and between tile batches; writes already under way
finish (they are atomic), so a cancelled run leaves only complete frames behind.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

from ..errors import Cancelled


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        self.exit_code = 130

    def cancel(self, reason: str = "cancelled", exit_code: int = 130) -> None:
        self.reason = reason
        self.exit_code = exit_code
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason or "cancelled", self.exit_code)


@contextlib.contextmanager
def signals_cancel(token: CancelToken) -> Iterator[CancelToken]:
    """While active, SIGINT and SIGTERM cancel at once, whatever stage the command is in.

    The token is set (the read/write threads and a training loop see it) and ``Cancelled`` is raised in
    the main thread where it stands — resolving frames, loading a model, waiting for a frame — so no stage
    runs on for minutes after a farm scheduler cancels a task. Writes already under way on the engine's
    write threads still finish and rename (the engine waits for them on its way out) and every writer
    removes its temporary file, so nothing partial is left. Exit code 130 for SIGINT, 143 for SIGTERM. A
    second SIGINT while the run winds down raises KeyboardInterrupt; a second SIGTERM is ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield token
        return
    previous = {}

    def handler(signum, _frame):
        if token.cancelled:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return  # already winding down
        reason = "interrupted (Ctrl-C)" if signum == signal.SIGINT else f"terminated (signal {signum})"
        token.cancel(reason, 128 + signum)
        raise Cancelled(reason, 128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield token
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
