"""Image-sequence patterns and frame specs, on top of fileseq.

Patterns: ``name.####.exr`` and ``name.@@@@.exr`` (one ``#``/``@`` per digit, Nuke/Blender style),
``name.%04d.exr`` (printf). A path without padding is a single file. Frame specs: ``1001-1100``,
``1001-1100x2``, ``1,5,9-12``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable

import fileseq

from ..errors import BadInput, FrameError

_PADDING_RE = re.compile(r"(#+|@+|%0?(\d*)d)")


def parse_frames(spec: str | int | Iterable[int]) -> list[int]:
    """``"1001-1100x2"`` → [1001, 1003, ...]. Order is kept, duplicates dropped."""
    if isinstance(spec, int):
        return [spec]
    if not isinstance(spec, str):
        frames = [int(f) for f in spec]
        return list(dict.fromkeys(frames))
    text = spec.strip()
    if not text:
        raise BadInput("empty frame spec")
    try:
        fs = fileseq.FrameSet(text.replace(" ", ""))
    except fileseq.ParseException as exc:
        raise BadInput(f"bad frame spec {spec!r}: {exc} (examples: 1001-1100, 1001-1100x2, 1,5,9-12)") from None
    return list(dict.fromkeys(int(f) for f in fs))


def format_frames(frames: Iterable[int]) -> str:
    """[1001, 1002, 1003, 1010] → ``"1001-1003,1010"``."""
    frames = sorted(set(int(f) for f in frames))
    if not frames:
        return ""
    return str(fileseq.FrameSet.from_iterable(frames, sort=True))


@dataclass(frozen=True)
class SequencePattern:
    """An image-sequence path pattern (or one file)."""

    pattern: str

    def __post_init__(self) -> None:
        matches = list(_PADDING_RE.finditer(os.path.basename(self.pattern)))
        if len(matches) > 1:
            raise BadInput(f"pattern {self.pattern!r} has more than one frame-number field")
        if _PADDING_RE.search(os.path.dirname(self.pattern)):
            raise BadInput(f"pattern {self.pattern!r}: frame numbers in folder names are not supported")

    @property
    def is_sequence(self) -> bool:
        return bool(_PADDING_RE.search(os.path.basename(self.pattern)))

    @property
    def _fileseq(self) -> fileseq.FileSequence:
        return fileseq.FileSequence(self.pattern, pad_style=fileseq.PAD_STYLE_HASH1)

    @property
    def padding(self) -> int:
        if not self.is_sequence:
            return 0
        m = _PADDING_RE.search(os.path.basename(self.pattern))
        assert m is not None
        token = m.group(1)
        if token.startswith("%"):
            return int(m.group(2) or 1)
        return len(token)

    @property
    def directory(self) -> str:
        return os.path.dirname(os.path.abspath(self.pattern))

    @property
    def extension(self) -> str:
        return os.path.splitext(self.pattern)[1].lower()

    @property
    def stem(self) -> str:
        """The name without frame field and extension: ``plate.####.exr`` → ``plate``."""
        base = os.path.basename(self.pattern)
        base = _PADDING_RE.sub("", base)
        base = base[: -len(self.extension)] if self.extension and base.lower().endswith(self.extension) else base
        return base.rstrip("._-") or "frames"

    def path(self, frame: int | None = None) -> str:
        if not self.is_sequence:
            return self.pattern
        if frame is None:
            raise BadInput(f"pattern {self.pattern!r} needs a frame number")
        return self._fileseq.frame(frame)

    def paths(self, frames: Iterable[int]) -> list[tuple[int, str]]:
        return [(f, self.path(f)) for f in frames]

    def frames_on_disk(self) -> list[int]:
        """Frames whose files exist, found through fileseq (strict on padding width)."""
        if not self.is_sequence:
            return []
        m = _PADDING_RE.search(os.path.basename(self.pattern))
        assert m is not None
        base = os.path.basename(self.pattern)
        glob_pattern = os.path.join(os.path.dirname(self.pattern),
                                    base[: m.start()] + "#" * self.padding + base[m.end():])
        try:
            seq = fileseq.findSequenceOnDisk(glob_pattern, strictPadding=True, pad_style=fileseq.PAD_STYLE_HASH1)
        except fileseq.FileSeqException:
            return []
        fs = seq.frameSet()
        return [int(f) for f in fs] if fs is not None else []

    def missing(self, frames: Iterable[int]) -> list[int]:
        return [f for f in frames if not os.path.isfile(self.path(f))]

    def resolve_frames(self, spec: str | Iterable[int] | None) -> list[int]:
        """The frames to read: the given spec, else every frame on disk; missing frames are one clear error."""
        if not self.is_sequence:
            if not os.path.isfile(self.pattern):
                raise FrameError("file not found", self.pattern)
            return parse_frames(spec) if spec is not None else []
        frames = parse_frames(spec) if spec is not None else self.frames_on_disk()
        if not frames:
            raise BadInput(f"no frames of {self.pattern!r} found on disk"
                           + ("" if os.path.isdir(self.directory) else f" (folder {self.directory} does not exist)"))
        missing = self.missing(frames)
        if missing:
            present = self.frames_on_disk()
            raise FrameError(
                f"{len(missing)} of {len(frames)} frames missing: {format_frames(missing)}"
                + (f" (on disk: {format_frames(present)})" if present else " (no frames on disk)"),
                self.pattern, missing[0])
        return frames

    def __str__(self) -> str:
        return self.pattern


def same_file(a: str, b: str) -> bool:
    """True when two paths name the same file (existing or not)."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))
