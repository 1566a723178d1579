"""`musefuse select`: the devel-best regressor settings per modality × target, over a grid."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml
from rich.table import Table

from musefuse.cli import options as o
from musefuse.cli.ablate_cmd import experiment_config
from musefuse.cli.common import err, reports_errors, stdout
from musefuse.cli.progress import RichReporter
from musefuse.core import fileio
from musefuse.lab.experiments import ExperimentResult, run_experiment, seeds_option
from musefuse.lab.experiments import selection as sel
from musefuse.lab.experiments.tables import fmt, mean_std


@reports_errors
def select_cmd(
    grid: list[str] = typer.Option(None, "--grid", metavar="AXIS=V1,V2", help="Repeatable; axes rnn, layers, "
                                   "hidden, lr, dropout. Axes not given keep the paper's grid: rnn "
                                   "lstm,bilstm,gru,bigru; lr 0.001,0.005,0.0005; dropout 0.1,0.2,0.5."),
    grid_file: Path = typer.Option(None, help="YAML mapping of each axis to a list of values (--grid overrides it "
                                   "axis by axis)."),
    modalities: str = typer.Option(None, help="Comma-separated modalities (default: the paper's five)."),
    targets: o.Targets = None, data: o.Data = None,
    seeds: str = typer.Option("1", help="A count (3: seeds 0, 1, 2) or a list (0,4,7); selection uses the mean."),
    layers: int = typer.Option(None, help="Recurrent layers (default 4), unless the grid spans them."),
    hidden: int = typer.Option(None, help="Hidden units per direction (default 64), unless the grid spans them."),
    estimator_option: o.EstimatorOption = None,
    preset: o.Preset = None, epochs: o.Epochs = None, patience: o.Patience = None, device: o.Device = None,
    threads: o.Threads = None, workers: o.Workers = None, executor: o.Executor = None, store: o.Store = None,
    config: o.Config = None,
    out: Path = typer.Option(None, help="The experiment folder (default: experiments/select-<timestamp>)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a finished experiment in --out."),
) -> None:
    """Train the unimodal regressors at every grid point; keep the devel-best per modality × target.

    Selection sees devel CCC only (mean over seeds); test CCC is reported for the selected point
    alone. Writes selected.yaml, a run config with the winners: `musefuse run --config
    EXP/selected.yaml` trains the pipeline with them (reusing the selected regressors from the
    store), plus grid.csv (every point's devel CCC) and table.md.
    """
    the_grid = sel.parse_grid(grid, grid_file)
    base = experiment_config(config, o.config_flags(locals(), but=("out", "overwrite")))
    seed_list = seeds_option(seeds)
    trials = sel.trials(base, the_grid, seed_list)
    by_label = {sel.point_label(p): p for p in sel.points(the_grid)}
    order = list(by_label)
    state: dict = {}

    def keep(records: list[dict]) -> list[dict]:
        state["winners"] = sel.choose([r for r in records if r["partition"] == "devel"], order)
        return sel.keep_selected(records, order)

    def write(folder: Path, result: ExperimentResult) -> None:
        winners = state["winners"]
        chosen = sel.selected_config(base, winners, by_label)
        fileio.write_text(folder / "selected.yaml", "# musefuse select: the devel-best regressor settings per "
                             "modality and target.\n# Use: musefuse run --config selected.yaml [--data ...]\n"
                             + yaml.safe_dump(chosen, sort_keys=False))
        fileio.write_text(folder / "grid.csv", sel.grid_csv(winners, order, by_label))
        fileio.write_text(folder / "table.md", sel.selection_markdown(result, winners, order, seed_list)
                             + f"\n{result.counts()}.\n")

    err.print(f"Grid: {len(order)} points × {len(seed_list)} seed(s) × {len(base.inputs.modalities)} modalities × "
              f"{len(base.inputs.targets)} targets")
    with RichReporter() as reporter:
        result = run_experiment("select", trials, out, overwrite=overwrite, reporter=reporter, echo=reporter.log,
                                write=write, keep=keep)
    test: dict = {}
    for r in result.records:
        if r["partition"] == "test" and r["stage"] == "unimodal" and r["ccc"] is not None:
            test.setdefault((r["modalities"][0], r["target"]), []).append(r["ccc"])
    table = Table(title="Selected on devel (test: the selected point only)")
    for name in ("modality", "target", "selected", "devel", "test"):
        table.add_column(name, justify="right" if name in ("devel", "test") else "left")
    for (m, t), w in sorted(state["winners"].items()):
        table.add_row(m, t, w["variant"], fmt(w["devel"], sep="±"), fmt(mean_std(test.get((m, t), [])), sep="±"))
    stdout().print(table)
    err.print(f"{result.counts()} in {result.seconds:.0f}s")
    err.print(f"Experiment folder: {result.folder} (selected.yaml, grid.csv, table.md). "
              f"Train with the winners: musefuse run --config {result.folder / 'selected.yaml'}")
