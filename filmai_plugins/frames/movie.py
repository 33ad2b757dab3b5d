"""Movie files (MP4, MOV, MKV, MXF …) decoded with PyAV into frames: float32 RGB(A), numbered from PTS.

Editorial tools number a movie's frames by time, not by decode order: frame ``n`` is the picture shown
at ``start + n / rate``. A variable-frame-rate file (a phone clip, a screen recording, a stream with
dropped frames) therefore has holes in its numbering rather than a shifted count, and a cut found at
frame 90 is at 90 in the editor too. Here:

- ``rate`` is the nominal rate FFmpeg guesses for the stream (``r_frame_rate`` when sane, else the
  average), overridable by the caller;
- a frame's ``number`` is ``round((pts - start_pts) * time_base * rate)``: 0 for the first picture,
  increasing, with gaps where a VFR stream skips time; two pictures that round to the same number keep
  decode order (the later one is moved to the next free number and counted in ``duplicates``);
- ``start_pts``/``start_seconds`` is the stream's start offset (non-zero for files cut out of a longer
  stream or with a delayed first picture); ``timecode`` is the start timecode the file carries (a
  ``tmcd`` track or ``timecode`` metadata), else none.

Pixels are converted by swscale with the colour matrix and range the stream declares (BT.709 for HD and
BT.601 for SD when undeclared, as players do), turned upright by the display matrix, and returned as
display-referred float32 in 0–1 (``rgb24``/``rgb48`` → /255 or /65535). Scaling to an analysis size
happens in swscale with area averaging, which is far cheaper than converting full-size pictures.

Anything FFmpeg cannot open or decode raises :class:`FrameError` naming the file (and the frame when one
is known), so the ``filmai`` command exits 2 with one clear line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import FrameError
from .image import Frame

#: Extensions treated as movies (anything else is an image or an image sequence).
MOVIE_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".mxf", ".mpg",
                              ".mpeg", ".m2v", ".ts", ".mts", ".m2ts", ".y4m", ".ogv", ".wmv", ".flv",
                              ".dv", ".gif", ".nut"})

# swscale colour matrices by AVColorSpace value; unspecified streams follow the player convention.
_MATRIX = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "SMPTE170M", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}


def is_movie_path(path: str) -> bool:
    """True when ``path`` names a movie container by its extension."""
    return os.path.splitext(str(path))[1].lower() in MOVIE_EXTENSIONS


@dataclass(frozen=True)
class MovieInfo:
    """What a movie file says about its first video stream, before decoding pictures."""

    path: str
    width: int
    height: int
    rate: Fraction  # the nominal rate frames are numbered at
    time_base: Fraction
    start_pts: int
    start_seconds: float
    duration_seconds: float | None
    frame_count: int | None  # declared by the container (None when it does not say)
    timecode: str | None  # start timecode carried by the file ("01:00:00:00"), or None
    codec: str
    pixel_format: str
    rotation: int  # degrees counter-clockwise the picture is turned for display
    pixel_aspect: Fraction
    bit_depth: int
    has_alpha: bool
    container: str
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return float(self.rate)

    @property
    def estimated_frames(self) -> int | None:
        """Frame numbers the file spans (the last number + 1), from its duration; None when unknown."""
        if self.duration_seconds:
            return max(1, int(round(self.duration_seconds * float(self.rate))))
        return self.frame_count

    @property
    def timecode_frame(self) -> int:
        """The start timecode as a frame count at ``rate`` (0 without a timecode)."""
        if not self.timecode:
            return 0
        return timecode_to_frames(self.timecode, self.rate)

    def timecode_at(self, number: int) -> str:
        """SMPTE timecode of frame ``number`` (start timecode + number), drop-frame where the file's is."""
        return frames_to_timecode(self.timecode_frame + int(number), self.rate,
                                  drop_frame=bool(self.timecode and ";" in self.timecode))

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "width": self.width, "height": self.height,
                "rate": f"{self.rate.numerator}/{self.rate.denominator}", "fps": round(self.fps, 6),
                "start_seconds": self.start_seconds, "duration_seconds": self.duration_seconds,
                "frame_count": self.frame_count, "timecode": self.timecode, "codec": self.codec,
                "pixel_format": self.pixel_format, "rotation": self.rotation,
                "pixel_aspect": f"{self.pixel_aspect.numerator}/{self.pixel_aspect.denominator}",
                "bit_depth": self.bit_depth, "has_alpha": self.has_alpha, "container": self.container}


