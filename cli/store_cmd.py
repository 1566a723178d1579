"""`musefuse store verify | gc | rm`: check and clean an artifact store (one shared by several runs, say)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from musefuse.cli.common import Command, Group, err, reports_errors, stdout
from musefuse.core.engine.store import MANIFEST, ArtifactStore, default_store, delete
from musefuse.core.errors import ConfigError

store_app = typer.Typer(help="Check and clean the artifact store (finished models shared between runs).",
                        no_args_is_help=True, cls=Group)

STORE_OPTION = typer.Option(None, "--store", help="The artifact store (default: as for run, in the user cache).")
# A temporary folder lives for the seconds a task takes to write its files; one this old was left by a
# process that died (the store's own sweep on write waits a day).
GC_TMP_AGE = 600


def _open(store: Path | None) -> ArtifactStore:
    root = Path(store) if store is not None else default_store()
    if not root.is_dir():
        raise ConfigError(f"--store {root}: no artifact store there (nothing has been trained into it yet).")
    return ArtifactStore(root)


@store_app.command("verify", cls=Command)
@reports_errors
def verify(store: Path = STORE_OPTION) -> None:
    """Check every entry against the checksums taken when it was written, and that it holds the task its key
    names; exit 1 when any is damaged (or a file blocks a folder of entries).

    Changes nothing: `musefuse store gc` removes damaged entries (a run retrains them by itself).
    """
    artifacts = _open(store)
    table = Table(title=f"Artifact store {artifacts.root}")
    for column in ("key", "kind", "task", "status"):
        table.add_column(column, overflow="fold")
    damaged = legacy = 0
    keys = list(artifacts.keys())
    for key in keys:
        kind, label = artifacts.describe(key)
        problem = artifacts.problem(key)
        if problem is not None:
            damaged += 1
            status = Text(f"damaged: {problem}", style="bold red")
        elif not (artifacts.path(key) / MANIFEST).exists():
            legacy += 1
            status = Text("ok (written before checksums; loads, finite)", style="yellow")
        else:
            status = Text("ok", style="green")
        table.add_row(key[:12], kind, label, status)
    strays = artifacts.strays()
    for path, problem in strays:
        table.add_row(path.name, "-", "-", Text(f"damaged: {path} is {problem}", style="bold red"))
    stdout().print(table)
    leftovers = artifacts.leftovers()
    blocked = f"; {len(strays)} file(s) where a folder of entries belongs" if strays else ""
    err.print(f"{len(keys)} entries: {len(keys) - damaged} ok ({legacy} without checksums, checked by loading), "
              f"{damaged} damaged{blocked}; {len(leftovers)} temporary or moved-aside folder(s).")
    if damaged or strays or leftovers:
        err.print("`musefuse store gc` removes damaged entries and leftover folders; a run retrains what it needs.")
    if damaged or strays:
        raise typer.Exit(1)


@store_app.command("gc", cls=Command)
@reports_errors
def gc(
    store: Path = STORE_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be removed."),
) -> None:
    """Remove damaged entries, entries moved aside as damaged, temporary folders of killed processes, and files
    where a folder of entries belongs."""
    artifacts = _open(store)
    doomed: list[tuple[Path, str]] = list(artifacts.strays())
    for key in artifacts.keys():
        problem = artifacts.problem(key)
        if problem is not None:
            doomed.append((artifacts.path(key), f"{artifacts.describe(key)[1]}: {problem}"))
    doomed += [(p, "moved aside as damaged" if not p.name.startswith(".tmp-") else "temporary folder of a "
                "killed process") for p in artifacts.leftovers(min_age=GC_TMP_AGE)]
    verb = "would remove" if dry_run else "removed"
    freed = 0
    for path, why in doomed:
        freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
        if not dry_run:
            if path.name.startswith(".") or path.parent == artifacts.root:
                delete(path)
            else:
                artifacts.remove(path.name)
        err.print(f"{verb} {path} ({why})", highlight=False, markup=False)
    err.print(f"{len(doomed)} folder(s) {verb}, {freed / 2**20:.1f} MiB." if doomed else "Nothing to remove.")


@store_app.command("rm", cls=Command)
@reports_errors
def rm(
    key: str = typer.Argument(..., help="An entry's key, or a prefix of it that only one key has."),
    store: Path = STORE_OPTION,
) -> None:
    """Remove one entry (the next run that needs it trains it again)."""
    artifacts = _open(store)
    wanted = key.strip().lower()
    matches = [k for k in artifacts.keys() if k.startswith(wanted)] if wanted else []
    if not matches:
        raise ConfigError(f"KEY '{key}': no entry of {artifacts.root} has a key starting so "
                          "(`musefuse store verify` lists them).")
    if len(matches) > 1:
        listed = ", ".join(f"{k[:16]} ({artifacts.describe(k)[1]})" for k in matches[:5])
        more = ", …" if len(matches) > 5 else ""
        raise ConfigError(f"KEY '{key}': {len(matches)} entries start so ({listed}{more}); give more of the key.")
    label = artifacts.describe(matches[0])[1]
    artifacts.remove(matches[0])
    err.print(f"removed {matches[0]} ({label})", highlight=False, markup=False)
