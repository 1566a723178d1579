"""The Ray executor (issue 13): same answers as the other executors, retries, resume, an optional extra.

The Ray tests share one local Ray instance (2 CPUs) for the module: starting Ray takes seconds.
They are skipped only when the `ray` extra is not installed; the tests of what happens without
Ray run everywhere.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from graph_helpers import TINY, Recorder, loaded, regressor

from musefuse.core.config import RunConfig
from musefuse.core.engine import ray_executor as ray_module
from musefuse.core.engine.local import LocalExecutor
from musefuse.core.engine.ray_executor import RayExecutor, import_ray
from musefuse.core.engine.store import ArtifactStore
from musefuse.core.errors import ConfigError, MusefuseError
from musefuse.core.method.pipeline import train
from musefuse.core.method.plan import plan_run
from musefuse.core.method.workers import Carrying, FromFolder
from musefuse.lab.synth import write_synthetic

MODS = ["egemaps", "fau"]
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="the ray extra is not installed (pip install 'musefuse[ray]')")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("ray") / "small", small=True, seed=1, modalities=MODS)


@pytest.fixture
def crashes(tmp_path, monkeypatch) -> Path:
    """Put a count in crashes/<task key>: the worker running that task SIGKILLs itself that many times."""
    folder = tmp_path / "crashes"
    folder.mkdir()
    real_task = ray_module._ray_task

    # Defined in the fixture, so Ray ships it to its workers by value (the tests are not importable there).
    def crashing_task(task, shipped, store, store_id, threads, events, *upstream):
        path = folder / task.key
        left = int(path.read_text().strip() or 0) if path.is_file() else 0
        if left > 0 and not ArtifactStore(Path(store)).has(task.key):  # dies after starting, before writing
            path.write_text(str(left - 1))
            events.put_nowait(("started", task.key, socket.gethostname(), os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return real_task(task, shipped, store, store_id, threads, events, *upstream)

    monkeypatch.setattr(ray_module, "_ray_task", crashing_task)
    return folder


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def config(data: Path, **changes) -> RunConfig:
    return RunConfig(data=data, **{"modalities": MODS, **TINY, **changes}).with_preset(cuda=False)



def fit(data: Path, store: Path, executor=None, make=None, **changes):
    """Train the tiny run; ``make(dataset, store)`` builds the executor from the loaded data."""
    import torch

    cfg = config(data, **changes)
    ds, stats, host = loaded(data, cfg)
    rec = Recorder()
    executor = executor or (make(ds, store) if make else None)
    _, out = train(cfg, ds, stats, host, torch.device("cpu"), rec, store=ArtifactStore(store), executor=executor)
    return out, rec


def ray_executor(**kwargs):
    return lambda ds, store: RayExecutor(Carrying(ds, "cpu"), store, "cpu", 1, **kwargs)


def assert_same(a, b) -> None:
    for key in a.unimodal:
        for x, y in zip(a.unimodal[key], b.unimodal[key], strict=True):
            np.testing.assert_array_equal(x, y)
    for t in a.fusion:
        for x, y in zip(a.fusion[t], b.fusion[t], strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """The in-process executor's outputs: what every other executor must reproduce exactly."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers (a module fixture runs before the per-test fixtures set it)
    try:
        out, rec = fit(data, tmp_path_factory.mktemp("inprocess"))
    finally:
        torch.set_num_threads(threads)
    assert len(rec.trained) == 8
    return out


# -- same answers ------------------------------------------------------------------------------


@needs_ray
@pytest.mark.slow
def test_ray_local_and_inprocess_give_identical_results(ray_instance, data, reference, tmp_path):
    ray_out, rec = fit(data, tmp_path / "ray", make=ray_executor())
    assert len(rec.trained) == 8 and not rec.reused
    assert_same(reference, ray_out)

    ds, _, _ = loaded(data, config(data))
    factory = FromFolder(data, tuple(MODS), ("arousal", "valence"), ds.fingerprint, "cpu")
    local_out, _ = fit(data, tmp_path / "local", executor=LocalExecutor(factory, tmp_path / "local", 1, workers=2))
    assert_same(reference, local_out)


# -- fault tolerance ---------------------------------------------------------------------------


