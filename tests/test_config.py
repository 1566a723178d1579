"""Run configuration: presets, overrides, validation messages."""

from __future__ import annotations

import pytest

from musefuse.core.config import PRESETS, RunConfig, build_config
from musefuse.core.errors import ConfigError
from musefuse.core.interfaces import ModelSettings


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
