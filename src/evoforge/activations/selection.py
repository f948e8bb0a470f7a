"""After a search: pick a run's best distinct functions, retrain them, compare them.

Shared by CAFE's top-3 retraining (median of 5) and PANGAEA's reranking and
final test (`benchmarks/cafe_small.py`, `benchmarks/pangaea_small.py`).

Example:
    >>> one_tailed_welch([0.9, 0.91, 0.92], [0.80, 0.81, 0.82]) < 0.01
    True
    >>> one_tailed_welch([0.80, 0.81, 0.82], [0.9, 0.91, 0.92]) > 0.99
    True
"""

from __future__ import annotations

import math
import statistics
import warnings
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from evoforge.activations.evaluator import ActivationEvaluator
from evoforge.activations.graph import parse
from evoforge.evolution.store import connect
from evoforge.nn.train import TrainConfig


def top_distinct(run_dir: Path, k: int) -> list[tuple[str, float]]:
    """The ``k`` fittest functionally distinct (by FEC fingerprint) error-free genomes
    of a run, as (formula, search fitness), fittest first."""
    with closing(connect(Path(run_dir) / "run.sqlite")) as db:  # compact rows too
        found = db.execute(
            "SELECT genome_text, fitness, fingerprint FROM individuals_text"
            " WHERE error IS NULL ORDER BY fitness DESC, id"
        ).fetchall()
    out, seen = [], set()
    for text, fitness, fingerprint in found:
        key = fingerprint if fingerprint is not None else text
        if key not in seen:
            seen.add(key)
            out.append((text, fitness))
        if len(out) == k:
            break
    return out


@dataclass(frozen=True)
class Retrained:
    """`runs` trainings of one function: validation and test accuracy per run
    (0 for a diverged run)."""

    function: str
    val_accuracy: list[float]
    test_accuracy: list[float]

    @property
    def median_test(self) -> float:
        return statistics.median(self.test_accuracy)

    @property
    def median_val(self) -> float:
        return statistics.median(self.val_accuracy)


def retrain(
    evaluator: ActivationEvaluator,
    function: str,
    runs: int,
    config: TrainConfig,
    first_seed: int = 0,
) -> Retrained:
    """Train `function` `runs` times (seeds first_seed, first_seed + 1, ...) with `config`."""
    val, test = [], []
    for seed in range(first_seed, first_seed + runs):
        r = evaluator.train_genome(parse(function), seed=seed, config=config)
        bad = r.diverged
        val.append(0.0 if bad or r.val_accuracy is None else float(r.val_accuracy))
        test.append(0.0 if bad or r.test_accuracy is None else float(r.test_accuracy))
    return Retrained(function, val, test)


def one_tailed_welch(a: list[float], b: list[float]) -> float:
    """p-value of Welch's t-test that mean(a) > mean(b), as Table 4.2 reports;
    NaN when either sample has fewer than 2 values or both have no spread."""
    if len(a) < 2 or len(b) < 2 or (statistics.pstdev(a) == 0 and statistics.pstdev(b) == 0):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # near-identical samples
        return float(stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)
