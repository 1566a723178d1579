"""The worlds report's picture: each method's paired difference from the first method, per world and over all
worlds, with its 95 % interval over draws (a forest plot; one panel per target)."""

from __future__ import annotations

from pathlib import Path

import world_stats as ws

LIMIT = 0.3  # the x axis: wider intervals (one or two draws, t = 12.7 or 4.3) end in an arrow at ±LIMIT


def forest(tables: dict[tuple[str, str], list[ws.Row]], old: str, path: Path) -> None:
    """``tables[(method, target)]``: world_stats.rows of that method against ``old``. Written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(m for m, _ in tables))
    worlds = list(dict.fromkeys(r.world for tab in tables.values() for r in tab))
    fig, axes = plt.subplots(1, len(ws.TARGETS), figsize=(6.2 * len(ws.TARGETS), 0.3 * len(worlds) * len(methods)
                                                           + 1.6), sharey=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    step = 0.8 / max(len(methods), 1)
    for ax, target in zip(axes[0], ws.TARGETS, strict=True):
        for j, method in enumerate(methods):
            rows = {r.world: r for r in tables.get((method, target), [])}
            for i, world in enumerate(worlds):
                r = rows.get(world)
                if r is None:
                    continue
                y = i + (j - (len(methods) - 1) / 2) * step
                lo, hi = r.diff.lo, r.diff.hi
                if lo is not None and hi is not None:  # clipped at ±LIMIT, the clipped end an arrow
                    colour = colours[j % len(colours)]
                    ax.plot([max(lo, -LIMIT), min(hi, LIMIT)], [y, y], color=colour, lw=1.6)
                    for end, side in ((lo, -1), (hi, 1)):
                        if abs(end) > LIMIT and end * side > 0:
                            ax.plot(side * LIMIT, y, ">" if side > 0 else "<", color=colour, ms=5)
                ax.plot(r.diff.mean, y, "o", color=colours[j % len(colours)], ms=5 if world != "all worlds" else 8,
                        label=method if i == 0 else None)
        ax.axvline(0, color="black", lw=0.8)
        for i in range(len(worlds) - 1):
            ax.axhline(i + 0.5, color="grey", lw=0.4, alpha=0.5)
        ax.set_xlim(-LIMIT * 1.05, LIMIT * 1.05)
        ax.set_yticks(range(len(worlds)), [f"$\\bf{{{w.replace(' ', '~')}}}$" if w == "all worlds" else w
                                           for w in worlds])
        ax.invert_yaxis()
        ax.set_xlabel(f"{target}: fusion test CCC, method − {old} (95 % interval over draws)")
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
