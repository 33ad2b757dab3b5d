"""Image-sequence patterns and frame specs.

Patterns: ``name.####.exr`` and ``name.@@@@.exr`` (one ``#``/``@`` per digit, Nuke/Blender style),
``name.%04d.exr`` (printf). Only the file name's field is the frame number: folders may contain ``#``. A
path without a field is a single file. Frame specs (``1001-1100``, ``1001-1100x2`` = ``1001-1100:2``,
``1,5,9-12``) are parsed by ``filmai_plugins.schema``, the parser the DCC side shares.

Finding frames on disk lists the folder once (cost: the files in it, not the frames asked for).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable

from .. import schema
from ..errors import BadInput, FrameError


def parse_frames(spec: str | int | Iterable[int]) -> list[int]:
    """``"1001-1100x2"`` → [1001, 1003, ...]. Order is kept, duplicates dropped; BadInput when malformed."""
    try:
        return schema.parse_frame_spec(spec)
    except schema.SchemaError as exc:
        raise BadInput(str(exc)) from None


def format_frames(frames: Iterable[int]) -> str:
    """[1001, 1002, 1003, 1010] → ``"1001-1003,1010"``."""
    return schema.format_frame_spec(frames)


@dataclass(frozen=True)
class SequencePattern:
    """An image-sequence path pattern (or one file)."""

    pattern: str

    def __post_init__(self) -> None:
        matches = list(schema.PADDING_RE.finditer(os.path.basename(self.pattern)))
        if len(matches) > 1:
            raise BadInput(f"pattern {self.pattern!r} has more than one frame-number field")

    @property
    def is_sequence(self) -> bool:
        return schema.is_sequence_pattern(self.pattern)

    @property
    def padding(self) -> int:
        return schema.padding_width(self.pattern)

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
        base = schema.PADDING_RE.sub("", base)
        base = base[: -len(self.extension)] if self.extension and base.lower().endswith(self.extension) else base
        return base.rstrip("._-") or "frames"

    def path(self, frame: int | None = None) -> str:
        if not self.is_sequence:
            return self.pattern
        if frame is None:
            raise BadInput(f"pattern {self.pattern!r} needs a frame number")
        return schema.sequence_path(self.pattern, frame)

    def paths(self, frames: Iterable[int]) -> list[tuple[int, str]]:
        return [(f, self.path(f)) for f in frames]

    def _name_regex(self) -> re.Pattern:
        base = os.path.basename(self.pattern)
        m = schema.PADDING_RE.search(base)
        assert m is not None
        width = self.padding
        # exactly the padding width, or more digits for frames that need them (10000 in ####), as fileseq
        # and the DCCs write them; a negative frame keeps its sign before the digits
        digits = rf"-?(?:\d{{{width}}}|[1-9]\d{{{width},}})"
        return re.compile(re.escape(base[: m.start()]) + f"({digits})" + re.escape(base[m.end():]) + r"\Z")

    def frames_on_disk(self) -> list[int]:
        """Frames whose files exist, sorted: one listing of the folder."""
        if not self.is_sequence:
            return []
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        rx = self._name_regex()
        frames = set()
        for name in names:
            m = rx.match(name)
            if m:
                frames.add(int(m.group(1)))
        return sorted(frames)

    def missing(self, frames: Iterable[int]) -> list[int]:
        present = set(self.frames_on_disk())
        return [f for f in frames if f not in present or not os.path.isfile(self.path(f))]

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
        present = self.frames_on_disk()
        on_disk = set(present)
        missing = [f for f in frames if f not in on_disk]
        if missing:
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
