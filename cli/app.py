"""The Typer app `musefuse`: one module per command, registered here."""

from __future__ import annotations

import typer

from musefuse import __version__
from musefuse.cli import (
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
    validate_cmd,
)
from musefuse.cli.common import Command, Group

app = typer.Typer(
    name="musefuse",
    help="Multi-modal fusion for continuous emotion recognition with auto-encoder difficulty indicators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,
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


# One place lists every command; the command modules know nothing of `app`.
COMMANDS = (
    ("ablate", ablate_cmd.ablate),
    ("extract", extract_cmd.extract_command),
    ("plugins", plugins_cmd.plugins),
    ("predict", predict_cmd.predict),
    ("report", report_cmd.report),
    ("robustness", robustness_cmd.robustness),
    ("run", run_cmd.run),
    ("select", select_cmd.select_cmd),
    ("store", store_cmd.store_app),  # a group: store verify | gc | rm
    ("summarize", summarize_cmd.summarize_cmd),
    ("synth", synth_cmd.synth),
    ("validate", validate_cmd.validate_command),
)
for _name, _command in COMMANDS:
    if isinstance(_command, typer.Typer):
        app.add_typer(_command, name=_name)
    else:
        app.command(_name, cls=Command)(_command)


def main() -> None:
    """Console-script entry point."""
    app()
