"""Files that appear only when complete: write to a hidden temporary beside the target, then rename.

A rename within one folder is atomic on every filesystem a farm uses, so a reader (a publish step, a
``--skip-existing`` resume, a host polling for results) sees either the old file, no file, or the whole new
one — never half of it, whatever interrupts the writer (an exception, Ctrl-C, a killed task).

Frames use the same temporary names (``frames.io``: the OIIO writer object must be closed before the
rename). A temporary name says which host and process wrote it, so a later run can remove the leftovers of
a writer that was killed (``remove_stale_temps``) without touching the files of one still writing.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import time
from typing import IO, Any, Iterator

#: Temporaries of another machine (a shared farm folder) are removed only when older than this.
FOREIGN_TEMP_MAX_AGE_S = 24 * 3600
_TEMP_RE = re.compile(r"^\.(?:(?P<base>.+)\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)-[0-9a-f]{8}\.tmp"
                      r"|(?P<host2>[A-Za-z0-9_-]+)-(?P<pid2>\d+)-[0-9a-f]{8}\.tmp\..+)$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "host"


def temp_path_for(path: str, extension_last: bool = False) -> str:
    """A hidden, unique name in ``path``'s folder, naming this host and process. ``extension_last`` keeps the
    target's extension at the end, for writers that choose the format (or compression, ``.csv.gz``) from
    the file name."""
    folder, base = os.path.split(os.path.abspath(path))
    stamp = f"{_host()}-{os.getpid()}-{secrets.token_hex(4)}"
    return os.path.join(folder, f".{stamp}.tmp.{base}" if extension_last else f".{base}.{stamp}.tmp")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(folder: str, older_than: float | None = None) -> list[str]:
    """Remove the temporaries of writers that no longer run (killed tasks) from ``folder``: those of this
    machine whose process is gone, and other machines' older than ``FOREIGN_TEMP_MAX_AGE_S``. Only files
    named by ``temp_path_for`` and last modified before ``older_than`` (default: now) are candidates.
    Returns the paths removed."""
    older_than = time.time() if older_than is None else older_than
    host = _host()
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _TEMP_RE.match(name)
        if not m:
            continue
        path = os.path.join(folder, name)
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            continue
        if mtime >= older_than:
            continue
        their_host, pid = m.group("host") or m.group("host2"), int(m.group("pid") or m.group("pid2"))
        if their_host == host:
            stale = pid != os.getpid() and not _process_alive(pid)
        else:
            stale = time.time() - mtime > FOREIGN_TEMP_MAX_AGE_S
        if stale:
            with contextlib.suppress(OSError):
                os.remove(path)
                removed.append(path)
    return removed


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
