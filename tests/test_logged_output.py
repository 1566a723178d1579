"""Output where it is logged: with stdout not a terminal (CI, `| cat`, nohup) tables are complete, one row a line."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from musefuse.cli.app import app

MODS = ["egemaps", "vggface", "fau", "headposition"]  # long names, as a real run's


def records(seed: int = 0) -> list[dict]:
    out = []
    for stage, mods in [*(("unimodal", [m]) for m in MODS), ("fusion", MODS)]:
        for target in ("arousal", "valence", "combined"):
            for part, ccc in (("devel", 0.4123 + seed / 100), ("test", -0.0712)):
                out.append({"stage": stage, "modalities": mods, "target": target, "partition": part, "ccc": ccc,
                            "ccc_ci95": [-0.3141, 0.6789] if part == "devel" else None, "re": False,
                            "chosen": "plain", "fuser": "birnn" if stage == "fusion" else None, "seed": seed})
    return out


def lines_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def assert_complete(output: str, needles: list[list[str]]) -> None:
    """No cut cell; each row's cells, in order, on one line of the output."""
    assert "…" not in output, output
    lines = lines_of(output)
    for cells in needles:
        assert any(all(c in line for c in cells) and
                   [line.index(c) for c in cells] == sorted(line.index(c) for c in cells) for line in lines), \
            (cells, output)


def test_runs_table_is_complete_at_40_columns(monkeypatch, tmp_path):
    recs = records()
    monkeypatch.setattr("musefuse.cli.run_cmd.execute_run", lambda cfg, reporter, echo: (tmp_path / "a-run", recs))
    result = CliRunner().invoke(app, ["run", "--modalities", ",".join(MODS)], env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    assert_complete(result.stdout, [["unimodal", "headposition", "plain", "arousal", "0.412 [-0.31,0.68]",
                                     "-0.071 [n/a]"],
                                    ["fusion (birnn)", "egemaps+vggface+fau+headposition", "arousal"],
                                    ["combined", "0.412 [-0.31,0.68]", "-0.071 [n/a]"]])


def test_summarize_is_complete_at_40_columns(tmp_path):
    runs = []
    for seed in (0, 1):
        folder = tmp_path / f"seed-{seed}"
        folder.mkdir()
        (folder / "config.yaml").write_text(yaml.safe_dump({"modalities": MODS, "seed": seed}))
        (folder / "results.json").write_text(json.dumps(records(seed)))
        runs.append(str(folder))
    result = CliRunner().invoke(app, ["summarize", *runs], env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    assert_complete(result.stdout, [["unimodal", "headposition", "valence", "0.417±0.007 (2) [-0.31, 0.68]",
                                     "-0.071±0.000 (2) [n/a]"],
                                    ["fusion", "egemaps+vggface+fau+headposition", "combined"]])


def test_plugins_table_is_complete_at_40_columns():
    result = CliRunner().invoke(app, ["plugins"], env={"COLUMNS": "40"})
    assert result.exit_code == 0 and "…" not in result.stdout, result.stdout
    assert any("vggface" in line and "modality" in line for line in lines_of(result.stdout)), result.stdout


def test_a_terminal_keeps_its_width(monkeypatch):
    from musefuse.cli import common

    monkeypatch.setattr(common.sys.stdout, "isatty", lambda: True, raising=False)
    assert common.stdout().width < common.LOG_WIDTH
    monkeypatch.setattr(common.sys.stdout, "isatty", lambda: False, raising=False)
    assert common.stdout().width == common.LOG_WIDTH
