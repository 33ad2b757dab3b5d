"""Param values, keyframes, frame specs and sequence paths: the one parser the core and the DCC side share.

Standard library only, Python 3.9+ (Nuke 15 ships 3.10): the Blender extension and the Nuke plug-in folder
carry a copy of this file beside the worker client, so a value a host checks is exactly the value the
engine accepts, and ``1001-1099:2`` means the same frames everywhere.

Params are described by their JSON schema (``Param.to_json()``; ``filmai nodes --json``): a mapping with
``name``, ``type`` (int, float, bool, enum, string, path, color), ``min``/``max`` (the hard range),
``choices`` (enum), ``size`` (colour components) and ``animatable``.

Keyframes: an animatable param takes keys, ``"1001:0,1100:1"`` on a command line (colour values:
``"1001:1 0 0;1100:0 0 1"``), ``{1001: 0.0, 1100: 1.0}`` or ``[(1001, 0.0), (1100, 1.0)]`` from Python, and
``{"keys": [[1001, 0.0], [1100, 1.0]]}`` in JSON (manifests, job specs). Values are linear between keys
and held outside them; ints are rounded to the nearest whole number.

Frame specs: ``1001-1100``, ``1001-1100x2`` or ``1001-1100:2`` (every second frame: ``:`` is the step, as in
OpenJD's range expressions), ``1,5,9-12``, negative frames (``-5--1``). Whole numbers only; at most
``MAX_FRAMES`` frames (``FILMAI_MAX_FRAMES``), checked before anything is expanded.
"""
from __future__ import annotations

import math
import os
import re
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

PARAM_TYPES = ("int", "float", "bool", "enum", "string", "path", "color")
#: Types whose params may be animated (keys are interpolated linearly; ints rounded).
ANIMATABLE_TYPES = ("int", "float", "color")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
MAX_FRAMES_DEFAULT = 1_000_000


class SchemaError(ValueError):
    """A value, key list or frame spec that cannot be accepted; the message names the param or the spec."""


# ----------------------------------------------------------------------------------------------
# plain param values


def _name(param: Mapping[str, Any]) -> str:
    return str(param.get("name", "?"))


def parse_value(param: Mapping[str, Any], value: Any) -> Any:
    """Turn a command-line string or a Python value into the param's type, enforcing the hard range.

    Raises SchemaError naming the param. Colour params take ``"1,0,0"``, ``"1 0 0"``, one number (all
    components) or a sequence of ``size`` numbers and return a tuple.
    """
    name, kind = _name(param), param.get("type")
    try:
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("a bool is not a whole number")
            if isinstance(value, str):
                text = value.strip()
                value = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(f"{value} is not a whole number")
            out: Any = int(value)
        elif kind == "float":
            if isinstance(value, bool):
                raise ValueError("a bool is not a number")
            out = float(value)
            if not math.isfinite(out):
                raise ValueError("must be finite")
        elif kind == "bool":
            if isinstance(value, bool):
                out = value
            elif isinstance(value, (int, float)) and value in (0, 1):
                out = bool(value)
            elif isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
                out = value.strip().lower() in TRUE_WORDS
            else:
                raise ValueError("expected true/false")
        elif kind == "enum":
            out = str(value)
            choices = list(param.get("choices") or ())
            if out not in choices:
                raise ValueError(f"expected one of {', '.join(choices)}")
        elif kind in ("string", "path"):
            out = "" if value is None else str(value)
        elif kind == "color":
            size = int(param.get("size", 3))
            if isinstance(value, str):
                parts: List[Any] = [p for p in re.split(r"[,\s]+", value.strip()) if p]
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                parts = [value]
            else:
                parts = list(value)
            comps = [float(p) for p in parts]
            if len(comps) == 1:
                comps = comps * size
            if len(comps) != size:
                raise ValueError(f"expected {size} components")
            if not all(math.isfinite(c) for c in comps):
                raise ValueError("components must be finite")
            out = tuple(comps)
        else:
            raise ValueError(f"unknown param type {kind!r}")
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"param {name!r}: invalid {kind} value {value!r}: {exc}") from None
    if kind in ("int", "float"):
        lo, hi = param.get("min"), param.get("max")
        if lo is not None and out < lo:
            raise SchemaError(f"param {name!r}: {out} is below the minimum {lo}")
        if hi is not None and out > hi:
            raise SchemaError(f"param {name!r}: {out} is above the maximum {hi}")
    return out


