"""The benchmark over worlds (benchmarks/worlds.py): pairing by (world, draw, seed), the interval over draws,
missing cells reported, and the report written from cell files — on constructed matrices, nothing trained."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import world_stats as ws  # noqa: E402
import worlds  # noqa: E402


def matrix(diff: float, worlds_=("a", "b"), draws=(0, 1, 2), seeds=(0, 1), noise=0.02, seed=0):
    """Scores of old and new: new = old + diff + noise, old varying by world, draw and seed."""
    rng = np.random.default_rng(seed)
    scores = {}
    for w in worlds_:
        for d in draws:
            for s in seeds:
                base = 0.5 + 0.1 * d + 0.01 * s + (0.05 if w == "b" else 0.0)
                for target in ws.TARGETS:
                    scores.setdefault(("old", w, d, s), {})[target] = base + rng.normal(0, noise)
                    scores.setdefault(("new", w, d, s), {})[target] = base + diff + rng.normal(0, noise)
    return scores


def test_t_quantiles():
    assert ws.t975(2) == pytest.approx(4.303)
    assert ws.t975(1000) == pytest.approx(1.96, abs=0.01)


def test_pairing_is_by_world_draw_and_seed_exactly():
    # old and new differ by a value that encodes the cell, so any mispairing shows
    scores = {}
    for w, wi in (("a", 1), ("b", 2)):
        for d in (0, 1):
            for s in (0, 1, 2):
                scores[("old", w, d, s)] = {"arousal": 0.0}
                scores[("new", w, d, s)] = {"arousal": wi * 100 + d * 10 + s}
    # an unrelated method and an extra old-only cell must not enter the pairs
    scores[("other", "a", 0, 0)] = {"arousal": -1.0}
    paired = ws.pair(scores, "old", "new", "arousal")
    for w, wi in (("a", 1), ("b", 2)):
        for d in (0, 1):
            for s in (0, 1, 2):
                assert paired.pairs[w][d][s] == (0.0, wi * 100 + d * 10 + s)
    assert paired.missing == []


def test_a_known_difference_is_recovered_and_covered():
    table = ws.rows(ws.pair(matrix(0.05, noise=0.01), "old", "new", "arousal"), ["a", "b"])
    assert [r.world for r in table] == ["a", "b", "all worlds"]
    for r in table:
        assert r.diff.mean == pytest.approx(0.05, abs=0.03)
        assert r.diff.covers(0.05)
        assert r.diff.draws == 3
        assert r.new - r.old == pytest.approx(r.diff.mean)
    assert table[-1].diff.pairs == 12
    assert not table[-1].diff.covers(0.0)  # 0.05 with noise 0.01 over 3 draws × 2 seeds × 2 worlds


def test_no_difference_gives_an_interval_covering_zero():
    covered = 0
    for rep in range(200):
        table = ws.rows(ws.pair(matrix(0.0, seed=rep), "old", "new", "valence"), ["a", "b"])
        covered += table[-1].diff.covers(0.0)
    assert covered / 200 >= 0.9  # nominal 95 %: the t-interval over draws is not anti-conservative


def test_identical_methods_give_zero_and_a_degenerate_interval():
    scores = matrix(0.0, noise=0.0)
    table = ws.rows(ws.pair(scores, "old", "new", "arousal"), ["a", "b"])
    for r in table:
        assert r.diff.mean == pytest.approx(0.0) and r.diff.covers(0.0)


def test_the_interval_is_over_draws_not_over_runs():
    # seeds agree perfectly within a draw, draws disagree: the interval must be wide, as wide as 3 draws say
    scores = {}
    for d, delta in zip((0, 1, 2), (-0.1, 0.0, 0.1), strict=True):
        for s in range(10):
            scores[("old", "a", d, s)] = {"arousal": 0.5}
            scores[("new", "a", d, s)] = {"arousal": 0.5 + delta}
    iv = ws.rows(ws.pair(scores, "old", "new", "arousal"), ["a"])[0].diff
    assert iv.mean == pytest.approx(0.0)
    assert iv.hi - iv.lo == pytest.approx(2 * 4.303 * 0.1 / math.sqrt(3), rel=1e-3)
    assert iv.pairs == 30 and iv.draws == 3


def test_a_missing_cell_is_reported_not_dropped_silently():
    scores = matrix(0.02)
    del scores[("new", "a", 1, 0)]
    scores[("old", "b", 2, 1)]["valence"] = None  # a run that scored no valence
    paired = ws.pair(scores, "old", "new", "arousal")
    assert paired.missing == [("new", "a", 1, 0)]
    assert 0 not in paired.pairs["a"][1]
    assert ws.rows(paired, ["a", "b"])[0].diff.pairs == 5
    assert ws.pair(scores, "old", "new", "valence").missing == [("new", "a", 1, 0), ("old", "b", 2, 1)]


def test_one_draw_gives_no_interval():
    table = ws.rows(ws.pair(matrix(0.03, draws=(0,)), "old", "new", "arousal"), ["a", "b"])
    assert all(r.diff.lo is None for r in table)
    assert "no interval" in ws.fmt_diff(table[0].diff)


def test_parse_method():
    m = worlds.parse_method("cand@abc123=--unimodal-candidates recording,delay+2s --epochs 3")
    assert (m.name, m.commit, m.flags) == ("cand", "abc123", ("--unimodal-candidates", "recording,delay+2s",
                                                               "--epochs", "3"))
    assert worlds.parse_method("default=") == worlds.Method("default", (), None)
    with pytest.raises(SystemExit):
        worlds.parse_method("no-equals-sign")


def _write_cells(folder: Path, scores: dict, data: Path | None = None) -> None:
    """Cell files of constructed scores (``data``: the folder each ran on, as a run's command names it)."""
    for (m, w, d, s), test in scores.items():
        path = folder / "cells" / "reduced" / m / f"{w}-d{d}-s{s}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"method": m, "world": w, "draw": d, "seed": s, "seconds": 60.0, "test": test,
                                    "devel": test, "command": f"cli run --data {data} --seed {s}"}))


