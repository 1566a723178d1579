"""Low-level readers for the MuSe CSV layout (see docs/data.md).

Each reader parses one file, finds its columns by name, and turns every malformed input into a
:class:`~musefuse.core.errors.DataError` naming the file and, where it applies, the row and column.
Rows are reported as "data row N (CSV line N+1)": data row 1 is the first row after the header.
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from musefuse.core.data.table import FeatureTable
from musefuse.core.errors import DataError, first_line

# Bump when a reader's output for the same bytes changes: it invalidates every cache entry and
# changes every dataset fingerprint.
READER_VERSION = "2"  # 2: non-finite values and short rows are refused

PARTITION_FILE = Path("metadata") / "partition.csv"
PARTITION_VALUES = ("train", "devel", "test")

# Columns of a feature file that are not features (matched case-insensitively).
NON_FEATURE_COLUMNS = frozenset({"timestamp", "segment_id", "subject_id", "id"})


class WidthMismatch(DataError):
    """A feature file's number of feature columns differs from the width asked for."""

    def __init__(self, path: Path, found: int, expected: int) -> None:
        super().__init__(f"{path}: has {found} feature columns, but {expected} were expected.")
        self.path, self.found, self.expected = path, found, expected


def _where(row: int) -> str:
    """'data row 3 (CSV line 4)' for 0-based data row index 2."""
    return f"data row {row + 1} (CSV line {row + 2})"


def _header(path: Path) -> list[str] | None:
    """Column names of a CSV file, or None when the file is empty (not even a header).

    Read with the csv module: asking pandas for ``nrows=0`` builds one empty Series per column,
    which costs as much as parsing a 4096-wide DeepSpectrum file.
    """
    if not path.is_file():
        raise DataError(f"{path}: {not_a_file(path)}.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            row = next(csv.reader(fh), None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the CSV header ({first_line(exc)}).") from None
    if not row or not any(c.strip() for c in row):
        return None
    seen: set[str] = set()
    for c in row:
        if c in seen:
            raise DataError(f"{path}: the header names column '{c}' twice.")
        seen.add(c)
    return row


def not_a_file(path: Path, what: str = "file") -> str:
    """Why ``path`` cannot be read as a file: 'file not found', or what is there instead."""
    if path.is_dir():
        return f"is a folder, not a {what}"
    if path.is_symlink():
        return f"is a symbolic link to {os.readlink(path)}, which does not exist (no {what} there)"
    return f"{what} not found"


def _find(columns: list[str], name: str) -> str | None:
    """The column called ``name`` (case and surrounding blanks ignored), or None."""
    for c in columns:
        if c.strip().lower() == name:
            return c
    return None


def _require(path: Path, columns: list[str], names: tuple[str, ...]) -> list[str]:
    found = [_find(columns, n) for n in names]
    missing = [n for n, c in zip(names, found, strict=True) if c is None]
    if missing:
        shown = ", ".join(columns[:8]) + (", …" if len(columns) > 8 else "")
        raise DataError(
            f"{path}: missing column(s) {', '.join(repr(m) for m in missing)}. "
            f"Expected {', '.join(names)} (by name, any order); the header has: {shown or '(nothing)'}."
        )
    return [c for c in found if c is not None]


def _read_numeric(path: Path, numeric: list[str], dtype: type | dict[str, type], usecols: bool = False) -> pd.DataFrame:
    """Parse the file with the fast C parser; on a non-numeric cell among ``numeric``, find and name it."""
    try:
        # No usecols by default: with it, pandas silently drops the extra cells of a ragged row.
        with warnings.catch_warnings():  # '1e39' overflows float32 to inf: refused below, by name
            warnings.simplefilter("ignore", RuntimeWarning)
            return pd.read_csv(path, engine="c", dtype=dtype, low_memory=False, usecols=numeric if usecols else None)
    except ValueError as exc:
        if isinstance(exc, pd.errors.ParserError):
            raise DataError(f"{path}: cannot parse the CSV ({first_line(exc)}).") from None
        _raise_non_numeric(path, numeric, exc)
        raise  # unreachable: _raise_non_numeric always raises


def _raise_non_numeric(path: Path, columns: list[str], exc: Exception) -> None:
    """Slow path, taken only on failure: re-read as text and name the first non-numeric cell."""
    try:
        text = pd.read_csv(path, engine="c", dtype=str, usecols=columns, low_memory=False)
    except (ValueError, pd.errors.ParserError) as again:
        raise DataError(f"{path}: cannot parse the CSV ({first_line(again)}).") from None
    best: tuple[int, int, str, str] | None = None  # (row, column position, column, cell)
    for pos, col in enumerate(columns):
        raw = text[col]
        bad = raw.notna() & pd.to_numeric(raw, errors="coerce").isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            if best is None or (row, pos) < best[:2]:
                best = (row, pos, col, str(raw.iloc[row]))
    if best is None:
        raise DataError(f"{path}: cannot parse the CSV ({first_line(exc)}).") from None
    row, _, col, cell = best
    raise DataError(f"{path}: {_where(row)}, column '{col}': {cell[:40]!r} is not a number.") from None


