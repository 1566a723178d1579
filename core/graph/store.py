"""The artifact store: one folder per finished task, named by the task's key, shared between runs.

Layout::

    STORE/<key[:2]>/<key>/task.json             what the task was (kind, label, its full spec)
    STORE/<key[:2]>/<key>/model.safetensors     checkpoint tensors (never pickle) ...
    STORE/<key[:2]>/<key>/model.json            ... and their JSON metadata (plugin name, shapes)
    STORE/<key[:2]>/<key>/signals.safetensors   per-subject outputs: subject Id -> (T,) float32
    STORE/<key[:2]>/<key>/fit.json              fit summary and per-epoch history
    STORE/<key[:2]>/<key>/manifest.json         sha256 of each file above, taken when it was written

An artifact is built in a private temporary folder and renamed into place in one step, so a
folder under its key is always complete: a task killed half-way leaves only a ``.tmp-*`` folder,
which is never read and is swept on the next write. Two processes that finish the same task keep
the first one's artifact (the content is the same up to the executor, see DESIGN.md).

Like the data cache (``core/data/cache.py``: a checksum stored with each entry, checked on every
read, a mismatch means "rebuild"), the store does not trust its files: an entry is checked against
its manifest before a run reuses it (:meth:`ArtifactStore.trusted`). A damaged one (truncated,
edited, a file missing, weights or outputs changed after training) is reported once, moved aside to
a ``.damaged-*`` folder (``musefuse store gc`` removes those) and its task trained again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from musefuse.core import fileio
from musefuse.core.errors import RunFolderError

STORE_ENV = "MUSEFUSE_STORE"
_STALE_TMP_SECONDS = 24 * 3600  # a temporary folder this old belongs to a process that died
MANIFEST = "manifest.json"
FILES = ("model.safetensors", "model.json", "signals.safetensors", "fit.json", "task.json")  # what MANIFEST covers
DAMAGED = ".damaged-"  # prefix of an entry moved aside


def default_store() -> Path:
    """``$MUSEFUSE_STORE``; else ``store/`` in ``$MUSEFUSE_CACHE_DIR``; else in the user cache folder."""
    env = os.environ.get(STORE_ENV, "").strip()
    return Path(env).expanduser() if env else fileio.cache_folder("store")


class ArtifactStore:
    """A folder of finished task outputs, addressed by task key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(f"--store {self.root}: cannot create the artifact store ({exc.strerror}).") from None

    def path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def has(self, key: str) -> bool:
        """Whether a complete entry (task.json written last) is there; :meth:`trusted` also checks its content."""
        return (self.path(key) / "task.json").is_file()

    def keys(self) -> Iterator[str]:
        """The key of every entry folder, complete or not (temporary and damaged folders excluded)."""
        for prefix in sorted(self.root.iterdir()):
            if len(prefix.name) == 2 and prefix.is_dir():
                yield from (p.name for p in sorted(prefix.iterdir())
                            if p.is_dir() and p.name.startswith(prefix.name) and not p.name.startswith("."))

    def describe(self, key: str) -> tuple[str, str]:
        """(kind, label) of an entry's task, as its task.json says; '?' where it cannot be read."""
        try:
            task = json.loads((self.path(key) / "task.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return "?", "?"
        if not isinstance(task, dict):
            return "?", "?"
        return str(task.get("kind", "?")), str(task.get("label", "?"))

    # -- integrity -------------------------------------------------------------------------------
    def problem(self, key: str) -> str | None:
        """What is wrong with the entry ``key`` (None: its files are those that were written)."""
        folder = self.path(key)
        if not folder.is_dir():
            return "the entry is missing"
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _legacy_problem(folder)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return f"{MANIFEST} is unreadable"
        digests = manifest.get("sha256") if isinstance(manifest, dict) else None
        if not isinstance(digests, dict) or set(digests) != set(FILES):
            return f"{MANIFEST} does not list the entry's files"
        for name in FILES:
            try:
                if _sha256(folder / name) != digests[name]:
                    return f"{name} differs from what was written (checksum mismatch)"
            except FileNotFoundError:
                return f"{name} is missing"
            except OSError as exc:
                return f"{name} cannot be read ({exc.strerror})"
        return None

    def trusted(self, key: str, label: str, warn: Callable[[str], None]) -> bool:
        """True when the entry is there and intact. A damaged or incomplete entry is reported through
        ``warn`` (naming its key and task), moved aside, and False returned: the task is trained again."""
        folder = self.path(key)
        if not folder.exists():
            return False
        problem = self.problem(key)
        if problem is None:
            if not (folder / MANIFEST).exists():
                self._adopt(key)
            return True
        aside = self._move_aside(key)
        where = f"moved to {aside}; `musefuse store gc` removes it" if aside else "removed"
        warn(f"artifact store entry {key[:12]} ({label}) is damaged: {problem}. It is {where}; "
             "the task is trained again.")
        return False

    def _adopt(self, key: str) -> None:
        """Record checksums for an entry written before manifests existed (it passed :func:`_legacy_problem`).

        Why adopt rather than retrain: such an entry was checked to load completely and to hold only
        finite numbers, which catches what goes wrong by accident (truncation, a missing file, NaN);
        what a deliberate edit made before this version cannot be told apart from training, and
        retraining every old entry of a shared store would cost hours. From here on it is checked like
        any other. A read-only store is used as it is.
        """
        folder = self.path(key)
        try:
            fileio.write_json(folder / MANIFEST, _manifest(folder))
        except OSError:
            pass

    def _move_aside(self, key: str) -> Path | None:
        """Rename a damaged entry out of the way (None when it could only be deleted, or another process
        already moved it)."""
        folder = self.path(key)
        aside = folder.parent / f"{DAMAGED}{key}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        try:
            os.rename(folder, aside)
            return aside
        except FileNotFoundError:
            return None
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
            return None

    def remove(self, key: str) -> None:
        """Delete one entry (renamed first, so no reader ever sees it half-deleted)."""
        aside = self._move_aside(key)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)

    def leftovers(self, min_age: float = 0.0) -> list[Path]:
        """Temporary folders at least ``min_age`` seconds old and entries moved aside as damaged."""
        now, out = time.time(), []
        for prefix in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for p in sorted(prefix.glob(".*")):
                try:
                    old = now - p.stat().st_mtime >= min_age
                except OSError:
                    continue
                if p.name.startswith(DAMAGED) or (p.name.startswith(".tmp-") and old):
                    out.append(p)
        return out

    # -- reading -------------------------------------------------------------------------------
    def signals(self, key: str) -> dict[str, np.ndarray]:
        """Subject Id -> (T,) float32 output of a finished task."""
        return fileio.load_signals(self.path(key) / "signals.safetensors")

    def checkpoint(self, key: str) -> Path:
        """The checkpoint's path stem (``model``), for :func:`musefuse.core.runs.fileio.load_tensors`."""
        return self.path(key) / "model"

    def fit_info(self, key: str) -> dict[str, Any]:
        return json.loads((self.path(key) / "fit.json").read_text(encoding="utf-8"))

    def gate_info(self, key: str) -> dict[str, Any] | None:
        """A finished decision task's choice and scores (musefuse.core.learning.decisions); None while it has not
        run."""
        return self.fit_info(key) if self.has(key) else None

    # -- writing -------------------------------------------------------------------------------
    def put(self, key: str, task: dict[str, Any], tensors: dict[str, Any], meta: dict[str, Any],
            signals: dict[str, np.ndarray], fit: dict[str, Any]) -> None:
        """Write one finished task atomically (a temporary folder renamed into place)."""
        final = self.path(key)
        if self.has(key) and self.problem(key) is None:
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        self._sweep(final.parent)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".tmp-{key[:12]}-"))
        try:
            fileio.save_tensors(tmp / "model", tensors, meta)
            fileio.save_signals(tmp / "signals.safetensors", signals)
            fileio.write_json(tmp / "fit.json", fit)
            fileio.write_json(tmp / "task.json", task)  # marks the artifact complete
            fileio.write_json(tmp / MANIFEST, _manifest(tmp))
            if final.exists() and self.problem(key) is not None:  # incomplete or damaged: replace it
                self.remove(key)
            try:
                os.rename(tmp, final)
            except OSError:
                if self.problem(key) is not None:  # not "another process finished it first": a real failure
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def _sweep(folder: Path) -> None:
        """Remove temporary folders left by killed processes (old enough to be nobody's)."""
        now = time.time()
        for p in folder.glob(".tmp-*"):
            try:
                if now - p.stat().st_mtime > _STALE_TMP_SECONDS:
                    shutil.rmtree(p, ignore_errors=True)
            except OSError:
                pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest(folder: Path) -> dict[str, Any]:
    return {"sha256": {name: _sha256(folder / name) for name in FILES}}


def _legacy_problem(folder: Path) -> str | None:
    """An entry without a manifest (written before checksums were kept): it must load completely and
    hold only finite numbers. None when it does."""
    import torch

    for name in FILES:
        if not (folder / name).is_file():
            return f"{name} is missing"
    for name in ("task.json", "fit.json", "model.json"):
        try:
            if not isinstance(json.loads((folder / name).read_text(encoding="utf-8")), dict):
                return f"{name} is not a JSON object"
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return f"{name} is not readable JSON"
    try:
        signals = fileio.load_signals(folder / "signals.safetensors")
        tensors = fileio.read_tensors(folder / "model.safetensors")
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own types for truncated or random bytes
        return f"a safetensors file is unreadable ({type(exc).__name__})"
    if any(v.ndim != 1 or not np.isfinite(v).all() for v in signals.values()):
        return "signals.safetensors holds NaN, inf or a non-1-D signal"
    if any(t.is_floating_point() and not bool(torch.isfinite(t).all()) for t in tensors.values()):
        return "model.safetensors holds NaN or inf"
    return None
