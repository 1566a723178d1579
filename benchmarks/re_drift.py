"""Does the auto-encoder RE drift on unseen subjects? In-sample vs out-of-fold, by subject identity.

Trains only the auto-encoders (the pipeline's AutoEncoderRE, unchanged) on the embedded synthetic
data at several settings of its identity knobs (docs/synthetic-data.md, 'Subject identity') and
reports, per modality, the RE mean ± std on each partition in units of train sd (z-scored on train):

- in-sample: every RE from the AE trained on all train subjects (what the pipeline does today);
  train is z-scored with its own, in-sample RE.
- out-of-fold: K folds over the train subjects; each train subject's RE comes from the AE of the
  fold that left it out; train is z-scored with these out-of-fold REs. Devel/test RE from the
  all-train AE ("all-train") or averaged over the K fold AEs ("fold ensemble").
- each AE scaled on devel: as all-train, but every AE's RE is first z-scored with its own RE on
  devel, which no AE trained on (does a level difference between the AEs explain the drift?).
- fold-standardised (``--fold-standardise``; trains K more AEs): the fold AEs read features
  standardised with their own subjects' statistics, not all train subjects' (the pipeline's
  ``fold_standardise``), devel/test from their ensemble.

Raw RE (log1p of the per-frame mean squared error, before the estimator's own z-scoring) is used
throughout, so every variant is put on its own train scale in the same way.

    python benchmarks/re_drift.py                                  # knobs 0:0 and 1:0.5, 8 epochs
    python benchmarks/re_drift.py --knobs 0:0,0.5:0.5,1:0.5,2:0.5 --out benchmarks/results/re_drift.md
    python benchmarks/re_drift.py --knobs 2:0.5,1:0.5 --modalities vggface --fold-standardise \
        --out benchmarks/results/re_drift_vggface.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from musefuse.core.data.dataset import Standardiser, fill_missing
from musefuse.core.data.loader import load_dataset, standardise
from musefuse.core.interfaces import FitContext, TrainingBudget
from musefuse.core.plugin_host import get_host
from musefuse.core.runs.drift import difficulty_drift
from musefuse.lab.synth import default_dataset
from musefuse.plugins.estimators import AutoEncoderRE

AE_OPTIONS = {"bottleneck": 8, "noise": 0.1, "smoothing": 1}  # the pipeline's defaults


def fold_of(n_train: int, folds: int, seed: int) -> np.ndarray:
    """(n_train,) fold index of each train subject: a seeded shuffle dealt round-robin."""
    order = np.random.default_rng(seed).permutation(n_train)
    out = np.empty(n_train, int)
    out[order] = np.arange(n_train) % folds
    return out


def fit_ae(train: list[np.ndarray], devel: list[np.ndarray], settings, args, seed: int) -> AutoEncoderRE:
    ctx = FitContext(device=torch.device("cpu"), seed=seed, settings=settings, options=dict(AE_OPTIONS),
                     budget=TrainingBudget(epochs=args.epochs, patience=args.patience, window=args.window,
                                           hop=args.window, batch_size=32))
    est = AutoEncoderRE()
    est.fit(train, devel, ctx)
    return est


def on_devel_scale(raw: list[np.ndarray], devel: list[int]) -> list[np.ndarray]:
    """Every subject's RE z-scored with the devel subjects' RE (what ``reference: devel`` does)."""
    ref = np.concatenate([raw[i] for i in devel])
    return [(r - ref.mean()) / ref.std() for r in raw]


def restandardise(x: list[np.ndarray], keep: list[int]) -> list[np.ndarray]:
    """Features z-scored with the ``keep`` subjects' frames alone (a fold's own standardisation)."""
    fold = Standardiser.fit([x[i] for i in keep])
    return [fold.transform(v) for v in x]


def measure(identity: float, spread: float, args) -> list[dict]:
    host = get_host()
    mods = [host.modality(m) for m in args.modalities.split(",")]
    root = default_dataset(modalities=[m.name for m in mods], identity=identity, corruption_spread=spread)
    ds = load_dataset(root, mods, ["arousal"])
    standardise(ds, mods)
    subjects = ds.subjects
    parts = [s.partition for s in subjects]
    tr = [i for i, p in enumerate(parts) if p == "train"]
    dv = [i for i, p in enumerate(parts) if p == "devel"]
    held = [i for i, p in enumerate(parts) if p != "train"]
    fold = fold_of(len(tr), args.folds, args.seed)
    rows = []
    for m in mods:
        x = [fill_missing(s.features[m.name]) for s in subjects]
        settings = m.settings_for("arousal")
        t0 = time.perf_counter()
        full = fit_ae([x[i] for i in tr], [x[i] for i in dv], settings, args, args.seed)
        insample = full._raw(x)
        oof: list[np.ndarray | None] = [None] * len(x)
        oof_dv: list[np.ndarray | None] = [None] * len(x)  # each AE's RE z-scored on its own devel RE
        oof_fs: list[np.ndarray | None] = [None] * len(x)  # fold AEs on fold-standardised features
        ensemble = {i: np.zeros(len(x[i]), np.float64) for i in held}
        ensemble_fs = {i: np.zeros(len(x[i]), np.float64) for i in held}
        insample_dv = on_devel_scale(insample, dv)
        for k in range(args.folds):
            keep = [i for i, f in zip(tr, fold, strict=True) if f != k]
            left = [i for i, f in zip(tr, fold, strict=True) if f == k]
            est = fit_ae([x[i] for i in keep], [x[i] for i in dv], settings, args, args.seed + 1 + k)
            scaled = on_devel_scale(est._raw(x), dv)
            for i, r in zip(left, est._raw([x[i] for i in left]), strict=True):
                oof[i], oof_dv[i] = r, scaled[i]
            for i, r in zip(held, est._raw([x[i] for i in held]), strict=True):
                ensemble[i] += r / args.folds
            if args.fold_standardise:  # the same fold, features standardised on its own subjects only
                xk = restandardise(x, keep)
                est = fit_ae([xk[i] for i in keep], [xk[i] for i in dv], settings, args, args.seed + 1 + k)
                for i, r in zip(left, est._raw([xk[i] for i in left]), strict=True):
                    oof_fs[i] = r
                for i, r in zip(held, est._raw([xk[i] for i in held]), strict=True):
                    ensemble_fs[i] += r / args.folds
        seconds = time.perf_counter() - t0
        variants = {
            "in-sample": insample,
            "out-of-fold, all-train AE": [oof[i] if p == "train" else insample[i] for i, p in enumerate(parts)],
            "out-of-fold, fold ensemble": [oof[i] if p == "train" else ensemble[i] for i, p in enumerate(parts)],
            "out-of-fold, all-train AE, each AE scaled on devel":
                [oof_dv[i] if p == "train" else insample_dv[i] for i, p in enumerate(parts)],
        }
        if args.fold_standardise:
            variants["out-of-fold, fold-standardised, fold ensemble"] = [
                oof_fs[i] if p == "train" else ensemble_fs[i] for i, p in enumerate(parts)]
        for name, signal in variants.items():
            rep = difficulty_drift({m.name: signal}, parts)[m.name]
            rows.append({"identity": identity, "spread": spread, "modality": m.name, "variant": name,
                         "parts": rep.partitions, "seconds": seconds})
        print(f"identity {identity:g}, spread {spread:g}, {m.name}: {seconds:.0f}s "
              + "; ".join(f"{r['variant']}: devel {r['parts']['devel'].mean:+.2f} test {r['parts']['test'].mean:+.2f}"
                          for r in rows[-len(variants):]), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| identity ι / spread σ | modality | RE from | devel mean ± std | test mean ± std "
             "| chance sd of a 14-subject mean |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        d, t = r["parts"]["devel"], r["parts"]["test"]
        lines.append(f"| {r['identity']:g} / {r['spread']:g} | {r['modality']} | {r['variant']} "
                     f"| {d.mean:+.2f} ± {d.std:.2f} | {t.mean:+.2f} ± {t.std:.2f} | {d.sampling_sd:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--knobs", default="0:0,1:0.5", help="identity:spread pairs, comma-separated")
    ap.add_argument("--modalities", default="egemaps,vggface,fau")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fold-standardise", action="store_true",
                    help="also train fold AEs on features standardised with their own subjects only")
    ap.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for pair in args.knobs.split(","):
        identity, spread = (float(v) for v in pair.split(":"))
        rows += measure(identity, spread, args)
        if args.out is not None:  # after every setting, so a run cut short keeps what it measured
            args.out.write_text(table(rows) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
