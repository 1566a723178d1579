"""The plugin host: built-ins from registry.yaml, third parties from the `musefuse` entry-point group.

Both arrive the same way — modules implementing the hooks in :mod:`musefuse.core.hookspecs` —
and every registered object passes through one `register` callback per hook, where names,
aliases and duplicates are resolved and invalid objects are refused. Whatever a third-party
plugin does wrong (fails to import, raises, registers or returns junk, claims a taken name,
misspells a hook) becomes a warning naming its distribution; the rest keeps working. What plugins
print while they load goes to stderr (stdout carries ``--json`` output). At run time the task graph
calls plugins through musefuse.core.method.boundary, which turns their failures into one error.

Environment:
  MUSEFUSE_LOAD_PLUGINS=dist1,dist2   load only these third-party distributions ('' = none); names
                                      are compared as packaging normalises them (musefuse_hrv ==
                                      musefuse-hrv == MuseFuse.HRV)
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import reprlib
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from musefuse import __version__
from musefuse.core import hookspecs
from musefuse.core.config import updated
from musefuse.core.errors import PLUGIN_FAILURES, ConfigError, PluginError, nearest, unknown
from musefuse.core.interfaces import Corruption, DifficultyEstimator, Fuser, Modality, PluginOptions
from musefuse.core.registry import builtin_modules

BUILTIN = "musefuse"
ENTRY_POINT_GROUP = "musefuse"
LOAD_ENV = "MUSEFUSE_LOAD_PLUGINS"

# hook name -> (kind word, what register() must receive)
HOOKS: dict[str, tuple[str, type]] = {
    "register_modalities": ("modality", Modality),
    "register_estimators": ("estimator", DifficultyEstimator),
    "register_fusers": ("fuser", Fuser),
    "register_corruptions": ("corruption", Corruption),
}
KINDS: tuple[str, ...] = tuple(kind for kind, _ in HOOKS.values())  # modality, estimator, fuser, corruption


@dataclass
class PluginInfo:
    """One registered thing, as `musefuse plugins` lists it."""

    name: str
    kind: str
    source: str  # "musefuse" for built-ins, else the distribution's name
    version: str
    description: str
    obj: Any = field(repr=False)  # a Modality instance, or the plugin class

    def as_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("name", "kind", "source", "version", "description")}
        if self.kind == "modality":
            # Other folder names only, for built-ins and third parties alike (registry.yaml lists the name too).
            aliases = [a for a in self.obj.folders() if a != self.obj.name]
            out.update(aliases=aliases, width=self.obj.width, standardise=self.obj.standardise)
        return out


def _short(obj: Any) -> str:
    """A plugin's object in a warning: its repr, cut to a line."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 80
    return short.repr(obj)


def canonical(name: str) -> str:
    """A distribution name as packaging normalises it (PEP 503): 'MuseFuse_HRV' -> 'musefuse-hrv'."""
    return re.sub(r"[-_.]+", "-", name).lower().strip()


_PLUGIN_FAILURES = PLUGIN_FAILURES  # any error, and SystemExit; KeyboardInterrupt still stops the program


# Class attributes the pipeline reads from a registered class, and what each must be.
_CLASS_FLAGS: dict[str, tuple[str, ...]] = {"estimator": ("gives_signal",), "fuser": ("learned",)}
_METHODS: dict[str, tuple[str, ...]] = {"estimator": ("fit", "difficulty", "state", "load"),
                                        "fuser": ("fit", "predict", "state", "load"), "corruption": ("apply",)}


def _validate(kind: str, expected: type, obj: Any) -> tuple[str, str]:
    """(name, description) of a registered object, or PluginError saying what is wrong with it."""
    if kind == "modality":
        if not isinstance(obj, Modality):
            raise PluginError(f"register_modalities passed {type(obj).__name__}, not a musefuse Modality")
        folders = obj.folders()  # a subclass may override it: it must still give folder names
        if not (isinstance(folders, list) and folders and all(isinstance(f, str) and f for f in folders)):
            raise PluginError(f"modality '{obj.name}': folders() gave {folders!r}, not a list of folder names")
        return obj.name, obj.description
    if not (isinstance(obj, type) and issubclass(obj, expected)):
        raise PluginError(f"register_{kind}s passed {obj!r}, not a subclass of {expected.__name__}")
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name:
        raise PluginError(f"{obj.__name__} has no string attribute 'name'")
    if getattr(obj, "__abstractmethods__", None):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise PluginError(f"{obj.__name__} does not implement {missing}")
    for method in _METHODS.get(kind, ()):
        if not callable(getattr(obj, method, None)):
            raise PluginError(f"{obj.__name__}.{method} is {getattr(obj, method, None)!r}, not a method")
    for flag in _CLASS_FLAGS.get(kind, ()):
        if not isinstance(getattr(obj, flag), bool):
            raise PluginError(f"{obj.__name__}.{flag} is {getattr(obj, flag)!r}; it must be True or False")
    if kind == "estimator" and not (isinstance(obj.Options, type) and issubclass(obj.Options, PluginOptions)):
        raise PluginError(f"{obj.__name__}.Options is {obj.Options!r}, not a subclass of PluginOptions")
    if not isinstance(obj.description, str):
        raise PluginError(f"{obj.__name__}.description is {obj.description!r}, not a string")
    return name, (obj.description or (obj.__doc__ or "").strip().split("\n")[0])


