"""The experiment: per seed, the pipelines with and without RE (and the oracle, the augmented ones), scored
clean and at each corruption level; the RE's AUC as a detector of the injected corruption.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musefuse.core.config import RunConfig, updated
from musefuse.core.data.dataset import Dataset, Subject
from musefuse.core.errors import ConfigError
from musefuse.core.method.pipeline import Fitted, Outputs, Reporter, fit_context, model_seed
from musefuse.core.plugin_host import PluginHost
from musefuse.core.runs.checkpoints import load_fitted
from musefuse.core.runs.runner import load_run_config
from musefuse.core.runs.session import Session
from musefuse.lab.difficulty_quality import TruthMasks, difficulty_auc, read_truth_masks, separation
from musefuse.lab.robustness.corrupt import (
    CorruptionSet,
    CorruptionSpec,
    augmented_dataset,
    corrupt_subjects,
    label,
    parse_levels,
    parse_partitions,
)
from musefuse.lab.robustness.report import Results, fmt, score, write_results

# What `musefuse robustness` writes into --out: what prepare() may clear there, and nothing else.
OUTPUT_ENTRIES = frozenset({"log.txt", "environment.json", "robustness.csv", "difficulty.csv", "robustness.md",
                            "robustness.png", "summary.json"})


@dataclass
class Pipelines:
    """The fitted models of one seed."""

    re: Fitted
    nore: Fitted
    oracle: dict[str, Any] | None = None  # target -> fuser fed truth masks instead of RE
    augmented: dict[str, Fitted] = field(default_factory=dict)  # 're-aug' / 'nore-aug'


def predictions(p: Pipelines, subjects: list[Subject], truth: TruthMasks | None,
                injected: dict[str, list[np.ndarray]]) -> tuple[dict[str, dict[str, list[np.ndarray]]], dict]:
    """model -> target -> one (T,) prediction per subject; and the RE pipeline's difficulties."""
    targets = p.re.config.inputs.targets
    names = [m.name for m in p.re.modalities]
    out_re = p.re.apply(subjects)
    preds: dict[str, dict[str, list[np.ndarray]]] = {"fusion-re": out_re.fusion}
    preds["fusion-nore"] = p.nore.apply(subjects).fusion
    uni = {t: [np.stack([out_re.unimodal[(m, t)][i] for m in names], axis=1) for i in range(len(subjects))]
           for t in targets}
    preds["fusion-mean"] = {t: [u.mean(axis=1) for u in uni[t]] for t in targets}
    if p.oracle is not None and truth is not None:
        masks = oracle_masks(subjects, names, truth, injected)
        preds["fusion-oracle"] = {t: p.oracle[t].predict(uni[t], masks) for t in targets}
    for key, fitted in p.augmented.items():
        preds[f"fusion-{key}"] = fitted.apply(subjects).fusion
    for m in names:
        preds[f"unimodal-{m}"] = {t: out_re.unimodal[(m, t)] for t in targets}
    return preds, out_re.difficulty


def oracle_masks(subjects: Sequence[Subject], names: list[str], truth: TruthMasks,
                 injected: dict[str, list[np.ndarray]] | None = None) -> list[np.ndarray]:
    """(T, M) float32 per subject: 1 where the data's truth or an injected corruption marks a frame."""
    out = []
    for i, s in enumerate(subjects):
        cols = []
        for m in names:
            mask = truth[s.id][m] if s.id in truth else np.zeros(len(s.timestamps), bool)
            if injected and m in injected:
                mask = mask | injected[m][i]
            cols.append(mask)
        out.append(np.stack(cols, axis=1).astype(np.float32))
    return out


def fit_oracle(fitted: Fitted, subjects: list[Subject], truth: TruthMasks, host: PluginHost, device: Any,
               reporter: Reporter | None = None) -> dict[str, Any]:
    """One BiRNN fuser per target over the RE pipeline's unimodal predictions ⊕ the truth masks.

    Trained like the run's fuser (train subjects, devel for early stopping) with in-sample unimodal
    predictions; only its difficulty input differs: the true corruption mask instead of the RE.
    """
    cfg, names = fitted.config, [m.name for m in fitted.modalities]
    out = fitted.apply(subjects, stage="unimodal")
    masks = oracle_masks(subjects, names, truth)
    part = {p: [i for i, s in enumerate(subjects) if s.partition == p] for p in ("train", "devel")}
    fusers = {}

    def pick(xs: list, p: str) -> list:
        return [xs[i] for i in part[p]]

    for t in cfg.inputs.targets:
        preds = [np.stack([out.unimodal[(m, t)][i] for m in names], axis=1) for i in range(len(subjects))]
        labels = [s.labels[t] for s in subjects]
        fuser = host.fuser("birnn")()
        ctx = fit_context(cfg, device, cfg.model.fusion_settings(), model_seed(cfg.execution.seed, "oracle-fuser", t))
        fuser.fit(pick(preds, "train"), pick(masks, "train"), pick(labels, "train"),
                  (pick(preds, "devel"), pick(masks, "devel"), pick(labels, "devel")), ctx)
        fusers[t] = fuser
    return fusers


