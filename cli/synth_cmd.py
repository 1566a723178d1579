"""`musefuse synth`: write a synthetic Ulm-TSST-shaped dataset with known ground truth."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from musefuse.cli.common import err, reports_errors, split_csv
from musefuse.lab.synth import MODALITIES, VARIANTS, variant_knobs, write_synthetic


def _size(path: Path) -> str:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    for unit in ("B", "KB", "MB", "GB"):
        if total < 1024 or unit == "GB":
            return f"{total:.0f} {unit}" if unit == "B" else f"{total:.1f} {unit}"
        total /= 1024
    return ""  # unreachable


@reports_errors
def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write (must be empty, or use --overwrite)."),
    subjects: int = typer.Option(None, "--subjects", help="Number of subjects (default: 69; 9 with --small)."),
    small: bool = typer.Option(False, "--small", help="A tiny copy (~80 steps per subject) for quick runs."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same bytes."),
    modalities: str = typer.Option(
        None, "--modalities", help=f"Comma-separated subset of: {', '.join(MODALITIES)} (default: all)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a previous synthetic dataset in --out."),
    variant: str = typer.Option(
        "default", "--variant", help=f"Named knob settings: {', '.join(VARIANTS)} (see docs/synthetic-data.md)."
    ),
    identity: float = typer.Option(
        None, "--identity", help="How strongly features carry subject identity, >= 0 (default: the variant's; 0)."
    ),
    corruption_spread: float = typer.Option(
        None, "--corruption-spread",
        help="Between-subject spread of the share of corrupted frames, >= 0 (default: the variant's; 0).",
    ),
    re_mislead: float = typer.Option(
        None, "--re-mislead",
        help="Feature noise whose intensity follows stress in train subjects only, in [0, 1] "
        "(default: the variant's; 0).",
    ),
    rater_offset: float = typer.Option(
        None, "--rater-offset",
        help="Std of a per-subject label offset no feature shows, >= 0 (default: the variant's; 0).",
    ),
    subject_mapping: float = typer.Option(
        None, "--subject-mapping",
        help="How far each subject's own feature->affect mapping departs from the population's, >= 0 "
        "(default: the variant's; 0).",
    ),
    level_leak: float = typer.Option(
        None, "--level-leak",
        help="A look that tracks the affect level of train subjects only, >= 0 (default: the variant's; 0).",
    ),
) -> None:
    """Write a synthetic MuSe-Stress dataset (MuSe 2021 layout) plus its ground truth under truth/.

    Example: musefuse synth --out data/synth --small
    Example: musefuse synth --out data/idheavy --variant identity-heavy
    Example: musefuse synth --out data/mislead --variant re-misleads --modalities egemaps,vggface,fau
    Example: musefuse synth --out data/levels --variant hidden-levels --modalities egemaps,vggface,fau
    Example: musefuse synth --out data/unseen --variant unseen-subjects --modalities egemaps,vggface,fau
    """
    mods = split_csv(modalities)
    knobs = variant_knobs(variant, identity=identity, corruption_spread=corruption_spread, re_mislead=re_mislead,
                          rater_offset=rater_offset, subject_mapping=subject_mapping, level_leak=level_leak)
    start = time.perf_counter()
    with Progress(
        TextColumn("writing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("feature files"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("synth", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        path = write_synthetic(
            out, subjects=subjects, small=small, seed=seed, modalities=mods, overwrite=overwrite, progress=progress,
            **knobs,
        )
    elapsed = time.perf_counter() - start
    manifest = json.loads((path / "truth" / "manifest.json").read_text())
    parts = manifest["partitions"]
    err.print(
        f"Wrote {manifest['subjects']} subjects (train {parts['train']}, devel {parts['devel']}, "
        f"test {parts['test']}) to {path}\n"
        f"modalities: {', '.join(manifest['modalities'])}; seed {seed}; identity {knobs['identity']:g}, "
        f"corruption spread {knobs['corruption_spread']:g}, RE mislead {knobs['re_mislead']:g}, "
        f"rater offset {knobs['rater_offset']:g}, subject mapping {knobs['subject_mapping']:g}, "
        f"level leak {knobs['level_leak']:g}; "
        f"{_size(path)} in {elapsed:.1f} s\n"
        f"ground truth (not read by musefuse): {path / 'truth'}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
