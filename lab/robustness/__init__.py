"""Noise robustness (``musefuse robustness``): does the difficulty signal make fusion robust to corruption?

The paper's untested hypothesis is that the reconstruction error (RE), by telling the fuser which
modality is unreliable, "could bring more robustness to the fusion model toward corrupted
modalities". This package tests it: for each of K seeds it trains (or loads) a pipeline with RE and
a separately trained one without (``estimator: none``), corrupts the standardised features of the
devel and test subjects with Corruption plugins at each level, applies the fitted pipelines, and
scores every model (docs/robustness.md):

    fusion-re      the paper's fusion, with RE             fusion-nore     the fusion of the no-RE pipeline
    fusion-mean    mean of the RE pipeline's unimodal      unimodal-<m>    each unimodal model (RE pipeline)
    fusion-oracle  a BiRNN fuser given the true corruption mask instead of the RE (data with truth/ only)
    fusion-re-aug, fusion-nore-aug   pipelines trained on corruption-augmented train data (--augment)

The same corruption (same seed) is applied to every model of a seed, and the random draws of one
subject do not depend on the level, so curves are paired comparisons.

    corrupt    what to corrupt (--corrupt, --levels, --partitions) and corrupted copies of subjects
    evaluate   the experiment: the pipelines of each seed, scored clean and at each level
    report     scores, curve summaries, the tables and the files written to --out
    plot       robustness.png
"""

from __future__ import annotations

from musefuse.lab.robustness.corrupt import (
    DEFAULT_LEVELS,
    CorruptionSet,
    CorruptionSpec,
    corrupt_subjects,
    parse_corrupt,
    parse_levels,
    parse_partitions,
)
from musefuse.lab.robustness.evaluate import OUTPUT_ENTRIES, evaluate_robustness
from musefuse.lab.robustness.report import Results, curve_summary, markdown, summarize, write_results

__all__ = [
    "DEFAULT_LEVELS", "OUTPUT_ENTRIES", "CorruptionSet", "CorruptionSpec", "Results", "corrupt_subjects",
    "curve_summary", "evaluate_robustness", "markdown", "parse_corrupt", "parse_levels", "parse_partitions",
    "summarize", "write_results",
]