def format_value(param: Mapping[str, Any], value: Any) -> str:
    """A value (plain or keyed) as the text ``--set name=value`` takes; checked first."""
    value = parse_param(param, value)
    if isinstance(value, Keys):
        return value.to_text(param)
    return _format_plain(param, value)


def _format_plain(param: Mapping[str, Any], value: Any) -> str:
    kind = param.get("type")
    if kind == "bool":
        return "true" if value else "false"
    if kind == "float":
        return repr(float(value))
    if kind == "color":
        return ",".join(repr(float(c)) for c in value)
    return str(value)


def to_json_value(value: Any) -> Any:
    """A parsed value (plain or keyed) as JSON data: tuples become lists, keys ``{"keys": [[f, v], ...]}``."""
    if isinstance(value, Keys):
        return value.to_json()
    if isinstance(value, tuple):
        return list(value)
    return value


def parse_channel_list(text: Any) -> List[str]:
    """A channel-list param: ``"R,G,B"`` or ``"R G B"`` → ``["R", "G", "B"]`` (a sequence passes as strings);
    empty text gives an empty list."""
    if not isinstance(text, str):
        return [str(c) for c in text]
    return [c.strip() for c in text.replace(" ", ",").split(",") if c.strip()]


# ----------------------------------------------------------------------------------------------
# keyframes

_KEY_RE = re.compile(r"^\s*([+-]?\d+)\s*:(.*)$")


class Keys:
    """Keyframes of one param: (frame, value) pairs with strictly increasing frames."""

    __slots__ = ("keys",)

    def __init__(self, keys: Sequence[Tuple[int, Any]]):
        self.keys: Tuple[Tuple[int, Any], ...] = tuple((int(f), v) for f, v in keys)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keys) and self.keys == other.keys

    def __hash__(self) -> int:
        return hash(self.keys)

    def __repr__(self) -> str:
        return f"Keys({list(self.keys)!r})"

    @property
    def frames(self) -> List[int]:
        return [f for f, _ in self.keys]

    def at(self, frame: float, kind: str = "float") -> Any:
        """The value at ``frame``: linear between keys, held before the first and after the last."""
        keys = self.keys
        if frame <= keys[0][0]:
            return keys[0][1]
        if frame >= keys[-1][0]:
            return keys[-1][1]
        for (f0, v0), (f1, v1) in zip(keys, keys[1:]):
            if f0 <= frame <= f1:
                t = (frame - f0) / float(f1 - f0)
                if kind == "color":
                    return tuple(a + (b - a) * t for a, b in zip(v0, v1))
                value = v0 + (v1 - v0) * t
                return int(round(value)) if kind == "int" else float(value)
        return keys[-1][1]  # pragma: no cover - the loop covers the range

    def to_json(self) -> dict:
        return {"keys": [[f, to_json_value(v)] for f, v in self.keys]}

    def to_text(self, param: Mapping[str, Any]) -> str:
        sep = ";" if param.get("type") == "color" else ","
        return sep.join(f"{f}:{_format_plain(param, v).replace(',', ' ')}" for f, v in self.keys)


def looks_keyed(value: Any) -> bool:
    """True for values written as keys: ``"1001:0,1100:1"``, ``{1001: 0}``, ``{"keys": [...]}``, a list of
    (frame, value) pairs, ``Keys``."""
    if isinstance(value, (Keys, Mapping)):
        return True
    if isinstance(value, str):
        return bool(_KEY_RE.match(value.split(";")[0].split(",")[0]))
    if isinstance(value, (list, tuple)) and value:
        return all(isinstance(v, (list, tuple)) and len(v) == 2 for v in value)
    return False


