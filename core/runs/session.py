"""One way into training: `run`, `ablate`, `select` and `robustness` all open a :class:`Session`.

A session checks its configurations against the installed plugins before any data is read, picks
the device, the preset, the workers and the artifact store once, prepares the output folder and
its log, loads and standardises the data once (warning as ``validate`` would), writes
``environment.json``, and trains run plans through the task graph (every model once, whatever the number of
plans that share it). A run is a session with one
configuration; an experiment is a session with many, whose shared models are trained once.

    with Session.open([cfg], out, overwrite=cfg.output.overwrite, echo=echo) as session:
        session.load()
        plan = session.plan(cfg)
        session.train([plan])
        fitted, outputs = session.collect(plan, cfg)
        session.finish(records)
"""

from __future__ import annotations

import platform
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from musefuse.core import fileio
from musefuse.core.config import RunConfig, updated
from musefuse.core.data.dataset import Dataset, Standardiser
from musefuse.core.data.embedded import data_root
from musefuse.core.data.loader import load_dataset, standardise
from musefuse.core.data.validate import check_settings
from musefuse.core.engine.executor_registry import check_executor, make_executor
from musefuse.core.engine.executors import Parallelism, Reporter, SilentReporter, apply_threads, parallelism, run_plan
from musefuse.core.engine.store import ArtifactStore, default_store
from musefuse.core.errors import ConfigError, DataError
from musefuse.core.learning import mean_shrink
from musefuse.core.method.pipeline import Fitted, Outputs, TaskLog, collect, train
from musefuse.core.method.plan import RunPlan, plan_run
from musefuse.core.method.workers import worker_contexts
from musefuse.core.plugin_host import PluginHost, get_host, resolve_aliases
from musefuse.core.runs import runfolder


