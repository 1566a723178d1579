"""The Typer app `musefuse`: one module per command, registered here."""

from __future__ import annotations

import typer

from musefuse import __version__

app = typer.Typer(
    name="musefuse",
    help="Multi-modal fusion for continuous emotion recognition with auto-encoder difficulty indicators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

def _version(value: bool) -> None:
    if value:
        typer.echo(f"musefuse {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """musefuse: AE difficulty indicators, unimodal recurrent regressors and late fusion (Hamieh et al. 2021)."""


def _register_commands() -> None:
    # Each module adds its command(s) to `app` on import.
    from musefuse.cli import (  # noqa: F401
        ablate_cmd,
        extract_cmd,
        plugins_cmd,
        predict_cmd,
        report_cmd,
        robustness_cmd,
        run_cmd,
        select_cmd,
        store_cmd,
        summarize_cmd,
        synth_cmd,
        validate_cmd,  # noqa: F401
    )


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app()
