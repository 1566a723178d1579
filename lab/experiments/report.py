"""``musefuse report``: a self-contained HTML page (and Markdown) with figures, for a run or an experiment.

Run folder: predicted vs gold traces of a few devel subjects per stage; each modality's difficulty
over time with the ground-truth corrupted stretches shaded (when the data have ``truth/``, as the
synthetic data do); CCC by modality and stage. Experiment folder: its table and a chart of devel
and test CCC per variant, mean ± std over seeds. Figures are PNGs beside ``report.md``; the HTML
embeds them, so it can be mailed or attached on its own.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from musefuse.core import fileio
from musefuse.core.data.dataset import STEP_SECONDS
from musefuse.core.data.museio import read_partitions
from musefuse.core.errors import RunFolderError
from musefuse.core.runs import runfolder
from musefuse.lab.difficulty_quality import TRUTH_DIR
from musefuse.lab.experiments import ablations, load_experiment
from musefuse.lab.experiments.summary import models_cell, read_run
from musefuse.lab.experiments.tables import mean_std, model_name

COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    with fileio.atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def _series(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(time in s, value) of a timestamp,segment_id,value (or timestamp,value,...) CSV; None if absent."""
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    return frame["timestamp"].to_numpy() / 1000.0, frame["value"].to_numpy(dtype=float)


# -- run folder ----------------------------------------------------------------------------------


def run_figures(run: Path, out: Path, n_subjects: int = 3) -> tuple[list[tuple[str, Path, str]], list[dict]]:
    """The run's figures: [(title, png, caption)] and its result records."""
    cfg, records = read_run(run)
    root = Path(cfg.get("data") or "")
    if not (root / "metadata").is_dir():
        raise RunFolderError(f"{run}/config.yaml: its data folder {root} is not there; the report reads the gold "
                             "labels from it.")
    parts = read_partitions(root, strict=False)
    devel = [sid for sid, p in parts.items() if p == "devel"][:n_subjects]
    modalities, targets = list(cfg["modalities"]), list(cfg["targets"])
    plt = _plt()
    figures = []

    # 1. predicted vs gold, per devel subject (rows) and target (columns)
    fig, axes = plt.subplots(len(devel), len(targets), squeeze=False, sharex="row",
                             figsize=(6.0 * len(targets), 2.6 * len(devel)))
    for i, sid in enumerate(devel):
        for j, t in enumerate(targets):
            ax = axes[i][j]
            gold = _series(root / "label_segments" / t / f"{sid}.csv")
            if gold is not None:
                ax.plot(*gold, color="black", linewidth=2.0, label="gold")
            for k, m in enumerate(modalities):
                s = _series(run / "predictions" / f"unimodal-{m}" / t / f"{sid}.csv")
                if s is not None:
                    ax.plot(*s, color=COLOURS[k % len(COLOURS)], linewidth=0.9, alpha=0.8, label=f"unimodal {m}")
            s = _series(run / "predictions" / "fusion" / t / f"{sid}.csv")
            if s is not None:
                ax.plot(*s, color="tab:red", linewidth=1.8, label="fusion")
            ax.set_title(f"devel subject {sid} — {t}", fontsize=10)
            ax.set_xlabel("time (s)")
            ax.set_ylabel(f"{t} (label scale, −1 to 1)")
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 5), bbox_to_anchor=(0.5, 1.02))
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    figures.append(("Predicted vs gold (devel)", _save(fig, out / "traces.png"),
                    f"Gold labels (black), each unimodal regressor and the fusion, for {len(devel)} devel subjects."))

    # 2. difficulty over time, per modality (rows) and subject (columns), truth shaded
    if (run / "difficulty").is_dir():
        truth = root / TRUTH_DIR
        fig, axes = plt.subplots(len(modalities), len(devel), squeeze=False, sharex="col",
                                 figsize=(4.6 * len(devel), 2.3 * len(modalities)))
        shaded = False
        for i, m in enumerate(modalities):
            for j, sid in enumerate(devel):
                ax = axes[i][j]
                s = _series(run / "difficulty" / m / f"{sid}.csv")
                if s is not None:
                    ax.plot(*s, color=COLOURS[i % len(COLOURS)], linewidth=1.0, label=f"{m} difficulty (RE)")
                mask = _truth(truth / f"{sid}.csv", m)
                if mask is not None:
                    for a, b in _runs(mask[1]):
                        ax.axvspan(mask[0][a], mask[0][b - 1] + STEP_SECONDS, color="tab:red", alpha=0.18, linewidth=0,
                                   label="corrupted (ground truth)" if not shaded else None)
                        shaded = True
                ax.set_title(f"{m} — devel subject {sid}", fontsize=10)
                ax.set_xlabel("time (s)")
                ax.set_ylabel("difficulty (train z-score)")
                ax.grid(alpha=0.3)
        handles = {lab: h for a in axes.ravel() for h, lab in zip(*a.get_legend_handles_labels(), strict=True)}
        fig.legend(handles.values(), handles.keys(), loc="upper center", ncol=min(len(handles), 4),
                   bbox_to_anchor=(0.5, 1.02))
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        caption = ("Each modality's difficulty signal over time, as the regressors and fuser read it (for ae-re: "
                   "log(1 + reconstruction MSE), z-scored with the train subjects' mean and sd, so 0 is a typical "
                   "train frame)")
        caption += "; shaded: frames the data's ground truth marks as corrupted." if truth.is_dir() else \
            " (the data have no ground-truth corruption masks)."
        figures.append(("Difficulty over time (devel)", _save(fig, out / "difficulty.png"), caption))

    # 3. CCC by modality and stage
    figures.append(("CCC by stage", _save(_ccc_bars(records), out / "ccc.png"),
                    f"CCC per stage and target, devel and test; one run (seed {cfg.get('seed')}): no seed spread."))
    return figures, records


