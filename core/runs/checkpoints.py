"""A run folder's fitted pipeline: one layout that saving, checking and loading all read.

    RUN/standardisation/<modality>.safetensors          the run's train mean/std per modality
    RUN/standardisation/<modality>-fold<k>.safetensors  a fold estimator's own input scaling (fold-mean)
    RUN/checkpoints/estimator-<modality>[-fold<k>]      the difficulty estimator(s): one, or the fold ones
    RUN/checkpoints/calibration-<modality>              the difficulty's calibration (when asked for)
    RUN/checkpoints/regressor-<modality>-<target>-<k>   the models of each regressor (their mean predicts)
    RUN/standardisation/regressor-<modality>-<target>-<k>  a fold model's own input scaling
    RUN/checkpoints/fuser-<target>                      one per target
    RUN/decisions.json                                  every choice made from data, and each regressor's models
    RUN/mean_shrink.json                                each target's recording-mean shrinkage of the fusion

Run folders written before decisions.json (musefuse 0.1 up to the devel gate) hold one model per regressor,
``checkpoints/regressor-<modality>-<target>``, and ``difficulty_inputs.json``; they load as they were.

Each checkpoint is a safetensors file plus its JSON metadata, never pickle. :func:`load_fitted`
checks every file against the configuration and the others before rebuilding anything, so a
damaged run folder is a :class:`RunFolderError` naming the file (and the release that wrote the
folder), not a traceback or a NaN prediction. (Before that, ``runner.load_run_config`` checks the
folder against its manifest: musefuse.core.runs.runfolder.verify.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from musefuse.core import fileio
from musefuse.core.config import RunConfig, is_set, updated
from musefuse.core.data.dataset import Standardiser
from musefuse.core.errors import MusefuseError, RunFolderError
from musefuse.core.learning.decisions import Decision, configured
from musefuse.core.learning.mean_shrink import MeanShrink
from musefuse.core.learning.models import model_from_checkpoint
from musefuse.core.method.boundary import Plugin
from musefuse.core.method.candidates import (
    BASE,
    FUSION_CANDIDATES,
    fusion_decision,
    unimodal_decision,
)
from musefuse.core.method.pipeline import Ensemble, Fitted
from musefuse.core.plugin_host import PluginHost
from musefuse.core.runs import runfolder

DIFFICULTY_INPUTS = "difficulty_inputs.json"  # run folders written before decisions.json
DECISIONS = "decisions.json"
MEAN_SHRINK = "mean_shrink.json"


@dataclass(frozen=True)
class Layout:
    """Where each part of a run's fitted pipeline lives in its run folder (path stems, without suffix)."""

    run: Path
    config: RunConfig
    host: PluginHost

    @property
    def _reads_signal(self) -> bool:
        c = self.config
        return (self.host.estimator(c.method.difficulty.estimator).gives_signal
                and bool(c.method.decisions.re_unimodal or c.method.decisions.re_fusion))

    def standardisation(self, modality: str) -> Path:
        return self.run / "standardisation" / modality

    def estimators(self, modality: str) -> list[tuple[Path | None, Path]]:
        """(own input scaling or None: the run's, checkpoint) of each of a modality's estimators: its all-train
        estimator, or with ``difficulty_unseen: fold-mean`` its fold estimators (see musefuse.core.method.plan)."""
        c = self.config
        fold_mean = c.method.difficulty.difficulty_unseen == "fold-mean" and self._reads_signal
        n = c.method.ensemble.folds if fold_mean else 1
        stems = [modality] if n == 1 else [f"{modality}-fold{k + 1}" for k in range(n)]
        own = n > 1 and c.method.ensemble.fold_standardise and self.host.modality(modality).standardise
        return [(self.standardisation(s) if own else None, self.run / "checkpoints" / f"estimator-{s}")
                for s in stems]

    def calibration(self, modality: str) -> Path | None:
        calibrated = self.config.method.difficulty.difficulty_calibration != "none" and self._reads_signal
        return self.run / "checkpoints" / f"calibration-{modality}" if calibrated else None

    def regressor(self, modality: str, target: str) -> Path:
        """The one model of a regressor in a run folder written before decisions.json."""
        return self.run / "checkpoints" / f"regressor-{modality}-{target}"

    def member(self, stem: str) -> Path:
        return self.run / "checkpoints" / stem

    def member_scaling(self, stem: str) -> Path:
        return self.run / "standardisation" / stem

    @property
    def decisions(self) -> Path:
        return self.run / DECISIONS

    def fuser(self, target: str) -> Path:
        return self.run / "checkpoints" / f"fuser-{target}"

    @property
    def difficulty_inputs(self) -> Path:
        return self.run / DIFFICULTY_INPUTS

    @property
    def mean_shrink(self) -> Path:
        return self.run / MEAN_SHRINK


