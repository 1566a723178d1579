"""What every command shares: the consoles (stderr, and :func:`stdout` for tables) and the error-to-exit-code rule.

``MUSEFUSE_DEBUG=1`` (any command), or ``--debug`` on a command that has it, prints an error's traceback
(a failing plugin's own) above its one-paragraph message.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import TypeVar

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from musefuse.core.errors import ConfigError, MusefuseError

# Everything meant for people goes to stderr, so stdout stays clean for --json output.
err = Console(stderr=True)
# Wider than any table: where stdout is not a terminal (a pipe, a log file, CI, nohup), nothing is cut or wrapped.
LOG_WIDTH = 10_000


def stdout() -> Console:
    """The console for results on stdout: the terminal's width on a terminal; anywhere else (``| cat``, a log file,
    CI, ``nohup``, a cluster job) wide enough that a table is logged complete, one row per line, whatever COLUMNS
    says (rich would otherwise wrap at 80 columns and cut names to "unimod…")."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=LOG_WIDTH, soft_wrap=True)

F = TypeVar("F", bound=Callable)


class _FlagsAsFlags:
    """--help shows a flag as a flag: typer's rich help gives every option a type tag, flags included
    (`--overwrite <bool>`, which reads as if it took a value); options that take one keep theirs."""

    def get_params(self, ctx):
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False):
                param.display_type_rich = _no_type  # the help option, created late, comes through here too
        return params


def _no_type(ctx=None) -> None:
    return None


class Command(_FlagsAsFlags, TyperCommand):
    """Every musefuse command (``app.command(name, cls=Command)``)."""


class Group(_FlagsAsFlags, TyperGroup):
    """The musefuse app and its command groups (``typer.Typer(cls=Group)``)."""


DEBUG_ENV = "MUSEFUSE_DEBUG"


def debugging(flag: bool | None = None) -> bool:
    """True with ``--debug`` (``flag``) or ``MUSEFUSE_DEBUG`` set to anything but '', '0' or 'false'."""
    return bool(flag) or os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def reports_errors(func: F) -> F:
    """Turn a named musefuse error, or an OSError, into one readable paragraph on stderr and exit code 2.

    With debugging on (a ``debug`` parameter of the command, or ``MUSEFUSE_DEBUG``), the traceback comes
    first: a plugin's own when the error carries one (``details``), else where the error was raised.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MusefuseError as exc:
            _traceback(exc, kwargs.get("debug"))
            err.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(2) from None
        except OSError as exc:  # the machine, not musefuse: disk full, read-only, a file where a folder goes
            _traceback(exc, kwargs.get("debug"))
            where = f" ({exc.filename})" if exc.filename else ""
            message = f"{exc.strerror or exc}{where}."
            err.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _traceback(exc: BaseException, flag: bool | None) -> None:
    if debugging(flag):
        text = getattr(exc, "details", None) or "".join(traceback.format_exception(exc))
        err.print(text.rstrip(), markup=False, highlight=False, soft_wrap=True)


def split_csv(value: str | None) -> list[str] | None:
    """'a, b,c' -> ['a', 'b', 'c']; None stays None."""
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_options(items: list[str] | None, flag: str) -> dict | None:
    """['bottleneck=8', 'noise=0.1'] -> {'bottleneck': 8, 'noise': 0.1} (values read as YAML scalars)."""
    if not items:
        return None
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {flag} bottleneck=8.")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value
    return out
