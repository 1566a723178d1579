"""Issue 30: worker processes die with the run that started them, whatever kills it (SIGKILL included), and
never write a store entry once it is gone. Issue 35: they are tied to it before they import anything heavy, and
every task that fails is reported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from musefuse.core import procs
from musefuse.core.engine import worker
from musefuse.core.engine.executors import SilentReporter
from musefuse.core.engine.kinds import TaskKind, register_kind
from musefuse.core.engine.local import LocalExecutor
from musefuse.core.engine.store import WorkerStore
from musefuse.core.engine.task import Task
from musefuse.core.errors import MusefuseError
from musefuse.lab.synth import write_synthetic

TINY = ["--modalities", "fau", "--layers", "1", "--hidden", "4", "--epochs", "1", "--threads", "1", "--device", "cpu"]


def _children(pid: int) -> dict[int, str]:
    """Live child processes of ``pid`` -> their command line (from /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            out[int(entry.name)] = cmdline
    return out


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped by init, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow  # a real run starts two spawned workers (~10 s on a busy 2-core machine)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_run_killed_by_sigkill(third_party, tmp_path):
    data = write_synthetic(tmp_path / "data", small=True, seed=1, modalities=["fau"])
    store = tmp_path / "store"
    env = {**os.environ, "MUSEFUSE_LOAD_PLUGINS": "musefuse-faulty", "MUSEFUSE_FAULTY_SLEEP": "120"}
    # 'sleepy' sleeps in fit: the workers are busy with the run's first tasks when it is killed
    cmd = [sys.executable, "-m", "musefuse", "run", "--data", str(data), "--out", str(tmp_path / "run"),
           "--store", str(store), "--estimator", "sleepy", "--fuser", "mean", "--executor", "local",
           "--workers", "2", *TINY]
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        run = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while len(workers) < 2:
            assert run.poll() is None, (tmp_path / "stderr.txt").read_text()
            assert time.monotonic() < deadline, "the run never started two workers"
            time.sleep(0.2)
            workers = [pid for pid, cmdline in _children(run.pid).items() if "spawn_main" in cmdline]
        time.sleep(1.0)  # past the workers' initializer: they are training (sleeping in fit)
        run.send_signal(signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "worker processes outlived their run"
        assert not list(store.rglob("task.json"))  # nothing was written after the run died
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for pid in [p for p in locals().get("workers", []) if _alive(p)]:
            os.kill(pid, signal.SIGKILL)  # never leave a test's processes behind


def test_a_worker_store_writes_nothing_once_its_parent_is_gone(tmp_path, monkeypatch):
    def orphaned():
        raise RuntimeError("orphaned")  # in a worker: os._exit

    monkeypatch.setattr(procs, "orphaned", orphaned)
    entry = ("k" * 64, {"kind": "fuser"}, {}, {}, {"1": np.zeros(3, np.float32)}, {"label": "x"})
    mine = WorkerStore(tmp_path / "store", os.getppid())
    mine.put(*entry)
    assert mine.has("k" * 64)
    theirs = WorkerStore(tmp_path / "other", os.getppid() + 1)  # a parent this process no longer has
    with pytest.raises(RuntimeError, match="orphaned"):
        theirs.put(*entry)
    assert not theirs.has("k" * 64) and not list((tmp_path / "other").rglob("*.json"))


GRANDCHILD = """
import os, time
from musefuse.core.procs import die_with_parent
die_with_parent(os.getppid(), kernel=False)
print("ready", flush=True)
time.sleep(60)
"""
MIDDLE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print(child.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_without_the_kernels_help_the_watcher_still_ends_an_orphaned_worker():
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, GRANDCHILD], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(middle.stdout.readline())
        assert middle.stdout.readline().strip() == "ready"  # the worker's own line (it shares the pipe)
        assert _alive(worker)
        time.sleep(2 * procs.WATCH_SECONDS)
        assert _alive(worker)  # its parent lives: left alone
        middle.kill()
        middle.wait()
        deadline = time.monotonic() + 3
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "an orphaned worker kept running"
    finally:
        middle.kill()
        middle.wait()
        if "worker" in locals() and _alive(worker):
            os.kill(worker, signal.SIGKILL)


HEAVY = "('torch', 'numpy', 'pandas', 'musefuse.core.method')"


def test_the_worker_entry_imports_nothing_heavy():
    """A spawned worker imports its entry module before it can arm the parent-death signal: torch (seconds to
    import), numpy or the method must not come with it, or a run killed meanwhile leaves its workers behind."""
    code = f"import sys, musefuse.core.engine.worker; assert not set({HEAVY}) & set(sys.modules), sys.modules.keys()"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_console_script_imports_nothing_heavy():
    """A spawned worker of a run started by the `musefuse` script imports that script again, first of all."""
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "musefuse"]
    code = f"import sys, {script.module}; assert not set({HEAVY}) & set(sys.modules), sys.modules.keys()"
    subprocess.run([sys.executable, "-c", code], check=True)


EVENTS: list[str] = []


class RecordingFactory:
    """A worker-context factory that notes when it is unpickled (the method's import) and when it builds."""

    def __init__(self) -> None:
        self.name = "recording"

    def __setstate__(self, state: dict) -> None:
        EVENTS.append("unpickled")
        self.__dict__.update(state)

    def __call__(self, store: object) -> str:
        EVENTS.append("built")
        return "context"


def test_a_worker_is_tied_to_its_parent_before_it_unpickles_the_method(tmp_path, monkeypatch):
    import pickle

    EVENTS.clear()
    monkeypatch.setattr(procs, "die_with_parent", lambda pid: EVENTS.append("armed"))
    monkeypatch.setattr("musefuse.core.engine.executors.apply_threads", lambda threads: None)
    worker.init_worker(pickle.dumps(RecordingFactory()), str(tmp_path / "store"), 1, None, os.getpid())
    assert EVENTS == ["armed", "unpickled", "built"]


def _always_fails(task: Task, context: object, progress: object) -> None:
    raise ValueError(f"{task.label} broke")


class FailingKind:
    """A worker-context factory that registers, in the worker, a task kind that always fails."""

    def __call__(self, store: object) -> None:
        register_kind(TaskKind("always-fails", _always_fails))


@pytest.mark.slow  # two spawned workers
def test_the_local_executor_reports_every_task_that_failed(tmp_path):
    tasks = [Task("always-fails", f"task {i}", {"i": i}) for i in range(2)]
    with pytest.raises(MusefuseError) as raised:
        LocalExecutor(FailingKind(), tmp_path / "store", threads=1, workers=2).execute(tasks, SilentReporter())
    message = str(raised.value)
    assert "2 of 2 task(s) failed" in message
    assert "task 0: ValueError: task 0 broke" in message and "task 1: ValueError: task 1 broke" in message
