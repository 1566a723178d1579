"""Issue 30: a plugin that fails at run time is one clear error naming it, its distribution and the task;
its traceback goes to log.txt (and to the terminal with --debug); finished tasks stay in the store.

The plugins are real: the fixture distribution tests/plugins/musefuse-faulty, pip-installed (conftest),
whose estimators and fusers each fail in one way until MUSEFUSE_FAULTY_FIXED=1.
"""

from __future__ import annotations

import json
import pickle
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from cli_helpers import clean_exit_2, cli

from musefuse.core.errors import PluginRunError
from musefuse.core.method.boundary import Plugin, in_task
from musefuse.core.plugin_host import PluginHost, get_host
from musefuse.lab.synth import write_synthetic

TINY = ["--modalities", "fau", "--layers", "1", "--hidden", "4", "--epochs", "1", "--threads", "1",
        "--device", "cpu", "--executor", "inprocess"]
FAULTY = "from distribution musefuse-faulty 0.2.0"


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one error paragraph, unfolded


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("faulty") / "data", small=True, seed=1, modalities=["fau"])


@pytest.fixture
def faulty(third_party, monkeypatch):
    """The musefuse-faulty distribution loaded (freshly imported: its import-time print happens again)."""
    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "musefuse-faulty")
    monkeypatch.delenv("MUSEFUSE_FAULTY_FIXED", raising=False)
    for name in [m for m in sys.modules if m.startswith("musefuse_faulty")]:
        monkeypatch.delitem(sys.modules, name)


# -- 1. a failure at run time: one error naming plugin, distribution and task ---------------------------

RUNTIME_FAILURES = {
    "estimator-fit-raises": (["--estimator", "fit-raises", "--fuser", "mean"],
                             ["estimator 'fit-raises' " + FAULTY, "difficulty fau'",
                              "fit() raised ValueError: the faulty estimator cannot fit"], True),
    "fuser-predict-raises": (["--estimator", "none", "--fuser", "predict-raises"],
                             ["fuser 'predict-raises' " + FAULTY, "in task 'fusion (predict-raises) → ",
                              "predict() raised RuntimeError: the faulty fuser cannot predict"], True),
    "fuser-nan": (["--estimator", "none", "--fuser", "nan"],
                  ["fuser 'nan' " + FAULTY, "predict() returned 1 NaN or inf value(s) for subject", "at step 3"],
                  False),
    "fuser-short": (["--estimator", "none", "--fuser", "short"],
                    ["fuser 'short' " + FAULTY, "predict() returned", "steps for subject"], False),
    "fuser-fewer": (["--estimator", "none", "--fuser", "fewer"],
                    ["fuser 'fewer' " + FAULTY, "predict() returned 8 array(s) for 9 subjects"], False),
    "estimator-short": (["--estimator", "short-difficulty", "--fuser", "mean"],
                        ["estimator 'short-difficulty' " + FAULTY, "difficulty() returned"], False),
    "estimator-nan-state": (["--estimator", "nan-state", "--fuser", "mean"],
                            ["estimator 'nan-state' " + FAULTY, "state() tensor 'w' holds NaN or inf"], False),
}


@pytest.mark.parametrize("case", list(RUNTIME_FAILURES))
def test_a_failing_plugin_is_one_error_naming_it_and_the_task(case, faulty, synth, tmp_path):
    args, named, raised = RUNTIME_FAILURES[case]
    out = tmp_path / "run"
    result = cli("run", "--data", synth, "--out", out, "--store", tmp_path / "store", *TINY, *args)
    clean_exit_2(result, *named, "the same command resumes")
    assert ("log.txt" in result.output) is raised  # a traceback to point at only when the plugin raised
    log = (out / "log.txt").read_text()
    assert "run failed: " in log and named[0] in log
    assert ("Traceback (most recent call last)" in log) is raised
    assert not (out / "results.json").exists()


def test_short_outputs_name_the_subject_and_both_lengths(faulty, synth, tmp_path):
    result = cli("run", "--data", synth, "--out", tmp_path / "run", *TINY, "--estimator", "none", "--fuser", "short")
    match = re.search(r"returned (\d+) steps for subject '(\w+)', whose recording has (\d+)", result.output)
    assert match, result.output
    assert int(match[3]) - int(match[1]) == 5


