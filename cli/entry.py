"""The `musefuse` console script's entry: light on purpose.

A spawned process first imports the script that started its parent again (as ``__mp_main__``), before anything
else. Were that script to import the whole CLI (torch included, seconds on a busy machine), every worker process of
the local executor would do so before it could tie itself to its parent (musefuse.core.engine.worker). So the
script imports this module only, and the CLI once it runs.
"""


def main() -> None:
    from musefuse.cli.app import main as run

    run()
