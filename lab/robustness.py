"""Noise robustness (``musefuse robustness``): does the difficulty signal make fusion robust to corruption?

The paper's untested hypothesis is that the reconstruction error (RE), by telling the fuser which
modality is unreliable, "could bring more robustness to the fusion model toward corrupted
modalities". This module tests it: for each of K seeds it trains (or loads) a pipeline with RE and
a separately trained one without (``estimator: none``), corrupts the standardised features of the
devel and test subjects with Corruption plugins at each level, applies the fitted pipelines, and
scores every model (docs/robustness.md):

    fusion-re      the paper's fusion, with RE             fusion-nore     the fusion of the no-RE pipeline
    fusion-mean    mean of the RE pipeline's unimodal      unimodal-<m>    each unimodal model (RE pipeline)
    fusion-oracle  a BiRNN fuser given the true corruption mask instead of the RE (data with truth/ only)
    fusion-re-aug, fusion-nore-aug   pipelines trained on corruption-augmented train data (--augment)

The same corruption (same seed) is applied to every model of a seed, and the random draws of one
subject do not depend on the level, so curves are paired comparisons.
"""

from __future__ import annotations

import csv
import hashlib
import io
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from musefuse.core import fileio
from musefuse.core.config import RunConfig
from musefuse.core.data.dataset import PARTITIONS, Dataset, Subject
from musefuse.core.errors import ConfigError, nearest
from musefuse.core.interfaces import Corruption
from musefuse.core.learning.metrics import partition_scores
from musefuse.core.method.pipeline import Fitted, Outputs, Reporter, fit_context, model_seed
from musefuse.core.plugin_host import PluginHost
from musefuse.core.runs.checkpoints import load_fitted
from musefuse.core.runs.runner import load_run_config
from musefuse.core.runs.session import Session
from musefuse.lab.difficulty_quality import TruthMasks, difficulty_auc, read_truth_masks, separation
from musefuse.lab.robustness_plot import MODEL_LABELS, plot_curves

DEFAULT_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
# What `musefuse robustness` writes into --out: what prepare() may clear there, and nothing else.
OUTPUT_ENTRIES = frozenset({"log.txt", "environment.json", "robustness.csv", "difficulty.csv", "robustness.md",
                            "robustness.png", "summary.json"})
MIN_BASE_CCC = 0.1  # below this level-0 CCC, "relative robustness" (a ratio) is not reported


# -- what to corrupt ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CorruptionSpec:
    """One corruption of one modality, e.g. ``vggface:occlusion``."""

    modality: str
    corruption: str

    def __str__(self) -> str:
        return f"{self.modality}:{self.corruption}"


CorruptionSet = tuple[CorruptionSpec, ...]  # corruptions applied together, at the same level


def label(exp: CorruptionSet) -> str:
    return "+".join(str(s) for s in exp)


def parse_corrupt(text: str) -> list[CorruptionSet]:
    """'vggface:occlusion,egemaps:gaussian' -> two corruption sets; 'a:x+b:y' corrupts a and b together."""
    experiments = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        specs = []
        for item in part.split("+"):
            modality, sep, name = item.strip().partition(":")
            if not sep or not modality or not name:
                raise ConfigError(f"'corrupt': '{item.strip()}' is not MODALITY:CORRUPTION (e.g. vggface:occlusion).")
            specs.append(CorruptionSpec(modality.strip(), name.strip()))
        experiments.append(tuple(specs))
    if not experiments:
        raise ConfigError("'corrupt': name at least one MODALITY:CORRUPTION (e.g. vggface:occlusion).")
    return experiments


def parse_levels(text: str | Sequence[float]) -> list[float]:
    """Sorted, unique levels in [0, 1]; level 0 is always included (every curve starts clean)."""
    try:
        values = [float(v) for v in (text.split(",") if isinstance(text, str) else text) if str(v).strip()]
    except ValueError:
        raise ConfigError(f"'levels': '{text}' is not a comma-separated list of numbers in [0, 1].") from None
    bad = [v for v in values if not 0.0 <= v <= 1.0]
    if bad:
        raise ConfigError(f"'levels': {bad[0]} is outside [0, 1] (0 = untouched, 1 = strongest).")
    return sorted({0.0, *values})


