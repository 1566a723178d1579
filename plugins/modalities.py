"""The five feature sets of MuSe-Stress 2021, declared in registry.yaml. eGeMAPS can also extract."""

from musefuse.core import Modality, hookimpl
from musefuse.core.registry import builtin_modalities
from musefuse.plugins.egemaps import Egemaps

EXTRACTORS: dict[str, type[Modality]] = {"egemaps": Egemaps}  # modalities that implement extract()


@hookimpl
def register_modalities(register):
    for entry in builtin_modalities(module=__name__):
        register(
            EXTRACTORS.get(entry.name, Modality)(
                name=entry.name,
                width=entry.width,
                aliases=entry.aliases,
                standardise=entry.standardise,
                description=entry.description,
                defaults=entry.defaults,
            )
        )