@dataclass
class MovieFrame:
    """One decoded picture: its frame number (from PTS), time, and float32 (H, W, C) pixels."""

    number: int
    pts: int | None
    seconds: float
    pixels: np.ndarray
    channels: list[str]


@dataclass
class DecodeStats:
    """Filled in while decoding: how regular the stream turned out to be."""

    decoded: int = 0
    gaps: int = 0  # frame numbers skipped (VFR or dropped pictures)
    duplicates: int = 0  # pictures that rounded onto an already used number
    missing_pts: int = 0  # pictures without a timestamp (numbered after the previous one)
    first: int | None = None
    last: int | None = None

    @property
    def variable_rate(self) -> bool:
        return bool(self.gaps or self.duplicates)

    def to_json(self) -> dict[str, Any]:
        return {"decoded": self.decoded, "gaps": self.gaps, "duplicates": self.duplicates,
                "missing_pts": self.missing_pts, "first": self.first, "last": self.last,
                "variable_rate": self.variable_rate}


# ----------------------------------------------------------------------------------------------


def _av():
    import av  # imported lazily: listing nodes and reading EXRs never pay for FFmpeg

    av.logging.set_level(av.logging.ERROR)
    return av


def _fraction(value: Any) -> Fraction | None:
    if value is None:
        return None
    try:
        f = Fraction(value.numerator, value.denominator) if hasattr(value, "numerator") else Fraction(value)
    except (ZeroDivisionError, TypeError, ValueError):
        return None
    return f if f > 0 else None


def _open(path: str):
    av = _av()
    if not os.path.exists(path):
        raise FrameError("movie file not found", path)
    if os.path.isdir(path):
        raise FrameError("is a folder, not a movie file", path)
    try:
        container = av.open(path, mode="r", metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise FrameError(f"cannot open as a movie (FFmpeg: {_reason(exc)})", path) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"cannot open as a movie: {exc}", path) from None
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        container.close()
        raise FrameError(f"no video stream in this file (streams: {kinds})", path)
    return container


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".") or type(exc).__name__


def _timecode(container: Any, stream: Any) -> str | None:
    # MOV/MP4 keep it on the tmcd data stream or the video stream, MXF/MKV on the container.
    candidates = [stream.metadata, container.metadata] + [s.metadata for s in container.streams if s is not stream]
    for meta in candidates:
        tc = (meta or {}).get("timecode")
        if tc and len(str(tc).replace(";", ":").split(":")) == 4:
            return str(tc)
    return None


def _nominal_rate(stream: Any) -> Fraction | None:
    # guessed_rate is FFmpeg's av_guess_frame_rate: r_frame_rate unless that is implausible next to
    # the average, which is what players and editors number frames by (VFR files included).
    for value in (stream.guessed_rate, stream.average_rate, stream.base_rate):
        rate = _fraction(value)
        if rate is not None and Fraction(1, 1000) < rate <= 1000:
            return rate
    return None


def _pixel_format_info(stream: Any) -> tuple[str, int, bool]:
    ctx = stream.codec_context
    name = ctx.pix_fmt or (ctx.format.name if ctx.format is not None else "")
    try:
        fmt = _av().VideoFormat(name) if name else None
    except Exception:
        fmt = None
    depth = 8
    alpha = name.startswith(("yuva", "rgba", "bgra", "argb", "abgr", "gbrap", "ya"))
    if fmt is not None:
        depth = max((c.bits for c in fmt.components), default=8)
        alpha = alpha or any(getattr(c, "is_alpha", False) for c in fmt.components)
    return name or "unknown", depth, alpha


def _info_from(path: str, container: Any, stream: Any, rate: Fraction | None) -> MovieInfo:
    tb = _fraction(stream.time_base) or Fraction(1, 90000)
    nominal = rate or _nominal_rate(stream)
    if nominal is None:
        raise FrameError("the video stream declares no frame rate; give one explicitly", path)
    start = stream.start_time if stream.start_time is not None else 0
    if stream.duration is not None:
        duration = float(stream.duration * tb)
    elif container.duration is not None:
        duration = container.duration / 1_000_000.0
    else:
        duration = None
    ctx = stream.codec_context
    pix_fmt, depth, alpha = _pixel_format_info(stream)
    sar = _fraction(stream.sample_aspect_ratio) or Fraction(1)
    return MovieInfo(
        path=path, width=int(ctx.width), height=int(ctx.height), rate=nominal, time_base=tb,
        start_pts=int(start), start_seconds=float(start * tb), duration_seconds=duration,
        frame_count=int(stream.frames) or None, timecode=_timecode(container, stream),
        codec=ctx.name or "unknown", pixel_format=pix_fmt, rotation=0, pixel_aspect=sar, bit_depth=depth,
        has_alpha=alpha, container=container.format.name if container.format else "",
        metadata={str(k): str(v) for k, v in (stream.metadata or {}).items()})


