"""The Ray executor: every task of the graph a Ray task, on one machine or a cluster (``--executor ray``).

Ray is an optional extra (``pip install 'musefuse[ray]'``); nothing here imports it before
:class:`RayExecutor` is built, so the default executors never load it.

How a sweep runs:

- **Scheduling.** The whole DAG is submitted at once; a task's upstream tasks are passed as its
  arguments, so Ray starts it when they are done. Each task asks for ``threads`` CPUs and, on CUDA,
  ``gpus_per_task`` of a GPU (0.25: four trainings share one GPU; Ray sets CUDA_VISIBLE_DEVICES).
- **Data reach each node once.** The driver puts the method's worker-context factory, which carries
  the loaded, standardised dataset, into Ray's object store once; a node fetches it the first time one
  of its workers needs it, and its workers read it from shared memory. Each worker process keeps the
  context it built (for musefuse: dataset, plugins, gap-filled features) for as long as the executor
  runs graphs, so later tasks in the same worker start at once. We chose the object store over each
  worker re-reading the data folder because the data then need not be on every node (only the store
  must be shared), and a worker gets exactly the arrays the driver standardised.
- **The store must be shared.** Workers write artifacts into the same :class:`ArtifactStore` with
  the same atomic rename, so on a cluster it must be a shared filesystem mounted at the same path on
  every node. A worker checks this (an id the driver writes into the store) before it trains, so a
  node without the mount fails loudly instead of training into a local folder.
- **Failures.** A task whose worker dies (killed, out of memory, a lost node) is retried up to
  ``max_retries`` times; a retry that finds the artifact already in the store returns at once. A task
  that fails for good does not stop the others; tasks downstream of it are not run, and the executor
  raises at the end naming them. Everything finished stays in the store, so the same command (with
  any executor) resumes the sweep.
- **Progress.** Workers send started/epoch events through a small Ray queue actor that the driver
  drains between waits.

Results are identical to the other executors for a fixed seed on CPU: each task seeds itself, reads
its inputs from the store and runs with the same number of torch threads.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from musefuse.core.engine.executors import CUDA_WORKERS, Executor, Reporter, apply_threads, why_failed
from musefuse.core.engine.kinds import run_task
from musefuse.core.engine.store import ArtifactStore
from musefuse.core.engine.task import Task
from musefuse.core.errors import ConfigError, MusefuseError

INSTALL_HINT = "--executor ray needs Ray: pip install 'musefuse[ray]'"
# A worker that dies is restarted this many times per task before the task counts as failed.
MAX_RETRIES = 3
# On CUDA without --gpus-per-task: as many trainings per GPU as the local executor runs (executors.py).
DEFAULT_GPUS_PER_TASK = int(10_000 / CUDA_WORKERS) / 10_000  # rounded down: 6 x 0.1666 fit on one GPU
STORE_ID = ".musefuse-store-id"
_POLL_SECONDS = 0.2


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"{INSTALL_HINT} (an optional extra; the local executor needs nothing more).") from None
    return ray


class RayExecutor(Executor):
    """Runs tasks as Ray tasks on a local Ray instance or a cluster, with bounded retries.

    ``factory(store)`` builds a worker's context (picklable; it goes into Ray's object store once, with the
    data it carries); ``store`` the artifact store root (shared by every node); ``device`` 'cpu' or 'cuda';
    ``threads`` torch threads (and Ray CPUs) per task; ``address`` the cluster to join (None: ``$RAY_ADDRESS`` or the
    latest local instance, else a new local one, which stays up until this process exits).
    """

    def __init__(self, factory: Callable[[Any], Any], store: Path, device: str, threads: int,
                 address: str | None = None, gpus_per_task: float | None = None, max_retries: int = MAX_RETRIES,
                 log: Callable[[str], None] = lambda _m: None) -> None:
        self.ray = import_ray()
        cuda = str(device).startswith("cuda")
        if gpus_per_task is not None and not cuda:
            raise ConfigError(f"'gpus_per_task': {gpus_per_task} asks for GPUs, but the run's device is {device} "
                              "(use --device cuda, or leave --gpus-per-task out).")
        if gpus_per_task is not None and not 0 < gpus_per_task <= 1:
            raise ConfigError(f"'gpus_per_task': {gpus_per_task} must be in (0, 1] (0.25: four trainings per GPU).")
        self.factory, self.store, self.device, self.threads = factory, Path(store), str(device), threads
        self.address, self.max_retries, self.log = address, max_retries, log
        self.gpus = (gpus_per_task or DEFAULT_GPUS_PER_TASK) if cuda else 0.0
        self.attempts: dict[str, list[tuple[str, int]]] = {}  # task key -> (host, pid) of each start seen
        self._shipped: list[Any] = []  # [the factory's object ref], put once: workers keep what they built from it

    # -- the driver ----------------------------------------------------------------------------
    def _connect(self) -> None:
        """Join or start Ray (once per process)."""
        ray = self.ray
        if ray.is_initialized():
            return
        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = self.address or os.environ.get("RAY_ADDRESS") or "a local instance"
            raise ConfigError(f"--ray-address: cannot start or join Ray at {where} ({exc}).") from None

    def execute(self, tasks: Sequence[Task], reporter: Reporter) -> None:
        if not tasks:
            return
        self._connect()  # a local instance started here lives until the process exits (Ray's atexit
        self._execute(list(tasks), reporter)  # shutdown), so a command with several graphs starts Ray once

    def _execute(self, tasks: list[Task], reporter: Reporter) -> None:
        ray = self.ray
        from ray.util.queue import Queue

        res = ray.cluster_resources()
        self.log(f"ray: {int(res.get('CPU', 0))} CPUs, {res.get('GPU', 0):g} GPUs in the cluster; each training "
                 f"asks for {self.threads} CPU{'s' * (self.threads > 1)}"
                 + (f" and {self.gpus:g} GPU" if self.gpus else "") + f"; up to {self.max_retries} retries")
        if self.gpus and res.get("GPU", 0) == 0:
            raise ConfigError("--executor ray with --device cuda: the Ray cluster has no GPUs.")
        store_id = _store_id(self.store)
        events = Queue(actor_options={"num_cpus": 0})  # 0: never waits for a CPU that trainings hold
        if not self._shipped:  # in a list: Ray passes the reference, workers fetch it on a cache miss
            self._shipped.append(ray.put(self.factory))
        remote = ray.remote(max_calls=0)(_ray_task)  # max_calls=0: GPU workers are reused too (data loaded once)
        options = {"num_cpus": self.threads, "num_gpus": self.gpus, "max_retries": self.max_retries,
                   "retry_exceptions": False}
        by_key = {t.key: t for t in tasks}
        refs: dict[str, Any] = {}
        for task in _dependency_order(tasks):
            upstream = [refs[d] for d in task.deps if d in refs]  # deps outside `tasks` are in the store already
            refs[task.key] = remote.options(**options, name=task.label).remote(
                task, self._shipped, str(self.store), store_id, self.threads, events, *upstream)
        pending = {ref: key for key, ref in refs.items()}
        failed: dict[str, str] = {}  # key -> why
        tracebacks: list[str] = []  # of the plugins that failed (a PluginRunError's details)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=_POLL_SECONDS)
                self._drain(events, by_key, reporter)
                for ref in ready:
                    task = by_key[pending.pop(ref)]
                    try:
                        info = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        failed[task.key] = _why(exc, task, by_key, failed)
                        details = getattr(getattr(exc, "cause", None), "details", None)
                        if details:
                            tracebacks.append(f"{task.label}:\n{details}")
                        continue
                    reporter.finished(task, info, reused=False)
            self._drain(events, by_key, reporter)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            try:
                events.shutdown()
            except Exception:  # noqa: BLE001 - Ray may be going down already
                pass
        if failed:
            error = MusefuseError(
                f"{len(failed)} of {len(tasks)} task(s) failed on Ray:\n"
                + "\n".join(f"  {by_key[k].label}: {why}" for k, why in failed.items())
                + f"\nFinished models are kept in the store ({self.store}): run the same command again to resume."
                + ("\nThe plugins' tracebacks are in the run's log.txt (--debug prints them)." if tracebacks else ""))
            error.details = "\n".join(tracebacks) or None  # log.txt and --debug
            raise error

    def _drain(self, events: Any, by_key: dict[str, Task], reporter: Reporter) -> None:
        try:
            n = events.qsize()
            batch = events.get_nowait_batch(n) if n else []
        except Exception:  # noqa: BLE001 - progress must never fail a sweep
            return
        for kind, key, a, b in batch:
            task = by_key.get(key)
            if task is None:
                continue
            if kind == "started":
                first = key not in self.attempts
                self.attempts.setdefault(key, []).append((a, b))
                if first:
                    reporter.started(task)
            else:
                reporter.epoch(task, a, b)


def _dependency_order(tasks: list[Task]) -> list[Task]:
    """``tasks`` with each one after the ones it depends on (plans already list them so)."""
    keys = {t.key for t in tasks}
    done: set[str] = set()
    out: list[Task] = []
    todo = list(tasks)
    while todo:
        ready = [t for t in todo if all(d in done or d not in keys for d in t.deps)]
        if not ready:
            raise MusefuseError("the task graph has a cycle: " + ", ".join(t.label for t in todo))
        for t in ready:
            todo.remove(t)
            done.add(t.key)
            out.append(t)
    return out


def _why(exc: Exception, task: Task, by_key: dict[str, Task], failed: dict[str, str]) -> str:
    """One line on why a task failed (or that it was not run because an upstream task failed)."""
    upstream = [by_key[d].label for d in task.deps if d in failed]
    if upstream:
        return "not run: " + ", ".join(upstream) + " failed"
    cause = getattr(exc, "cause", None)
    if cause is not None:  # raised by the task itself (not retried: it would fail again)
        return why_failed(cause)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__} (its worker died on every attempt: killed, or out of memory?) {first}".rstrip()


def _store_id(root: Path) -> str:
    """The store's id (created once): a worker that cannot read it does not share the driver's store."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / STORE_ID
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        for _ in range(50):  # another driver is writing it right now
            text = path.read_text(encoding="utf-8").strip()
            if text:
                return text
            time.sleep(0.1)
        raise MusefuseError(f"{path}: empty store id; delete the file and run again.") from None
    new = uuid.uuid4().hex
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(new + "\n")
    return new


