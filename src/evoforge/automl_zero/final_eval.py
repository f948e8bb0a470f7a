"""Final evaluation of a program on held-out test data (Supplement S7, S8).

The paper evolves on small projected tasks, then tunes the selected
algorithm's constants at the full dimensionality on examples of the
*training* split, and finally trains the tuned algorithm on training examples
and measures its accuracy on the held-out *test* split, with 5 random seeds,
reporting the mean and standard deviation. The hand-designed baselines get the
same treatment, tuned with as many evaluations as went into evolving and
tuning the evolved algorithm (`evoforge.automl_zero.tune.tune_with_budget`).

Here the tasks are the unprojected binary class-pair tasks of
`evoforge.data.projected.heldout_tasks` (64 features for digits, whose held-out
test split is a fixed quarter of the images). Tuning tasks draw both their
training and validation examples from the training part; final tasks train on
the training part and validate on the test part. A seed changes which
examples are drawn, their order and the program's random initialisation.

Example:
    >>> from evoforge.automl_zero.baselines import baseline_program
    >>> from evoforge.automl_zero.final_eval import final_evaluation
    >>> lr, mem = baseline_program("logistic_regression", 64, learning_rate=0.01)
    >>> score = final_evaluation(lr, mem, "digits", seeds=(0, 1), n_pairs=3)
    >>> len(score.per_seed), 0.8 < score.mean <= 1.0
    (2, True)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evoforge.automl_zero.evaluator import ProgramEvaluator
from evoforge.automl_zero.program import Memory, Program
from evoforge.automl_zero.tune import tune_with_budget
from evoforge.data.projected import heldout_tasks

FINAL_SEEDS = (0, 1, 2, 3, 4)
# Digits: about 264 training-part and 87 test-part images per class pair.
TUNE_EXAMPLES = (180, 70)
FINAL_EXAMPLES = (250, 85)
TUNE_SEED = 1_000


@dataclass(frozen=True)
class FinalScore:
    """Mean and sample standard deviation (ddof=1; 0 for one seed) of the
    test accuracy over seeds, and the accuracy per seed."""

    mean: float
    std: float
    per_seed: tuple[float, ...]
    seeds: tuple[int, ...]


def resized(memory: Memory, features: int) -> Memory:
    """``memory`` with another feature size (a program's vector and matrix
    element indices are fractions, so they carry over).

    Example:
        >>> resized(Memory(4, 3, 1, features=16), 64)
        Memory(n_scalars=4, n_vectors=3, n_matrices=1, features=64)
    """
    return dataclasses.replace(memory, features=features)


def tuning_evaluator(
    memory: Memory,
    dataset: str = "digits",
    *,
    n_pairs: int | None = 10,
    n_train: int = TUNE_EXAMPLES[0],
    n_valid: int = TUNE_EXAMPLES[1],
    seed: int = TUNE_SEED,
    data_dir: str | Path | None = None,
) -> ProgramEvaluator:
    """Evaluator on full-size tuning tasks: ``n_pairs`` class pairs (all when
    None), training and validation examples both from the training part.

    Raises ``ValueError`` if ``memory.features`` is not the dataset's size.

    Example:
        >>> ev = tuning_evaluator(Memory(4, 3, 1, features=64), n_pairs=2)
        >>> ev.tasks.D, ev.tasks.N, ev.tasks.M
        (2, 180, 70)
    """
    tasks = heldout_tasks(
        dataset, test=False, split="all", n_pairs=n_pairs, n_train=n_train, n_valid=n_valid,
        seed=seed, data_dir=data_dir,
    )  # fmt: skip
    return ProgramEvaluator(memory, tasks)


def final_evaluation(
    program: Program,
    memory: Memory,
    dataset: str = "digits",
    *,
    seeds: tuple[int, ...] = FINAL_SEEDS,
    n_pairs: int | None = None,
    n_train: int = FINAL_EXAMPLES[0],
    n_valid: int = FINAL_EXAMPLES[1],
    data_dir: str | Path | None = None,
) -> FinalScore:
    """Test accuracy of ``program`` (mean over ``n_pairs`` class pairs, all 45
    when None) for each seed, trained on the training part at full size.

    ``memory`` must have the dataset's feature size (see `resized`). Raises
    ``ValueError`` for no seeds, a program that does not fit ``memory`` or a
    task that is not binary accuracy.

    Example:
        >>> from evoforge.automl_zero.baselines import baseline_program
        >>> nn, mem = baseline_program("two_layer_nn", 64, learning_rate=0.01, init_scale=0.1)
        >>> final_evaluation(nn, mem, seeds=(3,), n_pairs=2).std
        0.0
    """
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds: expected at least one seed, got none")
    program.validate(memory)
    per_seed = []
    for seed in seeds:
        tasks = heldout_tasks(
            dataset, split="all", n_pairs=n_pairs, n_train=n_train, n_valid=n_valid, seed=seed,
            data_dir=data_dir,
        )  # fmt: skip
        per_seed.append(ProgramEvaluator(memory, tasks).evaluate(program).fitness)
    std = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0
    return FinalScore(float(np.mean(per_seed)), std, tuple(per_seed), seeds)


def tune_and_evaluate(
    program: Program,
    memory: Memory,
    evaluations: int,
    rng: np.random.Generator,
    dataset: str = "digits",
    *,
    tune_pairs: int | None = 10,
    final_pairs: int | None = None,
    seeds: tuple[int, ...] = FINAL_SEEDS,
    data_dir: str | Path | None = None,
) -> dict:
    """Tune ``program``'s constants with ``evaluations`` evaluations on the
    tuning tasks, then run `final_evaluation` on the tuned program; returns a
    JSON-ready dict (tuned fitness, trials, test mean/std/per seed).

    Example:
        >>> from evoforge.automl_zero.baselines import baseline_program
        >>> lr, mem = baseline_program("logistic_regression", 64, learning_rate=1e-5)
        >>> out = tune_and_evaluate(lr, mem, 4, np.random.default_rng(0), tune_pairs=2,
        ...                         final_pairs=2, seeds=(0,))
        >>> out["tuning_trials"], out["tuned_fitness"] >= out["untuned_fitness"]
        (4, True)
    """
    evaluator = tuning_evaluator(memory, dataset, n_pairs=tune_pairs, data_dir=data_dir)
    tuned, fitness, history = tune_with_budget(program, memory, evaluator, evaluations, rng)
    score = final_evaluation(
        tuned, memory, dataset, seeds=seeds, n_pairs=final_pairs, data_dir=data_dir
    )
    return {
        "untuned_fitness": history[0],
        "tuned_fitness": fitness,
        "tuning_trials": len(history),
        "test_mean": score.mean,
        "test_std": score.std,
        "test_per_seed": list(score.per_seed),
        "seeds": list(score.seeds),
    }
