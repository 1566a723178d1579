"""How often does a decision rule keep a candidate that is no better than the simplest? (issue 34, item 5)

Constructed scores, no training: each of ``--subjects`` recordings has a smooth gold signal; every candidate
predicts it with noise shared by all candidates (what every model of one modality gets wrong alike) plus noise
of its own. Under the **null** all candidates have the same noise, so any candidate but the simplest is kept by
chance; under the **alternative** the last (most complex) candidate's own noise is smaller, so keeping it pays.

Three rules, all on the same paired subject bootstrap (musefuse's ``decide`` and its draws):

- ``sequential``: musefuse's rule today: simplest first, a candidate replaces the one kept so far where its
  gain exceeds the bootstrap SE of that gain and it does not lose on devel;
- ``one-se``: the one-standard-error rule in its usual form: the simplest candidate whose CCC is within one SE
  (of the best candidate's CCC) of the best — musefuse's ``decision_rule: within-best``;
- ``one-se-paired``: the simplest candidate whose paired difference to the best is within one SE of that
  difference;
- ``sequential-k``: musefuse's rule with ``decision_rule: bonferroni``: a threshold that grows with the number of
  comparisons, each of the k = candidates − 1 made at 1/k of the level one SE gives one comparison
  (``1 − Φ(1)`` ≈ 0.16), so k = 1 (plain against re) is the rule unchanged and 6 comparisons need 1.94 SE.

    python benchmarks/rule_null.py --reps 300
"""

from __future__ import annotations

import argparse

import numpy as np

from musefuse.core.learning.decisions import decide, se_threshold
from musefuse.core.learning.metrics import bootstrap_cccs, partition_scores


def smooth(rng: np.random.Generator, n: int, steps: int, tau: float = 20.0) -> np.ndarray:
    """(n, steps) AR(1) signals with unit variance and time constant ``tau`` frames."""
    a = np.exp(-1.0 / tau)
    x = np.zeros((n, steps))
    x[:, 0] = rng.standard_normal(n)
    for t in range(1, steps):
        x[:, t] = a * x[:, t - 1] + np.sqrt(1 - a * a) * rng.standard_normal(n)
    return x


def draw(rng: np.random.Generator, subjects: int, candidates: int, steps: int, shared: float, own: float,
         better: float) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """Golds and candidates' predictions; the last candidate's own noise is scaled by (1 - ``better``)."""
    gold = smooth(rng, subjects, steps) + 0.5 * rng.standard_normal((subjects, 1))  # per-recording levels
    common = shared * smooth(rng, subjects, steps)
    preds = {}
    for k in range(candidates):
        scale = own * (1 - better if k == candidates - 1 else 1.0)
        preds[f"c{k}"] = list(gold + common + scale * smooth(rng, subjects, steps))
    return list(gold), preds


def one_se(preds: dict[str, list[np.ndarray]], golds: list[np.ndarray]) -> str:
    """The simplest candidate whose paired difference to the best is within one SE of that difference."""
    points = {n: partition_scores(p, golds)["ccc"] for n, p in preds.items()}
    draws = bootstrap_cccs(preds, golds, 200)
    best = max(points, key=points.get)
    for name in preds:  # simplest first
        if points[best] - points[name] <= np.std(draws[best] - draws[name]):
            return name
    return best


def trial(seed: int, args: argparse.Namespace, better: float) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    golds, preds = draw(rng, args.subjects, args.candidates, args.steps, args.shared, args.own, better)
    parts = ["train"] * (args.subjects - args.devel) + ["devel"] * args.devel
    return {"sequential": decide("bench", preds, golds, "constructed", parts).chosen,
            "one-se": decide("bench", preds, golds, "constructed", parts, within_best=True).chosen,
            "one-se-paired": one_se(preds, golds),
            "sequential-k": decide("bench", preds, golds, "constructed", parts,
                                   threshold=se_threshold("bonferroni", len(preds) - 1)).chosen}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=300)
    p.add_argument("--subjects", type=int, default=55, help="evidence recordings (41 out-of-fold + 14 devel)")
    p.add_argument("--devel", type=int, default=14)
    p.add_argument("--candidates", type=int, default=7)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--shared", type=float, default=0.8, help="noise every candidate shares")
    p.add_argument("--own", type=float, default=0.6, help="each candidate's own noise")
    p.add_argument("--better", type=float, default=0.5, help="alternative: the last candidate's own noise × (1 - this)")
    args = p.parse_args()
    last = f"c{args.candidates - 1}"
    print(f"{args.candidates} candidates, {args.subjects} recordings ({args.devel} devel), {args.reps} draws each")
    print(f"{'rule':15s} {'null: not simplest':>20s} {'alt: last kept':>16s}")
    null = [trial(s, args, 0.0) for s in range(args.reps)]
    alt = [trial(10_000 + s, args, args.better) for s in range(args.reps)]
    for rule in null[0]:
        false_keep = np.mean([r[rule] != "c0" for r in null])
        power = np.mean([r[rule] == last for r in alt])
        print(f"{rule:15s} {false_keep:20.3f} {power:16.3f}")


if __name__ == "__main__":
    main()
