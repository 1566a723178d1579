"""Plugin discovery through real entry points, and what the host does with broken plugins."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.core.errors import PluginError
from musefuse.core.plugin_host import PluginHost, get_host

BUILTIN_MODALITIES = {"egemaps", "deepspectrum", "vggface", "fau", "bert"}


def run_cli(*args: str):
    return CliRunner().invoke(app, list(args))


def plugins_json(*args: str) -> list[dict]:
    result = run_cli("plugins", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_builtins_listed_with_their_declaration():
    rows = plugins_json()
    modalities = {r["name"]: r for r in rows if r["kind"] == "modality"}
    assert set(modalities) == BUILTIN_MODALITIES
    assert modalities["deepspectrum"]["width"] == 4096
    assert "ds" in modalities["deepspectrum"]["aliases"]
    assert all(r["source"] == "musefuse" and r["version"] and r["description"] for r in rows)
    assert {r["kind"] for r in rows} <= {"modality", "estimator", "fuser", "corruption"}


def test_kind_filter_and_bad_kind():
    assert {r["kind"] for r in plugins_json("--kind", "modality")} == {"modality"}
    result = run_cli("plugins", "--kind", "modalities")
    assert result.exit_code != 0
    assert "modality, estimator, fuser, corruption" in result.output


def test_json_is_unwrapped_on_a_narrow_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "20")
    rows = plugins_json()
    assert len(rows) >= 5


def test_table_lists_every_plugin():
    result = run_cli("plugins")
    assert result.exit_code == 0
    for name in BUILTIN_MODALITIES:
        assert name in result.output


def test_version():
    result = run_cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("musefuse ")


def test_unknown_modality_names_nearest_match():
    with pytest.raises(PluginError, match=r"Unknown modality 'vgface'. Did you mean 'vggface'\?"):
        get_host().modality("vgface")


def test_modality_found_by_folder_alias():
    assert get_host().modality("faus").name == "fau"


def test_third_party_plugin_listed_with_its_distribution(third_party, monkeypatch):
    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "musefuse-hrv")
    rows = {r["name"]: r for r in plugins_json()}
    assert rows["hrv"]["source"] == "musefuse-hrv"
    assert rows["hrv"]["version"] == "0.3.1"
    assert rows["hrv"]["kind"] == "modality"
    assert BUILTIN_MODALITIES <= set(rows)


def test_broken_plugins_are_reported_and_skipped(third_party, monkeypatch):
    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "musefuse-hrv,musefuse-broken")
    host = PluginHost()
    text = "\n".join(host.warnings)
    assert "failed to load" in text and "musefuse-broken" in text and "a_module_that_does_not_exist" in text
    assert "register_fusers of 'musefuse-broken' raised RuntimeError: boom" in text
    assert "not a musefuse Modality" in text
    # Duplicate names are refused with both packages named; the built-in keeps its name.
    assert "modality 'egemaps' from 'musefuse-broken' refused" in text and "by 'musefuse'" in text
    assert "folder name 'vggface2' is already claimed by modality 'vggface' from 'musefuse'" in text
    # A misspelt hook is reported, with the hook it probably meant.
    assert "unknown hook 'register_modality'" in text and "register_modalities" in text
    # ...and everything else still works.
    assert host.modality("egemaps").width == 88
    assert host.modality("hrv").width == 4
    assert "fake" not in host.modalities()


def test_broken_plugin_cannot_break_the_cli(third_party, monkeypatch):
    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "musefuse-broken,musefuse-hrv")
    result = run_cli("plugins", "--json")
    assert result.exit_code == 0
    names = {r["name"] for r in json.loads(result.stdout)}
    assert BUILTIN_MODALITIES | {"hrv"} <= names
    assert "musefuse-broken" in result.stderr  # the warning goes to stderr, never stdout


@pytest.mark.parametrize(
    ("allowed", "expect_hrv"), [("", False), ("musefuse-hrv", True), ("musefuse-broken", False)]
)
def test_load_plugins_env_filters_distributions(third_party, monkeypatch, allowed, expect_hrv):
    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", allowed)
    host = PluginHost()
    assert ("hrv" in host.modalities()) is expect_hrv
    assert (any("musefuse-broken" in w for w in host.warnings)) is (allowed == "musefuse-broken")


def test_unset_env_loads_every_installed_distribution(third_party, monkeypatch):
    monkeypatch.delenv("MUSEFUSE_LOAD_PLUGINS")
    host = PluginHost()
    assert "hrv" in host.modalities()
    assert any("musefuse-broken" in w for w in host.warnings)
