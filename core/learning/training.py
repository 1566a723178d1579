"""The one training loop, shared by the auto-encoder, the regressors and the fuser.

Example (a regressor on toy data)::

    from musefuse.core.interfaces import FitContext, ModelSettings
    settings = ModelSettings(layers=1, hidden=16)
    model = SequenceModel(input_dim=4, output_dim=1, settings=settings)
    ctx = FitContext(device=torch.device("cpu"), seed=0, settings=settings, budget=TrainingBudget(epochs=20))
    result = fit_sequence_model(model, train_x, train_y, devel_x, devel_y, ctx)
    preds = predict_sequences(model, devel_x, ctx.device)

Training data are cut into windows once, padded into one tensor and moved to the device once;
every epoch then only shuffles indices (a seeded ``torch.Generator``) and slices that tensor, so
the hot path does no per-sample Python work and no host-device copies.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from musefuse.core.interfaces import FitContext
from musefuse.core.learning.adversary import SubjectAdversary
from musefuse.core.learning.metrics import ccc as ccc_metric
from musefuse.core.learning.metrics import ccc_loss
from musefuse.core.learning.models import SequenceModel

Objective = Literal["ccc", "mse", "l1"]
GRAD_CLIP = 1.0  # 1 − CCC divides by batch variances: a near-flat batch gives huge gradients
EVAL_FRAMES = 1 << 16  # devel/inference chunk size, in padded frames: bounds activation memory


@dataclass
class FitResult:
    """What fitting did: the selected epoch, its devel score, and the per-epoch history."""

    best_epoch: int  # 1-based; 0 when no epoch had a finite score (the last weights are kept)
    best_score: float  # devel CCC (higher is better) or devel loss (lower is better), per `select`
    epochs_run: int
    # one dict per epoch: epoch, train_loss, lr, seconds, and devel_ccc, devel_loss when devel has labels
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    steps_per_second: float = 0.0  # optimizer steps per second of training (evaluation excluded)
    frames_per_second: float = 0.0  # training time steps (frames) per second (evaluation excluded)


def pad(xs: Sequence[np.ndarray], value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad sequences (T_i, ...) into (B, T_max, ...) float32 plus their lengths (B,) int64 on the CPU."""
    lengths = torch.tensor([len(x) for x in xs], dtype=torch.int64)
    t_max = int(lengths.max()) if len(xs) else 0
    rest = np.asarray(xs[0]).shape[1:] if len(xs) else ()
    out = np.full((len(xs), t_max, *rest), value, dtype=np.float32)
    for i, x in enumerate(xs):
        out[i, : len(x)] = x
    return torch.from_numpy(out), lengths


def windows(length: int, window: int, hop: int) -> list[tuple[int, int]]:
    """(start, end) frame ranges covering ``range(length)``: every ``hop`` frames, the last ending at ``length``.

    A sequence no longer than ``window`` gives one window, the whole sequence. MuSe 2021 baseline
    practice is 100 s windows with a 50 s hop: 200 frames, hop 100 at 2 Hz (the ``paper`` preset).

    >>> windows(450, 200, 100)
    [(0, 200), (100, 300), (200, 400), (250, 450)]
    >>> windows(150, 200, 100)
    [(0, 150)]
    """
    if window < 1 or hop < 1:
        raise ValueError(f"Training windows need window >= 1 and hop >= 1 (got window={window}, hop={hop}).")
    if length <= 0:
        return []
    if length <= window:
        return [(0, length)]
    out = [(s, s + window) for s in range(0, length - window, hop)]
    if out[-1][1] != length:
        out.append((length - window, length))
    return out


