"""Boundaries → an editorial timeline (OpenTimelineIO), a CMX 3600 EDL and a CSV cut list.

The timeline describes the analysed picture as an edit: one clip per shot, each pointing at the input
(an ``ImageSequenceReference`` for an image sequence, an ``ExternalReference`` for a movie) with the source
range of its frames, so record time equals source time and the clips tile the input exactly. Gradual
transitions become OTIO ``Transition`` objects centred on the cut point (``in_offset`` frames before it,
``out_offset`` after): dissolves and fades as SMPTE dissolves, wipes as custom transitions named
``wipe``. Runs of black between shots (slugs, the black of a fade to black) become ``Gap`` items, which is
what black is on an editor's timeline and what CMX 3600 calls ``BL``. Every boundary whose confidence is
below the review level carries a red marker on the shot it starts, named with its kind and confidence.
"""
from __future__ import annotations

import csv
import io
import os
import pathlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from filmai_plugins.frames.timecode import decode_timecode

from .events import Boundary

FORMATS = {".otio": "otio", ".edl": "edl", ".csv": "csv"}
# display-referred luma: a frame is black when its mean is this dark and 95% of its pixels are below
# BLACK_P95 (a caption or copyright line on black, a few percent of the picture, keeps it black)
BLACK_MEAN = 0.03
BLACK_P95 = 0.10


@dataclass
class Source:
    """What the analysed frames came from."""

    path: str  # pattern (plate.####.exr) or movie file
    kind: str  # "sequence" | "movie"
    numbers: list[int]  # frame number of each analysed frame
    rate: Fraction
    first: int  # first frame number of the media (sequence: first frame on disk; movie: 0)
    count: int  # frames the media spans (sequence: last - first + 1; movie: estimated)
    timecode_offset: int = 0  # movie: start timecode as frames (added to frame numbers)
    drop_frame: bool = False
    padding: int = 4
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def source_frame(self, number: int) -> int:
        """The source time (in frames at ``rate``) of a frame number."""
        return self.timecode_offset + number


@dataclass
class Segment:
    """A stretch of the input between two boundaries: a shot or a black gap."""

    first: int  # index into the analysed frames (inclusive)
    last: int  # inclusive
    black: bool


def header_timecode(attributes: dict[str, Any]) -> tuple[str, bool] | None:
    """The SMPTE timecode a frame's header carries, as (``HH:MM:SS:FF``, drop-frame), or None."""
    return decode_timecode(attributes.get("smpte:TimeCode", attributes.get("timeCode")))


def black_frames(frames: np.ndarray) -> np.ndarray:
    """(T, h, w, 3) uint8 analysis frames → per-frame 'is black' (text on black still counts as black)."""
    x = frames.astype(np.float32) / 255.0
    luma = 0.2126 * x[..., 0] + 0.7152 * x[..., 1] + 0.0722 * x[..., 2]
    flat = luma.reshape(luma.shape[0], -1)
    return (flat.mean(1) < BLACK_MEAN) & (np.percentile(flat, 95, axis=1) < BLACK_P95)


def segments(bounds: Sequence[Boundary], n: int, black: np.ndarray, gaps: bool = True) -> list[Segment]:
    """Cut the analysed range at each boundary's cut point; black stretches become their own segments.

    A segment is black when the frames of it that belong to no transition are (almost all) black — the
    halves of a fade out and a fade in on either side of a slug are part of the fades, not the slug. A
    fade out straight into a fade in (no black frame held) is black when its darkest frame is.
    """
    live = [b for b in bounds if 0 < b.frame < n]
    cuts = sorted({b.frame for b in live})
    by_cut = {b.frame: b for b in live}
    in_transition = np.zeros(n, dtype=bool)
    for b in live:
        if b.gradual:
            in_transition[b.start:b.end + 1] = True
    edges = [0] + cuts + [n]
    out: list[Segment] = []
    for a, b in zip(edges[:-1], edges[1:]):
        if b <= a:
            continue
        is_black = False
        if gaps:
            pure = ~in_transition[a:b]
            if pure.any():
                is_black = bool(black[a:b][pure].mean() >= 0.9)
            else:
                left, right = by_cut.get(a), by_cut.get(b)
                is_black = bool(left is not None and left.kind == "fade_out" and right is not None
                                and right.kind == "fade_in" and black[a:b].any())
        out.append(Segment(a, b - 1, is_black))
    return out


