"""Misspells a hook name: the host must say so instead of ignoring it."""

from musefuse.core import hookimpl


@hookimpl
def register_modality(register):
    pass