def _truth(path: Path, modality: str) -> tuple[np.ndarray, np.ndarray] | None:
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    col = f"{modality}_corrupt"
    if col not in frame:
        return None
    return frame["timestamp"].to_numpy() / 1000.0, frame[col].to_numpy() > 0.5


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True stretches of ``mask``."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[::2], edges[1::2], strict=True))


def _ccc_bars(records: Sequence[dict[str, Any]]) -> Any:
    plt = _plt()
    targets = list(dict.fromkeys(r["target"] for r in records))
    stages = list(dict.fromkeys(_stage(r) for r in records))
    fig, axes = plt.subplots(1, len(targets), squeeze=False, figsize=(max(4.5, 1.0 * len(stages)) * len(targets), 3.8))
    for j, t in enumerate(targets):
        ax = axes[0][j]
        for k, part in enumerate(("devel", "test")):
            stats = [mean_std([r["ccc"] for r in records if r["target"] == t and _stage(r) == s
                               and r["partition"] == part]) for s in stages]
            x = np.arange(len(stages)) + (k - 0.5) * 0.38
            spread = [np.nan if s is None or s[1] is None else s[1] for s in stats]
            ax.bar(x, [np.nan if s is None else s[0] for s in stats], 0.38, label=part, capsize=3,
                   yerr=None if np.isnan(spread).all() else spread, color=["tab:blue", "tab:gray"][k])
        ax.set_xticks(np.arange(len(stages)), stages, rotation=30, ha="right")
        ax.set_ylabel("CCC (mean ± std over seeds)" if len({r["seed"] for r in records}) > 1 else "CCC")
        ax.set_xlabel("stage (unimodal: the modality)")
        ax.set_title(t)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(title="partition")
    fig.tight_layout()
    return fig


def _stage(r: dict[str, Any]) -> str:
    return "fusion" if r["stage"] == "fusion" else r["modalities"][0]


