"""Where the task graph calls plugin code: every call into an estimator or a fuser passes through here.

A plugin that raises, or returns something the pipeline cannot use, becomes one
:class:`~musefuse.core.errors.PluginRunError` naming the plugin, its distribution and version, what
it did wrong and (filled in by :func:`in_task`) the task; when it raised, its traceback travels in
the error's ``details`` (written to the run's log.txt, printed with ``--debug``). Outputs are checked
here, before anything downstream reads them:

- a signal (difficulty, fused prediction) is one finite 1-D numeric array per subject, with exactly
  that subject's number of steps;
- a state is ``(tensors, metadata)``: str -> torch.Tensor, finite where floating point and sharing
  no memory (safetensors refuses shared tensors), and a JSON object without the reserved key 'plugin';
- ``fit_result`` is None or has what a task's fit summary reads.

Anything a plugin prints while it runs goes to stderr, so stdout stays clean for ``--json``. Calls
outside the task graph (a fitted pipeline loading its checkpoints and predicting: ``predict``,
``robustness``; musefuse.core.method.pipeline.Fitted) pass through here too, with ``during`` saying
what musefuse was doing in place of a task.

    plugin = Plugin(env.host, "fuser", spec["plugin"])
    fuser = plugin.create()
    plugin.call("fit()", fuser.fit, ...)
    fused = plugin.signals("predict()", plugin.call("predict()", fuser.predict, p, d), env.dataset.subjects)
"""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from musefuse.core.errors import PLUGIN_FAILURES, PluginRunError, first_line

# What a task's fit summary (tasks._fit_summary) reads from a plugin's fit_result.
FIT_RESULT_FIELDS = ("best_epoch", "epochs_run", "best_score", "frames_per_second", "history")


