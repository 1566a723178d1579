"""The training loop: windows, masking, learning, best-epoch restore, determinism, inference."""

import numpy as np
import pytest
import torch

from musefuse.core.interfaces import FitContext, ModelSettings, TrainingBudget
from musefuse.core.learning.metrics import ccc
from musefuse.core.learning.models import SequenceModel
from musefuse.core.learning.training import fit_sequence_model, pad, predict_sequences, sequence_loss, windows

SETTINGS = ModelSettings(rnn="bigru", layers=1, hidden=8, lr=0.01, dropout=0.0)


def toy(n: int, seed: int, lengths=(30, 60)) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Sequences whose label is tanh of a smoothed feature: trivially learnable."""
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((int(rng.integers(*lengths)), 3)).astype(np.float32) for _ in range(n)]
    ys = [np.tanh(2 * x[:, 0]).astype(np.float32) for x in xs]
    return xs, ys


def ctx(**kw) -> FitContext:
    """A FitContext with a small budget; budget fields (epochs, patience, ...) and others as keywords."""
    budget = {"epochs": 15, "patience": 15, "window": 20, "hop": 10, "batch_size": 8}
    budget.update({k: kw.pop(k) for k in list(kw) if k in TrainingBudget.model_fields})
    return FitContext(**{"device": torch.device("cpu"), "seed": 0, "settings": SETTINGS,
                         "budget": TrainingBudget(**budget), **kw})


def model(out: int = 1, settings: ModelSettings = SETTINGS, **kw) -> SequenceModel:
    torch.manual_seed(0)
    return SequenceModel(3, out, settings, **kw)


def test_windows_cover_and_end_at_the_end():
    assert windows(5, 20, 10) == [(0, 5)]
    assert windows(20, 20, 10) == [(0, 20)]
    assert windows(45, 20, 10) == [(0, 20), (10, 30), (20, 40), (25, 45)]
    assert windows(40, 20, 10)[-1] == (20, 40)


def test_pad():
    x, lengths = pad([np.ones((2, 3)), np.ones((4, 3))])
    assert x.shape == (2, 4, 3) and x.dtype == torch.float32 and lengths.tolist() == [2, 4]
    assert (x[0, 2:] == 0).all()
    y, _ = pad([np.ones(2), np.ones(3)], value=np.nan)
    assert y.shape == (2, 3) and torch.isnan(y[0, 2])


@pytest.mark.parametrize("objective", ["ccc", "mse", "l1"])
def test_loss_ignores_padding_and_nan_labels(objective):
    pred = torch.randn(2, 6, requires_grad=True)
    gold = torch.randn(2, 6)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    gold[0, 1] = np.nan
    ref = sequence_loss(objective, pred, gold, mask)
    junk = gold.clone()
    junk[1, 4:] = 1e6  # padding values never count
    assert sequence_loss(objective, pred, junk, mask).item() == pytest.approx(ref.item(), abs=1e-6)
    ref.backward()
    assert torch.isfinite(ref) and torch.isfinite(pred.grad).all()
    assert pred.grad[0, 1] == 0 and (pred.grad[1, 4:] == 0).all()


def test_learns_a_trivial_task_and_restores_the_best_epoch():
    tx, ty = toy(12, 0)
    dx, dy = toy(4, 1)
    dy[0][:5] = np.nan  # unlabelled devel frames are simply not scored
    ty[1][3:9] = np.nan  # nor trained on
    seen = []
    m = model()
    result = fit_sequence_model(m, tx, ty, dx, dy, ctx(progress=lambda e, s: seen.append((e, s))))
    assert result.best_score > 0.8
    assert result.best_score == max(h["devel_ccc"] for h in result.history)
    assert seen == [(h["epoch"], h["devel_ccc"]) for h in result.history]
    # the restored weights are the best epoch's: recomputing the devel score gives the same number
    preds = predict_sequences(m, dx, torch.device("cpu"))
    assert [p.shape for p in preds] == [(len(x),) for x in dx]
    recomputed = ccc(np.concatenate(preds), np.concatenate(dy))
    assert recomputed == pytest.approx(result.best_score, abs=1e-5)
    assert result.steps_per_second > 0 and result.epochs_run == len(result.history)


def test_early_stopping_and_loss_selection():
    tx, ty = toy(6, 0)
    dx, dy = toy(3, 1)
    r = fit_sequence_model(model(), tx, ty, dx, dy, ctx(epochs=30, patience=2), select="loss", objective="mse")
    assert r.epochs_run <= 30
    assert r.best_score == min(h["devel_loss"] for h in r.history)
    assert r.epochs_run == 30 or r.epochs_run == r.best_epoch + 2


def test_same_seed_same_weights_with_dropout_and_noise():
    tx, ty = toy(6, 0)
    dx, dy = toy(2, 1)
    settings = SETTINGS.model_copy(update={"layers": 2, "dropout": 0.2})
    states = []
    for _ in range(2):
        m = model(settings=settings)
        fit_sequence_model(m, tx, ty, dx, dy, ctx(epochs=3, settings=settings), input_noise=0.1)
        states.append(m.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def test_multi_output_auto_encoder_with_bottleneck():
    tx, _ = toy(6, 0)
    dx, _ = toy(2, 1)
    m = model(out=3, bottleneck=2)
    r = fit_sequence_model(m, tx, tx, dx, dx, ctx(epochs=3), objective="mse", select="loss", input_noise=0.1)
    assert np.isfinite(r.best_score) and r.best_score == min(h["devel_loss"] for h in r.history)
    preds = predict_sequences(m, dx, "cpu", batch_size=1)
    assert [p.shape for p in preds] == [x.shape for x in dx]


def test_no_devel_labels_selects_on_training_loss():
    tx, ty = toy(4, 0)
    dx, dy = toy(2, 1)
    r = fit_sequence_model(model(), tx, ty, dx, [np.full_like(y, np.nan) for y in dy], ctx(epochs=2))
    assert r.best_score == min(h["train_loss"] for h in r.history)
    r = fit_sequence_model(model(), tx, ty, [], [], ctx(epochs=2))
    assert r.epochs_run == 2


def test_predict_matches_alone_and_batched():
    m = model().eval()
    xs, _ = toy(5, 3, lengths=(5, 40))
    together = predict_sequences(m, xs, "cpu")
    for x, p in zip(xs, together, strict=True):
        np.testing.assert_allclose(predict_sequences(m, [x], "cpu")[0], p, atol=1e-5)


def test_empty_sequences_and_bad_labels():
    m = model()
    xs = [np.zeros((0, 3), np.float32), np.ones((4, 3), np.float32)]
    preds = predict_sequences(m, xs, "cpu")
    assert [p.shape for p in preds] == [(0,), (4,)]
    tx, ty = toy(3, 0)
    with pytest.raises(ValueError, match="same length"):
        fit_sequence_model(m, tx, [y[:-1] for y in ty], [], [], ctx())
    with pytest.raises(ValueError, match="outputs"):
        fit_sequence_model(model(out=2), tx, ty, [], [], ctx())


def test_best_epoch_weights_are_restored_not_the_last():
    tx, ty = toy(12, 0)
    dx, dy = toy(4, 1)
    dy = [-y for y in dy]  # devel disagrees with train: the better the fit, the worse the devel score
    m = model()
    r = fit_sequence_model(m, tx, ty, dx, dy, ctx(epochs=8, patience=3))
    assert r.best_epoch < r.epochs_run
    assert r.history[-1]["devel_ccc"] < r.best_score
    recomputed = ccc(np.concatenate(predict_sequences(m, dx, "cpu")), np.concatenate(dy))
    assert recomputed == pytest.approx(r.best_score, abs=1e-5)


def test_a_diverged_model_is_reported_not_raised():
    tx, ty = toy(3, 0)
    dx, dy = toy(2, 1)
    m = model()
    with torch.no_grad():
        m.head.bias.fill_(float("nan"))
    r = fit_sequence_model(m, tx, ty, dx, dy, ctx(epochs=2, patience=5))
    assert r.best_epoch == 0 and np.isnan(r.best_score) and r.epochs_run == 2


def test_plateau_schedule_halves_lr_after_epochs_without_improvement():
    tx, ty = toy(12, 0)
    dx, dy = toy(4, 1)
    dy = [-y for y in dy]  # devel gets worse as the model learns: plateaus from the first epochs
    r = fit_sequence_model(model(), tx, ty, dx, dy, ctx(epochs=12, patience=6, lr_schedule="plateau"))
    lr, bad, best = SETTINGS.lr, 0, -np.inf
    for h in r.history:  # patience 6 -> halve after every 2 epochs without a new best, stop after 6
        assert h["lr"] == pytest.approx(lr)
        if h["devel_ccc"] > best:
            best, bad = h["devel_ccc"], 0
        else:
            bad += 1
            if bad % 2 == 0:
                lr /= 2
    assert min(h["lr"] for h in r.history) < SETTINGS.lr  # the schedule did act
    assert r.epochs_run == 12 or r.epochs_run == r.best_epoch + 6


def test_plain_patience_keeps_the_learning_rate():
    tx, ty = toy(6, 0)
    dx, dy = toy(3, 1)
    r = fit_sequence_model(model(), tx, ty, dx, [-y for y in dy], ctx(epochs=6, patience=6))
    assert {h["lr"] for h in r.history} == {SETTINGS.lr}


def test_gradient_reversal_flips_and_scales_the_gradient_and_leaves_the_forward_pass():
    from musefuse.core.learning.adversary import _Reverse

    x = torch.randn(4, 3, requires_grad=True)
    y = _Reverse.apply(x, 0.3)
    assert torch.equal(y, x)
    y.sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, -0.3))


def test_subject_adversarial_training_changes_the_fit_and_nothing_of_the_checkpoint():
    tx, ty = toy(8, 0)
    dx, dy = toy(3, 1)
    plain, same, adversarial = model(), model(), model()
    fit_sequence_model(plain, tx, ty, dx, dy, ctx(epochs=4))
    fit_sequence_model(same, tx, ty, dx, dy, ctx(epochs=4), adversary=0.0)
    result = fit_sequence_model(adversarial, tx, ty, dx, dy, ctx(epochs=4), adversary=0.3)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), same.state_dict().values(),
                                                  strict=True))  # weight 0: exactly the plain fit
    assert plain.state_dict().keys() == adversarial.state_dict().keys()  # the classifier is not saved
    assert any(not torch.equal(a, b) for a, b in zip(plain.state_dict().values(),
                                                     adversarial.state_dict().values(), strict=True))
    assert np.isfinite(result.best_score)
    assert all(np.isfinite(p).all() for p in predict_sequences(adversarial, dx, torch.device("cpu")))