class PluginHost:
    """Loads plugins once and answers 'which modality/estimator/fuser/corruption is called X'."""

    def __init__(self, *, third_party: bool = True) -> None:
        self.pm = pluggy.PluginManager("musefuse")
        self.pm.add_hookspecs(hookspecs)
        self.warnings: list[str] = []
        self._sources: dict[str, tuple[str, str]] = {}  # plugin name in pm -> (source, version)
        self._items: dict[str, dict[str, PluginInfo]] = {kind: {} for kind, _ in HOOKS.values()}
        self._aliases: dict[str, tuple[str, str]] = {}  # modality folder alias -> (modality, source)
        self.switched_off: set[str] = set()  # installed plugin distributions that LOAD_ENV left out
        # What plugins print while they load or register goes to stderr: stdout is for --json output.
        with contextlib.redirect_stdout(sys.stderr):
            self._register_builtins()
            if third_party:
                self._register_entry_points()
            self._check_unknown_hooks()
            for hook in HOOKS:
                self._collect(hook)

    # -- loading -------------------------------------------------------------------------------
    def _register_builtins(self) -> None:
        for module_name in builtin_modules():
            module = importlib.import_module(module_name)
            self.pm.register(module, name=module_name)
            self._sources[module_name] = (BUILTIN, __version__)

    def _register_entry_points(self) -> None:
        allowed = os.environ.get(LOAD_ENV)
        wanted = None if allowed is None else {canonical(d) for d in allowed.split(",") if d.strip()}
        seen: set[str] = set()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else ep.value
            version = ep.dist.version if ep.dist else "?"
            seen.add(canonical(dist))
            if wanted is not None and canonical(dist) not in wanted:
                self.switched_off.add(dist)
                continue
            try:
                plugin = ep.load()
                self.pm.register(plugin, name=f"{dist}:{ep.name}")
            except _PLUGIN_FAILURES as exc:  # a broken plugin must never break the host
                self.warn(f"plugin '{ep.name}' from distribution '{dist}' failed to load and was skipped: "
                          f"{type(exc).__name__}: {exc}")
                continue
            self._sources[f"{dist}:{ep.name}"] = (dist, version)
        for name in sorted((wanted or set()) - seen):
            self.warn(f"{LOAD_ENV} names '{name}', but no installed distribution provides musefuse plugins "
                      f"under that name.{nearest(name, sorted(seen))}")

    def _check_unknown_hooks(self) -> None:
        # pluggy registers any `@hookimpl` function; one whose name matches no spec would be a
        # silent no-op, so say so (the typo is usually one edit away from a real hook name).
        for name, plugin in self.pm.list_name_plugin():
            for hook_name in dir(plugin):
                attr = getattr(plugin, hook_name, None)
                if hasattr(attr, "musefuse_impl") and hook_name not in HOOKS:
                    source = self._sources.get(name, (name, ""))[0]
                    self.warn(f"plugin '{name}' from '{source}' implements unknown hook '{hook_name}'"
                              f" (ignored).{nearest(hook_name, list(HOOKS))}")

    def _collect(self, hook_name: str) -> None:
        kind, expected = HOOKS[hook_name]
        # Call each implementation on its own so one that raises cannot take the others down.
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():  # in registration order
            source, version = self._sources.get(impl.plugin_name, (impl.plugin_name, "?"))

            def register(obj: Any, _source: str = source, _version: str = version) -> None:
                try:
                    name, description = _validate(kind, expected, obj)
                except PluginError as exc:
                    self.warn(f"{kind} from '{_source}' refused: {exc}")
                    return
                except _PLUGIN_FAILURES as exc:  # e.g. a Modality subclass whose folders() raises
                    self.warn(f"{kind} {_short(obj)} from '{_source}' refused: checking it raised "
                              f"{type(exc).__name__}: {exc}")
                    return
                self._add(PluginInfo(name, kind, _source, _version, description, obj))

            try:
                returned = impl.function(register=register)
            except _PLUGIN_FAILURES as exc:
                self.warn(f"{hook_name} of '{source}' raised {type(exc).__name__}: {exc}; its {kind}s"
                          " registered before the error are kept, the rest skipped")
                continue
            if returned is not None:  # e.g. `return [MyFuser]`, or a hook written as a generator
                self.warn(f"{hook_name} of '{source}' returned {_short(returned)}, which is ignored: a hook calls "
                          f"register(...) once for each {kind} it provides and returns nothing")

    def _add(self, info: PluginInfo) -> None:
        table = self._items[info.kind]
        if info.name in table:
            first = table[info.name]
            self.warn(f"{info.kind} '{info.name}' from '{info.source}' refused: the name is already "
                      f"registered by '{first.source}'")
            return
        if info.kind == "modality":
            for alias in info.obj.folders():
                owner = self._aliases.get(alias)
                if owner and owner[0] != info.name:
                    self.warn(f"modality '{info.name}' from '{info.source}' refused: folder name '{alias}' "
                              f"is already claimed by modality '{owner[0]}' from '{owner[1]}'")
                    return
            for alias in info.obj.folders():
                self._aliases[alias] = (info.name, info.source)
        table[info.name] = info

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def distributions(self) -> dict[str, dict[str, Any]]:
        """Third-party distributions whose plugins loaded: name -> version and what each provides."""
        out: dict[str, dict[str, Any]] = {}
        for source, version in sorted(set(self._sources.values())):
            if source != BUILTIN:
                provides = [f"{i.kind} {i.name}" for i in self.entries() if i.source == source]
                out[source] = {"version": version, "provides": provides}
        return out

    # -- queries -------------------------------------------------------------------------------
    def entries(self, kind: str | None = None) -> list[PluginInfo]:
        """Everything registered, built-ins first, optionally of one kind."""
        return [info for k, table in self._items.items() if kind in (None, k) for info in table.values()]

    def get(self, kind: str, name: str) -> Any:
        """The object registered as ``name`` (a modality also answers to its folder aliases)."""
        return self.info(kind, name).obj

    def info(self, kind: str, name: str) -> PluginInfo:
        """What is registered as ``name``, with its distribution and version (a modality: also by alias)."""
        table = self._items[kind]
        if name in table:
            return table[name]
        if kind == "modality" and name in self._aliases:
            return table[self._aliases[name][0]]
        off = ""
        if self.switched_off:  # the name may well be theirs: say so rather than "unknown"
            off = (f" {LOAD_ENV}={os.environ.get(LOAD_ENV, '')!r} switched off the installed plugin distribution(s) "
                   f"{', '.join(sorted(self.switched_off))}, which may provide it.")
        raise PluginError(unknown(kind, name, list(table)) + off)

    def modalities(self) -> dict[str, Modality]:
        return {name: info.obj for name, info in self._items["modality"].items()}

    def modality(self, name: str) -> Modality:
        return self.get("modality", name)

    def estimator(self, name: str) -> type[DifficultyEstimator]:
        return self.get("estimator", name)

    def fuser(self, name: str) -> type[Fuser]:
        return self.get("fuser", name)

    def corruption(self, name: str) -> type[Corruption]:
        return self.get("corruption", name)


