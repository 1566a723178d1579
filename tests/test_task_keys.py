"""Every task key of the release before the engine/method split, unchanged (tests/data/task_keys.json).

A task's key is the hash of everything its model depends on; a refactor that keeps every key reuses every
stored model and reproduces every result. Eleven configurations cover each option that enters a key."""

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
    got = maker.plan_keys(maker.synthetic(tmp_path))
    assert list(got) == list(expected)
    for name in expected:
        assert got[name] == expected[name], f"configuration {name!r}: the tasks or their keys changed"
