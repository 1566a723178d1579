"""Issue 30, reliability round three: options and data a careless user brings, and friction.

Each case is refused or warned about with the option or file named (never a traceback, never
silent). Nothing here trains more than the tiniest model on the small synthetic data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import typer.main
from test_loader import make_dataset  # the MuSe-layout builder shared by the data tests
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.core.config_files import build_config
from musefuse.core.errors import ConfigError
from musefuse.lab.synth import write_synthetic


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _flat(text: str) -> str:
    return " ".join(text.split())  # rich tables and panels break long messages over lines


def _refused(result, *named: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    said = _flat(result.output)
    assert "Traceback" not in said, result.output
    for text in named:
        assert text in said, (text, result.output)


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # rich folds long paths and help lines at the terminal width


# -- friction: --help shows flags as flags -------------------------------------------------------------


def _commands(command, path: tuple[str, ...] = ()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "musefuse" for p, _ in COMMANDS])
def test_help_shows_flags_without_a_value_tag_and_values_with_one(path, command):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    rows = {}  # option names -> the word after them (a value tag, or the help text's first)
    for line in result.output.splitlines():
        words = line.strip("│ ").split()
        words = words[1:] if words[:1] == ["*"] else words  # required
        names = []
        while words and all(n.startswith("-") for n in words[0].split(",")):  # --raw,--audio  --no-x
            names += words.pop(0).split(",")
        for name in names:
            rows[name] = words[0] if words else ""
    options = [(p.opts, p.is_flag) for p in command.params
               if p.param_type_name == "option" and not p.hidden]  # typer's own click: no isinstance
    for opts, is_flag in [*options, (["--help"], True)]:
        tag = rows[opts[0]]
        if is_flag:
            assert not tag.startswith("<"), f"musefuse {' '.join(path)}: flag {opts[0]} shows a value tag {tag}"
        else:
            assert tag.startswith("<") or "=" in tag, f"musefuse {' '.join(path)}: {opts[0]} shows no value tag"


# -- options -------------------------------------------------------------------------------------------

TINY = ["--layers", "1", "--hidden", "4", "--epochs", "1", "--threads", "1", "--device", "cpu"]
FAST = [*TINY, "--estimator", "none", "--fuser", "mean"]  # no auto-encoder, no fusion training


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """Small synthetic data, fau only: train 1, 2, 5, 6, 7; devel 3, 8; test 4, 9."""
    return write_synthetic(tmp_path_factory.mktemp("round3") / "clean", small=True, seed=1, modalities=["fau"])


def _copy(clean: Path, to: Path) -> Path:
    return Path(shutil.copytree(clean, to, ignore=shutil.ignore_patterns("truth")))


def test_negative_seed_is_refused_before_training(clean, tmp_path):
    result = cli("run", "--modalities", "fau", "--data", clean, "--out", tmp_path / "r", "--seed", "-1", *FAST)
    _refused(result, "'seed'", "greater than or equal to 0")
    assert not (tmp_path / "r").exists()


def test_unknown_predict_device_is_named_with_the_allowed_ones(tmp_path):
    result = cli("predict", "--run", tmp_path / "run", "--out", tmp_path / "p", "--device", "tpu")
    _refused(result, "--device tpu", "auto, cpu, cuda")


@pytest.mark.parametrize(("flag", "value"), [("--ray-address", "auto"), ("--gpus-per-task", "0.5")])
def test_ray_options_without_executor_ray_are_refused(flag, value, clean, tmp_path):
    result = cli("run", "--modalities", "fau", "--data", clean, "--out", tmp_path / "r", flag, value, *FAST)
    _refused(result, flag, "--executor", "executor ray only")
    assert build_config(executor="ray", ray_address="auto").execution.ray_address == "auto"  # with ray: accepted


def test_ray_options_from_a_config_file_name_the_file(tmp_path):
    (tmp_path / "run.yaml").write_text("ray_address: auto\nexecutor: inprocess\n")
    with pytest.raises(ConfigError, match=r"run\.yaml.*'ray_address' \(--ray-address\).*is inprocess"):
        build_config(tmp_path / "run.yaml")


@pytest.mark.parametrize(("args", "named"), [
    (["--re-fusion"], ["--re-fusion with --fuser mean", "learns nothing", "drop --re-fusion"]),
    (["--pipeline", "paper"], ["--re-fusion (from --pipeline paper) with --fuser mean", "add --no-re-fusion"]),
], ids=["forced", "paper-pipeline"])
def test_re_forced_into_a_fuser_that_learns_nothing_is_refused(args, named, clean, tmp_path):
    result = cli("run", "--modalities", "fau", "--data", clean, "--out", tmp_path / "r", *TINY, "--fuser", "mean",
                 *args)
    _refused(result, *named)
    assert not (tmp_path / "r").exists()  # refused before the run folder is made


def test_summarize_refuses_unknown_partitions(tmp_path):
    result = cli("summarize", tmp_path / "run", "--partitions", "bogus")
    _refused(result, "--partitions bogus", "unknown partition(s) bogus", "allowed: train, devel, test")
    _refused(cli("summarize", tmp_path / "run", "--partitions", "devel,devel"), "names a partition twice")


@pytest.mark.parametrize(("names", "named"), [
    ("fau,fau", "names repeat"), ("fau,faus", "fau, faus name the same modality (fau) twice")])
def test_validate_refuses_the_modality_lists_run_refuses(names, named, clean, tmp_path):
    _refused(cli("validate", "--data", clean, "--modalities", names), "'modalities'", named)
    _refused(cli("run", "--data", clean, "--modalities", names, "--out", tmp_path / "r", *FAST), named)


def test_validate_all_and_modalities_is_refused_and_the_advice_fits_what_was_given(tmp_path):
    data = make_dataset(tmp_path / "d", {"egemaps": 88, "fau": 17}, steps=12,
                        partitions={"1": "train", "2": "train", "5": "train", "3": "devel", "4": "test"})
    _refused(cli("validate", "--data", data, "--all", "--modalities", "fau"), "--all and --modalities fau",
             "give one of them")
    given = cli("validate", "--data", data, "--modalities", "fau")
    assert given.exit_code == 0, given.output
    said = _flat(given.output)
    assert "modality 'egemaps' not checked: add it to --modalities" in said and "--all" not in said, said
    default = cli("validate", "--data", data, "--targets", "arousal")  # default modalities: egemaps, vggface, fau
    assert default.exit_code == 2 and "vggface" in default.output, default.output
    everything = cli("validate", "--data", data, "--all")
    assert everything.exit_code == 0 and "not checked" not in everything.output, everything.output


@pytest.mark.parametrize("how", ["parent-is-a-file", "no-permission"])
def test_synth_into_an_unwritable_place_names_out(how, tmp_path, monkeypatch):
    if how == "parent-is-a-file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "synth"
    else:  # as root no folder is read-only: the temporary sibling's creation fails as it would
        out = tmp_path / "synth"

        def denied(prefix, dir):
            raise PermissionError(13, "Permission denied", str(Path(dir) / f"{prefix}abc123"))

        monkeypatch.setattr("musefuse.lab.synth.writer.tempfile.mkdtemp", denied)
    result = cli("synth", "--out", out, "--small")
    _refused(result, f"--out {out}: cannot write there")
    assert ".partial" not in result.output


# -- data --------------------------------------------------------------------------------------------------


def _set_labels(path: Path, value: str) -> None:
    lines = path.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[1] = value
        out.append(",".join(cells))
    path.write_text("\n".join(out) + "\n")


def test_constant_labels_over_a_partition_are_warned_about_by_validate_and_run(clean, tmp_path):
    data = _copy(clean, tmp_path / "d")
    for sid in (3, 8):  # every devel subject
        _set_labels(data / "label_segments" / "arousal" / f"{sid}.csv", "0.25")
    named = ["label_segments/arousal", "every devel label of 'arousal' is 0.25", "3.csv, 8.csv",
             "CCC is undefined on constant labels"]
    checked = cli("validate", "--data", data, "--modalities", "fau", "--no-cache")
    assert checked.exit_code == 0, checked.output
    said = _flat(checked.output)
    assert all(text in said for text in named) and said.count("CCC is undefined") == 1, checked.output
    ran = cli("run", "--modalities", "fau", "--data", data, "--out", tmp_path / "r", *FAST)
    assert ran.exit_code == 0, ran.output
    assert all(text in _flat(ran.output) for text in named), ran.output
    assert "every devel label of 'valence'" not in _flat(ran.output)  # valence varies


def test_a_recording_whose_label_never_changes_is_named_by_validate_and_run(clean, tmp_path):
    """Real self-report data have recordings whose label never changes: their own CCC is undefined."""
    data = _copy(clean, tmp_path / "d")
    _set_labels(data / "label_segments" / "valence" / "6.csv", "-0.1")  # one train recording
    _set_labels(data / "label_segments" / "arousal" / "9.csv", "0.3")  # one test recording
    named = ["label_segments/valence/6.csv", "the 'valence' label of recording '6' (train) never changes (every "
             "value -0.1)", "label_segments/arousal/9.csv", "recording '9' (test)", "no CCC of its own"]
    checked = cli("validate", "--data", data, "--modalities", "fau", "--no-cache")
    assert checked.exit_code == 0, checked.output
    said = _flat(checked.output)
    assert all(text in said for text in named) and said.count("no CCC of its own") == 2, checked.output
    assert "CCC is undefined on constant labels" not in said  # the partitions' labels do change
    ran = cli("run", "--modalities", "fau", "--data", data, "--out", tmp_path / "r", *FAST)
    assert ran.exit_code == 0, ran.output
    assert all(text in _flat(ran.output) for text in named), ran.output


def test_validate_reports_fewer_train_subjects_than_folds(clean, tmp_path):
    named = ["'folds': 6 folds need at least 6 train subjects, but the data have 5", "partition.csv"]
    _refused(cli("validate", "--data", clean, "--modalities", "fau", "--folds", "6"), *named)
    _refused(cli("run", "--data", clean, "--modalities", "fau", "--folds", "6", "--out", tmp_path / "r", *FAST),
             named[0])
    assert cli("validate", "--data", clean, "--modalities", "fau", "--folds", "5").exit_code == 0
    two = make_dataset(tmp_path / "two", {"fau": 17}, steps=12)  # 2 train subjects: the default 3 folds fail
    _refused(cli("validate", "--data", two, "--modalities", "fau"), "'folds': 3 folds need at least 3")


def test_alias_folders_that_differ_are_reported_and_identical_ones_are_not(clean, tmp_path):
    data = _copy(clean, tmp_path / "d")
    shutil.copytree(data / "feature_segments" / "fau", data / "feature_segments" / "faus")
    same = cli("validate", "--data", data, "--modalities", "fau", "--no-cache")
    assert same.exit_code == 0 and "another name of it" not in _flat(same.output), same.output
    f = data / "feature_segments" / "faus" / "2.csv"
    f.write_text(f.read_text().replace(",0.", ",1.", 1))
    named = ["feature_segments/faus", "modality 'fau' reads folder 'fau' (the first present of fau, faus,",
             "'faus', another name of it, is ignored", "1 file(s) differ, e.g. 2.csv"]
    checked = cli("validate", "--data", data, "--modalities", "fau", "--no-cache")
    assert checked.exit_code == 0, checked.output
    said = _flat(checked.output)
    assert all(text in said for text in named) and said.count("another name of it") == 1, checked.output
    ran = cli("run", "--modalities", "faus", "--data", data, "--out", tmp_path / "r", *FAST)
    assert ran.exit_code == 0 and all(text in _flat(ran.output) for text in named), ran.output
