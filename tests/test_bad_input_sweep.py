"""A table of broken copies of the synthetic data: every case of DATA_FORMAT.md plus issue 11's.

Each case breaks one thing in a copy of a small synthetic dataset; both `musefuse validate` and
`musefuse run` must exit 2, print no traceback, and name the file (or option) at fault. `run`
stops while reading the data, so no case trains a model.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.lab.synth import write_synthetic

MODS = "egemaps,fau"
TINY = ["--layers", "1", "--hidden", "4", "--epochs", "1", "--threads", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("sweep") / "clean", small=True, seed=1,
                           modalities=["egemaps", "fau"])


def _edit_line(path: Path, line: int, edit: Callable[[str], str]) -> None:
    """Apply ``edit`` to CSV line ``line`` (0 = header)."""
    lines = path.read_text().splitlines()
    lines[line] = edit(lines[line])
    path.write_text("\n".join(lines) + "\n")


def _set_cell(path: Path, line: int, column: int, value: str) -> None:
    def edit(text: str) -> str:
        cells = text.split(",")
        cells[column] = value
        return ",".join(cells)

    _edit_line(path, line, edit)


def _swap_lines(path: Path, a: int, b: int) -> None:
    lines = path.read_text().splitlines()
    lines[a], lines[b] = lines[b], lines[a]
    path.write_text("\n".join(lines) + "\n")


def _shift_timestamps(path: Path, by: int) -> None:
    lines = path.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[0] = str(int(cells[0]) + by)
        out.append(",".join(cells))
    path.write_text("\n".join(out) + "\n")


F = "feature_segments"
L = "label_segments"
PART = "metadata/partition.csv"

# (case id, what to break, text the message must contain)
CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("no-partition-file", lambda d: (d / PART).unlink(), "partition.csv"),
    ("unknown-partition", lambda d: _edit_line(d / PART, 1, lambda s: s.replace("train", "training")),
     "partition.csv"),
    ("duplicate-id", lambda d: _edit_line(d / PART, 2, lambda s: s.replace("2,", "1,")), "partition.csv"),
    ("empty-devel", lambda d: (d / PART).write_text("Id,Partition\n1,train\n2,train\n4,test\n"), "'devel'"),
    ("listed-without-features", lambda d: (d / F / "fau" / "5.csv").unlink(), "fau/5.csv"),
    ("train-without-labels", lambda d: (d / L / "valence" / "1.csv").unlink(), "valence/1.csv"),
    ("devel-labels-header-only", lambda d: (d / L / "arousal" / "3.csv").write_text("timestamp,value,segment_id\n"),
     "arousal/3.csv"),
    ("no-timestamp-column", lambda d: _edit_line(d / F / "fau" / "2.csv", 0, lambda s: s.replace("timestamp", "time")),
     "fau/2.csv"),
    ("no-segment-id-column", lambda d: _edit_line(d / F / "egemaps" / "2.csv", 0,
                                                   lambda s: s.replace("segment_id", "segment")), "egemaps/2.csv"),
    ("no-value-column", lambda d: _edit_line(d / L / "arousal" / "1.csv", 0, lambda s: s.replace("value", "y")),
     "arousal/1.csv"),
    ("non-numeric-feature", lambda d: _set_cell(d / F / "fau" / "6.csv", 4, 3, "abc"), "fau/6.csv"),
    ("non-numeric-label", lambda d: _set_cell(d / L / "valence" / "2.csv", 3, 1, "high"), "valence/2.csv"),
    ("width-differs", lambda d: _widen(d / F / "fau" / "7.csv"), "fau/7.csv"),
    ("duplicate-timestamp", lambda d: _set_cell(d / F / "egemaps" / "1.csv", 5, 0, "1500"), "egemaps/1.csv"),
    ("decreasing-timestamp", lambda d: _swap_lines(d / F / "fau" / "8.csv", 5, 6), "fau/8.csv"),
    ("fractional-timestamp", lambda d: _set_cell(d / L / "arousal" / "2.csv", 3, 0, "1000.5"), "arousal/2.csv"),
    ("features-share-no-timestamps", lambda d: _shift_timestamps(d / F / "fau" / "1.csv", 10_000_000), "fau/1.csv"),
    ("inf-feature", lambda d: _set_cell(d / F / "fau" / "2.csv", 7, 4, "inf"), "fau/2.csv"),
    ("overflow-feature", lambda d: _set_cell(d / F / "egemaps" / "3.csv", 2, 10, "1e39"), "egemaps/3.csv"),
    ("inf-label", lambda d: _set_cell(d / L / "valence" / "5.csv", 9, 1, "-inf"), "valence/5.csv"),
    ("short-row", lambda d: _edit_line(d / F / "fau" / "5.csv", 4, lambda s: s.rsplit(",", 3)[0]), "fau/5.csv"),
    ("empty-feature-file", lambda d: (d / F / "egemaps" / "6.csv").write_text(""), "egemaps/6.csv"),
    ("binary-garbage", lambda d: (d / F / "fau" / "3.csv").write_bytes(b"\xff\xfe\x00garbage\x00" * 50),
     "fau/3.csv"),
    ("no-modality-folder", lambda d: shutil.rmtree(d / F / "fau"), "fau"),
]


def _widen(path: Path) -> None:
    """One more feature column in this file only."""
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0] + ",extra", *(line + ",0" for line in lines[1:])]) + "\n")


@pytest.mark.parametrize(("case", "breaks", "named"), CASES, ids=[c[0] for c in CASES])
def test_broken_copy_is_refused_by_validate_and_run(case, breaks, named, clean, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # rich folds long paths at the terminal width
    data = tmp_path / "data"
    shutil.copytree(clean, data, ignore=shutil.ignore_patterns("truth"))
    breaks(data)
    runner = CliRunner()

    checked = runner.invoke(app, ["validate", "--data", str(data), "--modalities", MODS, "--no-cache"])
    assert checked.exit_code == 2, checked.output
    assert checked.exception is None or isinstance(checked.exception, SystemExit)
    assert "Traceback" not in checked.output and named in checked.output, checked.output

    ran = runner.invoke(app, ["run", "--data", str(data), "--modalities", MODS, "--out", str(tmp_path / "r"), *TINY])
    assert ran.exit_code == 2, ran.output
    assert ran.exception is None or isinstance(ran.exception, SystemExit)
    assert "Traceback" not in ran.output and named in ran.output, ran.output
    assert not (tmp_path / "r" / "results.json").exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--modalities", "fua"], "Unknown modality 'fua'"),
        (["--targets", "dominance"], "dominance"),
        (["--out", "{file}/run"], "--out"),
    ],
    ids=["unknown-modality", "unknown-target", "out-under-a-file"],
)
def test_bad_run_options_are_named(args, named, clean, tmp_path):
    (tmp_path / "file").write_text("x")
    args = [a.replace("{file}", str(tmp_path / "file")) for a in args]
    base = {"--modalities": "fau", "--out": str(tmp_path / "r")}
    given = dict(zip(args[::2], args[1::2], strict=True))
    flat = [x for k, v in {**base, **given}.items() for x in (k, v)]
    result = CliRunner().invoke(app, ["run", "--data", str(clean), *flat, *TINY])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and named in result.output
