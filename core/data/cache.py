"""A binary cache of parsed CSV files, so each CSV is parsed once.

One entry per source file: an uncompressed ``.npz`` of its arrays plus a JSON key, named after a
hash of the file's absolute path and of what reads it. The key holds the file's size and mtime_ns,
:data:`~musefuse.core.data.museio.READER_VERSION` and the reader (modality class and declared width);
when any of them differs the entry is rebuilt and overwritten. The key also holds a CRC-32 of the
arrays' bytes, their dtypes and shapes, checked on every read: an entry whose content does not
match (edited, truncated, an array missing) is ignored and the CSV parsed again. Entries are
written atomically (:mod:`musefuse.core.fileio`) and read with ``allow_pickle=False``.

Location: :func:`musefuse.core.fileio.cache_folder` ``('data')``.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from musefuse.core import fileio
from musefuse.core.data.museio import READER_VERSION, check_finite, read_feature_csv, read_label_csv
from musefuse.core.errors import DataError, MusefuseError
from musefuse.core.interfaces import FeatureTable, Modality

Labels = tuple[np.ndarray, np.ndarray, np.ndarray]  # timestamps int64, values float32, segment_ids int64


def file_key(path: Path) -> tuple[int, int]:
    """(size, mtime_ns) of a file: what the cache and the dataset fingerprint are keyed on."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


class Cache:
    """Parsed arrays of source files, keyed by (path, size, mtime_ns, reader). ``None`` dir: no cache."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.hits = 0
        self.misses = 0

    def features(self, path: Path, modality: Modality) -> FeatureTable:
        """``modality.read(path)``, from the cache when the file is unchanged.

        A modality with the default reader is read without its width check: the loader compares
        widths across files (a declared width is the usual one, not a law). A plugin's own reader
        that raises, returns something else than a FeatureTable, or returns inf becomes a DataError.
        """
        if type(modality).read is Modality.read:
            reader = "read_feature_csv"
            arrays = self._get(path, "features", reader, lambda: _table_arrays(read_feature_csv(path)))
        else:
            reader = f"{type(modality).__module__}.{type(modality).__qualname__}:{modality.width}"
            arrays = self._get(path, "features", reader, lambda: _table_arrays(_plugin_read(modality, path)))
        return FeatureTable(arrays["timestamps"], arrays["segment_ids"], arrays["values"])

    def labels(self, path: Path) -> Labels:
        """``read_label_csv(path)``, from the cache when the file is unchanged."""
        arrays = self._get(path, "labels", "read_label_csv", lambda: _label_arrays(read_label_csv(path)))
        return arrays["timestamps"], arrays["values"], arrays["segment_ids"]

    # -- internals -------------------------------------------------------------------------------

    def _get(self, path: Path, kind: str, reader: str, parse: Callable[[], dict[str, np.ndarray]]):
        if self.directory is None:
            return parse()
        source = Path(path).resolve()
        size, mtime_ns = file_key(source)
        key = {"path": str(source), "size": size, "mtime_ns": mtime_ns, "kind": kind,
               "reader": reader, "reader_version": READER_VERSION}
        name = hashlib.sha256(f"{kind}\0{reader}\0{source}".encode()).hexdigest()[:40]
        entry = self.directory / name[:2] / f"{name}.npz"
        arrays = _load(entry, key)
        if arrays is not None and set(arrays) == {"timestamps", "segment_ids", "values"}:
            self.hits += 1
            return arrays
        self.misses += 1
        arrays = parse()
        if file_key(source) == (size, mtime_ns):  # unchanged while we read it: safe to store
            _store(entry, key, arrays)
        return arrays


def _plugin_read(modality: Modality, path: Path) -> FeatureTable:
    """A third-party reader, held to the FeatureTable contract; whatever goes wrong names the file."""
    who = f"modality '{modality.name}' ({type(modality).__module__}.{type(modality).__qualname__})"
    try:
        table = modality.read(path)
    except MusefuseError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: the reader of {who} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(table, FeatureTable):
        raise DataError(f"{path}: the reader of {who} returned {type(table).__name__}, not a FeatureTable.")
    try:
        ts = np.asarray(table.timestamps, np.int64).reshape(-1)
        seg = np.asarray(table.segment_ids, np.int64).reshape(-1)
        values = np.asarray(table.values, np.float32)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: the reader of {who} returned arrays that are not numeric: {exc}") from None
    if values.ndim != 2 or not len(ts) == len(seg) == len(values):
        raise DataError(f"{path}: the reader of {who} returned timestamps {ts.shape}, segment ids {seg.shape} "
                        f"and values {values.shape}; expected (T,), (T,) and (T, D).")
    if len(ts) > 1 and (np.diff(ts) <= 0).any():
        raise DataError(f"{path}: the reader of {who} returned timestamps that are not strictly increasing.")
    check_finite(path, values)
    return FeatureTable(ts, seg, np.ascontiguousarray(values))


def _table_arrays(t: FeatureTable) -> dict[str, np.ndarray]:
    return {"timestamps": t.timestamps, "segment_ids": t.segment_ids, "values": t.values}


def _label_arrays(labels: Labels) -> dict[str, np.ndarray]:
    return dict(zip(("timestamps", "values", "segment_ids"), labels, strict=True))


def _content(arrays: dict[str, np.ndarray]) -> dict[str, list]:
    """Per array: dtype, shape and CRC-32 of its bytes (about 4 GB/s: cheap next to reading them)."""
    out = {}
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        out[name] = [a.dtype.str, list(a.shape), zlib.crc32(memoryview(a).cast("B")) if a.size else 0]
    return out


def _load(entry: Path, key: dict) -> dict[str, np.ndarray] | None:
    """The entry's arrays when it exists, is readable, has exactly this key and its content matches the
    checksum stored with it; else None (the caller parses the CSV again)."""
    try:
        with np.load(entry, allow_pickle=False) as npz:
            stored = json.loads(str(npz["__key__"]))
            content = stored.pop("content", None) if isinstance(stored, dict) else None
            if stored != key or not isinstance(content, dict):
                return None
            arrays = {k: npz[k] for k in npz.files if k != "__key__"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
        return None  # absent or corrupt: rebuilt by the caller
    return arrays if _content(arrays) == content else None


def _store(entry: Path, key: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically; a cache that cannot be written is skipped, never an error."""
    try:
        header = json.dumps({**key, "content": _content(arrays)}, sort_keys=True)
        with fileio.atomic_open(entry, "wb") as fh:
            np.savez(fh, __key__=np.array(header), **arrays)
    except OSError:
        pass
