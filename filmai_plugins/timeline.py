"""Editorial timelines for the hosts: shots and cuts of an OTIO file, and OTIO → EDL/CSV/OTIO exports.

Runs where the nodes run (it needs OpenTimelineIO and the CMX 3600 adapter package); the DCC adapters
call it through ``filmai timeline cuts|convert`` so neither Blender's nor Nuke's Python needs OTIO.

Positions are reported two ways: ``offset`` counts frames from the start of the timeline's first video
track (= from the first analysed frame, whatever numbering the media uses), ``source_frame`` is the
frame number in the media (an EXR sequence's 1001, a movie's 0-based frame). Hosts place cuts with
``offset``; summaries show ``source_frame``.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
from typing import Any

from .atomic import atomic_path
from .errors import BadInput
from .guard import OutputGuard
from .hookspecs import hookimpl

WRITABLE = {".otio": "otio_json", ".edl": "cmx_3600", ".csv": None}
_NUMBER = re.compile(r"(?<![\w.])(0(?:\.\d+)?|1(?:\.0+)?|\.\d+)(?![\w.])")


def _otio():
    try:
        import opentimelineio as otio
    except ImportError:  # pragma: no cover - a core dependency
        raise BadInput("OpenTimelineIO is not installed in this environment (pip install opentimelineio)") from None
    return otio


def read_timeline(path: str, rate: float | None = None):
    otio = _otio()
    if not os.path.isfile(path):
        raise BadInput(f"{path}: timeline not found")
    kwargs = {"rate": rate} if rate and path.lower().endswith(".edl") else {}
    try:
        tl = otio.adapters.read_from_file(path, **kwargs)
    except Exception as exc:  # OTIO raises many types for a bad file
        raise BadInput(f"{path}: not a readable timeline ({type(exc).__name__}: {exc})") from None
    if not isinstance(tl, otio.schema.Timeline):
        raise BadInput(f"{path}: holds a {type(tl).__name__}, not a timeline")
    return tl


def _find_confidence(obj: Any) -> float | None:
    """A ``confidence`` value anywhere in an OTIO object's metadata (any namespace)."""
    stack = [getattr(obj, "metadata", None)]
    while stack:
        item = stack.pop()
        if hasattr(item, "items"):
            for key, value in item.items():
                if str(key).lower() in ("confidence", "probability", "score") and isinstance(value, (int, float)):
                    return float(value)
                stack.append(value)
    return None


def _marker_confidence(clip: Any, at: Any) -> tuple[float | None, str]:
    """Confidence and name of a marker placed at the clip's first frame (where its cut is)."""
    for marker in getattr(clip, "markers", []):
        if marker.marked_range.start_time.to_frames() != at.to_frames():
            continue
        conf = _find_confidence(marker)
        if conf is None:
            m = _NUMBER.search(marker.name or "")
            conf = float(m.group(1)) if m else None
        return conf, marker.name or ""
    return None, ""


def _source_frame(clip: Any, t: Any) -> int:
    otio = _otio()
    ref = clip.media_reference
    if isinstance(ref, otio.schema.ImageSequenceReference):
        try:
            return int(ref.frame_for_time(t))
        except Exception:  # no available_range: time 0 is the reference's start frame
            return int(ref.start_frame + round(t.to_frames()))
    return int(round(t.to_frames()))


def _table_confidences(table: str) -> dict[int, float]:
    """``frame`` → ``confidence`` from a cut-list CSV (lstm.cuts writes one beside its OTIO)."""
    if not os.path.isfile(table):
        raise BadInput(f"{table}: cut list not found")
    with open(table, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"frame", "confidence"} <= set(reader.fieldnames):
            raise BadInput(f"{table}: a cut list needs 'frame' and 'confidence' columns")
        out = {}
        for row in reader:
            try:
                out[int(float(row["frame"]))] = float(row["confidence"])
            except ValueError:
                continue
    return out


