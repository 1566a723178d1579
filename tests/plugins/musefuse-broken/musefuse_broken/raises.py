"""Its hook raises."""

from musefuse.core import hookimpl


@hookimpl
def register_fusers(register):
    raise RuntimeError("boom")
