"""Every file musefuse writes appears complete or not at all, and checkpoints never go through pickle.

Atomic writes (a temporary sibling renamed over the target) of text, JSON, bytes and copies, and
safetensors I/O: torch tensors + JSON metadata for checkpoints, numpy arrays for per-subject signals.
The run folder (musefuse.core.runs.runfolder), the artifact store, the CSV cache and ``extract`` all
write through here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import platformdirs
import safetensors.numpy

from musefuse.core.errors import RunFolderError, first_line

CACHE_ENV = "MUSEFUSE_CACHE_DIR"

_UMASK = os.umask(0)
os.umask(_UMASK)


def cache_folder(name: str) -> Path:
    """musefuse's cache folder ``name`` (``data``, ``store``, ``synth``): under ``$MUSEFUSE_CACHE_DIR`` when it
    is set and non-empty, else under the per-user cache folder."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser() / name
    return Path(platformdirs.user_cache_dir("musefuse")) / name


@contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` only on success.

    Temporary names are ``.<name>.<random>.tmp`` (a run folder recognises them as left by a killed write).
    """
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


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def read_json(path: Path) -> Any:
    """A JSON file's content; None when it is absent or unreadable (not UTF-8, not JSON).

    For files that are looked at, not relied on (a run folder's notes on who wrote it, a check that two
    files agree): where a damaged file is an error, read it and name the file in the error instead.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object file's content; {} when it is absent, unreadable or not an object."""
    raw = read_json(path)
    return raw if isinstance(raw, dict) else {}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def copy_file(src: Path, dst: Path) -> None:
    with open(src, "rb") as source, atomic_open(dst, "wb") as fh:
        shutil.copyfileobj(source, fh)


# -- checksums (the artifact store's entries and run folders) ------------------------------------------


def sha256(path: Path) -> str:
    """The sha256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksums(folder: Path, names: Iterable[str]) -> dict[str, str]:
    """sha256 of each file ``folder / name`` (names are relative paths with '/')."""
    return {name: sha256(Path(folder) / name) for name in names}


def checksum_problem(folder: Path, digests: dict[str, str]) -> str | None:
    """The first file of ``folder`` that is not what :func:`checksums` recorded (missing, unreadable or
    changed), as a phrase naming it; None when every file is as it was written."""
    for name, digest in digests.items():
        try:
            if sha256(Path(folder) / name) != digest:
                return f"{name} differs from what was written (checksum mismatch)"
        except FileNotFoundError:
            return f"{name} is missing"
        except IsADirectoryError:
            return f"{name} is a folder, not a file"
        except OSError as exc:
            return f"{name} cannot be read ({exc.strerror or first_line(exc)})"
    return None


# -- safetensors ---------------------------------------------------------------------------------------


def save_tensors(path: Path, tensors: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
    """torch tensors -> PATH.safetensors, meta -> PATH.json (both atomic; never pickle)."""
    from safetensors.torch import save

    path = Path(path)
    write_bytes(path.with_suffix(".safetensors"), save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}))
    write_json(path.with_suffix(".json"), meta or {})


def load_tensors(path: Path, device: Any = "cpu") -> tuple[dict[str, Any], dict[str, Any]]:
    """Inverse of :func:`save_tensors`; a missing, unreadable or non-finite checkpoint names its file."""
    import torch

    path = Path(path)
    st, js = path.with_suffix(".safetensors"), path.with_suffix(".json")
    if not st.exists() or not js.exists():
        raise RunFolderError(f"Checkpoint {st} (and its .json) is missing: is this a finished run folder?")
    try:
        tensors = read_tensors(st, device)
    except Exception as exc:  # safetensors raises its own error type for truncated or random bytes
        raise RunFolderError(f"{st}: not a readable safetensors checkpoint ({first_line(exc)}); the run folder "
                             "is damaged: train the run again.") from None
    try:
        meta = json.loads(js.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{js}: not readable checkpoint metadata ({first_line(exc)}); the run folder is "
                             "damaged: train the run again.") from None
    if not isinstance(meta, dict):
        raise RunFolderError(f"{js}: checkpoint metadata must be a JSON object, not {type(meta).__name__}.")
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise RunFolderError(f"{st}: tensor '{name}' holds NaN or inf; the run folder is damaged (or its "
                                 "training diverged): train the run again.")
    return tensors, meta


def read_tensors(path: Path, device: Any = "cpu") -> dict[str, Any]:
    """A .safetensors file as torch tensors, unchecked (:func:`load_tensors` checks them and explains)."""
    from safetensors.torch import load_file

    return load_file(str(path), device=str(device))


def save_signals(path: Path, signals: dict[str, np.ndarray]) -> None:
    """name -> 1-D array, as float32 safetensors (atomic)."""
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in signals.items()}
    write_bytes(path, safetensors.numpy.save(arrays))


def load_signals(path: Path) -> dict[str, np.ndarray]:
    return safetensors.numpy.load_file(str(path))
