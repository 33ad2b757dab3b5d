"""Time code and frame rate as image headers carry them (EXR ``timeCode`` and ``framesPerSecond``, read by
OpenImageIO as ``smpte:TimeCode`` and ``FramesPerSecond``)."""
from __future__ import annotations

from typing import Any, Mapping


def decode_timecode(value: Any) -> tuple[str, bool] | None:
    """An EXR ``timeCode`` (OpenImageIO's ``smpte:TimeCode``: the packed SMPTE 12M word and user data; or
    the text a reader that decodes it gives) as ``HH:MM:SS:FF`` and its drop-frame flag; None when absent or
    not a time code."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return (text, ";" in text) if len(text.replace(";", ":").split(":")) == 4 else None
    try:
        word = int(value[0] if isinstance(value, (tuple, list)) else value)
    except (TypeError, ValueError, IndexError):
        return None

    def bcd(shift: int, tens_bits: int) -> int:
        return ((word >> shift) & 0xF) + 10 * ((word >> (shift + 4)) & ((1 << tens_bits) - 1))

    hours, minutes, seconds, frames = bcd(24, 2), bcd(16, 3), bcd(8, 3), bcd(0, 2)
    if hours > 23 or minutes > 59 or seconds > 59 or frames > 59:
        return None
    drop = bool(word & (1 << 6))
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{';' if drop else ':'}{frames:02d}", drop


def frames_per_second(value: Any) -> float | None:
    """A header's frame rate (a rational pair or a number) as a float; None when absent or not positive."""
    if value is None:
        return None
    try:
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return float(value[0]) / float(value[1]) if value[1] else None
        out = float(value)
        return out if out > 0 else None
    except (TypeError, ValueError):
        return None


def header_timing(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``{"timecode": "HH:MM:SS:FF", "fps": 24.0}`` from a header, with only what it declares."""
    out: dict[str, Any] = {}
    code = decode_timecode(attributes.get("smpte:TimeCode"))
    if code:
        out["timecode"] = code[0]
    fps = frames_per_second(attributes.get("FramesPerSecond", attributes.get("framesPerSecond")))
    if fps:
        out["fps"] = round(fps, 6)
    return out
