"""``lstm.recommend``: next-title recommendation from viewing histories (a GRU4Rec-style sequence model).

Public node module: no torch at import time. The network is in ``model.py``; reading histories in
``data.py``; ranking metrics and baselines in ``evaluate.py``.
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

import numpy as np

from filmai_plugins.errors import BadInput
from filmai_plugins.node import Node, Param, Port

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ("user", "rank", "item", "score", "source")  # + "title" when a titles table is given
SOURCE_MODEL = "model"
SOURCE_POPULAR = "popular"  # cold users: no known history, popularity fallback


class Recommend(Node):
    """Recommend the next titles for each user from their viewing history, in order, with the
    titles they have already seen left out.

    Trains a GRU4Rec-style recurrent network on who watched (or rated) what and when: each user's
    history is read in time order (equal timestamps keep the file's order) and every step learns to
    predict the next title, with a softmax over the whole catalogue (or a sampled softmax for big
    catalogues), dropout, and early stopping on each user's held-out last title.

    The history is a CSV or Parquet table with user, title and time columns (MovieLens names by
    default: userId, movieId, timestamp, rating; rename them with the *_col params; times may be numbers
    or dates). The output is a Table (CSV or Parquet by extension): user, rank, item, score (the
    predicted chance that this is the next title), source (``model``, or ``popular`` for users with no
    usable history, who get the most popular titles), and title when a ``titles`` table is given.
    Titles the model has never seen are skipped and counted (``strict`` makes them an error).
    """

    id = "lstm.recommend"
    version = "1.0.0"
    family = "lstm"
    label = "Recommend next titles"
    scope = "sequence"
    trainable = True
    model = "required"
    needs_torch = True
    rejects_nonfinite = False
    inputs = (
        Port("input", "Table", "viewing histories: one row per view or rating (user, title, time[, rating])"),
        Port("users", "Table", "users to recommend for (a table with the user column); default: every user "
             "in the histories. Users without a usable history get the popularity fallback", optional=True),
        Port("titles", "Table", "title names to add to the output (e.g. MovieLens movies.csv)", optional=True),
    )
    outputs = (Port("output", "Table", "recommendations: user, rank, item, score, source[, title]"),)
    params = (
        Param("user_col", "string", "userId", stage="both", help="user id column of the history (and users) table"),
        Param("item_col", "string", "movieId", stage="both", help="title id column of the history (and titles) table"),
        Param("time_col", "string", "timestamp", stage="both",
              help="time column: numbers (e.g. Unix seconds) or dates; ties keep the file's order"),
        Param("rating_col", "string", "rating", stage="both",
              help="rating column, used only with min_rating and only when the table has it"),
        Param("k", "int", 10, min=1, max=10000, soft_max=100, help="recommendations per user"),
        Param("exclude_seen", "bool", True, help="leave out titles the user has already watched or rated"),
        Param("strict", "bool", False,
              help="titles the model does not know are an error (default: skipped, counted in a warning)"),
        Param("title_col", "string", "title", help="title name column of the titles table"),
        Param("threads", "int", 1, min=0, max=1024, stage="both",
              help="CPU threads torch may use (0: torch's default, all cores). The recurrent steps are small "
                   "matrix products that gain little from more threads and lose a lot when cores are shared"),
        # training
        Param("min_rating", "float", 0.0, min=0.0, stage="train",
              help="learn only from ratings at or above this (0: every row counts as a view)"),
        Param("hidden", "int", 64, min=8, max=2048, soft_max=512, stage="train", help="GRU size (and title embedding size)"),
        Param("layers", "int", 1, min=1, max=4, stage="train", help="stacked GRU layers"),
        Param("dropout", "float", 0.25, min=0.0, max=0.9, stage="train", help="dropout on title embeddings and GRU output"),
        Param("max_len", "int", 50, min=2, max=2000, soft_max=400, stage="train",
              help="most recent titles of a history the model reads (training cuts longer histories into windows)"),
        Param("loss", "enum", "sampled", choices=("sampled", "full"), stage="train",
              help="full: softmax over every title (exact; slow for big catalogues); sampled: softmax over shared "
                   "popularity-drawn negatives with the log-Q correction"),
        Param("negatives", "int", 1024, min=16, max=100000, stage="train", help="negatives per batch (sampled loss)"),
        Param("sample_alpha", "float", 0.75, min=0.0, max=1.0, stage="train",
              help="negatives drawn by popularity^alpha (0: uniform, 1: by popularity)"),
        Param("epochs", "int", 20, min=1, max=1000, stage="train",
              help="passes over the histories (the cosine schedule spans them; early stopping may end sooner)"),
        Param("patience", "int", 4, min=1, max=100, stage="train",
              help="stop after this many epochs without a better validation NDCG@10"),
        Param("validation", "bool", True, stage="train",
              help="hold out each validation user's last title to choose the epoch (early stopping)"),
        Param("valid_users", "int", 5000, min=10, max=10_000_000, stage="train",
              help="at most this many users (drawn with the seed) hold out a title for validation"),
        Param("batch_size", "int", 32, min=1, max=4096, stage="train", help="history windows per step"),
        Param("lr", "float", 0.02, min=1e-6, max=1.0, stage="train", help="Adam learning rate"),
        Param("lr_schedule", "enum", "cosine", choices=("cosine", "constant"), stage="train",
              help="cosine: the rate falls to zero over `epochs` (steadier last epochs, better and sooner); "
                   "constant: the same rate throughout"),
        Param("weight_decay", "float", 0.0, min=0.0, max=1.0, stage="train", help="Adam weight decay"),
        Param("time_limit", "float", 0.0, min=0.0, stage="train",
              help="seconds; stop after the epoch that passes it (0: no limit); the best epoch so far is kept, and "
                   "the cosine schedule is annealed to the limit"),
        Param("seed", "int", 0, min=0, max=2**31 - 1, stage="train", help="random seed (splits, batches, weights)"),
    )

    # ----- training ----------------------------------------------------------------------------
    @classmethod
    def train(cls, ctx) -> None:
        p = ctx.params
        with _torch_threads(p["threads"]):
            cls._train(ctx)

    @classmethod
    def _train(cls, ctx) -> None:
        import torch

        from .model import Arch, TrainConfig, train_gru4rec
        from .data import HistoryColumns, Vocabulary, build_sequences, item_counts, read_histories
        from .evaluate import Split

        p = ctx.params
        path = ctx.input_path("input")
        columns = HistoryColumns.from_params(p)
        df = read_histories(path, columns)
        min_rating = _min_rating(p["min_rating"], columns, df, path)
        if ctx.init_model is not None:
            base = _model_parts(ctx.init_model)
            vocab = Vocabulary.extended(base["vocab"], df[columns.item])
        else:
            vocab = Vocabulary.from_items(df[columns.item])
        seqs = build_sequences(df, columns, vocab, min_rating=min_rating)
        if len(vocab) < 2 or sum(len(s) >= 2 for s in seqs.items) == 0:
            raise BadInput(f"{path}: nothing to learn from: no user has two titles in a row "
                           f"({len(df)} rows, {len(seqs.items)} users, {len(vocab)} titles)")
        rng = np.random.default_rng(p["seed"])
        train_seqs = list(seqs.items)
        valid = None
        if p["validation"]:
            candidates = [u for u, s in enumerate(train_seqs) if len(s) >= 3]
            if len(candidates) > p["valid_users"]:
                candidates = sorted(rng.choice(candidates, size=p["valid_users"], replace=False).tolist())
            if candidates:
                hist = [train_seqs[u][:-1] for u in candidates]
                valid = Split(histories=hist, targets=np.array([train_seqs[u][-1] for u in candidates], dtype=np.int64),
                              seen=[np.unique(h) for h in hist])
                for u in candidates:
                    train_seqs[u] = train_seqs[u][:-1]
        counts = item_counts(seqs.items, len(vocab))
        arch = Arch(n_items=len(vocab), embed_dim=p["hidden"], hidden=p["hidden"], layers=p["layers"],
                    dropout_embed=p["dropout"], dropout_hidden=p["dropout"], tied=True, max_len=p["max_len"])
        cfg = TrainConfig(loss=p["loss"], negatives=p["negatives"], sample_alpha=p["sample_alpha"],
                          batch_size=p["batch_size"], lr=p["lr"], schedule=p["lr_schedule"],
                          weight_decay=p["weight_decay"], epochs=p["epochs"],
                          patience=p["patience"], time_limit=p["time_limit"], seed=p["seed"])
        init_state = _extended_state(ctx.init_model, base["vocab"], vocab, arch) if ctx.init_model is not None else None
        ctx.progress.start(total=cfg.epochs, unit="epoch")
        ctx.message(f"{path}: {len(df)} rows, {len(seqs.users)} users, {len(vocab)} titles; "
                    f"validating on {0 if valid is None else len(valid.targets)} users' last titles")

        def on_epoch(entry: dict[str, Any]) -> None:
            metrics = {k: v for k, v in entry.items() if k != "epoch"}
            ctx.progress.step(entry["epoch"], cfg.epochs, **metrics)

        device = ctx.device or "cpu"
        model, summary = train_gru4rec(train_seqs, valid, arch, cfg, device=device, counts=counts,
                                       on_epoch=on_epoch, check_cancel=ctx.check_cancel, init_state=init_state)
        tensors = {k: v.detach().cpu().float().numpy() if v.is_floating_point() else v.detach().cpu().numpy()
                   for k, v in model.state_dict().items()}
        tensors["popularity"] = counts.astype(np.int64)
        data = {"rows": int(len(df)), "users": int(len(seqs.users)), "titles": int(len(vocab)),
                "source": os.path.basename(path)}
        meta = {"arch": arch.to_json(), "vocab": vocab.to_meta(), "min_rating": min_rating,
                "columns": {"user": columns.user, "item": columns.item, "time": columns.time, "rating": columns.rating},
                "data": data, "training": {k: v for k, v in summary.items()},
                "config": {"loss": cfg.loss, "negatives": cfg.negatives, "sample_alpha": cfg.sample_alpha,
                           "batch_size": cfg.batch_size, "lr": cfg.lr, "seed": cfg.seed},
                "torch": torch.__version__}
        ctx.save_checkpoint(tensors, meta)
        ctx.extra.update({"titles": len(vocab), "users": len(seqs.users), "rows": len(df),
                          "best_epoch": summary["best_epoch"], "epochs_run": summary["epochs_run"],
                          "valid_hr@10": summary["valid_hr@10"], "valid_ndcg@10": summary["valid_ndcg@10"],
                          "stopped": summary["stopped"], "train_wall_s": summary["wall_s"],
                          "train_cpu_s": summary["cpu_s"]})

    # ----- inference ---------------------------------------------------------------------------
    def setup(self, ctx) -> None:
        from .model import GRU4Rec

        parts = _model_parts(ctx.model)
        self.vocab = parts["vocab"]
        self.arch = parts["arch"]
        self.meta = ctx.model.meta
        self.popularity = np.asarray(ctx.model.tensors["popularity"], dtype=np.float64)
        self.device = ctx.device or "cpu"
        model = ctx.model.build(lambda: GRU4Rec(self.arch),
                                weights={k: v for k, v in ctx.model.tensors.items() if k != "popularity"})
        self.model = model.to(self.device).eval()

    def run_sequence(self, ctx) -> None:
        with _torch_threads(self.params["threads"]):
            self._recommend(ctx)

    def _recommend(self, ctx) -> None:
        import pandas as pd
        import torch

        from filmai_plugins.table import Column, read_table, write_table

        from .model import score_histories
        from .data import HistoryColumns, build_sequences, read_histories

        p = self.params
        path = ctx.input_path("input")
        columns = HistoryColumns.from_params(p)
        df = read_histories(path, columns)
        min_rating = _min_rating(float(self.meta.get("min_rating") or 0.0), columns, df, path, trained=True)
        seqs = build_sequences(df, columns, self.vocab, min_rating=min_rating)
        csv = not path.lower().endswith((".parquet", ".pq"))
        n_unknown = len(seqs.unknown_rows)
        if n_unknown:
            row = int(seqs.unknown_rows[0])
            where = f"row {row + 1} (line {row + 2})" if csv else f"row {row + 1}"
            distinct = len(set(np.asarray(seqs.unknown_items).tolist()))
            text = (f"{path}: {n_unknown} row{'s' if n_unknown != 1 else ''} ({distinct} distinct title"
                    f"{'s' if distinct != 1 else ''}) name titles the model was not trained on, first at {where}: "
                    f"{columns.item} {seqs.unknown_items[0]!r}")
            if p["strict"]:
                raise BadInput(text + " (strict: retrain with these titles, or set strict=false to skip them)")
            ctx.message(text + "; skipped", level="warning")
            log.warning("%s; skipped", text)

        users = seqs.users
        history_of = {u: i for i, u in enumerate(users.tolist())}
        if "users" in ctx.inputs:
            upath = ctx.input_path("users")
            udf = read_table(upath, [Column(columns.user, "id")], what="users table",
                             hint="Name the user column with --set user_col=...", all_columns=False)
            users = pd.unique(udf[columns.user].to_numpy())
            if len(users) and len(seqs.users) and (np.asarray(users).dtype.kind in "iu") != (seqs.users.dtype.kind in "iu"):
                users = np.asarray([str(u) for u in users], dtype=object)
                history_of = {str(u): i for u, i in history_of.items()}
        k = p["k"]
        rows_user, rows_rank, rows_item, rows_score, rows_source = [], [], [], [], []
        pop = torch.tensor(self.popularity, dtype=torch.float32)
        pop[0] = 0.0
        pop_share = pop / pop.sum().clamp_min(1.0)
        warm = [(u, history_of[u]) for u in users.tolist() if u in history_of and len(seqs.items[history_of[u]])]
        cold = [u for u in users.tolist() if u not in history_of or not len(seqs.items[history_of[u]])]
        total = len(users)
        done = 0
        chunk = 256
        for start in range(0, len(warm), chunk):
            ctx.check_cancel()
            part = warm[start: start + chunk]
            scores = score_histories(self.model, [seqs.items[i] for _, i in part], self.device).float().cpu()
            if p["exclude_seen"]:
                for row, (_, i) in enumerate(part):
                    scores[row, torch.from_numpy(seqs.seen[i])] = -float("inf")
            prob = torch.softmax(scores, dim=1)
            top = torch.topk(prob, min(k, self.arch.n_items), dim=1)
            for row, (u, _) in enumerate(part):
                keep = top.values[row] > 0
                idx = top.indices[row][keep].numpy()
                rows_user += [u] * len(idx)
                rows_rank += list(range(1, len(idx) + 1))
                rows_item.append(idx)
                rows_score.append(top.values[row][keep].numpy())
                rows_source += [SOURCE_MODEL] * len(idx)
            done += len(part)
            ctx.progress.step(done, total)
        for u in cold:
            share = pop_share.clone()
            if p["exclude_seen"] and u in history_of:
                share[torch.from_numpy(seqs.seen[history_of[u]])] = 0.0
            top = torch.topk(share, min(k, self.arch.n_items))
            keep = top.values > 0
            idx = top.indices[keep].numpy()
            rows_user += [u] * len(idx)
            rows_rank += list(range(1, len(idx) + 1))
            rows_item.append(idx)
            rows_score.append(top.values[keep].numpy())
            rows_source += [SOURCE_POPULAR] * len(idx)
        done += len(cold)
        ctx.progress.step(done, total)
        items = np.concatenate(rows_item) if rows_item else np.zeros(0, dtype=np.int64)
        out = pd.DataFrame({
            "user": pd.Series(rows_user, dtype=object if not len(rows_user) or not isinstance(rows_user[0], (int, np.integer)) else np.int64),
            "rank": np.asarray(rows_rank, dtype=np.int64),
            "item": self.vocab.decode(items) if len(items) else np.zeros(0, dtype=np.int64),
            # float32: what the model computes; CSV shows its shortest exact form (0.920761, 1.2345e-07)
            "score": np.concatenate(rows_score).astype(np.float32) if rows_score else np.zeros(0, np.float32),
            "source": rows_source,
        })
        if "titles" in ctx.inputs:
            out["title"] = self._titles(ctx.input_path("titles"), out["item"], columns.item)
        target = ctx.output_path()
        write_table(target, out, metadata=ctx.provenance(None, path))
        ctx.record_output(target)
        ctx.extra.update({"users": total, "users_model": len(warm), "users_popular": len(cold),
                          "rows_written": len(out), "unknown_title_rows": n_unknown})
        if cold:
            ctx.message(f"{len(cold)} user{'s' if len(cold) != 1 else ''} without a usable history got the popularity "
                        f"fallback (source = {SOURCE_POPULAR})")

    def _titles(self, path: str, items: Any, item_col: str) -> Any:
        from filmai_plugins.table import Column, read_table

        title_col = self.params["title_col"]
        tdf = read_table(path, [Column(item_col, "id"), Column(title_col, "str")], what="titles table",
                         hint="Name the columns with --set item_col=... title_col=...", all_columns=False)
        names = dict(zip(tdf[item_col].tolist(), tdf[title_col].tolist()))
        if self.vocab.kind == "str":
            names = {str(k): v for k, v in names.items()}
        return [names.get(i, "") for i in items.tolist()]


@contextlib.contextmanager
def _torch_threads(n: int):
    """Use ``n`` torch CPU threads inside the block and restore the host's setting after (0: leave as is)."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(before)


def _min_rating(value: float, columns, df, path: str, trained: bool = False) -> float | None:
    """The rating threshold to apply, or None; a threshold without a rating column is an error."""
    if not value:
        return None
    if not columns.rating or columns.rating not in df.columns:
        why = f"the model was trained on ratings >= {value:g}" if trained else f"min_rating is {value:g}"
        raise BadInput(f"{path}: {why} but the history has no rating column {columns.rating!r} "
                       "(name it with --set rating_col=...)")
    return value


def _model_parts(ckpt) -> dict[str, Any]:
    """Vocabulary and architecture from a checkpoint's metadata, with a clear error if they are missing."""
    from .model import Arch
    from .data import Vocabulary

    meta = ckpt.meta
    try:
        vocab = Vocabulary.from_meta(meta["vocab"])
        arch = Arch.from_json(meta["arch"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"{ckpt.path}: not an lstm.recommend model (metadata lacks {exc})") from None
    if "popularity" not in ckpt.tensors or arch.n_items != len(vocab):
        raise BadInput(f"{ckpt.path}: inconsistent lstm.recommend model (catalogue and weights disagree)")
    return {"vocab": vocab, "arch": arch}


def _extended_state(ckpt, old_vocab, new_vocab, arch) -> dict[str, Any]:
    """Fine-tuning: the old model's weights, with new titles' rows freshly initialised."""
    import torch

    from .model import GRU4Rec

    old_arch = _model_parts(ckpt)["arch"]
    if (old_arch.hidden, old_arch.layers) != (arch.hidden, arch.layers):
        raise BadInput(f"{ckpt.path}: fine-tuning needs the same hidden/layers as the model "
                       f"({old_arch.hidden}/{old_arch.layers}, asked {arch.hidden}/{arch.layers})")
    state = GRU4Rec(arch).state_dict()
    old = ckpt.torch_state_dict("cpu")
    n_old = len(old_vocab)
    for name, value in state.items():
        src = old[name]
        if name in ("embed.weight", "bias"):
            value[: n_old + 1] = src  # the extended vocabulary keeps the old ids first, in order
        else:
            value.copy_(src)
    return {k: torch.as_tensor(v) for k, v in state.items()}


NODES = (Recommend,)
