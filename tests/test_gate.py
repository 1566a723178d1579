"""The difficulty gate: each regressor and fuser reads the difficulty only where that wins on devel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from graph_helpers import TINY, loaded
from safetensors import safe_open
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.core.config import RunConfig
from musefuse.core.graph.gate import Choice, decide
from musefuse.core.graph.plan import plan_run
from musefuse.lab.synth import write_synthetic

MODS = ["egemaps", "fau"]
GATED = {**TINY, "re_unimodal": "devel", "re_fusion": "devel", "fusion_train": "out-of-fold"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("gate") / "small", small=True, seed=2, modalities=MODS)


def config(data: Path, **changes) -> RunConfig:
    return RunConfig(**{"modalities": MODS, "data": data, **GATED, **changes}).with_preset(cuda=False)


def test_the_difficulty_must_win_to_be_read():
    assert decide({"re": 0.51, "no-re": 0.50}) == "re"
    assert decide({"re": 0.50, "no-re": 0.50}) == "no-re"  # a tie keeps the simpler model
    assert decide({"re": 0.40, "no-re": 0.50}) == "no-re"
    assert decide({"re": None, "no-re": 0.10}) == "no-re"  # an unscored candidate never wins
    assert decide({"re": 0.10, "no-re": None}) == "re"


def test_the_plan_stops_at_undecided_gates_and_follows_their_choices(data):
    cfg = config(data)
    ds, _, host = loaded(data, cfg)
    first = plan_run(cfg, ds, host, "cpu")
    assert not first.complete and not first.fusers and not first.regressors
    assert {t.kind for t in first.tasks} >= {"estimator", "regressor", "gate"}
    assert len(first.gates) == 4  # one per modality x target; the fusers' gates come in the next round

    # fau → arousal keeps the RE; every other regressor and both fusers go without
    choices = {f"unimodal {m} → {t}": "re" if (m, t) == ("fau", "arousal") else "no-re"
               for m in MODS for t in cfg.targets} | {f"fusion → {t}": "no-re" for t in cfg.targets}
    scores = {"re": 0.5, "no-re": 0.4}
    by_key = {g.key: label for label, g in first.gates.items()}

    def decided(key: str):
        label = by_key.get(key)
        return None if label is None else {"choice": choices[label], "devel_ccc": scores}

    second = plan_run(cfg, ds, host, "cpu", decided)
    assert {t.key for t in first.tasks} <= {t.key for t in second.tasks}  # planned keys stay
    assert not second.complete and len(second.gates) == 6 and not second.fusers
    assert second.regressor_re[("fau", "arousal")] == Choice(True, "devel", scores)
    assert second.regressors[("fau", "arousal")].spec["difficulty"] is not None
    assert second.regressors[("egemaps", "valence")].spec["difficulty"] is None
    # out-of-fold fusion inputs come from fold regressors of the chosen kind
    folds = [t for t in second.tasks if t.kind == "regressor" and t.label.startswith("fold")]
    with_re = {(t.spec["modality"], t.spec["target"]) for t in folds if t.spec["difficulty"] is not None}
    assert len(folds) == 4 * cfg.folds and with_re == {("fau", "arousal")}
    by_key.update({g.key: label for label, g in second.gates.items()})

    final = plan_run(cfg, ds, host, "cpu", decided)
    assert final.complete and final.fusion_re["arousal"].re is False
    fuser = final.fusers["arousal"]
    assert fuser.spec["inputs"]["difficulty"] is None
    assert fuser.spec["inputs"]["predictions"]["fau"]["refs"] == [[final.regressors[("fau", "arousal")].key, None]]


def test_forcing_the_difficulty_plans_no_gate_and_keeps_the_keys(data):
    ds, _, host = loaded(data, config(data))
    forced = plan_run(config(data, re_unimodal=True, re_fusion=False), ds, host, "cpu")
    assert forced.complete and not forced.gates and not any(t.kind == "gate" for t in forced.tasks)
    assert all(c == Choice(True) for c in forced.regressor_re.values())
    assert all(c == Choice(False) for c in forced.fusion_re.values())
    # a gated run trains the forced run's models among its candidates: nothing is trained twice
    decided = {"choice": "re", "devel_ccc": {"re": 1.0, "no-re": 0.0}}
    gated = plan_run(config(data), ds, host, "cpu", lambda _key: decided)
    assert {t.key for t in forced.tasks if t.kind == "regressor"} <= {t.key for t in gated.tasks}


def test_paper_pipeline_is_one_flag_away():
    cfg = RunConfig(pipeline="paper").with_preset(cuda=False)
    assert (cfg.re_unimodal, cfg.re_fusion, cfg.fusion_train, cfg.difficulty_train, cfg.difficulty_unseen) == (
        True, True, "in-sample", "in-sample", "all-train")
    assert RunConfig(pipeline="paper", re_fusion=False).with_preset(cuda=False).re_fusion is False  # flags win
    assert RunConfig().with_preset(cuda=False).re_unimodal == "devel"


@pytest.mark.slow
def test_the_gates_choice_reaches_results_the_run_folder_and_predict(data, tmp_path):
    run = tmp_path / "run"
    args = ["run", "--modalities", ",".join(MODS), "--data", data, "--out", run, "--layers", "1", "--hidden", "8",
            "--epochs", "2", "--threads", "1", "--device", "cpu", "--mean-shrink", "devel"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    inputs = json.loads((run / "difficulty_inputs.json").read_text())
    gates = {e["label"]: e for e in json.loads((run / "tasks.json").read_text()) if e["kind"] == "gate"}
    assert len(gates) == 6
    log = (run / "log.txt").read_text()
    records = json.loads((run / "results.json").read_text())
    for m in MODS:
        for t in ("arousal", "valence"):
            choice, gate = inputs["unimodal"][m][t], gates[f"difficulty gate unimodal {m} → {t}"]
            assert choice["by"] == "devel" and choice["re"] == (gate["choice"] == "re")
            assert choice["devel_ccc"] == gate["devel_ccc"]
            assert f"difficulty gate unimodal {m} → {t}: devel CCC with RE" in log
            # the checkpoint takes the features plus one column exactly when the gate kept the RE
            with safe_open(str(run / "checkpoints" / f"regressor-{m}-{t}.safetensors"), "pt") as f:
                meta = json.loads((run / "checkpoints" / f"regressor-{m}-{t}.json").read_text())
            width = {"egemaps": 88, "fau": 17}[m]
            assert meta["model"]["input_dim"] == width + choice["re"], (m, t, f.keys())
            rec = next(r for r in records if (r["stage"], r["modalities"], r["target"], r["partition"])
                       == ("unimodal", [m], t, "devel"))
            assert rec["re"] == choice["re"] and rec["re_gate"] == choice["devel_ccc"]
            # the kept model's devel CCC is the higher one (the record scores the kept model)
            assert rec["ccc"] == pytest.approx(max(v for v in choice["devel_ccc"].values() if v is not None))
    for t in ("arousal", "valence"):
        rec = next(r for r in records if (r["stage"], r["target"], r["partition"]) == ("fusion", t, "devel"))
        assert rec["re"] == inputs["fusion"][t]["re"]
        # the kept fuser's devel CCC is the higher one; the record scores it after its recording-mean shrinkage
        shrink = json.loads((run / "mean_shrink.json").read_text())[t]
        assert shrink["devel_ccc"]["0"] == pytest.approx(max(v for v in inputs["fusion"][t]["devel_ccc"].values()
                                                              if v is not None))
        assert rec["ccc"] == pytest.approx(shrink["devel_ccc"][f"{shrink['lambda']:g}"])

    out = tmp_path / "pred"
    result = CliRunner().invoke(app, ["predict", "--run", str(run), "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    import pandas as pd

    # train subjects' run outputs read their out-of-fold difficulty; devel and test ones are predict's own
    unseen = pd.read_csv(data / "metadata" / "partition.csv").query("Partition != 'train'")["Id"]
    for sid in unseen:
        theirs = pd.read_csv(run / "predictions" / "fusion" / "arousal" / f"{sid}.csv")
        mine = pd.read_csv(out / "arousal" / f"{sid}.csv")
        assert (abs(theirs["value"] - mine["value"]) < 1e-5).all(), sid

    # a run folder that lost the record of the choice is refused by predict, naming the file
    (run / "difficulty_inputs.json").unlink()
    result = CliRunner().invoke(app, ["predict", "--run", str(run), "--out", str(tmp_path / "p2"), "--device", "cpu"])
    assert result.exit_code == 2 and "difficulty_inputs.json" in result.output


def test_forcing_a_difficulty_that_no_estimator_gives_is_refused(data, tmp_path):
    """--estimator none with --re-unimodal/--re-fusion: refused before any work, not silently recorded as on."""
    result = CliRunner().invoke(app, ["run", "--modalities", "fau", "--data", str(data), "--out", str(tmp_path / "r"),
                                      "--estimator", "none", "--re-unimodal", "--re-fusion"])
    assert result.exit_code == 2, result.output
    assert "--re-unimodal and --re-fusion" in result.output and "gives no difficulty signal" in result.output
    assert not (tmp_path / "r").exists()
    result = CliRunner().invoke(app, ["run", "--modalities", "fau", "--data", str(data), "--out", str(tmp_path / "r"),
                                      "--estimator", "none", "--pipeline", "paper"])
    assert result.exit_code == 2 and "(from --pipeline paper)" in result.output, result.output


def test_the_gate_decides_on_devel_not_on_what_looks_good_on_train(data, tmp_path):
    """A candidate that fits train perfectly (as a model reading a misleading RE does) but not devel loses."""
    import numpy as np
    import torch

    from musefuse.core.graph.store import ArtifactStore
    from musefuse.core.graph.tasks import Task, TaskEnv, data_key, run_task

    cfg = config(data)
    ds, _, host = loaded(data, cfg)
    store = ArtifactStore(tmp_path / "store")
    rng = np.random.default_rng(0)
    y = {s.id: np.nan_to_num(s.labels["arousal"]).astype(np.float32) for s in ds.subjects}
    misleading = {s.id: y[s.id] if s.partition == "train" else rng.standard_normal(len(y[s.id])).astype(np.float32)
                  for s in ds.subjects}  # perfect on train, noise on devel
    modest = {s.id: (0.5 * y[s.id] + 0.3 * rng.standard_normal(len(y[s.id]))).astype(np.float32) for s in ds.subjects}
    for key, signals in (("a" * 64, misleading), ("b" * 64, modest)):
        store.put(key, {"kind": "regressor", "label": key[:1], "key": key}, {}, {}, signals, {"label": key[:1]})
    devel = [s.id for s in ds.subjects if s.partition == "devel"]
    gate = Task("gate", "difficulty gate unimodal fau → arousal", {
        "data": data_key(ds), "target": "arousal", "fit_ids": devel,
        "candidates": {"re": {"refs": [["a" * 64, None]]}, "no-re": {"refs": [["b" * 64, None]]}}})
    info = run_task(gate, TaskEnv(ds, host, torch.device("cpu"), store))
    assert info["choice"] == "no-re" and info["devel_ccc"]["no-re"] > info["devel_ccc"]["re"]
    assert Choice.from_gate(store.gate_info(gate.key)) == Choice(False, "devel", info["devel_ccc"])
    kept = store.signals(gate.key)  # later stages read the kept candidate's outputs through the gate
    assert all(np.array_equal(kept[s.id], modest[s.id]) for s in ds.subjects)