def save_fitted(fitted: Fitted, run: Path, host: PluginHost) -> None:
    """Every part of ``fitted`` into the run folder ``run`` (each file atomic)."""
    where = Layout(run, fitted.config, host)
    for name, st in fitted.stats.items():
        fileio.save_tensors(where.standardisation(name), _stats_tensors(st), {"modality": name})
    for name, members in fitted.estimators.items():
        for (own_path, path), (own, est) in zip(where.estimators(name), members, strict=True):
            tensors, meta = Plugin(host, "estimator", est.name, during=f"while saving {path}").state(est)
            fileio.save_tensors(path, tensors, {"plugin": est.name, **meta})
            if own is not None:
                fileio.save_tensors(own_path, _stats_tensors(own), {"modality": name})
    for name, (method, reference) in fitted.calibrations.items():
        fileio.save_tensors(where.calibration(name), {"reference": _tensor(reference)}, {"method": method})
    entries = []
    for (m, t), members in fitted.regressors.items():
        listed = []
        for k, member in enumerate(members):
            stem = f"regressor-{m}-{t}-{k + 1}"
            fileio.save_tensors(where.member(stem), *member.regressor.state())
            if member.own is not None:
                fileio.save_tensors(where.member_scaling(stem), _stats_tensors(member.own), {"modality": m})
            listed.append({"checkpoint": stem, "re": member.re, "per_recording": member.per_recording,
                           "own_scaling": member.own is not None,
                           **({} if member.stack is None else {"candidate": member.stack[0]})})
        stack = {name: w for name, w in (member.stack for member in members if member.stack is not None)}
        entries.append({"stage": "unimodal", "modality": m, "target": t,
                        **fitted.unimodal_decisions[(m, t)].as_json(), **({"stack": stack} if stack else {}),
                        "members": listed})
    for t, fuser in fitted.fusers.items():
        tensors, meta = Plugin(host, "fuser", fuser.name, during=f"while saving {where.fuser(t)}").state(fuser)
        fileio.save_tensors(where.fuser(t), tensors, {"plugin": fuser.name, **meta})
        entries.append({"stage": "fusion", "target": t, **fitted.fusion_decisions[t].as_json(),
                        "re": fitted.fusion_re[t]})
    fileio.write_json(where.decisions, entries)
    fileio.write_json(where.mean_shrink, {t: sh.as_json() for t, sh in fitted.mean_shrink.items()})


def ensemble_member(run: Path, seed: int) -> Path:
    """Where one pipeline of an ensemble (``ensemble_seeds`` > 1) keeps its part of the run folder."""
    return run / "ensemble" / f"seed-{seed}"


def load_fitted(run: Path, cfg: RunConfig, host: PluginHost, device: Any) -> Fitted | Ensemble:
    """A finished run's fitted pipeline, with every checkpoint checked first (:func:`check`); an error names the
    release that wrote the run folder."""
    try:
        if cfg.method.ensemble.ensemble_seeds == 1:
            return _load_fitted(Path(run), cfg, host, device)
        configs = [updated(cfg, seed=cfg.execution.seed + k) for k in range(cfg.method.ensemble.ensemble_seeds)]
        return Ensemble([_load_fitted(ensemble_member(Path(run), c.execution.seed), c, host, device) for c in configs])
    except RunFolderError as exc:
        raise RunFolderError(f"{exc} The run folder was written by {runfolder.written_by(Path(run))}.") from None


