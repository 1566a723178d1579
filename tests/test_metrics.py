"""CCC, Pearson, RMSE: the estimator is pinned, the torch loss and the numpy metric agree."""

import doctest

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import musefuse.core.learning.metrics as metrics
from musefuse.core.learning.metrics import Moments, ccc, ccc_loss, partition_scores, pearson, rmse

finite = st.floats(-100, 100, allow_nan=False, width=64)
series = arrays(np.float64, st.integers(2, 50), elements=finite)


def pairs(min_size: int = 2):
    """Two equally long float64 series."""
    return st.integers(min_size, 50).flatmap(
        lambda n: st.tuples(arrays(np.float64, n, elements=finite), arrays(np.float64, n, elements=finite))
    )


def test_doctests():
    assert doctest.testmod(metrics).failed == 0


def test_ccc_pinned_to_population_estimator():
    # x = [1, 2, 3, 4], y = [2, 2, 4, 5]: mean 2.5 and 3.25; with 1/N:
    # var x = (2.25 + .25 + .25 + 2.25) / 4 = 1.25; var y = (1.5625 + 1.5625 + .5625 + 3.0625) / 4 = 1.6875
    # cov = (-1.5·-1.25 + -0.5·-1.25 + 0.5·0.75 + 1.5·1.75) / 4 = (1.875 + .625 + .375 + 2.625) / 4 = 1.375
    # CCC = 2·1.375 / (1.25 + 1.6875 + 0.5625) = 2.75 / 3.5 = 11/14
    x, y = np.array([1.0, 2, 3, 4]), np.array([2.0, 2, 4, 5])
    assert ccc(x, y) == pytest.approx(11 / 14, abs=1e-12)
    # the unbiased (1/(N−1)) estimator would give 2·(11/6) / (5/3 + 9/4 + 0.5625) ≠ 11/14
    assert ccc(x, y) != pytest.approx(2 * (11 / 6) / (5 / 3 + 9 / 4 + 0.5625), abs=1e-3)
    t = torch.tensor([[1.0, 2, 3, 4]]), torch.tensor([[2.0, 2, 4, 5]])
    assert float(ccc_loss(*t)) == pytest.approx(1 - 11 / 14, abs=1e-6)


@given(series)
def test_ccc_of_identical_is_one(y):
    assert ccc(y, y) == pytest.approx(1.0)


@given(pairs())
def test_ccc_symmetric_and_bounded(xy):
    x, y = xy
    c = ccc(x, y)
    assert np.isfinite(c) and -1 - 1e-9 <= c <= 1 + 1e-9
    assert c == pytest.approx(ccc(y, x), abs=1e-9)


@given(
    arrays(np.float64, st.integers(3, 50), elements=st.floats(-10, 10, width=64)).filter(lambda y: y.std() > 0.1),
    st.floats(0.2, 5),
    st.floats(-5, 5),
)
def test_affine_maps_lower_ccc_but_not_pearson(y, a, b):
    if abs(a - 1) < 1e-3 and abs(b) < 1e-3:
        return  # the identity
    assert ccc(a * y + b, y) < 1 - 1e-9
    assert pearson(a * y + b, y) == pytest.approx(1.0)


@given(st.floats(-5, 5), st.floats(-5, 5), st.integers(1, 20), series)
def test_constant_inputs_never_nan(c1, c2, n, y):
    const1, const2 = np.full(n, c1), np.full(n, c2)
    assert ccc(const1, const1) == 1.0  # exact agreement
    assert ccc(const1, const2) == (1.0 if c1 == c2 else 0.0)
    assert ccc(np.full(len(y), c1), y) in (0.0, 1.0)  # 1.0 only if y is that same constant
    assert pearson(np.full(len(y), c1), y) == 0.0


@given(st.integers(-20, 20), st.integers(-20, 20), st.integers(1, 20))
def test_constant_inputs_torch_loss(k1, k2, n):
    c1, c2 = k1 / 4, k2 / 4  # exact in float32
    pred = torch.full((1, n), c1, requires_grad=True)
    loss = ccc_loss(pred, torch.full((1, n), c2))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    expected = 0.0 if c1 == c2 else 1.0 - metrics.EPS / ((c1 - c2) ** 2 + metrics.EPS)
    assert loss.item() == pytest.approx(expected, abs=1e-7)


