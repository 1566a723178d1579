"""A benchmark over worlds: methods compared on every synthetic variant × data draws × training seeds.

A *world* is a synthetic variant (`musefuse synth --variant`, plus `unseen-no-leak`: unseen-subjects with
`--level-leak 0`), a *draw* is the generator's `--seed` (other subjects, other corruptions, other maps), a
*seed* is `musefuse run --seed`. A *method* is a named set of `musefuse run` flags, optionally at another git
commit (run from a `git worktree` under OUT/trees with this interpreter's packages, as `unseen.py --old`
does). The first method is the baseline ("old"); every other one is paired with it by (world, draw, seed) and
reported as new − old with a 95 % interval over draws (`world_stats.py` says why that interval). One table per
target (fusion CCC on test; test never chooses anything in a run).

Everything goes through the CLI in subprocesses (`musefuse synth`, `musefuse run`), so the benchmark does not
depend on the package's internals. Each cell (method, world, draw, seed) is a file OUT/cells/SCALE/METHOD/
WORLD-dD-sS.json once done; a killed matrix resumes where it stopped. OUT/worlds-SCALE.{md,json,csv} hold the
tables and every per-run number.

    # the reduced matrix (2 cores, about an hour for 2 methods): 3 draws × 6 worlds × 2 seeds
    nice -n 10 python benchmarks/worlds.py \\
        --method default= --method candidates="--unimodal-candidates recording,delay+2s,delay+4s"
    # an older commit's default against this checkout's
    python benchmarks/worlds.py --method old@af87665= --method new=
    # the same matrix at the full scale (69 subjects, full length, egemaps + vggface + fau, cpu preset)
    python benchmarks/worlds.py --scale full ...
    # few subjects at full length (32 subjects, 20/6/6: the size of issue 34's real data)
    python benchmarks/worlds.py --scale small ...
    # does the reduced scale rank the methods as the full scale does? (a subset of both)
    python benchmarks/worlds.py --check-ranking --worlds default,unseen-subjects --draws 0 --seeds 0,1 ...
    # your own data as worlds (a held-out set, real recordings): once per seed, interval over the seeds
    python benchmarks/worlds.py --scale full --worlds "" --seeds 0,1,2 --data-world setA=/data/setA \
        --data-world real=/data/real --method old@af87665= --method new=
    # tables from the cells already done, nothing run
    python benchmarks/worlds.py --report-only ...
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import world_stats as ws  # noqa: E402
from unseen import git_head, shim  # noqa: E402
from world_plot import forest  # noqa: E402

HERE = Path(__file__).resolve().parents[1]

# world -> `musefuse synth` flags
WORLDS: dict[str, list[str]] = {
    "default": [],
    "unseen-subjects": ["--variant", "unseen-subjects"],
    "unseen-no-leak": ["--variant", "unseen-subjects", "--level-leak", "0"],  # the partition-wide leak off
    "identity-heavy": ["--variant", "identity-heavy"],
    "hidden-levels": ["--variant", "hidden-levels"],
    "re-misleads": ["--variant", "re-misleads"],
}


@dataclass(frozen=True)
class Scale:
    """How big each world is and how long each model trains."""

    synth: tuple[str, ...]  # `musefuse synth` flags
    run: tuple[str, ...]  # `musefuse run` flags shared by every method
    modalities: str
    note: str


SCALES = {
    # 30 short subjects (18/6/6; `--small`: 72-88 steps, 36-44 s each), two modalities, at most 4 epochs:
    # a cell in about a minute on 2 free cores. 6 devel and 6 test subjects make each cell noisy; the draws and
    # seeds are what average it out, and `--check-ranking` is the guard against a scale that ranks otherwise.
    "reduced": Scale(("--subjects", "30", "--small"), ("--preset", "cpu", "--epochs", "4", "--patience", "2"),
                     "egemaps,vggface", "30 subjects (18/6/6) of 72-88 steps (`--small`), egemaps + vggface, cpu "
                     "preset with at most 4 epochs (patience 2)"),
    # the plumbing only (tests): 9 short subjects (5/2/2), one modality, one epoch
    "tiny": Scale(("--small",), ("--preset", "cpu", "--epochs", "1", "--patience", "1", "--folds", "2"), "egemaps",
                  "9 subjects of ~80 steps, egemaps, 1 epoch: plumbing, not evidence"),
    "full": Scale((), ("--preset", "cpu"), "egemaps,vggface,fau",
                  "69 subjects (41/14/14), full length, egemaps + vggface + fau, cpu preset"),
    # the full scale with as few subjects as the real data issue 34 reports (32 participants, 19/6/7): few
    # subjects to learn from, long recordings and the full training budget, which neither other scale has
    "small": Scale(("--subjects", "32"), ("--preset", "cpu"), "egemaps,vggface,fau",
                   "32 subjects (20/6/6), full length, egemaps + vggface + fau, cpu preset"),
}


@dataclass(frozen=True)
class Method:
    name: str
    flags: tuple[str, ...]
    commit: str | None  # None: this checkout


def parse_method(text: str) -> Method:
    """'NAME=FLAGS' or 'NAME@COMMIT=FLAGS' (FLAGS may be empty: the defaults)."""
    head, sep, flags = text.partition("=")
    if not sep:
        raise SystemExit(f"--method {text!r}: expected NAME=FLAGS or NAME@COMMIT=FLAGS (FLAGS may be empty)")
    name, _, commit = head.partition("@")
    if not name or "/" in name or name.startswith("."):
        raise SystemExit(f"--method {text!r}: a method needs a plain name")
    return Method(name, tuple(shlex.split(flags)), commit or None)


def parse_data_worlds(texts: list[str]) -> dict[str, Path]:
    """'NAME=PATH' each: worlds whose data are a folder, named apart from the generated ones."""
    out: dict[str, Path] = {}
    for text in texts:
        name, sep, path = text.partition("=")
        if not sep or not name or "/" in name or name in WORLDS or name in out or name == "all worlds":
            raise SystemExit(f"--data-world {text!r}: expected NAME=PATH with a new plain name (not one of "
                             f"{', '.join(WORLDS)})")
        if not (Path(path) / "metadata" / "partition.csv").is_file():
            raise SystemExit(f"--data-world {text!r}: {path} is not a MuSe-layout folder (no metadata/partition.csv)")
        out[name] = Path(path).resolve()
    return out


def cell_name(world: str, draw: int, seed: int) -> str:
    return f"{world}-d{draw}-s{seed}"


def read_cells(folder: Path) -> dict[tuple[str, str, int, int], dict]:
    """Every finished cell under ``folder`` (OUT/cells/SCALE): (method, world, draw, seed) -> its record."""
    out = {}
    for path in sorted(folder.glob("*/*.json")):
        rec = json.loads(path.read_text())
        out[(rec["method"], rec["world"], rec["draw"], rec["seed"])] = rec
    return out


def fusion_scores(run_folder: Path) -> dict[str, dict[str, float | None]]:
    """partition -> target -> fusion CCC, from the run folder's results.json."""
    out: dict[str, dict[str, float | None]] = {}
    for r in json.loads((run_folder / "results.json").read_text()):
        if r["stage"] == "fusion" and r["target"] in ws.TARGETS:
            out.setdefault(r["partition"], {})[r["target"]] = r["ccc"]
    return out


