"""Mean ± std over seeds, and tables shaped like the paper's: rows × variants, devel and test CCC per cell.

The std is the sample standard deviation (n − 1) over seeds; with one seed it is not shown.
"Devel-best" is the cell with the highest mean devel CCC in its row (or in the whole table, for
fusion): devel picks, test is only reported.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

Stat = tuple[float, float | None, int]  # mean, sample std (None with one value), n


def mean_std(values: Sequence[float]) -> Stat | None:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None), len(vals)


def fmt(stat: Stat | None, digits: int = 3, sep: str = " ± ") -> str:
    if stat is None:
        return "—"
    mean, std, _ = stat
    return f"{mean:.{digits}f}" + ("" if std is None else f"{sep}{std:.{digits}f}")


# The fusion decision's candidates are named "re" / "no-re" in decisions.json (core/graph/plan.py); the regressors'
# "re" / "plain". Printed, the model without the difficulty input is "plain" wherever it appears.
_PRINTED = {"no-re": "plain"}


def model_name(record: dict[str, Any], records: Sequence[dict[str, Any]] = ()) -> str:
    """The model a record scores, by candidate name: the one the data chose (``chosen``), else as configured —
    're' (reads the difficulty) or 'plain'. A 'combined' record (the mean of the arousal and valence CCC) names
    its targets' models when they differ ('arousal re, valence plain'), found among ``records``. In an ensemble run
    (``--ensemble-seeds``) whose members kept different models: 're in some members' (the report names them)."""
    if record.get("chosen"):
        return _PRINTED.get(record["chosen"], record["chosen"])
    if record.get("target") == "combined":
        twins = {r["target"]: model_name(r) for r in records if r.get("target") in ("arousal", "valence") and all(
            r.get(k) == record.get(k) for k in ("stage", "modalities", "partition", "seed"))}
        if len(twins) == 2:
            return twins["arousal"] if len(set(twins.values())) == 1 else ", ".join(f"{t} {m}" for t, m in
                                                                                  sorted(twins.items()))
    if record.get("re") is None:  # an ensemble (--ensemble-seeds) whose members kept different models
        return "re for one target" if record.get("target") == "combined" else "re in some members"
    return "re" if record["re"] else "plain"


@dataclass
class PaperTable:
    """One table per target: ``rows`` × ``columns``, each cell devel and test CCC over seeds."""

    title: str
    row_name: str
    rows: list[str]
    columns: list[str]
    targets: list[str]
    cells: dict[tuple[str, str, str], dict[str, Stat]] = field(default_factory=dict)  # (target, row, col) -> part
    best: set[tuple[str, str, str]] = field(default_factory=set)
    best_over: str = "row"
    seeds: list[int] = field(default_factory=list)

    def note(self) -> str:
        n = len(self.seeds)
        spread = f"mean ± std over {n} seeds ({', '.join(map(str, self.seeds))})" if n > 1 else \
            f"one seed ({self.seeds[0] if self.seeds else '?'})"
        where = "in its row" if self.best_over == "row" else "in the table"
        return (f"Devel / test CCC, {spread}. Marked: the best mean devel CCC {where} "
                "(chosen on devel; test is only reported).")

    def cell(self, target: str, row: str, col: str) -> dict[str, Stat]:
        return self.cells.get((target, row, col), {})

    def markdown(self) -> str:
        lines = [f"# {self.title}", "", self.note(), ""]
        for t in self.targets:
            lines += [f"## {t}", "", f"| {self.row_name} | " + " | ".join(self.columns) + " |",
                      "|---|" + "---|" * len(self.columns)]
            for row in self.rows:
                cells = []
                for col in self.columns:
                    c = self.cell(t, row, col)
                    if not c:
                        cells.append("")
                        continue
                    devel = fmt(c.get("devel"))
                    if (t, row, col) in self.best:
                        devel = f"**{devel}**"
                    cells.append(f"{devel} / {fmt(c.get('test'))}")
                lines.append(f"| {row} | " + " | ".join(cells) + " |")
            lines.append("")
        return "\n".join(lines)

    def csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["target", self.row_name, "variant", "partition", "ccc_mean", "ccc_std", "n_seeds", "devel_best"])
        for t in self.targets:
            for row in self.rows:
                for col in self.columns:
                    for part, stat in self.cell(t, row, col).items():
                        w.writerow([t, row, col, part, f"{stat[0]:.6f}", "" if stat[1] is None else f"{stat[1]:.6f}",
                                    stat[2], int((t, row, col) in self.best)])
        return buf.getvalue()

    def rich(self) -> list[Any]:
        """One rich Table per target (cells: devel over test, two lines; '*' marks the devel-best)."""
        out = []
        for t in self.targets:
            table = Table(title=f"{t}: devel CCC (* best), test CCC below", show_lines=True)
            table.add_column(self.row_name)
            for col in self.columns:
                table.add_column(col, justify="right")
            for row in self.rows:
                cells = []
                for col in self.columns:
                    c = self.cell(t, row, col)
                    mark = "*" if (t, row, col) in self.best else " "
                    devel, test = fmt(c.get("devel"), sep="±"), fmt(c.get("test"), sep="±")
                    cells.append(f"{devel}{mark}\n{test} " if c else "")
                table.add_row(row, *cells)
            out.append(table)
        return out


def paper_table(
    records: Sequence[dict[str, Any]],
    title: str,
    row_name: str,
    row_of: Callable[[dict[str, Any]], str],
    columns: Sequence[str],
    keep: Callable[[dict[str, Any]], bool],
    best_over: str = "row",
) -> PaperTable:
    """Aggregate ``records`` (their 'variant' is the column) into a :class:`PaperTable`."""
    kept = [r for r in records if keep(r) and r["ccc"] is not None and r["partition"] in ("devel", "test")]
    targets = list(dict.fromkeys(r["target"] for r in kept))
    table = PaperTable(title, row_name, list(dict.fromkeys(row_of(r) for r in kept)), list(columns), targets,
                       best_over=best_over, seeds=sorted({r["seed"] for r in kept}))
    groups: dict[tuple[str, str, str, str], list[float]] = {}
    for r in kept:
        groups.setdefault((r["target"], row_of(r), r["variant"], r["partition"]), []).append(r["ccc"])
    for (t, row, col, part), vals in groups.items():
        stat = mean_std(vals)
        if stat is not None:
            table.cells.setdefault((t, row, col), {})[part] = stat
    for t in targets:
        scopes = [[(row, c) for c in table.columns] for row in table.rows] if best_over == "row" else \
            [[(row, c) for row in table.rows for c in table.columns]]
        for scope in scopes:
            scored = [(table.cell(t, row, c)["devel"][0], row, c) for row, c in scope
                      if "devel" in table.cell(t, row, c)]
            if scored:
                _, row, c = max(scored, key=lambda s: s[0])  # first of equal scores: the earlier variant
                table.best.add((t, row, c))
    return table
