"""The versioned publish area: ``<root>/<project>/<shot>/<task>/<name>/v###/``.

A version is built complete in a hidden staging folder next to the versions, then renamed into
place, so a version folder either exists whole or not at all. Version numbers are claimed with
an atomic ``mkdir`` of ``.claims/v###`` first: two publishers racing each get their own number,
and a number is never handed out twice, even when a claimed version never appeared (its claim
stays, recording who took it). Existing version folders are never written to.
"""
from __future__ import annotations

import errno
import getpass
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInput
from ..files import file_sha256, now_iso

VERSION_RE = re.compile(r"^v(\d{3,})$")
RECORD_NAME = "version.json"
SUMS_NAME = "SHA256SUMS"
RECORD_SCHEMA = "filmai.publish/1"
HASH_THREADS = 4
_CHUNK = 1 << 20


def product_folder(root: str, project: str, shot: str, task: str, name: str) -> str:
    return os.path.join(os.path.abspath(root), project, shot, task, name)


def existing_versions(folder: str) -> list[int]:
    """Version numbers published (v### folders) or claimed in ``folder``."""
    out: set[int] = set()
    for where in (folder, os.path.join(folder, ".claims")):
        try:
            names = os.listdir(where)
        except FileNotFoundError:
            continue
        for n in names:
            m = VERSION_RE.match(n)
            if m:
                out.add(int(m.group(1)))
    return sorted(out)


def staging_folder(folder: str) -> str:
    """A fresh hidden folder beside the versions (same file system, so the final rename is atomic)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f".staging-{secrets.token_hex(6)}")
    os.mkdir(path)
    return path


def claim_version(folder: str) -> int:
    """Take the next free version number with an atomic mkdir; racing publishers get distinct numbers."""
    claims = os.path.join(folder, ".claims")
    os.makedirs(claims, exist_ok=True)
    number = (max(existing_versions(folder), default=0)) + 1
    while True:
        claim = os.path.join(claims, f"v{number:03d}")
        try:
            os.mkdir(claim)
        except FileExistsError:
            number += 1
            continue
        who = {"user": _user(), "host": socket.gethostname(), "pid": os.getpid(), "time": now_iso()}
        with open(os.path.join(claim, "claimed_by.json"), "w", encoding="utf-8") as f:
            json.dump(who, f)
        if os.path.exists(os.path.join(folder, f"v{number:03d}")):  # made by hand, outside the protocol
            number += 1
            continue
        return number


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER", "")


def _copy_hashing(src: str, dst: str) -> str:
    h = hashlib.sha256()
    with open(src, "rb") as fi, open(dst, "xb") as fo:
        for block in iter(lambda: fi.read(_CHUNK), b""):
            h.update(block)
            fo.write(block)
    shutil.copystat(src, dst)
    return h.hexdigest()


@dataclass
class Transfer:
    """One file going into the version: ``source`` → ``name`` (relative to the version folder)."""

    source: str
    name: str
    role: str  # frame | thumbnail | sheet | movie | manifest | checkpoint | timeline | edl | file
    frame: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def transfer_files(staging: str, transfers: list[Transfer], mode: str = "link") -> list[dict[str, Any]]:
    """Hard-link (same file system; falls back to a copy) or copy each file into ``staging`` and
    checksum it. Copies are read back and compared with the checksum of what was read."""
    if mode not in ("link", "copy"):
        raise BadInput(f"unknown transfer mode {mode!r} (link or copy)")
    names = [t.name for t in transfers]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise BadInput(f"two files would be published as {', '.join(dup)}")

    def one(t: Transfer) -> dict[str, Any]:
        dst = os.path.join(staging, t.name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        how = "copy"
        if mode == "link":
            try:
                os.link(t.source, dst)
                how = "link"
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                    raise
        if how == "link":
            digest = file_sha256(dst)
        else:
            digest = _copy_hashing(t.source, dst)
            if file_sha256(dst) != digest:
                raise OSError(f"{dst}: copy does not match {t.source} (checksum differs after writing)")
        entry = {"path": t.name, "role": t.role, "sha256": digest, "size": os.path.getsize(dst),
                 "source": os.path.abspath(t.source), "transfer": how}
        if t.frame is not None:
            entry["frame"] = t.frame
        entry.update(t.extra)
        return entry

    with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
        return list(pool.map(one, transfers))


def write_record(staging: str, record: dict[str, Any], files: list[dict[str, Any]]) -> None:
    """``version.json`` (the record) and ``SHA256SUMS`` (``sha256sum -c`` compatible) in the staging folder."""
    with open(os.path.join(staging, SUMS_NAME), "w", encoding="utf-8") as f:
        for entry in sorted(files, key=lambda e: e["path"]):
            f.write(f"{entry['sha256']}  {entry['path']}\n")
    with open(os.path.join(staging, RECORD_NAME), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, default=str)
        f.write("\n")


def commit_version(staging: str, folder: str, number: int) -> str:
    """Rename the finished staging folder to ``v###``; never replaces an existing folder."""
    target = os.path.join(folder, f"v{number:03d}")
    if os.path.exists(target):
        raise FileExistsError(f"{target} already exists; published versions are never replaced")
    os.rename(staging, target)
    return target


def read_record(version_folder: str) -> dict[str, Any]:
    with open(os.path.join(version_folder, RECORD_NAME), encoding="utf-8") as f:
        return json.load(f)


def verify_version(version_folder: str) -> list[str]:
    """Problems found re-hashing a published version against its record (empty: intact)."""
    record = read_record(version_folder)
    problems = []
    for entry in record.get("files", []):
        path = os.path.join(version_folder, entry["path"])
        if not os.path.isfile(path):
            problems.append(f"{entry['path']}: missing")
        elif file_sha256(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: checksum differs from the record")
    return problems


def remove_staging(path: str | None) -> None:
    if path and os.path.basename(path).startswith(".staging-") and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def user_name() -> str:
    return _user()
