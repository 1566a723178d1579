"""The run folder: its layout, the one way into it (:func:`prepare`), its log; files written through core.fileio.

Layout::

    RUN/config.yaml            resolved configuration
    RUN/environment.json       versions, git commit, device, seed, dataset fingerprint, third-party plugin
                               distributions (with versions)
    RUN/standardisation/<modality>.safetensors   train mean/std
    RUN/checkpoints/<name>.safetensors + .json   tensors + metadata, never pickle
    RUN/decisions.json          every choice made from data, with its evidence, and each regressor's models
    RUN/mean_shrink.json        each target's recording-mean shrinkage of the fusion (and its devel scores)
    RUN/difficulty/<modality>/<Id>.csv           timestamp,segment_id,value
    RUN/predictions/<stage>/<target>/<Id>.csv    timestamp,segment_id,value (MuSe submission layout)
    RUN/log.txt                first file of a run (it marks the folder as a run folder); ends with
                               the error when a run fails
    RUN/manifest.json          sha256 of each file predict reads (config.yaml, environment.json, tasks.json,
                               the choices, standardisation/, checkpoints/) and the release that wrote them,
                               taken when the run's model files are complete (:func:`seal`, :func:`verify`)
    RUN/results.json           written last: its presence means the run finished

:func:`prepare` is the one way into a run folder: it creates it, reuses a folder that holds an
unfinished run, clears a finished one only with ``overwrite``, never deletes what a run did not
write, and checks that the folder can be written before any training starts.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from musefuse.core import fileio
from musefuse.core.errors import MusefuseError, RunFolderError, first_line

RESULTS = "results.json"
LOG = "log.txt"
# Everything a run writes at the top of its folder: what prepare() may delete, and nothing else.
# Add a name here when a run starts writing a new top-level file or folder.
RUN_ENTRIES = frozenset({"config.yaml", "environment.json", RESULTS, LOG, "standardisation", "checkpoints",
                         "difficulty", "predictions", "tasks.json", "difficulty_drift.json", "difficulty_inputs.json",
                         "decisions.json", "mean_shrink.json", "manifest.json", "ensemble",
                         "report"})  # musefuse report's default output
MIN_FREE_BYTES = 64 * 2**20  # a run folder of the demo is ~10 MiB; refuse to start with less than this free


def write_series(path: Path, timestamps: np.ndarray, segment_ids: np.ndarray, values: np.ndarray) -> None:
    """One subject's signal in the MuSe submission layout: timestamp,segment_id,value."""
    lines = ["timestamp,segment_id,value"]
    lines += [f"{int(t)},{int(s)},{v:.7g}" for t, s, v in zip(timestamps, segment_ids, values, strict=True)]
    fileio.write_text(path, "\n".join(lines) + "\n")


def os_error(exc: OSError, what: str) -> RunFolderError:
    """An OSError (read-only, disk full, a file where a folder should be) as one readable line."""
    where = exc.filename or what
    return RunFolderError(f"{what}: {exc.strerror or first_line(exc)} ({where}).")


def prepare(out: Path, overwrite: bool, option: str = "--out", entries: frozenset[str] = RUN_ENTRIES) -> Path:
    """Make ``out`` an empty folder a run can write, before any data is read or model trained.

    - absent: created (with its parents);
    - empty: used;
    - holds an unfinished run (``log.txt`` but no ``results.json``, e.g. one that stopped on a
      data error): reused without ``overwrite``, its files removed;
    - holds a finished run (``results.json``): refused unless ``overwrite``; then ``results.json``
      is removed first (a crash never leaves old results beside new files), then every other
      entry in :data:`RUN_ENTRIES`, so the folder ends up holding exactly the new run;
    - holds anything a run does not write: refused, naming it (nothing is deleted that musefuse
      did not write), with or without ``overwrite``;
    - a run still writing to it (its ``log.txt`` is locked): refused.

    Then a file is written and removed to prove the folder is writable, and less than
    :data:`MIN_FREE_BYTES` of free space is refused. Every failure is a :class:`RunFolderError`
    naming ``option`` and the folder; an OSError never escapes. ``entries``: the top-level names
    this kind of folder holds (another command's output folder passes its own; it must include
    ``log.txt`` and ``results.json`` if it writes them).
    """
    out = Path(out)
    try:
        if out.exists() and not out.is_dir():
            raise RunFolderError(f"{option} {out} exists and is not a folder.")
        if out.is_dir():
            there = sorted(p.name for p in out.iterdir())
            if there:
                _clear(out, there, overwrite, option, entries)
        out.mkdir(parents=True, exist_ok=True)
        check_writable(out, option)
    except MusefuseError:
        raise
    except OSError as exc:
        raise os_error(exc, f"{option} {out}") from None
    return out


