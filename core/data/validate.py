"""Check a MuSe-layout folder and collect every problem, instead of stopping at the first one.

Each file is read on its own (through the cache, so a later run parses nothing again) and its
:class:`DataError` is recorded; cross-file checks follow. When nothing is wrong, the folder is
also loaded exactly as a run loads it, so "validate passes" means "a run can read it"; the checks a
run makes on its loaded data (:mod:`musefuse.core.data.dataset_checks`) follow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from musefuse.core.data.cache import Cache
from musefuse.core.data.dataset_checks import check_settings, constant_labels, too_few_for_folds
from musefuse.core.data.loader import (
    FEATURES_DIR,
    LABELS_DIR,
    REQUIRED_PARTITIONS,
    alias_folder_differs,
    dominant_step,
    empty_features,
    has_values,
    load_dataset,
    out_of_range_labels,
    resolve_cache_dir,
    resolve_folder,
    resolve_targets,
    step_warning,
    width_differs,
)
from musefuse.core.data.museio import (
    PARTITION_FILE,
    WidthMismatch,
    not_a_file,
    read_feature_csv,
    read_partitions,
)
from musefuse.core.errors import DataError, MusefuseError
from musefuse.core.interfaces import FeatureTable, Modality

__all__ = ["Problem", "Steps", "ModalitySummary", "TargetSummary", "ValidationReport", "validate", "check_settings"]


@dataclass
class Problem:
    """One thing wrong with the data: an error stops a run, a warning does not."""

    severity: Literal["error", "warning"]
    where: str  # file or folder
    message: str


@dataclass
class Steps:
    """Min / median / max of a per-file count."""

    min: int = 0
    median: float = 0.0
    max: int = 0

    @classmethod
    def of(cls, counts: Sequence[int]) -> Steps:
        return cls(int(min(counts)), float(np.median(counts)), int(max(counts))) if counts else cls()


@dataclass
class ModalitySummary:
    name: str
    folder: str
    declared_width: int
    width: int | None = None  # the width most files have
    files: int = 0
    steps: Steps = field(default_factory=Steps)
    rows: int = 0
    nan_rows: int = 0
    gaps: int = 0  # consecutive rows further apart than the dominant step

    @property
    def nan_share(self) -> float:
        return self.nan_rows / self.rows if self.rows else 0.0


@dataclass
class TargetSummary:
    name: str
    files: int = 0
    scored: int = 0  # subjects with at least one value
    hidden: int = 0  # files without values (hidden test labels)
    steps: Steps = field(default_factory=Steps)
    min: float = float("nan")
    max: float = float("nan")
    mean: float = float("nan")


@dataclass
class ValidationReport:
    root: Path
    partitions: dict[str, int] = field(default_factory=dict)
    modalities: list[ModalitySummary] = field(default_factory=list)
    targets: list[TargetSummary] = field(default_factory=list)
    subject_steps: Steps = field(default_factory=Steps)  # reference timeline length per subject
    dominant_step: int | None = None  # ms, the most common timestamp difference
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def error(self, where: Path | str, message: str) -> None:
        self.problems.append(Problem("error", str(where), message))

    def warn(self, where: Path | str, message: str) -> None:
        self.problems.append(Problem("warning", str(where), message))

    def record(self, exc: MusefuseError, where: Path | str) -> None:
        """A reader's error, whose message already starts with the file it is about."""
        self.problems.append(Problem("error", str(where), _strip(str(exc), where)))