def cuts_summary(path: str, rate: float | None = None, table: str | None = None) -> dict[str, Any]:
    """Shots and the boundaries between them on the first non-empty video track. ``table``: a cut-list CSV
    whose confidences fill those the timeline does not carry (an OTIO marks only doubtful cuts)."""
    otio = _otio()
    tl = read_timeline(path, rate)
    tracks = [t for t in tl.video_tracks() if len(t)]
    if not tracks:
        raise BadInput(f"{path}: the timeline has no video track with clips")
    track = tracks[0]
    shots: list[dict[str, Any]] = []
    cuts: list[dict[str, Any]] = []
    pending_transition = None
    track_rate = None
    for index, item in enumerate(track):
        if isinstance(item, otio.schema.Transition):
            pending_transition = item
            continue
        rng = track.range_of_child_at_index(index)
        track_rate = track_rate or rng.start_time.rate
        start = int(round(rng.start_time.to_frames()))
        length = int(round(rng.duration.to_frames()))
        if isinstance(item, otio.schema.Clip):
            src = item.source_range or item.available_range()
            first_src = _source_frame(item, src.start_time)
            shot = {"index": len(shots) + 1, "name": item.name, "start": start, "end": start + length,
                    "source_start": first_src, "source_end": first_src + length,
                    "confidence": _find_confidence(item)}
            if shots or cuts or start > 0:
                conf, marker = _marker_confidence(item, src.start_time)
                if conf is None:
                    conf = _find_confidence(pending_transition) if pending_transition is not None else None
                if conf is None:
                    conf = shot["confidence"]
                kind = "cut"
                duration = 0
                if pending_transition is not None:
                    kind = str(pending_transition.transition_type or "transition").replace("SMPTE_", "").lower()
                    duration = int(round((pending_transition.in_offset + pending_transition.out_offset).to_frames()))
                cuts.append({"offset": start, "source_frame": first_src, "kind": kind, "duration": duration,
                             "confidence": conf, "marker": marker, "shot": item.name})
            shots.append(shot)
        pending_transition = None
    if table:
        by_frame = _table_confidences(table)
        for cut in cuts:
            if cut["confidence"] is None:
                cut["confidence"] = by_frame.get(cut["source_frame"])
    total = int(round(track.duration().to_frames()))
    return {"timeline": tl.name, "path": os.path.abspath(path), "rate": float(track_rate or 24.0),
            "duration": total, "shots": shots, "cuts": cuts}


def summary_text(summary: dict[str, Any]) -> str:
    """The frame-range summary an artist reads: one line per shot, with the confidence of its cut."""
    lines = [f"{summary['timeline'] or os.path.basename(summary['path'])}: {len(summary['shots'])} shots, "
             f"{len(summary['cuts'])} cuts, {summary['duration']} frames at {summary['rate']:g} fps"]
    by_start = {c["offset"]: c for c in summary["cuts"]}
    for shot in summary["shots"]:
        cut = by_start.get(shot["start"])
        why = ""
        if cut is not None:
            conf = "" if cut["confidence"] is None else f", confidence {cut['confidence']:.2f}"
            dur = f" {cut['duration']}f" if cut["duration"] else ""
            why = f"  after {cut['kind']}{dur}{conf}"
        lines.append(f"  {shot['index']:>3}  {shot['source_start']}-{shot['source_end'] - 1}"
                     f"  ({shot['end'] - shot['start']} frames)  {shot['name']}{why}")
    return "\n".join(lines)


def _csv_text(summary: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["shot", "name", "first_frame", "last_frame", "frames", "cut_kind", "cut_frames", "confidence"])
    by_start = {c["offset"]: c for c in summary["cuts"]}
    for s in summary["shots"]:
        cut = by_start.get(s["start"]) or {}
        conf = cut.get("confidence")
        w.writerow([s["index"], s["name"], s["source_start"], s["source_end"] - 1, s["end"] - s["start"],
                    cut.get("kind", ""), cut.get("duration", ""),
                    "" if conf is None or (isinstance(conf, float) and math.isnan(conf)) else f"{conf:.4f}"])
    return buf.getvalue()


def record_start_time(value: Any, rate: float):
    """``--record-start`` as an OTIO time at ``rate``: a timecode (``01:00:00:00``, ``;`` before the frames
    for drop-frame) or a frame count."""
    otio = _otio()
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        return otio.opentime.RationalTime(int(text), rate)
    if not re.fullmatch(r"\d{1,2}:\d{2}:\d{2}[:;]\d{2}", text):
        raise BadInput(f"record start {value!r}: give a timecode (HH:MM:SS:FF) or a frame count")
    from .frames.movie import timecode_to_frames

    try:
        return otio.opentime.RationalTime(timecode_to_frames(text, rate), rate)
    except Exception as exc:
        raise BadInput(f"record start {value!r}: not a timecode at {rate:g} fps ({exc})") from None


