"""Files that appear only when complete: write to a hidden temporary beside the target, then rename.

A rename within one folder is atomic on every filesystem a farm uses, so a reader (a publish step, a
``--skip-existing`` resume, a host polling for results) sees either the old file, no file, or the whole new
one — never half of it, whatever interrupts the writer (an exception, Ctrl-C, a killed task).

Frames have their own variant in ``frames.io`` (the OIIO writer object must be closed before the rename).
"""
from __future__ import annotations

import contextlib
import os
import secrets
from typing import IO, Any, Iterator


def temp_path_for(path: str, extension_last: bool = False) -> str:
    """A hidden, unique name in ``path``'s folder. ``extension_last`` keeps the target's extension at the
    end, for writers that choose the format (or compression, ``.csv.gz``) from the file name."""
    folder, base = os.path.split(os.path.abspath(path))
    token = secrets.token_hex(4)
    return os.path.join(folder, f".{token}.tmp.{base}" if extension_last else f".{base}.{token}.tmp")


@contextlib.contextmanager
def atomic_path(path: str, extension_last: bool = False) -> Iterator[str]:
    """Yield a temporary path to write; when the block finishes it becomes ``path`` (replacing any file
    there). If the block raises, the temporary is removed and ``path`` is untouched."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = temp_path_for(path, extension_last)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w", encoding: str | None = "utf-8",
                newline: str | None = None) -> Iterator[IO[Any]]:
    """``open()`` for writing whose file appears at ``path`` only when the block finishes."""
    kwargs = {} if "b" in mode else {"encoding": encoding, "newline": newline}
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