def _integer_column(path: Path, values: np.ndarray, col: str) -> np.ndarray:
    """float64 column -> int64, refusing empty and fractional cells."""
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: {_where(row)}, column '{col}': empty or not a finite number.")
    frac = values != np.round(values)
    if frac.any():
        row = int(np.flatnonzero(frac)[0])
        if col.strip().lower() == "timestamp" and len(values) > 1 and np.median(np.diff(values)) < 10:  # 0.5, 1.0…
            raise DataError(f"{path}: {_where(row)}, column '{col}': {values[row]:g} is not a whole number; the "
                            "timestamps look like seconds, expected milliseconds (multiply them by 1000).")
        raise DataError(f"{path}: {_where(row)}, column '{col}': {values[row]:g} is not a whole number.")
    return values.astype(np.int64)


def check_finite(path: Path, values: np.ndarray, columns: list[str] | None = None) -> None:
    """Refuse ``inf`` (or a value beyond float32's range, which parses as inf); NaN is a missing value.

    ``values`` is (T,) or (T, D); the error names the first bad cell's row and column.
    """
    bad = np.isinf(values)
    if not bad.any():
        return
    cells = np.argwhere(bad.reshape(len(values), -1))
    row, col = int(cells[0][0]), int(cells[0][1])
    name = columns[col] if columns is not None else f"feature column {col + 1}"
    raise DataError(
        f"{path}: {_where(row)}, column '{name}': the value is not finite (inf, or beyond float32's range "
        f"of ±3.4e38); {len(cells)} such cell(s) in the file. Use an empty cell or NaN for a missing value."
    )


def _check_short_rows(path: Path, n_columns: int, last_column: pd.Series) -> None:
    """Refuse a row with fewer cells than the header (pandas would silently fill it with NaN).

    Only a row whose last cell came back empty can be short, so the file is re-read only then.
    """
    if not last_column.isna().to_numpy().any():
        return
    with open(path, encoding="utf-8-sig", newline="") as fh:
        fh.readline()  # the header
        row = 0
        for line in fh:
            if not line.strip():
                continue  # pandas skips blank lines too
            cells = len(next(csv.reader([line]))) if '"' in line else line.count(",") + 1
            if cells < n_columns:
                raise DataError(
                    f"{path}: {_where(row)}: {cells} cell(s), but the header has {n_columns} columns. Every row "
                    "needs one cell per column; leave a cell empty ('1,,3') for a missing value."
                )
            row += 1


def _check_increasing(path: Path, ts: np.ndarray, col: str) -> None:
    step = np.diff(ts)
    bad = step <= 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0]) + 1  # the row that repeats or goes back
        what = "repeats" if step[i - 1] == 0 else "is smaller than"
        raise DataError(
            f"{path}: {_where(i)}, column '{col}': timestamp {ts[i]} {what} the previous row's "
            f"({ts[i - 1]}); timestamps must be strictly increasing."
        )


def read_feature_csv(path: Path, width: int | None = None) -> FeatureTable:
    """One subject's features: ``timestamp,segment_id,<feature columns…>`` in any column order.

    Feature columns are every column except timestamp, segment_id, subject_id and Id. Cells may be
    empty or NaN (a row of NaN is a missing frame). ``width``, when given, is checked.
    """
    path = Path(path)
    columns = _header(path)
    if columns is None:
        raise DataError(f"{path}: the file is empty; expected a header 'timestamp,segment_id,<features…>'.")
    ts_col, seg_col = _require(path, columns, ("timestamp", "segment_id"))
    feats = [c for c in columns if c.strip().lower() not in NON_FEATURE_COLUMNS]
    if width is not None and len(feats) != width:
        raise WidthMismatch(path, len(feats), width)
    if len(feats) + 2 == len(columns):
        # The usual file: one float32 dtype for every column parses a 4096-wide file about 1.5x
        # faster than a per-column dtype mapping. float32 holds whole numbers exactly below 2**24
        # (4.6 hours in ms); beyond that, the two id columns are parsed again as float64.
        df = _read_numeric(path, columns, np.float32)
        ids = df[[ts_col, seg_col]].to_numpy(np.float64)
        if len(ids) and np.nanmax(np.abs(ids)) >= 2**24:
            ids = _read_numeric(path, [ts_col, seg_col], np.float64, usecols=True)[[ts_col, seg_col]].to_numpy()
    else:  # extra id columns (subject_id, Id) may hold text: parse only what we use as numbers
        dtypes: dict[str, type] = {ts_col: np.float64, seg_col: np.float64}
        dtypes.update(dict.fromkeys(feats, np.float32))
        df = _read_numeric(path, list(dtypes), dtypes)
        ids = df[[ts_col, seg_col]].to_numpy(np.float64)
    _check_short_rows(path, len(columns), df.iloc[:, -1])
    ts = _integer_column(path, ids[:, 0], ts_col)
    seg = _integer_column(path, ids[:, 1], seg_col)
    _check_increasing(path, ts, ts_col)
    values = np.ascontiguousarray(df[feats].to_numpy(dtype=np.float32))
    check_finite(path, values, feats)
    return FeatureTable(timestamps=ts, segment_ids=seg, values=values)