def sequence_loss(objective: Objective, pred: torch.Tensor, gold: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The training loss over valid frames: ``mask`` (B, T) True and gold finite; padding never counts."""
    if objective == "ccc":
        return ccc_loss(pred, gold, mask)
    valid = torch.isfinite(gold) & (mask if mask.dim() == gold.dim() else mask.unsqueeze(-1))
    diff = torch.where(valid, pred - torch.where(valid, gold, 0.0), 0.0)  # no NaN in values or grads
    err = diff.abs() if objective == "l1" else diff * diff
    return err.sum() / valid.sum().clamp(min=1)


@dataclass
class _Padded:
    """Sequences padded once into a device tensor, sorted longest first so chunks trim padding."""

    x: torch.Tensor  # (B, T_max, F) on the device
    lengths: torch.Tensor  # (B,) on the CPU, descending
    order: list[int]  # position in the sorted batch -> index of the original sequence

    @classmethod
    def build(cls, xs: Sequence[np.ndarray], device: Any) -> _Padded:
        order = sorted(range(len(xs)), key=lambda i: -len(xs[i]))
        x, lengths = pad([xs[i] for i in order])
        return cls(x.to(device), lengths, order)


@torch.no_grad()
def _predict_padded(model: SequenceModel, data: _Padded) -> list[np.ndarray]:
    """Whole-sequence predictions, (T_i, output_dim) float32, in the original order."""
    was_training = model.training
    model.eval()
    empty = np.zeros((0, model.output_dim), np.float32)
    out: list[np.ndarray] = [empty] * len(data.order)  # empty sequences (sorted last) stay empty
    i, n = 0, int((data.lengths > 0).sum())
    while i < n:
        t = int(data.lengths[i])  # longest in this chunk (sorted)
        j = min(n, i + max(1, EVAL_FRAMES // t))
        y = model(data.x[i:j, :t], data.lengths[i:j]).float().cpu().numpy()  # (b, t, output_dim)
        for k in range(i, j):
            out[data.order[k]] = y[k - i, : int(data.lengths[k])]
        i = j
    model.train(was_training)
    return out


def predict_sequences(
    model: SequenceModel, xs: Sequence[np.ndarray], device: Any, batch_size: int | None = None
) -> list[np.ndarray]:
    """Whole-sequence inference (eval mode, no grad): (T,) per sequence for one output, else (T, F_out).

    ``batch_size`` caps the sequences per forward pass; by default chunks hold about 65k padded frames.
    """
    if not len(xs):
        return []
    model.to(device)
    data = _Padded.build(xs, device)
    if batch_size is None:
        preds = _predict_padded(model, data)
    else:
        preds = []
        for s in range(0, len(xs), batch_size):
            part = _Padded.build(xs[s : s + batch_size], device)
            preds.extend(_predict_padded(model, part))
    return [p[:, 0] if model.output_dim == 1 else p for p in preds]


def fit_sequence_model(
    model: SequenceModel,
    train_x: Sequence[np.ndarray],
    train_y: Sequence[np.ndarray],
    devel_x: Sequence[np.ndarray],
    devel_y: Sequence[np.ndarray],
    ctx: FitContext,
    *,
    objective: Objective | None = None,
    select: Literal["ccc", "loss"] = "ccc",
    input_noise: float = 0.0,
    adversary: float = 0.0,
) -> FitResult:
    """Train ``model`` in place on windows of the train sequences; keep the best devel epoch's weights.

    ``train_y``/``devel_y``: (T,) or (T, F_out) per sequence; NaN marks an unlabelled frame.
    ``objective`` defaults to ``ctx.loss``. ``select='ccc'``: early stopping on devel CCC over the
    concatenation of sequences (MuSe convention; mean over outputs when F_out > 1); ``'loss'``: on the
    mean devel loss, lower is better. With no labelled devel frame, selection falls back to the
    training loss. ``input_noise``: std of Gaussian noise added to training inputs (denoising AE).
    ``adversary`` > 0: subject-adversarial training with that reversal weight (core/learning/adversary.py); each
    train sequence is one subject.
    """
    objective = objective or ctx.loss
    if select not in ("ccc", "loss"):
        raise ValueError(f"select must be 'ccc' or 'loss', not {select!r}.")
    if objective not in ("ccc", "mse", "l1"):
        raise ValueError(f"objective must be 'ccc', 'mse' or 'l1', not {objective!r}.")
    for name, xs, ys in (("train", train_x, train_y), ("devel", devel_x, devel_y)):
        if len(xs) != len(ys) or any(len(x) != len(y) for x, y in zip(xs, ys, strict=False)):
            raise ValueError(f"{name}: every input sequence needs a label sequence of the same length.")
    if not any(len(x) for x in train_x):
        raise ValueError("No training frame.")
    start = time.perf_counter()
    torch.manual_seed(ctx.seed)
    device = torch.device(ctx.device)
    model.to(device).train()
    single = np.asarray(train_y[0]).ndim == 1  # (T,) labels: the model's one output is squeezed
    if single and model.output_dim != 1:
        raise ValueError(f"Labels are (T,) but the model has {model.output_dim} outputs.")

    # Training windows, padded into one tensor, moved to the device once.
    budget = ctx.budget
    cuts = [(i, s, e) for i, x in enumerate(train_x) if len(x) for s, e in windows(len(x), budget.window, budget.hop)]
    wx, lengths = pad([train_x[i][s:e] for i, s, e in cuts])  # (N, W, F), (N,)
    wy, _ = pad([train_y[i][s:e] for i, s, e in cuts], value=np.nan)  # (N, W[, F_out]); NaN = no label
    wx, wy = wx.to(device), wy.to(device)

    devel = _Padded.build(devel_x, device) if len(devel_x) else None
    devel_gold = [np.asarray(y, dtype=np.float32) for y in devel_y]
    devel_scored = any(np.isfinite(y).any() for y in devel_gold)

    adv = None
    if adversary > 0 and len(train_x) > 1:  # only then: a run without it trains exactly as before
        width = model.head.in_features if model.bottleneck is None else model.bottleneck.in_features
        adv = SubjectAdversary(width, len(train_x), adversary).to(device)
        subject = torch.tensor([i for i, _, _ in cuts], device=device)  # (N,) each window's sequence
    trained = model if adv is None else nn.ModuleList([model, adv])  # what the optimiser updates

    lr = ctx.settings.lr
    optimizer = _optimizer(trained, lr, ctx.weight_decay)
    # "plateau": after `plateau` epochs without improvement, go back to the best weights and halve the
    # learning rate instead of drifting on; stopping still needs `patience` epochs without improvement.
    # Devel CCC swings by ±0.1 between epochs at lr 0.005, so plain patience often keeps a lucky epoch 1–3.
    plateau = max(2, ctx.budget.patience // 3) if ctx.budget.lr_schedule == "plateau" else 0
    generator = torch.Generator().manual_seed(ctx.seed)  # CPU generator: same order on any device
    n, bs = wx.shape[0], max(1, ctx.budget.batch_size)
    higher_better = select == "ccc" and devel_scored
    best_score, best_epoch, best_state, bad_epochs = None, 0, None, 0
    history: list[dict[str, Any]] = []
    steps, train_seconds = 0, 0.0

    for epoch in range(1, ctx.budget.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=generator)  # (N,) CPU
        perm_d = perm.to(device)  # one copy per epoch, sliced per batch
        total, seen = torch.zeros((), device=device), 0
        for b in range(0, n, bs):
            idx = perm[b : b + bs]
            t = int(lengths[idx].max())  # trim the batch to its longest window (lengths live on the CPU)
            idx_d = perm_d[b : b + bs]
            xb = wx.index_select(0, idx_d)[:, :t]  # (b, t, F)
            yb = wy.index_select(0, idx_d)[:, :t]  # (b, t) or (b, t, F_out)
            if input_noise > 0:
                xb = xb + input_noise * torch.randn_like(xb)
            h, valid = model.states(xb, lengths[idx])
            out = model.head_of(h, valid)  # (b, t, F_out)
            pred = out[..., 0] if single else out
            mask = torch.isfinite(yb) if single else torch.isfinite(yb).any(-1)  # (b, t)
            loss = sequence_loss(objective, pred, yb, mask)
            optimizer.zero_grad(set_to_none=True)
            if adv is None:
                loss.backward()
            else:
                (loss + adv.loss(h, valid, subject.index_select(0, idx_d))).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            optimizer.step()
            total += loss.detach() * len(idx)
            seen += len(idx)
            steps += 1
        train_loss = float(total) / max(seen, 1)  # one host sync per epoch
        train_seconds += time.perf_counter() - t0

        entry: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "lr": lr}
        if devel is not None and devel_scored:
            entry.update(_evaluate(model, devel, devel_gold, objective, single))
            score = entry["devel_ccc"] if select == "ccc" else entry["devel_loss"]
        else:
            score = train_loss
        entry["seconds"] = time.perf_counter() - t0
        history.append(entry)
        if ctx.progress is not None:
            ctx.progress(epoch, score)

        finite = bool(np.isfinite(score))  # a diverged epoch (NaN) is never selected
        improved = finite and (best_score is None or (score > best_score if higher_better else score < best_score))
        if improved:
            best_score, best_epoch, bad_epochs = score, epoch, 0
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
            if bad_epochs >= ctx.budget.patience:
                break
            if plateau and bad_epochs % plateau == 0 and best_state is not None:
                model.load_state_dict(best_state)
                lr /= 2
                optimizer = _optimizer(trained, lr, ctx.weight_decay)  # fresh moments for the restored weights

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(
        best_epoch=best_epoch,
        best_score=float(best_score) if best_score is not None else float("nan"),
        epochs_run=len(history),
        history=history,
        seconds=time.perf_counter() - start,
        steps_per_second=steps / train_seconds if train_seconds > 0 else 0.0,
        frames_per_second=int(lengths.sum()) * len(history) / train_seconds if train_seconds > 0 else 0.0,
    )


def _optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """Adam; with weight decay, AdamW (Loshchilov & Hutter 2019). Adam's own ``weight_decay`` is an L2 term in
    the gradient, which Adam then divides by the gradient's running magnitude: weights with large gradients
    (the CCC loss gives very uneven ones) would barely decay. AdamW shrinks every weight by lr x weight_decay
    per step, whatever its gradient. Without decay, plain Adam, so runs without it train exactly as before."""
    if weight_decay > 0:
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    return torch.optim.Adam(model.parameters(), lr=lr)


def _evaluate(
    model: SequenceModel, devel: _Padded, gold: list[np.ndarray], objective: Objective, single: bool
) -> dict[str, float]:
    """Devel CCC over the concatenation of sequences, and the objective over all labelled frames."""
    preds = _predict_padded(model, devel)  # (T_i, F_out) each
    p = np.concatenate([x[:, 0] if single else x for x in preds], axis=0)  # (ΣT,) or (ΣT, F_out)
    g = np.concatenate(gold, axis=0)
    if not np.isfinite(p).all():  # diverged: no score rather than an exception mid-run
        return {"devel_ccc": float("nan"), "devel_loss": float("nan")}
    if single:
        score = ccc_metric(p, g)
    else:  # mean over outputs that have a label
        cols = [c for c in range(g.shape[1]) if np.isfinite(g[:, c]).any()]
        score = float(np.mean([ccc_metric(p[:, c], g[:, c]) for c in cols]))
    pt, gt = torch.from_numpy(p)[None], torch.from_numpy(g)[None]  # (1, ΣT[, F_out])
    mask = torch.ones(pt.shape[:2], dtype=torch.bool)
    loss = float(sequence_loss(objective, pt, gt, mask))
    return {"devel_ccc": score, "devel_loss": loss}


__all__ = ["FitResult", "fit_sequence_model", "predict_sequences", "pad", "windows", "sequence_loss"]
