"""A binary cache of parsed CSV files, so each CSV is parsed once.

One entry per source file: an uncompressed ``.npz`` of its arrays plus a JSON key, named after a
hash of the file's absolute path and of what reads it. The key holds the file's size and mtime_ns,
:data:`~musefuse.core.data.museio.READER_VERSION` and the reader (modality class and declared width);
when any of them differs the entry is rebuilt and overwritten. Entries are written atomically
(temporary file + ``os.replace``), read with ``allow_pickle=False``, and a corrupt entry is
ignored and rebuilt.

Location: ``$MUSEFUSE_CACHE_DIR``, else ``platformdirs.user_cache_dir('musefuse')/data``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from musefuse.core.data.museio import READER_VERSION, read_label_csv
from musefuse.core.interfaces import FeatureTable, Modality

ENV_VAR = "MUSEFUSE_CACHE_DIR"

Labels = tuple[np.ndarray, np.ndarray, np.ndarray]  # timestamps int64, values float32, segment_ids int64


def default_cache_dir() -> Path:
    """``$MUSEFUSE_CACHE_DIR`` when set and non-empty, else the per-user cache folder."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("musefuse")) / "data"


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
        """``modality.read(path)``, from the cache when the file is unchanged."""
        reader = f"{type(modality).__module__}.{type(modality).__qualname__}:{modality.width}"
        arrays = self._get(path, "features", reader, lambda: _table_arrays(modality.read(path)))
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
        if arrays is not None:
            self.hits += 1
            return arrays
        self.misses += 1
        arrays = parse()
        if file_key(source) == (size, mtime_ns):  # unchanged while we read it: safe to store
            _store(entry, key, arrays)
        return arrays


def _table_arrays(t: FeatureTable) -> dict[str, np.ndarray]:
    return {"timestamps": t.timestamps, "segment_ids": t.segment_ids, "values": t.values}


def _label_arrays(labels: Labels) -> dict[str, np.ndarray]:
    return dict(zip(("timestamps", "values", "segment_ids"), labels, strict=True))


def _load(entry: Path, key: dict) -> dict[str, np.ndarray] | None:
    """The entry's arrays when it exists, is readable and has exactly this key; else None."""
    try:
        with np.load(entry, allow_pickle=False) as npz:
            if json.loads(str(npz["__key__"])) != key:
                return None
            return {k: npz[k] for k in npz.files if k != "__key__"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
        return None  # absent or corrupt: rebuilt by the caller


def _store(entry: Path, key: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically; a cache that cannot be written is skipped, never an error."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, __key__=np.array(json.dumps(key, sort_keys=True)), **arrays)
            os.replace(tmp, entry)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass
