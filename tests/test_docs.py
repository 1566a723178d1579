"""The documentation agrees with the code: the configuration reference, the run flags, links, CI."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main
import yaml

from musefuse.cli.app import app
from musefuse.core import config_doc
from musefuse.core.config import FIELD_PATHS, RunConfig, flatten

ROOT = Path(__file__).resolve().parents[1]

# `musefuse run` options that are not RunConfig fields of their own name.
NOT_FIELDS = {"config", "as_json", "debug"}  # the YAML file itself; the output format; tracebacks on errors
RENAMED = {"estimator_option": "estimator_options"}  # repeatable KEY=VALUE, collected into one dict


def test_config_reference_is_generated_from_runconfig():
    written = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert written == config_doc.render(), (
        f"docs/config.md disagrees with RunConfig; regenerate it: {config_doc.REGENERATE}")


def test_every_config_field_is_described_with_type_and_default():
    undescribed = []
    for name, path in FIELD_PATHS.items():
        group = RunConfig
        for part in path:
            group = group.model_fields[part].annotation
        if not (group.model_fields[name].description or "").strip():
            undescribed.append(name)
    assert not undescribed, f"RunConfig fields without Field(description=...): {undescribed}"
    rendered = config_doc.render()
    assert "| `folds` | `int` (≥ 2) | `3` | Folds over train subjects" in rendered
    assert '| `fusion_train` | `"in-sample" \\| "out-of-fold"` | ' in rendered
    assert "| `data` | `Path \\| None` | `None` |" in rendered


def test_regeneration_command_writes_the_reference(tmp_path):
    target = tmp_path / "config.md"
    target.write_text("stale", encoding="utf-8")
    config_doc.main([str(target)])
    assert target.read_text(encoding="utf-8") == config_doc.render()
    assert [p.name for p in tmp_path.iterdir()] == ["config.md"]  # no temporary file left behind


def test_every_run_option_is_a_runconfig_field_of_the_same_name():
    run = typer.main.get_command(app).commands["run"]
    fields = set(FIELD_PATHS)
    for param in run.params:
        if param.name in NOT_FIELDS:
            continue
        field = RENAMED.get(param.name, param.name)
        assert field in fields, f"musefuse run {param.opts[0]} sets no RunConfig field ({field})"
        flag = "--" + param.name.replace("_", "-")
        assert flag in param.opts, f"RunConfig.{field} is {param.opts} on the command line, not {flag}"


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci in (ROOT / "README.md").read_text(encoding="utf-8").splitlines(), (
        "README's test command and .ci/run differ; keep them byte-identical")


def test_relative_links_in_readme_and_docs_resolve():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            path = target.split("#")[0]
            if path and "://" not in path and not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, f"links to files that do not exist: {broken}"


def test_readme_yaml_example_is_a_valid_config():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    assert blocks, "the README's YAML example is gone"
    for block in blocks:
        RunConfig.model_validate(yaml.safe_load(block))


def test_readme_yaml_example_shows_the_defaults():
    """The README's example is read as 'what a run does'; a value other than the default misleads."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    example = yaml.safe_load(block)
    assert example, "the README's YAML example sets no field"
    defaults = flatten(RunConfig())
    differ = {k: (v, defaults[k]) for k, v in example.items() if v != defaults[k]}
    assert not differ, f"README's YAML example differs from RunConfig's defaults (example, default): {differ}"
