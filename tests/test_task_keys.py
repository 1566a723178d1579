"""Every task key of the release before the engine/method split, unchanged (tests/data/task_keys.json).

A task's key is the hash of everything its model depends on; a refactor that keeps every key reuses every
stored model and reproduces every result. Eleven configurations cover each option that enters a key.

Since the recording, one default changed on purpose (issue 34: ``fuser_candidates: [convex]``, chosen on the worlds
matrix): the recorded method is planned with ``fuser_candidates: []``, and the second test shows what the change
adds to the default's plan and that it retrains nothing recorded."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

DATA = Path(__file__).parent / "data"


def _maker():
    spec = importlib.util.spec_from_file_location("make_task_keys", DATA / "make_task_keys.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_task_key_of_the_previous_release_is_unchanged(tmp_path):
    maker = _maker()
    expected = json.loads((DATA / "task_keys.json").read_text())
    got = maker.plan_keys(maker.synthetic(tmp_path), fuser_candidates=[])
    assert list(got) == list(expected)
    for name in expected:
        assert got[name] == expected[name], f"configuration {name!r}: the tasks or their keys changed"


def test_the_convex_fuser_candidate_adds_two_fusers_and_redecides_only_the_fusion(tmp_path):
    maker = _maker()
    recorded = json.loads((DATA / "task_keys.json").read_text())["default"]
    now = maker.plan_keys(maker.synthetic(tmp_path))["default"]
    new = [task for task in now if task not in recorded]
    gone = [task for task in recorded if task not in now]
    assert sorted((kind, label) for kind, label, _ in new) == [
        ("decision", "decision fusion → arousal: difficulty input"),
        ("decision", "decision fusion → valence: difficulty input"),
        ("fuser", "fusion (convex) → arousal"), ("fuser", "fusion (convex) → valence")]
    assert sorted(label for _, label, _ in gone) == [  # the decisions that now have a third candidate
        "decision fusion → arousal: difficulty input", "decision fusion → valence: difficulty input"]
