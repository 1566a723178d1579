"""Issue 30, reliability round three: options and data a careless user brings, and friction.

Each case is refused or warned about with the option or file named (never a traceback, never
silent). Nothing here trains more than the tiniest model on the small synthetic data.
"""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from musefuse.cli.app import app


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _flat(text: str) -> str:
    return " ".join(text.split())  # rich tables and panels break long messages over lines


def _refused(result, *named: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    said = _flat(result.output)
    assert "Traceback" not in said, result.output
    for text in named:
        assert text in said, (text, result.output)


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # rich folds long paths and help lines at the terminal width


# -- friction: --help shows flags as flags -------------------------------------------------------------


def _commands(command, path: tuple[str, ...] = ()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "musefuse" for p, _ in COMMANDS])
def test_help_shows_flags_without_a_value_tag_and_values_with_one(path, command):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    rows = {}  # option names -> the word after them (a value tag, or the help text's first)
    for line in result.output.splitlines():
        words = line.strip("│ ").split()
        words = words[1:] if words[:1] == ["*"] else words  # required
        names = []
        while words and all(n.startswith("-") for n in words[0].split(",")):  # --raw,--audio  --no-x
            names += words.pop(0).split(",")
        for name in names:
            rows[name] = words[0] if words else ""
    options = [(p.opts, p.is_flag) for p in command.params
               if p.param_type_name == "option" and not p.hidden]  # typer's own click: no isinstance
    for opts, is_flag in [*options, (["--help"], True)]:
        tag = rows[opts[0]]
        if is_flag:
            assert not tag.startswith("<"), f"musefuse {' '.join(path)}: flag {opts[0]} shows a value tag {tag}"
        else:
            assert tag.startswith("<") or "=" in tag, f"musefuse {' '.join(path)}: {opts[0]} shows no value tag"