def test_debug_prints_the_plugins_traceback(faulty, synth, tmp_path, monkeypatch):
    args = ["run", "--data", synth, "--store", tmp_path / "store", *TINY, "--estimator", "none",
            "--fuser", "predict-raises"]
    result = cli(*args, "--out", tmp_path / "a", "--debug")
    assert result.exit_code == 2, result.output
    assert "Traceback (most recent call last)" in result.output and "runtime.py" in result.output
    assert "fuser 'predict-raises' " + FAULTY in result.output  # and the one-line error after it
    monkeypatch.setenv("MUSEFUSE_DEBUG", "1")  # the same, for any command
    result = cli(*args, "--out", tmp_path / "b")
    assert "Traceback (most recent call last)" in result.output


def test_a_rerun_after_the_fix_resumes_from_the_finished_tasks(faulty, synth, tmp_path, monkeypatch):
    args = ["run", "--data", synth, "--out", tmp_path / "run", "--store", tmp_path / "store", *TINY,
            "--estimator", "none", "--fuser", "predict-raises"]
    clean_exit_2(cli(*args), "predict-raises")
    monkeypatch.setenv("MUSEFUSE_FAULTY_FIXED", "1")
    result = cli(*args)  # the same command, into the same (unfinished) folder
    assert result.exit_code == 0, result.output
    tasks = json.loads((tmp_path / "run" / "tasks.json").read_text())
    assert {t["kind"] for t in tasks if not t["reused"]} == {"fuser"}  # everything before the fuser was kept
    assert any(t["kind"] == "regressor" and t["reused"] for t in tasks)


@pytest.mark.slow  # two spawned workers start (~10 s)
def test_a_plugin_failing_in_a_worker_process_is_the_same_error(faulty, synth, tmp_path, monkeypatch):
    args = ["run", "--data", synth, "--out", tmp_path / "run", "--store", tmp_path / "store", *TINY,
            "--estimator", "none", "--fuser", "predict-raises", "--executor", "local", "--workers", "2"]
    result = cli(*args)
    # Two workers may start both targets' fusers before the first fails (then the error lists both tasks) or
    # not (then it is the one task's error): either way it names the plugin, the task and what went wrong.
    clean_exit_2(result, "fuser 'predict-raises' " + FAULTY, "fusion (predict-raises) → ",
                 "predict() raised RuntimeError: the faulty fuser cannot predict")
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "Traceback (most recent call last)" in log and "the faulty fuser cannot predict" in log
    monkeypatch.setenv("MUSEFUSE_FAULTY_FIXED", "1")
    assert cli(*args).exit_code == 0
    tasks = json.loads((tmp_path / "run" / "tasks.json").read_text())
    assert {t["kind"] for t in tasks if not t["reused"]} == {"fuser"}


# -- 1b. outside the task graph: a finished run's plugins loaded and applied (predict, robustness --run) ---------

PREDICT_FAILURES = {
    "fuser-predict-raises": (["--estimator", "none", "--fuser", "predict-raises"],
                             ["fuser 'predict-raises' " + FAULTY, "failed while the fitted pipeline predicted: ",
                              "predict() raised RuntimeError: the faulty fuser cannot predict", "--debug"]),
    "fuser-nan": (["--estimator", "none", "--fuser", "nan"],
                  ["fuser 'nan' " + FAULTY, "predict() returned 1 NaN or inf value(s) for subject"]),
    "estimator-short": (["--estimator", "short-difficulty", "--fuser", "mean"],
                        ["estimator 'short-difficulty' " + FAULTY, "difficulty() returned", "steps for subject"]),
    "fuser-load-raises": (["--estimator", "none", "--fuser", "load-raises"],
                          ["fuser 'load-raises' " + FAULTY, "failed while loading ", "fuser-arousal",
                           "load() raised OSError: the faulty fuser cannot load its checkpoint"]),
}


@pytest.fixture
def trained_fixed(faulty, synth, tmp_path, monkeypatch):
    """train(*args): a run trained with the fixture's faults off, which are on again afterwards."""
    def train(*args: str) -> Path:
        monkeypatch.setenv("MUSEFUSE_FAULTY_FIXED", "1")
        result = cli("run", "--data", synth, "--out", tmp_path / "run", "--store", tmp_path / "store", *TINY, *args)
        assert result.exit_code == 0, result.output
        monkeypatch.delenv("MUSEFUSE_FAULTY_FIXED")
        return tmp_path / "run"
    return train


