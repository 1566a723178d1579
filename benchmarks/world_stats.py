"""Paired differences between two methods over a matrix of worlds × data draws × training seeds.

A *cell* is one `musefuse run`: (method, world, draw, seed) → a test CCC per target. ``benchmarks/worlds.py``
runs the cells; this module only reads numbers, so it can be tested on constructed matrices.

**Pairing.** A new method's cell is compared with the old method's cell of the same (world, draw, seed) and
nothing else: same data, same training seed. A cell present for one method and absent for the other is *not*
dropped silently: it is returned in ``Paired.missing`` and the report lists it.

**The interval: a t-interval on per-draw mean differences.** Within a world, seeds are nested in draws. The
question is about worlds we have not drawn, so the draw is the unit of replication: average the paired
differences over the seeds of each draw (d̄_k), then take mean(d̄) ± t_{0.975, K−1} · sd(d̄)/√K over the K draws.
For a balanced nested design this is exact under normality, and it carries both variance components: the
variance of a draw's mean is σ²_draw + σ²_seed/S, so the training seeds' spread is in it, without treating
the S·K runs as independent (they are not: runs on one draw share its subjects). We preferred it to a
two-level bootstrap because with K = 3 draws a bootstrap over draws has only 10 distinct resamples and its
variance is biased low by (K−1)/K: it would give intervals that look tight and are not. The cost is honesty
about width: with K = 3 the multiplier is t = 4.30. With one draw there is no interval (``None``): the
spread over seeds alone says nothing about other draws.

**A world given as data** (``worlds.py --data-world``: a MuSe-layout folder such as a held-out set) has no
draws: its data are what they are. Its row's interval is over the paired differences of its training seeds
(t with S − 1 degrees of freedom): how much the comparison depends on the seed on *these* data, which is all
one dataset can say. Such worlds are not averaged into "all worlds" (another population, not another draw).

**All worlds.** One row averages the worlds: for each draw, the mean over worlds of that world's per-draw
mean difference, then the same t-interval over draws. Draw k of two variants share the generator seed (the
same subjects' latent states, labels, corruption plans), so worlds are not independent within a draw;
clustering by draw accounts for that. A world missing from a draw leaves that draw's mean over the worlds
it has (the missing cells are listed).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace

TARGETS = ("arousal", "valence")

# Two-sided 95 % quantiles of Student's t, df 1..30 (no scipy in the dependencies).
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (table to 30, then 1.96 + 2.4/df)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return _T975[df - 1] if df <= len(_T975) else 1.96 + 2.4 / df


@dataclass(frozen=True)
class Interval:
    """A mean difference and its 95 % interval over draws (``lo``/``hi`` None: fewer than two draws)."""

    mean: float
    lo: float | None
    hi: float | None
    draws: int  # draws that contributed
    pairs: int  # (draw, seed) pairs that contributed

    def covers(self, value: float) -> bool:
        return self.lo is not None and self.hi is not None and self.lo <= value <= self.hi


def draw_interval(per_draw: dict[int, float], pairs: int) -> Interval:
    """mean ± t·sd/√K over the per-draw values (module docstring)."""
    values = [per_draw[k] for k in sorted(per_draw)]
    if not values:
        return Interval(math.nan, None, None, 0, 0)
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Interval(mean, None, None, len(values), pairs)
    half = t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Interval(mean, mean - half, mean + half, len(values), pairs)


@dataclass
class Paired:
    """Old and new scores of one target paired by (world, draw, seed)."""

    # world -> draw -> seed -> (old, new)
    pairs: dict[str, dict[int, dict[int, tuple[float, float]]]] = field(default_factory=dict)
    # (method, world, draw, seed) of every cell that the other method has and this one lacks (or that has no score)
    missing: list[tuple[str, str, int, int]] = field(default_factory=list)


def pair(scores: dict[tuple[str, str, int, int], dict[str, float | None]], old: str, new: str, target: str,
         worlds: list[str] | None = None) -> Paired:
    """Pair ``scores[(method, world, draw, seed)][target]`` of ``old`` and ``new``; list what cannot be paired.

    ``worlds`` restricts and orders the worlds (default: every world either method has).
    """
    cells = {m: {(w, d, s): v.get(target) for (mm, w, d, s), v in scores.items() if mm == m} for m in (old, new)}
    keys = sorted(set(cells[old]) | set(cells[new]), key=lambda k: (k[0], k[1], k[2]))
    out = Paired()
    for key in keys:
        w, d, s = key
        if worlds is not None and w not in worlds:
            continue
        a, b = cells[old].get(key), cells[new].get(key)
        if a is None or b is None or math.isnan(a) or math.isnan(b):
            out.missing += [(m, w, d, s) for m, v in ((old, a), (new, b)) if v is None or math.isnan(v)]
            continue
        out.pairs.setdefault(w, {}).setdefault(d, {})[s] = (a, b)
    return out


@dataclass(frozen=True)
class Row:
    """One row of a table: the old and new means over the paired cells and the difference's interval."""

    world: str
    old: float
    new: float
    diff: Interval


