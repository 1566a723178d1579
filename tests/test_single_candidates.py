"""``single_candidates``: the fusion decision also scores each modality's own prediction, so a fusion that does
clearly worse on the evidence than one of its inputs is not what the run predicts with (issue 34, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import cli
from graph_helpers import MODS, config, loaded, small_data

from musefuse.core.method.candidates import FUSION_CANDIDATES, single_candidate, single_modality
from musefuse.core.method.plan import plan_run


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    # 12 subjects (2 devel): few enough that a single modality beats the fusion on devel (seeded)
    return small_data(tmp_path_factory, "single", subjects=12)


def test_single_candidates_are_opt_in_and_come_after_the_fusers(data):
    ds, _, host = loaded(data, config(data))
    default = plan_run(config(data), ds, host, "cpu")
    fusers = [*FUSION_CANDIDATES.values(), "convex"]
    assert list(default.fusion_decisions["arousal"].spec["order"]) == fusers
    plan = plan_run(config(data, single_candidates=True), ds, host, "cpu")
    decision = plan.fusion_decisions["arousal"]
    assert decision.spec["order"] == [*fusers, *(single_candidate(m) for m in MODS)]
    assert decision.spec["candidates"]["single fau"] == {"refs": plan.unimodal[("fau", "arousal")].output}
    assert decision.spec["fit_ids"] == [s.id for s in ds.subjects if s.partition == "devel"]
    # only the fusion decisions are new: every model keeps its key
    assert {t.kind for t in plan.tasks if t.key not in {d.key for d in default.tasks}} == {"decision"}
    # a fuser that is not decided on (the mean) gets a decision once single modalities compete with it
    mean = plan_run(config(data, fuser="mean", single_candidates=True), ds, host, "cpu")
    assert mean.fusion_decisions["valence"].spec["order"] == ["no-re", *(single_candidate(m) for m in MODS)]
    assert single_modality("single fau") == "fau" and single_modality("re") is None


@pytest.mark.slow  # one tiny run and a predict (~12 s)
def test_a_kept_single_modality_is_what_the_run_and_predict_give(data, tmp_path):
    run = tmp_path / "run"
    result = cli("run", "--modalities", ",".join(MODS), "--data", data, "--out", run, "--layers", "1", "--hidden",
                 "8", "--epochs", "2", "--threads", "1", "--workers", "1", "--executor", "inprocess", "--device",
                 "cpu", "--store", tmp_path / "store", "--single-candidates")
    assert result.exit_code == 0, result.output
    fusion = {e["target"]: e for e in json.loads((run / "decisions.json").read_text()) if e["stage"] == "fusion"}
    assert all(list(e["candidates"]) == ["no-re", "re", "convex", "single egemaps", "single fau"]
               for e in fusion.values())
    kept = {t: single_modality(e["chosen"]) for t, e in fusion.items()}
    assert any(kept.values()), fusion  # on these two devel subjects a single modality wins (seeded)
    out = tmp_path / "pred"
    assert cli("predict", "--run", run, "--out", out, "--device", "cpu").exit_code == 0
    for sid in pd.read_csv(data / "metadata" / "partition.csv").query("Partition != 'train'")["Id"].astype(str):
        for t, m in kept.items():
            ran = pd.read_csv(run / "predictions" / "fusion" / t / f"{sid}.csv")["value"]
            assert (abs(ran - pd.read_csv(out / t / f"{sid}.csv")["value"]) < 1e-5).all(), (sid, t)
            if m is not None:  # the fused prediction is that modality's own
                own = pd.read_csv(run / "predictions" / f"unimodal-{m}" / t / f"{sid}.csv")["value"]
                assert (abs(ran - own) < 1e-6).all(), (sid, t)