# -- experiment folder ---------------------------------------------------------------------------


def experiment_figures(folder: Path, out: Path) -> tuple[list[tuple[str, Path, str]], str]:
    """The experiment's chart(s) and its table.md text."""
    meta, records = load_experiment(folder)
    kind = str(meta.get("kind", ""))
    table_md = (folder / "table.md").read_text(encoding="utf-8") if (folder / "table.md").is_file() else ""
    figures = []
    if kind.startswith("ablate-"):
        table = ablations.table(kind.removeprefix("ablate-"), records)
        figures.append(("Devel and test CCC per variant", _save(_variant_bars(table), out / "experiment.png"),
                        table.note()))
    else:
        figures.append(("CCC by stage", _save(_ccc_bars(records), out / "ccc.png"),
                        "CCC per stage and target over every trial (mean ± std)."))
    return figures, table_md


def _variant_bars(table: Any) -> Any:
    plt = _plt()
    fig, axes = plt.subplots(len(table.targets), 2, squeeze=False, sharey=True,
                             figsize=(max(6.0, 1.3 * len(table.rows) * max(1, len(table.columns)) / 2) * 2 / 1.5,
                                      3.2 * len(table.targets)))
    width = 0.8 / max(1, len(table.columns))
    n = len(table.seeds)
    for i, t in enumerate(table.targets):
        for j, part in enumerate(("devel", "test")):
            ax = axes[i][j]
            for k, col in enumerate(table.columns):
                stats = [table.cell(t, row, col).get(part) for row in table.rows]
                x = np.arange(len(table.rows)) + (k - (len(table.columns) - 1) / 2) * width
                spread = [np.nan if s is None or s[1] is None else s[1] for s in stats]
                ax.bar(x, [np.nan if s is None else s[0] for s in stats], width, label=col, capsize=2,
                       yerr=None if np.isnan(spread).all() else spread, color=COLOURS[k % len(COLOURS)])
                if part == "devel":
                    for xi, row in zip(x, table.rows, strict=True):
                        if (t, row, col) in table.best:
                            s = table.cell(t, row, col)["devel"]
                            ax.annotate("★", (xi, s[0] + (s[1] or 0)), ha="center", va="bottom", fontsize=10)
            ax.set_xticks(np.arange(len(table.rows)), table.rows, rotation=20, ha="right")
            ax.set_title(f"{t} — {part}")
            ax.set_ylabel(("CCC (one seed)" if n == 1 else f"CCC (mean ± std, {n} seeds)") if j == 0 else "")
            ax.set_xlabel(table.row_name)
            ax.axhline(0, color="black", linewidth=0.6)
            ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8, title="★ devel-best", title_fontsize=8)
    fig.suptitle(table.title, fontsize=11)
    fig.tight_layout()
    return fig


# -- the page ------------------------------------------------------------------------------------


