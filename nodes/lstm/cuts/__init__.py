"""``lstm.cuts``: shot boundaries in an image sequence or a movie, written as an editorial timeline."""
from __future__ import annotations

import os
import time
from fractions import Fraction


from filmai_plugins.errors import BadInput, FrameError
from filmai_plugins.node import Node, Param, Port

OUTPUT_EXTENSIONS = (".otio", ".edl", ".csv")


class CutsNode(Node):
    """Find the shot boundaries of a plate or a movie — hard cuts, dissolves, fades to and from black and
    wipes — and write them as an editorial timeline: OpenTimelineIO (``.otio``: one clip per shot with its
    source range and media reference, gradual transitions as OTIO transitions, black as gaps, a red
    marker on every boundary worth a second look), a CMX 3600 EDL (``.edl``) and a CSV cut list
    (``.csv``). The format follows each output's extension; ``--output cuts.otio --output edl=cuts.edl
    --output csv=cuts.csv`` writes all three from one analysis.

    A small CNN looks at every frame at 48×27 (and at its difference to the previous frame), hand-made
    colour-histogram and difference features describe how the picture changes over ±16 frames, and a
    bidirectional LSTM reads the whole sequence (in overlapping windows) to give each frame a transition
    probability, its kind and extent. The shipped model was trained by ``recipes/train_cuts.py`` on
    synthetic edits of real footage; frames are numbered from PTS for movies (VFR-safe).
    """

    id = "lstm.cuts"
    version = "1.1.0"  # 1.1: frames are looked at in the run's colourspace and OCIO config
    family = "lstm"
    label = "Cut detection"
    scope = "sequence"
    inputs = (Port("input", "Frames", "an image sequence (plate.####.exr, any format OpenImageIO reads) "
                   "or a movie file (mp4, mov, mkv, mxf …)"),)
    outputs = (
        Port("timeline", "Timeline", "the cut list: .otio (OpenTimelineIO), .edl (CMX 3600) or .csv, by extension"),
        Port("edl", "Timeline", "another output, usually the CMX 3600 EDL (.edl)", optional=True),
        Port("csv", "Table", "another output, usually the CSV cut list (.csv)", optional=True),
    )
    params = (
        Param("threshold", "float", 0.0, min=0.0, max=1.0, soft_max=0.9,
              help="probability a frame must reach to be a boundary; lower finds more (and more false) cuts; "
                   "0: the threshold the model was tuned to. Near the ends of the input, where the model sees "
                   "less, its own stricter edge threshold applies as well"),
        Param("review_below", "float", 0.8, min=0.0, max=1.0,
              help="boundaries less confident than this get a red marker (OTIO, EDL LOC) and review=yes in the CSV"),
        Param("gradual", "enum", "transitions", choices=("transitions", "cuts"),
              help="gradual transitions as OTIO transitions (EDL dissolves), or as plain cuts at their middle"),
        Param("black", "enum", "gaps", choices=("gaps", "clips"),
              help="runs of black frames as gaps (BL in the EDL) or as clips of the input"),
        Param("rate", "float", 0.0, min=0.0, max=1000.0,
              help="frames per second of the timeline; 0: the movie's rate, else the EXR header's, else 24"),
        Param("name", "string", "", help="timeline name; empty: the input's name"),
        Param("record_start", "string", "",
              help="EDL record time of the first analysed frame: a timecode (01:00:00:00) or a frame count; empty: "
                   "its source time (the EXR timeCode, a movie's start timecode, else frame number / rate), so "
                   "record time equals source time"),
    )
    model = "required"
    needs_torch = True

    @classmethod
    def default_model(cls) -> str | None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "cuts.ckpt")
        return path if os.path.isfile(path) else None

    # ------------------------------------------------------------------------------------------
    def setup(self, ctx) -> None:
        from .model import from_checkpoint

        meta = ctx.model.meta
        self.window = int(meta.get("window", 96))
        self.context = int(meta.get("context", 24))
        self.min_frames = int(meta.get("min_frames", 16))
        size = meta.get("analysis_size", [48, 27])
        self.size = (int(size[0]), int(size[1]))
        self.threshold = self.params["threshold"] or float(meta.get("threshold", 0.5))
        self.mask_threshold = float(meta.get("mask_threshold", 0.5))
        # near the ends of the input the network sees less: the model's stricter threshold there, never looser
        # than the one in force elsewhere (models tuned before it have none)
        self.edge_frames = int(meta.get("edge_frames", 0))
        self.edge_threshold = max(self.threshold, float(meta.get("edge_threshold", 0.0)))
        ctx.torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
        self.net = from_checkpoint(ctx.model, "cpu" if not ctx.device else ctx.device)
        self.device = ctx.device or "cpu"

    def _outputs(self, ctx) -> dict[str, tuple[str, str]]:
        """port → (path, format); one clear error for an unknown extension. (Two ports naming one file, or an
        output onto an input, are refused before the run by the engine's guard.OutputGuard.)"""
        if self.params["record_start"]:
            from filmai_plugins.timeline import record_start_time

            record_start_time(self.params["record_start"], 24.0)  # the form is checked before any reading
        out: dict[str, tuple[str, str]] = {}
        for port, path in ctx.outputs.items():
            ext = os.path.splitext(path)[1].lower()
            if ext not in OUTPUT_EXTENSIONS:
                raise BadInput(f"lstm.cuts output {port}={path}: unknown extension {ext or '(none)'}; "
                               f"write {', '.join(OUTPUT_EXTENSIONS)}")
            out[port] = (path, ext[1:])
        return out

    def run_sequence(self, ctx) -> None:
        from filmai_plugins.frames.movie import DecodeStats, is_movie_path, probe_movie
        from filmai_plugins.frames.sequence import SequencePattern

        from . import features as cf
        from .events import decode, refine_fades
        from .export import Source, black_frames
        from .model import predict

        outputs = self._outputs(ctx)
        path = ctx.input_path("input")
        pattern = SequencePattern(path)
        t0 = time.perf_counter()
        stats = None
        if pattern.is_sequence:
            frames = list(ctx.frames)
            self._check_length(len(frames), path)
            first_path = pattern.path(frames[0])
            rate = self._sequence_rate(ctx, first_path)
            channels = self._sequence_channels(ctx, first_path, frames[0])
            ctx.message(f"reading {len(frames)} frames of {path}")
            pics = cf.read_sequence(lambda f: ctx.read_input(f, "input", channels=channels), frames, self.size,
                                    on_frame=lambda done, total: ctx.progress.step(done, total, stage="read"),
                                    check_cancel=ctx.check_cancel, colour=ctx.colour)
            on_disk = pattern.frames_on_disk() or frames
            tc_offset, drop = self._sequence_timecode(ctx, pattern, frames, rate)
            src = Source(path=path, kind="sequence", numbers=frames, rate=rate, first=min(on_disk),
                         count=max(on_disk) - min(on_disk) + 1, timecode_offset=tc_offset, drop_frame=drop,
                         padding=pattern.padding, name=pattern.stem)
        elif is_movie_path(path):
            info = probe_movie(path, rate=self.params["rate"] or None)
            stats = DecodeStats()
            ctx.message(f"decoding {os.path.basename(path)}: {info.width}x{info.height} {info.codec} "
                        f"{float(info.rate):.3f} fps" + (f", timecode {info.timecode}" if info.timecode else ""))
            wanted = list(ctx.frames) if ctx.frames else None
            pics, numbers = cf.read_movie(path, self.size, frames=wanted, stats=stats, info=info,
                                          on_frame=lambda done, total: ctx.progress.step(done, total or done,
                                                                                         stage="decode"),
                                          check_cancel=ctx.check_cancel)
            self._check_length(len(numbers), path)
            if stats.variable_rate:
                ctx.message(f"{os.path.basename(path)} has a variable frame rate: {stats.gaps} frame numbers "
                            f"skipped, {stats.duplicates} pictures moved; frames are numbered by time", level="warning")
            name = os.path.splitext(os.path.basename(path))[0]
            span = max(info.estimated_frames or 0, (stats.last or 0) + 1)
            src = Source(path=path, kind="movie", numbers=numbers, rate=info.rate, first=0, count=span,
                         timecode_offset=info.timecode_frame, drop_frame=bool(info.timecode and ";" in info.timecode),
                         name=name, extra={"movie": info.to_json()})
        else:
            raise BadInput(f"{path}: lstm.cuts needs an image sequence (name.####.exr) or a movie file "
                           f"({', '.join(sorted(e for e in ('.mp4', '.mov', '.mkv', '.mxf')))} …), not a single image")
        t_read = time.perf_counter() - t0

        t1 = time.perf_counter()
        probs = predict(self.net, pics, self.window, self.context, check_cancel=ctx.check_cancel,
                        on_window=lambda i, n: ctx.progress.step(i, n, stage="analyse"))
        black = black_frames(pics)
        bounds = refine_fades(decode(probs, threshold=self.threshold, mask_threshold=self.mask_threshold,
                                     edge_frames=self.edge_frames, edge_threshold=self.edge_threshold), black)
        t_analyse = time.perf_counter() - t1
        self._write(ctx, outputs, bounds, src, black, t_read, t_analyse, stats)

    # ------------------------------------------------------------------------------------------
    def _check_length(self, n: int, path: str) -> None:
        if n < self.min_frames:
            raise FrameError(f"{n} frame{'s' if n != 1 else ''} to analyse, but lstm.cuts needs at least "
                             f"{self.min_frames} (the shortest window the model reads)", path)

    def _sequence_rate(self, ctx, first_path: str) -> Fraction:
        if self.params["rate"]:
            return Fraction(self.params["rate"]).limit_denominator(1001)
        from filmai_plugins.frames.io import read_header

        attrs = read_header(first_path, part=ctx.io.part or None).attributes
        fps = attrs.get("FramesPerSecond") or attrs.get("framesPerSecond")
        try:
            if isinstance(fps, (tuple, list)) and len(fps) == 2 and fps[1]:
                return Fraction(int(fps[0]), int(fps[1]))
            if fps:
                return Fraction(float(fps)).limit_denominator(1001)
        except (TypeError, ValueError, ZeroDivisionError):
            pass
        ctx.message("the frames declare no frame rate: the timeline uses 24 fps (set --set rate=...)", level="warning")
        return Fraction(24)

    def _sequence_timecode(self, ctx, pattern, frames: list[int], rate: Fraction) -> tuple[int, bool]:
        """(source time of frame 0 in frames at ``rate``, drop-frame) from the EXR ``timeCode`` of the first
        analysed frame: the timeline's source and record times then read as the plate's timecode. Without
        one, frame numbers are the source time (frame 1001 at 24 fps is 00:00:41:17)."""
        from filmai_plugins.frames.io import read_header
        from filmai_plugins.frames.movie import timecode_to_frames

        from .export import header_timecode

        first = header_timecode(read_header(pattern.path(frames[0]), part=ctx.io.part or None).attributes)
        if first is None:
            return 0, False
        text, drop = first
        try:
            start = timecode_to_frames(text, rate)
        except Exception as exc:
            ctx.message(f"{pattern.path(frames[0])}: timeCode {text} unusable at {float(rate):g} fps ({exc}); "
                        "frame numbers are the source time", level="warning")
            return 0, False
        if len(frames) > 1:
            last = header_timecode(read_header(pattern.path(frames[-1]), part=ctx.io.part or None).attributes)
            if last is not None and timecode_to_frames(last[0], rate) - start != frames[-1] - frames[0]:
                ctx.message(f"the timeCode of frame {frames[-1]} ({last[0]}) does not follow on from frame "
                            f"{frames[0]}'s ({text}): the timeline counts on from the first", level="warning")
        return start - frames[0], drop

    def _sequence_channels(self, ctx, first_path: str, frame: int) -> list[str] | None:
        from filmai_plugins.frames.io import read_header

        from .features import rgb_channels

        names = read_header(first_path, part=ctx.io.part or None, frame=frame).channels
        layer = ctx.io.layer
        if layer:
            names = [n[len(layer) + 1:] for n in names if n.startswith(layer + ".")]
        else:
            names = [n for n in names if "." not in n] or names
        return rgb_channels(names)

    def _write(self, ctx, outputs, bounds, src, black, t_read: float, t_analyse: float, stats) -> None:
        from .export import build_timeline, check_timeline, csv_text, edl_text, otio_text

        review = self.params["review_below"]
        n = len(src.numbers)
        meta = {"node": self.id, "version": self.version, "model_sha256": ctx.model_sha256,
                "input": os.path.abspath(src.path), "frames": [src.numbers[0], src.numbers[-1]],
                "threshold": self.threshold, "review_below": review, **src.extra}
        tl = build_timeline(bounds, src, black, name=self.params["name"], review_below=review,
                            transitions=self.params["gradual"] == "transitions", gaps=self.params["black"] == "gaps",
                            metadata=meta)
        texts: dict[str, str] = {}
        for port, (path, fmt) in outputs.items():
            if fmt == "otio":
                texts[port] = otio_text(tl)
            elif fmt == "edl":
                texts[port] = edl_text(tl, src, self.params["record_start"])
            else:
                texts[port] = csv_text(bounds, src, review)
        # read what we emit back before anything reaches the disk: a timeline that does not tile the
        # input is a bug, and nothing half-right should be written
        import opentimelineio as otio

        for port, (path, fmt) in outputs.items():
            if fmt == "otio":
                check_timeline(otio.adapters.read_from_string(texts[port], "otio_json"), src)
        for port, (path, fmt) in outputs.items():
            with ctx.atomic_output(path, port=port) as fh:
                fh.write(texts[port])
        kept = [b for b in bounds if 0 < b.frame < n]
        kinds: dict[str, int] = {}
        for b in kept:
            kinds[b.kind] = kinds.get(b.kind, 0) + 1
        shots = sum(1 for item in tl.tracks[0] if isinstance(item, otio.schema.Clip))
        ctx.extra.update({
            "frames_analysed": n, "boundaries": len(kept), "kinds": kinds, "shots": shots,
            "review": sum(1 for b in kept if b.confidence < review), "threshold": round(self.threshold, 4),
            "edge": {"frames": self.edge_frames, "threshold": round(self.edge_threshold, 4)},
            "rate": float(src.rate), "read_s": round(t_read, 3), "analyse_s": round(t_analyse, 3),
            "fps": round(n / max(t_read + t_analyse, 1e-9), 1),
            "cuts": [{**b.to_json(), "frame": src.numbers[b.frame], "start": src.numbers[b.start],
                      "end": src.numbers[b.end]} for b in kept],
        })
        if stats is not None:
            ctx.extra["decode"] = stats.to_json()
        ctx.message(f"{n} frames: {len(kept)} boundaries ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items())) or 'none'}), "
                    f"{shots} shots, {ctx.extra['review']} to review; {ctx.extra['fps']} frames/s")


NODES = (CutsNode,)
