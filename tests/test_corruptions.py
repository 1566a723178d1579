"""Built-in corruptions: level 0 is the identity, a seed fixes the result, each level means what it says."""

from __future__ import annotations

import numpy as np
import pytest

from musefuse.core.interfaces import Corruption
from musefuse.core.plugin_host import PluginHost
from musefuse.plugins.corruptions import Gaussian, Shift, check_level, stretches

NAMES = ["gaussian", "dropout", "occlusion", "masking", "shift", "splice"]


def corruption(name: str) -> Corruption:
    return PluginHost(third_party=False).corruption(name)()


def features(t: int = 120, d: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((t, d)).astype(np.float32)
    x[[5, 6, 40]] = np.nan  # missing frames, as the data layer gives them
    return x


POOL = [features(90, seed=1), features(150, seed=2)]


def test_every_builtin_is_registered():
    host = PluginHost(third_party=False)
    assert set(NAMES) <= {e.name for e in host.entries("corruption")}


@pytest.mark.parametrize("name", NAMES)
def test_level_zero_is_the_identity(name):
    x = features()
    y, mask = corruption(name).apply(x, 0.0, np.random.default_rng(3), POOL)
    np.testing.assert_array_equal(y, x)  # NaN rows compare equal
    assert y is not x and y.dtype == np.float32
    assert mask.dtype == bool and mask.shape == (len(x),) and not mask.any()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("level", [0.3, 1.0])
def test_same_seed_same_corruption_and_input_untouched(name, level):
    x = features()
    before = x.copy()
    a, ma = corruption(name).apply(x, level, np.random.default_rng(7), POOL)
    b, mb = corruption(name).apply(x, level, np.random.default_rng(7), POOL)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ma, mb)
    np.testing.assert_array_equal(x, before)
    assert a.shape == x.shape and a.dtype == np.float32 and ma.shape == (len(x),) and ma.any()
    if name != "shift":  # shift's only randomness is its direction
        c, _ = corruption(name).apply(x, level if level < 1 else 0.6, np.random.default_rng(8), POOL)
        assert not np.array_equal(np.nan_to_num(a, nan=9), np.nan_to_num(c, nan=9))


def test_levels_out_of_range_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_level(1.5)
    with pytest.raises(ValueError):
        corruption("occlusion").apply(features(), -0.1, np.random.default_rng(0), POOL)


@pytest.mark.parametrize("share", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_stretches_cover_exactly_the_share(share):
    mask = stretches(np.random.default_rng(0), 600, share)
    assert mask.sum() == round(600 * share)
    if 0 < share < 1:
        runs = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])) == 1)
        assert len(runs) < mask.sum()  # contiguous stretches, not scattered frames


def test_gaussian_reaches_its_target_snr():
    x = np.random.default_rng(0).standard_normal((4000, 32)).astype(np.float32)
    for level in (0.25, 0.5, 1.0):
        y, mask = corruption("gaussian").apply(x, level, np.random.default_rng(1), [])
        snr = 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))
        assert snr == pytest.approx(Gaussian.snr_db(level), abs=0.1) and mask.all()


def test_dropout_sets_frames_missing():
    x = features()
    y, mask = corruption("dropout").apply(x, 0.5, np.random.default_rng(0), [])
    missing = np.isnan(y).all(axis=1)
    assert missing.sum() >= 60 and np.array_equal(mask, missing & ~np.isnan(x).all(axis=1))
    y, _ = corruption("dropout").apply(x, 1.0, np.random.default_rng(0), [])
    assert np.isnan(y).all()


def test_occlusion_is_off_manifold_in_stretches():
    x = features()
    y, mask = corruption("occlusion").apply(x, 0.5, np.random.default_rng(0), [])
    assert mask.sum() == 60
    assert np.allclose(np.abs(y[mask]), 3.0, atol=0.3)  # ±3 standardised units, a little jitter
    np.testing.assert_array_equal(y[~mask], x[~mask])


def test_masking_zeroes_a_share_of_dimensions():
    x = features()
    y, _ = corruption("masking").apply(x, 0.25, np.random.default_rng(0), [])
    present = ~np.isnan(x).all(axis=1)
    zeroed = (y[present] == 0).all(axis=0)
    assert zeroed.sum() == 4
    np.testing.assert_array_equal(y[present][:, ~zeroed], x[present][:, ~zeroed])


def test_shift_moves_features_in_time():
    x = np.arange(100, dtype=np.float32)[:, None].repeat(3, axis=1)
    y, mask = corruption("shift").apply(x, 0.5, np.random.default_rng(0), [])
    k = round(0.5 * Shift.max_frames)
    valid = ~np.isnan(y).all(axis=1)
    assert valid.sum() == 100 - k and mask.all()
    assert np.all(np.abs(y[valid, 0] - np.arange(100)[valid]) == k)


def test_splice_copies_real_frames_from_the_pool():
    x = features()
    y, mask = corruption("splice").apply(x, 0.4, np.random.default_rng(0), POOL)
    assert mask.sum() == 48
    donors = np.concatenate(POOL)
    for row in y[mask]:
        if not np.isnan(row).all():
            assert (np.abs(donors - row).max(axis=1) == 0).any()  # on-manifold: a real frame
    np.testing.assert_array_equal(y[~mask], x[~mask])
    y, mask = corruption("splice").apply(x, 0.4, np.random.default_rng(0), [])  # no pool: another time
    assert mask.sum() == 48 and not np.array_equal(np.nan_to_num(y), np.nan_to_num(x))