def _strip(message: str, where: Path | str) -> str:
    prefix = f"{where}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def validate(
    root: Path,
    modalities: Sequence[Modality],
    targets: list[str] | None = None,
    *,
    known_folders: Iterable[str] | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    require_labels_for: Iterable[str] = ("train", "devel"),
    folds: int | None = None,
) -> ValidationReport:
    """Every problem of a MuSe-layout folder, plus a summary of what is there.

    ``known_folders``: folder names any installed modality claims; other folders under
    ``feature_segments/`` are reported as warnings. ``folds``: the run's folds over train subjects
    (out-of-fold inputs, the default); fewer train subjects than folds is an error, as it is for the run.
    """
    root = Path(root)
    report = ValidationReport(root)
    if not root.is_dir():
        report.error(root, "data folder not found.")
        return report
    require = set(require_labels_for)
    try:
        cache = Cache(resolve_cache_dir(root, cache_dir) if use_cache else None)
    except MusefuseError as exc:
        report.error(cache_dir or "cache", str(exc))
        return report

    # Partitions: without a readable partition file, still check every file that is there.
    try:
        partitions = read_partitions(root)
    except DataError as exc:
        report.record(exc, root / PARTITION_FILE)
        partitions = {}
    report.partitions = {p: sum(v == p for v in partitions.values()) for p in ("train", "devel", "test")}
    for part in REQUIRED_PARTITIONS:
        if partitions and not report.partitions[part]:
            report.error(root / PARTITION_FILE, f"the '{part}' partition is empty; it needs at least one subject.")

    _check_extra_folders(root, modalities, known_folders, report)
    if not modalities:
        there = sorted(p.name for p in (root / FEATURES_DIR).glob("*") if p.is_dir())
        report.error(root / FEATURES_DIR, f"no modality folder found (folders there: {', '.join(there) or 'none'}).")

    feature_ts: dict[tuple[str, str], tuple[Path, np.ndarray]] = {}  # (modality, subject) -> timestamps
    all_steps: list[np.ndarray] = []
    for m in modalities:
        try:
            folder = resolve_folder(root, m)
        except DataError as exc:
            report.record(exc, root / FEATURES_DIR)
            continue
        for where, message in alias_folder_differs(root, m, folder):
            report.warn(where, message)
        summary = ModalitySummary(m.name, folder, m.width)
        report.modalities.append(summary)
        _check_features(root, m, summary, partitions, cache, report, feature_ts, all_steps)

    report.dominant_step = dominant_step(all_steps)
    step = step_warning(root, report.dominant_step)
    if step:
        report.warn(*step)
    for (name, _sid), (path, ts) in feature_ts.items():
        _check_gaps(path, ts, report, next(s for s in report.modalities if s.name == name))

    try:
        target_names = resolve_targets(root, targets)
    except DataError as exc:
        report.record(exc, root / LABELS_DIR)
        target_names = []
    if targets is not None:  # folders a run with these targets does not read
        for p in sorted((root / LABELS_DIR).glob("*")):
            if p.is_dir() and p.name not in targets:
                report.warn(p, f"not checked: a run reads this target only when --targets names '{p.name}'.")
    label_ts = _check_labels(root, target_names, partitions, require, cache, report)
    _check_shared(root, modalities, feature_ts, label_ts, report)

    # Until the folder loads, a subject's length is its first label (or feature) file's row count.
    first = report.targets[0].steps if report.targets and report.targets[0].files else None
    report.subject_steps = first or (report.modalities[0].steps if report.modalities else Steps())

    if not report.errors and modalities:
        # Everything read on its own: now load it as a run does (from the cache, so cheap).
        try:
            ds = load_dataset(root, modalities, targets, cache_dir=cache_dir, use_cache=use_cache,
                              require_labels_for=tuple(require))
        except MusefuseError as exc:
            report.error(root, str(exc))
        else:
            report.subject_steps = Steps.of([len(s.timestamps) for s in ds.subjects])
            said = {f"{p.where}: {p.message}" for p in report.problems}
            for message in ds.report.warnings:
                if message not in said:  # the checks above found it already, in the same words
                    report.warn(root, message)
            for where, message in constant_labels(ds):  # as the run warns (check_settings)
                report.warn(where, message)
    short = too_few_for_folds(folds, report.partitions["train"]) if folds and report.partitions["train"] else None
    if short:  # a setting, not the data: checked after loading, so that the data's own problems are listed too
        report.error(root / PARTITION_FILE, f"{short} (A run with --fusion-train and --difficulty-train in-sample "
                     "needs no folds.)")
    return report


# -- checks ----------------------------------------------------------------------------------------


def _check_extra_folders(
    root: Path, modalities: Sequence[Modality], known: Iterable[str] | None, report: ValidationReport
) -> None:
    base = root / FEATURES_DIR
    if not base.is_dir():
        report.error(base, "feature folder not found.")
        return
    claimed = set(known or ()) | {f for m in modalities for f in m.folders()}
    for p in sorted(base.iterdir()):
        if p.is_dir() and p.name not in claimed:
            report.warn(p, "no installed modality reads this folder; it is ignored.")


def _check_features(
    root: Path,
    m: Modality,
    summary: ModalitySummary,
    partitions: dict[str, str],
    cache: Cache,
    report: ValidationReport,
    feature_ts: dict[tuple[str, str], tuple[Path, np.ndarray]],
    all_steps: list[np.ndarray],
) -> None:
    base = root / FEATURES_DIR / summary.folder
    on_disk = {p.stem for p in base.glob("*.csv")}
    ids = list(partitions) or sorted(on_disk)
    unlisted = sorted(on_disk - set(ids))
    if unlisted:
        report.warn(base, f"{len(unlisted)} file(s) for subjects not in {PARTITION_FILE} are ignored: "
                    f"{', '.join(unlisted[:5])}{', …' if len(unlisted) > 5 else ''}.")
    widths: dict[int, list[Path]] = {}
    rows: list[int] = []
    worst: tuple[float, Path] | None = None
    for sid in ids:
        path = base / f"{sid}.csv"
        if not path.is_file():
            report.error(path, f"{not_a_file(path, 'feature file')}; subject '{sid}' ({partitions.get(sid)}) is "
                         f"listed in {PARTITION_FILE}.")
            continue
        try:
            table = cache.features(path, m)
        except WidthMismatch:  # a cross-file matter, checked below: read without the width check
            table = _read_unchecked(path, report)
            if table is None:
                continue
        except DataError as exc:
            report.record(exc, path)
            continue
        summary.files += 1
        widths.setdefault(table.values.shape[1], []).append(path)
        rows.append(len(table.timestamps))
        nan = int(np.isnan(table.values).all(axis=1).sum()) if table.values.shape[1] else 0
        summary.rows += len(table.timestamps)
        summary.nan_rows += nan
        if nan and (worst is None or nan / len(table.timestamps) > worst[0]):
            worst = (nan / len(table.timestamps), path)
        if not has_values(table.values):  # header only, or every row NaN
            report.warn(*empty_features(path, sid, partitions.get(sid, "test")))
        feature_ts[(m.name, sid)] = (path, table.timestamps)
        all_steps.append(np.diff(table.timestamps))
    summary.steps = Steps.of(rows)
    if widths:
        majority = max(widths, key=lambda w: (len(widths[w]), w == m.width))
        summary.width = majority
        for w, paths in widths.items():
            if w != majority:
                for p in paths:
                    report.error(p, f"has {w} feature columns, but {len(widths[majority])} other file(s) of "
                                 f"'{summary.folder}' have {majority} (e.g. {widths[majority][0].name}).")
        if majority != m.width and len(widths) == 1:  # extractors differ: the files' width is used
            report.warn(*width_differs(base, m.name, m.width, summary.folder, majority))
    if summary.nan_rows and worst is not None:
        report.warn(base, f"{summary.nan_share:.1%} of rows ({summary.nan_rows} of {summary.rows}) are entirely "
                    f"NaN (missing frames); most in {worst[1].name} ({worst[0]:.0%}).")