def read_label_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One subject's labels for one target: ``timestamp,value,segment_id`` in any column order.

    Returns (timestamps int64 (T,), values float32 (T,), segment_ids int64 (T,)). An empty file, a
    header without rows, or empty value cells are hidden labels: NaN values, not an error.
    """
    path = Path(path)
    columns = _header(path)
    if columns is None:  # an empty file: hidden labels
        return np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64)
    ts_col, val_col, seg_col = _require(path, columns, ("timestamp", "value", "segment_id"))
    df = _read_numeric(path, [ts_col, val_col, seg_col], {ts_col: np.float64, val_col: np.float32, seg_col: np.float64})
    _check_short_rows(path, len(columns), df.iloc[:, -1])
    ts = _integer_column(path, df[ts_col].to_numpy(), ts_col)
    seg = _integer_column(path, df[seg_col].to_numpy(), seg_col)
    _check_increasing(path, ts, ts_col)
    values = df[val_col].to_numpy(dtype=np.float32)
    check_finite(path, values, [val_col])
    return ts, values, seg


def read_partitions(root: Path, strict: bool = True) -> dict[str, str]:
    """``metadata/partition.csv`` as {subject Id: partition}, in file order. Ids are strings (file stems).

    ``strict=False`` (new data to predict on) accepts any partition name, or an empty one.
    """
    path = Path(root) / PARTITION_FILE
    if not path.is_file():
        raise DataError(
            f"{path}: partition file not found. A MuSe-layout folder has metadata/partition.csv "
            "with columns Id,Partition (Partition is train, devel or test)."
        )
    columns = _header(path)
    if columns is None:
        raise DataError(f"{path}: the file is empty; expected a header 'Id,Partition'.")
    id_col, part_col = _require(path, columns, ("id", "partition"))
    try:
        df = pd.read_csv(path, engine="c", dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot parse the CSV ({first_line(exc)}).") from None
    out: dict[str, str] = {}
    for row, (sid, part) in enumerate(zip(df[id_col], df[part_col], strict=True)):
        sid, part = sid.strip(), part.strip().lower()
        if not sid or sid in {".", ".."} or "/" in sid or "\\" in sid:
            raise DataError(f"{path}: {_where(row)}, column '{id_col}': {sid!r} is not a valid subject Id.")
        if strict and part not in PARTITION_VALUES:
            raise DataError(
                f"{path}: {_where(row)}, column '{part_col}': unknown partition {part!r} for subject "
                f"'{sid}'. Known: {', '.join(PARTITION_VALUES)}."
            )
        if sid in out:
            raise DataError(f"{path}: {_where(row)}, column '{id_col}': subject '{sid}' is listed twice.")
        out[sid] = part
    return out


def write_feature_csv(path: Path | IO[str], table: FeatureTable, columns: list[str] | None = None) -> None:
    """Write one subject's features in the MuSe layout (``timestamp,segment_id,<columns…>``) to a file or an
    open text file (e.g. one of :func:`musefuse.core.fileio.atomic_open`)."""
    columns = columns or [f"f{i}" for i in range(table.values.shape[1])]
    df = pd.DataFrame(table.values, columns=columns)
    df.insert(0, "segment_id", table.segment_ids)
    df.insert(0, "timestamp", table.timestamps)
    if isinstance(path, (str, Path)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, float_format="%.6g")


def write_label_csv(path: Path, timestamps: np.ndarray, values: np.ndarray, segment_ids: np.ndarray) -> None:
    """Write one subject's labels for one target in the MuSe layout (``timestamp,value,segment_id``)."""
    df = pd.DataFrame({"timestamp": timestamps, "value": values, "segment_id": segment_ids})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, float_format="%.6g")
