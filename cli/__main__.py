"""`python -m musefuse.cli` runs the CLI."""

from musefuse.cli.app import main

main()
