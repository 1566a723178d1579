"""Every command keeps the flags it had: the budget and execution options are declared once (cli/options.py)
and each command takes its subset, so a slip there would add or drop a flag silently.

tests/data/cli_flags.json was recorded at af87665, before the options were shared, by what `flags()` below does
(`json.dumps(flags(), indent=1)`, sorted by command). A flag added on purpose is added there in the same commit
(since af87665: run's --fusion-apply, --[no-]single-candidates, --fold-stopping, --fuser-candidates,
--decision-rule and --[no-]all-train-member).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer.main

from musefuse.cli.app import app

RECORDED = Path(__file__).parent / "data" / "cli_flags.json"


def flags() -> dict[str, list[str]]:
    """Command (`store gc` for a sub-command) -> its flags, sorted."""
    out = {}
    for name, command in typer.main.get_command(app).commands.items():
        subs = getattr(command, "commands", None)
        for sub_name, sub in sorted(subs.items()) if subs else [(None, command)]:
            key = name if sub_name is None else f"{name} {sub_name}"
            out[key] = sorted(o for p in sub.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-"))
    return out


def test_every_command_lists_the_flags_it_had():
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    now = flags()
    assert now.keys() == recorded.keys()
    for command, before in recorded.items():
        added, dropped = sorted(set(now[command]) - set(before)), sorted(set(before) - set(now[command]))
        assert not added and not dropped, f"musefuse {command}: added {added}, dropped {dropped}"
