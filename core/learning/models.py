"""The one sequence-model family of the paper: N recurrent layers, then a feed-forward layer.

It serves the auto-encoder (output = input width, optionally through a narrow bottleneck), the
unimodal regressor (output 1) and the late-fusion model (output 1). Checkpoints are safetensors
tensors plus :func:`model_meta`'s JSON; :func:`model_from_meta` rebuilds the module without pickle.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from musefuse.core.errors import RunFolderError
from musefuse.core.interfaces import ModelSettings

_CELLS = {"gru": nn.GRU, "bigru": nn.GRU, "lstm": nn.LSTM, "bilstm": nn.LSTM}


class SequenceModel(nn.Module):
    """Recurrent layers (GRU/LSTM, uni- or bidirectional) then a per-step linear output layer."""

    def __init__(self, input_dim: int, output_dim: int, settings: ModelSettings, bottleneck: int | None = None) -> None:
        super().__init__()
        self.input_dim, self.output_dim = input_dim, output_dim
        self.settings, self.bottleneck_dim = settings, bottleneck
        bidirectional = settings.rnn.startswith("bi")
        self.rnn = _CELLS[settings.rnn](
            input_dim,
            settings.hidden,  # units per direction
            num_layers=settings.layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=settings.dropout if settings.layers > 1 else 0.0,  # between layers only
        )
        width = settings.hidden * (2 if bidirectional else 1)
        # An auto-encoder's 128-wide BiGRU state could simply copy a 17-wide input; a narrow linear
        # layer caps the rank of what reaches the output, so reconstruction has to generalise.
        self.bottleneck = nn.Linear(width, bottleneck) if bottleneck else None
        self.head = nn.Linear(bottleneck or width, output_dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, input_dim), lengths (B,) -> (B, T, output_dim); zero at padded steps."""
        return self.head_of(*self.states(x, lengths))

    def states(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The recurrent states (B, T, width), zero at padded steps, and the (B, T) mask of valid steps (None: all
        are). What the output layer reads; a subject adversary reads it too (training.py)."""
        B, T, _ = x.shape
        if lengths is None or bool((lengths >= T).all()):
            h, _ = self.rnn(x)  # (B, T, width); no padding, so packing would only cost time
            return h, None
        lengths = lengths.to("cpu", torch.int64)  # pack_padded_sequence wants lengths on the CPU
        # Packing makes the backward direction start at each sequence's own last step, so padding
        # never leaks into a bidirectional state.
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        h, _ = self.rnn(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=T)  # (B, T, width), 0 at padding
        return h, torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None]  # (B, T)

    def head_of(self, h: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        """The output (B, T, output_dim) of :meth:`states`; zero at padded steps (the head's bias must not leak)."""
        out = self._out(h)
        return out if valid is None else out * valid.unsqueeze(-1).to(h.dtype)

    def _out(self, h: torch.Tensor) -> torch.Tensor:
        """(B, T, width) -> (B, T, output_dim)."""
        if self.bottleneck is not None:
            h = self.bottleneck(h)  # (B, T, bottleneck)
        return self.head(h)


def seeded_model(input_dim: int, output_dim: int, settings: ModelSettings, seed: int,
                 signal_inputs: int = 0) -> SequenceModel:
    """A freshly initialised model whose last ``signal_inputs`` inputs are a difficulty signal.

    The weights of the first ``input_dim - signal_inputs`` inputs, and every other weight, are exactly
    those a model without the signal gets from ``seed``; only the signal's input weights come from a
    seed of their own (same distribution as the default initialisation). So a pipeline with and one
    without the difficulty signal start from the same network, and an ablation of the signal compares
    like with like rather than two draws of the initialisation (whose spread alone is a few hundredths
    of CCC at three seeds).
    """
    base_dim = input_dim - signal_inputs
    torch.manual_seed(seed)
    base = SequenceModel(base_dim, output_dim, settings)
    if signal_inputs == 0:
        return base
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed ^ 0x5EED)
        model = SequenceModel(input_dim, output_dim, settings)
    with torch.no_grad():
        wide = dict(model.named_parameters())
        for name, p in base.named_parameters():
            if p.shape == wide[name].shape:
                wide[name].copy_(p)
            else:  # the first layer's input weights: the signal's columns come last
                wide[name][..., :base_dim] = p
    return model


def model_meta(model: SequenceModel) -> dict[str, Any]:
    """JSON-serialisable constructor arguments; :func:`model_from_meta` rebuilds the model."""
    return {
        "input_dim": model.input_dim,
        "output_dim": model.output_dim,
        "settings": model.settings.model_dump(),
        "bottleneck": model.bottleneck_dim,
    }


def model_from_meta(meta: dict[str, Any]) -> SequenceModel:
    """A freshly initialised model from :func:`model_meta`'s output (load the tensors after).

    Metadata that is not what :func:`model_meta` writes is a :class:`RunFolderError` saying what is wrong.
    """
    if not isinstance(meta, dict):
        raise RunFolderError(f"model metadata must be a JSON object, not {type(meta).__name__}.")
    missing = [k for k in ("input_dim", "output_dim", "settings") if k not in meta]
    if missing:
        raise RunFolderError(f"model metadata lacks {', '.join(repr(k) for k in missing)}.")
    try:
        dims = [int(meta["input_dim"]), int(meta["output_dim"])]
        bottleneck = None if meta.get("bottleneck") is None else int(meta["bottleneck"])
        settings = ModelSettings.model_validate(meta["settings"])
    except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise RunFolderError(f"model metadata is invalid ({str(exc).splitlines()[0]}).") from None
    if min(dims) < 1 or (bottleneck is not None and bottleneck < 1):
        raise RunFolderError(f"model metadata has a width below 1 (input {dims[0]}, output {dims[1]}).")
    return SequenceModel(dims[0], dims[1], settings, bottleneck=bottleneck)


def model_from_checkpoint(tensors: dict[str, torch.Tensor], meta: dict[str, Any], device: Any) -> SequenceModel:
    """A model rebuilt from :func:`model_meta` and its saved tensors, on ``device``, in eval mode.

    Tensors that do not fit the metadata (missing, extra, another shape) are a :class:`RunFolderError`.
    """
    model = model_from_meta(meta)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = [f"{k} {tuple(tensors[k].shape)} (expected {tuple(v.shape)})" for k, v in expected.items()
             if k in tensors and tuple(tensors[k].shape) != tuple(v.shape)]
    if missing or extra or wrong:
        parts = [f"missing {', '.join(missing[:3])}"] if missing else []
        parts += [f"unexpected {', '.join(extra[:3])}"] if extra else []
        parts += [f"shape of {', '.join(wrong[:2])}"] if wrong else []
        raise RunFolderError(f"the tensors do not match the model metadata: {'; '.join(parts)}.")
    model.load_state_dict(tensors)
    return model.to(device).eval()