@given(pairs(min_size=3))
@settings(deadline=None)
def test_torch_loss_equals_one_minus_metric(xy):
    x, y = (np.tanh(v / 30).astype(np.float32) for v in xy)  # label-like values
    den = x.var() + y.var() + (x.mean() - y.mean()) ** 2
    assume(den >= 1e-3)  # below that, EPS (documented) dominates the difference
    loss = ccc_loss(torch.from_numpy(x)[None], torch.from_numpy(y)[None])
    assert float(loss) == pytest.approx(1 - ccc(x, y), abs=1e-5)


def test_torch_loss_equals_one_minus_metric_on_random_data():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.standard_normal((2, int(rng.integers(2, 2000)))).astype(np.float32)
        y = 0.5 * x + y if rng.random() < 0.5 else y
        loss = ccc_loss(torch.from_numpy(x)[None], torch.from_numpy(y)[None])
        assert float(loss) == pytest.approx(1 - ccc(x, y), abs=1e-5)


def test_loss_over_batch_is_ccc_of_concatenation_and_ignores_padding_and_nan():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 30)), rng.standard_normal((2, 20))  # (pred, gold) of two sequences
    b[1, 3] = np.nan  # an unlabelled frame
    expected = 1 - ccc(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]))
    pred, gold = torch.zeros(2, 40), torch.full((2, 40), 123.0)  # junk in the padding
    pred[:, 30:] = 77.0
    pred[0, :30], gold[0, :30] = torch.tensor(a[0]), torch.tensor(a[1])
    pred[1, :20], gold[1, :20] = torch.tensor(b[0]), torch.tensor(b[1])
    mask = torch.arange(40)[None] < torch.tensor([30, 20])[:, None]
    pred.requires_grad_(True)
    loss = ccc_loss(pred, gold, mask)
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    assert (pred.grad[1, 20:] == 0).all() and pred.grad[1, 3] == 0


def test_multi_output_loss_is_mean_over_outputs():
    rng = np.random.default_rng(1)
    p, g = rng.standard_normal((2, 50, 3)).astype(np.float32)
    expected = 1 - np.mean([ccc(p[:, c], g[:, c]) for c in range(3)])
    loss = ccc_loss(torch.tensor(p[None]), torch.tensor(g[None]), torch.ones(1, 50, dtype=torch.bool))
    assert float(loss) == pytest.approx(expected, abs=1e-5)


@given(pairs(), st.integers(1, 49))
def test_streaming_matches_one_shot(xy, cut):
    x, y = xy
    cut = min(cut, len(x) - 1)
    m = Moments().update(x[:cut], y[:cut]).merge(Moments().update(x[cut:], y[cut:]))
    assert m.ccc() == pytest.approx(ccc(x, y), abs=1e-9)
    assert m.pearson() == pytest.approx(pearson(x, y), abs=1e-9)
    assert m.rmse() == pytest.approx(rmse(x, y), rel=1e-9, abs=1e-12)


def test_rmse_and_nan_gold_excluded():
    assert rmse(np.array([1.0, 2, 3]), np.array([1.0, 4, np.nan])) == pytest.approx(np.sqrt(2.0))
    with pytest.raises(ValueError, match="No labelled frame"):
        ccc(np.array([1.0]), np.array([np.nan]))
    with pytest.raises(ValueError, match="NaN or inf"):
        ccc(np.array([np.nan, 1.0]), np.array([1.0, 2.0]))


def test_partition_scores():
    rng = np.random.default_rng(2)
    golds = [rng.standard_normal(40), rng.standard_normal(30), np.full(10, np.nan)]
    preds = [g + 0.5 * rng.standard_normal(len(g)) for g in golds[:2]] + [np.zeros(10)]
    s = partition_scores(preds, golds)
    assert s["ccc"] == pytest.approx(ccc(np.concatenate(preds), np.concatenate(golds)))
    assert s["ccc_per_subject_mean"] == pytest.approx(np.mean([ccc(preds[0], golds[0]), ccc(preds[1], golds[1])]))
    assert s["n_frames"] == 70 and s["n_sequences"] == 2
    assert s["pearson"] is not None and s["rmse"] is not None
    unscored = partition_scores([np.zeros(5)], [np.full(5, np.nan)])
    assert unscored["ccc"] is None and unscored["n_frames"] == 0
