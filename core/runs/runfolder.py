"""The run folder: every file appears complete or not at all (temp file, then rename).

Layout::

    RUN/config.yaml            resolved configuration
    RUN/environment.json       versions, git commit, device, seed, dataset fingerprint
    RUN/standardisation/<modality>.safetensors   train mean/std
    RUN/checkpoints/<name>.safetensors + .json   tensors + metadata, never pickle
    RUN/difficulty/<modality>/<Id>.csv           timestamp,segment_id,value
    RUN/predictions/<stage>/<target>/<Id>.csv    timestamp,segment_id,value (MuSe submission layout)
    RUN/log.txt
    RUN/results.json           written last: its presence means the run finished
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from musefuse.core.errors import RunFolderError

RESULTS = "results.json"
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_open(path: Path, mode: str = "w") -> IO:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; a run folder is meant to be shared and read
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_series(path: Path, timestamps: np.ndarray, segment_ids: np.ndarray, values: np.ndarray) -> None:
    """One subject's signal in the MuSe submission layout: timestamp,segment_id,value."""
    lines = ["timestamp,segment_id,value"]
    lines += [f"{int(t)},{int(s)},{v:.7g}" for t, s, v in zip(timestamps, segment_ids, values, strict=True)]
    write_text(path, "\n".join(lines) + "\n")


def save_tensors(path: Path, tensors: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
    """tensors -> PATH.safetensors, meta -> PATH.json (both atomic; never pickle)."""
    from safetensors.torch import save

    path = Path(path)
    blob = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    with atomic_open(path.with_suffix(".safetensors"), "wb") as fh:
        fh.write(blob)
    write_json(path.with_suffix(".json"), meta or {})


def load_tensors(path: Path, device: Any = "cpu") -> tuple[dict[str, Any], dict[str, Any]]:
    """Inverse of :func:`save_tensors`."""
    from safetensors.torch import load_file

    path = Path(path)
    st, js = path.with_suffix(".safetensors"), path.with_suffix(".json")
    if not st.exists() or not js.exists():
        raise RunFolderError(f"Checkpoint {st} (and its .json) is missing: is this a finished run folder?")
    return load_file(str(st), device=str(device)), json.loads(js.read_text(encoding="utf-8"))


def prepare(out: Path, overwrite: bool) -> Path:
    """Create the run folder; refuse an existing non-empty one unless ``overwrite``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out} exists and is not a folder.")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise RunFolderError(f"Run folder {out} exists and is not empty; choose another --out or pass --overwrite.")
        # Remove the old results first, so a crash half-way never leaves the old results beside new files.
        (out / RESULTS).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


class RunLog:
    """Append-only log of a run (log.txt), mirrored to an optional callback."""

    def __init__(self, path: Path, echo: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.echo = echo
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")

    def __call__(self, message: str) -> None:
        from datetime import datetime

        self._fh.write(f"{datetime.now().isoformat(timespec='seconds')} {message}\n")
        self._fh.flush()
        if self.echo:
            self.echo(message)

    def close(self) -> None:
        self._fh.close()


def require_finished(run: Path) -> Path:
    """A finished run folder, or a clear error."""
    run = Path(run)
    if not (run / RESULTS).exists():
        raise RunFolderError(f"{run} is not a finished musefuse run folder (no {RESULTS}).")
    return run