def _read_unchecked(path: Path, report: ValidationReport) -> FeatureTable | None:
    try:
        return read_feature_csv(path)
    except DataError as exc:
        report.record(exc, path)
        return None


def _check_gaps(path: Path, ts: np.ndarray, report: ValidationReport, summary: ModalitySummary) -> None:
    if report.dominant_step is None or len(ts) < 2:
        return
    d = np.diff(ts)
    gaps = np.flatnonzero(d != report.dominant_step)
    if len(gaps):
        summary.gaps += len(gaps)
        i = int(gaps[np.argmax(d[gaps])])
        report.warn(path, f"{len(gaps)} timestamp step(s) differ from {report.dominant_step} ms; the largest is "
                    f"{int(d[i])} ms, after data row {i + 1} (timestamp {int(ts[i])}).")


def _check_labels(
    root: Path,
    targets: list[str],
    partitions: dict[str, str],
    require: set[str],
    cache: Cache,
    report: ValidationReport,
) -> dict[str, tuple[list[Path], np.ndarray]]:
    """Read every label file; returns subject -> (label files with rows, shared label timestamps)."""
    timelines: dict[str, tuple[list[Path], np.ndarray]] = {}
    for t in targets:
        summary = TargetSummary(t)
        report.targets.append(summary)
        base = root / LABELS_DIR / t
        ids = list(partitions) or sorted(p.stem for p in base.glob("*.csv"))
        values: list[np.ndarray] = []
        rows: list[int] = []
        for sid in ids:
            part = partitions.get(sid, "?")
            path = base / f"{sid}.csv"
            if not path.is_file():
                if part in require:
                    report.error(path, f"label file not found; subject '{sid}' is in the '{part}' partition, "
                                 f"which must be labelled for target '{t}'.")
                continue
            try:
                ts, y, _ = cache.labels(path)
            except DataError as exc:
                report.record(exc, path)
                continue
            summary.files += 1
            rows.append(len(ts))
            finite = y[np.isfinite(y)]
            outside = int((np.abs(finite) > 1).sum())
            if outside:
                report.warn(*out_of_range_labels(path, outside, float(finite.min()), float(finite.max())))
            if len(finite):
                summary.scored += 1
                values.append(finite)
            else:
                summary.hidden += 1
                if part in require:
                    report.error(path, f"holds no label values, but '{part}' subjects must be labelled.")
            if len(ts):
                files, shared = timelines.get(sid, ([], ts))
                timelines[sid] = ([*files, path], np.intersect1d(shared, ts))
        summary.steps = Steps.of(rows)
        if values:
            v = np.concatenate(values)
            summary.min, summary.max, summary.mean = float(v.min()), float(v.max()), float(v.mean())
    return timelines


def _check_shared(
    root: Path,
    modalities: Sequence[Modality],
    feature_ts: dict[tuple[str, str], tuple[Path, np.ndarray]],
    label_ts: dict[str, tuple[list[Path], np.ndarray]],
    report: ValidationReport,
) -> None:
    for (_name, sid), (path, ts) in feature_ts.items():
        if sid not in label_ts:
            continue
        files, shared = label_ts[sid]
        if not len(ts):  # header only: missing frames (a warning above), not a timeline that misses the labels
            continue
        if not len(shared):
            report.error(files[0], f"the label files of subject '{sid}' share no timestamp with one another "
                         f"({', '.join(str(f) for f in files)}).")
        elif not np.isin(ts, shared).any():
            report.error(path, f"shares no timestamp with the label file(s) {', '.join(str(f) for f in files)}.")
