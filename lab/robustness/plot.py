"""The robustness plot: CCC against corruption level, one line per model, seed spread as a band."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from musefuse.core import fileio

MODEL_LABELS = {  # model -> its name in tables and legends
    "fusion-re": "fusion + RE", "fusion-nore": "fusion, no RE", "fusion-oracle": "fusion + true mask (oracle)",
    "fusion-mean": "mean fusion", "fusion-re-aug": "fusion + RE, augmented",
    "fusion-nore-aug": "fusion, no RE, augmented",
}
FUSION_STYLE = {  # model -> (colour, marker); unimodal models get thin dashed muted lines
    "fusion-re": ("tab:red", "o"), "fusion-nore": ("tab:blue", "s"), "fusion-oracle": ("tab:green", "^"),
    "fusion-mean": ("tab:purple", "D"), "fusion-re-aug": ("tab:orange", "v"), "fusion-nore-aug": ("tab:cyan", "P"),
}


def plot_curves(rows: list[dict[str, Any]], levels: Sequence[float], path: Path, target: str = "combined") -> None:
    """One panel per (experiment, partition): mean CCC over seeds per model; fusion models get a band
    (min–max over seeds) when there are several seeds. Written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["target"] == target]
    experiments = list(dict.fromkeys(r["experiment"] for r in rows))
    partitions = list(dict.fromkeys(r["partition"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    fig, axes = plt.subplots(max(len(experiments), 1), max(len(partitions), 1), squeeze=False,
                             figsize=(5.2 * max(len(partitions), 1), 3.6 * max(len(experiments), 1)),
                             sharex=True, sharey=True)
    muted = iter(["tab:brown", "tab:olive", "tab:gray", "tab:pink", "darkkhaki", "rosybrown"])
    unimodal_colour: dict[str, Any] = {}
    for row_i, exp in enumerate(experiments):
        for col_i, part in enumerate(partitions):
            ax = axes[row_i][col_i]
            models = list(dict.fromkeys(r["model"] for r in rows if r["experiment"] == exp and r["partition"] == part))
            for model in models:
                table = np.full((len(seeds), len(levels)), np.nan)
                for r in rows:
                    if r["experiment"] == exp and r["partition"] == part and r["model"] == model \
                            and r["ccc"] is not None and r["level"] in levels:
                        table[seeds.index(r["seed"]), list(levels).index(r["level"])] = r["ccc"]
                if np.isnan(table).all():
                    continue
                with warnings.catch_warnings():  # a level no seed scored is a gap in the line
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean, lo, hi = np.nanmean(table, 0), np.nanmin(table, 0), np.nanmax(table, 0)
                if model in FUSION_STYLE:
                    colour, marker = FUSION_STYLE[model]
                    style = {"color": colour, "marker": marker, "linewidth": 2.0, "markersize": 5}
                else:  # unimodal: thin dashed, no band (the fusion lines are what is compared)
                    colour = unimodal_colour.setdefault(model, next(muted, "0.5"))
                    style = {"color": colour, "linestyle": "--", "linewidth": 1.0, "marker": ".", "markersize": 4}
                ax.plot(levels, mean, label=MODEL_LABELS.get(model, model.replace("-", " ", 1)), **style)
                if len(seeds) > 1 and model in FUSION_STYLE:
                    ax.fill_between(levels, lo, hi, color=colour, alpha=0.15, linewidth=0)
            ax.set_title(f"{exp} — {part}", fontsize=10)
            ax.grid(True, alpha=0.3)
            if col_i == 0:
                ax.set_ylabel(f"{target} CCC")
            if row_i == len(experiments) - 1:
                ax.set_xlabel("corruption level (0 = clean)")
    handles, labels = [], []
    for ax in axes.ravel():
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    spread = f"band: min–max over {len(seeds)} seeds" if len(seeds) > 1 else "1 seed (no spread)"
    fig.suptitle(f"Noise robustness: {target} CCC against corruption level — line: mean, {spread}", fontsize=11)
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    height = fig.get_figheight()  # margins in inches, whatever the number of panels
    legend_rows = (len(labels) + 3) // 4
    fig.tight_layout(rect=(0, (0.15 + 0.2 * legend_rows) / height, 1, 1 - 0.4 / height))
    with fileio.atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
