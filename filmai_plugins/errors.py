"""The error types every part raises, each tied to the exit code the `filmai` command returns.

Exit codes are a contract with hosts and farms: 0 done, 2 bad usage or bad input,
1 failure while running, 130 cancelled (143 when SIGTERM cancelled it).
"""
from __future__ import annotations


class FilmAIError(Exception):
    """Base of every error the toolkit raises on purpose."""

    exit_code = 1


class BadInput(FilmAIError):
    """The user asked for something that cannot work: bad arguments, files, params or models."""

    exit_code = 2


class FrameError(BadInput):
    """A problem with one file of a sequence; the message names the file and the frame."""

    def __init__(self, reason: str, path: str | None = None, frame: int | None = None):
        self.reason = reason
        self.path = path
        self.frame = frame
        where = []
        if path:
            where.append(str(path))
        if frame is not None:
            where.append(f"frame {frame}")
        prefix = f"{' '.join(where[:1])}{' (' + where[1] + ')' if len(where) > 1 else ''}: " if where else ""
        super().__init__(prefix + reason)


class ParamError(BadInput):
    """An unknown parameter name or a value outside its hard range or choices."""


class CheckpointError(BadInput):
    """A model file that is not a FilmAI checkpoint, is corrupt, or was trained for another node."""


class RegistryError(FilmAIError):
    """A node pack or node id could not be registered (duplicate id, broken pack)."""


class RunFailure(FilmAIError):
    """Something failed while a node was running (exit code 1)."""


class Cancelled(FilmAIError):
    """The run was cancelled (Ctrl-C, SIGTERM, or a host's cancel button): exit code 130, or 128 + the
    signal number when a signal stopped it (143 for SIGTERM, as shells and farm schedulers report it)."""

    exit_code = 130

    def __init__(self, message: str = "cancelled", exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
