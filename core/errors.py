"""Named errors. The CLI prints their message as one paragraph and exits non-zero; a traceback means a bug."""

import difflib

# What a plugin may raise without taking musefuse down: any error, and SystemExit (sys.exit() at import,
# in a hook or while it trains). KeyboardInterrupt still stops the program.
PLUGIN_FAILURES = (Exception, SystemExit)


class MusefuseError(Exception):
    """Base class of every error musefuse reports to a user."""

    details: str | None = None  # more than the user needs to read (a plugin's traceback): log.txt, and --debug


class DataError(MusefuseError):
    """Input data is missing, malformed or inconsistent (the message names the file, row and column)."""


class ConfigError(MusefuseError):
    """A configuration value or command-line option is invalid (the message names the field)."""


class PluginError(MusefuseError):
    """A plugin is unknown, duplicated, or returned something invalid."""


class PluginRunError(PluginError):
    """A plugin failed while a run used it: it raised, or returned something the pipeline cannot use.

    The message names the plugin, its distribution and version, and the task (filled in by the task
    that called it) or, outside the task graph (``predict``, ``robustness``), ``during``: what musefuse
    was doing ("while loading runs/x/checkpoints/fuser-arousal"). ``details`` holds the plugin's
    traceback when it raised. Picklable, so that it crosses from a worker process or a Ray task to the
    command unchanged.
    """

    def __init__(self, kind: str, name: str, source: str, version: str, problem: str,
                 task: str | None = None, details: str | None = None, during: str | None = None) -> None:
        super().__init__(kind, name, source, version, problem, task, details, during)
        self.kind, self.name, self.source, self.version = kind, name, source, version
        self.problem, self.task, self.details, self.during = problem, task, details, during

    def origin(self) -> str:
        """"fuser 'short' from distribution musefuse-faulty 0.2.0", or "... (built in, musefuse 0.5.0)"."""
        if self.source == "musefuse":
            return f"{self.kind} '{self.name}' (built in, musefuse {self.version})"
        return f"{self.kind} '{self.name}' from distribution {self.source} {self.version}"

    def summary(self) -> str:
        """The plugin and what it did wrong, in one line (for a list of failed tasks that names each task)."""
        return f"{self.origin()}: {self.problem.rstrip('.')}"

    def __str__(self) -> str:
        if self.during and not self.task:  # no task, no store to resume from: predict or robustness
            trace = " --debug (or MUSEFUSE_DEBUG=1) prints its traceback." if self.details else ""
            return (f"{self.origin()} failed {self.during}: {self.problem.rstrip('.')}.{trace} After fixing or "
                    "replacing the plugin, run the same command again.")
        where = f" in task '{self.task}'" if self.task else ""
        trace = " Its traceback is in the run's log.txt (--debug prints it)." if self.details else ""
        return (f"{self.origin()} failed{where}: {self.problem.rstrip('.')}.{trace} Models that finished are "
                "kept in the artifact store: after fixing or replacing the plugin, the same command resumes from them.")


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
