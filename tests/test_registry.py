"""registry.yaml: validated on load, consistent with what the built-in modules register."""

from __future__ import annotations

import pytest

from musefuse.core.errors import PluginError
from musefuse.core.plugin_host import PluginHost
from musefuse.core.registry import builtin_modules, load_registry, parse_registry, registry_path


def test_every_declared_modality_and_listed_module_is_registered():
    host = PluginHost(third_party=False)
    assert {e.name for e in host.entries("modality")} == {e.name for e in load_registry().modalities}
    assert {e.name for e in host.entries("estimator")} == {"ae-re", "none"}
    assert {e.name for e in host.entries("fuser")} == {"birnn", "convex", "mean"}
    assert len(host.entries("corruption")) == 6
    assert set(builtin_modules()) == {name for name, _ in host.pm.list_name_plugin()} and not host.warnings


def test_registry_ships_inside_the_package():
    assert registry_path().name == "registry.yaml" and registry_path().exists()


def test_invalid_entry_names_file_entry_and_field():
    text = """
modules: []
modalities:
  - {name: egemaps, module: m, description: d, width: -3, standardise: true}
"""
    with pytest.raises(PluginError, match=r"reg\.yaml is invalid — entry 'egemaps', field 'width'"):
        parse_registry(text, "reg.yaml")


def test_unknown_fields_missing_widths_and_bad_settings_are_refused():
    text = """
modules: [musefuse.plugins.fusers]
modalities:
  - {name: x, kind: modality, module: m, description: d, width: 3, standardise: true}
  - {name: z, module: m, description: d}
  - name: y
    module: m
    description: d
    width: 3
    standardise: true
    defaults: {arousal: {rnn: transformer}}
"""
    with pytest.raises(PluginError) as info:
        parse_registry(text, "reg.yaml")
    assert "entry 'x', field 'kind'" in str(info.value)
    assert "entry 'z', field 'width'" in str(info.value) and "entry 'z', field 'standardise'" in str(info.value)
    assert "entry 'y', field 'defaults.arousal.rnn'" in str(info.value)


def test_not_yaml():
    with pytest.raises(PluginError, match="reg.yaml is not valid YAML"):
        parse_registry("modalities: [", "reg.yaml")