def parse_partitions(names: Sequence[str]) -> list[str]:
    """The partitions to corrupt and score (--partitions), each once, each one of train, devel, test."""
    if not names:
        raise ConfigError(f"--partitions: no partition given; choose from {', '.join(PARTITIONS)}.")
    for name in names:
        if name not in PARTITIONS:
            raise ConfigError(f"--partitions: unknown partition '{name}'.{nearest(name, list(PARTITIONS))} "
                              f"Known: {', '.join(PARTITIONS)}.")
    return list(dict.fromkeys(names))


def corrupt_subjects(
    subjects: Sequence[Subject],
    exp: CorruptionSet,
    level: float,
    seed: int,
    host: PluginHost,
    pool_from: Sequence[Subject] | None = None,
) -> tuple[list[Subject], dict[str, list[np.ndarray]]]:
    """Copies of ``subjects`` with ``exp`` applied at ``level`` to their standardised features.

    Returns the copies and, per corrupted modality, one (T,) bool mask per subject. Each subject's
    random generator is keyed by (seed, spec, subject id) only, so the draws do not change with the
    level. A subject's splice pool is the clean features of the other subjects of its partition
    among ``pool_from`` (default: ``subjects``).
    """
    pool_from = list(subjects if pool_from is None else pool_from)
    out = [replace(s, features=dict(s.features)) for s in subjects]
    masks: dict[str, list[np.ndarray]] = {}
    for spec in exp:
        corruption: Corruption = host.corruption(spec.corruption)()
        earlier = masks.get(spec.modality)  # the same modality twice in one experiment: masks are OR-ed
        masks[spec.modality] = []
        for i, (s, c) in enumerate(zip(subjects, out, strict=True)):
            pool = [p.features[spec.modality] for p in pool_from if p.partition == s.partition and p.id != s.id]
            rng = np.random.default_rng(model_seed(seed, "corrupt", str(spec), s.id))
            x, mask = corruption.apply(c.features[spec.modality], level, rng, pool)
            x, mask = np.asarray(x, np.float32), np.asarray(mask, bool)
            if x.shape != s.features[spec.modality].shape or mask.shape != (len(x),):
                raise ConfigError(f"corruption '{spec.corruption}' returned shapes {x.shape}, {mask.shape} "
                                  f"for features {s.features[spec.modality].shape}; it must keep (T, D) and give (T,)")
            c.features[spec.modality] = x
            masks[spec.modality].append(mask | earlier[i] if earlier else mask)
    return out, masks


# -- the models of one seed --------------------------------------------------------------------


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
    targets = p.re.config.targets
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

    for t in cfg.targets:
        preds = [np.stack([out.unimodal[(m, t)][i] for m in names], axis=1) for i in range(len(subjects))]
        labels = [s.labels[t] for s in subjects]
        fuser = host.fuser("birnn")()
        ctx = fit_context(cfg, device, cfg.fusion_settings(), model_seed(cfg.seed, "oracle-fuser", t))
        fuser.fit(pick(preds, "train"), pick(masks, "train"), pick(labels, "train"),
                  (pick(preds, "devel"), pick(masks, "devel"), pick(labels, "devel")), ctx)
        fusers[t] = fuser
    return fusers


def augmented_dataset(dataset: Dataset, experiments: list[CorruptionSet], seed: int, host: PluginHost) -> Dataset:
    """The dataset plus one corrupted copy of every train subject (a random experiment at a level ~ U(0, 1))."""
    rng = np.random.default_rng(model_seed(seed, "augment"))
    train_subjects = dataset.partition("train")
    copies = []
    for k, s in enumerate(train_subjects):
        exp = experiments[int(rng.integers(len(experiments)))]
        level = float(rng.uniform(0.0, 1.0))
        (c,), _ = corrupt_subjects([s], exp, level, model_seed(seed, "augment", str(k)), host, train_subjects)
        copies.append(replace(c, id=f"{s.id}~aug"))
    # Other content, other fingerprint: the artifact store must never take these models for clean-data ones.
    tag = hashlib.sha256(f"{dataset.fingerprint}/augment/{seed}/{[str(e) for e in experiments]}".encode())
    return replace(dataset, subjects=[*dataset.subjects, *copies], fingerprint=tag.hexdigest(),
                   part_fingerprints={})  # data_key falls back to the tagged fingerprint


