"""What the CLI tests share: invoking musefuse in-process, and the shape of a clean refusal."""

from __future__ import annotations

from typer.testing import CliRunner

from musefuse.cli.app import app


def cli(*args):
    """``musefuse ARGS`` in this process (paths and numbers may be passed as they are)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def clean_exit_2(result, *named: str) -> None:
    """A refusal: exit code 2, no traceback, and every ``named`` text in what it printed."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for text in named:
        assert text in result.output, result.output
