"""`musefuse run`: train and evaluate the whole pipeline for any combination of modalities."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from musefuse.cli.common import err, parse_options, reports_errors, split_csv
from musefuse.cli.progress import RichReporter
from musefuse.core.config import build_config
from musefuse.core.method.candidates import OPTIONAL_CANDIDATES
from musefuse.core.runs.runner import execute_run


def results_table(records: list[dict], title: str) -> Table:
    """Devel and test CCC with their 95% intervals (subject bootstrap) per stage, modalities and target, plus the
    combined score (paper, Table 9). One row per (stage, modalities, target), so the table reads in a log."""
    table = Table(title=title)
    for name in ("stage", "modalities", "model", "target"):
        table.add_column(name)
    table.add_column("devel [95% CI]", justify="right", no_wrap=True)
    table.add_column("test [95% CI]", justify="right", no_wrap=True)

    def fmt(r):
        if r is None or r["ccc"] is None:
            return "—"
        ci = r.get("ccc_ci95")
        return f"{r['ccc']:.3f}" + ("" if not ci else f" [{ci[0]:.2f},{ci[1]:.2f}]")

    rows = dict.fromkeys((r["stage"], tuple(r["modalities"]), r.get("fuser"), r["target"]) for r in records)
    model_of = {(r["stage"], tuple(r["modalities"]), r["target"]): _model_cell(r) for r in records}
    previous = None
    for stage, mods, fuser, target in rows:
        by_part = {r["partition"]: r for r in records
                   if (r["stage"], tuple(r["modalities"]), r["target"]) == (stage, mods, target)}
        label = stage if fuser is None else f"{stage} ({fuser})"
        first = (stage, mods) != previous
        table.add_row(label if first else "", "+".join(mods) if first else "", model_of[(stage, mods, target)],
                      target, fmt(by_part.get("devel")), fmt(by_part.get("test")), end_section=False)
        previous = (stage, mods)
    return table


def _model_cell(record: dict) -> str:
    """The candidate the data chose (decisions.json), else whether the model reads the RE as configured."""
    if "chosen" in record:
        return record["chosen"]
    if record["re"] is None:  # combined over targets that chose differently, or an average of both kinds
        return "mixed"
    return "RE" if record["re"] else "no RE"


@reports_errors
def run(
    modalities: str = typer.Option(None, help="Comma-separated modalities (default: egemaps,vggface,fau)."),
    data: Path = typer.Option(None, help="MuSe-layout data folder (default: the embedded synthetic dataset)."),
    targets: str = typer.Option(None, help="Comma-separated targets (default: arousal,valence)."),
    rnn: str = typer.Option(None, help="lstm | bilstm | gru | bigru (default: each modality's, bigru)."),
    layers: int = typer.Option(None, help="Recurrent layers (default 4)."),
    hidden: int = typer.Option(None, help="Hidden units per direction (default 64)."),
    lr: float = typer.Option(None, help="Learning rate (default: per modality, from the paper's grid)."),
    dropout: float = typer.Option(None, help="Dropout between recurrent layers."),
    loss: str = typer.Option(None, help="ccc (1 - CCC, default) | mse | l1."),
    weight_decay: float = typer.Option(
        None, help="Weight decay of regressors and fusers (AdamW; default 0: plain Adam), e.g. 0.01."),
    pipeline: str = typer.Option(
        None, help="default | paper (the paper's exact pipeline: RE in both stages, in-sample train signals)."),
    estimator: str = typer.Option(None, help="Difficulty estimator plugin (default ae-re; none to switch off)."),
    fuser: str = typer.Option(None, help="Fuser plugin (default birnn; mean is the baseline)."),
    re_unimodal: bool = typer.Option(
        None, "--re-unimodal/--no-re-unimodal",
        help="Force the difficulty into / out of the regressors' input (default: where it wins on unseen subjects)."),
    re_fusion: bool = typer.Option(
        None, "--re-fusion/--no-re-fusion",
        help="Force the difficulty into / out of the fuser's input (default: where it wins on devel)."),
    unimodal_candidates: str = typer.Option(
        None, help="More regressor variants decided on unseen subjects, comma-separated: "
                   f"{', '.join(OPTIONAL_CANDIDATES)} (default none; each costs its fold models; docs/pipeline.md)."),
    average_candidates: bool = typer.Option(
        None, "--average-candidates/--no-average-candidates",
        help="Where a regressor has several candidates, their average is one more (default on)."),
    ensemble_seeds: int = typer.Option(
        None, help="Pipelines of seeds seed..seed+N-1, their predictions averaged (default 1; each costs a run)."),
    fusion_train: str = typer.Option(
        None, help="Fuser's train inputs: out-of-fold (default) | in-sample (the paper's)."),
    difficulty_train: str = typer.Option(
        None, help="Train subjects' difficulty: out-of-fold (default) | in-sample (the paper's)."),
    difficulty_unseen: str = typer.Option(
        None, help="Devel/test/new subjects' difficulty: fold-mean (default; of the fold estimators) | all-train."),
    difficulty_calibration: str = typer.Option(
        None, help="Difficulty against its train distribution: none | per-recording | quantile | clip."),
    folds: int = typer.Option(None, help="Folds over train subjects for out-of-fold inputs (default 3)."),
    fold_standardise: bool = typer.Option(
        None, "--fold-standardise/--no-fold-standardise",
        help="Fold models standardise features on their own subjects (default on)."),
    estimator_option: list[str] = typer.Option(
        None, "--estimator-option", metavar="KEY=VALUE",
        help="Option of the estimator plugin (repeatable), e.g. bottleneck=8."),
    label_shift: float = typer.Option(None, help="Annotation delay compensation, seconds (default 0)."),
    mean_shrink: str = typer.Option(
        None, help="Pull each recording's fused prediction toward the train label mean: 0..1 (default 0), or "
                   "devel (chosen on devel from 0, .25, .5, .75, 1; docs/pipeline.md)."),
    missing: str = typer.Option(None, help="Missing feature rows: zero (default) | ffill | mask."),
    standardise: str = typer.Option(
        None, help="Feature z-scoring: train (default; train statistics) | recording (each recording's own)."),
    preset: str = typer.Option(None, help="Training budget: auto (paper on CUDA, else cpu) | cpu | paper."),
    epochs: int = typer.Option(None, help="Maximum epochs per model (preset default)."),
    patience: int = typer.Option(None, help="Early-stopping patience on devel CCC (preset default)."),
    window: int = typer.Option(None, help="Training window, frames (preset default: cpu 100, paper 200)."),
    hop: int = typer.Option(None, help="Training window hop, frames (preset default: 100)."),
    batch_size: int = typer.Option(None, help="Windows per batch (default 32)."),
    lr_schedule: str = typer.Option(
        None, help="none (plain patience) | plateau (halve lr from the best weights; preset default)."),
    seed: int = typer.Option(None, help="Random seed (default 0)."),
    device: str = typer.Option(None, help="auto (default) | cpu | cuda."),
    threads: int = typer.Option(None, help="torch CPU threads per worker (default: the cores shared out)."),
    workers: int = typer.Option(None, help="Concurrent trainings (default: from the hardware, printed)."),
    executor: str = typer.Option(None, help="local (default: worker processes) | inprocess | ray (docs/ray.md)."),
    ray_address: str = typer.Option(None, help="--executor ray: cluster address (default: $RAY_ADDRESS or local)."),
    gpus_per_task: float = typer.Option(None, help="--executor ray on CUDA: GPU share per training, e.g. 0.25."),
    store: Path = typer.Option(None, help="Artifact store shared between runs (default: in the user cache)."),
    config: Path = typer.Option(None, help="YAML file setting any of these fields; flags override it."),
    out: Path = typer.Option(None, help="The run folder (default: runs/<timestamp>)."),
    overwrite: bool = typer.Option(None, "--overwrite", help="Reuse a non-empty --out."),
    as_json: bool = typer.Option(False, "--json", help="Print only the results as JSON on stdout."),
    debug: bool = typer.Option(
        False, "--debug", help="On an error, print its traceback too (a failing plugin's is always in log.txt)."),
) -> None:
    """Train and evaluate auto-encoders, unimodal regressors and late fusion; write a run folder."""
    flags = {k: v for k, v in locals().items() if k not in ("config", "as_json", "estimator_option", "debug")}
    flags["modalities"], flags["targets"] = split_csv(modalities), split_csv(targets)
    flags["unimodal_candidates"] = split_csv(unimodal_candidates)
    flags["estimator_options"] = parse_options(estimator_option, "--estimator-option")
    cfg = build_config(config, **flags)
    with RichReporter() as reporter:
        run_dir, records = execute_run(cfg, reporter, echo=reporter.log)
    if as_json:
        print(json.dumps(records, indent=2))
        return
    Console().print(results_table(records, f"CCC — {run_dir}"))
    err.print(f"Run folder: {run_dir}")
