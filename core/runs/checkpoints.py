"""A run folder's fitted pipeline: one layout that saving, checking and loading all read.

    RUN/standardisation/<modality>.safetensors          the run's train mean/std per modality
    RUN/standardisation/<modality>-fold<k>.safetensors  a fold estimator's own input scaling (fold-mean)
    RUN/checkpoints/estimator-<modality>[-fold<k>]      the difficulty estimator(s): one, or the fold ones
    RUN/checkpoints/calibration-<modality>              the difficulty's calibration (when asked for)
    RUN/checkpoints/regressor-<modality>-<target>       one per modality and target
    RUN/checkpoints/fuser-<target>                      one per target
    RUN/difficulty_inputs.json                          which regressors and fusers read the difficulty
    RUN/mean_shrink.json                                each target's recording-mean shrinkage of the fusion

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
from musefuse.core.config import RunConfig
from musefuse.core.data.dataset import Standardiser
from musefuse.core.errors import MusefuseError, RunFolderError
from musefuse.core.graph.gate import Choice
from musefuse.core.graph.pipeline import Fitted
from musefuse.core.learning.mean_shrink import MeanShrink
from musefuse.core.learning.models import model_from_checkpoint
from musefuse.core.plugin_host import PluginHost
from musefuse.core.runs import runfolder

DIFFICULTY_INPUTS = "difficulty_inputs.json"
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
        return self.host.estimator(c.estimator).gives_signal and bool(c.re_unimodal or c.re_fusion)

    def standardisation(self, modality: str) -> Path:
        return self.run / "standardisation" / modality

    def estimators(self, modality: str) -> list[tuple[Path | None, Path]]:
        """(own input scaling or None: the run's, checkpoint) of each of a modality's estimators: its all-train
        estimator, or with ``difficulty_unseen: fold-mean`` its fold estimators (see musefuse.core.graph.plan)."""
        c = self.config
        n = c.folds if c.difficulty_unseen == "fold-mean" and self._reads_signal else 1
        stems = [modality] if n == 1 else [f"{modality}-fold{k + 1}" for k in range(n)]
        own = n > 1 and c.fold_standardise and self.host.modality(modality).standardise
        return [(self.standardisation(s) if own else None, self.run / "checkpoints" / f"estimator-{s}")
                for s in stems]

    def calibration(self, modality: str) -> Path | None:
        calibrated = self.config.difficulty_calibration != "none" and self._reads_signal
        return self.run / "checkpoints" / f"calibration-{modality}" if calibrated else None

    def regressor(self, modality: str, target: str) -> Path:
        return self.run / "checkpoints" / f"regressor-{modality}-{target}"

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
            tensors, meta = est.state()
            fileio.save_tensors(path, tensors, {"plugin": est.name, **meta})
            if own is not None:
                fileio.save_tensors(own_path, _stats_tensors(own), {"modality": name})
    for name, (method, reference) in fitted.calibrations.items():
        fileio.save_tensors(where.calibration(name), {"reference": _tensor(reference)}, {"method": method})
    for (m, t), reg in fitted.regressors.items():
        fileio.save_tensors(where.regressor(m, t), *reg.state())
    for t, fuser in fitted.fusers.items():
        tensors, meta = fuser.state()
        fileio.save_tensors(where.fuser(t), tensors, {"plugin": fuser.name, **meta})
    fileio.write_json(where.difficulty_inputs, difficulty_inputs_json(fitted.regressor_re, fitted.fusion_re))
    fileio.write_json(where.mean_shrink, {t: sh.as_json() for t, sh in fitted.mean_shrink.items()})


def load_fitted(run: Path, cfg: RunConfig, host: PluginHost, device: Any) -> Fitted:
    """A finished run's fitted pipeline, with every checkpoint checked first (:func:`check`); an error names the
    release that wrote the run folder."""
    try:
        return _load_fitted(Path(run), cfg, host, device)
    except RunFolderError as exc:
        raise RunFolderError(f"{exc} The run folder was written by {runfolder.written_by(Path(run))}.") from None


def _load_fitted(run: Path, cfg: RunConfig, host: PluginHost, device: Any) -> Fitted:
    where = Layout(run, cfg, host)
    choices = check(where)
    shrinks = read_mean_shrink(where)

    def standardiser(path: Path) -> Standardiser:
        tensors, _ = fileio.load_tensors(path)
        return Standardiser(tensors["mean"].numpy(), tensors["std"].numpy())

    try:
        return Fitted.from_checkpoints(
            cfg, host, device, {m: standardiser(where.standardisation(m)) for m in cfg.modalities},
            {m: [(None if own is None else standardiser(own), path) for own, path in where.estimators(m)]
             for m in cfg.modalities},
            {(m, t): where.regressor(m, t) for m in cfg.modalities for t in cfg.targets},
            {t: where.fuser(t) for t in cfg.targets},
            {m: where.calibration(m) for m in cfg.modalities if where.calibration(m) is not None}, choices, shrinks)
    except MusefuseError:
        raise
    except Exception as exc:  # whatever the checks did not foresee
        raise RunFolderError(f"{run}: the run's checkpoints cannot be rebuilt ({type(exc).__name__}: "
                             f"{fileio.first_line(exc)}); train the run again.") from None


def check(where: Layout) -> tuple[dict[tuple[str, str], Choice], dict[str, Choice]]:
    """Read every checkpoint and check it against the config and the other checkpoints; returns which models
    read the difficulty (difficulty_inputs.json)."""
    cfg, host = where.config, where.host
    check_agreement(where)
    regressor_re, fusion_re = read_difficulty_inputs(where)

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

    for name in cfg.modalities:
        features = standardisation(where.standardisation(name))
        width = features + (1 if cfg.missing == "mask" else 0)  # the 'mask' policy adds a column
        for own, path in where.estimators(name):
            if own is not None:  # a fold estimator's own input scaling
                standardisation(own, width=features)
            _, _, model = part(path, host.estimator)
            expect(path, model, width, f"modality '{name}' (standardisation/{name}.safetensors)")
        for t in cfg.targets:
            path = where.regressor(name, t)
            _, meta, model = part(path)
            if model is None or not isinstance(meta.get("shift"), int):
                raise RunFolderError(f"{path}.json: the metadata lacks 'model' or 'shift'.")
            expect(path, model, width + regressor_re[(name, t)].re, f"modality '{name}'")
    for t in cfg.targets:
        path = where.fuser(t)
        _, _, model = part(path, host.fuser)
        n = len(cfg.modalities)
        expect(path, model, n * (1 + fusion_re[t].re), f"the run's {n} modalities")
    return regressor_re, fusion_re


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

    inputs = _json_object(where.difficulty_inputs)
    unimodal = inputs.get("unimodal")
    agree(where.difficulty_inputs, "modality", list(cfg.modalities), unimodal)
    for per_target in unimodal.values() if isinstance(unimodal, dict) else ():
        agree(where.difficulty_inputs, "target", list(cfg.targets), per_target)
    agree(where.difficulty_inputs, "target", list(cfg.targets), inputs.get("fusion"))
    agree(where.mean_shrink, "target", list(cfg.targets), _json_object(where.mean_shrink) or None)
    folders = _json_object(run / "environment.json").get("dataset")
    agree(run / "environment.json", "modality", list(cfg.modalities),
          folders.get("folders") if isinstance(folders, dict) else None)
    for m in cfg.modalities:
        if not where.standardisation(m).with_suffix(".safetensors").exists():
            raise RunFolderError(f"{config} names modality '{m}', but the run folder has no "
                                 f"{where.standardisation(m)}.safetensors: the run was not trained on it; train the "
                                 "run again.")


def _json_object(path: Path) -> dict[str, Any]:
    """A JSON object file's content; {} when it is absent, unreadable or not an object."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}


def difficulty_inputs_json(regressor_re: dict[tuple[str, str], Choice], fusion_re: dict[str, Choice]) -> dict:
    """{"unimodal": {modality: {target: choice}}, "fusion": {target: choice}} (gate.Choice.as_json)."""
    unimodal: dict[str, dict[str, Any]] = {}
    for (m, t), c in regressor_re.items():
        unimodal.setdefault(m, {})[t] = c.as_json()
    return {"unimodal": unimodal, "fusion": {t: c.as_json() for t, c in fusion_re.items()}}


def read_difficulty_inputs(where: Layout) -> tuple[dict[tuple[str, str], Choice], dict[str, Choice]]:
    """Which of a run folder's models read the difficulty: its difficulty_inputs.json; a run folder written
    before the devel gate existed has none, and its config's true/false says it."""
    config, path = where.config, where.difficulty_inputs
    if not path.exists():
        if "devel" in (config.re_unimodal, config.re_fusion):
            raise RunFolderError(f"{path} is missing: the run chose its difficulty inputs on devel, and this file "
                                 "records the choice. Train the run again.")
        gives = where.host.estimator(config.estimator).gives_signal
        return ({(m, t): Choice(bool(config.re_unimodal) and gives) for m in config.modalities
                 for t in config.targets}, {t: Choice(bool(config.re_fusion) and gives) for t in config.targets})
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return ({(m, t): Choice.from_json(raw["unimodal"][m][t]) for m in config.modalities for t in config.targets},
                {t: Choice.from_json(raw["fusion"][t]) for t in config.targets})
    except (OSError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RunFolderError(f"{path} cannot be read ({type(exc).__name__}: {exc}); train the run again.") from None


def read_mean_shrink(where: Layout) -> dict[str, MeanShrink]:
    """Each target's recording-mean shrinkage: the run folder's mean_shrink.json; a run folder written before
    the shrinkage existed has none (and no mean_shrink in its config.yaml), and its fusion is not shrunk."""
    path = where.mean_shrink
    if not path.exists():
        if "mean_shrink" in where.config.model_fields_set:
            raise RunFolderError(f"{path} is missing: it records how far the run pulls each recording's fused "
                                 "prediction to the train label mean. Train the run again.")
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {t: MeanShrink.from_json(raw[t]) for t in where.config.targets}
    except (OSError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RunFolderError(f"{path} cannot be read ({type(exc).__name__}: {exc}); train the run again.") from None


def _tensor(a: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


def _stats_tensors(st: Standardiser) -> dict[str, Any]:
    return {"mean": _tensor(st.mean), "std": _tensor(st.std)}