def _load_fitted(run: Path, cfg: RunConfig, host: PluginHost, device: Any) -> Fitted:
    where = Layout(run, cfg, host)
    regressors, fusion_re, decisions = check(where)
    shrinks = read_mean_shrink(where)

    def standardiser(path: Path) -> Standardiser:
        tensors, _ = fileio.load_tensors(path)
        return Standardiser(tensors["mean"].numpy(), tensors["std"].numpy())

    try:
        return Fitted.from_checkpoints(
            cfg, host, device, {m: standardiser(where.standardisation(m)) for m in cfg.inputs.modalities},
            {m: [(None if own is None else standardiser(own), path) for own, path in where.estimators(m)]
             for m in cfg.inputs.modalities},
            {k: [(path, re, per_recording, None if own is None else standardiser(own), *stack)
                 for path, re, per_recording, own, *stack in members] for k, members in regressors.items()},
            {t: where.fuser(t) for t in cfg.inputs.targets},
            {m: where.calibration(m) for m in cfg.inputs.modalities if where.calibration(m) is not None}, fusion_re,
            decisions, shrinks)
    except MusefuseError:
        raise
    except Exception as exc:  # whatever the checks did not foresee
        raise RunFolderError(f"{run}: the run's checkpoints cannot be rebuilt ({type(exc).__name__}: "
                             f"{fileio.first_line(exc)}); train the run again.") from None


# A regressor's members as the run folder lists them: (checkpoint, reads the RE, per-recording, own scaling or None,
# (trained candidate, its weight) where the stack was kept, else None)
Members = dict[tuple[str, str], list[tuple[Path, bool, bool, Path | None, tuple[str, float] | None]]]


def check(where: Layout) -> tuple[Members, dict[str, bool], tuple[dict[tuple[str, str], Decision],
                                                                 dict[str, Decision]]]:
    """Read every checkpoint and check it against the config and the other checkpoints; returns each regressor's
    members, whether each fuser reads the difficulty, and the decisions (decisions.json, or for older run folders
    difficulty_inputs.json)."""
    cfg, host = where.config, where.host
    check_agreement(where)
    members, fusion_re, decisions = read_decisions(where)

    def part(path: Path, kind: Any = None) -> tuple[dict, dict, Any]:
        tensors, meta = fileio.load_tensors(path)  # names the file when it is unreadable
        try:
            if kind is not None:
                if not isinstance(meta.get("plugin"), str):
                    raise RunFolderError("the metadata lacks the plugin's name ('plugin').")
                kind(meta["plugin"])
            model = model_from_checkpoint(tensors, meta["model"], "cpu") if "model" in meta else None
        except MusefuseError as exc:
            raise RunFolderError(f"{path}.json / .safetensors: {exc}") from None
        return tensors, meta, model

    def expect(path: Path, model: Any, width: int, what: str) -> None:
        if model is not None and model.input_dim != width:
            raise RunFolderError(f"{path}.safetensors: the model takes {model.input_dim} inputs, but {what} "
                                 f"gives {width}; the run folder mixes files of different runs: train it again.")

    def standardisation(path: Path, width: int | None = None) -> int:
        """The width of a standardisation file (checked against ``width`` when given)."""
        tensors, _, _ = part(path)
        mean, std = tensors.get("mean"), tensors.get("std")
        if (mean is None or std is None or mean.ndim != 1 or mean.shape != std.shape or not bool((std > 0).all())
                or width not in (None, mean.shape[0])):
            raise RunFolderError(f"{path}.safetensors: expected 1-D 'mean' and positive 'std' of one width"
                                 f"{'' if width is None else f' ({width}, that of the modality)'}.")
        return int(mean.shape[0])

    for name in cfg.inputs.modalities:
        features = standardisation(where.standardisation(name))
        width = features + (1 if cfg.inputs.missing == "mask" else 0)  # the 'mask' policy adds a column
        for own, path in where.estimators(name):
            if own is not None:  # a fold estimator's own input scaling
                standardisation(own, width=features)
            _, _, model = part(path, host.estimator)
            expect(path, model, width, f"modality '{name}' (standardisation/{name}.safetensors)")
        for t in cfg.inputs.targets:
            for path, re, _, own, _ in members[(name, t)]:
                if own is not None:
                    standardisation(own, width=features)
                _, meta, model = part(path)
                if model is None or not isinstance(meta.get("shift"), int):
                    raise RunFolderError(f"{path}.json: the metadata lacks 'model' or 'shift'.")
                expect(path, model, width + re, f"modality '{name}'")
    for t in cfg.inputs.targets:
        path = where.fuser(t)
        _, _, model = part(path, host.fuser)
        n = len(cfg.inputs.modalities)
        expect(path, model, n * (1 + fusion_re[t]), f"the run's {n} modalities")
    return members, fusion_re, decisions