def test_report_from_cell_files(tmp_path):
    scores = matrix(0.04, worlds_=("default", "re-misleads"))
    del scores[("new", "re-misleads", 2, 1)]
    _write_cells(tmp_path, scores)
    mx = worlds.Matrix(tmp_path, "reduced", [worlds.Method("old", (), None), worlds.Method("new", (), None)],
                       ["default", "re-misleads"], [0, 1, 2], [0, 1], [])
    text = mx.report(console=False)
    assert "Cells done: 23 of 24" in text
    assert "Not paired (arousal): new re-misleads-d2-s1" in text
    assert "Cells not run (1): new re-misleads-d2-s1" in text
    assert "| **all worlds** |" in text
    data = json.loads((tmp_path / "worlds-reduced.json").read_text())
    assert data["done"] == 23 and len(data["cells"]) == 23
    assert (tmp_path / "worlds-reduced.csv").read_text().count("\n") == 24  # header + 23 cells
    row = data["tables"]["new|arousal"][-1]
    assert row["world"] == "all worlds" and row["lo"] < 0.04 < row["hi"]
    assert (tmp_path / "worlds-reduced.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the forest plot


def test_resume_skips_done_cells(tmp_path, monkeypatch):
    scores = matrix(0.0, worlds_=("default",), draws=(0,), seeds=(0, 1))
    del scores[("new", "default", 0, 1)]
    _write_cells(tmp_path, scores)
    ran = []

    def fake(self, m, world, draw, seed):
        ran.append((m.name, world, draw, seed))
        return {"method": m.name, "world": world, "draw": draw, "seed": seed, "seconds": 1.0, "cpu_seconds": 1.0,
                "test": {"arousal": 0.5, "valence": 0.5}, "devel": {}}

    monkeypatch.setattr(worlds.Matrix, "run_cell", fake)
    mx = worlds.Matrix(tmp_path, "reduced", [worlds.Method("old", (), None), worlds.Method("new", (), None)],
                       ["default"], [0], [0, 1], [])
    mx.run_all()
    assert ran == [("new", "default", 0, 1)]
    mx.run_all()
    assert ran == [("new", "default", 0, 1)]


@pytest.mark.slow
def test_end_to_end_tiniest_matrix(tmp_path):
    """The real CLI: one world, one draw, one seed, two methods, 9 small subjects, one epoch."""
    out = tmp_path / "w"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "worlds.py"), "--worlds", "default", "--draws", "0", "--seeds", "0",
         "--scale", "tiny", "--out", str(out), "--method", "a=", "--method", "b=--no-average-candidates"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Cells done: 2 of 2" in (out / "worlds-tiny.md").read_text()
    assert "[2/2]" in proc.stdout


