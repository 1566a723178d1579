"""Run configuration: presets, overrides, validation messages."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from musefuse.core.config import FIELD_PATHS, RunConfig, flatten, is_set, updated
from musefuse.core.config_files import build_config
from musefuse.core.errors import ConfigError
from musefuse.core.interfaces import ModelSettings
from musefuse.core.presets import PRESETS


def test_cpu_preset_changes_only_the_budget_and_keeps_explicit_values():
    cfg = RunConfig(epochs=7).with_preset(cuda=False)
    assert cfg.budget.preset == "cpu" and cfg.budget.epochs == 7 and cfg.budget.patience == PRESETS["cpu"].patience
    assert cfg.budget.resolved() == PRESETS["cpu"].model_copy(update={"epochs": 7}) and cfg.execution.threads == 1
    assert cfg.model.rnn is None and cfg.model.layers is None  # the architecture is each modality's: 4 x 64 BiGRU


def test_the_budget_lives_in_the_preset_until_resolved():
    with pytest.raises(ConfigError, match="not resolved"):
        RunConfig().budget.resolved()  # None fields: the preset decides, so nothing to train with yet
    assert RunConfig().with_preset(cuda=True).budget.resolved() == PRESETS["paper"]
    # the key of a plain-patience budget is the one models had before lr_schedule existed
    assert "lr_schedule" not in PRESETS["paper"].key() and PRESETS["cpu"].key()["lr_schedule"] == "plateau"


def test_auto_preset_is_the_paper_on_cuda():
    cfg = RunConfig().with_preset(cuda=True)
    b = cfg.budget
    assert (b.preset, b.epochs, b.patience, b.lr_schedule) == ("paper", 100, 15, "none")


def test_cpu_preset_uses_the_plateau_schedule_unless_told_otherwise():
    assert RunConfig().with_preset(cuda=False).budget.lr_schedule == "plateau"
    assert RunConfig(lr_schedule="none").with_preset(cuda=False).budget.lr_schedule == "none"


def test_overrides_apply_over_modality_defaults():
    base = ModelSettings(rnn="bigru", layers=4, hidden=64, lr=0.005, dropout=0.2)
    got = RunConfig(rnn="lstm", lr=0.0005).model.settings_for(base)
    assert (got.rnn, got.layers, got.lr, got.dropout) == ("lstm", 4, 0.0005, 0.2)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [({"rnn": "rnn"}, "'lstm', 'bilstm', 'gru' or 'bigru'"), ({"modalities": []}, "'modalities'"),
     ({"targets": ["arousal", "arousal"]}, "'targets'"), ({"folds": 1}, "'folds'"), ({"unknown": 1}, "'unknown'")],
)
def test_invalid_values_name_field_and_allowed_values(flags, needle):
    with pytest.raises(ConfigError) as info:
        build_config(None, **flags)
    assert needle in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read config file"):
        build_config(tmp_path / "nope.yaml")


def test_settings_come_in_small_groups_and_every_name_is_one_field():
    assert len(RunConfig.model_fields) <= 8
    for group in _groups(RunConfig):
        assert len(group.model_fields) <= 12, group.__name__
    # every field of the flat config of musefuse 0.1 (47), and six since (fusion_apply, single_candidates,
    # fold_stopping, fuser_candidates, decision_rule, all_train_member), each in one group
    assert len(FIELD_PATHS) == 53
    assert FIELD_PATHS["lr"] == ("model",) and FIELD_PATHS["fuser"] == ("method", "fusion")


def _groups(model):
    for info in model.model_fields.values():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            yield info.annotation
            yield from _groups(info.annotation)


def test_flat_and_grouped_files_and_flags_give_the_same_config(tmp_path):
    flat, grouped = tmp_path / "flat.yaml", tmp_path / "grouped.yaml"
    flat.write_text("lr: 0.001\nfuser: mean\nepochs: 3\nmodalities: [fau]\n")
    grouped.write_text("model: {lr: 0.001}\nmethod: {fusion: {fuser: mean}}\nbudget: {epochs: 3}\n"
                       "inputs: {modalities: [fau]}\n")
    from_flags = build_config(None, lr=0.001, fuser="mean", epochs=3, modalities=["fau"])
    assert build_config(flat) == build_config(grouped) == from_flags == RunConfig(lr=0.001, fuser="mean", epochs=3,
                                                                                 modalities=["fau"])
    cfg = build_config(grouped, epochs=5, seed=2)  # flags over the file, field by field within a group
    assert (cfg.model.lr, cfg.budget.epochs, cfg.execution.seed) == (0.001, 5, 2)
    assert flatten(cfg, explicit=True) == {"modalities": ["fau"], "lr": 0.001, "fuser": "mean", "epochs": 5,
                                           "seed": 2}


def test_presets_fill_only_what_was_not_set_in_any_group():
    cfg = RunConfig(epochs=7, fusion_train="in-sample", pipeline="paper").with_preset(cuda=False)
    assert cfg.budget.epochs == 7 and cfg.budget.patience == PRESETS["cpu"].patience  # preset: the rest of budget
    assert cfg.method.difficulty.difficulty_train == "in-sample" and cfg.method.decisions.re_unimodal is True
    assert updated(cfg, seed=3).execution.seed == 3 and is_set(RunConfig(seed=0), "seed")
    assert not is_set(RunConfig(), "seed")


def test_errors_name_the_flat_field_and_old_estimator_fields_still_load():
    with pytest.raises(ConfigError, match="'epochs'"):
        build_config(None, epochs=0)
    cfg = RunConfig.model_validate({"ae_bottleneck": 4, "re_smoothing": 1})  # a run folder of musefuse <= 0.1 main
    assert cfg.method.difficulty.estimator_options == {"bottleneck": 4, "smoothing": 1}
