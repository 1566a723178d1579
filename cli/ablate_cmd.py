"""`musefuse ablate rnn|loss|re|fusion`: the paper's Tables 1–8 as one command each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from musefuse.cli import options as o
from musefuse.cli.common import err, reports_errors, stdout
from musefuse.cli.progress import RichReporter
from musefuse.core import fileio
from musefuse.core.config import RunConfig, is_set
from musefuse.core.config_files import build_config
from musefuse.core.errors import ConfigError
from musefuse.lab.experiments import ExperimentResult, ablations, run_experiment, seeds_option

# Without --modalities an ablation covers the paper's five feature sets (use fewer for a quick look).
DEFAULT_MODALITIES = ablations.PAPER_MODALITIES


def experiment_config(config: Path | None, flags: dict[str, Any]) -> RunConfig:
    """The base run configuration of an experiment: YAML first, then the flags that were given
    (:func:`musefuse.cli.options.config_flags`); without modalities, the paper's five."""
    cfg = build_config(config, **flags)
    if not is_set(cfg, "modalities"):
        cfg = build_config(config, **{**flags, "modalities": list(DEFAULT_MODALITIES)})
    return cfg


def write_table(kind: str):
    def write(folder: Path, result: ExperimentResult) -> None:
        table = ablations.table(kind, result.records)
        fileio.write_text(folder / "table.md", table.markdown() + f"\n{result.counts()}.\n")
        fileio.write_text(folder / "table.csv", table.csv())
    return write


@reports_errors
def ablate(
    kind: str = typer.Argument(..., help="rnn (Tables 1–2) | loss (3–4) | re (5–6) | fusion (7–8)."),
    modalities: str = typer.Option(None, help="Comma-separated modalities (default: the paper's five, "
                                   f"{','.join(ablations.PAPER_MODALITIES)}). For fusion, the first two are "
                                   "fused in every row, then each other one is added."),
    combos: str = typer.Option(None, help="fusion only: explicit combinations, e.g. "
                               "egemaps+vggface,egemaps+vggface+fau (instead of those from --modalities)."),
    targets: o.Targets = None, data: o.Data = None,
    seeds: str = typer.Option("1", help="A count (3: seeds 0, 1, 2) or a list of seeds (0,4,7)."),
    layers: o.Layers = None, hidden: o.Hidden = None, estimator_option: o.EstimatorOption = None,
    preset: o.Preset = None, epochs: o.Epochs = None, patience: o.Patience = None,
    device: o.Device = None, threads: o.Threads = None, workers: o.Workers = None, executor: o.Executor = None,
    store: o.Store = None,
    config: o.Config = None,
    out: Path = typer.Option(None, help="The experiment folder (default: experiments/ablate-<kind>-<timestamp>)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a finished experiment in --out."),
) -> None:
    """Run one of the paper's ablations over seeds; print its table (devel / test CCC, mean ± std).

    Every variant × seed is a full run configuration; all their models form one task graph, so
    models that trials (or earlier runs and experiments on the same store and data) share are
    trained once. Run the same command again to resume an interrupted experiment.
    """
    if kind not in ablations.KINDS:
        raise ConfigError(f"Unknown ablation '{kind}'. Known: {', '.join(ablations.KINDS)}.")
    if combos is not None and kind != "fusion":
        raise ConfigError("--combos applies to 'ablate fusion' only.")
    combo_list = ablations.parse_combos(combos) if combos else None
    if combo_list and modalities is None:
        modalities = ",".join(dict.fromkeys(m for c in combo_list for m in c))
    base = experiment_config(config, o.config_flags(locals(), but=("out", "overwrite")))
    trials = ablations.trials(kind, base, seeds_option(seeds), combo_list)
    with RichReporter() as reporter:
        result = run_experiment(f"ablate-{kind}", trials, out, overwrite=overwrite, reporter=reporter,
                                echo=reporter.log, write=write_table(kind))
    table = ablations.table(kind, result.records)
    console = stdout()
    console.print(table.title, style="bold", soft_wrap=True)
    for t in table.rich():
        console.print(t)
    console.print(table.note(), soft_wrap=True)
    err.print(f"{result.counts()} in {result.seconds:.0f}s")
    err.print(f"Experiment folder: {result.folder} (table.md, table.csv, results.csv)")