class Plugin:
    """One registered estimator or fuser, as the task that calls it sees it."""

    def __init__(self, host: Any, kind: str, name: str, during: str | None = None) -> None:
        info = host.info(kind, name)
        self.kind, self.name, self.source, self.version, self.cls = kind, info.name, info.source, info.version, info.obj
        self.during = during  # outside a task: what musefuse was doing, for the error (PluginRunError.during)

    def error(self, problem: str, details: str | None = None) -> PluginRunError:
        return PluginRunError(self.kind, self.name, self.source, self.version, problem, details=details,
                              during=self.during)

    def call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, its prints sent to stderr; whatever it raises becomes a PluginRunError."""
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return fn(*args)
        except PLUGIN_FAILURES as exc:
            raise self.error(f"{what} raised {type(exc).__name__}: {first_line(exc)}",
                             traceback.format_exc()) from None

    def create(self) -> Any:
        """A new instance of the plugin class."""
        return self.call(f"{getattr(self.cls, '__name__', self.name)}()", self.cls)

    def load(self, tensors: dict[str, Any], meta: dict[str, Any], device: Any) -> Any:
        """``cls.load(tensors, meta, device)``, once it gave an instance of the plugin's class."""
        obj = self.call("load()", self.cls.load, tensors, meta, device)
        if not isinstance(obj, self.cls):
            raise self.error(f"load() returned {_kind_of(obj)}, not an instance of {self.cls.__name__}")
        return obj

    def signals(self, what: str, outputs: Any, subjects: Sequence[Any]) -> list[np.ndarray]:
        """``outputs`` (one array per subject) as numpy arrays, once each is finite, 1-D and of the subject's length."""
        try:
            count = len(outputs)
        except TypeError:
            raise self.error(f"{what} returned {_kind_of(outputs)}, not a list of one array per subject") from None
        if count != len(subjects):
            raise self.error(f"{what} returned {count} array(s) for {len(subjects)} subjects")
        checked = []
        for subject, out in zip(subjects, outputs, strict=True):
            steps, who = len(subject.timestamps), f"subject '{subject.id}'"
            try:
                a = np.asarray(out)
            except Exception:  # noqa: BLE001 - ragged lists, CUDA tensors, objects numpy cannot read
                raise self.error(f"{what} returned {_kind_of(out)} for {who}, not an array of numbers") from None
            if a.dtype.kind not in "biuf":
                raise self.error(f"{what} returned {a.dtype} values for {who}, not numbers")
            if a.ndim != 1:
                raise self.error(f"{what} returned an array of shape {a.shape} for {who}; one value per step, "
                                 f"shape ({steps},), is expected")
            if len(a) != steps:
                raise self.error(f"{what} returned {len(a)} steps for {who}, whose recording has {steps}")
            bad = ~np.isfinite(a)
            if bad.any():
                raise self.error(f"{what} returned {int(bad.sum())} NaN or inf value(s) for {who} (the first at "
                                 f"step {int(np.argmax(bad))} of {steps})")
            checked.append(a)
        return checked

    def state(self, obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """``obj.state()``, once its tensors and metadata can be stored and loaded again."""
        import torch

        returned = self.call("state()", obj.state)
        if not (isinstance(returned, tuple) and len(returned) == 2):
            raise self.error(f"state() returned {_kind_of(returned)}, not a pair (tensors, metadata)")
        tensors, meta = returned
        if not isinstance(tensors, dict):
            raise self.error(f"state() returned tensors as {_kind_of(tensors)}, not a dict of name -> torch.Tensor")
        storages: dict[tuple[str, int], str] = {}
        for name, t in tensors.items():
            if not isinstance(name, str):
                raise self.error(f"state() named a tensor {name!r}; tensor names are strings")
            if not isinstance(t, torch.Tensor):
                raise self.error(f"state() tensor '{name}' is {_kind_of(t)}, not a torch.Tensor")
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise self.error(f"state() tensor '{name}' holds NaN or inf")
            if t.numel():
                where = (str(t.device), t.untyped_storage().data_ptr())
                if where in storages:
                    raise self.error(f"state() tensors '{storages[where]}' and '{name}' share memory; "
                                     "a checkpoint needs separate tensors (.clone() one of them)")
                storages[where] = name
        if not isinstance(meta, dict):
            raise self.error(f"state() returned metadata as {_kind_of(meta)}, not a dict")
        if "plugin" in meta:
            raise self.error("state() metadata uses the key 'plugin', which musefuse reserves for the plugin's name")
        try:
            json.dumps(meta)
        except (TypeError, ValueError) as exc:
            raise self.error(f"state() metadata cannot be written as JSON ({first_line(exc)})") from None
        return tensors, meta

    def fit_result(self, obj: Any) -> Any:
        """``obj.fit_result`` (None, or what a fit summary reads: best epoch, epochs run, score, speed, history)."""
        result = getattr(obj, "fit_result", None)
        if result is None:
            return None
        missing = [f for f in FIT_RESULT_FIELDS if not hasattr(result, f)]
        if missing:
            raise self.error(f"fit_result is {_kind_of(result)} without {', '.join(missing)}; set it to what "
                             "fit_sequence_model returns, or leave it None")
        try:
            json.dumps({f: getattr(result, f) for f in FIT_RESULT_FIELDS})
        except (TypeError, ValueError) as exc:
            raise self.error(f"fit_result cannot be written as JSON ({first_line(exc)})") from None
        return result


@contextlib.contextmanager
def in_task(label: str) -> Iterator[None]:
    """A PluginRunError raised inside names the task ``label`` (a task label has modality, target and fold)."""
    try:
        yield
    except PluginRunError as exc:
        if exc.task is None:
            exc.task = label
        raise


def _kind_of(obj: Any) -> str:
    """'a list', 'None', 'a Tensor of shape (3, 2)': what a plugin returned, in a few words."""
    if obj is None:
        return "None"
    shape = getattr(obj, "shape", None)
    name = type(obj).__name__
    article = "an" if name[:1].lower() in "aeiou" or name.startswith("nd") else "a"  # an ndarray
    return f"{article} {name}" + (f" of shape {tuple(shape)}" if shape is not None else "")
