"""How often does a partition's 95% CCC interval cover the population CCC? Coverage by simulation.

Synthetic recordings (an AR(1) label course around a subject level; a prediction with its own subject bias, a
subject-specific slope and frame noise) are drawn from one population whose CCC is taken from a very large
partition (20,000 recordings). Partitions of ``n`` recordings are drawn again and again; each method's interval
either covers the population CCC or not. Methods: the shipped interval (delete-one-recording jackknife on
Fisher's z with Student's t, :func:`musefuse.core.learning.metrics.ccc_ci95`), the percentile subject bootstrap
it replaced, and BCa over the same bootstrap draws.

    python benchmarks/interval_coverage.py                       # n = 3, 5, 14; 1000 partitions each
    python benchmarks/interval_coverage.py --n 14 --reps 2000
"""

from __future__ import annotations

import argparse
import time
from statistics import NormalDist

import numpy as np

from musefuse.core.learning.metrics import bootstrap_cccs, ccc, ccc_ci95, jackknife_cccs


def draw_recordings(rng: np.random.Generator, count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``count`` recordings of 100–300 frames: (predictions, gold labels)."""
    lengths = rng.integers(100, 301, count)
    steps = rng.normal(0, 0.3, (count, 300))
    course = np.empty_like(steps)
    course[:, 0] = steps[:, 0] / 0.3
    for t in range(1, 300):
        course[:, t] = 0.95 * course[:, t - 1] + steps[:, t]
    gold = 0.5 * course + rng.normal(0, 0.3, (count, 1))  # a subject level
    pred = rng.uniform(0.2, 1.0, (count, 1)) * gold + rng.normal(0, 0.3, (count, 1)) + rng.normal(0, 0.4, gold.shape)
    return [p[:n] for p, n in zip(pred, lengths, strict=True)], [g[:n] for g, n in zip(gold, lengths, strict=True)]


def population_ccc(seed: int = 1, count: int = 20_000) -> float:
    preds, golds = draw_recordings(np.random.default_rng(seed), count)
    return ccc(np.concatenate(preds), np.concatenate(golds))


def coverage(n: int, reps: int, seed: int = 2, methods: tuple[str, ...] = ("jackknife-z",)) -> dict[str, float]:
    """Share of ``reps`` partitions of ``n`` recordings whose interval covers the population CCC, per method."""
    rho, rng, hits = population_ccc(), np.random.default_rng(seed), dict.fromkeys(methods, 0)
    for _ in range(reps):
        preds, golds = draw_recordings(rng, n)
        for m in methods:
            lo, hi = _interval(m, preds, golds)
            hits[m] += lo <= rho <= hi
    return {m: h / reps for m, h in hits.items()}


def _interval(method: str, preds: list[np.ndarray], golds: list[np.ndarray]) -> tuple[float, float]:
    if method == "jackknife-z":
        lo, hi = ccc_ci95(preds, golds)
        return lo, hi
    draws = bootstrap_cccs({"": preds}, golds)[""]
    if method == "percentile":
        lo, hi = np.percentile(draws, [2.5, 97.5])
        return lo, hi
    est, left_out = ccc(np.concatenate(preds), np.concatenate(golds)), jackknife_cccs(preds, golds)
    norm = NormalDist()
    z0 = norm.inv_cdf(min(max(float((draws < est).mean()), 1e-6), 1 - 1e-6))
    d = left_out.mean() - left_out
    a = float((d ** 3).sum() / (6 * ((d ** 2).sum()) ** 1.5)) if (d ** 2).sum() > 0 else 0.0
    qs = [100 * norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))) for z in (norm.inv_cdf(0.025), norm.inv_cdf(0.975))]
    lo, hi = np.percentile(draws, qs)
    return lo, hi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="3,5,14", help="recordings per partition, comma-separated")
    ap.add_argument("--reps", type=int, default=1000, help="partitions drawn per n")
    args = ap.parse_args()
    print(f"population CCC {population_ccc():.4f} (20,000 recordings)")
    for n in (int(v) for v in args.n.split(",")):
        t0 = time.perf_counter()
        cov = coverage(n, args.reps, methods=("jackknife-z", "percentile", "BCa"))
        print(f"n = {n:2d}: " + ", ".join(f"{m} {c:.1%}" for m, c in cov.items())
              + f"  ({args.reps} partitions, {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