def edl_text(tl: Any, rate: float | None = None, record_start: Any = None) -> str:
    """A timeline as CMX 3600 text through the OTIO EDL adapter (otio-cmx3600-adapter).

    Record time starts at ``record_start`` (a timecode, a frame count or an OTIO time); by default at the
    timeline's ``global_start_time`` — the start an editor gave the sequence, and on the timelines lstm.cuts
    writes the source time of the first analysed frame, so that record time equals source time. (The adapter
    itself counts record time from 00:00:00:00 whatever the timeline says.) Black (``Gap`` items) becomes BL
    events, so fades to and from black read as dissolves to and from BL, as editors expect; the adapter
    cannot write a gap that a transition touches ("value cannot be negative here").
    """
    import copy

    otio = _otio()
    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    tl = copy.deepcopy(tl)
    video = [t for t in tl.tracks if t.kind == otio.schema.TrackKind.Video and t.enabled]
    if len(video) != 1:
        raise BadInput(f"an EDL holds one video track; this timeline has {len(video)} (write .otio)")
    track = video[0]
    rate = float(rate or track.duration().rate or 24.0)
    if record_start is None:
        start = tl.global_start_time.rescaled_to(rate) if tl.global_start_time is not None else RT(0, rate)
    elif isinstance(record_start, RT):
        start = record_start.rescaled_to(rate)
    else:
        start = record_start_time(record_start, rate)
    if start.value < 0:
        raise BadInput(f"record start {start.value:g} frames: must not be negative")
    position = start
    for i, item in enumerate(list(track)):
        if isinstance(item, otio.schema.Transition):
            continue
        dur = item.source_range.duration if item.source_range is not None else item.duration()
        if isinstance(item, otio.schema.Gap):
            black = otio.schema.Clip(name="BL", media_reference=otio.schema.GeneratorReference(generator_kind="black"),
                                     source_range=TR(position, dur))
            black.metadata["cmx_3600"] = {"reel": "BL"}
            track[i] = black
        position = position + dur
    if start.value > 0:
        # record time is the position in the track: a leading gap (the adapter writes no event for a gap)
        # moves every event to the record start
        track.insert(0, otio.schema.Gap(source_range=TR(RT(0, rate), start)))
    try:
        return otio.adapters.write_to_string(tl, "cmx_3600", rate=rate)
    except Exception as exc:
        raise BadInput(f"cannot write a CMX 3600 EDL at {rate:g} fps: {type(exc).__name__}: {exc} (EDL timecode "
                       "needs a SMPTE rate: 23.976, 24, 25, 29.97, 30, 48, 50, 59.94 or 60; or write .otio)") from None


def convert(source: str, target: str, rate: float | None = None, overwrite: bool = False,
            record_start: Any = None) -> str:
    """Write ``target`` from the timeline ``source``: .otio, .edl (CMX 3600) or .csv (one row per shot).

    ``record_start``: the EDL's first record time (see ``edl_text``; default the timeline's start).
    Written atomically; an existing target is kept unless ``overwrite`` (an artist confirmed it).
    """
    ext = os.path.splitext(target)[1].lower()
    if ext not in WRITABLE:
        raise BadInput(f"{target}: cannot write {ext or 'files without extension'} (one of {', '.join(WRITABLE)})")
    if record_start is not None and ext != ".edl":
        raise BadInput(f"--record-start applies to an EDL, not to {target}")
    OutputGuard("filmai timeline convert").read(source, "the timeline").write(target, "the target").check()
    if os.path.exists(target) and not overwrite:
        raise BadInput(f"{target} exists; choose another name (nothing was overwritten)")
    with atomic_path(target, extension_last=True) as tmp:
        if ext == ".csv":
            text = _csv_text(cuts_summary(source, rate))
        elif ext == ".edl":
            try:
                text = edl_text(read_timeline(source, rate), record_start=record_start)
            except BadInput as exc:
                raise BadInput(f"{target}: {exc}") from None
        else:
            text = None
            tl = read_timeline(source, rate)
            try:
                _otio().adapters.write_to_file(tl, tmp, adapter_name=WRITABLE[ext])
            except Exception as exc:
                raise BadInput(f"{target}: cannot write {WRITABLE[ext]} ({type(exc).__name__}: {exc})") from None
        if text is not None:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                f.write(text)
    return target


# ----- commands ---------------------------------------------------------------------------------------


def cmd_timeline_cuts(args: Any) -> int:
    import json

    summary = cuts_summary(args.path, args.rate, args.table)
    print(json.dumps(summary, indent=2) if args.json else summary_text(summary))
    return 0


def cmd_timeline_convert(args: Any) -> int:
    print(convert(args.source, args.target, args.rate, overwrite=args.overwrite, record_start=args.record_start))
    return 0


@hookimpl
def filmai_register_commands(commands: Any) -> None:
    sub = commands
    p = sub.add_parser("timeline", help="editorial timelines: shots/cuts summary, OTIO → EDL/CSV")
    tsub = p.add_subparsers(dest="timeline_command", metavar="ACTION", required=True)
    c = tsub.add_parser("cuts", help="shots and cuts of a timeline")
    c.add_argument("path")
    c.add_argument("--rate", type=float, help="frame rate (needed to read an EDL)")
    c.add_argument("--table", help="a cut-list CSV (frame, confidence columns) for confidences the timeline lacks")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_timeline_cuts)
    c = tsub.add_parser("convert", help="write a timeline as .otio, .edl (CMX 3600) or .csv")
    c.add_argument("source")
    c.add_argument("target")
    c.add_argument("--rate", type=float, help="frame rate (needed to read an EDL)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing target")
    c.add_argument("--record-start", metavar="TC",
                   help="EDL: record time of the first frame, a timecode (01:00:00:00) or a frame count; default "
                        "the timeline's start (lstm.cuts timelines: the source time of their first frame)")
    c.set_defaults(func=cmd_timeline_convert)
