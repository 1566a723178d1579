"""`musefuse validate`: check a MuSe-layout folder and list every problem before a run does."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from musefuse.cli.common import err, reports_errors, split_csv
from musefuse.core.config_files import build_config
from musefuse.core.data.loader import FEATURES_DIR
from musefuse.core.data.validate import Steps, ValidationReport, validate
from musefuse.core.errors import ConfigError
from musefuse.core.interfaces import Modality
from musefuse.core.plugin_host import get_host, resolve_aliases


@reports_errors
def validate_command(
    data: Path = typer.Option(..., "--data", help="The MuSe-layout folder (metadata/, feature_segments/, …)."),
    modalities: str = typer.Option(
        None, "--modalities", help="Comma-separated modalities, as for run (default: run's, egemaps,vggface,fau)."
    ),
    targets: str = typer.Option(
        None, "--targets", help="Comma-separated targets, as for run (default: arousal,valence)."
    ),
    folds: int = typer.Option(None, "--folds", help="Folds over train subjects, as for run (default 3)."),
    all_modalities: bool = typer.Option(
        False, "--all", help="Instead of --modalities: check every installed modality whose folder exists, and "
        "every label folder unless --targets names some."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Parse every CSV; do not read or fill the cache."),
) -> None:
    """Check a data folder for the run you will do: partitions, widths, timestamps, labels.

    Give the same --modalities, --targets and --folds as to `musefuse run`; exits 2 exactly when
    that run would stop on the data.
    """
    if all_modalities and modalities is not None:
        raise ConfigError(f"--all and --modalities {modalities}: give one of them (--all checks every installed "
                          "modality whose folder exists; --modalities the ones a run uses).")
    host = get_host()
    known = host.modalities()
    # The run's own rules for these options (names that repeat, aliases of one modality, folds >= 2).
    cfg = resolve_aliases(build_config(modalities=split_csv(modalities), targets=split_csv(targets), folds=folds),
                          host)
    chosen = _present(data, known.values()) if all_modalities else [host.modality(n) for n in cfg.inputs.modalities]
    wanted = cfg.inputs.targets if targets is not None or not all_modalities else None
    report = validate(
        data,
        chosen,
        wanted,
        known_folders={f for m in known.values() for f in m.folders()},
        use_cache=not no_cache,
        folds=cfg.method.ensemble.folds,
    )
    for m in _present(data, known.values()):
        if m not in chosen:
            how = ("add it to --modalities" if modalities is not None
                   else "name it in --modalities (or pass --all instead)")
            report.warn(Path(data) / FEATURES_DIR, f"modality '{m.name}' not checked: {how} to check it for a run "
                        "that uses it.")
    render(report)
    names = ",".join(m.name for m in chosen)
    err.print(f"Checked for: musefuse run --modalities {names}"
              + (f" --targets {','.join(wanted)}" if wanted else " (every label folder as a target)")
              + (f" --folds {cfg.method.ensemble.folds}" if folds is not None else ""))
    if report.errors:
        err.print(f"[bold red]{len(report.errors)} error(s)[/], {len(report.warnings)} warning(s): "
                  "a run would stop on this data.")
        raise typer.Exit(2)
    err.print(f"[bold green]OK[/]: {len(report.warnings)} warning(s).")


def _present(root: Path, modalities) -> list[Modality]:
    base = Path(root) / FEATURES_DIR
    return [m for m in modalities if any((base / f).is_dir() for f in m.folders())]


def render(report: ValidationReport) -> None:
    """The report as rich tables on stderr."""
    err.print(f"[bold]Data folder[/] {report.root}")
    parts = Table(title="Subjects per partition")
    for p in report.partitions:
        parts.add_column(p, justify="right")
    parts.add_column("steps per subject (min / median / max)", justify="right")
    parts.add_row(*(str(n) for n in report.partitions.values()), _steps(report.subject_steps))
    err.print(parts)

    if report.modalities:
        mods = Table(title="Modalities")
        for col in ("modality", "folder", "width", "files", "steps (min / median / max)", "NaN rows", "gaps"):
            mods.add_column(col, justify="left" if col in ("modality", "folder") else "right")
        for m in report.modalities:
            width = str(m.width) if m.width in (None, m.declared_width) else f"{m.width} (declared {m.declared_width})"
            mods.add_row(m.name, m.folder, width, str(m.files), _steps(m.steps), f"{m.nan_share:.1%}", str(m.gaps))
        err.print(mods)
        if report.dominant_step is not None:
            err.print(f"Dominant timestamp step: {report.dominant_step} ms")

    if report.targets:
        tgt = Table(title="Labels")
        for col in ("target", "files", "scored", "hidden", "steps (min / median / max)", "min", "max", "mean"):
            tgt.add_column(col, justify="left" if col == "target" else "right")
        for t in report.targets:
            tgt.add_row(t.name, str(t.files), str(t.scored), str(t.hidden), _steps(t.steps),
                        f"{t.min:.3f}", f"{t.max:.3f}", f"{t.mean:.3f}")
        err.print(tgt)

    if report.problems:
        probs = Table(title="Problems", show_lines=False)
        probs.add_column("severity")
        probs.add_column("file", overflow="fold")
        probs.add_column("problem", overflow="fold")
        for p in sorted(report.problems, key=lambda p: p.severity != "error"):
            style = "bold red" if p.severity == "error" else "yellow"
            probs.add_row(Text(p.severity, style=style), Text(p.where), Text(p.message))
        err.print(probs)


def _steps(s: Steps) -> str:
    return f"{s.min} / {s.median:g} / {s.max}"
