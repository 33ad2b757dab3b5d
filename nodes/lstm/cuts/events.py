"""From per-frame probabilities to boundaries, and the scoring used by the bench (numpy only).

A boundary has a kind (cut, dissolve, fade_out, fade_in, wipe), a frame span ``[start, end]`` in the
analysed frames (a hard cut's span is its first incoming frame), a cut point ``frame`` (where a cut list
puts the edit: for a cut the first incoming frame, for a gradual transition its middle) and a confidence.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

KINDS = ("none", "cut", "dissolve", "fade_out", "fade_in", "wipe")
GRADUAL = ("dissolve", "fade_out", "fade_in", "wipe")


@dataclass
class Boundary:
    kind: str
    start: int
    end: int
    confidence: float

    @property
    def frame(self) -> int:
        """The cut point: frames before it belong to the outgoing shot, frames from it to the incoming one."""
        if self.kind == "cut":
            return self.start
        return (self.start + self.end + 1) // 2

    @property
    def length(self) -> int:
        return 0 if self.kind == "cut" else self.end - self.start + 1

    @property
    def gradual(self) -> bool:
        return self.kind != "cut"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": self.start, "end": self.end, "frame": self.frame,
                "length": self.length, "confidence": round(float(self.confidence), 4)}


def decode(probs: dict[str, np.ndarray], threshold: float = 0.5, mask_threshold: float = 0.5,
           radius: int = 1, kinds: Sequence[str] = KINDS, edge_frames: int = 0,
           edge_threshold: float = 0.0) -> list[Boundary]:
    """Peaks of the centre probability above ``threshold`` (one per ``radius`` neighbourhood) become
    boundaries; the kind is the most likely transition kind around the peak; a gradual transition
    extends over the neighbouring frames whose transition probability is above ``mask_threshold``.

    A boundary that reaches within ``edge_frames`` of either end of the input must have a confidence of
    at least ``edge_threshold`` as well: there the network sees the end frame repeated instead of what
    comes before or after, and a light change or a passing object running into the end looks like the
    start of a transition (false detections on the validation edits crowd there)."""
    bounds = _decode(probs, threshold, mask_threshold, radius, kinds)
    t = len(probs["centre"])
    return [b for b in bounds
            if b.confidence >= edge_threshold or min(b.start, t - 1 - b.end) >= edge_frames]


def _decode(probs: dict[str, np.ndarray], threshold: float, mask_threshold: float, radius: int,
            kinds: Sequence[str]) -> list[Boundary]:
    centre = np.asarray(probs["centre"], dtype=np.float64)
    mask = np.asarray(probs["mask"], dtype=np.float64)
    kind_p = np.asarray(probs["kind"], dtype=np.float64)
    t = centre.shape[0]
    if t == 0:
        return []
    padded = np.pad(centre, radius, constant_values=-1.0)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1)
    local_max = windows.max(axis=1)
    peaks = [i for i in range(t) if centre[i] >= threshold and centre[i] >= local_max[i] - 1e-12
             and not (i > 0 and centre[i - 1] == centre[i] and centre[i - 1] >= threshold)]
    names = list(kinds)
    trans_idx = [i for i, k in enumerate(names) if k != "none"]
    out: list[Boundary] = []
    taken = np.zeros(t, dtype=bool)
    for p in sorted(peaks, key=lambda i: -centre[i]):
        if taken[p]:
            continue
        lo, hi = max(0, p - 1), min(t, p + 2)
        weights = np.maximum(mask[lo:hi], 1e-3)[:, None]
        kind_scores = (kind_p[lo:hi, trans_idx] * weights).sum(0)
        kind = names[trans_idx[int(np.argmax(kind_scores))]]
        start = end = p
        if kind != "cut":
            while start - 1 >= 0 and mask[start - 1] >= mask_threshold and not taken[start - 1]:
                start -= 1
            while end + 1 < t and mask[end + 1] >= mask_threshold and not taken[end + 1]:
                end += 1
        taken[start:end + 1] = True
        # a gradual transition's centre is uncertain by a few frames, its existence much less: report how
        # sure the network is that these frames form a transition
        conf = float(centre[p]) if kind == "cut" else max(float(centre[p]), float(mask[start:end + 1].mean()))
        out.append(Boundary(kind, int(start), int(end), conf))
    # A long gradual transition can leave the centre head unsure about *which* frame is its middle (a
    # broad, low bump) while the transition head is sure that frames are in a transition: such a run of
    # transition frames, long enough and mostly of a gradual kind, is a boundary in its own right.
    i = 0
    while i < t:
        if mask[i] < mask_threshold or taken[i]:
            i += 1
            continue
        j = i
        while j + 1 < t and mask[j + 1] >= mask_threshold and not taken[j + 1]:
            j += 1
        run_kind = kind_p[i:j + 1, trans_idx].mean(0)
        kind = names[trans_idx[int(np.argmax(run_kind))]]
        strength = float(mask[i:j + 1].mean()) * float(np.clip(centre[i:j + 1].sum(), 0.0, 1.0))
        if j - i + 1 >= 3 and kind != "cut" and strength >= threshold:
            taken[i:j + 1] = True
            out.append(Boundary(kind, int(i), int(j), strength))
        i = j + 1
    out.sort(key=lambda b: b.start)
    return _merge_split_gradual(out)


def refine_fades(bounds: Sequence[Boundary], black: np.ndarray) -> list[Boundary]:
    """A fade to black ends on its last frame before black, a fade from black starts on its first frame
    after black: the network's transition probability tends to run on into the black it fades to."""
    out = []
    for b in bounds:
        start, end = b.start, b.end
        if b.kind == "fade_out":
            dark = np.flatnonzero(black[start:end + 1])
            if dark.size and dark[0] > 0:
                end = start + int(dark[0]) - 1
        elif b.kind == "fade_in":
            dark = np.flatnonzero(black[start:end + 1])
            if dark.size and start + int(dark[-1]) < end:
                start = start + int(dark[-1]) + 1
        out.append(Boundary(b.kind, start, end, b.confidence))
    return out


