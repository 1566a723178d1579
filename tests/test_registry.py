"""registry.yaml: validated on load, consistent with what the built-in modules register."""

from __future__ import annotations

import pytest

from musefuse.core.errors import PluginError
from musefuse.core.plugins import PluginHost
from musefuse.core.registry import load_registry, parse_registry, registry_path


def test_every_registry_entry_is_registered_by_its_module():
    host = PluginHost(third_party=False)
    registered = {(e.kind, e.name) for e in host.entries()}
    declared = {(e.kind, e.name) for e in load_registry().plugins}
    assert registered == declared
    assert not host.warnings


def test_registry_ships_inside_the_package():
    assert registry_path().name == "registry.yaml" and registry_path().exists()


def test_invalid_entry_names_file_entry_and_field():
    text = """
plugins:
  - {name: egemaps, kind: modality, module: m, description: d, width: -3, standardise: true}
"""
    with pytest.raises(PluginError, match=r"reg\.yaml is invalid — entry 'egemaps', field 'width'"):
        parse_registry(text, "reg.yaml")


def test_unknown_kind_and_bad_settings_are_refused():
    text = """
plugins:
  - {name: x, kind: modalty, module: m, description: d}
  - name: y
    kind: modality
    module: m
    description: d
    width: 3
    standardise: true
    defaults: {arousal: {rnn: transformer}}
"""
    with pytest.raises(PluginError) as info:
        parse_registry(text, "reg.yaml")
    assert "entry 'x', field 'kind'" in str(info.value)
    assert "entry 'y', field 'defaults.arousal.rnn'" in str(info.value)


def test_not_yaml():
    with pytest.raises(PluginError, match="reg.yaml is not valid YAML"):
        parse_registry("plugins: [", "reg.yaml")
