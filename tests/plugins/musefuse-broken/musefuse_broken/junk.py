"""Registers things that are not what the hook asks for, and a name that is taken."""

from musefuse.core import Modality, hookimpl


@hookimpl
def register_modalities(register):
    register("not a modality")
    register(Modality(name="egemaps", width=3, description="claims a built-in's name"))
    register(Modality(name="fake", width=3, aliases=["vggface2"], description="claims a built-in's folder"))