@needs_ray
@pytest.mark.slow
def test_a_killed_worker_is_retried_and_the_sweep_finishes(ray_instance, data, reference, crashes, tmp_path):
    cfg = config(data)
    ds, _, host = loaded(data, cfg)
    plan = plan_run(cfg, ds, host, "cpu")
    estimator, model = plan.estimators["fau"], regressor(plan, "egemaps", "valence")
    (crashes / estimator.key).write_text("1")  # SIGKILLed once, mid-sweep, with dependants waiting on it
    (crashes / model.key).write_text("2")  # twice: still within the 3 retries
    executor = RayExecutor(Carrying(ds, "cpu"), tmp_path / "store", "cpu", 1)
    try:
        out, rec = fit(data, tmp_path / "store", executor=executor)
    finally:
        left = {p.name: p.read_text() for p in crashes.iterdir()}
        for p in crashes.iterdir():
            p.unlink()
    assert left == {estimator.key: "0", model.key: "0"}  # every planned crash happened
    assert len(executor.attempts[estimator.key]) == 2 and len(executor.attempts[model.key]) == 3
    assert len(executor.attempts[estimator.key][0]) == 2  # (host, pid) of each attempt
    assert len(rec.trained) == 8
    assert_same(reference, out)  # the retried tasks give the same models


@needs_ray
@pytest.mark.slow
def test_an_interrupted_sweep_resumes_and_skips_finished_tasks(ray_instance, data, reference, crashes, tmp_path):
    cfg = config(data)
    ds, _, host = loaded(data, cfg)
    plan = plan_run(cfg, ds, host, "cpu")
    doomed = regressor(plan, "fau", "arousal")
    (crashes / doomed.key).write_text("9")  # more deaths than retries: the task fails for good
    store = tmp_path / "store"
    try:
        with pytest.raises(MusefuseError) as exc:
            fit(data, store, executor=RayExecutor(Carrying(ds, "cpu"), store, "cpu", 1, max_retries=1))
    finally:
        (crashes / doomed.key).unlink()
    said = str(exc.value)
    assert "2 of 8 task(s) failed" in said and "unimodal fau → arousal" in said
    assert "not run: unimodal fau → arousal failed" in said  # its fuser was never started
    assert "run the same command again to resume" in said
    finished = [t for t in plan.tasks if ArtifactStore(store).has(t.key)]
    assert len(finished) == 6  # everything that did not depend on the failed task

    out, rec = fit(data, store, make=ray_executor())  # the rerun (any executor would do)
    assert sorted(rec.reused) == sorted(t.label for t in finished)
    assert sorted(rec.trained) == sorted([doomed.label, plan.fusers["arousal"]["re"].label])
    assert_same(reference, out)


@needs_ray
def test_a_worker_without_the_drivers_store_refuses_to_train(ray_instance, data, tmp_path, monkeypatch):
    """On a cluster the store must be shared: a node that sees another folder fails loudly."""
    monkeypatch.setattr("musefuse.core.engine.ray_executor._store_id", lambda root: "not-what-the-workers-see")
    with pytest.raises(MusefuseError, match="shared filesystem"):
        fit(data, tmp_path / "store", make=ray_executor(max_retries=0), estimator="none", fuser="mean",
            modalities=["fau"], targets=["arousal"])


@needs_ray
def test_gpus_per_task_needs_cuda(data):
    cfg = config(data)
    ds, _, _ = loaded(data, cfg)
    with pytest.raises(ConfigError, match="--device cuda"):
        RayExecutor(Carrying(ds, "cpu"), Path("store"), "cpu", 1, gpus_per_task=0.25)


# -- an optional extra -------------------------------------------------------------------------


def test_without_ray_the_executor_says_how_to_install_it(data, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from musefuse.cli.app import app

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'musefuse\[ray\]'"):
        import_ray()
    result = CliRunner().invoke(app, ["run", "--data", str(data), "--modalities", "fau", "--executor", "ray",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert "pip install 'musefuse[ray]'" in result.output
    assert not (tmp_path / "run").exists()  # refused before any work


@pytest.mark.slow
def test_the_default_path_never_imports_ray(data, tmp_path):
    code = f"""
import sys
from musefuse.core.config import RunConfig
from musefuse.core.runs.runner import execute_run
cfg = RunConfig(modalities=["fau"], data={str(data)!r}, layers=1, hidden=8, epochs=1, device="cpu",
                out={str(tmp_path / "run")!r}, store={str(tmp_path / "store")!r})
execute_run(cfg)
assert "ray" not in sys.modules, "the default path imported ray"
print("ok")
"""
    env = {**os.environ, "MUSEFUSE_LOAD_PLUGINS": ""}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
