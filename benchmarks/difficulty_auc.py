"""Does the auto-encoder's RE stay informative? ROC AUC against the synthetic truth masks.

A 4x64 BiGRU auto-encoder has a 128-wide state, enough to learn to copy a 17-wide input (FAU), in
which case its reconstruction error is flat and says nothing. This trains the AE-RE estimator per
modality with and without the two guards (a linear bottleneck, input noise) and reports how well
the RE flags the frames the generator corrupted, on devel and test (cpu preset budget).

    python benchmarks/difficulty_auc.py                  # variants: none, bottleneck, noise, both
"""

from __future__ import annotations

import argparse

import torch

from musefuse.core.config import RunConfig
from musefuse.core.data.dataset import fill_missing
from musefuse.core.data.embedded import data_root
from musefuse.core.data.loader import load_dataset, standardise
from musefuse.core.method.pipeline import Outputs, fit_context, model_seed
from musefuse.core.plugin_host import get_host
from musefuse.lab.difficulty_quality import difficulty_auc, read_truth_masks
from musefuse.plugins.estimators import AutoEncoderRE

VARIANTS = {"none": (None, 0.0), "bottleneck 8": (8, 0.0), "noise 0.1": (None, 0.1), "both (default)": (8, 0.1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modalities", default="egemaps,vggface,fau")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = RunConfig(modalities=args.modalities.split(","), seed=args.seed).with_preset(cuda=False)
    host = get_host()
    mods = [host.modality(m) for m in cfg.inputs.modalities]
    root = data_root(cfg)
    ds = load_dataset(root, mods, cfg.inputs.targets)
    standardise(ds, mods)
    truth = read_truth_masks(root, ds.subjects, cfg.inputs.modalities)
    subjects = [s for s in ds.subjects if s.partition in ("devel", "test")]
    train = [s for s in ds.subjects if s.partition == "train"]
    devel = [s for s in ds.subjects if s.partition == "devel"]
    print("| modality | variant | AUC (devel+test) | mean RE inside / outside corrupted |\n|---|---|---|---|")
    for m in mods:
        for name, (bottleneck, noise) in VARIANTS.items():
            est = AutoEncoderRE()
            settings = cfg.model.settings_for(m.settings_for(cfg.inputs.targets[0]))
            seed = model_seed(cfg.execution.seed, "", "estimator", m.name)
            ctx = fit_context(cfg, torch.device("cpu"), settings, seed, bottleneck=bottleneck, noise=noise, smoothing=1)
            x = {p: [fill_missing(s.features[m.name]) for s in group]
                 for p, group in (("train", train), ("devel", devel), ("eval", subjects))}
            est.fit(x["train"], x["devel"], ctx)
            diff = est.difficulty(x["eval"])
            res = difficulty_auc(Outputs(subjects, {m.name: diff}), None, truth, None)[m.name]
            print(f"| {m.name} | {name} | {res['auc']:.3f} | {res['mean_inside']:.2f} / {res['mean_outside']:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
