"""A third-party modality: heart-rate variability features (4 per step) in feature_segments/hrv/."""

from musefuse.core import Modality, hookimpl


@hookimpl
def register_modalities(register):
    register(Modality(name="hrv", width=4, aliases=["hrv_features"], description="Heart-rate variability"))
