"""lstm.recommend: trains on a tiny synthetic history with sequential structure and must beat popularity on
held-out next titles; seen titles excluded; cold users marked; CSV and Parquet; bad input exits 2, nothing lost."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from filmai_plugins.cli import main as cli_main
from filmai_plugins.nodes.lstm.recommend.data import HistoryColumns, Vocabulary, build_sequences, read_histories
from filmai_plugins.nodes.lstm.recommend.evaluate import ItemKNN, Split, evaluate, leave_last_out, popularity_scorer
from filmai_plugins.table import read_table, read_table_metadata

N_TITLES = 60
FIRST_ID = 100  # title ids 100..159, so indices and ids never coincide by accident
TRAIN = ["--set", "hidden=32", "--set", "batch_size=16", "--set", "lr=0.01", "--set", "epochs=20",
         "--set", "patience=4", "--set", "loss=full", "--progress", "none"]


def synthetic_histories(users: int = 150, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users walk one fixed random order of the titles (90 %) or jump to a random unseen title (10 %);
    popularity is nearly flat, so only a sequence model can predict the next title.
    Returns (history rows in file order, each user's held-out last row)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(N_TITLES)
    successor = {int(order[i]): int(order[(i + 1) % N_TITLES]) for i in range(N_TITLES)}
    rows = []
    for u in range(users):
        cur, seen = int(rng.integers(N_TITLES)), set()
        for j in range(int(rng.integers(8, 20))):
            rows.append((u + 1, cur + FIRST_ID, 1_600_000_000 + 1000 * u + j, float(rng.integers(1, 6))))
            seen.add(cur)
            nxt = successor[cur] if rng.random() < 0.9 else int(rng.integers(N_TITLES))
            while nxt in seen:
                nxt = int(rng.integers(N_TITLES))
            cur = nxt
    df = pd.DataFrame(rows, columns=["userId", "movieId", "timestamp", "rating"])
    df = df.sample(frac=1.0, random_state=0).reset_index(drop=True)  # file order must not matter
    last = df.loc[df.groupby("userId")["timestamp"].idxmax()]
    return df.drop(index=last.index), last


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("recommend")
    history, heldout = synthetic_histories()
    hist_csv, hist_pq = str(root / "ratings.csv"), str(root / "ratings.parquet")
    history.to_csv(hist_csv, index=False)
    history.to_parquet(hist_pq, index=False)
    titles = str(root / "movies.csv")
    pd.DataFrame({"movieId": np.arange(N_TITLES) + FIRST_ID,
                  "title": [f"Film, number {i}" for i in range(N_TITLES)]}).to_csv(titles, index=False)
    ckpt = str(root / "recs.ckpt")
    assert cli_main(["train", "lstm.recommend", "--input", hist_csv, "--out", ckpt, *TRAIN]) == 0
    return {"root": root, "history": history, "heldout": heldout, "csv": hist_csv, "parquet": hist_pq,
            "titles": titles, "ckpt": ckpt}


def _run(trained, output, *extra, inp=None, model=None) -> int:
    return cli_main(["run", "lstm.recommend", "--model", model or trained["ckpt"], "--input", inp or trained["csv"],
                     "--output", output, "--progress", "none", *extra])


def _hit_rate(recs: pd.DataFrame, heldout: pd.DataFrame) -> float:
    target = dict(zip(heldout["userId"], heldout["movieId"]))
    hits = recs[recs["item"] == recs["user"].map(target)]
    return hits["user"].nunique() / len(target)


def test_model_beats_popularity_and_excludes_seen(trained, tmp_path):
    out = str(tmp_path / "top10.csv")
    assert _run(trained, out, "--set", "k=10", "--input", f"titles={trained['titles']}") == 0
    recs = read_table(out)
    assert list(recs.columns) == ["user", "rank", "item", "score", "source", "title"]
    assert (recs["source"] == "model").all() and recs.groupby("user").size().eq(10).all()
    assert recs.groupby("user")["rank"].apply(lambda r: list(r) == list(range(1, 11))).all()
    assert recs.groupby("user")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
    assert (recs["title"] == recs["item"].map(lambda i: f"Film, number {i - FIRST_ID}")).all()
    history = trained["history"]
    seen = set(zip(history["userId"], history["movieId"]))
    assert not any((u, i) in seen for u, i in zip(recs["user"], recs["item"]))

    # Popularity on the same histories, seen titles excluded, same held-out titles.
    counts = history["movieId"].value_counts()
    pop_rows = []
    for u, group in history.groupby("userId"):
        ranked = [i for i in counts.index if i not in set(group["movieId"])][:10]
        pop_rows += [(u, i) for i in ranked]
    pop = pd.DataFrame(pop_rows, columns=["user", "item"])
    model_hr, pop_hr = _hit_rate(recs, trained["heldout"]), _hit_rate(pop, trained["heldout"])
    assert model_hr >= 0.6 and model_hr >= pop_hr + 0.3, (model_hr, pop_hr)


def test_parquet_in_and_out_match_csv(trained, tmp_path):
    csv_out, pq_out = str(tmp_path / "a.csv"), str(tmp_path / "b.parquet")
    assert _run(trained, csv_out, "--set", "k=5") == 0
    assert _run(trained, pq_out, "--set", "k=5", inp=trained["parquet"]) == 0
    a, b = read_table(csv_out), read_table(pq_out)
    assert a[["user", "rank", "item"]].equals(b[["user", "rank", "item"]])
    assert np.allclose(a["score"], b["score"], atol=1e-6)
    meta = read_table_metadata(pq_out)
    assert meta["node"] == "lstm.recommend" and meta["modelSha256"]


def test_cold_users_get_marked_popularity_fallback(trained, tmp_path):
    root = tmp_path
    history = trained["history"]
    # user 9001 only watched a title the model never saw; 9002 is not in the history at all.
    extra = pd.DataFrame([(9001, 99999, 1_700_000_000, 4.0)], columns=history.columns)
    hist = str(root / "h.csv")
    pd.concat([history, extra]).to_csv(hist, index=False)
    users = str(root / "users.csv")
    pd.DataFrame({"userId": [1, 9001, 9002]}).to_csv(users, index=False)
    out = str(root / "recs.parquet")
    assert _run(trained, out, "--input", f"users={users}", inp=hist) == 0
    recs = read_table(out)
    assert sorted(recs["user"].unique()) == [1, 9001, 9002]
    assert (recs.loc[recs["user"] == 1, "source"] == "model").all()
    cold = recs[recs["user"].isin([9001, 9002])]
    assert (cold["source"] == "popular").all() and len(cold) == 20
    counts = history["movieId"].value_counts()
    assert set(cold.loc[cold["user"] == 9002, "item"]) <= set(counts.index)
    assert cold.loc[cold["user"] == 9002, "score"].is_monotonic_decreasing
    # the unknown title was skipped with a count, not an error
    manifest = pd.read_json(str(root / "recs.manifest.json"), typ="series")
    assert manifest["results"]["unknown_title_rows"] == 1 and manifest["results"]["users_popular"] == 2


def test_renamed_columns_and_dates(trained, tmp_path):
    history = trained["history"].rename(columns={"userId": "viewer", "movieId": "asset", "timestamp": "watched"})
    history["watched"] = pd.to_datetime(history["watched"], unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")
    hist = str(tmp_path / "views.csv")
    history.to_csv(hist, index=False)
    out = str(tmp_path / "r.csv")
    assert _run(trained, out, "--set", "user_col=viewer", "--set", "item_col=asset", "--set", "time_col=watched",
                "--set", "k=3", inp=hist) == 0
    ref = str(tmp_path / "ref.csv")
    assert _run(trained, ref, "--set", "k=3") == 0
    assert read_table(out)[["user", "item"]].equals(read_table(ref)[["user", "item"]])


def _refused(capsys, rc: int, *needles: str) -> str:
    err = capsys.readouterr().err
    assert rc == 2, err
    for needle in needles:
        assert needle in err, err
    return err


def test_bad_input_exits_2_and_keeps_existing_output(trained, tmp_path, capsys):
    out = str(tmp_path / "top.csv")
    with open(out, "w") as f:
        f.write("previous results\n")
    # missing column
    bad = str(tmp_path / "nocol.csv")
    trained["history"].drop(columns=["timestamp"]).to_csv(bad, index=False)
    _refused(capsys, _run(trained, out, inp=bad), bad, "'timestamp'", "time_col")
    # unknown title under strict
    unknown = str(tmp_path / "unknown.csv")
    rows = trained["history"].copy()
    rows.loc[rows.index[3], "movieId"] = 424242
    rows.to_csv(unknown, index=False)
    _refused(capsys, _run(trained, out, "--set", "strict=true", inp=unknown), unknown, "row 4 (line 5)", "424242")
    # a checkpoint of another node
    from filmai_plugins.training.checkpoint import save_checkpoint

    other = str(tmp_path / "other.ckpt")
    save_checkpoint(other, {"w": np.zeros(3, np.float32)}, {"node": "cnn.copycat"})
    _refused(capsys, _run(trained, out, model=other), other, "cnn.copycat")
    # a non-numeric time names its row
    badtime = str(tmp_path / "badtime.csv")
    rows = trained["history"].copy().astype({"timestamp": object})
    rows.loc[rows.index[1], "timestamp"] = "soon"
    rows.to_csv(badtime, index=False)
    _refused(capsys, _run(trained, out, inp=badtime), badtime, "row 2 (line 3)", "'soon'")
    # training on a file with missing columns writes no checkpoint
    ckpt = str(tmp_path / "never.ckpt")
    _refused(capsys, cli_main(["train", "lstm.recommend", "--input", bad, "--out", ckpt, "--progress", "none"]), bad)
    assert not os.path.exists(ckpt)
    with open(out) as f:
        assert f.read() == "previous results\n"
    # only the inputs, the untouched output and the failure manifests (which record the error) are there
    assert sorted(os.listdir(tmp_path)) == sorted(["top.csv", "nocol.csv", "unknown.csv", "other.ckpt", "badtime.csv",
                                                   "top.manifest.json", "never.train.manifest.json"])


def test_fine_tuning_adds_new_titles(trained, tmp_path):
    from filmai_plugins.training.checkpoint import load_checkpoint

    history = trained["history"]
    new = pd.DataFrame([(1, 500, 1_700_000_000, 5.0), (2, 500, 1_700_000_000, 5.0), (2, 501, 1_700_000_001, 5.0)],
                       columns=history.columns)
    hist = str(tmp_path / "more.parquet")
    pd.concat([history, new]).to_parquet(hist, index=False)
    out = str(tmp_path / "tuned.ckpt")
    assert cli_main(["train", "lstm.recommend", "--model", trained["ckpt"], "--input", hist, "--out", out,
                     *TRAIN, "--set", "epochs=1", "--set", "loss=sampled", "--set", "negatives=16"]) == 0
    old, tuned = load_checkpoint(trained["ckpt"]), load_checkpoint(out)
    assert tuned.meta["vocab"]["ids"] == old.meta["vocab"]["ids"] + [500, 501]  # old titles keep their rows
    assert tuned.tensors["embed.weight"].shape[0] == N_TITLES + 3 and tuned.meta["training"]["loss"] == "sampled"
    assert _run(trained, str(tmp_path / "r.csv"), inp=hist, model=out) == 0


def test_history_order_ties_keep_file_order(tmp_path):
    path = str(tmp_path / "h.csv")
    pd.DataFrame({"u": ["b", "a", "a", "a", "b"], "i": [5, 3, 1, 2, 9], "t": [7, 2, 2, 1, 7]}).to_csv(path, index=False)
    cols = HistoryColumns(user="u", item="i", time="t")
    df = read_histories(path, cols)
    vocab = Vocabulary.from_items(df["i"])
    seqs = build_sequences(df, cols, vocab)
    assert list(seqs.users) == ["a", "b"]
    assert [vocab.decode(s).tolist() for s in seqs.items] == [[2, 3, 1], [5, 9]]


def test_ranking_protocols_and_baselines():
    # 3 users, 6 titles; title 6 never appears in training.
    train = [np.array([1, 2, 3]), np.array([1, 2, 4]), np.array([2, 5])]
    split = Split(histories=[np.array([1]), np.array([2]), np.array([5])], targets=np.array([2, 6, 1]),
                  seen=[np.array([1]), np.array([2]), np.array([5])])
    counts = np.bincount(np.concatenate(train), minlength=7)
    m = evaluate(popularity_scorer(counts), split, 6, k=1)
    # user 1: title 2 is the most popular unseen -> rank 0; user 2: title 6 is tied last with nothing -> rank 4
    # (1, 3, 4, 5 above it); user 3: title 1 is most popular unseen after 2 -> rank 1.
    assert m.ranks.tolist() == [0.0, 4.0, 1.0] and m.hr == pytest.approx(1 / 3)
    const = evaluate(lambda h: np.zeros((len(h), 7)), split, 6, k=10)
    assert const.ranks.tolist() == [2.0, 2.0, 2.0]  # mid-rank among 5 candidates: ties count half
    knn = ItemKNN(train, 6, neighbours=2)
    scores = knn([np.array([4])])[0]
    # 4's co-raters are 1 and 2; 5 is no neighbour and only gets the popularity fill, below any similarity
    assert scores[1] > 0.1 and scores[2] > 0.1 and 0 < scores[5] < 1e-5 and scores[3] < 1e-5
    uni = evaluate(popularity_scorer(counts), split, 6, protocol="uni100", negatives=3, seed=0)
    assert len(uni.ranks) == 3 and (uni.ranks <= 3).all()
    _, test_split, _ = leave_last_out(train, 1)
    assert test_split.targets.tolist() == [3, 4, 5]


def test_node_module_does_not_import_torch():
    code = ("import sys, filmai_plugins.nodes.lstm.recommend as r; "
            "assert 'torch' not in sys.modules and 'pandas' not in sys.modules, 'heavy import'; print(r.NODES[0].id)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "lstm.recommend" in result.stdout, result.stderr


def test_sampled_softmax_matches_the_plain_cross_entropy():
    """The CPU-tuned loss (addmm, in-place accidental-hit masking, logsumexp) equals the textbook form: the
    positive in column 0 of a concatenated logit matrix, hits masked, cross-entropy — values and gradients."""
    import math

    import torch

    from filmai_plugins.nodes.lstm.recommend.model import Arch, GRU4Rec, sampled_softmax_loss

    torch.manual_seed(0)
    model = GRU4Rec(Arch(n_items=300, embed_dim=16, hidden=16))
    with torch.no_grad():
        model.bias.normal_()
    log_q = torch.log_softmax(torch.randn(301), 0)
    h = torch.randn(40, 16, requires_grad=True)
    target = torch.randint(1, 301, (40,))
    negatives = torch.randint(1, 301, (64,))
    negatives[:3] = target[:3]  # accidental hits, one of them twice
    negatives[3] = target[0]

    def plain():
        w, log_k = model.output_weight, math.log(64.0)
        pos = (h * w[target]).sum(-1) + model.bias[target] - (log_q[target] + log_k)
        neg = h @ w[negatives].T + model.bias[negatives] - (log_q[negatives] + log_k)
        neg = neg.masked_fill(negatives[None, :] == target[:, None], -math.inf)
        return torch.nn.functional.cross_entropy(torch.cat([pos[:, None], neg], 1), torch.zeros(40, dtype=torch.long))

    grads = []
    for loss_fn in (plain, lambda: sampled_softmax_loss(model, h, target, negatives, log_q)):
        model.zero_grad()
        h.grad = None
        loss = loss_fn()
        loss.backward()
        grads.append((loss.detach(), h.grad.clone(), model.embed.weight.grad.clone(), model.bias.grad.clone()))
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()


def test_cosine_schedule_anneals_to_the_time_limit():
    """With a time limit far shorter than the epochs would take, the cosine rate still ends near zero (the
    schedule follows whichever runs out first), and the epochs record their rate."""
    from filmai_plugins.nodes.lstm.recommend.model import Arch, TrainConfig, train_gru4rec

    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 101, 30) for _ in range(60)]
    cfg = TrainConfig(loss="full", epochs=100000, time_limit=1.0, schedule="cosine", batch_size=8, lr=0.01)
    _, summary = train_gru4rec(seqs, None, Arch(n_items=100, embed_dim=8, hidden=8), cfg)
    history = summary["history"]
    assert summary["stopped"].startswith("time limit") and len(history) < 100000
    # the rate only falls, and ends near zero (where on the curve the first epoch ends depends on how fast
    # the machine is: a wall-clock limit on a loaded machine buys fewer, slower epochs)
    rates = [h["lr"] for h in history]
    assert all(b <= a for a, b in zip(rates, rates[1:])) and rates[0] <= cfg.lr
    assert history[-1]["lr"] < 0.1 * cfg.lr