def _uri(path: str) -> str:
    return pathlib.Path(os.path.abspath(path)).as_uri()


def _media_reference(src: Source):
    import opentimelineio as otio

    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    rate = float(src.rate)
    available = TR(RT(src.source_frame(src.first), rate), RT(src.count, rate))
    if src.kind == "sequence":
        folder, base = os.path.split(os.path.abspath(src.path))
        import re

        m = re.search(r"(#+|@+|%0?(\d*)d)", base)
        assert m is not None
        ref = otio.schema.ImageSequenceReference(
            target_url_base=_uri(folder) + "/", name_prefix=base[:m.start()], name_suffix=base[m.end():],
            start_frame=src.first, frame_step=1, rate=rate, frame_zero_padding=src.padding,
            missing_frame_policy=otio.schema.ImageSequenceReference.MissingFramePolicy.error,
            available_range=available)
    else:
        ref = otio.schema.ExternalReference(target_url=_uri(src.path), available_range=available)
    ref.name = src.name
    return ref


def build_timeline(bounds: Sequence[Boundary], src: Source, black: np.ndarray, *, name: str = "",
                   review_below: float = 0.8, transitions: bool = True, gaps: bool = True,
                   metadata: dict[str, Any] | None = None):
    """The OTIO timeline of the analysed frames (see the module docstring)."""
    import opentimelineio as otio

    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    rate = float(src.rate)
    n = len(src.numbers)
    nums = src.numbers
    bounds = [b for b in bounds if 0 < b.frame < n]
    segs = segments(bounds, n, black, gaps)
    by_cut = {b.frame: b for b in bounds}
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    items: list[Any] = []
    shot_no = 0
    for seg in segs:
        # source range: from this segment's first frame number to the next segment's (gaps in a VFR
        # movie's numbering or a stepped frame list belong to the segment before them)
        start = src.source_frame(nums[seg.first])
        end = src.source_frame(nums[seg.last + 1]) if seg.last + 1 < n else src.source_frame(nums[seg.last]) + 1
        rng = TR(RT(start, rate), RT(end - start, rate))
        if seg.black:
            item = otio.schema.Gap(source_range=TR(RT(0, rate), RT(end - start, rate)), name="black")
            item.metadata["filmai"] = {"black": True, "first_frame": nums[seg.first], "last_frame": nums[seg.last]}
        else:
            shot_no += 1
            item = otio.schema.Clip(name=f"{src.name}_{shot_no * 10:04d}", media_reference=_media_reference(src),
                                    source_range=rng)
            item.metadata["filmai"] = {"shot": shot_no, "first_frame": nums[seg.first], "last_frame": nums[seg.last]}
        items.append(item)
    # transitions go between the items either side of a gradual boundary's cut point
    out_items: list[Any] = []
    for i, (seg, item) in enumerate(zip(segs, items)):
        if i > 0:
            b = by_cut.get(seg.first)
            if b is not None and transitions and b.gradual:
                in_off = b.frame - b.start
                out_off = b.end + 1 - b.frame
                prev_len = segs[i - 1].last - segs[i - 1].first + 1
                this_len = seg.last - seg.first + 1
                in_off, out_off = min(in_off, prev_len), min(out_off, this_len)
                kind = b.kind
                t = otio.schema.Transition(
                    name={"dissolve": "Cross Dissolve", "fade_out": "Fade to black", "fade_in": "Fade from black",
                          "wipe": "wipe"}[kind],
                    transition_type=otio.schema.TransitionTypes.Custom if kind == "wipe"
                    else otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=RT(in_off, rate), out_offset=RT(out_off, rate))
                t.metadata["filmai"] = {"kind": kind, "confidence": round(b.confidence, 4),
                                        "first_frame": nums[b.start], "last_frame": nums[b.end]}
                out_items.append(t)
        out_items.append(item)
    for it in out_items:
        track.append(it)
    # review markers: on the clip the boundary starts, else on the clip it ends
    for i, seg in enumerate(segs):
        b = by_cut.get(seg.first) if i > 0 else None
        if b is None or b.confidence >= review_below:
            continue
        target, at = items[i], None
        if isinstance(target, otio.schema.Gap) and i > 0 and isinstance(items[i - 1], otio.schema.Clip):
            target = items[i - 1]
            at = target.source_range.end_time_exclusive() - RT(1, rate)
        if isinstance(target, otio.schema.Gap):
            at = target.source_range.start_time
        elif at is None:
            at = target.source_range.start_time
        marker = otio.schema.Marker(
            name=f"check {b.kind.replace('_', ' ')} ({b.confidence:.2f})",
            marked_range=TR(at, RT(max(1, b.length), rate)), color=otio.schema.MarkerColor.RED)
        marker.metadata["filmai"] = {"kind": b.kind, "confidence": round(b.confidence, 4), "frame": nums[b.frame],
                                     "first_frame": nums[b.start], "last_frame": nums[b.end], "review": True}
        target.markers.append(marker)
    tl = otio.schema.Timeline(name=name or src.name, tracks=[track])
    tl.global_start_time = RT(src.source_frame(nums[0]), rate)
    tl.metadata["filmai"] = dict(metadata or {})
    return tl