_HOST: PluginHost | None = None


def get_host(*, reload: bool = False, quiet: bool = False) -> PluginHost:
    """The process-wide host, loaded on first use; its warnings go to stderr once (``quiet``: not at all,
    e.g. in worker processes, whose parent has printed them)."""
    global _HOST
    if _HOST is None or reload:
        _HOST = PluginHost()
        for message in [] if quiet else _HOST.warnings:
            print(f"musefuse: warning: {message}", file=sys.stderr)
    return _HOST


def resolve_aliases(cfg: Any, host: PluginHost | None = None) -> Any:
    """``cfg`` (a RunConfig) with each modality's folder alias replaced by the modality's own name.

    Done once, where a configuration meets the plugin host, so that the run folder, the task keys
    (plugin versions), the synthetic-data filter and ``predict`` all see one name per modality; an
    unknown name fails here, and two names of one modality (``fau,faus``) are refused.
    """
    host = host or get_host()
    names = [host.modality(n).name for n in cfg.inputs.modalities]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        given = [g for g, n in zip(cfg.inputs.modalities, names, strict=True) if n in repeated]
        raise ConfigError(f"'modalities': {', '.join(given)} name the same modality ({', '.join(repeated)}) twice.")
    if names == list(cfg.inputs.modalities):
        return cfg
    canonical_of = dict(zip(cfg.inputs.modalities, names, strict=True))
    settings = {canonical_of.get(m, m): v for m, v in cfg.model.model_settings.items()}  # keyed as the run names them
    return updated(cfg, modalities=names, model_settings=settings)
