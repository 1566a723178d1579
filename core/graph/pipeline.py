"""The paper's pipeline: difficulty estimator -> unimodal regressors -> late fusion, per run.

``train`` fits every stage on a dataset and returns a :class:`Fitted` pipeline; ``Fitted.apply``
runs the fitted stages on any dataset with the same modalities (the run's own data, or new data for
``musefuse predict``), so a run's test predictions and ``predict``'s are one code path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from musefuse.core.config import RunConfig
from musefuse.core.data.dataset import Dataset, Standardiser, Subject, fill_missing
from musefuse.core.interfaces import DifficultyEstimator, FitContext, Fuser, Modality
from musefuse.core.learning.regressor import Regressor
from musefuse.core.plugins import PluginHost
from musefuse.core.runs import runfolder

STEP_SECONDS = 0.5  # MuSe-Stress: one label every 500 ms


class Reporter(Protocol):
    """Where training progress goes (a rich progress bar in the CLI; nothing in tests)."""

    def start(self, label: str, max_epochs: int, metric: str = "devel CCC") -> None: ...
    def epoch(self, epoch: int, score: float) -> None: ...
    def finish(self, message: str) -> None: ...


class _Silent:
    def start(self, label: str, max_epochs: int, metric: str = "devel CCC") -> None: ...
    def epoch(self, epoch: int, score: float) -> None: ...
    def finish(self, message: str) -> None: ...


def model_seed(seed: int, *parts: str) -> int:
    """A distinct, reproducible seed per model (same run seed -> same seeds everywhere)."""
    digest = hashlib.sha256("/".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass
class Outputs:
    """Per-subject signals of every stage, in the order of the subjects they were computed for."""

    subjects: list[Subject]
    difficulty: dict[str, list[np.ndarray]] = field(default_factory=dict)  # modality -> (T,) each
    unimodal: dict[tuple[str, str], list[np.ndarray]] = field(default_factory=dict)  # (modality, target)
    fusion: dict[str, list[np.ndarray]] = field(default_factory=dict)  # target -> (T,) each


@dataclass
class Fitted:
    """Everything a run learned; applies to any dataset that has the run's modalities."""

    config: RunConfig
    modalities: list[Modality]
    stats: dict[str, Standardiser]
    estimators: dict[str, DifficultyEstimator]
    regressors: dict[tuple[str, str], Regressor]
    fusers: dict[str, Fuser]
    gives_signal: bool

    # -- inputs of each stage ------------------------------------------------------------------
    def features(self, subjects: Sequence[Subject], modality: str) -> list[np.ndarray]:
        return [fill_missing(s.features[modality], self.config.missing) for s in subjects]

    def regressor_inputs(self, x: list[np.ndarray], d: list[np.ndarray]) -> list[np.ndarray]:
        if not (self.gives_signal and self.config.re_unimodal):
            return x
        return [np.concatenate([xi, di[:, None]], axis=1) for xi, di in zip(x, d, strict=True)]

    def fusion_inputs(
        self, out: Outputs, target: str, idx: Sequence[int] | None = None
    ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """(T, M) predictions and (T, M) difficulties (None when the fuser gets no difficulty)."""
        names = [m.name for m in self.modalities]
        rows = range(len(out.subjects)) if idx is None else idx
        preds = [np.stack([out.unimodal[(m, target)][i] for m in names], axis=1) for i in rows]
        if not (self.gives_signal and self.config.re_fusion):
            return preds, None
        return preds, [np.stack([out.difficulty[m][i] for m in names], axis=1) for i in rows]

    # -- applying a fitted pipeline ------------------------------------------------------------
    def apply(self, subjects: list[Subject], stage: str = "fusion") -> Outputs:
        """Run the fitted stages on standardised subjects (up to ``stage``: 'unimodal' or 'fusion')."""
        out = Outputs(subjects)
        for m in self.modalities:
            x = self.features(subjects, m.name)
            out.difficulty[m.name] = self.estimators[m.name].difficulty(x)
            xin = self.regressor_inputs(x, out.difficulty[m.name])
            for t in self.config.targets:
                out.unimodal[(m.name, t)] = self.regressors[(m.name, t)].predict(xin)
        if stage == "fusion":
            for t in self.config.targets:
                out.fusion[t] = self.fusers[t].predict(*self.fusion_inputs(out, t))
        return out

    # -- checkpoints ---------------------------------------------------------------------------
    def save(self, run: Path) -> None:
        for name, st in self.stats.items():
            runfolder.save_tensors(run / "standardisation" / name, _stats_tensors(st), {"modality": name})
        for name, est in self.estimators.items():
            tensors, meta = est.state()
            runfolder.save_tensors(run / "checkpoints" / f"estimator-{name}", tensors,
                                   {"plugin": est.name, **meta})
        for (m, t), reg in self.regressors.items():
            runfolder.save_tensors(run / "checkpoints" / f"regressor-{m}-{t}", *reg.state())
        for t, fuser in self.fusers.items():
            tensors, meta = fuser.state()
            runfolder.save_tensors(run / "checkpoints" / f"fuser-{t}", tensors, {"plugin": fuser.name, **meta})

    @classmethod
    def load(cls, run: Path, config: RunConfig, host: PluginHost, device: Any) -> Fitted:
        modalities = [host.modality(n) for n in config.modalities]
        stats, estimators, regressors, fusers = {}, {}, {}, {}
        for m in modalities:
            tensors, _ = runfolder.load_tensors(run / "standardisation" / m.name)
            stats[m.name] = Standardiser(tensors["mean"].numpy(), tensors["std"].numpy())
            tensors, meta = runfolder.load_tensors(run / "checkpoints" / f"estimator-{m.name}", device)
            estimators[m.name] = host.estimator(meta["plugin"]).load(tensors, meta, device)
            for t in config.targets:
                tensors, meta = runfolder.load_tensors(run / "checkpoints" / f"regressor-{m.name}-{t}", device)
                regressors[(m.name, t)] = Regressor.load(tensors, meta, device)
        for t in config.targets:
            tensors, meta = runfolder.load_tensors(run / "checkpoints" / f"fuser-{t}", device)
            fusers[t] = host.fuser(meta["plugin"]).load(tensors, meta, device)
        gives = host.estimator(config.estimator).gives_signal
        return cls(config, modalities, stats, estimators, regressors, fusers, gives)


def _stats_tensors(st: Standardiser) -> dict[str, Any]:
    import torch

    return {"mean": torch.from_numpy(st.mean), "std": torch.from_numpy(st.std)}


def fit_context(
    cfg: RunConfig, device: Any, settings: Any, seed: int, reporter: Reporter, **options: Any
) -> FitContext:
    return FitContext(
        device=device, seed=seed, settings=settings, loss=cfg.loss, max_epochs=cfg.epochs, patience=cfg.patience,
        window=cfg.window, hop=cfg.hop, batch_size=cfg.batch_size, options=options, progress=reporter.epoch,
    )


def log_fit(log: Callable[[str], None], label: str, result: Any, metric: str = "devel CCC") -> None:
    """One log line per trained model: best epoch, score, time, throughput (frames per second)."""
    if result is None:
        return
    log(f"{label}: best epoch {result.best_epoch}/{result.epochs_run}, {metric} {result.best_score:.4f}, "
        f"{result.seconds:.1f}s, {result.frames_per_second:.0f} frames/s")


def train(
    cfg: RunConfig,
    dataset: Dataset,
    stats: dict[str, Standardiser],
    host: PluginHost,
    device: Any,
    reporter: Reporter | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> tuple[Fitted, Outputs]:
    """Fit every stage; returns the fitted pipeline and its outputs on all subjects of ``dataset``.

    The fuser learns from the train subjects' unimodal predictions and difficulties: in-sample ones
    (models that saw those subjects, as the paper appears to do) or out-of-fold ones (``cfg.folds``
    folds over train subjects: each train subject's predictions and RE come from models that did
    not see it), per ``cfg.fusion_train``.
    """
    reporter = reporter or _Silent()
    modalities = [host.modality(n) for n in cfg.modalities]
    est_cls, fuser_cls = host.estimator(cfg.estimator), host.fuser(cfg.fuser)
    shift = round(cfg.label_shift / STEP_SECONDS)
    subjects = dataset.subjects
    train_idx = [i for i, s in enumerate(subjects) if s.partition == "train"]
    devel_idx = [i for i, s in enumerate(subjects) if s.partition == "devel"]
    labels = {t: [s.labels[t] for s in subjects] for t in cfg.targets}
    fitted = Fitted(cfg, modalities, stats, {}, {}, {}, est_cls.gives_signal)

    def fit_unimodal(m: Modality, fit_idx: list[int], tag: str) -> tuple[DifficultyEstimator, dict, list, list]:
        """Estimator and regressors of one modality fitted on ``fit_idx``; difficulties and regressor
        inputs of all subjects."""
        x = fitted.features(subjects, m.name)
        est = est_cls()
        settings = cfg.settings_for(m.settings_for(cfg.targets[0]))
        if est_cls.gives_signal:
            reporter.start(f"{tag}difficulty {m.name}", cfg.epochs, "devel recon. loss")
        est.fit([x[i] for i in fit_idx], [x[i] for i in devel_idx],
                fit_context(cfg, device, settings, model_seed(cfg.seed, tag, "estimator", m.name), reporter,
                            bottleneck=cfg.ae_bottleneck, noise=cfg.ae_noise, smoothing=cfg.re_smoothing))
        log_fit(log, f"{tag}difficulty {m.name}", getattr(est, "fit_result", None), "devel recon. loss")
        d = est.difficulty(x)
        xin = fitted.regressor_inputs(x, d)
        regs = {}
        for t in cfg.targets:
            reporter.start(f"{tag}unimodal {m.name} → {t}", cfg.epochs)
            ctx = fit_context(cfg, device, cfg.settings_for(m.settings_for(t)),
                              model_seed(cfg.seed, tag, "regressor", m.name, t), reporter)
            reg, result = Regressor.fit([xin[i] for i in fit_idx], [labels[t][i] for i in fit_idx],
                                        [xin[i] for i in devel_idx], [labels[t][i] for i in devel_idx], ctx, shift)
            reporter.finish("")
            log_fit(log, f"{tag}unimodal {m.name} {t}", result)
            regs[t] = reg
        return est, regs, d, xin

    # Stages 1-2 on all train subjects: the models used for devel, test and new data.
    out = Outputs(subjects)
    for m in modalities:
        est, regs, d, xin = fit_unimodal(m, train_idx, "")
        fitted.estimators[m.name] = est
        out.difficulty[m.name] = d
        for t, reg in regs.items():
            fitted.regressors[(m.name, t)] = reg
            out.unimodal[(m.name, t)] = reg.predict(xin)

    # What the fuser learns from on train: in-sample outputs, or out-of-fold ones.
    fuse_src = out
    if cfg.fusion_train == "out-of-fold" and fuser_cls.learned:
        fuse_src = Outputs(subjects, {k: list(v) for k, v in out.difficulty.items()},
                           {k: list(v) for k, v in out.unimodal.items()})
        order = np.random.default_rng(cfg.seed).permutation(train_idx)
        for k, held in enumerate(np.array_split(order, cfg.folds)):
            keep = [i for i in train_idx if i not in set(held)]
            for m in modalities:
                _, regs, d, xin = fit_unimodal(m, keep, f"fold {k + 1}/{cfg.folds} ")
                for i in held:
                    fuse_src.difficulty[m.name][i] = d[i]
                for t, reg in regs.items():
                    for i, p in zip(held, reg.predict([xin[i] for i in held]), strict=True):
                        fuse_src.unimodal[(m.name, t)][i] = p

    # Stage 3: one fuser per target.
    for t in cfg.targets:
        fuser = fuser_cls()
        ctx = fit_context(cfg, device, cfg.fusion_settings(), model_seed(cfg.seed, "fuser", t), reporter)
        if fuser_cls.learned:
            reporter.start(f"fusion ({fuser_cls.name}) → {t}", cfg.epochs)
        fuser.fit(*fitted.fusion_inputs(fuse_src, t, train_idx), [labels[t][i] for i in train_idx],
                  (*fitted.fusion_inputs(out, t, devel_idx), [labels[t][i] for i in devel_idx]), ctx)
        fitted.fusers[t] = fuser
        out.fusion[t] = fuser.predict(*fitted.fusion_inputs(out, t))
        if fuser_cls.learned:
            reporter.finish("")
        log_fit(log, f"fusion {fuser_cls.name} {t}", getattr(fuser, "fit_result", None))
    return fitted, out