class Matrix:
    """Runs cells (resumable) and writes the report."""

    def __init__(self, out: Path, scale: str, methods: list[Method], worlds: list[str], draws: list[int],
                 seeds: list[int], extra: list[str], data_worlds: dict[str, Path] | None = None):
        self.out, self.scale, self.methods = out, scale, methods
        self.data_worlds = data_worlds or {}  # world -> a MuSe-layout folder (one dataset: draw 0 only)
        self.worlds = [*worlds, *self.data_worlds]
        self.draws, self.seeds, self.extra = draws, seeds, extra
        self.cells = out / "cells" / scale
        self.envs: dict[str | None, dict[str, str]] = {}

    # -- code versions -------------------------------------------------------------------------------------------
    def env(self, commit: str | None) -> dict[str, str]:
        """The environment that imports musefuse from this checkout (None) or a worktree at ``commit``."""
        if commit not in self.envs:
            work = self.out / "trees"
            package = HERE
            if commit is not None:
                package = work / commit
                if not (package / "__init__.py").is_file():
                    subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", "-f", str(package), commit],
                                   check=True, capture_output=True)
            env = shim(package, work, commit or "checkout")
            env["MUSEFUSE_CACHE_DIR"] = str(self.out / "cache" / (commit or "checkout"))
            env.pop("MUSEFUSE_STORE", None)
            self.envs[commit] = env
        return self.envs[commit]

    def close(self) -> None:
        for commit in self.envs:
            if commit is not None:
                subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force",
                                str(self.out / "trees" / commit)], capture_output=True)

    # -- data ----------------------------------------------------------------------------------------------------
    def dataset(self, world: str, draw: int) -> Path:
        """The world's data of ``draw``, written by this checkout's generator (the same for every method); a world
        given as data: its folder."""
        if world in self.data_worlds:
            return self.data_worlds[world]
        folder = self.out / "data" / self.scale / f"{world}-d{draw}"
        if not (folder / "truth" / "manifest.json").is_file():
            cmd = [sys.executable, "-m", "musefuse.cli", "synth", "--out", str(folder), "--seed", str(draw),
                   "--modalities", SCALES[self.scale].modalities, *WORLDS[world], *SCALES[self.scale].synth,
                   "--overwrite"]
            subprocess.run(cmd, env=self.env(None), check=True, capture_output=True)
        return folder

    # -- cells ---------------------------------------------------------------------------------------------------
    def order(self) -> list[tuple[int, int, str, Method]]:
        """Seeds outermost, then draws: a matrix stopped halfway still has every draw (intervals over draws). A
        world given as data has one draw, 0."""
        return [(s, 0 if w in self.data_worlds else d, w, m) for s in self.seeds for i, d in enumerate(self.draws)
                for w in self.worlds if not (i and w in self.data_worlds) for m in self.methods]

    def run_cell(self, m: Method, world: str, draw: int, seed: int) -> dict:
        sc = SCALES[self.scale]
        name = cell_name(world, draw, seed)
        run = self.out / "runs" / self.scale / m.name / name
        store = self.out / "store" / (m.commit or "checkout")  # shared by the methods of one code version
        data = self.dataset(world, draw)
        cmd = [sys.executable, "-m", "musefuse.cli", "run", "--data", str(data), "--modalities", sc.modalities,
               "--seed", str(seed), *sc.run, *self.extra, *m.flags, "--store", str(store), "--out", str(run),
               "--overwrite", "--json"]
        run.parent.mkdir(parents=True, exist_ok=True)
        start, cpu = time.monotonic(), _child_cpu()
        with open(run.with_suffix(".log"), "w") as log:
            proc = subprocess.run(cmd, env=self.env(m.commit), stdout=subprocess.DEVNULL, stderr=log)
        seconds, cpu = time.monotonic() - start, _child_cpu() - cpu
        if proc.returncode != 0 or not (run / "results.json").is_file():
            raise RuntimeError(f"exit {proc.returncode}; see {run.with_suffix('.log')}")
        scores = fusion_scores(run)
        return {"method": m.name, "commit": m.commit, "flags": list(m.flags), "world": world, "draw": draw,
                "seed": seed, "scale": self.scale, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
                "test": scores.get("test", {}), "devel": scores.get("devel", {}),
                "command": " ".join(cmd[2:]), "run": str(run)}

    def done(self) -> dict[tuple[str, str, int, int], dict]:
        """The finished cells, less those of a world given as data that ran on another folder of that name."""
        cells = read_cells(self.cells)
        return {k: v for k, v in cells.items() if k[1] not in self.data_worlds
                or f"--data {self.data_worlds[k[1]]} " in v.get("command", "")}

    def run_all(self) -> None:
        todo = self.order()
        done = self.done()
        left = [c for c in todo if (c[3].name, c[2], c[1], c[0]) not in done]
        print(f"worlds [{self.scale}]: {len(todo)} cells, {len(todo) - len(left)} done, {len(left)} to run",
              flush=True)
        times = [r["seconds"] for r in done.values()]
        for i, (seed, draw, world, m) in enumerate(left, 1):
            path = self.cells / m.name / f"{cell_name(world, draw, seed)}.json"
            try:
                rec = self.run_cell(m, world, draw, seed)
            except (RuntimeError, subprocess.CalledProcessError) as err:
                print(f"[{i}/{len(left)}] {m.name} {cell_name(world, draw, seed)}: FAILED ({err})", flush=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(rec, indent=1))
            tmp.replace(path)  # a cell is done only once its file is whole
            times.append(rec["seconds"])
            eta = sum(times) / len(times) * (len(left) - i)
            t = rec["test"]
            print(f"[{i}/{len(left)}] {m.name} {cell_name(world, draw, seed)}: {rec['seconds']:.0f} s "
                  f"({rec['cpu_seconds']:.0f} CPU s), test arousal "
                  f"{_f(t.get('arousal'))} valence {_f(t.get('valence'))}; about {eta / 60:.0f} min left",
                  flush=True)

    # -- report --------------------------------------------------------------------------------------------------
    def report(self, console: bool = True) -> str:
        recs = self.done()
        names = [m.name for m in self.methods]
        keep = {k: v for k, v in recs.items() if k[0] in names and k[1] in self.worlds
                and (k[2] in self.draws or k[1] in self.data_worlds) and k[3] in self.seeds}
        scores = {k: v["test"] for k, v in keep.items()}
        expected = len(self.order())
        secs = [v["seconds"] for v in keep.values()]
        cpus = {n: [v["cpu_seconds"] for k, v in keep.items() if k[0] == n and "cpu_seconds" in v] for n in names}
        sc = SCALES[self.scale]
        lines = [f"# Worlds ({self.scale} scale), checkout {git_head()}", "",
                 f"Scale: {sc.note}. Worlds: {', '.join(self.worlds)}"
                 + "".join(f" ({w} = the data in {p})" for w, p in self.data_worlds.items())
                 + f"; draws {_ints(self.draws)}; "
                 f"training seeds {_ints(self.seeds)}. Methods: "
                 + "; ".join(f"**{m.name}** = {_describe(m)}" for m in self.methods) + ".", "",
                 f"Cells done: {len(keep)} of {expected}"
                 + (f"; {sum(secs) / len(secs):.0f} s per cell on average (wall, as run on a shared machine)"
                    if secs else "")
                 + "".join(f"; {n}: {sum(c) / len(c):.0f} CPU s per cell" for n, c in cpus.items() if c) + ".",
                 "Fusion CCC on test; old and new paired by (world, draw, seed); means over draws of the per-draw "
                 "mean over seeds; 95 % t-interval over draws (benchmarks/world_stats.py).", ""]
        tables = {}
        for new in names[1:]:
            for target in ws.TARGETS:
                paired = ws.pair(scores, names[0], new, target, self.worlds)
                table = ws.rows(paired, self.worlds, frozenset(self.data_worlds))
                tables[(new, target)] = table
                lines += [ws.markdown(target, names[0], new, table, frozenset(self.data_worlds)), ""]
                if paired.missing:
                    lines += [f"Not paired ({target}): " + ", ".join(
                        f"{m} {cell_name(w, d, s)}" for m, w, d, s in paired.missing) + ".", ""]
        lines += [f"What **{n}** kept, over its {sum(k[0] == n for k in keep)} runs (unimodal decisions, "
                  "decisions.json): " + kept_summary([v for k, v in keep.items() if k[0] == n]) + "."
                  for n in names] + [""]
        missing_cells = [(m.name, w, d, s) for s, d, w, m in self.order() if (m.name, w, d, s) not in keep]
        if missing_cells:
            lines += [f"Cells not run ({len(missing_cells)}): " + _summary(missing_cells) + ".", ""]
        text = "\n".join(lines)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"worlds-{self.scale}.md").write_text(text)
        rows = [{"method": k[0], "world": k[1], "draw": k[2], "seed": k[3], "scale": self.scale,
                 "seconds": v["seconds"], "cpu_seconds": v.get("cpu_seconds"),
                 **{f"{p}_{t}": v[p].get(t) for p in ("test", "devel") for t in ws.TARGETS}}
                for k, v in sorted(keep.items())]
        (self.out / f"worlds-{self.scale}.json").write_text(json.dumps(
            {"cells": list(keep.values()), "expected": expected, "done": len(keep),
             "tables": {f"{n}|{t}": [_row_json(r) for r in tab] for (n, t), tab in tables.items()}}, indent=1))
        if rows:
            with open(self.out / f"worlds-{self.scale}.csv", "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        if tables:
            forest(tables, names[0], self.out / f"worlds-{self.scale}.png")
        if console:
            show(text, tables, names[0])
        return text


def kept_summary(recs: list[dict]) -> str:
    """'plain 10, delay+4s 7, …': how often each regressor candidate was kept, from the runs' decisions.json."""
    counts: dict[str, int] = {}
    for rec in recs:
        path = Path(rec.get("run", "")) / "decisions.json"
        if not path.is_file():
            continue
        for e in json.loads(path.read_text()):
            if e.get("stage") == "unimodal":
                counts[e["chosen"]] = counts.get(e["chosen"], 0) + 1
    return ", ".join(f"{c} {n}" for c, n in sorted(counts.items(), key=lambda x: -x[1])) or "—"


def show(text: str, tables: dict, old: str) -> None:
    """Rich tables on a terminal; the Markdown as it is when the output is logged."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        print(text, flush=True)
        return
    for (new, target), table in tables.items():
        t = Table(title=f"{target}: {new} − {old}, fusion CCC on test")
        for col in ("world", old, new, "difference [95 % over draws]", "draws / pairs"):
            t.add_column(col, justify="left" if col == "world" else "right")
        for r in table:
            style = "bold" if r.world == "all worlds" else None
            colour = "green" if r.diff.lo is not None and r.diff.lo > 0 else (
                "red" if r.diff.hi is not None and r.diff.hi < 0 else "")
            diff = escape(ws.fmt_diff(r.diff))  # "[lo, hi]" is text, not markup
            t.add_row(r.world, f"{r.old:.3f}", f"{r.new:.3f}", f"[{colour}]{diff}[/]" if colour else diff,
                      f"{r.diff.draws} / {r.diff.pairs}", style=style)
        console.print(t)


def check_ranking(out: Path, methods: list[Method], worlds: list[str], draws: list[int], seeds: list[int],
                  extra: list[str], run: bool) -> str:
    """Run (or read) the subset at both scales and say, per world and target, whether the difference between
    each method and the first has the same sign, and whether the methods' order on average is the same."""
    tabs = {}
    for scale in ("reduced", "full"):
        mx = Matrix(out, scale, methods, worlds, draws, seeds, extra)
        try:
            if run:
                mx.run_all()
        finally:
            mx.close()
        scores = {k: v["test"] for k, v in read_cells(mx.cells).items()
                  if k[1] in worlds and k[2] in draws and k[3] in seeds}
        tabs[scale] = scores
    names = [m.name for m in methods]
    lines = [f"# Ranking: reduced against full scale ({', '.join(worlds)}; draws {_ints(draws)}; seeds "
             f"{_ints(seeds)})", "", "| target | world | method | reduced: new − old | full: new − old | same sign |",
             "|---|---|---|---|---|---|"]
    # "all worlds" over the worlds both scales have, so that the two averages are of the same worlds
    both = [w for w in worlds if all(any(k[1] == w for k in tabs[s]) for s in tabs)]
    agree = total = 0
    for target in ws.TARGETS:
        for new in names[1:]:
            r = {s: {row.world: row for row in ws.rows(ws.pair(tabs[s], names[0], new, target, both), both)}
                 for s in tabs}
            for w in [*worlds, "all worlds"]:
                a, b = r["reduced"].get(w), r["full"].get(w)
                if a is None or b is None:
                    lines.append(f"| {target} | {w} | {new} | {_f(a and a.diff.mean)} | {_f(b and b.diff.mean)} | "
                                 "not both run |")
                    continue
                same = (a.diff.mean > 0) == (b.diff.mean > 0)
                agree, total = agree + same, total + 1
                lines.append(f"| {target} | {w} | {new} | {a.diff.mean:+.3f} | {b.diff.mean:+.3f} | "
                             f"{'yes' if same else '**no**'} |")
    lines += ["", f"Same sign in {agree} of {total} comparisons."]
    text = "\n".join(lines)
    (out / "ranking.md").write_text(text)
    print(text, flush=True)
    return text


def _summary(cells: list[tuple[str, str, int, int]]) -> str:
    """Every cell by name when there are few, else how many per method and seed."""
    if len(cells) <= 12:
        return ", ".join(f"{m} {cell_name(w, d, s)}" for m, w, d, s in cells)
    counts: dict[tuple[str, int], int] = {}
    for m, _, _, s in cells:
        counts[(m, s)] = counts.get((m, s), 0) + 1
    return ", ".join(f"{m} seed {s}: {n}" for (m, s), n in sorted(counts.items(), key=lambda x: (x[0][1], x[0][0])))


def _child_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far: a cell's cost on a shared machine."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _describe(m: Method) -> str:
    flags = " ".join(m.flags) or "the defaults"
    return f"`{flags}`" + (f" at {m.commit}" if m.commit else " (this checkout)")


def _row_json(r: ws.Row) -> dict:
    return {"world": r.world, "old": r.old, "new": r.new, "diff": r.diff.mean, "lo": r.diff.lo, "hi": r.diff.hi,
            "draws": r.diff.draws, "pairs": r.diff.pairs}


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def _ints(xs: list[int]) -> str:
    return ", ".join(map(str, xs))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="Run options after -- go to every "
                                 "`musefuse run` of the matrix (e.g. -- --workers 2).")
    ap.add_argument("--method", action="append", default=[],
                    help="NAME=FLAGS or NAME@COMMIT=FLAGS, repeated; the first is the baseline "
                         "(default: default= and candidates=--unimodal-candidates recording,delay+2s,delay+4s)")
    ap.add_argument("--worlds", default=",".join(WORLDS), help=f"subset of {', '.join(WORLDS)}")
    ap.add_argument("--data-world", action="append", default=[], metavar="NAME=PATH",
                    help="one more world: a MuSe-layout folder (a held-out set, real data), run once per seed and "
                         "method; its interval is over the seeds; repeatable (--worlds '' for these alone)")
    ap.add_argument("--draws", default="0,1,2", help="generator seeds")
    ap.add_argument("--seeds", default="0,1", help="training seeds")
    ap.add_argument("--scale", choices=list(SCALES), default="reduced")
    ap.add_argument("--out", type=Path, default=HERE / "benchmarks" / "results" / "worlds")
    ap.add_argument("--report-only", action="store_true", help="tables from the cells done; run nothing")
    ap.add_argument("--check-ranking", action="store_true",
                    help="run the given worlds/draws/seeds at both scales and compare the methods' ranking")
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        extra, argv = argv[argv.index("--") + 1:], argv[:argv.index("--")]
    args = ap.parse_args(argv)
    methods = [parse_method(t) for t in args.method] or [
        Method("default", (), None), Method("candidates", ("--unimodal-candidates", "recording,delay+2s,delay+4s"),
                                            None)]
    if len({m.name for m in methods}) != len(methods) or len(methods) < 2:
        raise SystemExit("--method: at least two methods, each with its own name")
    worlds = [w for w in args.worlds.split(",") if w]
    unknown = [w for w in worlds if w not in WORLDS]
    if unknown:
        raise SystemExit(f"Unknown world(s) {', '.join(unknown)}. Known: {', '.join(WORLDS)}")
    draws, seeds = [int(x) for x in args.draws.split(",")], [int(x) for x in args.seeds.split(",")]
    data_worlds = parse_data_worlds(args.data_world)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if args.check_ranking:
        if data_worlds:
            raise SystemExit("--check-ranking compares two scales of generated worlds; a --data-world has one size")
        check_ranking(args.out, methods, worlds, draws, seeds, extra, run=not args.report_only)
        return
    mx = Matrix(args.out, args.scale, methods, worlds, draws, seeds, extra, data_worlds)
    try:
        if not args.report_only:
            mx.run_all()
    finally:
        mx.close()
    mx.report()


if __name__ == "__main__":
    main()