def probe_movie(path: str, *, rate: Fraction | float | None = None) -> MovieInfo:
    """Read a movie's header (no decoding): size, nominal rate, start offset, timecode, format.

    Raises FrameError naming the file when it is not a movie FFmpeg can open or has no video.
    """
    path = os.fspath(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        info = _info_from(path, container, stream, _fraction(rate) if rate else None)
        rotation = _first_rotation(container, stream)
    finally:
        container.close()
    if rotation:
        w, h = (info.height, info.width) if rotation % 180 else (info.width, info.height)
        info = MovieInfo(**{**info.__dict__, "rotation": rotation, "width": w, "height": h})
    return info


def _first_rotation(container: Any, stream: Any) -> int:
    """The display rotation of the first picture (decodes one frame; 0 when none is declared)."""
    try:
        for frame in container.decode(stream):
            return int(round(getattr(frame, "rotation", 0) or 0)) % 360
    except Exception:  # a broken stream is reported by the decoder, not the probe
        return 0
    return 0


def _matrix_for(frame: Any, height: int) -> str:
    space = int(getattr(frame, "colorspace", 2) or 2)
    return _MATRIX.get(space, "ITU709" if height >= 720 else "ITU601")


def _convert(frame: Any, size: tuple[int, int] | None, want_alpha: bool, high_depth: bool,
             rotation: int) -> tuple[np.ndarray, list[str]]:
    """One decoded picture → float32 (H, W, 3|4) display-referred RGB(A) in 0–1."""
    if rotation % 180 and size is not None:
        size = (size[1], size[0])  # scale the stored picture so it has the wanted size once turned
    width, height = size if size is not None else (None, None)
    if want_alpha:
        fmt, scale = ("rgba64le", 65535.0) if high_depth else ("rgba", 255.0)
    else:
        fmt, scale = ("rgb48le", 65535.0) if high_depth else ("rgb24", 255.0)
    kwargs: dict[str, Any] = {"format": fmt, "width": width, "height": height, "interpolation": "AREA"}
    name = frame.format.name
    if not name.startswith(("rgb", "bgr", "gbr", "argb", "abgr", "gray", "ya", "pal")):
        kwargs["src_colorspace"] = _matrix_for(frame, frame.height)
        kwargs["dst_colorspace"] = kwargs["src_colorspace"]
        rng = int(getattr(frame, "color_range", 0) or 0)
        full = rng == 2 or name.startswith("yuvj")
        kwargs["src_color_range"] = "JPEG" if full else "MPEG"
        kwargs["dst_color_range"] = "JPEG"
    array = frame.to_ndarray(**kwargs)
    pixels = array.astype(np.float32) * np.float32(1.0 / scale)
    if rotation:
        # The display matrix turns the picture counter-clockwise by `rotation` degrees.
        pixels = np.ascontiguousarray(np.rot90(pixels, k=(rotation // 90) % 4))
    channels = ["R", "G", "B", "A"] if want_alpha else ["R", "G", "B"]
    return pixels, channels


def iter_movie_frames(path: str, *, size: tuple[int, int] | None = None, frames: Sequence[int] | None = None,
                      rate: Fraction | float | None = None, alpha: bool | None = None,
                      stats: DecodeStats | None = None, info: MovieInfo | None = None,
                      threads: bool = True) -> Iterator[MovieFrame]:
    """Decode the first video stream in presentation order.

    ``size`` (width, height) scales each picture with area averaging while converting (None: full size).
    ``frames`` keeps only those frame numbers (decoding stops after the last one). ``alpha`` None keeps
    an alpha channel when the stream has one. ``stats`` is filled in as frames are decoded. Decoding
    errors raise FrameError naming the file and the frame after the last good one.
    """
    av = _av()
    path = os.fspath(path)
    wanted = sorted(set(int(f) for f in frames)) if frames is not None else None
    wanted_set = set(wanted) if wanted is not None else None
    stats = stats if stats is not None else DecodeStats()
    container = _open(path)
    try:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"  # frame + slice threads: decode is the bottleneck on small analysis sizes
        movie = info or _info_from(path, container, stream, _fraction(rate) if rate else None)
        tb, nominal = movie.time_base, movie.rate
        origin = movie.start_pts
        want_alpha = movie.has_alpha if alpha is None else bool(alpha and movie.has_alpha)
        high = movie.bit_depth > 8
        last: int | None = None
        try:
            for frame in container.decode(stream):
                pts = frame.pts if frame.pts is not None else getattr(frame, "best_effort_timestamp", None)
                if pts is None:
                    number = 0 if last is None else last + 1
                    stats.missing_pts += 1
                else:
                    if pts < origin and last is None and stream.start_time is None:
                        origin = pts
                    if pts < origin:
                        continue  # pre-roll before the stream's start (edit lists): not shown
                    number = int(round(float((pts - origin) * tb * nominal)))
                if last is not None:
                    if number <= last:
                        stats.duplicates += 1
                        number = last + 1
                    elif number > last + 1:
                        stats.gaps += number - last - 1
                last = number
                stats.decoded += 1
                if stats.first is None:
                    stats.first = number
                stats.last = number
                if wanted_set is not None and number not in wanted_set:
                    if number > wanted[-1]:
                        break
                    continue
                rotation = int(round(getattr(frame, "rotation", 0) or 0)) % 360
                try:
                    pixels, channels = _convert(frame, size, want_alpha, high, rotation)
                except (av.error.FFmpegError, ValueError) as exc:
                    raise FrameError(f"cannot convert decoded picture: {_reason(exc)}", path, number) from None
                seconds = float(pts * tb) if pts is not None else number / float(nominal)
                yield MovieFrame(number=number, pts=pts, seconds=seconds, pixels=pixels, channels=channels)
        except av.error.FFmpegError as exc:
            after = 0 if last is None else last + 1
            raise FrameError(f"cannot decode movie (FFmpeg: {_reason(exc)}); {stats.decoded} frames decoded "
                             "before the error", path, after) from None
        if stats.decoded == 0:
            raise FrameError("no decodable video frames (empty or corrupt stream)", path)
    finally:
        container.close()


def read_movie(path: str, *, frames: Sequence[int] | None = None, size: tuple[int, int] | None = None,
               rate: Fraction | float | None = None, alpha: bool | None = None,
               stats: DecodeStats | None = None) -> Iterator[Frame]:
    """Decode a movie into :class:`Frame` objects (what hosts and publish steps consume).

    Each frame carries ``number`` (from PTS), ``path`` (the movie), and attributes: the colourspace
    (``srgb_tx``: video is display-referred), frames per second, the SMPTE timecode of that frame when
    the file has a start timecode, and the source time in seconds.
    """
    info = probe_movie(path, rate=rate)
    for mf in iter_movie_frames(path, size=size, frames=frames, alpha=alpha, stats=stats, info=info):
        attributes: dict[str, Any] = {"oiio:ColorSpace": "srgb_tx", "FramesPerSecond": float(info.rate),
                                      "filmai:movieSeconds": round(mf.seconds, 6)}
        if info.timecode:
            attributes["smpte:TimeCode"] = info.timecode_at(mf.number)
        yield Frame.from_array(mf.pixels, mf.channels, attributes=attributes, path=info.path, number=mf.number)


# ----- timecode -----------------------------------------------------------------------------------


def _smpte_rate(rate: Fraction | float) -> float:
    return float(Fraction(rate).limit_denominator(1001))


def timecode_to_frames(timecode: str, rate: Fraction | float) -> int:
    """``HH:MM:SS:FF`` (``;`` before FF: drop-frame) → frame count at ``rate``."""
    from opentimelineio import opentime

    text = str(timecode).strip()
    try:
        return int(round(opentime.from_timecode(text, _smpte_rate(rate)).value))
    except Exception:
        pass
    parts = text.replace(";", ":").split(":")
    try:  # a rate SMPTE does not define (12.5, 16 …): count whole frames at the rounded rate
        hh, mm, ss, ff = (int(p) for p in parts)
    except ValueError:
        raise FrameError(f"bad timecode {timecode!r} (expected HH:MM:SS:FF)") from None
    nominal = max(1, int(round(float(rate))))
    return ((hh * 60 + mm) * 60 + ss) * nominal + ff


def frames_to_timecode(frames: int, rate: Fraction | float, drop_frame: bool = False) -> str:
    """Frame count → ``HH:MM:SS:FF`` (``HH:MM:SS;FF`` drop-frame) at ``rate``."""
    from opentimelineio import opentime

    smpte = _smpte_rate(rate)
    try:
        return opentime.RationalTime(int(frames), smpte).to_timecode(smpte, bool(drop_frame))
    except Exception:
        pass
    nominal = max(1, int(round(float(rate))))
    total = max(0, int(frames))
    ff = total % nominal
    seconds = total // nominal
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{ff:02d}"
