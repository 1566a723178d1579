"""A task: one unit of work with explicit inputs, a content-hash key, and outputs in the artifact store.

A task's ``spec`` holds everything its outputs depend on, including the *refs* of the upstream tasks whose
signals it reads. A ref is ``[task key, subject Ids or None]``: "take these subjects' signal from that task"
(None: every subject); a list of refs is read in order, later refs overriding earlier ones. Any value under a
key named ``refs``, at any depth of the spec, is such a list: that is how the engine finds a task's
dependencies without knowing what its kind does. The key is the sha256 of the kind, the numerics version and
the spec, so a changed setting, changed data or a changed upstream task gives a new key and never a stale reuse.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from musefuse.core.engine.kinds import declared

# Bump when a code change alters what any task computes from the same spec: old artifacts then stop matching
# instead of being reused.
NUMERICS_VERSION = 1

Ref = list  # [task key, list of subject Ids | None]


def task_key(kind: str, spec: Any, numerics: Any) -> str:
    """A task's key: the sha256 of its kind, the numerics version and its spec. An entry's task.json holds all
    three, so the store can check that a folder holds the task its name says."""
    blob = json.dumps({"kind": kind, "numerics": numerics, "spec": spec}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Task:
    """One unit of work. ``deps`` are the keys of the tasks whose signals it reads."""

    kind: str  # a registered kind (musefuse.core.engine.kinds)
    label: str  # for people: "difficulty vggface", "fold 2/3 unimodal fau → arousal"
    spec: dict[str, Any]
    key: str = field(init=False)
    deps: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", task_key(self.kind, self.spec, NUMERICS_VERSION))
        object.__setattr__(self, "deps", tuple(dict.fromkeys(_ref_keys(self.spec))))

    def describe(self) -> dict[str, Any]:
        """What the store writes as task.json: enough to recompute the key."""
        return {"kind": self.kind, "label": self.label, "key": self.key, "numerics": NUMERICS_VERSION,
                "spec": self.spec}

    # What progress reports show, as the task's kind declares it (musefuse.core.engine.kinds).
    @property
    def max_epochs(self) -> int:
        kind = declared(self.kind)
        return 1 if kind is None else kind.epochs(self.spec)

    @property
    def metric(self) -> str:
        kind = declared(self.kind)
        return "" if kind is None else kind.metric

    @property
    def lower_is_better(self) -> bool:
        kind = declared(self.kind)
        return kind is not None and kind.lower_is_better


def _ref_keys(obj: Any) -> list[str]:
    """Every task key mentioned in a spec's refs (values under keys named 'refs')."""
    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "refs":
                out += [r[0] for r in v]
            else:
                out += _ref_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            out += _ref_keys(v)
    return out