def _clear(out: Path, entries: list[str], overwrite: bool, option: str, known: frozenset[str]) -> None:
    temporary = [e for e in entries if e.startswith(".") and e.endswith(".tmp")]  # left by a killed write
    foreign = [e for e in entries if e not in known and e not in temporary]
    if foreign:
        shown = ", ".join(foreign[:5]) + (", …" if len(foreign) > 5 else "")
        raise RunFolderError(
            f"{option} {out} holds files that are not a musefuse run's ({shown}); musefuse deletes only what it "
            f"wrote, so choose another {option} (or an empty folder)."
        )
    if LOG in entries and _locked(out / LOG):
        raise RunFolderError(f"{option} {out}: another musefuse run is writing to this folder right now.")
    finished = RESULTS in entries or (RESULTS not in known and len(entries) > len(temporary) + (LOG in entries))
    if finished and not overwrite:
        raise RunFolderError(f"{option} {out} holds the results of an earlier run; choose another {option} or pass "
                             "--overwrite to replace them.")
    if RESULTS in entries:
        (out / RESULTS).unlink()  # first: from here on the folder is an unfinished run
    for name in entries:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def check_writable(folder: Path, option: str = "--out") -> None:
    """Write and remove a probe file in ``folder``; refuse a folder with less than MIN_FREE_BYTES free."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-", suffix=".tmp")
        try:
            os.write(fd, b"musefuse")
        finally:
            os.close(fd)
            os.unlink(probe)
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise RunFolderError(f"{option} {folder} cannot be written: {exc.strerror or first_line(exc)}.") from None
    if free < MIN_FREE_BYTES:
        raise RunFolderError(f"{option} {folder}: only {free / 2**20:.0f} MiB free on its disk; a run needs at "
                             f"least {MIN_FREE_BYTES // 2**20} MiB.")


def prepare_predictions(out: Path, overwrite: bool, protected: dict[str, Path], dry_run: bool = False) -> Path:
    """The --out folder of ``musefuse predict``: never a run folder nor inside/around a protected one.

    ``protected`` maps an option to a folder that must not be written (the run, the data). A
    non-empty ``out`` is refused unless ``overwrite``; then only CSV files and folders of CSV files
    (earlier predictions) are removed, anything else is refused. ``dry_run``: every check, nothing
    created or removed (call it before the work, and again without it just before writing).
    """
    out = Path(out)
    for option, folder in protected.items():
        a, b = out.resolve(), Path(folder).resolve()
        if a == b or a.is_relative_to(b) or b.is_relative_to(a):
            raise RunFolderError(f"--out {out} overlaps {option} {folder}; predictions go to a folder of their own.")
    if (out / RESULTS).exists() or (out / LOG).exists():
        raise RunFolderError(f"--out {out} is a run folder; predictions go to a folder of their own.")
    try:
        if out.exists() and not out.is_dir():
            raise RunFolderError(f"--out {out} exists and is not a folder.")
        if out.is_dir() and any(out.iterdir()):
            if not overwrite:
                raise RunFolderError(f"--out {out} exists and is not empty; choose another --out or pass --overwrite.")
            other = [p for p in out.rglob("*") if p.is_file() and p.suffix != ".csv" and not p.name.endswith(".tmp")]
            if other:
                raise RunFolderError(f"--out {out} holds files that are not predictions ({other[0]}); musefuse "
                                     "deletes only what it wrote, so choose another --out.")
            for p in [] if dry_run else out.iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        if dry_run:
            parent = next((p for p in [out, *out.parents] if p.exists()), Path("."))
            if not parent.is_dir():
                raise RunFolderError(f"--out {out}: {parent} is a file, not a folder.")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise RunFolderError(f"--out {out} cannot be written: {parent} is not writable.")
            return out
        out.mkdir(parents=True, exist_ok=True)
        check_writable(out)
    except MusefuseError:
        raise
    except OSError as exc:
        raise os_error(exc, f"--out {out}") from None
    return out


def _locked(path: Path) -> bool:
    """True when another open file holds the run's lock on ``path`` (see RunLog)."""
    if sys.platform == "win32":
        return False
    import fcntl

    try:
        with path.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


