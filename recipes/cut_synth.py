"""Synthetic edits with exact ground truth, for training and evaluating ``lstm.cuts`` (torch).

An edit is a run of shots joined by transitions. Shots come from *sources*: still photographs moved
like a rostrum camera (Ken Burns pans, zooms, shake), frames of real video clips (cropped, drifting,
played at other speeds, ping-ponged), short EXR sequences, procedural fields (flat colour, gratings,
moving blobs — what slates, titles and graphics look like), and black slugs. Transitions: hard cuts,
dissolves (linear or eased), wipes (linear at any angle, or iris, soft or hard edged), and fades: a
dissolve into or out of a black slug is a fade-out or fade-in. Shots carry the things that fool cut
detectors — flashes, fast pans, objects sweeping through the frame, exposure drifts, dark scenes, noise
— with no boundary in the ground truth.

Every transition is returned with its kind and frame span ``[start, end]`` (a hard cut's span is the
first frame of the incoming shot), and per-frame training targets are derived from them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from filmai_plugins.nodes.lstm.cuts.model import KINDS

KIND_INDEX = {k: i for i, k in enumerate(KINDS)}


# ----- sources ------------------------------------------------------------------------------------


@dataclass
class Source:
    """Pictures a shot can be cut from. ``frames`` (N, 3, H, W) float16 in 0–1, display-referred."""

    name: str
    kind: str  # "still" | "clip" | "sequence"
    frames: torch.Tensor

    @property
    def length(self) -> int:
        return int(self.frames.shape[0])


def still_source(name: str, rgb: np.ndarray, long_side: int = 384) -> Source:
    """A photograph (H, W, 3) in 0–1, kept at a size fine enough for zooms at the render size."""
    x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
    h, w = x.shape[2:]
    s = long_side / max(h, w)
    if s < 1:
        x = F.interpolate(x, size=(max(8, round(h * s)), max(8, round(w * s))), mode="area")
    return Source(name, "still", x.half())


def clip_source(name: str, frames: np.ndarray, kind: str = "clip") -> Source:
    """Frames (N, H, W, 3) uint8 or float in 0–1."""
    x = torch.from_numpy(np.ascontiguousarray(frames))
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return Source(name, kind, x.permute(0, 3, 1, 2).half().contiguous())


# ----- geometry -------------------------------------------------------------------------------------


def _crop_grid(centres: torch.Tensor, scales: torch.Tensor, angle: torch.Tensor, src_aspect: float,
               out_hw: tuple[int, int]) -> torch.Tensor:
    """Sampling grids (n, H, W, 2) for crops of the source; scale 1 = the largest crop of the render
    aspect that fits. ``centres`` in -1..1 source coordinates (clamped so the crop stays inside)."""
    h, w = out_hw
    out_aspect = w / h
    n = centres.shape[0]
    # half-extent of the crop in normalised source coordinates
    if out_aspect >= src_aspect:
        hx = torch.ones(n) * scales
        hy = scales * src_aspect / out_aspect
    else:
        hy = torch.ones(n) * scales
        hx = scales * out_aspect / src_aspect
    reach_x = torch.abs(hx * torch.cos(angle)) + torch.abs(hy * torch.sin(angle))
    reach_y = torch.abs(hx * torch.sin(angle)) + torch.abs(hy * torch.cos(angle))
    cx = torch.clamp(centres[:, 0], -(1 - reach_x).clamp(min=0), (1 - reach_x).clamp(min=0))
    cy = torch.clamp(centres[:, 1], -(1 - reach_y).clamp(min=0), (1 - reach_y).clamp(min=0))
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = hx * cos
    theta[:, 0, 1] = -hy * sin
    theta[:, 1, 0] = hx * sin
    theta[:, 1, 1] = hy * cos
    theta[:, 0, 2] = cx
    theta[:, 1, 2] = cy
    return F.affine_grid(theta, (n, 3, h, w), align_corners=False)


def _ease(u: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "smooth":
        return u * u * (3 - 2 * u)
    return u


# ----- shots ----------------------------------------------------------------------------------------


@dataclass
class ShotPlan:
    source: Source | None  # None: black slug or procedural
    kind: str  # still | clip | sequence | procedural | black
    length: int  # frames rendered (including the frames under its transitions)
    seed: int


class EditSynth:
    """Renders random edits from sources. ``size`` (width, height) is the render size."""

    def __init__(self, sources: Sequence[Source], size: tuple[int, int] = (96, 54), seed: int = 0,
                 shot_mix: dict[str, float] | None = None, transition_mix: dict[str, float] | None = None,
                 negatives: float = 1.0):
        if not sources:
            raise ValueError("no sources")
        self.sources = list(sources)
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.by_kind: dict[str, list[Source]] = {}
        for s in self.sources:
            self.by_kind.setdefault(s.kind, []).append(s)
        mix = {"still": 0.42, "clip": 0.24, "sequence": 0.04, "procedural": 0.12, "black": 0.18}
        mix.update(shot_mix or {})
        self.shot_mix = {k: v for k, v in mix.items() if v > 0 and (k in ("procedural", "black") or k in self.by_kind)}
        tmix = {"cut": 0.55, "dissolve": 0.25, "wipe": 0.20}
        tmix.update(transition_mix or {})
        self.transition_mix = tmix
        self.negatives = negatives

    # ----- random helpers
    def _choice(self, weights: dict[str, float]) -> str:
        keys = list(weights)
        p = np.array([weights[k] for k in keys], dtype=np.float64)
        return keys[int(self.rng.choice(len(keys), p=p / p.sum()))]

    def _loguniform(self, lo: float, hi: float) -> float:
        return float(math.exp(self.rng.uniform(math.log(lo), math.log(hi))))

    def _shot_length(self) -> int:
        r = self.rng.random()
        if r < 0.15:
            return int(round(self._loguniform(3, 12)))
        if r < 0.9:
            return int(round(self._loguniform(12, 120)))
        return int(self.rng.integers(120, 260))

    # ----- rendering of one shot
    def render_shot(self, kind: str, source: Source | None, n: int, keep: tuple[int, int] | None = None) -> torch.Tensor:
        """Frames ``keep[0]..keep[1]`` (inclusive; default all) of a shot ``n`` frames long."""
        w, h = self.size
        rng = self.rng
        a, b = keep if keep is not None else (0, n - 1)
        m = b - a + 1
        if kind == "black":
            level = float(rng.uniform(0.0, 0.025)) if rng.random() < 0.5 else 0.0
            out = torch.full((m, 3, h, w), level)
            if rng.random() < 0.2:  # a caption or copyright line on the black
                y0 = int(rng.integers(int(h * 0.7), h - 2))
                x0 = int(rng.integers(0, w // 2))
                ink = float(rng.uniform(0.2, 0.8))
                cols = rng.random(max(1, w // 3)) < 0.6
                for k, on in enumerate(cols):
                    if on and x0 + k < w:
                        out[:, :, y0:y0 + max(1, h // 40), x0 + k] = ink
            return out + torch.randn(m, 3, h, w) * float(rng.uniform(0, 0.006))
        if kind == "procedural":
            out = self._procedural(n)[a:b + 1]
        elif kind == "still":
            out = self._rostrum(source, n, a, b)
        else:
            out = self._clip(source, n, a, b)
        out = self._grade(out)
        out = self._negatives(out)
        return out.clamp(0.0, 1.0)

    def _motion_path(self, n: int, fast: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = self.rng
        t = torch.linspace(0, 1, n)
        ease = "smooth" if rng.random() < 0.4 else "linear"
        u = _ease(t, ease)
        s0, s1 = rng.uniform(0.45, 1.0), rng.uniform(0.45, 1.0)
        if rng.random() < 0.3:
            s1 = s0  # a pure pan
        c0 = rng.uniform(-1, 1, 2)
        travel = rng.uniform(0.3, 2.0) if fast else rng.uniform(0.0, 0.5)
        direction = rng.normal(size=2)
        direction /= np.linalg.norm(direction) + 1e-9
        c1 = c0 + direction * travel * (n / 48.0 if not fast else 1.0)
        scales = torch.tensor(s0) + (torch.tensor(s1) - torch.tensor(s0)) * u
        centres = torch.tensor(c0)[None].float() + (torch.tensor(c1 - c0)[None].float()) * u[:, None]
        if rng.random() < 0.15:  # hand-held shake
            amp = rng.uniform(0.005, 0.04)
            centres = centres + torch.randn(n, 2).cumsum(0) * amp * 0.3 + torch.randn(n, 2) * amp
        angle = torch.zeros(n)
        if rng.random() < 0.1:
            angle = torch.linspace(0, float(rng.uniform(-0.3, 0.3)), n)
        return centres.float(), scales.float(), angle.float()

    def _rostrum(self, source: Source, n: int, a: int, b: int) -> torch.Tensor:
        img = source.frames[0:1].float()
        fast = self.rng.random() < 0.15
        centres, scales, angle = self._motion_path(n, fast)
        sl = slice(a, b + 1)
        grid = _crop_grid(centres[sl], scales[sl], angle[sl], img.shape[3] / img.shape[2], (self.size[1], self.size[0]))
        out = F.grid_sample(img.expand(b - a + 1, -1, -1, -1), grid, mode="bilinear", padding_mode="border",
                            align_corners=False)
        if self.rng.random() < 0.5:
            out = out.flip(3)
        return out

    def _clip(self, source: Source, n: int, a: int, b: int) -> torch.Tensor:
        rng = self.rng
        total = source.length
        speed = float(rng.choice([1.0, 1.0, 1.0, 0.5, 2.0, 3.0])) if source.kind == "clip" else float(rng.choice([0.33, 0.5, 1.0]))
        pos = rng.uniform(0, max(total - 1, 1)) + np.arange(n) * speed
        # ping-pong when the shot is longer than the material
        period = max(2 * (total - 1), 1)
        p = np.mod(pos, period)
        idx = np.where(p <= total - 1, p, period - p).astype(int).clip(0, total - 1)
        if rng.random() < 0.5:
            idx = idx[::-1].copy()
        frames = source.frames[torch.from_numpy(idx[a:b + 1].copy())].float()
        centres, scales, angle = self._motion_path(n, fast=rng.random() < 0.05)
        sl = slice(a, b + 1)
        scales = 0.6 + 0.4 * scales[sl]  # clips are already framed: gentle crops only
        grid = _crop_grid(centres[sl] * 0.5, scales, angle[sl] * 0.2, frames.shape[3] / frames.shape[2],
                          (self.size[1], self.size[0]))
        out = F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if rng.random() < 0.5:
            out = out.flip(3)
        return out

    def _procedural(self, n: int) -> torch.Tensor:
        rng = self.rng
        w, h = self.size
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w) * (w / h), indexing="ij")
        style = rng.choice(["flat", "gradient", "grating", "blobs"], p=[0.3, 0.2, 0.25, 0.25])
        c1 = torch.tensor(rng.uniform(0.05, 0.95, 3)).float()[:, None, None]
        c2 = torch.tensor(rng.uniform(0.05, 0.95, 3)).float()[:, None, None]
        t = torch.arange(n).float()[:, None, None, None]
        if style == "flat":
            base = c1[None].expand(n, 3, h, w).clone()
            if rng.random() < 0.5:  # a slate or counter: small characters changing in place on a flat field
                cw, ch = max(2, w // 24), max(2, h // 10)
                x0 = int(rng.integers(0, w - 6 * cw))
                y0 = int(rng.integers(0, h - 2 * ch))
                for i in range(n):
                    glyphs = rng.random((2, 6)) < 0.5
                    for gy, gx in zip(*np.nonzero(glyphs)):
                        base[i, :, y0 + gy * ch: y0 + (gy + 1) * ch, x0 + gx * cw: x0 + (gx + 1) * cw] = c2
            return base
        if style == "gradient":
            a = float(rng.uniform(0, 2 * math.pi))
            ramp = (xx * math.cos(a) + yy * math.sin(a)) * 0.5 + 0.5
            drift = t * float(rng.uniform(-0.01, 0.01))
            u = (ramp[None, None] + drift).clamp(0, 1)
            return c1[None] * (1 - u) + c2[None] * u
        if style == "grating":
            a = float(rng.uniform(0, 2 * math.pi))
            f = float(rng.uniform(1, 8))
            v = float(rng.uniform(-0.3, 0.3))
            u = 0.5 + 0.5 * torch.sin((xx * math.cos(a) + yy * math.sin(a))[None, None] * f * math.pi + t * v)
            return c1[None] * (1 - u) + c2[None] * u
        # blobs: soft discs drifting over a background
        out = c1[None].expand(n, 3, h, w).clone()
        for _ in range(int(rng.integers(1, 5))):
            col = torch.tensor(rng.uniform(0, 1, 3)).float()[:, None, None]
            p0 = torch.tensor(rng.uniform(-1, 1, 2)).float()
            vel = torch.tensor(rng.normal(0, 0.03, 2)).float()
            r = float(rng.uniform(0.1, 0.6))
            for i in range(n):
                p = p0 + vel * i
                m = torch.sigmoid((r - torch.sqrt((xx - p[0] * (w / h)) ** 2 + (yy - p[1]) ** 2)) * 20)
                out[i] = out[i] * (1 - m) + col * m
        return out

    def _grade(self, x: torch.Tensor) -> torch.Tensor:
        rng = self.rng
        gain = float(self._loguniform(0.6, 1.4))
        if rng.random() < 0.12:
            gain *= float(rng.uniform(0.12, 0.4))  # a night / underexposed shot: dark but not black
        gamma = float(self._loguniform(0.75, 1.35))
        sat = float(rng.uniform(0.5, 1.3))
        cast = torch.tensor(rng.normal(1.0, 0.06, 3)).float()[None, :, None, None]
        luma = (x * torch.tensor([0.2126, 0.7152, 0.0722])[None, :, None, None]).sum(1, keepdim=True)
        x = luma + (x - luma) * sat
        x = x.clamp(0, 1)
        if abs(gamma - 1.0) > 0.03:
            x = x.pow(gamma)
        return x * (gain * cast)

    def _negatives(self, x: torch.Tensor) -> torch.Tensor:
        """Within-shot events that are not boundaries."""
        rng = self.rng
        n = x.shape[0]
        p = self.negatives
        if n >= 4 and rng.random() < 0.08 * p:  # flash (photographers, lightning, muzzle flash)
            at = int(rng.integers(1, n - 1))
            k = int(rng.integers(1, 4))
            a = float(rng.uniform(0.3, 0.9))
            x[at:at + k] = x[at:at + k] + a * (1 - x[at:at + k])
        if n >= 8 and rng.random() < 0.08 * p:  # something sweeps through the frame
            x = self._occluder(x)
        if n >= 8 and rng.random() < 0.06 * p:  # exposure drift / a light switched (not to black)
            lo = float(rng.uniform(0.35, 0.8))
            a = int(rng.integers(0, n - 4))
            b = int(rng.integers(a + 2, n))
            ramp = torch.ones(n)
            ramp[a:b] = torch.linspace(1, lo, b - a)
            ramp[b:] = lo if rng.random() < 0.5 else 1.0
            x = x * ramp[:, None, None, None]
        return x

    def _occluder(self, x: torch.Tensor) -> torch.Tensor:
        rng = self.rng
        n, _, h, w = x.shape
        dur = int(rng.integers(4, min(24, n)))
        start = int(rng.integers(0, n - dur + 1))
        colour = torch.tensor(rng.uniform(0, 0.6, 3)).float()[:, None, None]
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        size = float(rng.uniform(0.15, 0.5))  # something passing close to the lens, never the whole frame
        a = float(rng.uniform(0, 2 * math.pi))
        for i in range(dur):
            pos = -1.6 + 3.2 * (i + 0.5) / dur
            d = (xx * math.cos(a) + yy * math.sin(a)) - pos
            m = torch.sigmoid((size - d.abs()) * 12.0)
            x[start + i] = x[start + i] * (1 - m) + colour * m
        return x

    # ----- edits
    def edit(self, length: int, lead: int | None = None) -> tuple[torch.Tensor, list[dict[str, Any]]]:
        """Render ``length`` frames of a random edit: (T, 3, H, W) and its transitions.

        The edit starts ``lead`` frames into its first shot (random when None), so windows begin and end
        anywhere. Transition spans are clipped to the rendered frames; ones entirely outside are dropped.
        """
        rng = self.rng
        lead = int(rng.integers(0, 40)) if lead is None else lead
        total = length + lead
        plans: list[tuple[str, Source | None, int]] = []
        trans: list[tuple[str, int]] = []  # (kind, length) between plans[i] and plans[i+1]
        covered = 0
        prev_kind = None
        while True:
            kind = self._choice(self.shot_mix)
            if kind == "black" and prev_kind == "black":
                kind = "still" if "still" in self.shot_mix else "procedural"
            src = None
            if kind in self.by_kind:
                src = self.by_kind[kind][int(rng.integers(len(self.by_kind[kind])))]
            pure = int(rng.integers(1, 31)) if kind == "black" else max(2, self._shot_length())
            plans.append((kind, src, pure))
            covered += pure
            prev_kind = kind
            if covered >= total + 1:
                break
            t_kind = self._choice(self.transition_mix)
            t_len = 0
            if t_kind == "dissolve":
                t_len = int(round(self._loguniform(3, 48)))
            elif t_kind == "wipe":
                t_len = int(round(self._loguniform(4, 30)))
            trans.append((t_kind, t_len))
            covered += t_len
        # transitions next to black slugs are fades (a dissolve to or from black) 70% of the time, else cuts
        labelled: list[tuple[str, int]] = []
        for i, (t_kind, t_len) in enumerate(trans):
            a_black, b_black = plans[i][0] == "black", plans[i + 1][0] == "black"
            if a_black or b_black:
                if rng.random() < 0.7:
                    t_kind, t_len = "dissolve", int(round(self._loguniform(3, 60)))
                else:
                    t_kind, t_len = "cut", 0
            if t_kind == "dissolve" and b_black:
                labelled.append(("fade_out", t_len))
            elif t_kind == "dissolve" and a_black:
                labelled.append(("fade_in", t_len))
            else:
                labelled.append((t_kind, t_len))
        # relabelling changed transition lengths: the last shot runs on to the end of the edit (a shortfall
        # would leave unlabelled black frames at the end, which look exactly like a cut to black)
        short = total + 1 - sum(p[2] for p in plans) - sum(n for _, n in labelled)
        if short > 0:
            kind, src, pure = plans[-1]
            plans[-1] = (kind, src, pure + short)
        # layout: shot i pure frames, then transition i frames shared by shots i and i+1
        frames = torch.zeros(total, 3, self.size[1], self.size[0])
        cursor = 0
        spans = []  # per shot: (first visible frame, last visible frame)
        events = []
        for i, (kind, src, pure) in enumerate(plans):
            t_in = labelled[i - 1][1] if i > 0 else 0
            t_out = labelled[i][1] if i < len(labelled) else 0
            first = cursor - t_in
            last = cursor + pure + t_out - 1
            spans.append((first, last))
            cursor += pure
            if i < len(labelled):
                k, n_t = labelled[i]
                if n_t == 0:
                    events.append({"kind": k, "start": cursor, "end": cursor})
                else:
                    events.append({"kind": k, "start": cursor, "end": cursor + n_t - 1,
                                   "curve": "smooth" if rng.random() < 0.2 else "linear"})
                cursor += n_t
        weights = torch.zeros(total)
        for i, (kind, src, pure) in enumerate(plans):
            first, last = spans[i]
            lo, hi = max(first, 0), min(last, total - 1)
            if hi < lo:
                continue
            shot = self.render_shot(kind, src, last - first + 1, (lo - first, hi - first))
            # blend weights of this shot over its visible frames
            wgt = torch.ones(hi - lo + 1, 1, self.size[1], self.size[0])
            if i > 0 and labelled[i - 1][1] > 0:
                ev = events[i - 1]
                wgt = wgt * self._ramp(ev, lo, hi, incoming=True)
            if i < len(labelled) and labelled[i][1] > 0:
                ev = events[i]
                wgt = wgt * self._ramp(ev, lo, hi, incoming=False)
            frames[lo:hi + 1] += shot * wgt
            weights[lo:hi + 1] += 1
        noise = float(rng.uniform(0, 0.015))
        if noise > 0:
            frames = frames + torch.randn_like(frames) * noise
        frames = frames[lead:].clamp(0, 1)
        out_events = []
        for ev in events:
            s, e = ev["start"] - lead, ev["end"] - lead
            if e < 0 or s >= length:
                continue
            # a transition that touches either end of the rendered frames may have begun before them or
            # go on after them (and a cut at frame 0 has no frame before it): not scored, not a centre target
            out_events.append({"kind": ev["kind"], "start": max(s, 0), "end": min(e, length - 1),
                               "clipped": s <= 0 or e >= length - 1 and ev["kind"] != "cut"})
        return frames, out_events

    def _ramp(self, ev: dict[str, Any], lo: int, hi: int, incoming: bool) -> torch.Tensor:
        """Per-frame (and for wipes per-pixel) weight of a shot across a transition."""
        w, h = self.size
        n = hi - lo + 1
        t = torch.arange(lo, hi + 1).float()
        length = ev["end"] - ev["start"] + 1
        u = ((t - ev["start"] + 1) / (length + 1)).clamp(0, 1)  # 0 → all outgoing, 1 → all incoming
        u = _ease(u, ev.get("curve", "linear"))
        if ev["kind"] != "wipe":
            a = u if incoming else 1 - u
            return a[:, None, None, None].expand(n, 1, h, w)
        if "wipe_shape" not in ev:
            rng = self.rng
            ev["wipe_shape"] = "iris" if rng.random() < 0.2 else "linear"
            ev["angle"] = float(rng.uniform(0, 2 * math.pi))
            ev["soft"] = float(rng.choice([0.0, 0.02, 0.08, 0.2]))
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w) * (w / h), indexing="ij")
        if ev["wipe_shape"] == "iris":
            field_ = torch.sqrt(xx ** 2 + yy ** 2) / math.sqrt(1 + (w / h) ** 2)  # 0 centre → 1 corner
        else:
            a = ev["angle"]
            proj = xx * math.cos(a) + yy * math.sin(a)
            lo_p, hi_p = float(proj.min()), float(proj.max())
            field_ = (proj - lo_p) / (hi_p - lo_p + 1e-9)
        soft = ev["soft"] + 1e-3
        # the edge travels from -soft to 1+soft so the first and last frames are partly covered
        edge = -soft + u * (1 + 2 * soft)
        m = torch.sigmoid((edge[:, None, None] - field_[None]) / (soft / 4 + 1e-3))  # incoming where field < edge
        a = m if incoming else 1 - m
        return a[:, None]


# ----- targets ------------------------------------------------------------------------------------


def targets(events: list[dict[str, Any]], length: int) -> dict[str, torch.Tensor]:
    """Per-frame training targets: centre (soft), mask, kind index (0 = none)."""
    centre = torch.zeros(length)
    mask = torch.zeros(length)
    kind = torch.zeros(length, dtype=torch.long)
    t = torch.arange(length).float()
    for ev in events:
        s, e, k = ev["start"], ev["end"], KIND_INDEX[ev["kind"]]
        if ev.get("clipped") and ev["kind"] == "cut":
            continue  # a cut on the first frame: nothing before it to compare with
        mask[s:e + 1] = 1
        kind[s:e + 1] = k
        if ev.get("clipped"):
            # only part of the transition is visible: its centre may lie outside; no centre target
            continue
        if ev["kind"] == "cut":
            centre[s] = 1.0
        else:
            # the middle of a long dissolve is uncertain by a few frames: a wider target for longer ones
            c = (s + e) / 2.0
            sigma = max(0.6, 0.12 * (e - s + 1))
            centre = torch.maximum(centre, torch.exp(-((t - c) ** 2) / (2 * sigma ** 2)))
    return {"centre": centre, "mask": mask, "kind": kind}


def to_analysis(frames: torch.Tensor, size: tuple[int, int] = (48, 27)) -> torch.Tensor:
    """Rendered frames (T, 3, H, W) → the analysis size by area averaging (as the node does)."""
    return F.interpolate(frames, size=(size[1], size[0]), mode="area")
