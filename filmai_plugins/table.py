"""The ``Table`` port's data: CSV and Parquet files that nodes, hosts and pipeline scripts share.

A Table is rows with named columns (viewing histories in, recommendations out). On disk it is CSV
(``.csv``, ``.csv.gz``, ``.tsv``) or Parquet (``.parquet``, ``.pq``); in memory a pandas DataFrame.

- ``read_table(path, columns)`` reads and validates: the columns a node needs must exist (the error
  names the file, the missing columns and the ones the file has), required cells must not be empty and
  numeric columns must hold numbers (the error names the file and the row).
- ``write_table(path, df, metadata)`` writes atomically (a temporary name renamed into place: a failed
  run never leaves half a table and never truncates the previous one). Parquet files carry the
  node/params/model provenance in their schema metadata under ``filmai``, like EXR frames do in
  their headers; ``read_table_metadata`` returns it.

Row numbers in messages count data rows from 1; for CSV the line number (header on line 1) is given too.
pandas and pyarrow are imported on first use (``pip install 'filmai-plugins[table]'``).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping, Sequence

from .atomic import atomic_path
from .errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

ColumnKind = Literal["id", "int", "float", "str", "any"]
METADATA_KEY = "filmai"
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".csv.xz")
_TSV = (".tsv", ".tsv.gz", ".tab")
_INT_RE = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class Column:
    """A column a node reads: its name in the file, what it holds, and whether it must be there.

    ``id``: identifiers (users, titles); integer-valued ids become int64, anything else str.
    ``int``/``float``: numbers (a non-number names its row). ``str``: text. ``any``: left as read.
    """

    name: str
    kind: ColumnKind = "any"
    required: bool = True
    help: str = ""


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise BadInput("Table files need pandas and pyarrow: pip install 'filmai-plugins[table]'") from None
    return pd


def table_format(path: str) -> str:
    """``csv``, ``tsv`` or ``parquet`` from the file name; anything else is refused."""
    name = os.path.basename(str(path)).lower()
    if name.endswith(_PARQUET):
        return "parquet"
    if name.endswith(_TSV):
        return "tsv"
    if name.endswith(_CSV):
        return "csv"
    raise BadInput(f"{path}: unknown table format (use .csv, .csv.gz, .tsv or .parquet)")


def _where(fmt: str, row: int) -> str:
    """Row ``row`` (0-based data row) as a user reads it."""
    return f"row {row + 1} (line {row + 2})" if fmt in ("csv", "tsv") else f"row {row + 1}"


def read_table(path: str, columns: Sequence[Column] = (), *, what: str = "table", hint: str = "",
               all_columns: bool = True) -> "pd.DataFrame":
    """Read a CSV/Parquet table and validate ``columns``; BadInput names the file (and row) on any problem.

    ``what`` says what the file is for in messages ("viewing history"); ``hint`` is appended to a
    missing-column message (e.g. which params rename the columns). ``all_columns=False`` reads only
    the declared columns (faster on wide files).
    """
    pd = _pandas()
    path = os.fspath(path)
    fmt = table_format(path)
    if not os.path.isfile(path):
        raise BadInput(f"{path}: {what} not found")
    wanted = [c.name for c in columns]
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            missing = [c.name for c in columns if c.required and c.name not in names]
            _check_missing(path, what, missing, names, hint)
            use = None if all_columns else [n for n in wanted if n in names]
            df = pq.read_table(path, columns=use).to_pandas()
        else:
            # Ids and text stay text while parsing: "007" must not become 7, nor 31 become 31.0.
            text_cols = {c.name: str for c in columns if c.kind in ("id", "str")}
            df = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", dtype=text_cols or None,
                             usecols=None if all_columns else (lambda n: n in wanted),
                             skipinitialspace=True, keep_default_na=True)
    except BadInput:
        raise
    except FileNotFoundError:
        raise BadInput(f"{path}: {what} not found") from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not a UTF-8 text table ({exc.reason} at byte {exc.start})") from None
    except Exception as exc:  # pandas/pyarrow parse errors: one clear line naming the file
        kind = "Parquet" if fmt == "parquet" else fmt.upper()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if type(exc).__name__ == "EmptyDataError":
            reason = "the file is empty"
        raise BadInput(f"{path}: not a readable {kind} {what}: {reason}") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c.name for c in columns if c.required and c.name not in df.columns]
    _check_missing(path, what, missing, list(df.columns), hint)
    for col in columns:
        if col.name in df.columns:
            df[col.name] = _validate_column(df[col.name], col, path, fmt, what)
    return df


def _check_missing(path: str, what: str, missing: list[str], have: Iterable[str], hint: str) -> None:
    if missing:
        have = list(have)
        raise BadInput(f"{path}: {what} has no column {', '.join(repr(m) for m in missing)}; its columns are "
                       f"{', '.join(repr(h) for h in have) or '(none)'}" + (f". {hint}" if hint else ""))


def _validate_column(series: "pd.Series", col: Column, path: str, fmt: str, what: str) -> "pd.Series":
    pd = _pandas()
    import numpy as np

    if col.kind == "any":
        return series
    null = series.isna().to_numpy()
    if col.kind == "str":
        return series.astype(object).where(~null, "")
    if null.any():
        row = int(np.flatnonzero(null)[0])
        raise BadInput(f"{path} {_where(fmt, row)}: empty {col.name!r} in the {what} "
                       f"({int(null.sum())} empty cell{'s' if null.sum() != 1 else ''} in that column)")
    if col.kind == "id":
        return canonical_ids(series)
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise BadInput(f"{path} {_where(fmt, row)}: {col.name} {series.iloc[row]!r} is not a number")
    values = numbers.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        raise BadInput(f"{path} {_where(fmt, row)}: {col.name} {series.iloc[row]!r} is not finite")
    if col.kind == "int":
        frac = values != np.round(values)
        if frac.any():
            row = int(np.flatnonzero(frac)[0])
            raise BadInput(f"{path} {_where(fmt, row)}: {col.name} {series.iloc[row]!r} is not a whole number")
        return pd.Series(values.astype(np.int64), index=series.index, name=series.name)
    return pd.Series(values, index=series.index, name=series.name)


def canonical_ids(series: "pd.Series") -> "pd.Series":
    """Identifiers in one canonical form: int64 when every id is a whole number, else stripped str.

    The same title read from CSV ("31"), Parquet int (31) or Parquet float (31.0) maps to the same id.
    """
    pd = _pandas()
    import numpy as np

    if pd.api.types.is_integer_dtype(series.dtype):
        return series.astype(np.int64)
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64)
        if np.isfinite(values).all() and (values == np.round(values)).all():
            return pd.Series(values.astype(np.int64), index=series.index, name=series.name)
        return series.map(lambda v: repr(float(v))).astype(object)
    text = series.astype(str).str.strip()
    if len(text) and text.map(lambda s: bool(_INT_RE.match(s))).all():
        try:
            return text.astype(np.int64)
        except (OverflowError, ValueError):
            pass
    return text.astype(object)


def write_table(path: str, df: "pd.DataFrame", metadata: Mapping[str, Any] | None = None) -> str:
    """Write ``df`` atomically as CSV/TSV/Parquet (by extension); Parquet keeps ``metadata`` (JSON)."""
    _pandas()
    path = os.fspath(path)
    fmt = table_format(path)
    # extension last: compression inferred from the name (.csv.gz) applies to the temp file too
    with atomic_path(path, extension_last=True) as tmp:
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            if metadata:
                meta = dict(table.schema.metadata or {})
                meta[METADATA_KEY.encode()] = json.dumps(dict(metadata), sort_keys=True, default=str).encode()
                table = table.replace_schema_metadata(meta)
            pq.write_table(table, tmp)
        else:
            df.to_csv(tmp, sep="\t" if fmt == "tsv" else ",", index=False, lineterminator="\n")
    return path


def read_table_metadata(path: str) -> dict[str, Any]:
    """The provenance a FilmAI node stored in a Parquet table ({} for CSV or foreign files)."""
    path = os.fspath(path)
    if table_format(path) != "parquet":
        return {}
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception as exc:
        raise BadInput(f"{path}: not a readable Parquet table: {exc}") from None
    raw = meta.get(METADATA_KEY.encode())
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return {}