@pytest.mark.parametrize("case", list(PREDICT_FAILURES))
def test_a_plugin_failing_in_predict_is_one_error_naming_it(case, trained_fixed, tmp_path):
    args, named = PREDICT_FAILURES[case]
    run = trained_fixed(*args)
    preds = tmp_path / "preds"
    result = cli("predict", "--run", run, "--out", preds, "--device", "cpu", "--threads", "1")
    clean_exit_2(result, *named, "run the same command again")
    assert "resumes" not in result.output and "log.txt" not in result.output  # no store, no log: predict's own advice
    assert not preds.exists() or not any(preds.iterdir())


def test_predict_with_debug_prints_the_plugins_traceback(trained_fixed, tmp_path):
    run = trained_fixed("--estimator", "none", "--fuser", "load-raises")
    result = cli("predict", "--run", run, "--out", tmp_path / "preds", "--device", "cpu", "--threads", "1", "--debug")
    assert result.exit_code == 2, result.output
    assert "Traceback (most recent call last)" in result.output and "runtime.py" in result.output
    assert "fuser 'load-raises' " + FAULTY in result.output


def test_a_plugin_failing_while_the_run_folder_is_written_is_one_error(faulty, synth, tmp_path):
    out = tmp_path / "run"
    result = cli("run", "--data", synth, "--out", out, "--store", tmp_path / "store", *TINY, "--estimator", "none",
                 "--fuser", "state-raises-reloaded")
    clean_exit_2(result, "fuser 'state-raises-reloaded' " + FAULTY, f"failed while saving {out / 'checkpoints'}",
                 "state() raised RuntimeError: the faulty fuser lost its state")
    assert not (out / "results.json").exists()


def test_a_plugin_failing_in_robustness_of_a_finished_run_is_one_error(trained_fixed, tmp_path):
    run = trained_fixed("--estimator", "none", "--fuser", "predict-raises")
    result = cli("robustness", "--run", run, "--corrupt", "fau:gaussian", "--levels", "1", "--out", tmp_path / "rob")
    clean_exit_2(result, "fuser 'predict-raises' " + FAULTY, "failed while the fitted pipeline predicted: ",
                 "predict() raised RuntimeError: the faulty fuser cannot predict")
    log = (tmp_path / "rob" / "log.txt").read_text()
    assert "Traceback (most recent call last)" in log and "the faulty fuser cannot predict" in log


# -- 2. outputs checked at the boundary --------------------------------------------------------------------


def _subjects(*steps: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(id=str(i + 1), timestamps=np.arange(n) * 500) for i, n in enumerate(steps)]


@pytest.fixture
def mean_fuser() -> Plugin:
    return Plugin(get_host(), "fuser", "mean")


@pytest.mark.parametrize(("outputs", "message"), [
    (None, "returned None, not a list of one array per subject"),
    ([np.zeros(4)], "returned 1 array(s) for 2 subjects"),
    ([np.zeros(4), np.zeros((3, 1))], "shape (3, 1) for subject '2'; one value per step, shape (3,)"),
    ([np.zeros(4), np.array(["a", "b", "c"])], "returned <U1 values for subject '2', not numbers"),
    ([np.zeros(4), [[1.0], [1.0, 2.0], []]], "subject '2', not an array of numbers"),
    ([np.zeros(4), np.zeros(2)], "returned 2 steps for subject '2', whose recording has 3"),
    ([np.zeros(4), np.array([0.0, np.inf, np.nan])], "returned 2 NaN or inf value(s) for subject '2' (the first at "
                                                     "step 1 of 3)"),
])
def test_signals_are_one_finite_array_per_subject_of_its_length(mean_fuser, outputs, message):
    with pytest.raises(PluginRunError) as caught:
        mean_fuser.signals("predict()", outputs, _subjects(4, 3))
    assert message in str(caught.value)
    assert "fuser 'mean' (built in, musefuse " in str(caught.value)


def test_good_signals_pass_unchanged(mean_fuser):
    outputs = [np.arange(4, dtype=np.float32), np.ones(3)]
    checked = mean_fuser.signals("predict()", outputs, _subjects(4, 3))
    assert checked[0] is outputs[0] and checked[1] is outputs[1]


def _stating(state):
    return SimpleNamespace(state=lambda: state)


@pytest.mark.parametrize(("state", "message"), [
    ({}, "not a pair (tensors, metadata)"),
    (([], {}), "tensors as a list, not a dict"),
    (({1: torch.zeros(2)}, {}), "named a tensor 1"),
    (({"w": np.zeros(2)}, {}), "tensor 'w' is an ndarray of shape (2,), not a torch.Tensor"),
    (({"w": torch.tensor([1.0, float("inf")])}, {}), "tensor 'w' holds NaN or inf"),
    (({"w": (t := torch.zeros(4)), "v": t[:2]}, {}), "tensors 'w' and 'v' share memory"),
    (({}, None), "metadata as None, not a dict"),
    (({}, {"plugin": "x"}), "reserves"),
    (({}, {"when": object()}), "metadata cannot be written as JSON"),
])
def test_state_is_checked(mean_fuser, state, message):
    with pytest.raises(PluginRunError, match=re.escape(message)):
        mean_fuser.state(_stating(state))


