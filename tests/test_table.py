"""The Table port's files: CSV/TSV/Parquet round trips, validation errors naming file and row, atomic writes."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from filmai_plugins.errors import BadInput
from filmai_plugins.table import (Column, canonical_ids, read_table, read_table_metadata, table_format,
                                  write_table)

HISTORY = [Column("user", "id"), Column("item", "id"), Column("ts", "float"), Column("rating", "float", required=False)]


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"user": [3, 3, 7], "item": [31, 1029, 31], "ts": [10.0, 11.5, 9.0],
                         "title": ["Dangerous Minds (1995)", "Dumbo, \"the\" (1941)", "Dangerous Minds (1995)"]})


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz", "t.tsv", "t.parquet"])
def test_round_trip_keeps_ids_numbers_and_text(tmp_path, name):
    path = str(tmp_path / name)
    write_table(path, _frame(), {"node": "test.node", "paramsHash": "abc"})
    df = read_table(path, HISTORY + [Column("title", "str")])
    assert df["user"].dtype == np.int64 and df["item"].tolist() == [31, 1029, 31]
    assert df["ts"].tolist() == [10.0, 11.5, 9.0]
    assert df["title"].iloc[1] == "Dumbo, \"the\" (1941)"  # commas and quotes survive CSV quoting
    assert os.listdir(tmp_path) == [name]  # no temporary file left behind
    expected = {"node": "test.node", "paramsHash": "abc"} if name.endswith("parquet") else {}
    assert read_table_metadata(path) == expected


def test_ids_are_canonical_across_formats():
    assert canonical_ids(pd.Series([1.0, 2.0])).tolist() == [1, 2]
    assert canonical_ids(pd.Series(["007", " 8"])).tolist() == [7, 8]
    assert canonical_ids(pd.Series(["tt0114709", "42"])).tolist() == ["tt0114709", "42"]
    assert canonical_ids(pd.Series([1.5, 2.0])).tolist() == ["1.5", "2.0"]


def test_missing_column_names_file_and_what_it_has(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,timestamp\n1,2,3\n")
    with pytest.raises(BadInput) as err:
        read_table(str(path), HISTORY, what="viewing history", hint="rename with --set user_col=...")
    msg = str(err.value)
    assert str(path) in msg and "'user'" in msg and "'userId'" in msg and "user_col" in msg


def test_bad_cells_name_the_row_and_line(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("user,item,ts\n1,2,3\n1,4,yesterday\n")
    with pytest.raises(BadInput, match=r"h\.csv row 2 \(line 3\): ts 'yesterday' is not a number"):
        read_table(str(path), HISTORY)
    path.write_text("user,item,ts\n1,2,3\n1,,4\n")
    with pytest.raises(BadInput, match=r"row 2 \(line 3\): empty 'item'"):
        read_table(str(path), HISTORY)
    parquet = str(tmp_path / "h.parquet")
    pd.DataFrame({"user": [1, 2], "item": [5, 6], "ts": [1.0, np.inf]}).to_parquet(parquet)
    with pytest.raises(BadInput, match=r"h\.parquet row 2: ts .* not finite"):
        read_table(parquet, HISTORY)


@pytest.mark.parametrize("content,reason", [(b"", "empty"), (b"\xff\xfe\x00garbage", "")])
def test_unreadable_files_are_bad_input(tmp_path, content, reason):
    for name in ("x.csv", "x.parquet"):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(BadInput, match=str(path).replace(".", r"\.")):
            read_table(str(path), HISTORY)
    with pytest.raises(BadInput, match="not found"):
        read_table(str(tmp_path / "missing.csv"), HISTORY)
    with pytest.raises(BadInput, match="unknown table format"):
        table_format("ratings.xlsx")


def test_failed_write_keeps_previous_table(tmp_path):
    path = str(tmp_path / "out.parquet")
    write_table(path, _frame())
    before = open(path, "rb").read()
    bad = pd.DataFrame({"x": [object()]})  # pyarrow cannot convert an arbitrary object
    with pytest.raises(Exception):
        write_table(path, bad)
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["out.parquet"]