def _merge_split_gradual(bounds: list[Boundary]) -> list[Boundary]:
    """A long dissolve or wipe can peak twice; two touching spans of the same gradual kind are one."""
    merged: list[Boundary] = []
    for b in bounds:
        if merged and b.kind == merged[-1].kind and b.gradual and b.start <= merged[-1].end + 1:
            m = merged[-1]
            merged[-1] = Boundary(m.kind, m.start, max(m.end, b.end), max(m.confidence, b.confidence))
        else:
            merged.append(b)
    return merged


# ----- scoring ------------------------------------------------------------------------------------


@dataclass
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else (1.0 if self.fn == 0 else 0.0)

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: "Score") -> "Score":
        return Score(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def to_json(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


def match(predicted: Sequence[int], truth: Sequence[dict[str, Any]], tolerance: int = 2,
          ignore: Iterable[tuple[int, int]] = ()) -> dict[str, Any]:
    """Greedy one-to-one matching of predicted cut frames to true transitions.

    A prediction at frame p matches a true transition spanning [s, e] (a cut: s = e = its first incoming
    frame) when s - tolerance <= p <= e + tolerance. Pairs are taken closest first (distance to the span,
    then to its middle), each prediction and each transition at most once. Predictions inside an
    ``ignore`` span (transitions cut off by the ends of a test clip) count neither way.

    Returns per-category scores: ``cut`` (hard cuts) and ``gradual`` (everything else) where recall is
    over that category's transitions and every unmatched prediction is a false positive of both
    categories (a type-less detector cannot be charged to one), and ``all`` (kinds ignored).
    """
    preds = sorted(int(p) for p in predicted)
    ignore = list(ignore)
    pairs = []
    for i, p in enumerate(preds):
        for j, ev in enumerate(truth):
            s, e = int(ev["start"]), int(ev["end"])
            if s - tolerance <= p <= e + tolerance:
                gap = 0 if s <= p <= e else min(abs(p - s), abs(p - e))
                pairs.append((gap, abs(p - (s + e) / 2.0), i, j))
    pairs.sort()
    used_p, used_t = set(), set()
    matched = []
    for _, _, i, j in pairs:
        if i in used_p or j in used_t:
            continue
        used_p.add(i)
        used_t.add(j)
        matched.append((preds[i], j))
    unmatched = [p for i, p in enumerate(preds) if i not in used_p
                 and not any(a - tolerance <= p <= b + tolerance for a, b in ignore)]
    fp = len(unmatched)
    result: dict[str, Any] = {"matched": matched, "false_positives": unmatched,
                              "missed": [truth[j] for j in range(len(truth)) if j not in used_t]}
    for cat in ("cut", "gradual"):
        idx = [j for j, ev in enumerate(truth) if (ev["kind"] == "cut") == (cat == "cut")]
        tp = sum(1 for j in idx if j in used_t)
        result[cat] = Score(tp, fp, len(idx) - tp)
    result["all"] = Score(len(used_t), fp, len(truth) - len(used_t))
    return result