# -- scores ------------------------------------------------------------------------------------


def score(preds: dict[str, dict[str, list[np.ndarray]]], subjects: Sequence[Subject],
          partitions: Sequence[str]) -> list[dict[str, Any]]:
    """Rows (model, partition, target, ccc), target 'combined' = mean of the targets' CCC (MuSe score)."""
    rows = []
    for model, by_target in preds.items():
        for part in partitions:
            idx = [i for i, s in enumerate(subjects) if s.partition == part]
            if not idx:
                continue
            cccs = {}
            for t, values in by_target.items():
                cccs[t] = partition_scores([values[i] for i in idx], [subjects[i].labels[t] for i in idx])["ccc"]
                rows.append({"model": model, "partition": part, "target": t, "ccc": cccs[t]})
            if len(cccs) > 1:
                both = None if any(v is None for v in cccs.values()) else float(np.mean(list(cccs.values())))
                rows.append({"model": model, "partition": part, "target": "combined", "ccc": both})
    return rows


def curve_summary(levels: Sequence[float], cccs: Sequence[float | None]) -> dict[str, float | None]:
    """One number per robustness curve.

    ``mean``: the mean CCC over the levels (level 0 included) — what the ranking uses: a model that is
    good clean and stays good ranks first. ``relative``: ``mean / CCC(level 0)``, the share of its clean
    score a model keeps (MultiBench's relative robustness, for CCC); None when CCC(0) < 0.1, where a
    ratio to a near-zero (or negative) score is meaningless. ``drop``: CCC(0) − CCC(highest level).
    """
    pairs = [(lv, c) for lv, c in zip(levels, cccs, strict=True) if c is not None]
    if not pairs or pairs[0][0] != 0.0:
        return {"mean": None, "relative": None, "drop": None}
    values = [c for _, c in pairs]
    mean = float(np.mean(values))
    base = values[0]
    return {"mean": mean, "relative": mean / base if base >= MIN_BASE_CCC else None, "drop": base - values[-1]}


# -- the whole experiment ----------------------------------------------------------------------


@dataclass
class Results:
    """Everything ``musefuse robustness`` measured (also written to --out)."""

    rows: list[dict[str, Any]]  # experiment, level, seed, model, partition, target, ccc
    difficulty: list[dict[str, Any]]  # experiment, level, seed, partition, modality, source, auc, ...
    levels: list[float]
    seeds: list[int]
    out: Path

    @property
    def target(self) -> str:
        """What tables and plot show: 'combined' (mean of the targets' CCC), or the only target."""
        targets = list(dict.fromkeys(r["target"] for r in self.rows))
        return "combined" if "combined" in targets or not targets else targets[0]

    def summary(self, target: str | None = None) -> list[dict[str, Any]]:
        return summarize(self.rows, self.levels, target or self.target)