def _per_draw(by_draw: dict[int, dict[int, tuple[float, float]]], which: int | None) -> dict[int, float]:
    """Per draw, the mean over seeds of old (0), new (1) or new − old (None)."""
    def value(p: tuple[float, float]) -> float:
        return p[1] - p[0] if which is None else p[which]

    return {d: statistics.fmean(value(p) for p in seeds.values()) for d, seeds in by_draw.items() if seeds}


def rows(paired: Paired, worlds: list[str], given: frozenset[str] = frozenset()) -> list[Row]:
    """A row per world of ``worlds`` that has pairs, then "all worlds" of those not ``given`` as data (module
    docstring; a given world's interval is over its seeds)."""
    out = []
    for w in worlds:
        by_draw = paired.pairs.get(w)
        if not by_draw:
            continue
        n = sum(len(s) for s in by_draw.values())
        if w in given:  # one dataset: the seeds are what varies
            iv = replace(draw_interval({s: b - a for seeds in by_draw.values() for s, (a, b) in seeds.items()}, n),
                         draws=1)
        else:
            iv = draw_interval(_per_draw(by_draw, None), n)
        out.append(Row(w, statistics.fmean(_per_draw(by_draw, 0).values()),
                       statistics.fmean(_per_draw(by_draw, 1).values()), iv))
    present = [w for w in worlds if paired.pairs.get(w) and w not in given]
    if present:
        draws = sorted({d for w in present for d in paired.pairs[w]})

        def across_worlds(which: int | None) -> dict[int, float]:
            """Per draw, the mean over the worlds that have it of their per-draw means."""
            per_world = [_per_draw(paired.pairs[w], which) for w in present]
            return {d: statistics.fmean(p[d] for p in per_world if d in p) for d in draws}

        n = sum(len(s) for w in present for s in paired.pairs[w].values())
        out.append(Row("all worlds", statistics.fmean(across_worlds(0).values()),
                       statistics.fmean(across_worlds(1).values()), draw_interval(across_worlds(None), n)))
    return out


def fmt_diff(iv: Interval) -> str:
    """'+0.012 [−0.020, +0.044]' (no interval with one draw)."""
    if iv.lo is None:
        return f"{iv.mean:+.3f} [one draw: no interval]"
    return f"{iv.mean:+.3f} [{iv.lo:+.3f}, {iv.hi:+.3f}]"


def markdown(target: str, old: str, new: str, table: list[Row], given: frozenset[str] = frozenset()) -> str:
    """The Markdown table of one target (``given``: worlds given as data, whose interval is over seeds)."""
    lines = [f"| {target}: world | {old} | {new} | {new} − {old}, 95 % interval over draws | runs paired |",
             "|---|---|---|---|---|"]
    for r in table:
        name = f"**{r.world}**" if r.world == "all worlds" else r.world
        runs = (f"given data, {r.diff.pairs} seeds (interval over seeds)" if r.world in given else
                f"{r.diff.draws} draws, {r.diff.pairs} pairs")
        lines.append(f"| {name} | {r.old:.3f} | {r.new:.3f} | {fmt_diff(r.diff)} | {runs} |")
    return "\n".join(lines)
