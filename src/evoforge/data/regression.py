"""Synthetic regression tasks of AutoML-Zero §4.1: linear, affine and teacher-network labels.

Every random number is standard Gaussian, as in the paper ("All random numbers
were Gaussian (μ=0, σ=1)"): the inputs ``x ~ N(0, I_F)`` and the labelling
function's weights. The labelling function is fixed within a task and differs
between tasks. Defaults follow the paper's experiments: 8 features, 1000
training and 100 validation examples.

Task ``i`` depends only on ``(seed, i)`` and the shape arguments, so
``linear_tasks(10, ...)`` starts with the tasks of ``linear_tasks(3, ...)``, and
a linear and an affine task with the same seed and index share ``u`` and ``x``.

Example:
    >>> from evoforge.data.regression import linear_tasks
    >>> ts = linear_tasks(2, features=3, n_train=5, n_valid=2, seed=0)
    >>> ts.eval_type, ts.train_x.shape
    ('rms', (2, 5, 3))
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from evoforge.data.tasks import (
    Task,
    TaskSet,
    epoch_orders,
    program_seed,
    require_positive_int,
    stream_rng,
    task_seed_sequence,
)

# Draws a task's labelling function from the task's "model" stream.
LabelDraw = Callable[[np.random.Generator], Callable[[np.ndarray], np.ndarray]]


def _regression_tasks(
    kind: str,
    draw: LabelDraw,
    n_tasks: int,
    features: int,
    n_train: int,
    n_valid: int,
    epochs: int,
    seed: int | np.random.SeedSequence,
    input_scale: float = 1.0,
) -> TaskSet:
    n_tasks = require_positive_int("n_tasks", n_tasks)
    features = require_positive_int("features", features)
    n_train = require_positive_int("n_train", n_train)
    n_valid = require_positive_int("n_valid", n_valid)
    epochs = require_positive_int("epochs", epochs)
    tasks = []
    for i in range(n_tasks):
        ss = task_seed_sequence(seed, i)
        label = draw(stream_rng(ss, "model"))
        # Separate input streams keep the validation set fixed when n_train changes.
        train_x = stream_rng(ss, "train").standard_normal((n_train, features)) * input_scale
        valid_x = stream_rng(ss, "valid").standard_normal((n_valid, features)) * input_scale
        tasks.append(
            Task(
                train_x=train_x,
                train_y=label(train_x),
                valid_x=valid_x,
                valid_y=label(valid_x),
                orders=epoch_orders(stream_rng(ss, "order"), n_train, epochs),
                seed=program_seed(ss),
                eval_type="rms",
                name=f"{kind}[{i}]",
            )
        )
    return TaskSet.from_tasks(tasks)


def linear_tasks(
    n_tasks: int,
    features: int = 8,
    n_train: int = 1000,
    n_valid: int = 100,
    epochs: int = 1,
    *,
    seed: int | np.random.SeedSequence = 0,
) -> TaskSet:
    """Linear regression tasks: ``y = u · x`` with ``u ~ N(0, I_F)`` drawn per task.

    Example:
        >>> import numpy as np
        >>> ts = linear_tasks(1, features=4, n_train=20, n_valid=5, seed=3)
        >>> u = np.linalg.lstsq(ts.train_x[0], ts.train_y[0], rcond=None)[0]
        >>> bool(np.allclose(ts.valid_x[0] @ u, ts.valid_y[0]))
        True
    """

    def draw(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        u = rng.standard_normal(features)
        return lambda x: x @ u

    return _regression_tasks("linear", draw, n_tasks, features, n_train, n_valid, epochs, seed)


def affine_tasks(
    n_tasks: int,
    features: int = 8,
    n_train: int = 1000,
    n_valid: int = 100,
    epochs: int = 1,
    *,
    seed: int | np.random.SeedSequence = 0,
) -> TaskSet:
    """Affine regression tasks: ``y = u · x + a`` with ``u ~ N(0, I_F)``, ``a ~ N(0, 1)``.

    Example:
        >>> ts = affine_tasks(2, features=4, n_train=20, n_valid=5, seed=3)
        >>> ts.names
        ('affine[0]', 'affine[1]')
    """

    def draw(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        u = rng.standard_normal(features)
        a = rng.standard_normal()
        return lambda x: x @ u + a

    return _regression_tasks("affine", draw, n_tasks, features, n_train, n_valid, epochs, seed)


# Hidden units whose weights Google's teacher-task generator zeroes (rows 0
# and 2 of M, entries 0 and 2 of u), so each teacher has F - 2 live units.
REFERENCE_DEAD_UNITS = (0, 2)


def _positive_scale(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def teacher_tasks(
    n_tasks: int,
    features: int = 8,
    n_train: int = 1000,
    n_valid: int = 100,
    epochs: int = 1,
    *,
    hidden: int | None = None,
    seed: int | np.random.SeedSequence = 0,
    input_scale: float = 1.0,
    weight_scale: float = 1.0,
) -> TaskSet:
    """Teacher-network regression tasks: ``y = u · ReLU(M x)``, generated as
    Google's reference does (``Scalar2LayerNnRegressionTaskCreator``).

    The reference draws ``x``, ``M`` (``F × F``) and ``u`` with standard
    Gaussian entries and no fan-in scaling, and zeroes hidden units 0 and 2
    (`REFERENCE_DEAD_UNITS`: rows of ``M``, entries of ``u``), so labels have
    standard deviation ``≈ sqrt((F - 2) · F / 2)`` (√24 ≈ 4.9 at the paper's
    F = 8). ``hidden`` (default F; keyword-only so the positional arguments
    match `linear_tasks`) changes the number of units; the same units are zeroed.

    ``input_scale`` and ``weight_scale`` (default 1, the reference) are the
    standard deviations of ``x`` and of the teacher's weights: an evoforge
    option, not the reference's. Figure 5's program as printed (learning rate
    4.1) diverges within a few steps on the reference's tasks; it learns
    when the inputs are small (``configs/automl_zero/teacher_nn_figure5.toml``).

    Example:
        >>> ts = teacher_tasks(1, features=4, hidden=6, n_train=20, n_valid=5, seed=3)
        >>> ts.train_y.shape
        (1, 20)
        >>> small = teacher_tasks(1, features=4, n_train=20, n_valid=5, seed=3, input_scale=0.1)
        >>> bool(np.allclose(small.train_x, 0.1 * teacher_tasks(1, 4, 20, 5, seed=3).train_x))
        True
    """
    hidden_size = features if hidden is None else require_positive_int("hidden", hidden)
    input_scale = _positive_scale("input_scale", input_scale)
    weight_scale = _positive_scale("weight_scale", weight_scale)
    dead = [unit for unit in REFERENCE_DEAD_UNITS if unit < hidden_size]

    def draw(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        m = rng.standard_normal((hidden_size, features)) * weight_scale
        u = rng.standard_normal(hidden_size) * weight_scale
        m[dead] = 0.0
        u[dead] = 0.0
        return lambda x: np.maximum(x @ m.T, 0.0) @ u

    return _regression_tasks(
        "teacher", draw, n_tasks, features, n_train, n_valid, epochs, seed, input_scale
    )