def test_check_ranking_compares_the_scales(tmp_path):
    reduced, full = matrix(0.03, worlds_=("default", "hidden-levels")), matrix(0.03, worlds_=("default",))
    full[("new", "default", 0, 0)]["valence"] = -5.0  # one cell flips valence's sign at full scale
    _write_cells(tmp_path, reduced)
    for (m, w, d, s), test in full.items():
        path = tmp_path / "cells" / "full" / m / f"{w}-d{d}-s{s}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"method": m, "world": w, "draw": d, "seed": s, "seconds": 1.0, "test": test}))
    methods = [worlds.Method("old", (), None), worlds.Method("new", (), None)]
    text = worlds.check_ranking(tmp_path, methods, ["default", "hidden-levels"], [0, 1, 2], [0, 1], [], run=False)
    assert "| arousal | default | new | +0.0" in text
    assert "| valence | default | new |" in text and "**no**" in text
    assert "| arousal | hidden-levels | new |" in text and "not both run" in text
    assert "Same sign in 2 of 4 comparisons." in text  # default and all worlds, per target; valence differs


def test_a_method_of_this_checkout_imports_this_checkout_even_where_another_one_used_the_folder(tmp_path):
    from unseen import shim

    other, mine = tmp_path / "other", tmp_path / "mine"
    other.mkdir(), mine.mkdir()
    shim(other, tmp_path / "trees", "checkout")
    env = shim(mine, tmp_path / "trees", "checkout")  # the same OUT folder, run from another checkout
    assert (Path(env["PYTHONPATH"]) / "musefuse").resolve() == mine.resolve()


def test_a_world_given_as_data_runs_once_per_seed_and_its_interval_is_over_seeds(tmp_path, monkeypatch):
    methods = [worlds.Method("old", (), None), worlds.Method("new", (), None)]
    mx = worlds.Matrix(tmp_path, "reduced", methods, ["default"], [1, 2, 3], [0, 1, 2], [],
                       {"setA": tmp_path / "setA"})
    given = [c for c in mx.order() if c[2] == "setA"]
    assert sorted((s, d, m.name) for s, d, _, m in given) == [(s, 0, m) for s in (0, 1, 2) for m in ("new", "old")]
    assert mx.dataset("setA", 0) == tmp_path / "setA"
    # the generated world: +0.04 on every draw; the data: +0.01, +0.02, +0.03 over the seeds
    scores = {k: v for k, v in matrix(0.04, worlds_=("default",), draws=(1, 2, 3), seeds=(0, 1, 2), noise=0).items()}
    for s in (0, 1, 2):
        scores[("old", "setA", 0, s)] = {t: 0.5 for t in ws.TARGETS}
        scores[("new", "setA", 0, s)] = {t: 0.51 + 0.01 * s for t in ws.TARGETS}
    _write_cells(tmp_path, scores, tmp_path / "setA")
    text = mx.report(console=False)
    assert "Cells done: 24 of 24" in text
    table = {r.world: r for r in ws.rows(ws.pair(scores, "old", "new", "arousal"), mx.worlds, frozenset({"setA"}))}
    data = table["setA"].diff
    assert data.mean == pytest.approx(0.02) and data.lo == pytest.approx(0.02 - 4.303 * 0.01 / math.sqrt(3))
    assert table["all worlds"].diff.mean == pytest.approx(0.04)  # the given data are not averaged in
    assert "| setA | 0.500 | 0.520 | +0.020 [" in text and "given data, 3 seeds (interval over seeds)" in text


def test_a_data_world_must_be_a_muse_folder_with_a_name_of_its_own(tmp_path):
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "partition.csv").write_text("Id,Partition\n")
    assert worlds.parse_data_worlds([f"setA={tmp_path}"]) == {"setA": tmp_path.resolve()}
    for bad in (f"default={tmp_path}", f"setA={tmp_path / 'nope'}", str(tmp_path), f"a/b={tmp_path}"):
        with pytest.raises(SystemExit, match="--data-world"):
            worlds.parse_data_worlds([bad])


def test_a_data_world_cell_of_another_folder_is_not_reused(tmp_path):
    mine, other = tmp_path / "mine", tmp_path / "other"
    _write_cells(tmp_path, {("old", "setA", 0, 0): {}}, mine)
    _write_cells(tmp_path, {("old", "setA", 0, 1): {}}, other)
    mx = worlds.Matrix(tmp_path, "reduced", [worlds.Method("old", (), None), worlds.Method("new", (), None)], [],
                       [0], [0, 1], [], {"setA": mine})
    assert list(mx.done()) == [("old", "setA", 0, 0)]  # seed 1 ran on another folder of that name: run again