def _md_tables_to_html(text: str) -> str:
    """The pipe tables, headings and paragraphs of our own table.md files as HTML."""
    out, rows = [], []

    def flush():
        if rows:
            head, *body = rows
            out.append("<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
                       + "</tbody></table>")
            rows.clear()

    for line in text.splitlines():
        esc = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(line.strip()))
        if esc.startswith("|"):
            cells = [c.strip() for c in esc.strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                rows.append(cells)
            continue
        flush()
        if esc.startswith("#"):
            level = min(len(esc) - len(esc.lstrip("#")) + 1, 4)
            out.append(f"<h{level}>{esc.lstrip('#').strip()}</h{level}>")
        elif esc:
            out.append(f"<p>{esc}</p>")
    flush()
    return "\n".join(out)


def write_report(folder: Path, out: Path | None = None, overwrite: bool = True) -> Path:
    """report.html (self-contained), report.md and the PNGs, in ``out`` (default FOLDER/report)."""
    folder = runfolder.require_finished(Path(folder))
    out = Path(out) if out is not None else folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    is_experiment = (folder / "experiment.json").is_file()
    if is_experiment:
        figures, table_md = experiment_figures(folder, out)
        meta = json.loads((folder / "experiment.json").read_text(encoding="utf-8"))
        title = f"musefuse {meta.get('kind', 'experiment')}: {folder.name}"
        m = meta.get("models", {})
        intro = (f"{len(meta.get('trials', []))} trials on {meta.get('data')} ({meta.get('device')}); "
                 f"{m.get('distinct')} distinct models, {m.get('trained')} trained and {m.get('reused')} reused "
                 f"from the artifact store, in {meta.get('seconds')} s.")
    else:
        figures, records = run_figures(folder, out)
        cfg, _ = read_run(folder)
        title = f"musefuse run: {folder.name}"
        intro = (f"Modalities {', '.join(cfg['modalities'])}; targets {', '.join(cfg['targets'])}; estimator "
                 f"{cfg.get('estimator')}, fuser {cfg.get('fuser')}; seed {cfg.get('seed')}; data {cfg.get('data')}.")
        table_md = _run_table(records, None if (folder / "decisions.json").is_file() else _member_decisions(folder))
        decisions = _decisions_table(folder)
        if decisions:
            table_md += "\n\n" + decisions
    md = [f"# {title}", "", intro, "", table_md, ""]
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(intro)}</p>", _md_tables_to_html(table_md)]
    for name, png, caption in figures:
        md += [f"## {name}", "", f"![{name}]({png.name})", "", caption, ""]
        data = base64.b64encode(png.read_bytes()).decode()
        body += [f"<h2>{html.escape(name)}</h2>", f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">',
                 f"<p>{html.escape(caption)}</p>"]
    fileio.write_text(out / "report.md", "\n".join(md))
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(title) + "</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}img{max-width:100%}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
            "text-align:right}td:first-child,th:first-child{text-align:left}</style></head><body>"
            + "\n".join(body) + "</body></html>")
    fileio.write_text(out / "report.html", page)
    return out / "report.html"


