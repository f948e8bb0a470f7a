"""Constant tuning by random search (paper §4.2 and Supplement S7).

After a search, an evolved program's constants act as hyperparameters: the
paper tunes them jointly by random search, each trial scaling every constant
by its own factor drawn log-uniformly from [1e-3, 1e3]. `tune_constants` does
the same around the input program and keeps the best trial.

Constants are op 56's value, the values of ops 57/58 (not their element
indices), the bounds of the uniform ops and the mean and standard deviation of
the gaussian ops. Ops 57-64 store float32, so their scaled values are rounded
to float32 (and clipped to its finite range); uniform bounds are re-ordered so
that low <= high; a standard deviation stays non-negative because every factor
is positive. A constant that is 0 stays 0: the scaling is multiplicative, as
in the paper. Dead constants are scaled too, which costs nothing but
randomness; call `evoforge.automl_zero.simplify.simplify` first to tune only
the constants that matter.

Example:
    >>> import numpy as np
    >>> from evoforge.automl_zero.evaluator import ProgramEvaluator
    >>> from evoforge.automl_zero.program import Memory
    >>> from evoforge.automl_zero.baselines import linear_sgd
    >>> from evoforge.automl_zero.text import from_text
    >>> from evoforge.automl_zero.tune import tune_constants
    >>> from evoforge.data.regression import linear_tasks
    >>> mem = Memory(4, 3, 1, features=4)
    >>> sgd = from_text(linear_sgd(0.0001), mem)
    >>> evaluator = ProgramEvaluator(mem, linear_tasks(3, 4, 100, 20, seed=0))
    >>> best, fitness, history = tune_constants(sgd, mem, evaluator, 20, np.random.default_rng(0))
    >>> len(history), fitness == max(history) > history[0]
    (21, True)
"""

from __future__ import annotations

import numpy as np

from evoforge.automl_zero.ops import (
    GAUSSIAN,
    MATRIX_CONST,
    OPS,
    SCALAR_CONST,
    UNIFORM,
    VECTOR_CONST,
)
from evoforge.automl_zero.program import Memory, Program
from evoforge.evolution.space import Evaluator