# -- the workers -----------------------------------------------------------------------------------
_CONTEXT: dict[tuple[str, str], Any] = {}  # (factory's object ref, store) -> this worker's context (one entry)


def _worker_context(shipped: list[Any], store: str, store_id: str) -> Any:
    key = (shipped[0].hex(), store)
    if key not in _CONTEXT:
        import ray

        here = Path(store) / STORE_ID
        try:
            seen = here.read_text(encoding="utf-8").strip()
        except OSError:
            seen = None
        if seen != store_id:
            raise MusefuseError(f"node {socket.gethostname()}: {store} is not the driver's artifact store "
                                f"({here} {'differs' if seen else 'is missing'}). With Ray on several machines the "
                                "store must be on a shared filesystem mounted at the same path on every node.")
        factory = ray.get(shipped[0])  # from this node's object store (fetched once per node)
        _CONTEXT.clear()  # one context at a time per worker
        _CONTEXT[key] = factory(ArtifactStore(Path(store)))
    return _CONTEXT[key]


def _ray_task(task: Task, shipped: list[Any], store: str, store_id: str, threads: int, events: Any,
              *upstream: Any) -> dict[str, Any]:
    """One task on a Ray worker; ``upstream`` (the deps' fit summaries) only orders it after them."""
    host, pid = socket.gethostname(), os.getpid()
    _send(events, ("started", task.key, host, pid))
    artifacts = ArtifactStore(Path(store))
    # A retry of a task whose worker died after writing it, or another run's (and intact: info() checks it first).
    info = artifacts.info(task.key)
    if info is not None:
        return info
    context = _worker_context(shipped, store, store_id)
    apply_threads(threads)
    return run_task(task, context, artifacts, lambda e, s: _send(events, ("epoch", task.key, e, s)))


def _send(events: Any, event: tuple) -> None:
    try:
        events.put_nowait(event)
    except Exception:  # noqa: BLE001 - a lost progress event never fails a training
        pass