def test_fit_result_is_none_or_what_a_summary_reads(mean_fuser):
    assert mean_fuser.fit_result(SimpleNamespace(fit_result=None)) is None
    with pytest.raises(PluginRunError, match="without best_epoch, epochs_run"):
        mean_fuser.fit_result(SimpleNamespace(fit_result="done"))


def test_a_plugin_error_crosses_processes_with_its_task_and_traceback(mean_fuser):
    def boom():
        raise ValueError("x")

    with pytest.raises(PluginRunError) as caught, in_task("fusion (mean) → arousal"):
        mean_fuser.call("predict()", boom)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value)
    assert copy.task == "fusion (mean) → arousal" and "ValueError: x" in copy.details


def test_sys_exit_in_a_plugin_is_a_plugin_error(mean_fuser):
    with pytest.raises(PluginRunError, match=r"fit\(\) raised SystemExit: 3"):
        mean_fuser.call("fit()", sys.exit, 3)


# -- 3. registration: bad values reported and skipped; prints never reach stdout ------------------------


def test_bad_hook_values_and_bad_classes_are_reported_and_skipped(faulty):
    host = PluginHost()
    text = "\n".join(host.warnings)
    assert "register_corruptions of 'musefuse-faulty' returned [<class 'musefuse_faulty.bad_hooks.Returned'>]" in text
    assert "returns nothing" in text and "returned" not in {i.name for i in host.entries("corruption")}
    assert "NotCallablePredict.predict is None, not a method" in text
    assert "StringLearned.learned is 'yes'; it must be True or False" in text
    assert "RuntimeError: no folders today" in text and "nofolders" not in host.modalities()
    # the distribution's good plugins, and everything else, still work
    assert host.fuser("predict-raises") and host.estimator("sleepy") and host.fuser("birnn")


def test_prints_of_plugins_never_reach_stdout_with_json(faulty, synth, tmp_path):
    listed = cli("plugins", "--json")
    assert listed.exit_code == 0, listed.output
    assert {"sleepy", "chatty"} <= {r["name"] for r in json.loads(listed.stdout)}
    assert "musefuse-faulty: imported" in listed.stderr and "registering estimators" in listed.stderr
    ran = cli("run", "--data", synth, "--out", tmp_path / "run", *TINY, "--estimator", "none",
              "--fuser", "chatty", "--json")
    assert ran.exit_code == 0, ran.output
    assert {r["stage"] for r in json.loads(ran.stdout)} >= {"fusion"}
    assert "chatty fits" in ran.stderr and "chatty predicts" in ran.stderr


# -- 5. environment.json lists the plugin distributions a run loaded -----------------------------------------


def test_environment_lists_third_party_distributions_with_versions(faulty, synth, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "musefuse-faulty,musefuse-hrv")
    monkeypatch.setenv("MUSEFUSE_FAULTY_FIXED", "1")
    run = tmp_path / "run"
    assert cli("run", "--data", synth, "--out", run, *TINY, "--estimator", "none", "--fuser", "nan").exit_code == 0
    plugins = json.loads((run / "environment.json").read_text())["plugins"]
    assert set(plugins) == {"musefuse-faulty", "musefuse-hrv"}
    assert plugins["musefuse-hrv"] == {"version": "0.3.1", "provides": ["modality hrv"]}
    assert plugins["musefuse-faulty"]["version"] == "0.2.0" and "fuser nan" in plugins["musefuse-faulty"]["provides"]


def test_ray_lists_a_failed_plugin_task_in_one_line():
    from musefuse.core.engine.ray_executor import _why
    from musefuse.core.engine.task import Task

    task = Task("fuser", "fusion (short) → arousal", {"fit_ids": []})
    cause = PluginRunError("fuser", "short", "musefuse-faulty", "0.2.0", "predict() returned 3 steps",
                           task=task.label, details="Traceback ...")
    why = _why(SimpleNamespace(cause=cause), task, {task.key: task}, {})
    assert why == "fuser 'short' from distribution musefuse-faulty 0.2.0: predict() returned 3 steps"
