"""Decisions made from data: the one rule, the plan's candidates, decisions.json, predict following it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from graph_helpers import MODS, config, loaded, small_data
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.core.config import RunConfig
from musefuse.core.learning.decisions import Decision, decide
from musefuse.core.learning.metrics import ccc_ci95
from musefuse.core.method.candidates import AVERAGE, BASE
from musefuse.core.method.plan import plan_run


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return small_data(tmp_path_factory, "decisions")


def recordings(n: int = 30, steps: int = 200, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.cumsum(rng.standard_normal(steps)) / 10 for _ in range(n)]


def noisy(golds: list[np.ndarray], std: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [g + rng.normal(0, std, g.shape) for g in golds]


# ------------------------------------------------------------------------------------------------ the rule


def test_a_clear_winner_wins_and_one_within_its_standard_error_loses():
    golds = recordings()
    simple = noisy(golds, 1.0, 1)
    clearly_better = noisy(golds, 0.2, 2)
    decision = decide("x", {"plain": simple, "re": clearly_better}, golds, "devel")
    assert decision.chosen == "re"
    assert decision.candidates["re"]["ccc"] > decision.candidates["plain"]["ccc"]
    # a candidate a little better overall, but perfect on two recordings and inverted on another: within its error
    barely = [g if i < 2 else -g if i == 2 else s for i, (s, g) in enumerate(zip(simple, golds, strict=True))]
    decision = decide("x", {"plain": simple, "re": barely}, golds, "devel")
    assert decision.candidates["re"]["ccc"] > decision.candidates["plain"]["ccc"]
    assert decision.candidates["re"]["ccc"] - decision.candidates["plain"]["ccc"] < decision.candidates["re"][
        "gain_se"]
    assert decision.chosen == "plain"


def test_a_tie_keeps_the_simpler_and_an_unscored_candidate_never_wins():
    golds = recordings()
    same = noisy(golds, 0.5, 3)
    assert decide("x", {"plain": same, "re": list(same)}, golds, "devel").chosen == "plain"
    assert decide("x", {"plain": same, "re": None}, golds, "devel").chosen == "plain"
    assert decide("x", {"plain": None, "re": same}, golds, "devel").chosen == "re"
    unscored = decide("x", {"plain": same, "re": None}, golds, "devel")
    assert unscored.candidates["re"] == {"ccc": None, "se": None, "gain_se": None}


def test_candidates_are_compared_in_order_each_against_the_one_kept_so_far():
    golds = recordings()
    re = noisy(golds, 0.6, 2)
    average = [g if i < 7 else -g if i == 7 else r for i, (r, g) in enumerate(zip(re, golds, strict=True))]
    decision = decide("x", {"plain": noisy(golds, 1.5, 1), "re": re, "average": average}, golds, "devel")
    # re beats plain clearly; the average beats plain clearly too, but re only within its error: re stays
    assert decision.candidates["average"]["ccc"] > decision.candidates["re"]["ccc"]
    assert decision.chosen == "re"
    # decisions.json records the comparison each candidate was put to: the average against re, not against plain
    table = decision.candidates
    assert table["re"]["compared_with"] == "plain" and table["average"]["compared_with"] == "re"
    assert "compared_with" not in table["plain"]
    assert table["average"]["ccc"] - table["re"]["ccc"] < table["average"]["gain_se"]
    assert table["average"]["ccc"] - table["plain"]["ccc"] > table["average"]["gain_se"]


def test_the_decision_reads_back_and_a_damaged_one_is_refused():
    golds = recordings(n=6)
    decision = decide("unimodal fau → arousal: model", {"plain": noisy(golds, 1, 1), "re": noisy(golds, 0.2, 2)},
                      golds, "out-of-fold train + devel")
    assert Decision.from_json(json.loads(json.dumps(decision.as_json()))) == decision
    assert decision.n_subjects == 6 and set(decision.candidates["re"]) == {"ccc", "se", "gain_se", "compared_with"}
    with pytest.raises(ValueError):
        Decision.from_json({**decision.as_json(), "chosen": "bogus"})


def test_devel_and_out_of_fold_evidence_that_disagree_are_noted():
    golds = recordings(n=40)
    parts = ["train"] * 30 + ["devel"] * 10
    # good on the train subjects' out-of-fold predictions, noise on devel
    preds = noisy(golds[:30], 0.1, 1) + [np.random.default_rng(9).standard_normal(200) for _ in range(10)]
    decision = decide("x", {"plain": preds}, golds, "out-of-fold train + devel", parts)
    assert decision.notes and "disagree beyond their 95% intervals" in decision.notes[0]
    assert not decide("x", {"plain": noisy(golds, 0.3, 2)}, golds, "out-of-fold train + devel", parts).notes


def test_the_interval_of_a_perfect_prediction_is_one_and_a_noisy_one_covers_its_ccc():
    golds = recordings()
    assert ccc_ci95(golds, golds) == [1.0, 1.0]
    lo, hi = ccc_ci95(noisy(golds, 0.5, 1), golds)
    assert lo < hi < 1.0
    assert ccc_ci95(golds[:2], golds[:2]) is None  # fewer than 3 recordings: n/a


# ------------------------------------------------------------------------------------------------ the plan


def test_each_candidate_is_fold_models_and_the_fuser_reads_the_decision(data):
    cfg = config(data)
    ds, _, host = loaded(data, cfg)
    plan = plan_run(cfg, ds, host, "cpu")
    up = plan.unimodal[("fau", "arousal")]
    assert list(up.refs) == [BASE, "re", AVERAGE]
    assert [len(models) for models in up.candidates.values()] == [cfg.method.ensemble.folds, cfg.method.ensemble.folds]
    assert all(t.spec["difficulty"] is None for t in up.candidates[BASE])
    assert all(t.spec["difficulty"] is not None for t in up.candidates["re"])
    # the evidence: train subjects (out-of-fold) and devel ones, pooled
    ids = {p: {s.id for s in ds.subjects if s.partition == p} for p in ("train", "devel")}
    assert set(up.decision.spec["fit_ids"]) == ids["train"] | ids["devel"]
    for name, refs in up.refs.items():
        if name != AVERAGE:  # each train subject read from the fold model that held it out
            assert {i for _, held in refs[1:] for i in held} == ids["train"]
    fuser = plan.fusers["arousal"]["no-re"]
    assert fuser.spec["inputs"]["predictions"]["fau"]["refs"] == [[up.decision.key, None]]
    assert plan.fusion_decisions["arousal"].spec["fit_ids"] == [s.id for s in ds.subjects if s.partition == "devel"]
    assert not any(t.kind == "regressor" and not t.label.startswith("fold") for t in plan.tasks)  # no all-train one


def test_forcing_the_difficulty_plans_no_decision_and_keeps_the_fold_models(data):
    ds, _, host = loaded(data, config(data))
    forced = plan_run(config(data, re_unimodal=False, re_fusion=False, fuser_candidates="none"), ds, host, "cpu")
    assert not any(t.kind == "decision" for t in forced.tasks)
    decided = plan_run(config(data), ds, host, "cpu")
    # a run that decides trains the forced run's models among its candidates: nothing is trained twice
    assert {t.key for t in forced.tasks if t.kind == "regressor"} <= {t.key for t in decided.tasks}


def test_declared_candidates_are_planned_by_name(data):
    cfg = config(data, unimodal_candidates=["adversarial", "smaller", "recording", "delay+2s"],
                 average_candidates=False)
    ds, _, host = loaded(data, cfg)
    up = plan_run(cfg, ds, host, "cpu").unimodal[("egemaps", "valence")]
    assert list(up.refs) == [BASE, "re", "recording", "delay+2s", "smaller", "adversarial"]  # declaration order
    assert {t.spec["options"]["adversary"] for t in up.candidates["adversarial"]} == {0.3}
    assert all("options" not in t.spec for n in (BASE, "re", "smaller") for t in up.candidates[n])
    assert all(t.spec["feature_scaling"] == "recording" for t in up.candidates["recording"])
    assert {t.spec["shift"] for t in up.candidates["delay+2s"]} == {4}
    assert {(t.spec["settings"]["layers"], t.spec["settings"]["hidden"]) for t in up.candidates["smaller"]} == {(2, 32)}
    assert {t.spec["settings"]["hidden"] for t in up.candidates[BASE]} == {8}  # the configured model
    with pytest.raises(Exception, match="unimodal_candidates"):
        config(data, unimodal_candidates=["bogus"])


def test_the_rule_keeps_what_holds_on_unseen_subjects_not_what_fits_train(data, tmp_path):
    """A candidate that memorised its train subjects (perfect in-sample, noise from the fold models that held a
    subject out) and ties on devel loses, because a train subject's evidence is its out-of-fold prediction. Judged
    on the in-sample predictions instead, the same candidate wins: the out-of-fold evidence is what decides."""
    import torch

    from musefuse.core.engine.kinds import run_task
    from musefuse.core.engine.store import ArtifactStore
    from musefuse.core.engine.task import Task
    from musefuse.core.method import kinds  # noqa: F401 - registers the method's task kinds
    from musefuse.core.method.env import TaskEnv, data_key

    cfg = config(data)
    ds, _, host = loaded(data, cfg)
    store = ArtifactStore(tmp_path / "store")
    rng = np.random.default_rng(0)
    y = {s.id: np.nan_to_num(s.labels["arousal"]).astype(np.float32) for s in ds.subjects}
    train = [s.id for s in ds.subjects if s.partition == "train"]
    devel = [s.id for s in ds.subjects if s.partition == "devel"]
    folds = [train[0::2], train[1::2]]  # the subjects each fold model held out
    modest = {i: (0.5 * y[i] + 0.3 * rng.standard_normal(len(y[i]))).astype(np.float32) for i in y}
    memorised = {i: y[i] if i in train else modest[i] for i in y}  # all-train model: train by heart, devel a tie

    def fold_model(held):  # knows its own train subjects by heart, guesses the ones it never saw
        return {i: rng.standard_normal(len(y[i])).astype(np.float32) if i in held else memorised[i] for i in y}

    keys = {"modest": "b" * 64, "memorised": "a" * 64, "fold1": "c" * 64, "fold2": "d" * 64}
    for name, signals in (("modest", modest), ("memorised", memorised), ("fold1", fold_model(folds[0])),
                          ("fold2", fold_model(folds[1]))):
        key = keys[name]
        store.put(key, {"kind": "regressor", "label": name, "key": key}, {}, {}, signals, {"label": name})
    env = TaskEnv(ds, host, torch.device("cpu"), store)

    def decision(memoriser_refs):
        task = Task("decision", "decision unimodal fau → arousal: model", {
            "data": data_key(ds), "target": "arousal", "decision": "unimodal fau → arousal: model",
            "fit_ids": train + devel, "evidence": "out-of-fold train + devel", "order": ["plain", "re"],
            "candidates": {"plain": {"refs": [[keys["modest"], None]]}, "re": {"refs": memoriser_refs}}})
        return task, run_task(task, env, store)

    out_of_fold = [[keys["memorised"], None], [keys["fold1"], folds[0]], [keys["fold2"], folds[1]]]
    task, info = decision(out_of_fold)
    assert info["decision"]["n_subjects"] == len(train) + len(devel) and len(train) >= 4
    assert info["decision"]["candidates"]["re"]["devel_ccc"] == info["decision"]["candidates"]["plain"]["devel_ccc"]
    assert info["choice"] == "plain"
    kept = store.signals(task.key)  # later stages read the kept candidate's outputs through the decision
    assert all(np.array_equal(kept[s.id], modest[s.id]) for s in ds.subjects)
    _, in_sample = decision([[keys["memorised"], None]])  # the memorised train fit as evidence: it would win
    assert in_sample["choice"] == "re"


# ------------------------------------------------------------------------------------------------ end to end


@pytest.mark.slow
def test_decisions_reach_the_run_folder_results_and_predict(data, tmp_path):
    run = tmp_path / "run"
    args = ["run", "--modalities", ",".join(MODS), "--data", data, "--out", run, "--layers", "1", "--hidden", "8",
            "--epochs", "2", "--threads", "1", "--device", "cpu", "--mean-shrink", "devel"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    entries = json.loads((run / "decisions.json").read_text())
    assert isinstance(entries, list) and len(entries) == 6
    log = (run / "log.txt").read_text()
    records = json.loads((run / "results.json").read_text())
    for e in entries:
        assert {"decision", "chosen", "candidates", "n_subjects"} <= set(e)
        assert all({"ccc", "se"} <= set(c) for c in e["candidates"].values())
        assert f"decided {e['decision']}: CCC" in log
        if e["stage"] == "unimodal":
            assert e["evidence"] == "out-of-fold train + devel" and e["n_subjects"] == 7  # 5 train + 2 devel
            assert len(e["members"]) == 3 * (2 if e["chosen"] == AVERAGE else 1)
            rec = next(r for r in records if (r["stage"], r["modalities"], r["target"], r["partition"])
                       == ("unimodal", [e["modality"]], e["target"], "devel"))
            assert rec["chosen"] == e["chosen"]
        else:
            assert e["evidence"] == "devel" and e["n_subjects"] == 2
    assert all(r["ccc_ci95"][0] <= round(r["ccc"], 4) <= r["ccc_ci95"][1] for r in records if r["ccc_ci95"])
    assert all(r["ccc_ci95"] for r in records if r["ccc"] is not None and r["partition"] == "train")

    out = tmp_path / "pred"
    result = CliRunner().invoke(app, ["predict", "--run", str(run), "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    import pandas as pd

    # devel and test subjects: the run's fold ensembles are predict's; train subjects' run outputs are out-of-fold
    unseen = pd.read_csv(data / "metadata" / "partition.csv").query("Partition != 'train'")["Id"]
    for sid in unseen:
        theirs = pd.read_csv(run / "predictions" / "fusion" / "arousal" / f"{sid}.csv")
        mine = pd.read_csv(out / "arousal" / f"{sid}.csv")
        assert (abs(theirs["value"] - mine["value"]) < 1e-5).all(), sid

    damaged = entries[:1] + [{**entries[1], "members": [{"checkpoint": "../../etc/passwd", "re": False,
                                                         "per_recording": False, "own_scaling": False}]}] + entries[2:]
    (run / "decisions.json").write_text(json.dumps(damaged))
    result = CliRunner().invoke(app, ["predict", "--run", str(run), "--out", str(tmp_path / "p2"), "--device", "cpu"])
    assert result.exit_code == 2 and "decisions.json" in result.output, result.output
    (run / "decisions.json").unlink()
    result = CliRunner().invoke(app, ["predict", "--run", str(run), "--out", str(tmp_path / "p3"), "--device", "cpu"])
    assert result.exit_code == 2 and "decisions.json is missing" in result.output, result.output


def test_paper_pipeline_is_one_flag_away():
    cfg = RunConfig(pipeline="paper").with_preset(cuda=False)
    decisions, fusion, difficulty = cfg.method.decisions, cfg.method.fusion, cfg.method.difficulty
    assert (decisions.re_unimodal, decisions.re_fusion, fusion.fusion_train, difficulty.difficulty_train,
            difficulty.difficulty_unseen) == (
        True, True, "in-sample", "in-sample", "all-train")
    assert RunConfig(pipeline="paper", re_fusion=False).with_preset(cuda=False).method.decisions.re_fusion is False
    assert RunConfig().with_preset(cuda=False).method.decisions.re_unimodal == "devel"  # flags win over the pipeline


def test_forcing_a_difficulty_that_no_estimator_gives_is_refused(data, tmp_path):
    """--estimator none with --re-unimodal/--re-fusion: refused before any work, not silently recorded as on."""
    result = CliRunner().invoke(app, ["run", "--modalities", "fau", "--data", str(data), "--out", str(tmp_path / "r"),
                                      "--estimator", "none", "--re-unimodal", "--re-fusion"])
    assert result.exit_code == 2, result.output
    assert "--re-unimodal and --re-fusion" in result.output and "gives no difficulty signal" in result.output
    assert not (tmp_path / "r").exists()


def test_an_ensemble_of_seeds_averages_its_pipelines_and_predict_follows(data, tmp_path):
    """--ensemble-seeds 2: the run's outputs are the mean of the seeds' pipelines (each kept in the run folder under
    ensemble/seed-<s>/ with its own decisions), and predict on the run's own data gives them again."""
    import pandas as pd

    store = tmp_path / "store"
    common = ["--modalities", "fau", "--data", data, "--store", store, "--layers", "1", "--hidden", "4", "--epochs",
              "1", "--threads", "1", "--device", "cpu", "--executor", "inprocess", "--targets", "arousal"]
    singles = []
    for seed in (3, 4):
        out = tmp_path / f"s{seed}"
        assert CliRunner().invoke(app, [str(a) for a in ["run", *common, "--seed", seed, "--out", out]]).exit_code == 0
        singles.append(out)
    run = tmp_path / "ens"
    result = CliRunner().invoke(app, [str(a) for a in ["run", *common, "--seed", 3, "--ensemble-seeds", 2,
                                                       "--out", run]])
    assert result.exit_code == 0, result.output
    entries = json.loads((run / "tasks.json").read_text())
    assert entries and all(e["reused"] for e in entries)  # the seeds' pipelines: the single runs' models
    assert {p.name for p in (run / "ensemble").iterdir()} == {"seed-3", "seed-4"}
    assert all((run / "ensemble" / s / "decisions.json").is_file() for s in ("seed-3", "seed-4"))
    devel = pd.read_csv(data / "metadata" / "partition.csv").query("Partition != 'train'")["Id"]
    for sid in devel:
        mine = pd.read_csv(run / "predictions" / "fusion" / "arousal" / f"{sid}.csv")["value"]
        each = [pd.read_csv(s / "predictions" / "fusion" / "arousal" / f"{sid}.csv")["value"] for s in singles]
        assert (abs(mine - (each[0] + each[1]) / 2) < 1e-5).all()
    # the report shows every member's decisions (the run has no decisions.json of its own)
    assert not (run / "decisions.json").exists()
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report" / "report.md").read_text()
    assert "An ensemble of 2 pipelines (seeds 3, 4)" in page and "| decision | seed 3 | seed 4 | members |" in page
    for seed in (3, 4):
        assert f"### Decisions of the member with seed {seed}" in page
        for e in json.loads((run / "ensemble" / f"seed-{seed}" / "decisions.json").read_text()):
            assert f"| {e['decision']} |" in page
    out = tmp_path / "pred"
    result = CliRunner().invoke(app, ["predict", "--run", str(run), "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for sid in devel:
        theirs = pd.read_csv(run / "predictions" / "fusion" / "arousal" / f"{sid}.csv")["value"]
        assert (abs(pd.read_csv(out / "arousal" / f"{sid}.csv")["value"] - theirs) < 1e-5).all()


def test_a_candidate_that_wins_on_out_of_fold_subjects_but_loses_on_devel_is_not_kept():
    """Out-of-fold train subjects share their partition with the training data; a gain only they show (an
    artefact that tracks train subjects' labels) is not taken."""
    golds = recordings(n=40)
    parts = ["train"] * 30 + ["devel"] * 10
    plain = noisy(golds, 0.8, 1)
    tricked = noisy(golds[:30], 0.1, 2) + noisy(golds[30:], 0.9, 3)  # far better on train, a little worse on devel
    decision = decide("x", {"plain": plain, "re": tricked}, golds, "out-of-fold train + devel", parts)
    assert decision.candidates["re"]["ccc"] - decision.candidates["plain"]["ccc"] > decision.candidates["re"][
        "gain_se"]
    assert decision.candidates["re"]["devel_ccc"] < decision.candidates["plain"]["devel_ccc"]
    assert decision.chosen == "plain"
    honest = noisy(golds[:30], 0.1, 2) + noisy(golds[30:], 0.1, 3)
    assert decide("x", {"plain": plain, "re": honest}, golds, "out-of-fold train + devel", parts).chosen == "re"


def test_the_report_of_an_ensemble_says_where_its_members_disagree(tmp_path):
    from musefuse.lab.experiments.report import _decisions_table, _member_decisions, _run_table

    def entry(stage, chosen, **where):
        name = f"unimodal {where['modality']} → arousal: model" if stage == "unimodal" else "fusion → arousal: input"
        return {"stage": stage, **where, "target": "arousal", "decision": name, "chosen": chosen,
                "candidates": {c: {"ccc": 0.3, "se": 0.05} for c in ("plain", "re", "no-re")},
                "n_subjects": 7, "evidence": "devel", "notes": []}

    for seed, fused in ((0, "re"), (1, "re"), (2, "no-re")):
        folder = tmp_path / "ensemble" / f"seed-{seed}"
        folder.mkdir(parents=True)
        (folder / "decisions.json").write_text(json.dumps([entry("unimodal", "plain", modality="fau"),
                                                           entry("fusion", fused)]))
    table = _decisions_table(tmp_path)
    assert "The members disagree on 1 of 2 decisions." in table
    assert "| fusion → arousal: input | re | re | plain | **disagree** |" in table
    assert "| unimodal fau → arousal: model | plain | plain | plain | agree |" in table
    records = [{"stage": s, "modalities": ["fau"], "target": "arousal", "partition": "devel", "ccc": 0.3,
                "ccc_ci95": None, "re": None} for s in ("unimodal", "fusion")]
    rows = _run_table(records, _member_decisions(tmp_path))
    assert "| fusion | fau | arousal | seed 0 re; seed 1 re; seed 2 plain | 0.3000 [n/a] | — |" in rows
    assert "| unimodal | fau | arousal | plain |" in rows



# One declaration in core/method/candidates.py; this script adds it before anything reads the candidates, as an
# edit of that file would, then runs the CLI.
WITH_A_NEW_CANDIDATE = """
import sys
from musefuse.core.method import candidates
candidates.REGRESSOR_CANDIDATES["wider"] = candidates.Candidate("wider", "12 hidden units", settings=(("hidden", 12),))
candidates.OPTIONAL_CANDIDATES += ("wider",)  # derived from the declarations when the module is read
from musefuse.cli.app import main
sys.argv = ["musefuse", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_a_new_candidate_is_one_declaration_trained_decided_and_followed_by_predict(data, tmp_path):
    import subprocess
    import sys

    def musefuse(*args) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", WITH_A_NEW_CANDIDATE, *map(str, args)], capture_output=True,
                              text=True)

    run = tmp_path / "run"
    done = musefuse("run", "--modalities", "fau", "--data", data, "--out", run, "--unimodal-candidates", "wider",
                    "--no-re-unimodal", "--layers", "1", "--hidden", "8", "--epochs", "2", "--threads", "1",
                    "--workers", "1", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert "wider" in musefuse("run", "--help").stdout
    trained = [t["label"] for t in json.loads((run / "tasks.json").read_text()) if t["kind"] == "regressor"]
    assert "fold 1/3 unimodal fau → arousal (wider)" in trained
    decisions = [e for e in json.loads((run / "decisions.json").read_text()) if e["stage"] == "unimodal"]
    assert decisions and all(list(e["candidates"]) == [BASE, "wider", AVERAGE] for e in decisions)
    for e in decisions:  # the kept candidate's fold models are the members predict loads (the average: both)
        assert len(e["members"]) == 3 * (2 if e["chosen"] == AVERAGE else 1)
    out = tmp_path / "pred"
    done = musefuse("predict", "--run", run, "--out", out, "--stage", "unimodal", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    import pandas as pd

    for sid in pd.read_csv(data / "metadata" / "partition.csv").query("Partition != 'train'")["Id"]:
        theirs = pd.read_csv(run / "predictions" / "unimodal-fau" / "arousal" / f"{sid}.csv")
        mine = pd.read_csv(out / "fau" / "arousal" / f"{sid}.csv")
        assert (abs(theirs["value"] - mine["value"]) < 1e-5).all(), sid
