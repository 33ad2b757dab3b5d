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

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason or "cancelled")


@contextlib.contextmanager
def signals_cancel(token: CancelToken) -> Iterator[CancelToken]:
    """While active, the first SIGINT/SIGTERM cancels cleanly; a second SIGINT interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield token
        return
    previous = {}

    def handler(signum, _frame):
        if token.cancelled and signum == signal.SIGINT:
            raise KeyboardInterrupt
        token.cancel("interrupted (Ctrl-C)" if signum == signal.SIGINT else f"terminated (signal {signum})")

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield token
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