def resolve_device(name: str) -> Any:
    """'auto' -> CUDA when present, else CPU; 'cuda' without a GPU is a clear error."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("'device': cuda was requested but no CUDA GPU is available (use auto or cpu).")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        torch.backends.cudnn.benchmark = False  # fixed kernels: repeatable runs (cuDNN RNNs are used)
    return torch.device(name)


def check_config(cfg: RunConfig, host: PluginHost) -> RunConfig:
    """``cfg`` with one name per modality, once every plugin it names exists and its options agree."""
    cfg = resolve_aliases(cfg, host)  # one name per modality from here on (run folder, task keys, predict)
    for name in cfg.inputs.modalities:
        host.modality(name)
    estimator = host.estimator(cfg.method.difficulty.estimator)
    fuser = host.fuser(cfg.method.fusion.fuser)
    decisions = cfg.method.decisions
    forced = [f"--{k.replace('_', '-')}" for k in ("re_unimodal", "re_fusion") if getattr(decisions, k) is True]
    source = " (from --pipeline paper)" if cfg.method.pipeline == "paper" else ""
    if forced and not estimator.gives_signal:
        raise ConfigError(f"{' and '.join(forced)}{source}: estimator '{cfg.method.difficulty.estimator}' gives no "
                          "difficulty signal to append; drop the flag or choose an estimator that gives one "
                          "(e.g. ae-re).")
    if decisions.re_fusion is True and not fuser.learned:  # it would be recorded as reading the RE (re: true)
        drop = "add --no-re-fusion" if source else "drop --re-fusion"
        name = cfg.method.fusion.fuser
        raise ConfigError(f"--re-fusion{source} with --fuser {name}: fuser '{name}' learns nothing and reads "
                          f"no difficulty signal, so the RE cannot enter fusion; {drop}, or choose a learned fuser "
                          "(e.g. birnn).")
    return cfg


@dataclass
class Session:
    """What every command that trains shares; see the module docstring. Open it with :meth:`open`."""

    configs: list[RunConfig]  # checked and preset-resolved (data and out are filled in by :meth:`load`)
    host: PluginHost
    device: Any  # torch.device
    par: Parallelism
    store: ArtifactStore
    folder: Path
    log: runfolder.RunLog
    tasks: TaskLog
    started: float = field(default_factory=time.perf_counter)
    root: Path | None = None
    dataset: Dataset | None = None
    stats: dict[str, Standardiser] = field(default_factory=dict)
    _executor: Any = None

    @classmethod
    @contextmanager
    def open(cls, configs: Sequence[RunConfig], folder: Path, *, overwrite: bool = False,
             entries: frozenset[str] = runfolder.RUN_ENTRIES, reporter: Reporter | None = None,
             echo: Callable[[str], None] = lambda _m: None, workers: int | None = None) -> Iterator[Session]:
        """Check ``configs`` (the first one's execution settings serve all), prepare ``folder`` and its log.

        Everything that can be refused is refused before the folder is touched. The log ends with the
        error when the body fails; ``workers`` overrides the configuration's (robustness trains in-process).
        """
        if not configs:
            raise ConfigError("Nothing to train: no configuration.")
        host = get_host()
        configs = [check_config(c, host) for c in configs]
        base = configs[0]
        check_executor(base.execution)  # a missing extra (ray) fails before any data is read
        if base.inputs.data is not None and not Path(base.inputs.data).is_dir():
            raise DataError(f"--data {base.inputs.data}: data folder not found.")
        if len({str(c.inputs.data) for c in configs}) > 1:
            raise ConfigError("The trials of one experiment must use the same --data.")
        device = resolve_device(base.execution.device)
        if base.execution.gpus_per_task is not None and device.type != "cuda":
            raise ConfigError(f"--gpus-per-task {base.execution.gpus_per_task}: the run's device is {device}; "
                              "GPU shares need --device cuda (or auto on a machine with a GPU).")
        # the preset and the pipeline fill what was not set; check again what they filled in
        configs = [check_config(c.with_preset(cuda=device.type == "cuda"), host) for c in configs]
        par = parallelism(device.type, workers or configs[0].execution.workers, configs[0].execution.threads)
        apply_threads(par.threads)
        store = ArtifactStore(base.execution.store or default_store())
        folder = runfolder.prepare(folder, overwrite, entries=entries)
        log = runfolder.RunLog(folder / runfolder.LOG, echo)
        session = cls(configs, host, device, par, store, folder, log, TaskLog(reporter or SilentReporter(), log))
        try:
            yield session
        except BaseException as exc:
            log.failed(exc)  # the log ends with why it stopped; the folder can be reused as it is
            raise
        finally:
            log.close()

    # -- data ------------------------------------------------------------------------------------
    @property
    def modalities(self) -> list[str]:
        return list(dict.fromkeys(m for c in self.configs for m in c.inputs.modalities))

    def load(self, stats: dict[str, Standardiser] | None = None) -> Dataset:
        """Read the data every configuration needs, warn as ``validate`` would, standardise (with ``stats``
        when given: a finished run's), write environment.json; fills each configuration's ``data``."""
        base = self.configs[0]
        mods = [self.host.modality(n) for n in self.modalities]
        targets = list(dict.fromkeys(t for c in self.configs for t in c.inputs.targets))
        self.root = data_root(updated(base, modalities=self.modalities), self.log)
        self.dataset = load_dataset(self.root, mods, targets)
        self.configs = [updated(c, data=self.root.resolve()) for c in self.configs]
        warnings = [f"data warning: {m}" for m in self.dataset.report.warnings[:20]]
        for c in self.configs:
            warnings += [f"warning: {m}" for m in check_settings(
                self.dataset, label_shift=c.inputs.label_shift, window=c.budget.window, folds=c.method.ensemble.folds,
                out_of_fold="out-of-fold" in (c.method.fusion.fusion_train, c.method.difficulty.difficulty_train))]
        for message in dict.fromkeys(warnings):  # once each, whatever the number of configurations
            self.log(message)
        self.stats = standardise(self.dataset, mods, stats=stats)
        self.log(f"data: {len(self.dataset.subjects)} subjects from {self.root} "
                 f"(fingerprint {self.dataset.fingerprint[:12]}), modalities {','.join(self.modalities)}")
        fileio.write_json(self.folder / "environment.json", {**environment(base, self.device, self.dataset),
                                                              "plugins": self.host.distributions()})
        return self.dataset

    # -- training --------------------------------------------------------------------------------
    def plan(self, cfg: RunConfig) -> RunPlan:
        return plan_run(cfg, self.dataset, self.host, self.device.type)

    def train(self, plans: Sequence[RunPlan]) -> dict[str, bool]:
        """Train what the store lacks of ``plans`` (a model several plans share is one task); writes tasks.json.
        Returns task key -> True where the store had it."""
        if self._executor is None:
            contexts = worker_contexts(self.dataset, self.host, self.device)
            self._executor = make_executor(self.configs[0].execution, self.par, contexts, self.device, self.store,
                                           self.log)
        tasks = list({t.key: t for p in plans for t in p.tasks}.values())
        reused = run_plan(tasks, self.store, self._executor, self.tasks)
        fileio.write_json(self.folder / "tasks.json", self.tasks.entries)
        return reused

    def collect(self, plan: RunPlan, cfg: RunConfig) -> tuple[Fitted, Outputs]:
        fitted, outputs = collect(plan, self.store, cfg, self.dataset, self.stats, self.host, self.device)
        for target, shrink in fitted.mean_shrink.items():
            self.log(mean_shrink.describe(target, shrink))
        return fitted, outputs

    def fit(self, cfg: RunConfig, dataset: Dataset) -> Fitted:
        """One configuration trained on an in-memory ``dataset`` (e.g. corrupted copies), in this process."""
        return train(cfg, dataset, self.stats, self.host, self.device, self.tasks.reporter, self.log, self.store)[0]

    def finish(self, records: list[dict[str, Any]]) -> None:
        """results.json, written last: its presence means the folder is finished."""
        self.log(f"finished in {time.perf_counter() - self.started:.0f}s")
        fileio.write_json(self.folder / runfolder.RESULTS, records)


def environment(cfg: RunConfig, device: Any, dataset: Dataset) -> dict[str, Any]:
    """Versions, git commit, device and the data's fingerprint: what repeating the work needs."""
    import torch

    def ver(dist: str) -> str | None:
        try:
            return version(dist)
        except PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "musefuse": ver("musefuse"), "git_commit": commit, "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {d: ver(d) for d in ("torch", "numpy", "pandas", "pydantic", "pluggy", "safetensors")},
        "device": str(device), "cuda_device": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
        "torch_threads": torch.get_num_threads(), "seed": cfg.execution.seed,
        "dataset": {"root": str(dataset.root), "fingerprint": dataset.fingerprint, "folders": dataset.folders,
                    "subjects": {p: len(dataset.partition(p)) for p in ("train", "devel", "test")},
                    "dropped_rows": dataset.report.dropped},
    }