def read_decisions(where: Layout) -> tuple[Members, dict[str, bool], tuple[dict[tuple[str, str], Decision],
                                                                          dict[str, Decision]]]:
    """decisions.json: each regressor's models and each fuser's difficulty input, with what decided them; a run
    folder written before it has difficulty_inputs.json and one model per regressor."""
    cfg, path = where.config, where.decisions
    written_with_decisions = any((where.run / "checkpoints").glob("regressor-*-1.safetensors"))
    if not path.exists() and written_with_decisions:
        raise RunFolderError(f"{path} is missing: it lists each regressor's models and what the run decided. "
                             "Train the run again.")
    if not path.exists():
        regressor_re, fusion_re = read_difficulty_inputs(where)
        return ({k: [(where.regressor(*k), c.re, False, None, None)] for k, c in regressor_re.items()},
                {t: c.re for t, c in fusion_re.items()},
                ({k: configured(unimodal_decision(*k), "re" if c.re else BASE)
                  for k, c in regressor_re.items()},
                 {t: configured(fusion_decision(t), FUSION_CANDIDATES[bool(c.re)]) for t, c in fusion_re.items()}))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, list):
            raise ValueError("expected a list of decisions")
        unimodal = {(e["modality"], e["target"]): e for e in raw if e.get("stage") == "unimodal"}
        fusion = {e["target"]: e for e in raw if e.get("stage") == "fusion"}
        members = {}
        for k in [(m, t) for m in cfg.inputs.modalities for t in cfg.inputs.targets]:
            if k not in unimodal:
                raise KeyError(f"no entry for the regressor {k[0]} → {k[1]} of config.yaml")
            listed = unimodal[k]["members"]
            if not isinstance(listed, list) or not listed:
                raise ValueError(f"the regressor {k[0]} → {k[1]} lists no models")
            stack = _stack(unimodal[k], listed)
            members[k] = [(where.member(_stem(e["checkpoint"])), bool(e["re"]), bool(e["per_recording"]),
                           where.member_scaling(_stem(e["checkpoint"])) if e["own_scaling"] else None,
                           None if stack is None else (e["candidate"], stack[e["candidate"]]))
                          for e in listed]
        missing = [t for t in cfg.inputs.targets if t not in fusion]
        if missing:
            raise KeyError(f"no entry for the fuser of {', '.join(missing)} of config.yaml")
        return (members, {t: bool(fusion[t]["re"]) for t in cfg.inputs.targets},
                ({k: Decision.from_json(unimodal[k]) for k in members},
                 {t: Decision.from_json(fusion[t]) for t in cfg.inputs.targets}))
    except (OSError, UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunFolderError(f"{path} cannot be read ({type(exc).__name__}: {exc}); train the run again.") from None


def _stack(entry: dict[str, Any], listed: list[Any]) -> dict[str, float] | None:
    """A kept stack's weights per trained candidate (decisions.json ``stack``; None where the stack was not kept),
    checked: weights ≥ 0 summing to 1, and every member naming one of them (``candidate``)."""
    if "stack" not in entry:
        if any(isinstance(e, dict) and "candidate" in e for e in listed):
            raise ValueError(f"members name their candidate but the entry of {entry['decision']!r} has no 'stack'")
        return None
    weights = entry["stack"]
    if (not isinstance(weights, dict) or not weights
            or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and 0 <= w <= 1
                       for w in weights.values())
            or abs(sum(weights.values()) - 1) > 1e-4):
        raise ValueError(f"'stack' of {entry['decision']!r} is not weights ≥ 0 summing to 1: {weights!r}")
    if not all(isinstance(e, dict) and e.get("candidate") in weights for e in listed):
        raise ValueError(f"a member of {entry['decision']!r} names no candidate of its 'stack' ({', '.join(weights)})")
    return {str(n): float(w) for n, w in weights.items()}


