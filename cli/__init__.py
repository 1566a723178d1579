"""The `musefuse` command line (Typer)."""
