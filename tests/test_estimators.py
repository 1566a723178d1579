"""The auto-encoder RE estimator: whose RE defines its scale, and that a saved estimator keeps it."""

import numpy as np
import pytest
import torch

from musefuse.core.interfaces import FitContext, ModelSettings, TrainingBudget
from musefuse.plugins.estimators import AutoEncoderRE

SETTINGS = ModelSettings(rnn="bigru", layers=1, hidden=8, lr=0.01, dropout=0.0)


def sequences(n: int, seed: int, scale: float = 1.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(scale * rng.standard_normal((40, 4))).astype(np.float32) for _ in range(n)]


def fitted(reference: str, train, devel) -> AutoEncoderRE:
    ctx = FitContext(device=torch.device("cpu"), seed=0, settings=SETTINGS, options={"reference": reference},
                     budget=TrainingBudget(epochs=3, patience=3, window=20, hop=20, batch_size=4))
    est = AutoEncoderRE()
    est.fit(train, devel, ctx)
    return est


@pytest.mark.parametrize("reference", ["train", "devel"])
def test_the_reference_subjects_read_mean_0_sd_1(reference):
    train, devel = sequences(6, 0), sequences(3, 1, scale=2.0)  # devel: harder to reconstruct
    est = fitted(reference, train, devel)
    on_reference = np.concatenate(est.difficulty(train if reference == "train" else devel))
    assert on_reference.mean() == pytest.approx(0.0, abs=1e-5)
    assert on_reference.std() == pytest.approx(1.0, abs=1e-4)
    other = np.concatenate(est.difficulty(devel if reference == "train" else train))
    # the harder devel subjects read high against train, train reads low against devel
    assert (other.mean() > 0.5) if reference == "train" else (other.mean() < -0.5)


def test_devel_reference_without_devel_subjects_falls_back_to_train():
    train = sequences(6, 0)
    est = fitted("devel", train, [])
    assert np.concatenate(est.difficulty(train)).mean() == pytest.approx(0.0, abs=1e-5)


def test_a_loaded_estimator_keeps_its_scale():
    train, devel = sequences(6, 0), sequences(3, 1, scale=2.0)
    est = fitted("devel", train, devel)
    loaded = AutoEncoderRE.load(*est.state(), torch.device("cpu"))
    for a, b in zip(est.difficulty(devel), loaded.difficulty(devel), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
