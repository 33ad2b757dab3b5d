"""GRU4Rec-style next-title model for ``lstm.recommend`` (torch; imported only when the node trains or runs).

Hidasi et al., "Session-based recommendations with recurrent neural networks" (ICLR 2016) and
"Recurrent neural networks with top-k gains" (CIKM 2018), with what later reproductions found makes a
GRU competitive with self-attention models (Hidasi & Czapp, RecSys 2023; Klenitskiy & Vasilev, RecSys
2023): a softmax cross-entropy over the whole catalogue (or a sampled softmax with popularity-drawn
negatives and the log-Q correction when the catalogue is large), dropout on the input embeddings and
on the GRU output, output weights tied to the input embeddings, every position of a sequence trained to
predict its next title, early stopping on a held-out next title per user.

Titles are indices 1..N; 0 pads. A user's history is read left to right; the hidden state after the
last title scores every title.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from .evaluate import Split, evaluate


@dataclass
class Arch:
    n_items: int
    embed_dim: int = 64
    hidden: int = 64
    layers: int = 1
    dropout_embed: float = 0.25
    dropout_hidden: float = 0.25
    tied: bool = True
    max_len: int = 50  # titles of history the model reads (the most recent ones)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Arch":
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in fields})


class GRU4Rec(nn.Module):
    def __init__(self, arch: Arch):
        super().__init__()
        self.arch = arch
        if arch.tied and arch.embed_dim != arch.hidden:
            raise ValueError("tied output weights need embed_dim == hidden")
        self.embed = nn.Embedding(arch.n_items + 1, arch.embed_dim, padding_idx=0)
        self.drop_in = nn.Dropout(arch.dropout_embed)
        self.gru = nn.GRU(arch.embed_dim, arch.hidden, num_layers=arch.layers, batch_first=True,
                          dropout=arch.dropout_hidden if arch.layers > 1 else 0.0)
        self.drop_out = nn.Dropout(arch.dropout_hidden)
        self.out = None if arch.tied else nn.Embedding(arch.n_items + 1, arch.hidden)
        self.bias = nn.Parameter(torch.zeros(arch.n_items + 1))
        nn.init.normal_(self.embed.weight, 0.0, 0.05)
        if self.out is not None:
            nn.init.normal_(self.out.weight, 0.0, 0.05)
        with torch.no_grad():
            self.embed.weight[0].zero_()

    @property
    def output_weight(self) -> torch.Tensor:
        return self.embed.weight if self.out is None else self.out.weight

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) title indices, right-padded with 0 → (B, T, H); padding only follows real titles, so
        the causal GRU's states at real positions never see it."""
        h, _ = self.gru(self.drop_in(self.embed(x)))
        return self.drop_out(h)

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """(..., H) → (..., N+1) scores; column 0 (padding) is -inf."""
        s = h @ self.output_weight.T + self.bias
        s[..., 0] = -math.inf
        return s