def evaluate_robustness(
    base: RunConfig,
    experiments: list[CorruptionSet],
    levels: Sequence[float],
    out: Path,
    *,
    runs: Sequence[Path] = (),
    baseline_runs: Sequence[Path] = (),
    seeds: int = 1,
    partitions: Sequence[str] = ("devel", "test"),
    augment: bool = False,
    overwrite: bool = False,
    reporter: Reporter | None = None,
    echo: Callable[[str], None] = lambda _m: None,
) -> Results:
    """Train (or load) K pipelines with and without RE, corrupt, score, write --out.

    ``base`` is the training config (the first run's own config when ``runs`` are given); seed k
    trains with ``base.execution.seed + k`` and seeds its corruptions with it. ``runs[k]`` / ``baseline_runs[k]``
    (finished run folders with and without RE) replace seed k's training; with runs given, their
    own seeds are used and K is at least their number.
    """
    levels = parse_levels(list(levels))
    if seeds < 1:
        raise ConfigError("'seeds': must be at least 1.")
    partitions = parse_partitions(partitions)
    # models train in this process, one at a time (corrupted and augmented copies of the data live in memory)
    with Session.open([base], out, overwrite=overwrite, entries=OUTPUT_ENTRIES, reporter=reporter, echo=echo,
                      workers=1) as session:
        base, host, device, log, out = session.configs[0], session.host, session.device, session.log, session.folder
        # a modality's folder alias (faus) names the modality itself (fau), as in --modalities
        experiments = [tuple(CorruptionSpec(host.modality(s.modality).name, s.corruption) for s in exp)
                       for exp in experiments]
        for exp in experiments:
            for spec in exp:
                host.corruption(spec.corruption)
                if spec.modality not in base.inputs.modalities:
                    raise ConfigError(f"'corrupt': modality '{spec.modality}' is not one of this pipeline's "
                                      f"modalities ({', '.join(base.inputs.modalities)}).")
        log(f"device {device} | {session.par.threads} torch thread{'s' * (session.par.threads > 1)}")

        def load(path: Path) -> tuple[int, Fitted]:
            cfg = load_run_config(path)
            # load_fitted checks every checkpoint: a damaged run folder is an error naming the file
            return cfg.execution.seed, load_fitted(Path(path), updated(cfg, device=base.execution.device), host, device)

        loaded = [load(r) for r in runs]
        loaded_nore = [load(r) for r in baseline_runs]
        if any(f.gives_signal for _, f in loaded_nore):
            raise ConfigError("'baseline-run': a baseline run must be trained without RE (estimator: none).")
        seeds = max(seeds, len(loaded), len(loaded_nore))
        dataset = session.load(stats=loaded[0][1].stats if loaded else None)
        base = session.configs[0]
        root = session.root
        truth = read_truth_masks(root, dataset.subjects, base.inputs.modalities)
        log(f"musefuse robustness → {out} | data {root} ({len(dataset.subjects)} subjects"
            f"{', with truth masks' if truth else ', no truth masks: no oracle'}) | device {device} | "
            f"{seeds} seed(s) | levels {', '.join(f'{lv:g}' for lv in levels)}")
        evaluated = [s for s in dataset.subjects if s.partition in partitions]
        rows: list[dict[str, Any]] = []
        quality: list[dict[str, Any]] = []
        seed_list = [loaded[k][0] if k < len(loaded) else base.execution.seed + k for k in range(seeds)]
        for k, seed in enumerate(seed_list):
            cfg = updated(base, seed=seed)
            pipes = _pipelines(cfg, session, dataset, loaded[k][1] if k < len(loaded) else None,
                               loaded_nore[k][1] if k < len(loaded_nore) else None,
                               truth, experiments if augment else None)
            clean_preds, clean_difficulty = predictions(pipes, evaluated, truth, {})
            clean_rows = score(clean_preds, evaluated, partitions)
            if truth is not None:  # the data's own corruptions, seen by the clean pipeline
                for part in partitions:
                    for m, res in difficulty_auc(Outputs(evaluated, clean_difficulty), None, truth, [part]).items():
                        quality.append({"experiment": "(data)", "level": 0.0, "seed": seed, "partition": part,
                                        "modality": m, "source": "truth", **res})
            for exp in experiments:
                for level in levels:
                    if level == 0.0:
                        level_rows, injected, difficulty = clean_rows, {}, clean_difficulty
                    else:
                        subjects, injected = corrupt_subjects(evaluated, exp, level, seed, host)
                        preds, difficulty = predictions(pipes, subjects, truth, injected)
                        level_rows = score(preds, subjects, partitions)
                    new = [{"experiment": label(exp), "level": level, "seed": seed, **r} for r in level_rows]
                    rows += new
                    quality += _injected_quality(exp, level, seed, evaluated, partitions, injected, difficulty,
                                                 clean_difficulty, truth)
                    log(_progress_line(label(exp), level, seed, new, partitions))
        results = Results(rows, quality, levels, seed_list, out)
        write_results(results, base, [*runs, *baseline_runs])
        log(f"written: {out / 'robustness.md'}, robustness.csv, difficulty.csv, robustness.png")
    return results


