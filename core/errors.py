"""Named errors. The CLI prints their message as one paragraph and exits non-zero; a traceback means a bug."""

import difflib


class MusefuseError(Exception):
    """Base class of every error musefuse reports to a user."""


class DataError(MusefuseError):
    """Input data is missing, malformed or inconsistent (the message names the file, row and column)."""


class ConfigError(MusefuseError):
    """A configuration value or command-line option is invalid (the message names the field)."""


class PluginError(MusefuseError):
    """A plugin is unknown, duplicated, or returned something invalid."""


class RunFolderError(MusefuseError):
    """A run folder is missing, incomplete, or would be overwritten."""


def nearest(name: str, known: list[str]) -> str:
    """' Did you mean 'x'?' for the closest known name, or '' when nothing is close."""
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""


def unknown(kind: str, name: str, known: list[str]) -> str:
    """The message for an unknown name: what is known, and what nearly matched."""
    return f"Unknown {kind} '{name}'.{nearest(name, known)} Known: {', '.join(sorted(known)) or '(none)'}."


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line (its type's name when it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
