"""benchmarks/below_best.py: fused against the best single modality on devel, on constructed run folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import below_best  # noqa: E402


def records(fused: tuple[float, float], singles: dict[str, tuple[float, float]], target: str = "arousal") -> list[dict]:
    """A results.json's records for one target: (devel, test) CCC of the fusion and of each modality."""
    out = [{"stage": "fusion", "modalities": list(singles), "target": target, "partition": p, "ccc": c}
           for p, c in zip(("devel", "test"), fused, strict=True)]
    out += [{"stage": "unimodal", "modalities": [m], "target": target, "partition": p, "ccc": c}
            for m, cs in singles.items() for p, c in zip(("devel", "test"), cs, strict=True)]
    return out


def test_switch_follows_devel_not_test():
    below = records((0.30, 0.25), {"a": (0.40, 0.45), "b": (0.35, 0.90)})  # devel ranks a above the fusion
    above = records((0.60, 0.50), {"a": (0.50, 0.70), "b": (0.20, 0.30)})  # devel ranks the fusion first
    s = below_best.summarise([below_best.run_scores(r, "arousal") for r in (below, above)])
    assert (s["runs"], s["below_devel"], s["below_test"]) == (2, 1, 2)
    assert s["fused"] == pytest.approx((0.25 + 0.50) / 2)
    assert s["switch"] == pytest.approx((0.45 + 0.50) / 2)  # a's test where devel says a; b's 0.90 never taken


def test_cli_reads_a_worlds_folder(tmp_path):
    for name, fused in (("w-d0-s0", (0.3, 0.2)), ("w-d1-s0", (0.6, 0.6))):
        run = tmp_path / "runs" / "reduced" / "m" / name
        run.mkdir(parents=True)
        recs = records(fused, {"a": (0.4, 0.5)}) + records(fused, {"a": (0.4, 0.5)}, "valence")
        (run / "results.json").write_text(json.dumps(recs))
    report = tmp_path / "bb.md"
    done = subprocess.run([sys.executable, str(BENCH / "below_best.py"), str(tmp_path), "--out", str(report)],
                          capture_output=True, text=True, check=True)
    assert "all worlds" in done.stdout
    assert "| m | w | arousal | 2 | 1 | 1 | 0.400 | 0.550 | +0.150 |" in report.read_text()


def test_cli_says_when_nothing_is_there(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH / "below_best.py"), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode != 0 and "No finished run" in done.stderr


def test_cli_names_a_broken_results_file(tmp_path):
    run = tmp_path / "runs" / "reduced" / "m" / "w-d0-s0"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps(records((0.3, 0.2), {"a": (0.4, 0.5)})))  # no valence rows
    done = subprocess.run([sys.executable, str(BENCH / "below_best.py"), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode != 0 and "w-d0-s0/results.json" in done.stderr and "Traceback" not in done.stderr
