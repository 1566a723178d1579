"""``fuser_candidates`` (default: convex): the fusion decision also scores other fuser plugins after the run's own
fuser, and the run and ``predict`` use the one it keeps (issue 34, item 2: a fused prediction far below its best
input). The paper's pipeline and the mean baseline keep their one fuser."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import cli
from graph_helpers import MODS, config, loaded, small_data

from musefuse.core.config import RunConfig
from musefuse.core.errors import ConfigError, PluginError
from musefuse.core.method.plan import plan_run


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return small_data(tmp_path_factory, "fusers", subjects=12)


def test_the_convex_fuser_is_a_candidate_after_the_runs_fuser(data):
    ds, _, host = loaded(data, config(data))
    default = plan_run(config(data, fuser_candidates="none"), ds, host, "cpu")
    assert list(default.fusers["arousal"]) == ["no-re", "re"]
    plan = plan_run(config(data), ds, host, "cpu")  # the default
    assert list(plan.fusers["arousal"]) == ["no-re", "re", "convex"]
    assert plan.fusion_decisions["arousal"].spec["order"] == ["no-re", "re", "convex"]
    convex = plan.fusers["arousal"]["convex"]
    assert convex.spec["plugin"] == "convex" and convex.spec["inputs"]["difficulty"] is None
    assert convex.spec["inputs"]["predictions"] == default.fusers["arousal"]["no-re"].spec["inputs"]["predictions"]
    # only the new fusers and the fusion decisions are new: every other task keeps its key
    new = [t for t in plan.tasks if t.key not in {d.key for d in default.tasks}]
    assert sorted(t.kind for t in new) == ["decision", "decision", "fuser", "fuser"]
    # the run's own fuser is skipped in the list; the paper's pipeline and the mean baseline keep one fuser
    convex = plan_run(config(data, fuser="convex"), ds, host, "cpu")
    assert "convex" not in convex.fusers["arousal"] and convex.fusers["arousal"]["no-re"].spec["plugin"] == "convex"
    assert "convex" not in plan_run(config(data, fuser="mean"), ds, host, "cpu").fusers["valence"]
    paper = RunConfig(modalities=MODS, data=data, pipeline="paper").with_preset(cuda=False)
    assert paper.method.decisions.fuser_candidates == [] and RunConfig().method.decisions.fuser_candidates == ["convex"]


def test_a_fuser_candidate_must_be_another_known_fuser(data):
    ds, _, host = loaded(data, config(data))
    with pytest.raises(ConfigError, match="once"):
        plan_run(config(data, fuser_candidates=["convex", "convex"]), ds, host, "cpu")
    with pytest.raises(PluginError, match="convx"):
        plan_run(config(data, fuser_candidates=["convx"]), ds, host, "cpu")


@pytest.mark.slow  # one tiny run and a predict (~15 s)
def test_a_kept_fuser_candidate_is_what_the_run_and_predict_use(data, tmp_path):
    run = tmp_path / "run"
    result = cli("run", "--modalities", ",".join(MODS), "--data", data, "--out", run, "--layers", "1", "--hidden",
                 "8", "--epochs", "2", "--threads", "1", "--workers", "1", "--executor", "inprocess", "--device",
                 "cpu", "--store", tmp_path / "store")  # convex is a fuser candidate by default
    assert result.exit_code == 0, result.output
    fusion = {e["target"]: e for e in json.loads((run / "decisions.json").read_text()) if e["stage"] == "fusion"}
    assert all(list(e["candidates"]) == ["no-re", "re", "convex"] for e in fusion.values())
    kept = {t: e["chosen"] for t, e in fusion.items()}
    assert "convex" in kept.values(), fusion  # on these two devel subjects the convex fuser wins once (seeded)
    for t, chosen in kept.items():  # the run folder holds the kept fuser
        meta = json.loads((run / "checkpoints" / f"fuser-{t}.json").read_text())
        assert (meta["plugin"] == "convex") == (chosen == "convex") and fusion[t]["re"] == (chosen == "re")
    records = [r for r in json.loads((run / "results.json").read_text()) if r["stage"] == "fusion"]
    fusers = {t: "convex" if chosen == "convex" else "birnn" for t, chosen in kept.items()}
    for r in records:  # each target's record names the fuser it kept; the combined row one only where both agree
        want = fusers.get(r["target"], fusers["arousal"] if len(set(fusers.values())) == 1 else None)
        assert r["fuser"] == want, (r["target"], r["fuser"], kept)
    assert all(f"fusion ({f})" in result.output for f in fusers.values())  # run's table labels each fuser's rows
    out = tmp_path / "pred"
    assert cli("predict", "--run", run, "--out", out, "--device", "cpu").exit_code == 0
    for sid in pd.read_csv(data / "metadata" / "partition.csv").query("Partition != 'train'")["Id"].astype(str):
        for t in kept:
            ran = pd.read_csv(run / "predictions" / "fusion" / t / f"{sid}.csv")["value"]
            assert (abs(ran - pd.read_csv(out / t / f"{sid}.csv")["value"]) < 1e-5).all(), (sid, t)
