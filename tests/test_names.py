"""One name for one thing: the model a record scores reads the same in run's table, summarize and report, and
every table that shows the 'combined' row says what it is."""

from __future__ import annotations

import json

import yaml
from rich.console import Console

from musefuse.cli.run_cmd import results_table
from musefuse.lab.experiments.report import _run_table
from musefuse.lab.experiments.summary import summarize
from musefuse.lab.experiments.tables import model_name


def records() -> list[dict]:
    out = []
    for stage, chosen in (("unimodal", "re"), ("fusion", "no-re")):
        for target in ("arousal", "valence"):
            out.append({"stage": stage, "modalities": ["fau"], "target": target, "partition": "devel", "ccc": 0.5,
                        "ccc_ci95": [0.4, 0.6], "re": chosen == "re", "chosen": chosen, "seed": 0,
                        "fuser": "birnn" if stage == "fusion" else None})
        out.append({**out[-1], "target": "combined", "re": out[-1]["re"]})
        out[-1].pop("chosen")
    return out


def test_the_model_without_the_difficulty_is_plain_everywhere(tmp_path):
    recs = records()
    assert [model_name(r, recs) for r in recs] == ["re", "re", "re", "plain", "plain", "plain"]
    assert model_name({"re": False, "target": "arousal"}) == "plain"  # as configured: the same name
    console = Console(width=300, record=True)
    console.print(results_table(recs, "t"))
    shown = console.export_text()
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.yaml").write_text(yaml.safe_dump({"modalities": ["fau"], "seed": 0}))
    (tmp_path / "r" / "results.json").write_text(json.dumps(recs))
    summary = summarize([tmp_path / "r"], ["devel"])
    texts = {"run": shown, "summarize": summary.markdown(), "report": _run_table(recs)}
    for where, text in texts.items():
        assert "no-re" not in text and "no RE" not in text and "mixed" not in text and "+ RE" not in text, where
        assert "plain" in text and "re" in text, where
        assert "mean of the arousal and valence CCC" in " ".join(text.split()), where


def test_a_combined_row_over_targets_that_kept_different_models_names_both():
    recs = records()[:3]
    recs[1] = {**recs[1], "chosen": "plain", "re": False}
    recs[2] = {**recs[2], "re": None}
    assert model_name(recs[2], recs) == "arousal re, valence plain"
    ensemble = {"stage": "fusion", "modalities": ["fau"], "target": "arousal", "re": None}  # members differ
    assert model_name(ensemble) == "re in some members"