def parse_keys(param: Mapping[str, Any], value: Any) -> Keys:
    """Keys of an animatable param from text, a mapping, ``{"keys": [...]}``, pairs or ``Keys``.

    Refused (SchemaError naming the param): a param that is not animatable, frames that are not strictly
    increasing or not whole numbers, a value outside the param's hard range, an empty key list.
    """
    name, kind = _name(param), param.get("type")
    if not param.get("animatable"):
        raise SchemaError(f"param {name!r} is not animatable: give one value, not keys ({value!r})")
    if kind not in ANIMATABLE_TYPES:
        raise SchemaError(f"param {name!r}: {kind} params cannot be animated")
    if isinstance(value, Keys):
        pairs: List[Tuple[Any, Any]] = list(value.keys)
    elif isinstance(value, Mapping):
        if set(value) == {"keys"}:
            pairs = [tuple(p) for p in value["keys"]]  # type: ignore[misc]
        else:
            pairs = list(value.items())
    elif isinstance(value, str):
        items = [s for s in re.split(r";" if kind == "color" else r"[;,]", value) if s.strip()]
        pairs = []
        for item in items:
            m = _KEY_RE.match(item)
            if not m:
                raise SchemaError(f"param {name!r}: key {item.strip()!r} is not FRAME:VALUE "
                                  f"(e.g. {name}=1001:0,1100:1)")
            pairs.append((m.group(1), m.group(2).strip()))
    else:
        try:
            pairs = [tuple(p) for p in value]  # type: ignore[misc]
        except TypeError:
            raise SchemaError(f"param {name!r}: {value!r} is not a key list") from None
    if not pairs:
        raise SchemaError(f"param {name!r}: empty key list")
    keys: List[Tuple[int, Any]] = []
    for pair in pairs:
        if len(pair) != 2:
            raise SchemaError(f"param {name!r}: key {pair!r} is not a (frame, value) pair")
        frame_raw, v = pair
        try:
            if isinstance(frame_raw, bool) or (isinstance(frame_raw, float) and not frame_raw.is_integer()):
                raise ValueError
            frame = int(str(frame_raw).strip()) if isinstance(frame_raw, str) else int(frame_raw)
        except (TypeError, ValueError):
            raise SchemaError(f"param {name!r}: key frame {frame_raw!r} is not a whole number") from None
        keys.append((frame, parse_value(param, v)))
    for (f0, _), (f1, _) in zip(keys, keys[1:]):
        if f1 <= f0:
            raise SchemaError(f"param {name!r}: key frames must increase ({f0} then {f1})")
    return Keys(keys)


def parse_param(param: Mapping[str, Any], value: Any) -> Any:
    """A plain value (``parse_value``) or, for values written as keys, ``Keys`` (``parse_keys``)."""
    if param.get("type") in ANIMATABLE_TYPES and looks_keyed(value):
        return parse_keys(param, value)
    return parse_value(param, value)


def value_at(param: Mapping[str, Any], value: Any, frame: Optional[float]) -> Any:
    """The plain value of a (possibly keyed) param at ``frame`` (None: the first key's value)."""
    if not isinstance(value, Keys):
        return value
    if frame is None:
        return value.keys[0][1]
    return value.at(frame, str(param.get("type")))


# ----------------------------------------------------------------------------------------------
# frame specs

_RANGE_RE = re.compile(r"^([+-]?\d+)(?:-([+-]?\d+)(?:[x:]([+-]?\d+))?)?$")
SPEC_EXAMPLES = "examples: 1001-1100, 1001-1100x2 or 1001-1100:2 (every second frame), 1,5,9-12"


def max_frames() -> int:
    try:
        return int(os.environ.get("FILMAI_MAX_FRAMES", MAX_FRAMES_DEFAULT))
    except ValueError:
        return MAX_FRAMES_DEFAULT


def _parse_ranges(spec: str) -> List[Tuple[int, int, int]]:
    text = str(spec).replace(" ", "")
    if not text:
        raise SchemaError(f"empty frame spec ({SPEC_EXAMPLES})")
    ranges = []
    for part in text.split(","):
        if not part:
            raise SchemaError(f"bad frame spec {spec!r}: an empty item between commas ({SPEC_EXAMPLES})")
        m = _RANGE_RE.match(part)
        if not m:
            hint = " (frames are whole numbers)" if re.search(r"\d\.\d", part) else ""
            raise SchemaError(f"bad frame spec {spec!r}: {part!r} is not a frame or a range{hint} ({SPEC_EXAMPLES})")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        step = int(m.group(3)) if m.group(3) is not None else 1
        if step < 1:
            raise SchemaError(f"bad frame spec {spec!r}: the step in {part!r} must be 1 or more")
        ranges.append((first, last, step))
    return ranges


def _range_count(first: int, last: int, step: int) -> int:
    return abs(last - first) // step + 1


def frame_spec_count(spec: str) -> int:
    """How many frames a spec names (before duplicates are dropped), without expanding it."""
    return sum(_range_count(*r) for r in _parse_ranges(spec))


