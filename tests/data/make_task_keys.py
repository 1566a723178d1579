"""Record the task keys of a set of run configurations (tests/data/task_keys.json).

Written once from the release before the engine/method refactor (af87665); test_task_keys.py plans the same
configurations with the code of today and expects every key, label and kind unchanged: a refactor that keeps every
key reuses every stored model. Rerun only when a change is *meant* to retrain models (and say so in its commit).

    python tests/data/make_task_keys.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "task_keys.json"
MODS = ["egemaps", "vggface", "fau"]

# name -> RunConfig fields (flat, as a YAML file or the command line would give them)
CONFIGS: dict[str, dict] = {
    "default": {},
    "paper": {"pipeline": "paper"},
    "all-candidates": {"unimodal_candidates": ["recording", "delay+2s", "delay+4s", "dropout", "smaller"]},
    "no-average": {"average_candidates": False},
    "mean-shrink-devel": {"mean_shrink": "devel"},
    "no-estimator-mean-fuser": {"estimator": "none", "fuser": "mean"},
    "in-sample": {"fusion_train": "in-sample", "difficulty_train": "in-sample", "difficulty_unseen": "all-train"},
    "forced-re": {"re_unimodal": True, "re_fusion": False},
    "calibrated": {"difficulty_calibration": "quantile", "label_shift": 0.5, "weight_decay": 0.001},
    "settings": {"rnn": "lstm", "layers": 2, "hidden": 16, "lr": 0.002, "dropout": 0.3, "loss": "mse",
                 "model_settings": {"fau": {"arousal": {"hidden": 32}}}, "estimator_options": {"bottleneck": 8}},
    "budget": {"epochs": 7, "patience": 3, "window": 50, "hop": 25, "batch_size": 8, "lr_schedule": "plateau",
               "folds": 4, "fold_standardise": False, "missing": "ffill", "standardise": "recording", "seed": 5},
}


def plan_keys(data: Path, **common) -> dict:
    """Each configuration's tasks as [kind, label, key]; ``common``: fields added to every configuration."""
    from musefuse.core.config_files import build_config
    from musefuse.core.data.loader import load_dataset, standardise
    from musefuse.core.plugin_host import get_host
    try:
        from musefuse.core.graph.plan import plan_run
    except ImportError:  # after the engine/method split
        from musefuse.core.method.plan import plan_run  # type: ignore[no-redef]

    host = get_host(quiet=True)
    out = {}
    for name, fields in CONFIGS.items():
        cfg = build_config(None, modalities=MODS, data=data, preset="cpu", device="cpu", **{**common, **fields})
        cfg = cfg.with_preset(cuda=False)
        mods = [host.modality(m) for m in MODS]
        ds = load_dataset(data, mods, ["arousal", "valence"])
        standardise(ds, mods)
        plan = plan_run(cfg, ds, host, "cpu")
        out[name] = [[t.kind, t.label, t.key] for t in plan.tasks]
    return out


def synthetic(folder: Path) -> Path:
    from musefuse.lab.synth import write_synthetic

    data = write_synthetic(folder / "small", small=True, seed=7, modalities=MODS)
    for path in data.rglob("*"):  # the data fingerprint reads mtimes: fixed ones make the keys reproducible
        os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    return data


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        keys = plan_keys(synthetic(Path(tmp)))
    OUT.write_text(json.dumps(keys, indent=1) + "\n")
    print(f"{sum(len(v) for v in keys.values())} task keys of {len(keys)} configurations -> {OUT}", file=sys.stderr)