def summarize(rows: list[dict[str, Any]], levels: Sequence[float], target: str = "combined") -> list[dict[str, Any]]:
    """Per (experiment, partition, model): curve summaries per seed, then mean and std over seeds."""
    keys = dict.fromkeys((r["experiment"], r["partition"], r["model"]) for r in rows if r["target"] == target)
    out = []
    for exp, part, model in keys:
        per_seed: dict[int, dict[float, float | None]] = {}
        for r in rows:
            if (r["experiment"], r["partition"], r["model"], r["target"]) == (exp, part, model, target):
                per_seed.setdefault(r["seed"], {})[r["level"]] = r["ccc"]
        sums = [curve_summary(levels, [c.get(lv) for lv in levels]) for c in per_seed.values()]
        entry: dict[str, Any] = {"experiment": exp, "partition": part, "model": model, "seeds": len(sums)}
        for k in ("mean", "relative", "drop"):
            vals = [s[k] for s in sums if s[k] is not None]
            entry[k] = float(np.mean(vals)) if vals else None
            entry[f"{k}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
        out.append(entry)
    return out


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
    trains with ``base.seed + k`` and seeds its corruptions with it. ``runs[k]`` / ``baseline_runs[k]``
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
                if spec.modality not in base.modalities:
                    raise ConfigError(f"'corrupt': modality '{spec.modality}' is not one of this pipeline's "
                                      f"modalities ({', '.join(base.modalities)}).")
        log(f"device {device} | {session.par.threads} torch thread{'s' * (session.par.threads > 1)}")

        def load(path: Path) -> tuple[int, Fitted]:
            cfg = load_run_config(path)
            # load_fitted checks every checkpoint: a damaged run folder is an error naming the file
            return cfg.seed, load_fitted(Path(path), cfg.model_copy(update={"device": base.device}), host, device)

        loaded = [load(r) for r in runs]
        loaded_nore = [load(r) for r in baseline_runs]
        if any(f.gives_signal for _, f in loaded_nore):
            raise ConfigError("'baseline-run': a baseline run must be trained without RE (estimator: none).")
        seeds = max(seeds, len(loaded), len(loaded_nore))
        dataset = session.load(stats=loaded[0][1].stats if loaded else None)
        base = session.configs[0]
        root = session.root
        truth = read_truth_masks(root, dataset.subjects, base.modalities)
        log(f"musefuse robustness → {out} | data {root} ({len(dataset.subjects)} subjects"
            f"{', with truth masks' if truth else ', no truth masks: no oracle'}) | device {device} | "
            f"{seeds} seed(s) | levels {', '.join(f'{lv:g}' for lv in levels)}")
        evaluated = [s for s in dataset.subjects if s.partition in partitions]
        rows: list[dict[str, Any]] = []
        quality: list[dict[str, Any]] = []
        seed_list = [loaded[k][0] if k < len(loaded) else base.seed + k for k in range(seeds)]
        for k, seed in enumerate(seed_list):
            cfg = base.model_copy(update={"seed": seed})
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
        log(f"seed {c.seed}: training the pipeline {what}")
        return session.fit(c, data)

    # "with RE" means it here: where the config leaves the choice to the data, both stages read the RE
    re_cfg = cfg.model_copy(update={k: True for k in ("re_unimodal", "re_fusion") if getattr(cfg, k) == "devel"})
    re = loaded if loaded is not None else fit(re_cfg, dataset, "with RE")
    if loaded is not None:
        log(f"seed {cfg.seed}: the pipeline with RE is the run's own")
    nore_cfg = cfg.model_copy(update={"estimator": "none"})
    nore = loaded_nore if loaded_nore is not None else fit(nore_cfg, dataset, "without RE (estimator: none)")
    if loaded_nore is not None:
        log(f"seed {cfg.seed}: the pipeline without RE is a finished baseline run")
    oracle = None
    if truth is not None:
        log(f"seed {cfg.seed}: training the oracle fuser (true corruption masks instead of RE)")
        oracle = fit_oracle(re, dataset.subjects, truth, host, device, session.tasks.reporter)
    pipes = Pipelines(re, nore, oracle)
    if augment:
        aug = augmented_dataset(dataset, augment, cfg.seed, host)
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
        cells = [f"{r['model']} {_fmt(r['ccc'])}" for r in rows if r["partition"] == part and r["target"] == "combined"]
        if cells:
            parts.append(f"{part}: " + ", ".join(cells))
    return f"{exp} level {level:g} seed {seed} | combined CCC | " + " | ".join(parts)


def _fmt(v: float | None, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def _ms(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


# -- writing -----------------------------------------------------------------------------------


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r[k]) for k in columns})
    return buf.getvalue()


