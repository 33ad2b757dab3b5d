"""Viewing histories for ``lstm.recommend``: reading, ordering, item vocabulary, per-user sequences.

No torch here: the benchmark's baselines and the tests use this module without a network.

Order within a user is chronological; equal timestamps keep the order of the file (a stable sort
on (user, time) with the file row as the last key). MovieLens rates in bursts (a quarter of the
ratings of ml-latest-small share their second with another rating of the same user), so the tie
rule decides what "the last title" is; it is fixed here once for training, inference and the bench.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from filmai_plugins.errors import BadInput
from filmai_plugins.table import Column, read_table

COLUMN_HINT = "Name the columns with --set user_col=... item_col=... time_col=... (rating_col= for ratings)"


@dataclass(frozen=True)
class HistoryColumns:
    user: str = "userId"
    item: str = "movieId"
    time: str = "timestamp"
    rating: str = ""  # empty: no rating column is read; a named one may still be absent from a file

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "HistoryColumns":
        return cls(user=params["user_col"].strip(), item=params["item_col"].strip(),
                   time=params["time_col"].strip(), rating=params.get("rating_col", "").strip())

    def table_columns(self) -> list[Column]:
        cols = [Column(self.user, "id", help="user id"), Column(self.item, "id", help="title id"),
                Column(self.time, "any", help="time of the view or rating")]
        if self.rating:
            cols.append(Column(self.rating, "float", required=False, help="rating"))
        return cols


def read_histories(path: str, columns: HistoryColumns) -> "Any":
    """The history table with canonical ids and a float ``time`` column, sorted by user, time, file row.

    Adds ``_row`` (the 0-based data row in the file) so later messages can name rows.
    """
    names = [columns.user, columns.item, columns.time] + ([columns.rating] if columns.rating else [])
    if len(set(names)) != len(names):
        raise BadInput(f"{path}: the user, item, time and rating columns must be different columns ({', '.join(names)})")
    df = read_table(path, columns.table_columns(), what="viewing history", hint=COLUMN_HINT, all_columns=False)
    df = df[[n for n in names if n in df.columns]].copy()
    df["_row"] = np.arange(len(df), dtype=np.int64)
    df[columns.time] = _times(df[columns.time], path, columns.time, csv=not str(path).lower().endswith((".parquet", ".pq")))
    order = np.lexsort((df["_row"].to_numpy(), df[columns.time].to_numpy(), _sort_key(df[columns.user])))
    return df.iloc[order].reset_index(drop=True)


def _sort_key(ids: Any) -> np.ndarray:
    """Users as sortable integer codes (ints sort numerically, strings lexically)."""
    values = ids.to_numpy()
    if values.dtype.kind in "iu":
        return values
    _, codes = np.unique(values.astype(str), return_inverse=True)
    return codes


def _times(series: Any, path: str, name: str, csv: bool) -> Any:
    """Numbers (epoch seconds or any monotonic count) as they are; date strings parsed to epoch seconds."""
    import pandas as pd

    where = (lambda r: f"row {r + 1} (line {r + 2})") if csv else (lambda r: f"row {r + 1}")
    null = series.isna().to_numpy()
    if null.any():
        r = int(np.flatnonzero(null)[0])
        raise BadInput(f"{path} {where(r)}: empty {name!r} in the viewing history")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.astype("int64").astype(np.float64) / 1e9 if series.dt.tz is None else \
            series.dt.tz_convert("UTC").astype("int64").astype(np.float64) / 1e9
    numbers = pd.to_numeric(series, errors="coerce")
    not_number = numbers.isna().to_numpy()
    if not not_number.any():
        return numbers.astype(np.float64)
    if not not_number.all():  # a numeric column with a stray cell: name that cell, not the first date
        r = int(np.flatnonzero(not_number)[0])
        raise BadInput(f"{path} {where(r)}: {name} {series.iloc[r]!r} is not a number (the column holds numbers)")
    parsed = pd.to_datetime(series.astype(str), errors="coerce", utc=True, format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise BadInput(f"{path} {where(r)}: {name} {series.iloc[r]!r} is neither a number nor a date")
    return (parsed - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds().astype(np.float64)


class Vocabulary:
    """Title ids ↔ indices 1..N (0 is padding). Ids are int64 or str, as ``canonical_ids`` made them."""

    def __init__(self, ids: Sequence[Any]):
        arr = np.asarray(ids)
        if arr.dtype.kind not in "iu":
            arr = np.asarray([str(i) for i in ids], dtype=object)
        self.ids = arr
        self.kind = "int" if arr.dtype.kind in "iu" else "str"
        self._index = {v: i + 1 for i, v in enumerate(arr.tolist())}
        if len(self._index) != len(arr):
            raise ValueError("duplicate ids in vocabulary")

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_items(cls, items: Any) -> "Vocabulary":
        values = items.to_numpy() if hasattr(items, "to_numpy") else np.asarray(items)
        if values.dtype.kind in "iu":
            return cls(np.unique(values.astype(np.int64)))
        return cls(sorted({str(v) for v in values}))

    @classmethod
    def extended(cls, base: "Vocabulary", items: Any) -> "Vocabulary":
        """``base`` with the titles of ``items`` it lacks appended (fine-tuning keeps old indices)."""
        new = cls.from_items(items)
        if new.kind != base.kind:
            raise BadInput(f"the model's title ids are {base.kind}s but the history's are {new.kind}s")
        extra = [i for i in new.ids.tolist() if i not in base._index]
        if base.kind == "int":
            return cls(np.concatenate([base.ids, np.asarray(extra, dtype=np.int64)]))
        return cls(base.ids.tolist() + extra)

    def encode(self, items: Any) -> np.ndarray:
        """Indices 1..N, 0 for ids the vocabulary does not know."""
        values = items.to_numpy() if hasattr(items, "to_numpy") else np.asarray(items)
        if self.kind == "int" and values.dtype.kind not in "iu":
            # A string id can never match an integer vocabulary, but "31" must still match 31.
            return np.array([self._index.get(_as_int(v), 0) for v in values], dtype=np.int64)
        if self.kind == "str":
            return np.array([self._index.get(str(v), 0) for v in values], dtype=np.int64)
        return np.array([self._index.get(int(v), 0) for v in values], dtype=np.int64)

    def decode(self, indices: np.ndarray) -> np.ndarray:
        return self.ids[np.asarray(indices) - 1]

    def to_meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "ids": self.ids.tolist()}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> "Vocabulary":
        ids = meta["ids"]
        return cls(np.asarray(ids, dtype=np.int64) if meta["kind"] == "int" else ids)


def _as_int(value: Any) -> Any:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


@dataclass
class Sequences:
    """Per-user title sequences (indices into a Vocabulary), in the order users first appear sorted."""

    users: np.ndarray           # user ids
    items: list[np.ndarray]     # one int64 array per user, chronological, 0 never appears
    unknown_rows: np.ndarray    # 0-based file rows whose title the vocabulary does not know
    unknown_items: np.ndarray   # the unknown title ids (same order)
    seen: list[np.ndarray]      # every known title each user has rated (incl. those filtered by rating)


def build_sequences(df: Any, columns: HistoryColumns, vocab: Vocabulary, *,
                    min_rating: float | None = None) -> Sequences:
    """Group a sorted history table into sequences. Titles unknown to ``vocab`` are left out and reported.

    ``min_rating`` drops low ratings from what the model reads (they still count as seen).
    """
    codes = vocab.encode(df[columns.item])
    known = codes > 0
    user_values = df[columns.user].to_numpy()
    # df is sorted by user, so users are contiguous runs.
    change = np.ones(len(df), dtype=bool)
    if len(df) > 1:
        change[1:] = user_values[1:] != user_values[:-1]
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], len(df))
    keep = known.copy()
    if min_rating is not None and columns.rating in df.columns:
        keep &= df[columns.rating].to_numpy() >= min_rating
    items, seen = [], []
    for s, e in zip(starts, ends):
        c = codes[s:e]
        items.append(c[keep[s:e]].astype(np.int64))
        seen.append(np.unique(c[known[s:e]]).astype(np.int64))
    unknown = ~known
    return Sequences(users=user_values[starts] if len(df) else user_values[:0], items=items,
                     unknown_rows=df["_row"].to_numpy()[unknown], unknown_items=df[columns.item].to_numpy()[unknown],
                     seen=seen)


def item_counts(sequences: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    """How often each title (index 1..N) appears; index 0 (padding) stays 0."""
    counts = np.zeros(n_items + 1, dtype=np.int64)
    for s in sequences:
        np.add.at(counts, s, 1)
    return counts