def _stem(name: Any) -> str:
    """A checkpoint's file stem as decisions.json names it: a plain name, never a path."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"{name!r} is not a checkpoint name")
    return name


@dataclass(frozen=True)
class Choice:
    """Whether one model of a run folder written before decisions.json reads the difficulty."""

    re: bool

    @classmethod
    def from_json(cls, raw: Any) -> Choice:
        if not isinstance(raw, dict) or not isinstance(raw.get("re"), bool):
            raise ValueError("expected {'re': true|false, ...}")
        return cls(raw["re"])


def check_agreement(where: Layout) -> None:
    """config.yaml's modalities and targets against the run's other files, before any of them is read by name: a
    config.yaml edited or taken from another run is an error naming config.yaml and the file that disagrees, not
    a KeyError. Files that are absent or unreadable are left to the checks that read them."""
    cfg, run = where.config, where.run
    config = run / "config.yaml"

    def agree(path: Path, kind: str, named: list[str], known: Any) -> None:
        if not isinstance(known, dict):
            return
        missing = [n for n in named if n not in known]
        extra = [k for k in known if k not in named]
        if missing or extra:
            said = f"names {kind} '{missing[0]}'" if missing else f"does not name {kind} '{extra[0]}'"
            plural = {"modality": "modalities", "target": "targets"}[kind]
            raise RunFolderError(f"{config} {said}, but {path} knows {plural} {', '.join(map(str, known)) or '(none)'}:"
                                 " the two come from different runs (or one was edited); train the run again.")

    inputs = fileio.read_json_object(where.difficulty_inputs)
    unimodal = inputs.get("unimodal")
    agree(where.difficulty_inputs, "modality", list(cfg.inputs.modalities), unimodal)
    for per_target in unimodal.values() if isinstance(unimodal, dict) else ():
        agree(where.difficulty_inputs, "target", list(cfg.inputs.targets), per_target)
    agree(where.difficulty_inputs, "target", list(cfg.inputs.targets), inputs.get("fusion"))
    listed = fileio.read_json(where.decisions)
    if isinstance(listed, list):
        unimodal = [e for e in listed if isinstance(e, dict) and e.get("stage") == "unimodal"]
        agree(where.decisions, "modality", list(cfg.inputs.modalities),
              dict.fromkeys(e.get("modality") for e in unimodal))
        agree(where.decisions, "target", list(cfg.inputs.targets), dict.fromkeys(e.get("target") for e in unimodal))
    agree(where.mean_shrink, "target", list(cfg.inputs.targets), fileio.read_json_object(where.mean_shrink) or None)
    folders = fileio.read_json_object(run / "environment.json").get("dataset")
    agree(run / "environment.json", "modality", list(cfg.inputs.modalities),
          folders.get("folders") if isinstance(folders, dict) else None)
    for m in cfg.inputs.modalities:
        if not where.standardisation(m).with_suffix(".safetensors").exists():
            raise RunFolderError(f"{config} names modality '{m}', but the run folder has no "
                                 f"{where.standardisation(m)}.safetensors: the run was not trained on it; train the "
                                 "run again.")


def read_difficulty_inputs(where: Layout) -> tuple[dict[tuple[str, str], Choice], dict[str, Choice]]:
    """Which of a run folder's models read the difficulty: its difficulty_inputs.json; a run folder written
    before the devel gate (musefuse 0.1, November 2026) has none, and its config's true/false says it."""
    config, path = where.config, where.difficulty_inputs
    if not path.exists():
        if "devel" in (config.method.decisions.re_unimodal, config.method.decisions.re_fusion):
            raise RunFolderError(f"{path} is missing: the run chose its difficulty inputs on devel, and this file "
                                 "records the choice. Train the run again.")
        gives = where.host.estimator(config.method.difficulty.estimator).gives_signal
        set_by = config.method.decisions
        return ({(m, t): Choice(bool(set_by.re_unimodal) and gives) for m in config.inputs.modalities
                 for t in config.inputs.targets},
                {t: Choice(bool(set_by.re_fusion) and gives) for t in config.inputs.targets})
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return ({(m, t): Choice.from_json(raw["unimodal"][m][t])
                 for m in config.inputs.modalities for t in config.inputs.targets},
                {t: Choice.from_json(raw["fusion"][t]) for t in config.inputs.targets})
    except (OSError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RunFolderError(f"{path} cannot be read ({type(exc).__name__}: {exc}); train the run again.") from None


def read_mean_shrink(where: Layout) -> dict[str, MeanShrink]:
    """Each target's recording-mean shrinkage: the run folder's mean_shrink.json; a run folder written before
    the shrinkage existed has none (and no mean_shrink in its config.yaml), and its fusion is not shrunk."""
    path = where.mean_shrink
    if not path.exists():
        if is_set(where.config, "mean_shrink"):
            raise RunFolderError(f"{path} is missing: it records how far the run pulls each recording's fused "
                                 "prediction to the train label mean. Train the run again.")
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {t: MeanShrink.from_json(raw[t]) for t in where.config.inputs.targets}
    except (OSError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RunFolderError(f"{path} cannot be read ({type(exc).__name__}: {exc}); train the run again.") from None


def _tensor(a: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


def _stats_tensors(st: Standardiser) -> dict[str, Any]:
    return {"mean": _tensor(st.mean), "std": _tensor(st.std)}
