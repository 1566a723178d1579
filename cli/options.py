"""The options several commands share, declared once, and the one way a command's flags become config fields.

A command takes the options it needs by annotation (``epochs: Epochs = None``): the training budget and the
execution (run, ablate, select, robustness and predict take subsets of them), and the data and model options
that mean the same in every command. A flag is named as its config field (``--batch-size`` sets
``batch_size``, which lives at ``budget.batch_size``: ``musefuse.core.config.FIELD_PATHS``), so
:func:`config_flags` picks a command's config fields out of its parameters by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from musefuse.cli.common import parse_options, split_csv
from musefuse.core.config import FIELD_PATHS

# typer reads these annotations at run time: Optional[...] rather than `X | None`, which Python 3.10's typer
# versions do not all take.
# ruff: noqa: UP045

# The training budget (None: the preset's).
Preset = Annotated[Optional[str], typer.Option(help="Training budget: auto (paper on CUDA, else cpu) | cpu | paper.")]
Epochs = Annotated[Optional[int], typer.Option(help="Maximum epochs per model (preset default).")]
Patience = Annotated[Optional[int], typer.Option(help="Early-stopping patience on devel CCC (preset default).")]
Window = Annotated[Optional[int], typer.Option(help="Training window, frames (preset default: cpu 100, paper 200).")]
Hop = Annotated[Optional[int], typer.Option(help="Training window hop, frames (preset default: 100).")]
BatchSize = Annotated[Optional[int], typer.Option(help="Windows per batch (default 32).")]
LrSchedule = Annotated[Optional[str], typer.Option(
    help="none (plain patience) | plateau (halve lr from the best weights; preset default).")]

# The execution: where and how tasks run.
Seed = Annotated[Optional[int], typer.Option(help="Random seed (default 0).")]
Device = Annotated[Optional[str], typer.Option(help="auto (default) | cpu | cuda.")]
Threads = Annotated[Optional[int], typer.Option(
    help="torch CPU threads per worker (default: the cores shared out).")]
Workers = Annotated[Optional[int], typer.Option(help="Concurrent trainings (default: from the hardware, printed).")]
Executor = Annotated[Optional[str], typer.Option(
    help="local (default: worker processes) | inprocess | ray (docs/ray.md).")]
RayAddress = Annotated[Optional[str], typer.Option(
    help="--executor ray: cluster address (default: $RAY_ADDRESS or local).")]
GpusPerTask = Annotated[Optional[float], typer.Option(
    help="--executor ray on CUDA: GPU share per training, e.g. 0.25.")]
Store = Annotated[Optional[Path], typer.Option(
    help="Artifact store shared between runs and experiments (default: in the user cache); they share its models.")]

# Data and model options that mean the same in every command that takes them.
Data = Annotated[Optional[Path], typer.Option(
    help="MuSe-layout data folder (default: the embedded synthetic dataset).")]
Targets = Annotated[Optional[str], typer.Option(help="Comma-separated targets (default: arousal,valence).")]
Layers = Annotated[Optional[int], typer.Option(help="Recurrent layers (default 4).")]
Hidden = Annotated[Optional[int], typer.Option(help="Hidden units per direction (default 64).")]
EstimatorOption = Annotated[Optional[list[str]], typer.Option(
    "--estimator-option", metavar="KEY=VALUE", help="Option of the estimator plugin (repeatable), e.g. bottleneck=8.")]
Config = Annotated[Optional[Path], typer.Option(
    help="YAML run config (flat `lr: 0.001` or grouped `model: {lr: 0.001}`); flags override it.")]
Debug = Annotated[bool, typer.Option(
    "--debug", help="On an error, print its traceback too (a failing plugin's is always in log.txt).")]

_LISTS = ("modalities", "targets", "unimodal_candidates", "fuser_candidates")  # comma-separated on the command line


def config_flags(params: dict[str, Any], but: Iterable[str] = ()) -> dict[str, Any]:
    """The run-config fields among a command's parameters (its ``locals()``), by their flat names, as
    ``build_config`` takes them: lists split at commas, ``--estimator-option``s parsed; None is a flag not given.
    ``but``: parameters named like a field that mean something else in this command (an experiment's ``out``)."""
    flags = {k: v for k, v in params.items() if k in FIELD_PATHS and k not in set(but)}
    for name in _LISTS:
        if name in flags:
            flags[name] = split_csv(flags[name])
    if "estimator_option" in params:
        flags["estimator_options"] = parse_options(params["estimator_option"], "--estimator-option")
    return flags
