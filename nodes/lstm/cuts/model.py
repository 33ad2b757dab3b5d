"""The shot-boundary network of ``lstm.cuts``: a small per-frame CNN, cheap hand-made features, and a
bidirectional LSTM over the sequence (torch; imported only when the node runs or trains).

Input: frames at the analysis size (48×27, display-referred RGB in 0–1), shape (N, T, 3, 27, 48).

Per frame t the encoder computes
- a CNN embedding of frame t together with its difference to frame t-1 (so the CNN sees where in the
  picture things changed: a wipe's edge, a dissolve's ghost, a fade's uniform dimming);
- cosine similarities of that embedding to frames t±1, 2, 4, 8, 16 (how a learned "look" drifts);
- colour-histogram (4×4×4 RGB bins) L1 distances to the same offsets, mean absolute pixel difference
  to t±1, a 3×4 grid of differences to t-1 (where a wipe's edge is), and the frame's luma mean, spread,
  maximum and fraction of near-black pixels (fades go to black; dark shots do not);
- (``cutnet-2``) the normalised cross-correlation of the frame's luma with frames t±1, 2, 4, 8, 16: blind
  to a change of exposure or a flash (both are affine in the pixel values, which leaves the correlation
  at 1), low across a cut, falling and rising through a dissolve — what tells a light switched on, a
  photographer's flash or a fade from a cut, where histogram and difference features all jump alike.
Neighbours beyond the ends are the end frames repeated, at training and inference alike.

A 2-layer BiLSTM turns those features into three per-frame outputs:
- ``centre``: the frame is the centre of a transition (a hard cut's first incoming frame);
- ``mask``: the frame belongs to a transition (any of its frames);
- ``kind``: which transition (none, cut, dissolve, fade_out, fade_in, wipe).

Long inputs are processed in overlapping windows: features for the whole input are computed once
(they are window independent), then the LSTM runs on windows of ``window`` frames that overlap by
``2 * context``; each window contributes only its centre part.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .events import KINDS

OFFSETS = (1, 2, 4, 8, 16)
HIST_BINS = 4
GRID = (3, 4)
BLACK_LUMA = 0.04


NCC_OFFSETS = (1, 2, 4, 8, 16)
NCC_EPS = 1e-4  # luma variance (std 0.01) below which a frame counts as flat: correlation near 0, not noise


def default_arch() -> dict[str, Any]:
    return {"name": "cutnet-2", "width": 48, "height": 27, "cnn": [8, 16, 32], "embed": 48,
            "hidden": 64, "layers": 2, "offsets": list(OFFSETS), "hist_bins": HIST_BINS,
            "grid": list(GRID), "ncc_offsets": list(NCC_OFFSETS), "kinds": list(KINDS), "dropout": 0.1}


def full_arch(arch: dict[str, Any] | None) -> dict[str, Any]:
    """An architecture record completed with the defaults; one written before a key existed keeps what
    it meant then (``cutnet-1`` checkpoints have no correlation features)."""
    a = {**default_arch(), **(arch or {})}
    if arch is not None and "ncc_offsets" not in arch:
        a["ncc_offsets"] = []
    return a


def _shift(x: torch.Tensor, k: int) -> torch.Tensor:
    """x[:, t + k] with the end frames repeated (x: (N, T, ...))."""
    t = x.shape[1]
    idx = torch.clamp(torch.arange(t, device=x.device) + k, 0, t - 1)
    return x[:, idx]


def ncc_features(frames: torch.Tensor, offsets=NCC_OFFSETS) -> torch.Tensor:
    """(N, T, 3, H, W) in 0–1 → (N, T, 2·len(offsets)): the normalised cross-correlation of each frame's
    luma with the frames ``offsets`` before and after it (end frames repeated)."""
    x = frames.clamp(0.0, 1.0)
    luma = (0.2126 * x[:, :, 0] + 0.7152 * x[:, :, 1] + 0.0722 * x[:, :, 2]).flatten(2)
    z = luma - luma.mean(-1, keepdim=True)
    var = (z * z).mean(-1)
    out = []
    for k in offsets:
        for sign in (-1, 1):
            other = _shift(z, sign * k)
            out.append((z * other).mean(-1) / torch.sqrt((var + NCC_EPS) * (_shift(var, sign * k) + NCC_EPS)))
    return torch.stack(out, -1)


def hand_features(frames: torch.Tensor, offsets=OFFSETS, bins: int = HIST_BINS, grid=GRID,
                  ncc_offsets=()) -> torch.Tensor:
    """(N, T, 3, H, W) in 0–1 → (N, T, F) features that need no learning."""
    n, t, c, h, w = frames.shape
    x = frames.clamp(0.0, 1.0)
    q = torch.clamp((x * bins).long(), max=bins - 1)
    code = ((q[:, :, 0] * bins + q[:, :, 1]) * bins + q[:, :, 2]).reshape(n * t, -1)  # (N*T, H*W)
    nb = bins ** 3
    flat_code = code + torch.arange(n * t, device=code.device)[:, None] * nb
    hist = torch.bincount(flat_code.reshape(-1), minlength=n * t * nb).reshape(n, t, nb).float() / (h * w)
    feats = []
    for k in offsets:
        for sign in (-1, 1):
            feats.append(0.5 * (hist - _shift(hist, sign * k)).abs().sum(-1))
    prev, nxt = _shift(x, -1), _shift(x, 1)
    d_prev = (x - prev).abs()
    feats.append(d_prev.mean(dim=(2, 3, 4)))
    feats.append((x - nxt).abs().mean(dim=(2, 3, 4)))
    cells = F.adaptive_avg_pool2d(d_prev.mean(dim=2).reshape(n * t, 1, h, w), grid).reshape(n, t, -1)
    luma = 0.2126 * x[:, :, 0] + 0.7152 * x[:, :, 1] + 0.0722 * x[:, :, 2]
    flat = luma.reshape(n, t, -1)
    stats = [flat.mean(-1), flat.std(-1), flat.amax(-1), (flat < BLACK_LUMA).float().mean(-1)]
    parts = [torch.stack(feats, -1), cells * 4.0, torch.stack(stats, -1)]
    if ncc_offsets:
        parts.append(ncc_features(frames, ncc_offsets))
    return torch.cat(parts, dim=-1)


def hand_feature_count(offsets=OFFSETS, grid=GRID, ncc_offsets=()) -> int:
    return 2 * len(offsets) + 2 + grid[0] * grid[1] + 4 + 2 * len(ncc_offsets)


class FrameCNN(nn.Module):
    """Frame t and its difference to t-1 (6 channels at 27×48) → an embedding."""

    def __init__(self, channels=(16, 32, 64), embed: int = 64, height: int = 27, width: int = 48):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 6
        for cout in channels:
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), nn.AvgPool2d(2)]
            cin = cout
        self.body = nn.Sequential(*layers)
        hh, ww = height, width
        for _ in channels:
            hh, ww = hh // 2, ww // 2
        self.head = nn.Linear(cin * hh * ww, embed)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        n, t = frames.shape[:2]
        prev = _shift(frames, -1)
        x = torch.cat([frames * 2.0 - 1.0, (frames - prev) * 4.0], dim=2).reshape(n * t, 6, *frames.shape[3:])
        y = self.body(x).flatten(1)
        return self.head(y).reshape(n, t, -1)


class CutNet(nn.Module):
    def __init__(self, arch: dict[str, Any] | None = None):
        super().__init__()
        a = full_arch(arch)
        self.arch = a
        self.offsets = tuple(a["offsets"])
        self.grid = tuple(a["grid"])
        self.bins = int(a["hist_bins"])
        self.ncc_offsets = tuple(a["ncc_offsets"])
        self.cnn = FrameCNN(tuple(a["cnn"]), a["embed"], a["height"], a["width"])
        n_hand = hand_feature_count(self.offsets, self.grid, self.ncc_offsets)
        n_in = a["embed"] + 2 * len(self.offsets) + n_hand
        self.project = nn.Sequential(nn.Linear(n_in, a["hidden"]), nn.ReLU(inplace=True))
        self.lstm = nn.LSTM(a["hidden"], a["hidden"], num_layers=a["layers"], batch_first=True,
                            bidirectional=True, dropout=a["dropout"] if a["layers"] > 1 else 0.0)
        self.dropout = nn.Dropout(a["dropout"])
        self.out = nn.Linear(2 * a["hidden"], 2 + len(a["kinds"]))

    # ----- stage 1: window-independent per-frame features -----------------------------------
    def encode(self, frames: torch.Tensor, hand: torch.Tensor | None = None) -> torch.Tensor:
        """(N, T, 3, H, W) → (N, T, D). ``hand``: precomputed ``hand_features`` (training caches them)."""
        emb = self.cnn(frames)
        unit = F.normalize(emb, dim=-1)
        sims = []
        for k in self.offsets:
            for sign in (-1, 1):
                sims.append((unit * _shift(unit, sign * k)).sum(-1))
        if hand is None:
            hand = self.hand(frames)
        return torch.cat([emb, torch.stack(sims, -1), hand.to(emb.dtype)], dim=-1)

    def hand(self, frames: torch.Tensor) -> torch.Tensor:
        """This network's ``hand_features`` of (N, T, 3, H, W) frames."""
        return hand_features(frames, self.offsets, self.bins, self.grid, self.ncc_offsets)

    # ----- stage 2: the sequence model ------------------------------------------------------------
    def temporal(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.project(feats)
        h, _ = self.lstm(h)
        y = self.out(self.dropout(h))
        return {"centre": y[..., 0], "mask": y[..., 1], "kind": y[..., 2:]}

    def forward(self, frames: torch.Tensor, hand: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.temporal(self.encode(frames, hand))


class CutEnsemble(nn.Module):
    """Independently trained CutNets whose per-frame probabilities are averaged: the members disagree on
    the ambiguous frames (a light change or a flash near a boundary), so the average is steadier than any
    one of them. A checkpoint records how many members it holds (``members`` in its metadata)."""

    def __init__(self, arch: dict[str, Any] | None, members: int):
        super().__init__()
        self.members = nn.ModuleList([CutNet(arch) for _ in range(members)])

    @property
    def arch(self) -> dict[str, Any]:
        return self.members[0].arch

    @classmethod
    def of(cls, nets: list[CutNet]) -> "CutEnsemble":
        ens = cls(nets[0].arch, len(nets))
        for dst, src in zip(ens.members, nets):
            dst.load_state_dict(src.state_dict())
        return ens


def _per_frame_long(frames: np.ndarray, pad: int, chunk: int, fn: Callable[[torch.Tensor, int, int], torch.Tensor],
                    check_cancel: Callable[[], None] | None = None) -> torch.Tensor:
    """``fn(chunk frames (T', 3, H, W), lo, hi)`` → per-frame rows, stitched over a whole input chunk by chunk.

    Chunks overlap by ``pad`` frames so that every frame sees its true neighbours; the result is exactly
    what ``fn`` gives on the whole input at once.
    """
    t = frames.shape[0]
    out = []
    for start in range(0, t, chunk):
        if check_cancel:
            check_cancel()
        lo, hi = max(0, start - pad), min(t, start + chunk + pad)
        with torch.inference_mode():
            f = fn(_to_tensor(frames[lo:hi]), lo, hi)
        out.append(f[start - lo: start - lo + min(chunk, t - start)])
    return torch.cat(out, 0)


def hand_long(net: CutNet, frames: np.ndarray, chunk: int = 256,
              check_cancel: Callable[[], None] | None = None) -> torch.Tensor:
    """``hand_features`` of a whole input (T, H, W, 3), chunk by chunk: (T, F)."""
    return _per_frame_long(frames, max(net.offsets + net.ncc_offsets), chunk,
                           lambda x, lo, hi: net.hand(x[None])[0], check_cancel)


def encode_long(net: CutNet, frames: np.ndarray, chunk: int = 256,
                check_cancel: Callable[[], None] | None = None, hand: torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame features of a whole input (T, H, W, 3 uint8 or float), computed chunk by chunk; ``hand``:
    its ``hand_long`` when already computed (an ensemble's members share them)."""
    return _per_frame_long(frames, max(net.offsets + net.ncc_offsets), chunk,
                           lambda x, lo, hi: net.encode(x[None], None if hand is None else hand[lo:hi][None])[0],
                           check_cancel)


def _to_tensor(frames: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(frames))
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return x.permute(0, 3, 1, 2).contiguous()


def predict(net: CutNet, frames: np.ndarray, window: int = 96, context: int = 24,
            check_cancel: Callable[[], None] | None = None,
            on_window: Callable[[int, int], None] | None = None,
            hand: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """Per-frame probabilities for a whole input: centre (T,), mask (T,), kind (T, K). ``hand``: the input's
    ``hand_long`` when already computed."""
    if isinstance(net, CutEnsemble):
        n = len(net.members)
        # the members share one architecture, so the hand-made features (most of the encoding) are computed once
        hand = hand_long(net.members[0], frames, check_cancel=check_cancel)
        outs = []
        for m, member in enumerate(net.members):
            report = None if on_window is None else (lambda i, k, m=m: on_window(m * k + i, n * k))
            outs.append(predict(member, frames, window, context, check_cancel, report, hand))
        return {key: np.mean([o[key] for o in outs], axis=0).astype(np.float32) for key in outs[0]}
    net.eval()
    feats = encode_long(net, frames, check_cancel=check_cancel, hand=hand)
    t = feats.shape[0]
    centre = np.zeros(t, np.float32)
    mask = np.zeros(t, np.float32)
    kind = np.zeros((t, len(net.arch["kinds"])), np.float32)
    if t <= window:
        spans = [(0, t, 0, t)]
    else:
        step = window - 2 * context
        spans = []
        start = 0
        while True:
            end = min(start + window, t)
            start = max(0, end - window)
            keep_lo = start if start == 0 else start + context
            keep_hi = end if end == t else end - context
            spans.append((start, end, keep_lo, keep_hi))
            if end == t:
                break
            start += step
        # make the kept parts tile the input exactly (the last window may overlap the previous more)
        fixed = []
        prev_hi = 0
        for s, e, lo, hi in spans:
            lo = prev_hi
            fixed.append((s, e, lo, hi))
            prev_hi = hi
        spans = fixed
    for i, (s, e, lo, hi) in enumerate(spans):
        if check_cancel:
            check_cancel()
        with torch.inference_mode():
            y = net.temporal(feats[s:e][None])
        centre[lo:hi] = torch.sigmoid(y["centre"][0, lo - s: hi - s]).numpy()
        mask[lo:hi] = torch.sigmoid(y["mask"][0, lo - s: hi - s]).numpy()
        kind[lo:hi] = torch.softmax(y["kind"][0, lo - s: hi - s], -1).numpy()
        if on_window:
            on_window(i + 1, len(spans))
    return {"centre": centre, "mask": mask, "kind": kind}


def state_to_numpy(net: CutNet) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in net.state_dict().items()}


def from_checkpoint(ckpt: Any, device: str = "cpu") -> CutNet | CutEnsemble:
    """Build the network from a verified FilmAI checkpoint (safetensors weights + JSON arch); a checkpoint
    with ``members`` > 1 holds an ensemble."""
    members = int(ckpt.meta.get("members", 1))
    net = CutEnsemble(ckpt.meta.get("arch"), members) if members > 1 else CutNet(ckpt.meta.get("arch"))
    net.load_state_dict(ckpt.torch_state_dict(device))
    return net.to(device).eval()
