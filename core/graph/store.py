"""The artifact store: one folder per finished task, named by the task's key, shared between runs.

Layout::

    STORE/<key[:2]>/<key>/task.json             what the task was (kind, label, its full spec)
    STORE/<key[:2]>/<key>/model.safetensors     checkpoint tensors (never pickle) ...
    STORE/<key[:2]>/<key>/model.json            ... and their JSON metadata (plugin name, shapes)
    STORE/<key[:2]>/<key>/signals.safetensors   per-subject outputs: subject Id -> (T,) float32
    STORE/<key[:2]>/<key>/fit.json              fit summary and per-epoch history

An artifact is built in a private temporary folder and renamed into place in one step, so a
folder under its key is always complete: a task killed half-way leaves only a ``.tmp-*`` folder,
which is never read and is swept on the next write. Two processes that finish the same task keep
the first one's artifact (the content is the same up to the executor, see DESIGN.md).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from musefuse.core.errors import RunFolderError
from musefuse.core.runs import runfolder

STORE_ENV = "MUSEFUSE_STORE"
_STALE_TMP_SECONDS = 24 * 3600  # a temporary folder this old belongs to a process that died


def default_store() -> Path:
    """``$MUSEFUSE_STORE``; else ``store/`` in ``$MUSEFUSE_CACHE_DIR``; else in the user cache folder."""
    for var, sub in ((STORE_ENV, ""), ("MUSEFUSE_CACHE_DIR", "store")):
        env = os.environ.get(var, "").strip()
        if env:
            return Path(env).expanduser() / sub
    import platformdirs

    return Path(platformdirs.user_cache_dir("musefuse")) / "store"


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
        return (self.path(key) / "task.json").is_file()

    # -- reading -------------------------------------------------------------------------------
    def signals(self, key: str) -> dict[str, np.ndarray]:
        """Subject Id -> (T,) float32 output of a finished task."""
        from safetensors.numpy import load_file

        return load_file(str(self.path(key) / "signals.safetensors"))

    def checkpoint(self, key: str) -> Path:
        """The checkpoint's path stem (``model``), for :func:`musefuse.core.runs.runfolder.load_tensors`."""
        return self.path(key) / "model"

    def fit_info(self, key: str) -> dict[str, Any]:
        return json.loads((self.path(key) / "fit.json").read_text(encoding="utf-8"))

    def gate_info(self, key: str) -> dict[str, Any] | None:
        """A finished gate task's choice and scores (musefuse.core.graph.gate); None while it has not run."""
        return self.fit_info(key) if self.has(key) else None

    # -- writing -------------------------------------------------------------------------------
    def put(self, key: str, task: dict[str, Any], tensors: dict[str, Any], meta: dict[str, Any],
            signals: dict[str, np.ndarray], fit: dict[str, Any]) -> None:
        """Write one finished task atomically (a temporary folder renamed into place)."""
        from safetensors.numpy import save

        final = self.path(key)
        if self.has(key):
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        self._sweep(final.parent)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".tmp-{key[:12]}-"))
        try:
            runfolder.save_tensors(tmp / "model", tensors, meta)
            blob = save({sid: np.ascontiguousarray(v, dtype=np.float32) for sid, v in signals.items()})
            with runfolder.atomic_open(tmp / "signals.safetensors", "wb") as fh:
                fh.write(blob)
            runfolder.write_json(tmp / "fit.json", fit)
            runfolder.write_json(tmp / "task.json", task)  # last: marks the artifact complete
            if final.exists() and not self.has(key):  # incomplete (e.g. a half-copied store): replace it
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.rename(tmp, final)
            except OSError:
                if not self.has(key):  # not "another process finished it first": a real failure
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