def markdown(results: Results, target: str | None = None) -> str:
    """The tables: CCC per model and level (mean ± std over seeds), the curve summaries, difficulty AUC."""
    rows, levels, target = results.rows, results.levels, target or results.target
    k = len(results.seeds)
    lines = [f"# Noise robustness — {target} CCC, mean ± std over {k} seed(s)", ""]
    summaries = {(s["experiment"], s["partition"], s["model"]): s for s in summarize(rows, levels, target)}
    for exp in dict.fromkeys(r["experiment"] for r in rows):
        for part in dict.fromkeys(r["partition"] for r in rows):
            models = list(dict.fromkeys(r["model"] for r in rows if r["experiment"] == exp and r["partition"] == part))
            if not models:
                continue
            lines += [f"## {exp} — {part}", "",
                      "| model | " + " | ".join(f"level {lv:g}" for lv in levels) + " | mean over levels | relative |",
                      "|---|" + "---:|" * (len(levels) + 2)]
            ranked = sorted(models, key=lambda m: -(summaries.get((exp, part, m), {}).get("mean") or -9))
            for model in ranked:
                cells = []
                for lv in levels:
                    vals = [r["ccc"] for r in rows if (r["experiment"], r["partition"], r["model"], r["target"],
                                                       r["level"]) == (exp, part, model, target, lv)
                            and r["ccc"] is not None]
                    cells.append(_ms(vals))
                s = summaries.get((exp, part, model), {})
                mean = _fmt(s.get("mean")) + (f" ± {s['mean_std']:.3f}" if s.get("mean_std") is not None else "")
                rel = _fmt(s.get("relative")) + (f" ± {s['relative_std']:.3f}"
                                                 if s.get("relative_std") is not None else "")
                lines.append(f"| {MODEL_LABELS.get(model, model)} | " + " | ".join(cells) + f" | {mean} | {rel} |")
            lines.append("")
    lines += ["`mean over levels`: mean CCC over all levels, level 0 included (rows are ranked by it). "
              f"`relative`: that mean over the level-0 CCC (— where level-0 CCC < {MIN_BASE_CCC}).", ""]
    lines += _difficulty_markdown(results)
    return "\n".join(lines) + "\n"


def _difficulty_markdown(results: Results) -> list[str]:
    q = results.difficulty
    if not q:
        return []
    lines = ["# Difficulty signal (RE) as a corruption detector — ROC AUC, mean ± std over seeds", "",
             "`truth`: the data's own corruptions (truth/ masks) vs clean frames, uncorrupted inputs. "
             "`injected`: frames corrupted at that level vs clean frames of the same subjects at level 0. "
             "0.5 = no better than chance.", ""]
    data_rows = [r for r in q if r["source"] == "truth"]
    if data_rows:
        lines += ["| modality | partition | AUC | mean RE inside | mean RE outside |", "|---|---|---:|---:|---:|"]
        for m, part in dict.fromkeys((r["modality"], r["partition"]) for r in data_rows):
            sel = [r for r in data_rows if (r["modality"], r["partition"]) == (m, part)]
            lines.append(f"| {m} | {part} | " + " | ".join(
                _ms([r[k] for r in sel if r[k] is not None]) for k in ("auc", "mean_inside", "mean_outside")) + " |")
        lines.append("")
    inj = [r for r in q if r["source"] == "injected" and r["level"] > 0]
    levels = [lv for lv in results.levels if lv > 0]
    if inj:
        lines += ["| injected | partition | " + " | ".join(f"AUC @ {lv:g}" for lv in levels) + " |",
                  "|---|---|" + "---:|" * len(levels)]
        for exp, m, part in dict.fromkeys((r["experiment"], r["modality"], r["partition"]) for r in inj):
            cells = [_ms([r["auc"] for r in inj if (r["experiment"], r["modality"], r["partition"], r["level"])
                          == (exp, m, part, lv) and r["auc"] is not None]) for lv in levels]
            lines.append(f"| {exp} ({m}) | {part} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def write_results(results: Results, cfg: RunConfig, runs: Sequence[Path] = ()) -> None:
    """robustness.csv, difficulty.csv, robustness.md, summary.json and robustness.png into ``results.out``."""
    out = results.out
    fileio.write_text(out / "robustness.csv", _csv(results.rows, ["experiment", "level", "seed", "model",
                                                                     "partition", "target", "ccc"]))
    fileio.write_text(out / "difficulty.csv", _csv(results.difficulty, [
        "experiment", "level", "seed", "partition", "modality", "source", "auc", "mean_inside", "mean_outside",
        "n_corrupt", "n_clean"]))
    fileio.write_text(out / "robustness.md", markdown(results))
    plot_curves(results.rows, results.levels, out / "robustness.png", results.target)
    fileio.write_json(out / "summary.json", {
        "runs": [str(r) for r in runs], "config": cfg.model_dump(mode="json"), "levels": results.levels,
        "seeds": results.seeds,
        "summary": results.summary(),
    })
