"""Evolved programs as scikit-learn estimators on tabular binary datasets.

Runs ``cross_val_score`` (stratified k-fold, shuffled with a fixed seed) on
binary tasks built from datasets bundled with scikit-learn, for:

* ``s10_best``: the best S10 program evoforge evolved (the "Full" digits
  repeat, seed 6, select accuracy 0.971; printed in
  ``benchmarks/results/dev-2core-2026-11-27/final_eval_s10_full_digits_seed6.jsonl``),
  exported with `evoforge.automl_zero.export.load_estimator` (S10 memory 5/9/2);
* ``paper_s1b``: the paper's Supplementary Figure S1b program as printed
  (Section 4.2 memory 8/14/3);
* ``logistic_regression`` and ``mlp``: scikit-learn's ``LogisticRegression``
  and ``MLPClassifier`` (default settings, ``max_iter`` raised so they
  converge) behind a ``StandardScaler``.

The evolved estimators standardize their features themselves
(``standardize=True``, as evoforge's projected tasks are) and run their
constants untuned, at the datasets' own feature sizes (4 to 30; S10 searched at
16). Each ``--epochs`` value gives one row per evolved program.

Datasets: breast cancer (569 x 30), iris versicolor vs virginica (100 x 4),
wine class 0 vs 1 (130 x 13) and diabetes with the target split at its median
(442 x 10).

Prints one JSON line per (dataset, estimator): mean and standard deviation
(population, over folds) of the fold accuracies, the folds, and the seconds.

Usage:
    python benchmarks/automl_zero_estimators.py --out benchmarks/results/x.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from evoforge.automl_zero.export import load_estimator
from evoforge.automl_zero.listings import FIGURE_S1B, S10_BEST
from evoforge.automl_zero.program import Memory

# (program text, memory); F in the memory only places index constants, which
# neither program has: the estimators take F from the data.
EVOLVED = {
    "s10_best": (S10_BEST, Memory(5, 9, 2, features=16)),
    "paper_s1b": (FIGURE_S1B, Memory(8, 14, 3, features=16)),
}


def _binary(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "breast_cancer":
        return datasets.load_breast_cancer(return_X_y=True)
    if name == "iris_versicolor_virginica":
        X, y = datasets.load_iris(return_X_y=True)
        keep = y > 0
        return X[keep], y[keep]
    if name == "wine_0_vs_1":
        X, y = datasets.load_wine(return_X_y=True)
        keep = y < 2
        return X[keep], y[keep]
    if name == "diabetes_above_median":
        X, target = datasets.load_diabetes(return_X_y=True)
        return X, (target > np.median(target)).astype(int)
    raise ValueError(f"unknown dataset {name!r}")


DATASETS = ("breast_cancer", "iris_versicolor_virginica", "wine_0_vs_1", "diabetes_above_median")


def estimators(epochs: tuple[int, ...], seed: int) -> dict[str, Callable[[], object]]:
    """Name -> a factory of an unfitted estimator."""
    out: dict[str, Callable[[], object]] = {}
    for name, (text, memory) in EVOLVED.items():
        for e in epochs:
            out[f"{name}_epochs{e}"] = lambda t=text, m=memory, e=e: load_estimator(
                t, m, "classifier", task="classification", epochs=e, random_state=seed
            )
    out["logistic_regression"] = lambda: make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=5000)
    )
    out["mlp"] = lambda: make_pipeline(
        StandardScaler(), MLPClassifier(max_iter=2000, random_state=seed)
    )
    return out


def run(
    names: tuple[str, ...] = DATASETS,
    epochs: tuple[int, ...] = (1, 10),
    folds: int = 5,
    seed: int = 0,
) -> list[dict]:
    """One row per (dataset, estimator).

    Example:
        >>> rows = run(("iris_versicolor_virginica",), epochs=(1,), folds=2)
        >>> [row["estimator"] for row in rows]
        ['s10_best_epochs1', 'paper_s1b_epochs1', 'logistic_regression', 'mlp']
    """
    rows = []
    for dataset in names:
        X, y = _binary(dataset)
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for name, make in estimators(epochs, seed).items():
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                scores = cross_val_score(make(), X, y, cv=cv, scoring="accuracy")
            rows.append(
                {
                    "benchmark": "automl_zero_estimators",
                    "dataset": dataset,
                    "n_samples": int(X.shape[0]),
                    "n_features": int(X.shape[1]),
                    "estimator": name,
                    "folds": folds,
                    "seed": seed,
                    "mean": float(np.mean(scores)),
                    "std": float(np.std(scores)),
                    "scores": [float(s) for s in scores],
                    # Evolved programs warn when training stopped early (a NaN or too
                    # large error), as evoforge's evaluation stops.
                    "convergence_warnings": sum(
                        issubclass(w.category, ConvergenceWarning) for w in caught
                    ),
                    "seconds": round(time.perf_counter() - start, 2),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--epochs", nargs="+", type=int, default=[1, 10])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    args = parser.parse_args(argv)
    rows = run(tuple(args.datasets), tuple(args.epochs), args.folds, args.seed)
    lines = [json.dumps(row) for row in rows]
    sys.stdout.write("".join(line + "\n" for line in lines))
    if args.out is not None:
        with args.out.open("a") as f:
            f.writelines(line + "\n" for line in lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
