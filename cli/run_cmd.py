"""`musefuse run`: train and evaluate the whole pipeline for any combination of modalities."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from musefuse.cli import options as o
from musefuse.cli.common import err, reports_errors, stdout
from musefuse.cli.progress import RichReporter
from musefuse.core.config_files import build_config
from musefuse.core.method.candidates import OPTIONAL_CANDIDATES
from musefuse.core.runs.runner import execute_run
from musefuse.lab.experiments.tables import model_name


def results_table(records: list[dict], title: str) -> Table:
    """Devel and test CCC with their 95% intervals over recordings ("n/a": fewer than 3) per stage, modalities and
    target, plus the combined score (paper, Table 9). One row per (stage, modalities, target), so it reads in a log."""
    table = Table(title=title, caption="model: the candidate the data kept (decisions.json) or as configured: re "
                  "(reads the difficulty) or plain. combined: the mean of the arousal and valence CCC (the MuSe "
                  "score). [95% interval over recordings]; n/a: fewer than 3 recordings.")
    for name in ("stage", "modalities", "model", "target"):
        table.add_column(name)
    table.add_column("devel [95% CI]", justify="right", no_wrap=True)
    table.add_column("test [95% CI]", justify="right", no_wrap=True)

    def fmt(r):
        if r is None or r["ccc"] is None:
            return "—"
        ci = r.get("ccc_ci95")
        return escape(f"{r['ccc']:.3f}" + (" [n/a]" if not ci else f" [{ci[0]:.2f},{ci[1]:.2f}]"))  # not markup

    rows = dict.fromkeys((r["stage"], tuple(r["modalities"]), r.get("fuser"), r["target"]) for r in records)
    model_of = {(r["stage"], tuple(r["modalities"]), r["target"]): model_name(r, records) for r in records}
    previous = None
    for stage, mods, fuser, target in rows:
        by_part = {r["partition"]: r for r in records
                   if (r["stage"], tuple(r["modalities"]), r["target"]) == (stage, mods, target)}
        label = stage if fuser is None else f"{stage} ({fuser})"
        first = (stage, mods, fuser) != previous  # a new label where the targets' kept fusers differ
        table.add_row(label if first else "", "+".join(mods) if first else "", model_of[(stage, mods, target)],
                      target, fmt(by_part.get("devel")), fmt(by_part.get("test")), end_section=False)
        previous = (stage, mods, fuser)
    return table


@reports_errors
def run(
    modalities: str = typer.Option(None, help="Comma-separated modalities (default: egemaps,vggface,fau)."),
    data: o.Data = None,
    targets: o.Targets = None,
    rnn: str = typer.Option(None, help="lstm | bilstm | gru | bigru (default: each modality's, bigru)."),
    layers: o.Layers = None,
    hidden: o.Hidden = None,
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
                   f"{', '.join(OPTIONAL_CANDIDATES)} (default none; each trained one costs its fold models; "
                   "docs/pipeline.md)."),
    single_candidates: bool = typer.Option(
        None, "--single-candidates/--no-single-candidates",
        help="The fusion decision also scores each modality's own prediction (default off)."),
    fuser_candidates: str = typer.Option(
        None, help="More fuser plugins the fusion decision scores on devel after the fuser, comma-separated "
                   "(default convex; none: the fuser alone; docs/pipeline.md)."),
    decision_rule: str = typer.Option(
        None, help="The SE a candidate's gain must exceed: one-se (default) | bonferroni (more with more candidates) "
                   "| within-best (the simplest candidate within one SE of the best)."),
    average_candidates: bool = typer.Option(
        None, "--average-candidates/--no-average-candidates",
        help="Where a regressor has several candidates, their average is one more (default on)."),
    ensemble_seeds: int = typer.Option(
        None, help="Pipelines of seeds seed..seed+N-1, their predictions averaged (default 1; each costs a run)."),
    fusion_train: str = typer.Option(
        None, help="Fuser's train inputs: out-of-fold (default) | in-sample (the paper's)."),
    fusion_apply: str = typer.Option(
        None, help="What the fuser reads for unseen subjects: fold-mean (default; the fold models' mean) | per-fold "
                   "(each fold's predictions fused, the fused outputs averaged)."),
    difficulty_train: str = typer.Option(
        None, help="Train subjects' difficulty: out-of-fold (default) | in-sample (the paper's)."),
    difficulty_unseen: str = typer.Option(
        None, help="Devel/test/new subjects' difficulty: fold-mean (default; of the fold estimators) | all-train."),
    difficulty_calibration: str = typer.Option(
        None, help="Difficulty against its train distribution: none | per-recording | quantile | clip."),
    folds: int = typer.Option(None, help="Folds over train subjects for out-of-fold inputs (default 3)."),
    fold_stopping: str = typer.Option(
        None, help="What stops a fold regressor's training: devel (default) | inner (a quarter of its own subjects)."),
    all_train_member: bool = typer.Option(
        None, "--all-train-member/--no-all-train-member",
        help="Each regressor's all-train model joins its fold models for devel/test/new subjects (default off)."),
    fold_standardise: bool = typer.Option(
        None, "--fold-standardise/--no-fold-standardise",
        help="Fold models standardise features on their own subjects (default on)."),
    estimator_option: o.EstimatorOption = None,
    label_shift: float = typer.Option(None, help="Annotation delay compensation, seconds (default 0)."),
    mean_shrink: str = typer.Option(
        None, help="Pull each recording's fused prediction toward the train label mean: 0..1 (default 0), or "
                   "devel (chosen on devel from 0, .25, .5, .75, 1; docs/pipeline.md)."),
    missing: str = typer.Option(None, help="Missing feature rows: zero (default) | ffill | mask."),
    standardise: str = typer.Option(
        None, help="Feature z-scoring: train (default; train statistics) | recording (each recording's own)."),
    preset: o.Preset = None, epochs: o.Epochs = None, patience: o.Patience = None, window: o.Window = None,
    hop: o.Hop = None, batch_size: o.BatchSize = None, lr_schedule: o.LrSchedule = None,
    seed: o.Seed = None, device: o.Device = None, threads: o.Threads = None, workers: o.Workers = None,
    executor: o.Executor = None, ray_address: o.RayAddress = None, gpus_per_task: o.GpusPerTask = None,
    store: o.Store = None,
    config: o.Config = None,
    out: Path = typer.Option(None, help="The run folder (default: runs/<timestamp>)."),
    overwrite: bool = typer.Option(None, "--overwrite", help="Reuse a non-empty --out."),
    as_json: bool = typer.Option(False, "--json", help="Print only the results as JSON on stdout."),
    debug: o.Debug = False,
) -> None:
    """Train and evaluate auto-encoders, unimodal regressors and late fusion; write a run folder."""
    cfg = build_config(config, **o.config_flags(locals()))
    with RichReporter() as reporter:
        run_dir, records = execute_run(cfg, reporter, echo=reporter.log)
    if as_json:
        print(json.dumps(records, indent=2))
        return
    stdout().print(results_table(records, f"CCC — {run_dir}"))
    err.print(f"Run folder: {run_dir}")
