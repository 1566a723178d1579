"""The five feature sets of MuSe-Stress 2021, declared in registry.yaml."""

from musefuse.core import Modality, hookimpl
from musefuse.core.registry import builtin_entries


@hookimpl
def register_modalities(register):
    for entry in builtin_entries("modality", module=__name__):
        register(
            Modality(
                name=entry.name,
                width=entry.width,
                aliases=entry.aliases,
                standardise=entry.standardise,
                description=entry.description,
                defaults=entry.defaults,
            )
        )
