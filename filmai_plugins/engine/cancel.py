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


class SignalInterrupt(BaseException):
    """Raised by ``signals_cancel``'s handler where the main thread stands. A BaseException, like
    KeyboardInterrupt, so no ``except Exception`` on the way (a library wrapper turning every error into
    its own) can swallow it; the engine turns it into a ``Cancelled`` run with the signal's exit code."""

    def __init__(self, reason: str, exit_code: int):
        super().__init__(reason)
        self.reason = reason
        self.exit_code = exit_code


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        self.exit_code = 130
        self._cooperative = 0

    @contextlib.contextmanager
    def cooperative(self) -> Iterator["CancelToken"]:
        """A region where a signal only sets the token, for work that checks it often and must stop at a
        boundary of its own: a training loop stops after the current step and saves a resumable checkpoint
        (an exception in the middle of an optimiser step would leave half-updated weights)."""
        self._cooperative += 1
        try:
            yield self
        finally:
            self._cooperative -= 1

    @property
    def is_cooperative(self) -> bool:
        return self._cooperative > 0

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

    The token is set (the read/write threads and a training loop see it) and ``SignalInterrupt`` is raised
    in the main thread where it stands — resolving frames, loading a model, waiting for a frame — so no stage
    runs on for minutes after a farm scheduler cancels a task. Writes already under way on the engine's
    write threads still finish and rename (the engine waits for them on its way out) and every writer
    removes its temporary file, so nothing partial is left. Inside ``token.cooperative()`` (a training
    loop) the signal only sets the token and the work stops at its next check. Exit code 130 for SIGINT,
    143 for SIGTERM. A second SIGINT while the run winds down raises KeyboardInterrupt; a second SIGTERM is
    ignored.
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
        if not token.is_cooperative:
            raise SignalInterrupt(reason, 128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield token
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
