"""The paper's ablations (Tables 1–8) as experiments: trials, and the table each one prints.

- ``rnn``    Tables 1–2: LSTM, BiLSTM, GRU, BiGRU per modality and target, features only.
- ``loss``   Tables 3–4: MSE, L1 and CCC (1 − CCC) losses, features only.
- ``re``     Tables 5–6: each modality's regressor without and with its RE appended.
- ``fusion`` Tables 7–8: late fusion over modality combinations, without and with the REs in the
  fuser's input. The combinations are the first two modalities, then those two plus each other
  one (the paper: egemaps+vggface, +bert, +deepspectrum, +fau).

Every trial is a complete run configuration, so the models are the very ones ``musefuse run``
trains with those settings (same task keys): the no-RE BiGRU of ``ablate rnn`` *is* the CCC column
of ``ablate loss`` and the left column of ``ablate re``, and ``ablate fusion`` finds all its
regressors in the store after ``ablate re`` on the same ``--modalities``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from musefuse.core.config import RunConfig, updated
from musefuse.core.errors import ConfigError
from musefuse.lab.experiments import Trial
from musefuse.lab.experiments.tables import PaperTable, paper_table

KINDS = ("rnn", "loss", "re", "fusion")
RNNS = {"lstm": "LSTM", "bilstm": "BiLSTM", "gru": "GRU", "bigru": "BiGRU"}
LOSSES = {"mse": "MSE", "l1": "L1", "ccc": "CCC"}
RE_LABELS = {False: "features only", True: "features + RE"}
FUSION_LABELS = {False: "fusion, no RE", True: "fusion + RE"}
PAPER_MODALITIES = ["egemaps", "vggface", "bert", "deepspectrum", "fau"]
TITLES = {
    "rnn": "Recurrent type, features only (cf. the paper's Tables 1–2)",
    "loss": "Loss (cf. Tables 3–4)",
    "re": "Unimodal regressors without and with RE (cf. Tables 5–6)",
    "fusion": "Late fusion over modality combinations, without and with RE (cf. Tables 7–8)",
}


def combinations(modalities: Sequence[str]) -> list[list[str]]:
    """[a, b, c, d] -> [a+b, a+b+c, a+b+d] (the paper's Table 7 rows for its five feature sets)."""
    if len(modalities) < 2:
        raise ConfigError("'ablate fusion' needs at least two --modalities (the first two are fused in every row).")
    pair = list(modalities[:2])
    return [pair] + [pair + [m] for m in modalities[2:]]


def parse_combos(text: str) -> list[list[str]]:
    """'egemaps+vggface,egemaps+vggface+fau' -> two combinations."""
    combos = [[m.strip() for m in part.split("+") if m.strip()] for part in text.split(",") if part.strip()]
    if not combos or any(len(c) < 2 for c in combos):
        raise ConfigError(f"--combos {text!r}: expected combinations of at least two modalities joined by '+', "
                          "separated by commas (egemaps+vggface,egemaps+vggface+fau).")
    return combos


def trials(kind: str, base: RunConfig, seeds: Sequence[int], combos: list[list[str]] | None = None) -> list[Trial]:
    """The trials of one ablation: every variant × seed, on ``base``'s modalities and targets."""
    out: list[Trial] = []

    def add(name: str, variant: dict[str, Any], label: str, unimodal: bool, **update: Any) -> None:
        for seed in seeds:
            # fields left unset stay so (presets still apply); the configured fuser is what a row measures, so no
            # fuser candidate may replace it
            cfg = updated(base, **update, seed=seed, fuser_candidates=[])
            out.append(Trial(f"{name} seed={seed}", cfg, variant, label, unimodal))

    features_only = {"re_unimodal": False, "re_fusion": False}
    if kind == "rnn":
        for rnn, label in RNNS.items():
            add(f"rnn={rnn}", {"rnn": rnn}, label, True, rnn=rnn, **features_only)
    elif kind == "loss":
        for loss, label in LOSSES.items():
            add(f"loss={loss}", {"loss": loss}, label, True, loss=loss, **features_only)
    elif kind == "re":
        for re, label in RE_LABELS.items():
            add(f"re={'yes' if re else 'no'}", {"re_unimodal": re}, label, True, re_unimodal=re, re_fusion=False)
    elif kind == "fusion":
        for combo in combos or combinations(base.inputs.modalities):
            for re, label in FUSION_LABELS.items():
                add(f"{'+'.join(combo)} re={'yes' if re else 'no'}", {"modalities": "+".join(combo), "re_fusion": re},
                    label, False, modalities=combo, re_fusion=re)
    else:
        raise ConfigError(f"Unknown ablation '{kind}'. Known: {', '.join(KINDS)}.")
    return out


def table(kind: str, records: Sequence[dict[str, Any]]) -> PaperTable:
    """The paper-shaped table of an ablation's records."""
    if kind == "fusion":
        return paper_table(records, TITLES[kind], "modalities", lambda r: "+".join(r["modalities"]),
                           list(FUSION_LABELS.values()), lambda r: r["stage"] == "fusion", best_over="table")
    columns = {"rnn": RNNS, "loss": LOSSES, "re": {k: v for k, v in RE_LABELS.items()}}[kind]
    return paper_table(records, TITLES[kind], "modality", lambda r: r["modalities"][0], list(columns.values()),
                       lambda r: r["stage"] == "unimodal")
