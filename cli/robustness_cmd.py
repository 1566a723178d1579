"""`musefuse robustness`: CCC of fusion with and without RE (and baselines) under injected corruptions."""

from __future__ import annotations

from pathlib import Path

import typer

from musefuse.cli import options as o
from musefuse.cli.common import err, reports_errors, split_csv
from musefuse.cli.progress import RichReporter
from musefuse.core.config_files import build_config, override
from musefuse.core.errors import ConfigError
from musefuse.core.runs.runner import load_run_config
from musefuse.lab.robustness import DEFAULT_LEVELS, evaluate_robustness, markdown, parse_corrupt, parse_levels


@reports_errors
def robustness(
    corrupt: str = typer.Option(..., help="MODALITY:CORRUPTION[,...], e.g. vggface:occlusion,egemaps:gaussian; "
                                          "'a:x+b:y' corrupts both together."),
    out: Path = typer.Option(..., help="Folder for robustness.csv/.md/.png, difficulty.csv, summary.json, log.txt."),
    run: list[Path] = typer.Option(None, metavar="<path>",
                                   help="A finished run with RE; repeat for more seeds (run k is seed k)."),
    baseline_run: list[Path] = typer.Option(None, "--baseline-run", metavar="<path>", help="A finished run without RE "
                                            "(--estimator none); repeat per seed. Untrained seeds are trained."),
    modalities: str = typer.Option(None, help="Train first instead of --run: comma-separated modalities."),
    levels: str = typer.Option(",".join(f"{v:g}" for v in DEFAULT_LEVELS), help="Corruption levels in [0, 1]; "
                               "0 is always added."),
    seeds: int = typer.Option(1, help="K independently trained pipelines (seeds seed..seed+K-1); corruptions are "
                              "seeded from them."),
    partitions: str = typer.Option("devel,test", help="Partitions to corrupt and score."),
    augment: bool = typer.Option(False, "--augment", help="Also train pipelines on train data augmented with the "
                                 "corruptions at random levels."),
    data: Path = typer.Option(None, help="MuSe-layout data folder (default: the run's, or the embedded synthetic "
                              "dataset)."),
    # the pipelines trained here (with --modalities; with --run they follow the run's config)
    targets: o.Targets = None, config: o.Config = None, layers: o.Layers = None, hidden: o.Hidden = None,
    epochs: o.Epochs = None, preset: o.Preset = None,
    seed: int = typer.Option(None, help="First seed (default: the run's seed, or 0)."),
    device: o.Device = None, threads: o.Threads = None,
    overwrite: bool = typer.Option(False, "--overwrite", help="Reuse a non-empty --out."),
    debug: o.Debug = False,
) -> None:
    """Does the difficulty signal make fusion robust to corrupted modalities? Corrupt, score, plot."""
    experiments = parse_corrupt(corrupt)
    level_list = parse_levels(levels)
    if bool(run) == (modalities is not None):
        raise ConfigError("Give exactly one of --run (finished runs) or --modalities (train first).")
    flags = o.config_flags(locals(), but=("out", "overwrite"))
    if run:
        training = ("modalities", "targets", "layers", "hidden", "epochs", "preset")
        if config is not None or any(flags[k] is not None for k in training):
            raise ConfigError("With --run the pipelines follow the run's config; --config/--targets/--layers/"
                              "--hidden/--epochs/--preset apply only with --modalities.")
        base = override(load_run_config(run[0]), **flags)
    else:
        base = build_config(config, **flags)
    with RichReporter() as reporter:
        results = evaluate_robustness(base, experiments, level_list, out, runs=run or (),
                                      baseline_runs=baseline_run or (), seeds=seeds,
                                      partitions=split_csv(partitions), augment=augment,
                                      overwrite=overwrite, reporter=reporter, echo=reporter.log)
    print(markdown(results), end="")
    err.print(f"Robustness results: {results.out}")