def _pipelines(cfg: RunConfig, session: Session, dataset: Dataset, loaded: Fitted | None,
               loaded_nore: Fitted | None, truth: TruthMasks | None,
               augment: list[CorruptionSet] | None) -> Pipelines:
    host, device, log = session.host, session.device, session.log

    def fit(c: RunConfig, data: Dataset, what: str) -> Fitted:
        log(f"seed {c.execution.seed}: training the pipeline {what}")
        return session.fit(c, data)

    # "with RE" means it here: where the config leaves the choice to the data, both stages read the RE
    left_to_data = [k for k in ("re_unimodal", "re_fusion") if getattr(cfg.method.decisions, k) == "devel"]
    # ... and the fusers compared are the configured one with and without it (no fuser candidate replaces it)
    re_cfg = updated(cfg, **dict.fromkeys(left_to_data, True), fuser_candidates=[])
    re = loaded if loaded is not None else fit(re_cfg, dataset, "with RE")
    if loaded is not None:
        log(f"seed {cfg.execution.seed}: the pipeline with RE is the run's own")
    nore_cfg = updated(cfg, estimator="none", fuser_candidates=[])
    nore = loaded_nore if loaded_nore is not None else fit(nore_cfg, dataset, "without RE (estimator: none)")
    if loaded_nore is not None:
        log(f"seed {cfg.execution.seed}: the pipeline without RE is a finished baseline run")
    oracle = None
    if truth is not None:
        log(f"seed {cfg.execution.seed}: training the oracle fuser (true corruption masks instead of RE)")
        oracle = fit_oracle(re, dataset.subjects, truth, host, device, session.tasks.reporter)
    pipes = Pipelines(re, nore, oracle)
    if augment:
        aug = augmented_dataset(dataset, augment, cfg.execution.seed, host)
        pipes.augmented["re-aug"] = fit(re_cfg, aug, "with RE, augmented")
        pipes.augmented["nore-aug"] = fit(nore_cfg, aug, "without RE, augmented")
    return pipes


def _injected_quality(exp: CorruptionSet, level: float, seed: int, subjects: list[Subject], partitions: Sequence[str],
                      injected: dict[str, list[np.ndarray]], difficulty: dict[str, list[np.ndarray]],
                      clean: dict[str, list[np.ndarray]], truth: TruthMasks | None) -> list[dict[str, Any]]:
    """AUC of the RE on injected-corrupted frames (this level) against clean frames (same subjects, level 0).

    Clean frames are taken from the uncorrupted pass so a global corruption (noise on every frame) and
    a recurrent auto-encoder's spill-over into neighbouring frames do not leave the negatives empty or
    contaminated; frames the data's truth marks corrupted, and missing frames, are left out of them.
    """
    rows = []
    for spec in exp:
        m = spec.modality
        for part in partitions:
            idx = [i for i, s in enumerate(subjects) if s.partition == part]
            if level == 0.0:
                res = separation(np.zeros(0), np.zeros(0))
                res["n_clean"] = 0
            else:
                inside = [difficulty[m][i][injected[m][i]] for i in idx]
                outside = []
                for i in idx:
                    s = subjects[i]
                    ok = ~np.isnan(s.features[m]).all(axis=1)
                    if truth is not None:
                        ok &= ~truth[s.id][m]
                    outside.append(clean[m][i][ok])
                res = separation(np.concatenate(inside), np.concatenate(outside))
            rows.append({"experiment": label(exp), "level": level, "seed": seed, "partition": part,
                         "modality": m, "source": "injected", **res})
    return rows


def _progress_line(exp: str, level: float, seed: int, rows: list[dict[str, Any]], partitions: Sequence[str]) -> str:
    parts = []
    for part in partitions:
        cells = [f"{r['model']} {fmt(r['ccc'])}" for r in rows if r["partition"] == part and r["target"] == "combined"]
        if cells:
            parts.append(f"{part}: " + ", ".join(cells))
    return f"{exp} level {level:g} seed {seed} | combined CCC | " + " | ".join(parts)
