"""filmai_plugins.frames.movie: movies decoded with the real PyAV/FFmpeg, on movies these tests encode."""
from __future__ import annotations

import fractions
import os

import av
import numpy as np
import pytest

from filmai_plugins.errors import FrameError
from filmai_plugins.frames.movie import (DecodeStats, frames_to_timecode, is_movie_path, iter_movie_frames,
                                         probe_movie, read_movie, timecode_to_frames)


def encode(path, frames, *, rate=24, codec="libx264", pix_fmt="yuv420p", pts=None, metadata=None,
           rotation=None, options=None):
    """Encode (N, H, W, 3|4) uint8 frames; ``pts`` gives each frame's timestamp in 1/rate units (VFR)."""
    frames = np.asarray(frames, np.uint8)
    h, w = frames.shape[1:3]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.options = options or ({"crf": "10"} if codec == "libx264" else {})
        stream.codec_context.time_base = fractions.Fraction(1, rate)
        for k, v in (metadata or {}).items():
            stream.metadata[k] = v
        if rotation is not None:
            stream.set_display_rotation(rotation)
        fmt = "rgba" if frames.shape[3] == 4 else "rgb24"
        for i, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format=fmt)
            if pts is not None:
                vf.pts = int(pts[i])
                vf.time_base = fractions.Fraction(1, rate)
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def ramp_frames(n, w=64, h=48):
    """Frame i is a flat grey of level 10 + 12 i with a white square marking the top-left corner."""
    out = np.zeros((n, h, w, 3), np.uint8)
    for i in range(n):
        out[i] = 10 + 12 * i
        out[i, :8, :8] = 255
    return out


def test_probe_and_decode_constant_rate(tmp_path):
    path = encode(tmp_path / "ramp.mp4", ramp_frames(20))
    info = probe_movie(path)
    assert (info.width, info.height) == (64, 48)
    assert info.rate == 24 and info.fps == 24.0
    assert info.frame_count == 20 and info.estimated_frames == 20
    assert info.codec == "h264" and info.pixel_format == "yuv420p" and info.bit_depth == 8 and not info.has_alpha
    assert info.start_seconds == 0.0 and info.timecode is None and info.rotation == 0
    stats = DecodeStats()
    frames = list(iter_movie_frames(path, stats=stats))
    assert [f.number for f in frames] == list(range(20))
    assert stats.decoded == 20 and not stats.variable_rate
    for i, f in enumerate(frames):
        assert f.pixels.dtype == np.float32 and f.pixels.shape == (48, 64, 3) and f.channels == ["R", "G", "B"]
        # the flat area decodes to its grey level (limited-range video expanded to full range)
        assert abs(float(np.median(f.pixels[24:, 24:])) - (10 + 12 * i) / 255.0) < 0.02
        assert f.pixels[:6, :6].mean() > 0.95  # the corner mark stays top-left: no flip
        assert f.seconds == pytest.approx(i / 24.0)


def test_scaled_decode_and_frame_selection(tmp_path):
    path = encode(tmp_path / "ramp.mov", ramp_frames(12), codec="mpeg4", options={"qscale": "2"})
    frames = list(iter_movie_frames(path, size=(16, 12), frames=[3, 4, 9]))
    assert [f.number for f in frames] == [3, 4, 9]
    assert frames[0].pixels.shape == (12, 16, 3)
    # area scaling: the 8x8 white mark covers a quarter-by-quarter corner → 2x2 output pixels
    assert frames[0].pixels[:2, :2].mean() > 0.9 and frames[0].pixels[6:, 6:].mean() < 0.3


def test_variable_frame_rate_numbers_follow_time(tmp_path):
    pts = [0, 1, 2, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    path = encode(tmp_path / "vfr.mkv", ramp_frames(len(pts)), codec="mpeg4", pts=pts, options={"qscale": "2"})
    stats = DecodeStats()
    numbers = [f.number for f in iter_movie_frames(path, stats=stats)]
    assert numbers == pts  # holes where time was skipped, not a shifted count
    assert stats.gaps == 4 and stats.variable_rate and stats.last == 19


def test_timecode_start_offset_and_frames_for_hosts(tmp_path):
    path = encode(tmp_path / "tc.mov", ramp_frames(6), codec="mpeg4", metadata={"timecode": "01:00:00:00"},
                  options={"qscale": "2"})
    info = probe_movie(path)
    assert info.timecode == "01:00:00:00" and info.timecode_frame == 86400
    frames = list(read_movie(path, frames=[2, 5]))
    assert [f.number for f in frames] == [2, 5]
    f = frames[1]
    assert f.path == path and f.channels == ["R", "G", "B"]
    assert f.attributes["smpte:TimeCode"] == "01:00:00:05" and f.attributes["oiio:ColorSpace"] == "srgb_tx"
    assert f.attributes["FramesPerSecond"] == 24.0


def test_display_rotation_is_applied(tmp_path):
    img = np.zeros((1, 16, 32, 3), np.uint8)
    img[:, :, :8] = 255  # a white band on the left edge
    path = encode(tmp_path / "rot.mp4", np.repeat(img, 3, 0), rotation=90)
    info = probe_movie(path)
    assert info.rotation == 90 and (info.width, info.height) == (16, 32)
    px = next(iter_movie_frames(path)).pixels
    assert px.shape == (32, 16, 3)
    # turned 90° counter-clockwise, as players show it: the left edge is now the bottom
    assert px[-6:].mean() > 0.9 and px[:12].mean() < 0.1


def test_alpha_channel_kept(tmp_path):
    frames = np.zeros((3, 16, 16, 4), np.uint8)
    frames[..., :3] = 200
    frames[..., 3] = 64
    path = encode(tmp_path / "alpha.mov", frames, codec="qtrle", pix_fmt="argb")
    info = probe_movie(path)
    assert info.has_alpha
    f = next(iter_movie_frames(path))
    assert f.channels == ["R", "G", "B", "A"] and abs(float(f.pixels[..., 3].mean()) - 64 / 255) < 0.01
    assert next(iter_movie_frames(path, alpha=False)).channels == ["R", "G", "B"]


def test_undecodable_inputs_name_the_file(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(FrameError, match="junk.mp4"):
        probe_movie(str(junk))
    good = encode(tmp_path / "good.mp4", ramp_frames(10))
    cut = tmp_path / "truncated.mp4"
    cut.write_bytes(open(good, "rb").read()[: os.path.getsize(good) // 2])
    with pytest.raises(FrameError, match="truncated.mp4"):
        list(iter_movie_frames(str(cut)))
    with av.open(str(tmp_path / "tone.wav"), "w") as c:  # audio only
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    with pytest.raises(FrameError, match="no video stream"):
        probe_movie(str(tmp_path / "tone.wav"))
    with pytest.raises(FrameError, match="not found"):
        probe_movie(str(tmp_path / "missing.mov"))
    err = pytest.raises(FrameError, probe_movie, str(junk)).value
    assert err.exit_code == 2


def test_timecode_helpers():
    assert timecode_to_frames("01:00:00:00", fractions.Fraction(24000, 1001)) == 86400
    assert frames_to_timecode(1800, fractions.Fraction(30000, 1001), drop_frame=True) == "00:01:00;02"
    assert frames_to_timecode(100, 25) == "00:00:04:00"
    assert frames_to_timecode(100, 12) == "00:00:08:04"  # a rate SMPTE does not define still counts frames
    assert timecode_to_frames("00:00:01:02", 12.5) == 14
    assert is_movie_path("a/b/C.MOV") and is_movie_path("x.mp4") and not is_movie_path("plate.####.exr")
