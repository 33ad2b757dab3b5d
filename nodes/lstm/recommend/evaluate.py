"""Next-title evaluation (leave-last-out) and the two baselines, shared by training, the bench and the tests.

Protocols (same split, different candidate sets; see docs/BENCHMARKS.md):

- ``full``: the target is ranked against every title the user has not rated (the strict protocol of
  RecBole, Klenitskiy & Vasilev 2023, Petrov & Macdonald 2023).
- ``uni100``: against 100 titles the user never rated, drawn uniformly (SASRec/Caser-era papers).
- ``pop100``: against 100 unrated titles drawn in proportion to popularity (the BERT4Rec protocol).

Ties count half (mid-rank: a target tied with n others is placed after half of them), so a
constant scorer is not flattered and popularity ties among never-seen titles are scored fairly.
HR@k = share of users whose target ranks in the top k; NDCG@k = mean of 1/log2(rank+2) over those.
No torch here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

Scorer = Callable[[Sequence[np.ndarray]], np.ndarray]  # histories -> (n, N+1) scores; column 0 is padding


@dataclass
class Split:
    """Histories (what the scorer reads), the held-out next titles, and everything each user has seen."""

    histories: list[np.ndarray]
    targets: np.ndarray
    seen: list[np.ndarray]  # the history's titles (excluded from the candidates), target excepted


def leave_last_out(sequences: Sequence[np.ndarray], holdout: int = 1, min_history: int = 1) -> tuple[list[np.ndarray], Split, np.ndarray]:
    """Cut ``holdout`` titles off each sequence: returns (training sequences, split on the last cut title, users kept).

    ``holdout=1``: test split (history = all but the last). ``holdout=2``: validation split (history = all
    but the last two, target = second-to-last); training then gets all but the last two.
    Users with fewer than ``min_history + holdout`` titles are left out of the split (kept for training).
    """
    train, hist, tgt, kept = [], [], [], []
    for u, s in enumerate(sequences):
        train.append(s[:-holdout] if len(s) > holdout else s[:0])
        if len(s) >= min_history + holdout:
            h = s[: len(s) - holdout]
            hist.append(h)
            tgt.append(int(s[len(s) - holdout]))
            kept.append(u)
    split = Split(histories=hist, targets=np.asarray(tgt, dtype=np.int64), seen=[np.unique(h) for h in hist])
    return train, split, np.asarray(kept, dtype=np.int64)


@dataclass
class Metrics:
    hr: float
    ndcg: float
    ranks: np.ndarray
    k: int

    def to_json(self) -> dict[str, float]:
        return {f"hr@{self.k}": round(self.hr, 4), f"ndcg@{self.k}": round(self.ndcg, 4), "users": int(len(self.ranks))}


def metrics_from_ranks(ranks: np.ndarray, k: int = 10) -> Metrics:
    ranks = np.asarray(ranks, dtype=np.float64)
    hit = ranks < k
    gain = np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0)
    return Metrics(hr=float(hit.mean()) if len(ranks) else 0.0, ndcg=float(gain.mean()) if len(ranks) else 0.0,
                   ranks=ranks, k=k)


def evaluate(scorer: Scorer, split: Split, n_items: int, *, protocol: str = "full", k: int = 10,
             negatives: int = 100, seed: int = 0, popularity: np.ndarray | None = None,
             all_seen: Sequence[np.ndarray] | None = None, chunk: int = 256) -> Metrics:
    """Rank each target under ``protocol``; ``all_seen`` (everything a user ever rated, for the sampled
    protocols' "never rated" rule) defaults to history + target; ``popularity`` weights ``pop100`` draws."""
    if protocol not in ("full", "uni100", "pop100"):
        raise ValueError(f"unknown protocol {protocol!r}")
    rng = np.random.default_rng(seed)
    ranks = np.empty(len(split.targets), dtype=np.float64)
    weights = None
    if protocol == "pop100":
        if popularity is None:
            raise ValueError("pop100 needs item popularity")
        weights = np.asarray(popularity, dtype=np.float64).copy()
        weights[0] = 0.0
    for start in range(0, len(split.targets), chunk):
        stop = min(start + chunk, len(split.targets))
        scores = np.asarray(scorer(split.histories[start:stop]), dtype=np.float64)
        if scores.shape != (stop - start, n_items + 1):
            raise ValueError(f"scorer returned {scores.shape}, expected {(stop - start, n_items + 1)}")
        for row, u in enumerate(range(start, stop)):
            target = split.targets[u]
            s = scores[row]
            t = s[target]
            if protocol == "full":
                mask = np.ones(n_items + 1, dtype=bool)
                mask[0] = False
                mask[split.seen[u]] = False
                mask[target] = False
                cand = s[mask]
            else:
                rated = all_seen[u] if all_seen is not None else np.append(split.histories[u], target)
                allowed = np.ones(n_items + 1, dtype=bool)
                allowed[0] = False
                allowed[rated] = False
                pool = np.flatnonzero(allowed)
                if protocol == "uni100":
                    neg = rng.choice(pool, size=min(negatives, len(pool)), replace=False)
                else:
                    p = weights[pool]
                    p = p / p.sum() if p.sum() > 0 else None
                    neg = rng.choice(pool, size=min(negatives, len(pool)), replace=False, p=p)
                cand = s[neg]
            ranks[u] = float((cand > t).sum()) + 0.5 * float((cand == t).sum())
    return metrics_from_ranks(ranks, k)


# ----- baselines ------------------------------------------------------------------------------


def popularity_scorer(counts: np.ndarray) -> Scorer:
    """Every user gets the same scores: how often each title was rated in training."""
    row = np.asarray(counts, dtype=np.float64).copy()
    row[0] = -np.inf

    def score(histories: Sequence[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(row, (len(histories), len(row))).copy()

    return score


class ItemKNN:
    """Item-based k-nearest-neighbours (Sarwar et al. 2001; Deshpande & Karypis 2004).

    Cosine similarity between titles over the users who rated them, each title's ``neighbours`` most
    similar titles kept, a user's score for a title = sum of its similarities to the titles in the history.
    ``shrink`` damps similarities resting on few co-raters. ``with_neighbours(k)`` gives the same model
    with fewer neighbours without recomputing (for choosing k on a validation split). Titles no history
    title points to would all tie at 0; they are ordered by popularity instead (a term far below any
    similarity), the usual popularity fill of neighbourhood recommenders.
    """

    def __init__(self, sequences: Sequence[np.ndarray], n_items: int, neighbours: int = 100, shrink: float = 0.0,
                 block: int = 1024):
        self.n_items = n_items
        x = np.zeros((len(sequences), n_items + 1), dtype=np.float32)
        for u, seq in enumerate(sequences):
            x[u, seq] = 1.0
        raters = x.sum(axis=0)
        norms = np.sqrt(raters)
        self.fill = 1e-6 * raters.astype(np.float64) / max(float(raters.max()), 1.0)
        k = max(1, min(neighbours, n_items))
        self.index = np.zeros((n_items + 1, k), dtype=np.int64)
        self.sim = np.zeros((n_items + 1, k), dtype=np.float32)
        for b0 in range(1, n_items + 1, block):
            b1 = min(b0 + block, n_items + 1)
            co = x.T @ x[:, b0:b1]  # co-raters of every title with each title of the block (BLAS)
            sim = co.T / (np.outer(norms[b0:b1], norms) + 1e-12 + shrink)
            sim[:, 0] = 0.0
            sim[np.arange(b1 - b0), np.arange(b0, b1)] = 0.0  # a title is not its own neighbour
            top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
            vals = np.take_along_axis(sim, top, axis=1)
            order_k = np.argsort(-vals, axis=1, kind="stable")
            self.index[b0:b1] = np.take_along_axis(top, order_k, axis=1)
            self.sim[b0:b1] = np.take_along_axis(vals, order_k, axis=1)

    def with_neighbours(self, k: int) -> "ItemKNN":
        other = object.__new__(ItemKNN)
        other.n_items = self.n_items
        other.index, other.sim, other.fill = self.index[:, :k], self.sim[:, :k], self.fill
        return other

    def __call__(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        out = np.repeat(self.fill[None, :], len(histories), axis=0)
        for row, h in enumerate(histories):
            h = np.unique(h)
            np.add.at(out[row], self.index[h].ravel(), self.sim[h].ravel())
        out[:, 0] = -np.inf
        return out
