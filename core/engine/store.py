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
its manifest before a run reuses it (:meth:`ArtifactStore.trusted`) and before its fit summary is read
(:meth:`ArtifactStore.info`, through which a method reads what a task decided); a store instance (one per run)
checks an entry once and checks it again only when one of its files changed. An entry is also bound to
its key: the key recomputed from task.json's kind, numerics and spec must be the folder's name, so a
folder holding another entry's files (a consistent copy, manifest and all) is no more trusted than a
truncated one; and every JSON file must be readable. A damaged entry (truncated, edited, a file
missing, weights or outputs changed after training, another task's files) is reported once, moved
aside to a ``.damaged-*`` folder (``musefuse store gc`` removes those) and its task trained again; a
file where a prefix folder belongs is moved aside the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from musefuse.core import fileio, procs
from musefuse.core.engine.task import task_key
from musefuse.core.errors import RunFolderError

STORE_ENV = "MUSEFUSE_STORE"
_STALE_TMP_SECONDS = 24 * 3600  # a temporary folder this old belongs to a process that died
MANIFEST = "manifest.json"
FILES = ("model.safetensors", "model.json", "signals.safetensors", "fit.json", "task.json")  # what MANIFEST covers
JSON_FILES = ("task.json", "fit.json", "model.json")  # each must hold a JSON object
DAMAGED = ".damaged-"  # prefix of an entry moved aside


def default_store() -> Path:
    """``$MUSEFUSE_STORE``; else ``store/`` in ``$MUSEFUSE_CACHE_DIR``; else in the user cache folder."""
    env = os.environ.get(STORE_ENV, "").strip()
    return Path(env).expanduser() if env else fileio.cache_folder("store")


class ArtifactStore:
    """A folder of finished task outputs, addressed by task key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # key -> the files' stamps when this instance found the entry intact: checked once per run, not once per read
        self._intact: dict[str, tuple[tuple[int, int, int], ...]] = {}
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
        """The key of every entry, complete or not (temporary and damaged folders excluded; a file under an
        entry's name is listed: :meth:`problem` reports it)."""
        for prefix in sorted(self.root.iterdir()):
            if _is_prefix(prefix.name) and prefix.is_dir():
                yield from (p.name for p in sorted(prefix.iterdir()) if p.name.startswith(prefix.name))

    def strays(self) -> list[tuple[Path, str]]:
        """What blocks whole groups of entries: a file where a prefix folder (STORE/<key[:2]>) belongs."""
        return [(p, "a file where a folder of entries belongs") for p in sorted(self.root.iterdir())
                if _is_prefix(p.name) and not p.is_dir()]

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
        """What is wrong with the entry ``key`` (None: its files are those that were written, readable, and
        hold the task whose key is ``key``)."""
        folder = self.path(key)
        if folder.parent.exists() and not folder.parent.is_dir():
            return f"{folder.parent} is a file where the folder of entries {folder.parent.name}… belongs"
        if not folder.is_dir():
            return "a file where the entry's folder belongs" if folder.exists() else "the entry is missing"
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            problem = _legacy_problem(folder)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return f"{MANIFEST} is unreadable"
        else:
            digests = manifest.get("sha256") if isinstance(manifest, dict) else None
            if not isinstance(digests, dict) or set(digests) != set(FILES):
                return f"{MANIFEST} does not list the entry's files"
            problem = fileio.checksum_problem(folder, {name: digests[name] for name in FILES})
        return problem or _content_problem(folder, key)

    def trusted(self, key: str, label: str, warn: Callable[[str], None]) -> bool:
        """True when the entry is there and intact. A damaged or incomplete entry is reported through
        ``warn`` (naming its key and task), moved aside, and False returned: the task is trained again.
        A file in the place of the entry's prefix folder is reported and moved aside too."""
        folder = self.path(key)
        self._unblock(folder.parent, warn)
        if not folder.exists():
            return False
        problem = self._checked(key)
        if problem is None:
            if not (folder / MANIFEST).exists():
                self._adopt(key)
            return True
        aside = self._move_aside(key)
        where = f"moved to {aside}; `musefuse store gc` removes it" if aside else "removed"
        warn(f"artifact store entry {key[:12]} ({label}) is damaged: {problem}. It is {where}; "
             "the task is trained again.")
        return False

    def _checked(self, key: str) -> str | None:
        """:meth:`problem`, remembered while the entry's files stay as they were (same inode, size and modification
        time each): a run checks an entry once, not again for each read (trusted, then its fit summary; a decision's
        choice when the run is collected). Any file replaced, rewritten or removed is checked again."""
        stamp = _stamp(self.path(key))  # taken before hashing: a file changed meanwhile does not match it later
        if stamp is not None and self._intact.get(key) == stamp:
            return None
        problem = self.problem(key)
        if problem is None and stamp is not None:
            self._intact[key] = stamp
        return problem

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
        return _aside(self.path(key))

    def _unblock(self, prefix: Path, warn: Callable[[str], None] | None) -> None:
        """Move aside a file that stands where the prefix folder ``prefix`` belongs (it blocks every entry
        under it: nothing could be written there), reporting it through ``warn``."""
        if not prefix.exists() or prefix.is_dir():
            return
        aside = _aside(prefix)
        if warn is not None:
            where = f"moved to {aside}; `musefuse store gc` removes it" if aside else "removed"
            warn(f"artifact store: {prefix} is a file where the folder of entries {prefix.name}… belongs. It is "
                 f"{where}; the tasks whose entries belong there are trained again.")

    def remove(self, key: str) -> None:
        """Delete one entry (renamed first, so no reader ever sees it half-deleted)."""
        aside = self._move_aside(key)
        if aside is not None:
            delete(aside)

    def leftovers(self, min_age: float = 0.0) -> list[Path]:
        """Temporary folders at least ``min_age`` seconds old and entries (or files) moved aside as damaged."""
        now, out = time.time(), sorted(self.root.glob(f"{DAMAGED}*"))  # files moved out of a prefix's place
        for prefix in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
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

    def info(self, key: str) -> dict[str, Any] | None:
        """The fit summary (fit.json) of the finished entry ``key``, read only once the entry is checked
        (:meth:`problem`: checksums, readable JSON, bound to ``key``). None when it is absent or damaged: a
        damaged entry is left where it is, for :meth:`trusted` to report, move aside and have trained again."""
        if not self.has(key) or self._checked(key) is not None:
            return None
        return json.loads((self.path(key) / "fit.json").read_text(encoding="utf-8"))

    def fit_info(self, key: str) -> dict[str, Any]:
        """The fit summary of an entry that must be there and intact (a damaged one is a RunFolderError)."""
        info = self.info(key)
        if info is None:
            raise RunFolderError(f"artifact store entry {key[:12]} cannot be read: {self.problem(key)}.")
        return info

    # -- writing -------------------------------------------------------------------------------
    def put(self, key: str, task: dict[str, Any], tensors: dict[str, Any], meta: dict[str, Any],
            signals: dict[str, np.ndarray], fit: dict[str, Any]) -> None:
        """Write one finished task atomically (a temporary folder renamed into place)."""
        final = self.path(key)
        if self.has(key) and self.problem(key) is None:
            return
        self._unblock(final.parent, None)
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


class WorkerStore(ArtifactStore):
    """The artifact store as a worker process writes it: never once the process that started it is gone.

    A worker that was stopped and resumes after its run died (or a platform without PR_SET_PDEATHSIG)
    would otherwise write a finished task into a store that another run may be using by then.
    """

    def __init__(self, root: Path, parent_pid: int) -> None:
        super().__init__(root)
        self.parent = parent_pid

    def put(self, key: str, *args: Any, **kwargs: Any) -> None:
        if os.getppid() != self.parent:
            procs.orphaned()
        super().put(key, *args, **kwargs)


def _stamp(folder: Path) -> tuple[tuple[int, int, int], ...] | None:
    """(inode, size, modification time) of each of an entry's files and its manifest; None when one is missing."""
    stamps = []
    for name in (*FILES, MANIFEST):
        try:
            st = (folder / name).stat()
        except OSError:
            return None
        stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(stamps)


def _manifest(folder: Path) -> dict[str, Any]:
    return {"sha256": fileio.checksums(folder, FILES)}


def _is_prefix(name: str) -> bool:
    return len(name) == 2 and all(c in string.hexdigits for c in name)


def _aside(path: Path) -> Path | None:
    """Rename ``path`` (an entry, or a file in a prefix folder's place) to a ``.damaged-*`` sibling; None when
    it could only be deleted, or another process already moved it."""
    aside = path.parent / f"{DAMAGED}{path.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    try:
        os.rename(path, aside)
        return aside
    except FileNotFoundError:
        return None
    except OSError:
        delete(path)
        return None


def delete(path: Path) -> None:
    """Remove a folder or a file, ignoring errors (what is left, `musefuse store gc` lists again)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def _content_problem(folder: Path, key: str) -> str | None:
    """What checksums cannot see: a JSON file that is not a JSON object (a consistent manifest vouches for
    whatever it lists), or a folder holding another task's files: the key recomputed from task.json's kind,
    numerics and spec must be the folder's name. None when neither."""
    read: dict[str, Any] = {}
    for name in JSON_FILES:
        try:
            read[name] = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return f"{name} is not readable JSON"
        if not isinstance(read[name], dict):
            return f"{name} is not a JSON object"
    task = read["task.json"]
    if not {"kind", "numerics", "spec"} <= task.keys():
        return "task.json does not describe a task (its kind, numerics and spec)"
    try:
        actual = task_key(task["kind"], task["spec"], task["numerics"])
    except (TypeError, ValueError):
        return "task.json does not describe a task (its spec cannot be hashed)"
    if actual != key:
        return (f"it holds the files of another task ({task['kind']} '{task.get('label', '?')}', key "
                f"{actual[:12]}), not of the task its key names")
    if task.get("key", key) != key:
        return f"task.json names another key ({str(task['key'])[:12]})"
    return None


def _legacy_problem(folder: Path) -> str | None:
    """An entry without a manifest (written before checksums were kept): it must load completely and
    hold only finite numbers. None when it does."""
    import torch

    for name in FILES:
        if not (folder / name).is_file():
            return f"{name} is missing"
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
