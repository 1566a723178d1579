"""A synthetic Ulm-TSST: MuSe 2021 folder layout, known ground truth, seeded and byte-reproducible.

Every subject has a latent arousal/valence trajectory (Ornstein-Uhlenbeck processes plus TSST
stress events). Labels are that latent delayed by a per-subject annotation lag, smoothed, with
rater noise. Each feature set maps the *undelayed* latent through its own nonlinear map, buried
in nuisance processes, subject identity effects and noise. The ``identity`` knob adds a per-subject
pattern in feature space (strongest in VGGFace, a face-recognition embedding), so models can
memorise train subjects as they do on real data. Some intervals of each modality are
corrupted: off the feature manifold (noise, clipping, occlusion) or on it but misleading (another
speaker, a frozen frame). What was done where is written to ``truth/``, which readers ignore.
docs/synthetic-data.md gives the formulas and the parameters.

Example::

    from musefuse.lab.synth import write_synthetic
    write_synthetic(Path("synth"), small=True, seed=0)

The package, in the order the data are made:

    params       the feature sets (ModalitySpec), every number of the model (SynthParams), the seeding
    latent       the partition split, each subject's latent arousal and valence, its labels
    variants     the knobs that make the data harder, their named settings, what each draws per subject
    corruption   where each channel of a subject is corrupted or missing
    features     a feature set from the latent: the map, nuisance, identity, noise, corruptions
    csvbytes     numbers to CSV bytes, fast
    writer       the dataset on disk: MuSe layout, truth/, the manifest, a safe replace
    cache        the shared dataset of runs without --data
"""

from __future__ import annotations

from musefuse.lab.synth.cache import default_dataset, embedded_dataset
from musefuse.lab.synth.corruption import ChannelPlan
from musefuse.lab.synth.csvbytes import _csv_bytes
from musefuse.lab.synth.features import _world
from musefuse.lab.synth.latent import (
    Latent,
    Subject,
    _standardise,
    assign_partitions,
    draw_subject,
    rater_offsets,
    split_sizes,
)
from musefuse.lab.synth.params import (
    CHANNELS,
    GENERATOR,
    GENERATOR_VERSION,
    MODALITIES,
    MODALITY_SPECS,
    OFF_MANIFOLD,
    ON_MANIFOLD,
    PAPER_SPLIT,
    PARAMS,
    WIDTHS,
    ModalitySpec,
    SynthParams,
)
from musefuse.lab.synth.variants import (
    VARIANTS,
    leaked_levels,
    params_for,
    re_mislead_columns,
    re_mislead_std,
    subject_noisiness,
    variant_knobs,
)
from musefuse.lab.synth.writer import TRUTH_README, TRUTH_README_MISLEAD, write_synthetic

__all__ = [
    "CHANNELS", "GENERATOR", "GENERATOR_VERSION", "MODALITIES", "MODALITY_SPECS", "OFF_MANIFOLD", "ON_MANIFOLD",
    "PAPER_SPLIT", "PARAMS", "TRUTH_README", "TRUTH_README_MISLEAD", "VARIANTS", "WIDTHS", "ChannelPlan", "Latent",
    "ModalitySpec", "Subject", "SynthParams", "_csv_bytes", "_standardise", "_world", "assign_partitions",
    "default_dataset", "draw_subject", "embedded_dataset", "leaked_levels", "params_for", "rater_offsets",
    "re_mislead_columns", "re_mislead_std", "split_sizes", "subject_noisiness", "variant_knobs", "write_synthetic",
]
