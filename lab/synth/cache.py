"""The shared synthetic dataset of runs without --data: generated once into the user cache, then reused."""

from __future__ import annotations

import shutil
from pathlib import Path

from musefuse.core import fileio
from musefuse.lab.synth.params import GENERATOR_VERSION, MODALITIES, _check_modalities
from musefuse.lab.synth.variants import params_for, variant_knobs
from musefuse.lab.synth.writer import _is_synthetic, write_synthetic


def embedded_dataset(modalities: list[str]) -> Path:
    """The data of a run without --data: the shared dataset with the built-in feature sets the run needs.

    Only those are generated (a third-party modality has no synthetic twin); none of them: all five.
    """
    return default_dataset(modalities=[m for m in modalities if m in MODALITIES] or None)


def default_dataset(
    small: bool = False,
    modalities: list[str] | None = None,
    *,
    variant: str = "default",
    identity: float | None = None,
    corruption_spread: float | None = None,
    re_mislead: float | None = None,
    rater_offset: float | None = None,
    subject_mapping: float | None = None,
    level_leak: float | None = None,
) -> Path:
    """The shared synthetic dataset (seed 0), generated on first use and reused.

    Lives under ``$MUSEFUSE_CACHE_DIR/synth/`` (else the user cache folder), keyed by generator
    version, seed, the knobs and the modalities written (all five by default; naming fewer
    skips, e.g., the 1 GB of DeepSpectrum CSV — values are the same either way, as each modality has
    its own random stream). One missing its manifest (an interrupted run) is generated again.
    ``variant`` names the knobs (``VARIANTS``: ``default``, ``identity-heavy``, ``re-misleads``);
    ``identity``, ``corruption_spread``, ``re_mislead`` and ``rater_offset``, when given, override the variant's.

    Example: ``default_dataset(variant="identity-heavy", modalities=["egemaps", "vggface", "fau"])``
    """
    seed = 0
    mods = _check_modalities(modalities)
    knobs = variant_knobs(variant, identity=identity, corruption_spread=corruption_spread, re_mislead=re_mislead,
                          rater_offset=rater_offset, subject_mapping=subject_mapping, level_leak=level_leak)
    params_for(**knobs)  # refuse bad values before naming a folder after them
    tag = "" if set(mods) == set(MODALITIES) else "-" + "+".join(sorted(mods))
    knob_tag = "" if not any(knobs.values()) else f"-id{knobs['identity']:g}-cs{knobs['corruption_spread']:g}"
    if knobs["re_mislead"]:  # after the identity knobs, so the folders of the other variants keep their names
        knob_tag += f"-rm{knobs['re_mislead']:g}"
    if knobs["rater_offset"]:
        knob_tag += f"-ro{knobs['rater_offset']:g}"
    if knobs["subject_mapping"] or knobs["level_leak"]:
        knob_tag += f"-sm{knobs['subject_mapping']:g}-ll{knobs['level_leak']:g}"
    name = f"v{GENERATOR_VERSION}-seed{seed}{'-small' if small else ''}{knob_tag}{tag}"
    path = fileio.cache_folder("synth") / name
    if (path / "truth" / "manifest.json").is_file() and _is_synthetic(path):
        return path
    if path.exists() and not _is_synthetic(path):
        shutil.rmtree(path)  # a half-written folder of ours: start again
    return write_synthetic(path, small=small, seed=seed, modalities=mods, overwrite=True, **knobs)