def _run_table(records: Sequence[dict[str, Any]], members: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """One row per stage × modalities × target. The model column: what the run kept (``chosen``), or in an ensemble
    (``members``: each seed's decisions.json entries) what each member kept, per seed where they differ."""
    rows = dict.fromkeys((r["stage"], tuple(r["modalities"]), r["target"]) for r in records)
    lines = ["| stage | modalities | target | model | devel CCC [95% CI] | test CCC [95% CI] |",
             "|---|---|---|---|---|---|"]
    for stage, mods, target in rows:
        by = {r["partition"]: r for r in records if (r["stage"], tuple(r["modalities"]), r["target"])
              == (stage, mods, target)}
        first = next(iter(by.values()))
        per_seed = _members_kept(members, stage, mods, target) if members else {}
        model = models_cell(per_seed) if per_seed else model_name(first, records)
        lines.append(f"| {stage} | {'+'.join(mods)} | {target} | {model} | {_with_interval(by.get('devel'))} | "
                     f"{_with_interval(by.get('test'))} |")
    lines += ["", "Combined: the mean of the arousal and valence CCC (the MuSe challenge score). Intervals: 95% over "
              "recordings (a delete-one-recording jackknife on Fisher's z); n/a where fewer than 3 recordings are "
              "labelled."]
    return "\n".join(lines)


def _members_kept(members: dict[str, list[dict[str, Any]]], stage: str, mods: tuple, target: str) -> dict[str, str]:
    """Per ensemble member (seed), the model it kept for one row of the run table ({} where nothing was decided)."""
    kept = {}
    for seed, entries in members.items():
        names = {e.get("target"): _printed(e.get("chosen")) for e in entries if e.get("stage") == stage and (
            stage == "fusion" or [e.get("modality")] == list(mods))}
        if target in names:
            kept[seed] = names[target]
        elif target == "combined" and len(names) > 1:
            kept[seed] = names[next(iter(names))] if len(set(names.values())) == 1 else ", ".join(
                f"{t} {m}" for t, m in sorted(names.items()))
    return kept


def _printed(chosen: Any) -> str:
    return model_name({"chosen": chosen}) if chosen else ""


def _with_interval(record: dict[str, Any] | None) -> str:
    if record is None or record.get("ccc") is None:
        return "—"
    ci = record.get("ccc_ci95")
    return f"{record['ccc']:.4f}" + (" [n/a]" if not ci else f" [{ci[0]:.3f}, {ci[1]:.3f}]")


def _member_decisions(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """An ensemble run's members (``--ensemble-seeds``): seed -> the entries of its ensemble/seed-<s>/decisions.json."""
    out = {}
    for path in sorted((folder / "ensemble").glob("seed-*/decisions.json"),
                       key=lambda p: int(p.parent.name[5:]) if p.parent.name[5:].isdigit() else 0):
        entries = _read_decisions(path)
        if entries:
            out[path.parent.name[5:]] = entries
    return out


def _read_decisions(path: Path) -> list[dict[str, Any]]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _decisions_table(folder: Path) -> str:
    """decisions.json as a table: what was decided, on which evidence, each candidate's CCC ± its standard error.

    An ensemble run (``--ensemble-seeds``) has no decisions.json of its own: each member decided in its own
    ensemble/seed-<s>/decisions.json. The report then shows what each member kept side by side, says where they
    disagree, and gives each member's table."""
    entries = _read_decisions(folder / "decisions.json")
    if entries:
        return "\n".join(["## Decisions", "", _DECISIONS_NOTE, "", *_decision_rows(entries)])
    members = _member_decisions(folder)
    if not members:
        return ""
    seeds = list(members)
    names = list(dict.fromkeys(e.get("decision") for entries in members.values() for e in entries))
    kept = {seed: {e.get("decision"): _printed(e.get("chosen")) for e in entries} for seed, entries in members.items()}
    split = [n for n in names if len({kept[s].get(n) for s in seeds}) > 1]
    lines = ["## Decisions", "", f"An ensemble of {len(seeds)} pipelines (seeds {', '.join(seeds)}), their predictions "
             "averaged; each member decided on its own evidence. " + (
                 f"The members disagree on {len(split)} of {len(names)} decisions." if split else
                 f"The members agree on all {len(names)} decisions."), "",
             "| decision | " + " | ".join(f"seed {s}" for s in seeds) + " | members |",
             "|---|" + "---|" * len(seeds) + "---|"]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(kept[s].get(n) or "—" for s in seeds) + " | "
                     + ("**disagree**" if n in split else "agree") + " |")
    for seed, entries in members.items():
        lines += ["", f"### Decisions of the member with seed {seed}", "", _DECISIONS_NOTE, "",
                  *_decision_rows(entries)]
    return "\n".join(lines)


_DECISIONS_NOTE = ("Each candidate's CCC on unseen-subject evidence ± its subject-bootstrap standard error; a more "
                   "complex candidate is kept only where it wins by more than the standard error of its gain.")


def _decision_rows(entries: list[dict[str, Any]]) -> list[str]:
    lines = ["| decision | evidence | candidates | kept | notes |", "|---|---|---|---|---|"]
    for e in entries:
        cands = ", ".join(f"{_printed(n)} {c['ccc']:.3f} ± {c['se']:.3f}" if c.get("ccc") is not None and
                          c.get("se") is not None else _printed(n) for n, c in (e.get("candidates") or {}).items())
        evidence = f"{e.get('evidence')} ({e.get('n_subjects')} subjects)" if e.get("n_subjects") else e.get("evidence")
        lines.append(f"| {e.get('decision')} | {evidence} | {cands} | **{_printed(e.get('chosen'))}** | "
                     f"{' '.join(e.get('notes') or [])} |")
    return lines