def check_timeline(tl, src: Source) -> None:
    """Read-back check: clips tile the analysed range, each points at the input, durations add up."""
    import opentimelineio as otio

    from filmai_plugins.errors import RunFailure

    rate = float(src.rate)
    n_expected = src.source_frame(src.numbers[-1]) + 1 - src.source_frame(src.numbers[0])
    track = tl.tracks[0]
    total = track.duration().rescaled_to(rate).value
    if round(total) != n_expected:
        raise RunFailure(f"timeline check failed: track lasts {total} frames, the input {n_expected}")
    expect = src.source_frame(src.numbers[0])
    for item in track:
        if isinstance(item, otio.schema.Transition):
            continue
        if isinstance(item, otio.schema.Clip):
            sr = item.source_range
            if round(sr.start_time.rescaled_to(rate).value) != expect:
                raise RunFailure(f"timeline check failed: clip {item.name} starts at {sr.start_time}, expected {expect}")
            ref = item.media_reference
            if ref is None or ref.available_range is None or not ref.available_range.contains(sr.start_time):
                raise RunFailure(f"timeline check failed: clip {item.name} lies outside its media")
        expect += round(item.source_range.duration.rescaled_to(rate).value)


def otio_text(tl) -> str:
    import opentimelineio as otio

    return otio.adapters.write_to_string(tl, "otio_json")


def edl_text(tl, src: Source, record_start: str | None = None) -> str:
    """CMX 3600 through the OTIO EDL adapter (``filmai_plugins.timeline.edl_text``): black as BL events,
    record time from ``record_start`` (a timecode or frame count), by default the source time of the first
    analysed frame — the plate's own timecode — so that record time equals source time."""
    from filmai_plugins.timeline import edl_text as timeline_edl

    return timeline_edl(tl, float(src.rate), record_start or None)


CSV_FIELDS = ("index", "kind", "frame", "start_frame", "end_frame", "length", "confidence", "review",
              "timecode", "seconds")


def csv_text(bounds: Sequence[Boundary], src: Source, review_below: float) -> str:
    from filmai_plugins.frames.movie import frames_to_timecode

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    nums = src.numbers
    n = len(nums)
    rate = float(src.rate)
    for i, b in enumerate(b for b in bounds if 0 < b.frame < n):
        number = nums[b.frame]
        w.writerow([i + 1, b.kind, number, nums[b.start], nums[b.end],
                    nums[b.end] - nums[b.start] + 1 if b.gradual else 0, f"{b.confidence:.4f}",
                    "yes" if b.confidence < review_below else "no",
                    frames_to_timecode(src.source_frame(number), src.rate, src.drop_frame),
                    f"{(number - src.first) / rate:.4f}"])
    return buf.getvalue()
