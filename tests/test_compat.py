"""Issue 30: a run folder written by one release stays predictable by the next ones.

tests/data/compat-<version>/ holds a tiny run folder written by that release (tests/data/make_compat_run.py;
about.json says which release and commit), the devel and test subjects' features, and what predict gave
with them (expected.json). Predict must read each one and give the same predictions; a release that
stops reading one must say, in the refusal, which release wrote it (and this test then fails until the
folder is retired on purpose).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.core.runs import runfolder

FOLDERS = sorted((Path(__file__).parent / "data").glob("compat-*"))
# The values are written with 7 significant digits, and torch's CPU kernels may round differently on another
# machine or version: far below what a changed weight does (one flipped byte moved a prediction by 0.007).
ATOL = 2e-5


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # rich folds long paths at the terminal width


def _writer(folder: Path) -> str:
    """'musefuse 0.1.0 (commit 3b4e02b7e67d)', from the fixture's about.json."""
    about = json.loads((folder / "about.json").read_text())
    return f"musefuse {about['musefuse']} (commit {about['git_commit'][:12]})"


def test_there_is_a_run_folder_of_this_release():
    assert FOLDERS and any((f / "run" / runfolder.MANIFEST).exists() for f in FOLDERS)


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
@pytest.mark.parametrize("stage", ["fusion", "unimodal"])
def test_predict_reads_an_earlier_releases_run_folder_and_gives_its_predictions(folder, stage, tmp_path):
    result = cli("predict", "--run", folder / "run", "--data", folder / "data", "--out", tmp_path / "p",
                 "--stage", stage, "--device", "cpu", "--threads", "1")
    if result.exit_code != 0:
        assert _writer(folder) in result.output, f"predict refuses the run folder without naming its release:\n" \
                                                 f"{result.output}"
        pytest.fail(f"predict no longer reads run folders written by {_writer(folder)}:\n{result.output}\nIf that "
                    f"is intended, say so in the release notes and retire {folder}.")
    expected = json.loads((folder / "expected.json").read_text())[stage]
    base = tmp_path / "p" if stage == "fusion" else tmp_path / "p" / "fau"
    for target, by_id in expected.items():
        for subject, values in by_id.items():
            got = pd.read_csv(base / target / f"{subject}.csv")["value"].to_numpy()
            np.testing.assert_allclose(got, values, atol=ATOL, err_msg=f"{folder.name} {stage} {target} {subject}")


def _config_with(run: Path, **fields) -> None:
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg.update(fields)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def _future_format(run: Path) -> None:
    manifest = json.loads((run / runfolder.MANIFEST).read_text())
    manifest["format"] = runfolder.MANIFEST_FORMAT + 1
    (run / runfolder.MANIFEST).write_text(json.dumps(manifest))


# How a later release may find an old run folder unreadable: each refusal names the release that wrote it.
REFUSALS = {
    "a-file-changed": lambda run: (run / "checkpoints" / "fuser-arousal.json").write_text("{}"),
    "a-format-it-does-not-read": _future_format,
    "a-config-field-it-does-not-know": lambda run: (
        (run / runfolder.MANIFEST).unlink(), _config_with(run, rnn="transformer")),
    "a-checkpoint-it-cannot-load": lambda run: (
        (run / runfolder.MANIFEST).unlink(),
        (run / "checkpoints" / "regressor-fau-valence.json").write_text('{"x": 1}')),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refusal_names_the_release_that_wrote_the_run_folder(case, tmp_path):
    folder = FOLDERS[-1]
    run = tmp_path / "run"
    shutil.copytree(folder / "run", run)
    REFUSALS[case](run)
    result = cli("predict", "--run", run, "--data", folder / "data", "--out", tmp_path / "p", "--device", "cpu")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert _writer(folder) in result.output, result.output
