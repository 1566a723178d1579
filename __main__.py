"""`python -m musefuse` runs the CLI."""

from musefuse.cli.app import main

main()
