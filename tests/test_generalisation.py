"""Between-subject generalisation options: per-recording standardisation and weight decay (issue 21, item 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from graph_helpers import TINY, loaded, regressor
from test_graph import assert_predict_reproduces_the_run
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.core.config import RunConfig
from musefuse.core.data.recording import standardise_recording
from musefuse.core.engine.kinds import run_task
from musefuse.core.engine.store import ArtifactStore
from musefuse.core.interfaces import FitContext, ModelSettings, TrainingBudget
from musefuse.core.learning.models import SequenceModel
from musefuse.core.learning.training import fit_sequence_model
from musefuse.core.method import kinds  # noqa: F401 - registers the method's task kinds
from musefuse.core.method.env import TaskEnv
from musefuse.core.method.plan import plan_run
from musefuse.lab.synth import write_synthetic

MODS = ["egemaps", "fau"]
# The out-of-fold defaults, so that fold models (their own input scaling) and fold-mean difficulty are planned too.
OUT_OF_FOLD = {"difficulty_train": "out-of-fold", "fusion_train": "out-of-fold", "difficulty_unseen": "fold-mean",
               "folds": 2}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("general") / "small", small=True, seed=3, modalities=MODS)


def config(data: Path, **changes) -> RunConfig:
    return RunConfig(**{"modalities": MODS, "data": data, **TINY, **OUT_OF_FOLD, **changes}).with_preset(cuda=False)


# -- per-recording standardisation -----------------------------------------------------------------


def test_each_recording_gets_zero_mean_and_unit_std_and_constant_columns_stay_finite():
    rng = np.random.default_rng(0)
    x = (rng.normal(5.0, 3.0, (200, 5)) * [1, 10, 0.01, 1, 1]).astype(np.float32)
    x[:, 3] = 7.5  # constant within the recording
    x[:, 4] = np.nan  # never observed
    x[[10, 50, 51]] = np.nan  # missing frames
    z = standardise_recording(x)
    observed = ~np.isnan(x).all(axis=1)
    np.testing.assert_allclose(z[observed, :3].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z[observed, :3].std(axis=0), 1, atol=1e-4)
    assert (z[observed, 3] == 0).all()  # constant: 0, not NaN or inf
    assert np.isnan(z[~observed]).all() and np.isnan(z[:, 4]).all()  # missing stays missing (filled later)
    assert z.dtype == np.float32
    # Whatever per-column scaling came before (train statistics, a fold's own) cancels out.
    np.testing.assert_allclose(standardise_recording((x - 3.0) / 0.25), z, atol=1e-4)
    assert standardise_recording(np.zeros((0, 5), np.float32)).shape == (0, 5)


def test_model_inputs_are_standardised_per_recording_for_every_subject(data, tmp_path):
    cfg = config(data, standardise="recording")
    ds, _, host = loaded(data, cfg)
    plan = plan_run(cfg, ds, host, "cpu")
    env = TaskEnv(ds, host, torch.device("cpu"), ArtifactStore(tmp_path))
    fold = next(t for t in plan.tasks if t.kind == "estimator" and t.spec.get("standardise") == "fit")
    assert fold.spec["feature_scaling"] == "recording"
    for own in (None, fold.spec["fit_ids"]):  # all-train models, and a fold model with its own scaling
        x = env.features("egemaps", "zero", standardise_on=own, per_recording=True)
        for s, xi in zip(ds.subjects, x, strict=True):
            observed = ~np.isnan(s.features["egemaps"]).all(axis=1)
            np.testing.assert_allclose(xi[observed].mean(axis=0), 0, atol=1e-4, err_msg=s.id)
            varying = np.nanstd(s.features["egemaps"][observed], axis=0) > 1e-6
            np.testing.assert_allclose(xi[observed][:, varying].std(axis=0), 1, atol=1e-3, err_msg=s.id)
    assert not np.allclose(np.concatenate(x), np.concatenate(env.features("egemaps", "zero")))


# -- keys ------------------------------------------------------------------------------------------


def test_default_settings_leave_every_key_as_it_was(data):
    """Runs trained before these options existed are found again: at their defaults, no spec mentions them."""
    silent = config(data)
    explicit = config(data, standardise="train", weight_decay=0.0)
    ds, _, host = loaded(data, silent)
    before, after = plan_run(silent, ds, host, "cpu"), plan_run(explicit, ds, host, "cpu")
    assert [t.key for t in after.tasks] == [t.key for t in before.tasks]
    assert all(not {"feature_scaling", "weight_decay"} & set(t.spec) for t in after.tasks)


def test_non_default_values_change_the_keys_of_the_models_they_affect(data):
    ds, _, host = loaded(data, config(data))
    base = plan_run(config(data), ds, host, "cpu")
    per_recording = plan_run(config(data, standardise="recording"), ds, host, "cpu")
    decay = plan_run(config(data, weight_decay=0.01), ds, host, "cpu")
    keys = {name: {t.key for t in plan.tasks} for name, plan in
            (("base", base), ("recording", per_recording), ("decay", decay))}
    # Per recording: every model's input changes (auto-encoders, regressors, fold models), so no key is shared.
    assert not keys["recording"] & keys["base"]
    # Weight decay: the regressors and fusers; the auto-encoders (no decay) and their difficulty keep theirs.
    for k, up in decay.unimodal.items():
        for models, before in zip(up.candidates.values(), base.unimodal[k].candidates.values(), strict=True):
            assert all(r.key != b.key and r.spec["weight_decay"] == 0.01 for r, b in zip(models, before, strict=True))
    assert all(decay.fusers[t][re].key != base.fusers[t][re].key for t in base.fusers for re in base.fusers[t])
    kept = {t.label for t in decay.tasks if t.key in keys["base"]}
    assert kept == {t.label for t in base.tasks if t.kind == "estimator" or t.label.startswith("difficulty")}


# -- weight decay ----------------------------------------------------------------------------------


def test_weight_decay_reaches_the_optimizer_of_regressors_only(data, tmp_path, monkeypatch):
    made: list[tuple[str, float]] = []
    for name in ("Adam", "AdamW"):
        cls = getattr(torch.optim, name)

        def spy(params, *args, _cls=cls, _name=name, **kwargs):
            made.append((_name, kwargs.get("weight_decay", 0.0)))
            return _cls(params, *args, **kwargs)

        monkeypatch.setattr(torch.optim, name, spy)
    cfg = config(data, weight_decay=0.03, epochs=1, difficulty_train="in-sample", fusion_train="in-sample",
                 difficulty_unseen="all-train")
    ds, _, host = loaded(data, cfg)
    plan = plan_run(cfg, ds, host, "cpu")
    env = TaskEnv(ds, host, torch.device("cpu"), ArtifactStore(tmp_path))
    run_task(plan.estimators["fau"], env, env.store)
    assert made and all(m == ("Adam", 0.0) for m in made)  # the auto-encoder: plain Adam, as before
    made.clear()
    run_task(regressor(plan, "fau", "arousal"), env, env.store)
    assert made and all(m == ("AdamW", 0.03) for m in made)


def test_weight_decay_shrinks_the_weights():
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(60, 3)).astype(np.float32) for _ in range(4)]
    y = [xi[:, 0] * 0.5 for xi in x]
    settings = ModelSettings(rnn="gru", layers=1, hidden=8, lr=0.01, dropout=0.0)

    def norm(decay: float) -> float:
        torch.manual_seed(0)
        model = SequenceModel(3, 1, settings)
        ctx = FitContext(device=torch.device("cpu"), seed=0, settings=settings, weight_decay=decay,
                         budget=TrainingBudget(epochs=5, patience=5, window=30, hop=30))
        fit_sequence_model(model, x, y, x, y, ctx)
        return float(sum((p.detach() ** 2).sum() for p in model.parameters()))

    assert norm(5.0) < 0.9 * norm(0.0)


def test_dropout_acts_between_the_recurrent_layers_in_training_only():
    """A 4-layer GRU with dropout: training forwards differ (dropout on), evaluation is deterministic."""
    model = SequenceModel(5, 1, ModelSettings(rnn="bigru", layers=4, hidden=16, dropout=0.5))
    assert model.rnn.dropout == 0.5 and model.rnn.num_layers == 4
    x = torch.randn(3, 40, 5)
    lengths = torch.tensor([40, 30, 20])  # packed sequences (training windows of unequal length) too
    for lens in (None, lengths):
        model.train()
        assert not torch.allclose(model(x, lens), model(x, lens))
        model.eval()
        assert torch.equal(model(x, lens), model(x, lens))
    no_dropout = SequenceModel(5, 1, ModelSettings(rnn="bigru", layers=4, hidden=16, dropout=0.0)).train()
    assert torch.equal(no_dropout(x), no_dropout(x))


# -- end to end ------------------------------------------------------------------------------------


def test_predict_follows_a_run_standardised_per_recording(data, tmp_path):
    """`musefuse run --standardise recording --weight-decay ...`; predict, reading the run folder's config,
    scales new data per recording too and reproduces the run's devel and test predictions."""
    run = tmp_path / "run"
    args = ["run", "--modalities", ",".join(MODS), "--data", data, "--out", run, "--layers", "1", "--hidden", "8",
            "--epochs", "1", "--device", "cpu", "--folds", "2", "--standardise", "recording", "--weight-decay", "0.01"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["inputs"]["standardise"] == "recording" and saved["model"]["weight_decay"] == 0.01
    assert_predict_reproduces_the_run(run, data, tmp_path / "p", ["arousal", "valence"])
    # predict with train statistics instead would not give the run's predictions: the test can fail
    saved["inputs"]["standardise"] = "train"
    (run / "manifest.json").unlink()  # an edited config.yaml is refused by its checksum otherwise
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(AssertionError):
        assert_predict_reproduces_the_run(run, data, tmp_path / "q", ["arousal"])


def test_bad_values_name_the_option(data, tmp_path):
    for flag, value in (("--standardise", "subject"), ("--weight-decay", "-0.1")):
        result = CliRunner().invoke(app, ["run", "--data", str(data), "--out", str(tmp_path / "r"), flag, value])
        assert result.exit_code != 0 and ("standardise" if "stand" in flag else "weight_decay") in result.output
        assert "Traceback" not in result.output