class RunLog:
    """Append-only log of a run (log.txt), mirrored to an optional callback.

    While open it holds an exclusive lock on log.txt (released when closed, or when the process
    dies), so :func:`prepare` never clears a folder a live run is writing. :meth:`failed` records
    the error that ended a run.
    """

    def __init__(self, path: Path, echo: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.echo = echo
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")
        if sys.platform != "win32":
            import fcntl

            try:
                fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._fh.close()
                raise RunFolderError(f"{self.path.parent}: another musefuse run is writing to this folder.") from None

    def failed(self, exc: BaseException) -> None:
        """Record why the run stopped (the message the user sees, or the exception type for a bug)."""
        if isinstance(exc, KeyboardInterrupt):
            message = "interrupted (Ctrl-C)"
        elif isinstance(exc, MusefuseError):
            message = str(exc)
        else:
            message = f"{type(exc).__name__}: {first_line(exc)}"
        try:
            self(f"run failed: {message}", echo=False)  # the file only: the command itself reports the error
            # The traceback, in the file only: a plugin's (the error's details), or any bug's.
            if getattr(exc, "details", None):
                self._fh.write(str(exc.details).rstrip() + "\n")  # type: ignore[attr-defined]
            elif not isinstance(exc, (MusefuseError, KeyboardInterrupt)):
                self._fh.write("".join(traceback.format_exception(exc)))
            self._fh.flush()
        except (OSError, ValueError):
            pass  # the disk may be what failed; the error still reaches the user

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is not None:
            self.failed(exc)
        self.close()

    def __call__(self, message: str, *, echo: bool = True) -> None:
        self._fh.write(f"{datetime.now().isoformat(timespec='seconds')} {message}\n")
        self._fh.flush()
        if self.echo and echo:
            self.echo(message)

    def close(self) -> None:
        self._fh.close()


def require_finished(run: Path) -> Path:
    """A finished run folder, or a clear error."""
    run = Path(run)
    if not (run / RESULTS).exists():
        raise RunFolderError(f"{run} is not a finished musefuse run folder (no {RESULTS}).")
    return run


# -- integrity: a run folder's manifest ------------------------------------------------------------------

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1  # bump when a release can no longer read run folders as earlier ones wrote them
# What the manifest covers: the files predict reads and those that describe the run. Predictions, difficulty
# CSVs, the log, results.json and a report are outputs, not inputs; a run folder shared without them still
# predicts.
SEALED = ("config.yaml", "environment.json", "tasks.json", "difficulty_inputs.json", "decisions.json",
          "mean_shrink.json", "difficulty_drift.json", "standardisation", "checkpoints", "ensemble")


def seal(run: Path) -> None:
    """Write RUN/manifest.json: the sha256 of every file under :data:`SEALED` and the release that wrote them.
    Called once the run's model files are complete, before results.json (the checksum code is the artifact
    store's, core.fileio)."""
    run = Path(run)
    env = fileio.read_json_object(run / "environment.json")
    fileio.write_json(run / MANIFEST, {
        "format": MANIFEST_FORMAT, "musefuse": env.get("musefuse") or release(), "git_commit": env.get("git_commit"),
        "sha256": fileio.checksums(run, _sealed_files(run))})


def verify(run: Path) -> str | None:
    """Check a finished run folder against its manifest before anything in it is used.

    A file changed, missing or unreadable, a file under the sealed names that the run did not write, an
    unreadable manifest, or a manifest of a newer format: a :class:`RunFolderError` naming the file and the
    release that wrote the folder. A run folder written before manifests existed is not refused: the returned
    note says so (its files are then checked only as :func:`musefuse.core.runs.checkpoints.load_fitted` loads
    them). None when every file is as the run wrote it.
    """
    run = Path(run)
    path = run / MANIFEST
    if not path.exists():
        return (f"note: {run} has no {MANIFEST}: it was written by {written_by(run)}, before run folders carried "
                "checksums, so its files are checked only by loading them.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path} cannot be read ({first_line(exc)}); the run folder is damaged: train the run "
                             "again.") from None
    digests = manifest.get("sha256") if isinstance(manifest, dict) else None
    if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
        raise RunFolderError(f"{path} does not list the run's files and their checksums; the run folder is damaged: "
                             "train the run again.")
    form = manifest.get("format")
    if not isinstance(form, int) or form > MANIFEST_FORMAT:
        raise RunFolderError(f"{run} was written by {written_by(run)} as run folder format {form}; this musefuse "
                             f"({release() or 'version unknown'}) reads format {MANIFEST_FORMAT} and older: use that "
                             "release or a newer one with this run folder.")
    problem = fileio.checksum_problem(run, digests)
    if problem is None:
        added = sorted(set(_sealed_files(run)) - set(digests))
        problem = f"{added[0]} is not among the files the run wrote (its {MANIFEST})" if added else None
    if problem is not None:
        raise RunFolderError(f"{run} was changed after {written_by(run)} wrote it: {problem}. Nothing in it is "
                             "used; train the run again (or restore the file).")
    return None


def written_by(run: Path) -> str:
    """'musefuse 0.1.0 (commit 6ff15d9c0a1b)': the release that wrote a run folder, as its manifest or its
    environment.json says."""
    run = Path(run)
    said = fileio.read_json_object(run / MANIFEST)
    if not said.get("musefuse"):
        said = fileio.read_json_object(run / "environment.json")
    name, commit = said.get("musefuse"), said.get("git_commit")
    if not name and not commit:
        return "a musefuse release that neither its manifest.json nor its environment.json names"
    return f"musefuse {name or '(version unknown)'}" + (f" (commit {str(commit)[:12]})" if commit else "")


def release() -> str | None:
    """The installed musefuse's version (None when it is not installed, e.g. run from a source tree)."""
    try:
        return version("musefuse")
    except PackageNotFoundError:
        return None


def _sealed_files(run: Path) -> list[str]:
    """The files under :data:`SEALED`, as relative paths with '/' (left-over temporary files excluded)."""
    names = []
    for entry in SEALED:
        path = run / entry
        if path.is_dir():
            names += sorted(p.relative_to(run).as_posix() for p in path.rglob("*")
                            if p.is_file() and not (p.name.startswith(".") and p.name.endswith(".tmp")))
        elif path.is_file():
            names.append(entry)
    return names