# The data columns that hold tunable constants, by constant kind (index
# fractions are not constants to tune), and whether the op stores float32.
_CONSTANT_COLUMNS: dict[int, tuple[tuple[int, ...], bool]] = {
    SCALAR_CONST: ((0,), False),
    VECTOR_CONST: ((1,), True),
    MATRIX_CONST: ((2,), True),
    UNIFORM: ((0, 1), True),
    GAUSSIAN: ((0, 1), True),
}
FACTOR_RANGE = (1e-3, 1e3)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def constant_slots(program: Program) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, data columns and float32 flags of every tunable constant, in program order.

    Example:
        >>> from evoforge.automl_zero.program import Memory
        >>> from evoforge.automl_zero.text import from_text
        >>> mem = Memory(4, 3, 1, features=4)
        >>> p = from_text("def Setup():\\n    s2 = 0.5\\n    v1[2] = 1.5\\n    s3 = s2 + s2", mem)
        >>> [a.tolist() for a in constant_slots(p)]
        [[0, 1], [0, 1], [False, True]]
    """
    rows, cols, f32 = [], [], []
    for row, op in enumerate(program.code[:, 0]):
        columns, is_f32 = _CONSTANT_COLUMNS.get(OPS[op].data, ((), False))
        for col in columns:
            rows.append(row)
            cols.append(col)
            f32.append(is_f32)
    return np.array(rows, np.int64), np.array(cols, np.int64), np.array(f32, bool)


def _scaled(program: Program, slots, factors: np.ndarray) -> Program:
    rows, cols, f32 = slots
    data = program.data.copy()
    values = data[rows, cols] * factors
    # float32 ops get float32 values, kept finite (uniform bounds must be).
    values[f32] = np.clip(values[f32], -_FLOAT32_MAX, _FLOAT32_MAX).astype(np.float32)
    data[rows, cols] = values
    uniform = np.array([OPS[op].data == UNIFORM for op in program.code[:, 0]], bool)
    data[uniform, :2] = np.sort(data[uniform, :2], axis=1)
    return Program(program.code.copy(), data, program.sizes)  # cached text lines are stale


def tune_constants(
    program: Program,
    memory: Memory,
    evaluator: Evaluator,
    n_trials: int,
    rng: np.random.Generator,
) -> tuple[Program, float, list[float]]:
    """Random search over the constants of ``program``; returns
    ``(best_program, best_fitness, history)``.

    Trial 0 is ``program`` itself, so the result is never worse than the input
    (on ``evaluator``, which must be deterministic, like `ProgramEvaluator`).
    Trials 1..``n_trials`` each scale every constant of ``program`` (the input,
    not the best so far) by an independent log-uniform factor in
    `FACTOR_RANGE`. ``history[k]`` is trial k's fitness; a program without
    constants has nothing to tune and only trial 0 is run. Ties keep the
    earlier trial. All randomness comes from ``rng``.

    Raises ``ValueError`` if ``program`` does not fit ``memory`` or ``n_trials < 0``.

    Example:
        >>> import numpy as np
        >>> from evoforge.automl_zero.evaluator import ProgramEvaluator
        >>> from evoforge.automl_zero.program import Memory, Program
        >>> from evoforge.data.regression import linear_tasks
        >>> mem = Memory(4, 3, 1, features=4)
        >>> evaluator = ProgramEvaluator(mem, linear_tasks(1, 4, 10, 10, seed=0))
        >>> best, _, history = tune_constants(Program.empty(), mem, evaluator, 5,
        ...                                   np.random.default_rng(0))
        >>> best == Program.empty(), len(history)
        (True, 1)
    """
    if n_trials < 0:
        raise ValueError(f"n_trials: expected an integer >= 0, got {n_trials}")
    program.validate(memory)
    best, best_fitness = program, evaluator.evaluate(program).fitness
    history = [best_fitness]
    slots = constant_slots(program)
    if len(slots[0]) == 0:
        return best, best_fitness, history
    low, high = np.log10(FACTOR_RANGE)
    for _ in range(n_trials):
        candidate = _scaled(program, slots, 10.0 ** rng.uniform(low, high, len(slots[0])))
        fitness = evaluator.evaluate(candidate).fitness
        history.append(fitness)
        if fitness > best_fitness:
            best, best_fitness = candidate, fitness
    return best, best_fitness, history


def tune_with_budget(
    program: Program,
    memory: Memory,
    evaluator: Evaluator,
    evaluations: int,
    rng: np.random.Generator,
) -> tuple[Program, float, list[float]]:
    """`tune_constants` with a budget counted in evaluations, for equal-compute baselines.

    The paper (Supplement S7) tunes the hand-designed baselines "using the
    same amount of resources that went into tuning *and evolving*" the evolved
    algorithm. Here a resource is one program evaluation: pass
    ``evaluations`` = the evolution run's individuals (every evaluated
    individual, FEC hits included) + the tuning trials spent on the evolved
    program. Trial 0 (the input program itself) counts as one of them, so
    ``len(history) == evaluations`` whenever the program has constants, and
    the result is never worse than ``program`` on ``evaluator``. The count is
    of evaluations, not of floating-point work: a search evaluation on small
    projected tasks is far cheaper than a tuning trial at full size.

    Raises ``ValueError`` if ``evaluations < 1``.

    Example:
        >>> import numpy as np
        >>> from evoforge.automl_zero.baselines import baseline_program
        >>> from evoforge.automl_zero.evaluator import ProgramEvaluator
        >>> from evoforge.data.regression import linear_tasks
        >>> sgd, mem = baseline_program("linear_sgd", 4, learning_rate=0.0001)
        >>> evaluator = ProgramEvaluator(mem, linear_tasks(2, 4, 100, 20, seed=0))
        >>> _, fitness, history = tune_with_budget(sgd, mem, evaluator, 30,
        ...                                        np.random.default_rng(1))
        >>> len(history), fitness >= history[0]
        (30, True)
    """
    if isinstance(evaluations, bool) or not isinstance(evaluations, int | np.integer):
        raise ValueError(f"evaluations: expected an integer >= 1, got {evaluations!r}")
    if evaluations < 1:
        raise ValueError(f"evaluations: expected an integer >= 1, got {evaluations}")
    return tune_constants(program, memory, evaluator, int(evaluations) - 1, rng)
