"""`musefuse extract`: raw recordings → a MuSe-layout folder, with any modality that can extract."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from musefuse.cli.common import err, reports_errors
from musefuse.core.data.extract import ExtractSummary, extract_folder, extract_options, find_media
from musefuse.core.errors import ConfigError, PluginError, unknown
from musefuse.core.interfaces import Modality
from musefuse.core.plugin_host import get_host


@reports_errors
def extract_command(
    modality: str = typer.Option(None, "--modality", help="The modality to extract (default: list those that can)."),
    raw: Path = typer.Option(
        None, "--raw", "--audio", help="Folder of recordings, one per subject; the Id is the file name's stem."
    ),
    out: Path = typer.Option(None, "--out", help="The MuSe-layout folder to write (created if needed)."),
    labels: Path = typer.Option(
        None, "--labels", help="MuSe-layout label_segments/ (or the folder holding it): copied for the extracted Ids."
    ),
    partition: Path = typer.Option(
        None, "--partition", help="A partition CSV (Id,Partition) to copy; default: every Id in test."
    ),
    settings: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="An extraction setting of the modality, e.g. window_ms=4000."
    ),
    jobs: int = typer.Option(0, "--jobs", min=0, help="Worker processes (0: one per CPU core)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing feature files and partition."),
) -> None:
    """Compute features from raw recordings into OUT/feature_segments/<modality>/<Id>.csv.

    Files that cannot be read are reported and skipped; exits 1 when some failed or the folder is
    not yet a complete dataset, 0 when `musefuse predict` (or `run`, with labels and a partition)
    can use it.
    """
    capable = _extractors()
    if modality is None:
        err.print(_listing(capable))
        raise typer.Exit(0 if capable else 1)
    chosen = _choose(modality, capable)
    if raw is None or out is None:
        raise ConfigError("musefuse extract needs --raw DIR (or --audio DIR) and --out DATA.")
    chosen = extract_options(chosen, dict(_key_value(s) for s in settings))

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    started = time.perf_counter()
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(f"extract {chosen.name}", total=None)

        def progress(name: str, error: str | None, rows: int) -> None:
            if error is not None:
                line = f"[yellow]skipped[/] {escape(name)}: {escape(error)}"
                bar.console.print(line, highlight=False, soft_wrap=True)
            bar.advance(task)

        bar.update(task, total=_count(chosen, raw))
        summary = extract_folder(chosen, raw, out, labels=labels, partition=partition, jobs=jobs or None,
                                 overwrite=overwrite, progress=progress)
    _report(summary, time.perf_counter() - started)
    if summary.failed or summary.problems:
        raise typer.Exit(1)


def _extractors() -> dict[str, Modality]:
    return {name: m for name, m in get_host().modalities().items() if m.can_extract}


def _choose(name: str, capable: dict[str, Modality]) -> Modality:
    host = get_host()
    try:
        m = host.modality(name)
    except PluginError:
        raise PluginError(unknown("modality that can extract", name, list(capable))) from None
    if not m.can_extract:
        raise PluginError(f"Modality '{m.name}' cannot extract features from raw media (its features ship "
                          f"pre-extracted). Modalities that can: {', '.join(capable) or '(none)'}.")
    return m


def _listing(capable: dict[str, Modality]) -> str:
    if not capable:
        return "No installed modality can extract features from raw media."
    lines = ["Modalities that can extract (musefuse extract --modality NAME --raw DIR --out DATA):"]
    for m in capable.values():
        own = [k for k in type(m).model_fields if k not in Modality.model_fields]
        sets = ", ".join(f"{k}={getattr(m, k)}" for k in own)
        lines.append(f"  {m.name:<12} {m.media or 'media'} ({', '.join(m.media_suffixes) or 'any file'})"
                     + (f"; --set {sets}" if sets else ""))
    return "\n".join(lines)


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE, got {text!r}.")
    return key.strip(), value.strip()


def _count(m: Modality, raw: Path) -> int | None:
    try:
        return len(find_media(raw, m)[0])
    except ConfigError:
        return None  # extract_folder reports it


def _report(s: ExtractSummary, seconds: float) -> None:
    total = len(s.written) + len(s.failed)
    rows = sum(s.written.values())
    colour = "green" if not s.failed else "yellow"
    err.print(f"[bold {colour}]{len(s.written)} of {total}[/] files extracted in {seconds:.1f} s "
              f"({rows} rows) → {s.out / 'feature_segments' / s.modality}", highlight=False, soft_wrap=True)
    if s.failed:
        err.print(f"[bold red]{len(s.failed)} skipped:[/]", highlight=False, soft_wrap=True)
        for name, reason in s.failed.items():
            err.print(f"  {name}: {reason}", highlight=False, markup=False, soft_wrap=True)
    if s.ignored:
        shown = ", ".join(s.ignored[:5]) + (" …" if len(s.ignored) > 5 else "")
        err.print(f"{len(s.ignored)} other file(s) ignored (not {s.modality} media): {shown}",
                  highlight=False, markup=False, soft_wrap=True)
    err.print(f"Partition: {s.partition}", highlight=False, markup=False, soft_wrap=True)
    for target, n in s.labels.items():
        err.print(f"Labels: {n} {target} file(s) copied", highlight=False, soft_wrap=True)
    for problem in s.problems:
        err.print(f"[yellow]Not yet a complete dataset:[/] {escape(problem)}", highlight=False, soft_wrap=True)
