"""Named bundles of settings: the training-budget presets (``--preset``) and the pipelines (``--pipeline``)."""

from __future__ import annotations

from typing import Any

from musefuse.core.interfaces import TrainingBudget

# Presets change only the training budget, never the architecture (4 x 64 BiGRU stays).
# `paper`: the paper's budget and plain early stopping (sec. 4.3). `cpu`: chosen on devel from the
# quality-vs-time curve on this project's 2-core CPU (benchmarks/budget_curve.py, docs/results.md "Training budget").
PRESETS: dict[str, TrainingBudget] = {
    "paper": TrainingBudget(),
    # 30 epochs / patience 10 cost 1.6x the time and were no better on devel; plateau beat plain patience.
    "cpu": TrainingBudget(epochs=15, patience=5, window=100, hop=100, lr_schedule="plateau"),
}
# One torch thread on CPU: the recurrences are many small steps that a second thread barely speeds up
# (3.7 vs 3.8 s/epoch measured), while two threads on a busy 2-core machine oversubscribe it badly.
PRESET_THREADS = {"cpu": 1}
# Printed at start: what a preset costs against `paper`, as measured (benchmarks/results/budget*/).
PRESET_COST = {
    "cpu": "costs, against 'paper' (embedded data, no RE, 3 seeds): fusion test CCC -0.007 arousal / -0.021 "
           "valence in about 0.3x the time; held-out MuSe-layout data lost 0.13 arousal at the old cpu budget, "
           "so use --preset paper when you can (docs/results.md 'Training budget').",
}

# `pipeline: paper` is the paper's method exactly (Hamieh et al. 2021, sec. 3): the difficulty in both stages,
# train subjects' difficulty and fusion inputs in-sample, one auto-encoder on all train subjects. `default` is
# this project's (each choice measured on devel, docs/results.md). Fields set explicitly win over either.
PIPELINES: dict[str, dict[str, Any]] = {
    "default": {},
    "paper": {"re_unimodal": True, "re_fusion": True, "fusion_train": "in-sample", "difficulty_train": "in-sample",
              "difficulty_unseen": "all-train", "difficulty_calibration": "none", "mean_shrink": 0.0,
              "fuser_candidates": []},
}
