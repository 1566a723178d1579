"""Scores and what ``musefuse robustness`` writes: CCC rows, curve summaries, the tables, the files in --out."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from musefuse.core import fileio
from musefuse.core.config import RunConfig
from musefuse.core.data.dataset import Subject
from musefuse.core.learning.metrics import partition_scores
from musefuse.lab.robustness.plot import MODEL_LABELS, plot_curves

MIN_BASE_CCC = 0.1  # below this level-0 CCC, "relative robustness" (a ratio) is not reported


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


def fmt(v: float | None, digits: int = 3) -> str:
    """A CCC for a table or the log: ``digits`` after the point, '—' for None."""
    return "—" if v is None else f"{v:.{digits}f}"


def _ms(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


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
                mean = fmt(s.get("mean")) + (f" ± {s['mean_std']:.3f}" if s.get("mean_std") is not None else "")
                rel = fmt(s.get("relative")) + (f" ± {s['relative_std']:.3f}"
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
