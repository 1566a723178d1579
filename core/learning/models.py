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
        B, T, _ = x.shape
        if lengths is None or bool((lengths >= T).all()):
            h, _ = self.rnn(x)  # (B, T, width); no padding, so packing would only cost time
            return self._out(h)
        lengths = lengths.to("cpu", torch.int64)  # pack_padded_sequence wants lengths on the CPU
        # Packing makes the backward direction start at each sequence's own last step, so padding
        # never leaks into a bidirectional state.
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        h, _ = self.rnn(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=T)  # (B, T, width), 0 at padding
        valid = torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None]  # (B, T)
        return self._out(h) * valid.unsqueeze(-1).to(h.dtype)  # the head's bias must not leak either

    def _out(self, h: torch.Tensor) -> torch.Tensor:
        """(B, T, width) -> (B, T, output_dim)."""
        if self.bottleneck is not None:
            h = self.bottleneck(h)  # (B, T, bottleneck)
        return self.head(h)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def model_meta(model: SequenceModel) -> dict[str, Any]:
    """JSON-serialisable constructor arguments; :func:`model_from_meta` rebuilds the model."""
    return {
        "input_dim": model.input_dim,
        "output_dim": model.output_dim,
        "settings": model.settings.model_dump(),
        "bottleneck": model.bottleneck_dim,
    }


def model_from_meta(meta: dict[str, Any]) -> SequenceModel:
    """A freshly initialised model from :func:`model_meta`'s output (load the tensors after)."""
    return SequenceModel(
        int(meta["input_dim"]),
        int(meta["output_dim"]),
        ModelSettings.model_validate(meta["settings"]),
        bottleneck=meta.get("bottleneck"),
    )


def model_from_checkpoint(tensors: dict[str, torch.Tensor], meta: dict[str, Any], device: Any) -> SequenceModel:
    """A model rebuilt from :func:`model_meta` and its saved tensors, on ``device``, in eval mode."""
    model = model_from_meta(meta)
    model.load_state_dict(tensors)
    return model.to(device).eval()
