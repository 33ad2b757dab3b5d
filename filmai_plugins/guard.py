"""The output guard every command that writes goes through: no output may be an input of the same command,
no file may be written twice by one command, and a single-file output cannot hold a multi-frame run.

Commands describe what they read and what they will write (frames of sequences, manifests, checkpoints,
training folders, timelines, previews) before anything is written; ``OutputGuard.check`` refuses with exit
code 2, naming both paths. Paths are compared after resolving symbolic links; sequences by their frames
(the input's frames on disk, so frame handles and frames outside the requested range are protected too).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable

from . import schema
from .errors import BadInput


def _real(path: str) -> str:
    return os.path.normcase(os.path.realpath(os.fspath(path)))


def port_label(kind: str, name: str) -> str:
    """``the input`` for a node's main port, ``input 'target'`` for the others (for messages)."""
    return f"the {kind}" if name == kind else f"{kind} {name!r}"


@dataclass
class OutputGuard:
    command: str
    _inputs: dict[str, str] = field(default_factory=dict)  # real path -> what it is
    _outputs: dict[str, str] = field(default_factory=dict)
    _folders: list[tuple[str, str]] = field(default_factory=list)  # (real folder, what it is) written into

    def read(self, path: str, what: str) -> "OutputGuard":
        """A file the command reads."""
        self._inputs.setdefault(_real(path), f"{what} {path}")
        return self

    def read_sequence(self, pattern: str, what: str, frames: Iterable[int] | None = None) -> "OutputGuard":
        """An input sequence: its frames on disk (and ``frames``, when given), or the file itself."""
        if not schema.is_sequence_pattern(pattern):
            return self.read(pattern, what)
        from .frames.sequence import SequencePattern

        seq = SequencePattern(pattern)
        for f in sorted(set(seq.frames_on_disk()) | set(frames or ())):
            path = seq.path(f)
            self._inputs.setdefault(_real(path), f"frame {f} of {what} {pattern} ({path})")
        return self

    def write(self, path: str, what: str) -> "OutputGuard":
        """A file the command will write (or replace)."""
        real = _real(path)
        if real in self._outputs:
            raise BadInput(f"{self.command}: {what} {path} and {self._outputs[real]} are the same file; "
                           "give them different names")
        self._outputs[real] = f"{what} {path}"
        return self

    def write_sequence(self, pattern: str, what: str, frames: Iterable[int] | None) -> "OutputGuard":
        """An output sequence (or a single file). A single file for more than one frame is refused."""
        frames = [f for f in (frames or []) if f is not None]
        if not schema.is_sequence_pattern(pattern):
            if len(frames) > 1:
                raise BadInput(f"{self.command}: {what} {pattern} is a single file but {len(frames)} frames are "
                               f"made: each would replace the last; use a sequence pattern such as "
                               f"{_sequence_example(pattern)}")
            return self.write(pattern, what)
        for f in frames:
            path = schema.sequence_path(pattern, f)
            real = _real(path)
            if real in self._outputs:
                raise BadInput(f"{self.command}: frame {f} of {what} {pattern} and {self._outputs[real]} are the "
                               "same file; give them different names")
            self._outputs[real] = f"frame {f} of {what} {pattern} ({path})"
        return self

    def write_folder(self, folder: str, what: str) -> "OutputGuard":
        """A folder the command fills with files of its own (a training folder): no input may live in it."""
        self._folders.append((_real(folder), f"{what} {folder}"))
        return self

    def check(self) -> None:
        """Refuse (BadInput, exit 2) an output that is an input, naming both."""
        for real, what in self._outputs.items():
            if real in self._inputs:
                raise BadInput(f"{self.command}: {what} would overwrite {self._inputs[real]}; "
                               "write to another name or folder (nothing was written)")
        for folder, what in self._folders:
            for real, read in self._inputs.items():
                if real.startswith(folder + os.sep):
                    raise BadInput(f"{self.command}: {what} would be written where {read} lives; "
                                   "choose another name (nothing was written)")


def _sequence_example(path: str) -> str:
    stem, ext = os.path.splitext(path)
    return f"{stem}.####{ext or '.exr'}"