def parse_frame_spec(spec: Any, limit: Optional[int] = None) -> List[int]:
    """``"1001-1100x2"`` → [1001, 1003, ...]; order kept, duplicates dropped. ints and lists of ints pass.

    Raises SchemaError for anything that is not whole numbers, and for specs naming more than ``limit``
    frames (default ``max_frames()``), checked before expanding.
    """
    limit = max_frames() if limit is None else limit
    if isinstance(spec, bool):
        raise SchemaError(f"bad frame spec {spec!r} ({SPEC_EXAMPLES})")
    if isinstance(spec, int):
        return [spec]
    if not isinstance(spec, str):
        frames = []
        for f in spec:
            if isinstance(f, bool) or (isinstance(f, float) and not f.is_integer()) or not isinstance(f, (int, float)):
                raise SchemaError(f"bad frame {f!r}: frames are whole numbers")
            frames.append(int(f))
        if len(frames) > limit:
            raise SchemaError(f"{len(frames)} frames asked for; the limit is {limit} (FILMAI_MAX_FRAMES)")
        return list(dict.fromkeys(frames))
    ranges = _parse_ranges(spec)
    count = sum(_range_count(*r) for r in ranges)
    if count > limit:
        raise SchemaError(f"frame spec {spec!r} names {count} frames; the limit is {limit} "
                          "(FILMAI_MAX_FRAMES): check the range")
    frames = []
    for first, last, step in ranges:
        frames.extend(range(first, last + 1, step) if last >= first else range(first, last - 1, -step))
    return list(dict.fromkeys(frames))


def format_frame_spec(frames: Iterable[int]) -> str:
    """[1001, 1002, 1003, 1010] → ``"1001-1003,1010"``; evenly stepped runs of 3+ become ``a-bxN``."""
    ordered = sorted(set(int(f) for f in frames))
    out: List[str] = []
    i = 0
    while i < len(ordered):
        j = i
        if i + 1 < len(ordered):
            step = ordered[i + 1] - ordered[i]
            while j + 1 < len(ordered) and ordered[j + 1] - ordered[j] == step:
                j += 1
            if step != 1 and j - i < 2:  # two frames with a gap are two items, not a range
                j = i
        if j == i:
            out.append(str(ordered[i]))
        elif ordered[i + 1] - ordered[i] == 1:
            out.append(f"{ordered[i]}-{ordered[j]}")
        else:
            out.append(f"{ordered[i]}-{ordered[j]}x{ordered[i + 1] - ordered[i]}")
        i = j + 1
    return ",".join(out)


# ----------------------------------------------------------------------------------------------
# sequence paths: only the file name's run of # or @ (or a printf %0Nd) is the frame field

PADDING_RE = re.compile(r"(#+|@+|%0?(\d*)d)")
_DIGITS_RE = re.compile(r"(\d+)(?!.*\d)")


def is_sequence_pattern(pattern: str) -> bool:
    return bool(PADDING_RE.search(os.path.basename(pattern)))


def padding_width(pattern: str) -> int:
    """Digits of the frame field (0 for a single file)."""
    m = PADDING_RE.search(os.path.basename(pattern))
    if not m:
        return 0
    token = m.group(1)
    return int(m.group(2) or 1) if token.startswith("%") else len(token)


def sequence_path(pattern: str, frame: int) -> str:
    """``plate.####.exr`` / ``plate.%04d.exr`` / ``plate.@@@@.exr`` at ``frame`` (negative frames keep the sign
    before the padded digits, as fileseq and Nuke write them). Folders may contain ``#``."""
    folder, base = os.path.split(pattern)
    m = PADDING_RE.search(base)
    if not m:
        return pattern
    width = padding_width(pattern)
    number = f"-{abs(frame):0{width}d}" if frame < 0 else f"{frame:0{width}d}"
    return os.path.join(folder, base[: m.start()] + number + base[m.end():])


def pattern_from_file(path: str) -> Tuple[str, Optional[int]]:
    """``/x/plate.1001.exr`` → (``/x/plate.####.exr``, 1001): the last number in the file name becomes the
    frame field, keeping its width. A name without digits gives (path, None)."""
    folder, base = os.path.split(path)
    stem, ext = os.path.splitext(base)
    m = _DIGITS_RE.search(stem)
    if not m:
        return path, None
    return os.path.join(folder, stem[: m.start()] + "#" * len(m.group(1)) + stem[m.end():] + ext), int(m.group(1))