def pad_batch(seqs: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest; returns (indices, lengths)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    x = torch.zeros(len(seqs), int(lengths.max()) if len(seqs) else 0, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = torch.from_numpy(np.ascontiguousarray(s, dtype=np.int64))
    return x, lengths


@torch.no_grad()
def score_histories(model: GRU4Rec, histories: Sequence[np.ndarray], device: str = "cpu") -> torch.Tensor:
    """Scores of every title after each history (its last ``max_len`` titles); histories must be non-empty."""
    model.eval()
    L = model.arch.max_len
    x, lengths = pad_batch([h[-L:] for h in histories])
    x, lengths = x.to(device), lengths.to(device)
    h = model.hidden_states(x)
    last = h[torch.arange(len(histories), device=device), lengths - 1]
    return model.scores(last)


def numpy_scorer(model: GRU4Rec, device: str = "cpu") -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    return lambda histories: score_histories(model, histories, device).float().cpu().numpy()


# ----- training ---------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    loss: str = "sampled"       # "sampled": shared popularity-drawn negatives; "full": softmax over every title
    negatives: int = 1024       # sampled loss: negatives per batch (shared by all its positions)
    sample_alpha: float = 0.75  # sampled loss: negatives drawn ∝ count^alpha (0 uniform, 1 popularity)
    batch_size: int = 32        # windows per batch
    lr: float = 0.02
    schedule: str = "cosine"    # the rate falls to zero over ``epochs`` (steadier last epochs); or "constant"
    weight_decay: float = 0.0
    epochs: int = 20
    patience: int = 4           # epochs without a better validation NDCG@10 before stopping
    time_limit: float = 0.0     # seconds; 0: none. Training stops after the epoch that passes it; a cosine
    #                             schedule is annealed to whichever of epochs and time runs out first
    seed: int = 0
    clip: float = 5.0


def windows(seqs: Sequence[np.ndarray], max_len: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Cut sequences into windows of at most ``max_len`` (input, next title) pairs, each pair used once.

    Long histories are cut at a random offset each epoch so every title is sometimes read with a long
    context before it; the GRU starts each window from a zero state, as it does at inference over the
    last ``max_len`` titles.
    """
    out = []
    for s in seqs:
        n = len(s)
        if n < 2:
            continue
        if n - 1 <= max_len:
            out.append(s)
            continue
        first = int(rng.integers(1, max_len + 1))
        starts = [0, *range(first, n - 1, max_len)]
        out.extend(s[a: b + 1] for a, b in zip(starts, starts[1:] + [n - 1]))
    return out


def _batches(wins: list[np.ndarray], batch_size: int, rng: np.random.Generator) -> list[list[np.ndarray]]:
    # Windows of similar length together (little padding), batches in random order.
    order = rng.permutation(len(wins))
    order = order[np.argsort([len(wins[i]) for i in order], kind="stable")]
    batches = [[wins[i] for i in order[b: b + batch_size]] for b in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def _accidental_hits(target: torch.Tensor, negatives: torch.Tensor, n_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of every shared negative that is that row's own target. Hits are rare, so the rows
    that have one are found through a membership table first instead of comparing every pair."""
    member = torch.zeros(n_items + 1, dtype=torch.bool, device=target.device)
    member[negatives] = True
    rows = member[target].nonzero().squeeze(1)
    r, c = (target[rows][:, None] == negatives[None, :]).nonzero(as_tuple=True)
    return rows[r], c


def sampled_softmax_loss(model: GRU4Rec, h: torch.Tensor, target: torch.Tensor, negatives: torch.Tensor,
                         log_q: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each target against shared negatives, logits corrected by -log(K q) (Bengio &
    Senécal 2008; Yi et al. 2019) so the sampled softmax estimates the full one; a negative that is the
    target itself is masked out.

    Written for the CPU, where this loss is most of a training step: the negatives' bias and correction ride
    in the matrix product (addmm), accidental hits are set to -inf in place at their few positions, and the
    loss is logaddexp(positive, logsumexp(negatives)) - positive, which is the cross-entropy with the
    positive in column 0 without building that concatenated matrix."""
    w = model.output_weight
    log_k = math.log(float(len(negatives)))
    pos = (h * w[target]).sum(-1) + model.bias[target] - (log_q[target] + log_k)
    neg = torch.addmm(model.bias[negatives] - (log_q[negatives] + log_k), h, w[negatives].T)
    rows, cols = _accidental_hits(target, negatives, len(log_q) - 1)
    if rows.numel():
        # in place is safe: addmm's backward needs its inputs, not its output
        neg.index_put_((rows, cols), torch.tensor(-math.inf, device=h.device))
    return (torch.logaddexp(pos, torch.logsumexp(neg, 1)) - pos).mean()


def train_gru4rec(train: Sequence[np.ndarray], valid: Split | None, arch: Arch, cfg: TrainConfig, *,
                  device: str = "cpu", counts: np.ndarray | None = None,
                  on_epoch: Callable[[dict[str, Any]], None] | None = None,
                  check_cancel: Callable[[], None] | None = None,
                  init_state: dict[str, torch.Tensor] | None = None) -> tuple[GRU4Rec, dict[str, Any]]:
    """Train on every (history prefix → next title) pair of ``train``; keep the weights of the epoch with the
    best validation NDCG@10 (full ranking). Returns the model and a summary for the checkpoint."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = GRU4Rec(arch).to(device)
    if init_state is not None:
        model.load_state_dict(init_state)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if counts is None:
        counts = np.zeros(arch.n_items + 1)
        for s in train:
            np.add.at(counts, s, 1)
    q = torch.tensor((np.asarray(counts, dtype=np.float64) + 1.0) ** cfg.sample_alpha, dtype=torch.float32)
    q[0] = 0.0
    q /= q.sum()
    log_q = torch.log(q.clamp_min(1e-30)).to(device)
    q = q.to(device)
    # As many negatives as titles: the exact softmax costs the same and has no sampling noise.
    loss_kind = "full" if cfg.loss == "full" or cfg.negatives >= arch.n_items else "sampled"
    n_pairs = sum(max(0, len(s) - 1) for s in train)
    if n_pairs == 0:
        raise ValueError("no user has two titles in a row to learn from")
    best = {"ndcg": -1.0, "epoch": 0, "state": None, "hr": 0.0}
    history: list[dict[str, Any]] = []
    t0, c0 = time.perf_counter(), time.process_time()
    stop_reason = "epochs"
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total, count = 0.0, 0
        batches = _batches(windows(train, arch.max_len, rng), cfg.batch_size, rng)
        for b, batch in enumerate(batches):
            if check_cancel is not None:
                check_cancel()
            if cfg.schedule == "cosine":
                # the schedule follows whichever runs out first, the epochs or the time limit, so a
                # time-limited run still ends on a low rate (its last epochs are its steadiest)
                done = (epoch - 1 + b / len(batches)) / cfg.epochs
                if cfg.time_limit:
                    done = max(done, (time.perf_counter() - t0) / cfg.time_limit)
                done = min(done, 1.0)
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * done))
            x, lengths = pad_batch([w[:-1] for w in batch])
            y, _ = pad_batch([w[1:] for w in batch])
            x, y = x.to(device), y.to(device)
            mask = y > 0
            h = model.hidden_states(x)[mask]
            target = y[mask]
            if loss_kind == "full":
                loss = nn.functional.cross_entropy(model.scores(h), target)
            else:
                negatives = torch.multinomial(q, cfg.negatives, replacement=True)
                loss = sampled_softmax_loss(model, h, target, negatives, log_q)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            total += float(loss.detach()) * len(target)
            count += len(target)
        entry: dict[str, Any] = {"epoch": epoch, "loss": total / max(count, 1),
                                 "wall_s": round(time.perf_counter() - t0, 2),
                                 "cpu_s": round(time.process_time() - c0, 2),
                                 "lr": opt.param_groups[0]["lr"]}
        if valid is not None and len(valid.targets):
            m = evaluate(numpy_scorer(model, device), valid, arch.n_items)
            entry.update({"valid_hr@10": m.hr, "valid_ndcg@10": m.ndcg})
            if m.ndcg > best["ndcg"]:
                best = {"ndcg": m.ndcg, "hr": m.hr, "epoch": epoch,
                        "state": copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})}
        history.append(entry)
        if on_epoch is not None:
            on_epoch(entry)
        if valid is not None and len(valid.targets) and epoch - best["epoch"] >= cfg.patience:
            stop_reason = f"no better validation NDCG@10 for {cfg.patience} epochs"
            break
        if cfg.time_limit and time.perf_counter() - t0 >= cfg.time_limit:
            stop_reason = f"time limit {cfg.time_limit:g} s"
            break
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    summary = {"epochs_run": len(history), "best_epoch": best["epoch"] or len(history),
               "valid_hr@10": round(best["hr"], 4) if best["state"] is not None else None,
               "valid_ndcg@10": round(best["ndcg"], 4) if best["state"] is not None else None,
               "stopped": stop_reason, "train_pairs": n_pairs, "loss": loss_kind,
               "wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(time.process_time() - c0, 2),
               "history": history}
    return model, summary
