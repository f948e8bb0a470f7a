"""The reference interpreter: AutoML-Zero semantics written to be read.

This module defines what a program computes (see
``shared/notes/automl_zero_semantics.md``); the compiled interpreter in
`evoforge.automl_zero.interpreter_numba` is tested against it. Reductions are
summed left to right and transcendentals go through libm, as in the compiled
one, so the two agree to the last bit on almost every program.

Multiclass tasks (``eval_type == "multiclass"``, K = ``n_classes``) are our
reading of the paper's "labels and outputs are now vectors" (§4.3): Predict
writes logits to ``v1[0:K]``; before every Predict ``v2`` (the label vector) is
zeroed along with ``s0``; after a training Predict, Normalize replaces
``v1[0:K]`` in memory by its softmax (`softmax`; entries from K on are left as
they are) and training stops, before Learn, if any ``|onehot_k - p_k|`` is NaN
or above ``max_abs_error``; Learn sees the one-hot label in ``v2`` (zeros from K
on) and ``s0 = 0``. Validation scores the accuracy of `predicted_class` of the
raw logits and never stops early. The recorded prediction is the predicted
class (of the probabilities in training, of the logits in validation).

Example:
    >>> from evoforge.automl_zero.program import Memory
    >>> from evoforge.automl_zero.baselines import linear_sgd
    >>> from evoforge.automl_zero.text import from_text
    >>> from evoforge.automl_zero import interpreter_numpy
    >>> from evoforge.data.regression import linear_tasks
    >>> tasks = linear_tasks(n_tasks=2, features=4, n_train=100, n_valid=20, seed=0)
    >>> mem = Memory(4, 3, 1, features=4)
    >>> sgd = from_text(linear_sgd(0.1), mem)
    >>> result = interpreter_numpy.run_tasks(sgd, mem, tasks)
    >>> bool(result.fitness.min() > 0.99)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evoforge.automl_zero import prng
from evoforge.automl_zero.program import (
    FEATURES_VECTOR,
    LABEL_SCALAR,
    LABEL_VECTOR,
    PREDICTION_SCALAR,
    PREDICTION_VECTOR,
    Memory,
    Program,
)

# FlipAndSquash maps an RMS error in [0, inf) to a fitness in (0, 1].
_TWO_OVER_PI = 0.63661977236758138243
DEFAULT_MAX_ABS_ERROR = 100.0
MULTICLASS_MEMORY_ERROR = (
    "multiclass tasks need at least 3 vectors: v0 features, v1 logits, v2 label"
)


@dataclass
class RunResult:
    """Per-task fitness and training steps; ``predictions`` (tasks x steps)
    holds every training prediction (after Normalize) then every validation
    prediction, NaN where a stopped run made none; for multiclass tasks, the
    predicted class index."""

    fitness: np.ndarray
    steps: np.ndarray
    predictions: np.ndarray | None = None


def flip_and_squash(rms: float) -> float:
    if math.isnan(rms) or math.isinf(rms):
        return 0.0
    return 1.0 - _TWO_OVER_PI * math.atan(rms)


def sigmoid(x: float) -> float:
    # libm's exp, as the compiled interpreter: numpy's SIMD exp may differ in the last bit.
    return 1.0 / (1.0 + _libm(math.exp, -float(x), overflow=math.inf))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Multiclass Normalize: ``exp(x - max) / sum``, the maximum subtracted first so
    that no exp overflows. A NaN or +inf logit (or all logits -inf) makes every
    probability NaN, which stops training.

    Example:
        >>> softmax(np.array([1000.0, 1000.0, -np.inf])).tolist()
        [0.5, 0.5, 0.0]
    """
    values = [float(x) for x in logits]  # Python floats: inf - inf is NaN without a warning
    top = values[0]
    for x in values[1:]:
        if x > top:
            top = x
    exps = [_libm(math.exp, x - top, overflow=math.inf) for x in values]
    total = 0.0
    for e in exps:
        total += e
    return np.array([e / total for e in exps])


def predicted_class(values: np.ndarray) -> int:
    """Index of the largest value: NaN never wins, ties go to the lowest index,
    all NaN is class 0.

    Example:
        >>> predicted_class(np.array([np.nan, 2.0, 5.0, 5.0]))
        2
    """
    best = 0
    for k in range(1, len(values)):
        if values[k] > values[best] or (math.isnan(values[best]) and not math.isnan(values[k])):
            best = k
    return best


def _total(values) -> float:
    """Left-to-right sum, the order the compiled interpreter uses."""
    acc = 0.0
    for x in np.asarray(values, dtype=np.float64).ravel():
        acc += float(x)
    return acc


def _libm(fn, x: float, overflow: float = math.nan) -> float:
    """Call a `math` function with IEEE results instead of exceptions."""
    try:
        return fn(x)
    except OverflowError:
        return overflow
    except ValueError:
        return math.nan


def _log(x: float) -> float:
    if x == 0.0:
        return -math.inf
    if x != x or x < 0.0:
        return math.nan
    return math.log(x)


def _min_first_wins(a, b):
    # Scalars/vectors (ops 44, 45): a unless b compares strictly smaller.
    return np.where(b < a, b, a)


def _max_first_wins(a, b):
    return np.where(a < b, b, a)


def _std(x: np.ndarray) -> float:
    # One-pass population standard deviation, as the reference computes it;
    # a slightly negative variance gives NaN on purpose.
    n = x.size
    mean = _total(x) / n
    with np.errstate(invalid="ignore"):
        return float(np.sqrt(_total(x * x) / n - mean * mean))


def _matvec(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.array([_total(row * x) for row in a])


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array(
        [[_total(a[i] * b[:, j]) for j in range(b.shape[1])] for i in range(a.shape[0])]
    )


class Executor:
    """Memory plus the instruction semantics of ops 0-64."""

    def __init__(self, program: Program, memory: Memory, seed: int):
        self.program = program
        self.memory = memory
        f = memory.features
        self.s = np.zeros(memory.n_scalars)
        self.v = np.zeros((memory.n_vectors, f))
        self.m = np.zeros((memory.n_matrices, f, f))
        self.rng = prng.new_state(seed)

    def run(self, component: int) -> None:
        start, stop = self.program.bounds(component)
        with np.errstate(all="ignore"):
            for i in range(start, stop):
                op, a, b, o = (int(x) for x in self.program.code[i])
                self.execute(op, a, b, o, self.program.data[i])

    def execute(self, op: int, a: int, b: int, o: int, data: np.ndarray) -> None:
        s, v, m, F = self.s, self.v, self.m, self.memory.features
        if op == 0:
            return
        # Scalar arithmetic and functions.
        if op == 1:
            s[o] = s[a] + s[b]
        elif op == 2:
            s[o] = s[a] - s[b]
        elif op == 3:
            s[o] = s[a] * s[b]
        elif op == 4:
            s[o] = np.float64(s[a]) / np.float64(s[b])
        elif op == 5:
            s[o] = abs(s[a])
        elif op == 6:
            s[o] = 1.0 / np.float64(s[a])
        elif op in (7, 8, 9, 10, 11, 12):
            fn = (math.sin, math.cos, math.tan, math.asin, math.acos, math.atan)[op - 7]
            s[o] = _libm(fn, float(s[a]))
        elif op == 13:
            s[o] = _libm(math.exp, float(s[a]), overflow=math.inf)
        elif op == 14:
            s[o] = _log(float(s[a]))
        # Heaviside: 1 at 0 for scalars, 0 at 0 for vectors and matrices.
        elif op == 15:
            s[o] = 1.0 if s[a] >= 0.0 else 0.0
        elif op == 16:
            v[o] = np.where(v[a] > 0.0, 1.0, 0.0)
        elif op == 17:
            m[o] = np.where(m[a] > 0.0, 1.0, 0.0)
        # Vector ops.
        elif op == 18:
            v[o] = s[a] * v[b]
        elif op == 19:
            v[o] = s[a]
        elif op == 20:
            v[o] = 1.0 / v[a]
        elif op == 21:
            s[o] = math.sqrt(_total(v[a] * v[a]))
        elif op == 22:
            v[o] = np.abs(v[a])
        elif op == 23:
            v[o] = v[a] + v[b]
        elif op == 24:
            v[o] = v[a] - v[b]
        elif op == 25:
            v[o] = v[a] * v[b]
        elif op == 26:
            v[o] = v[a] / v[b]
        elif op == 27:
            s[o] = _total(v[a] * v[b])
        elif op == 28:
            m[o] = np.outer(v[a], v[b])
        # Matrix ops.
        elif op == 29:
            m[o] = s[a] * m[b]
        elif op == 30:
            m[o] = 1.0 / m[a]
        elif op == 31:
            v[o] = _matvec(m[a], v[b])
        elif op == 32:
            m[o] = v[a][:, None] * np.ones(F)  # every column is the vector
        elif op == 33:
            m[o] = np.ones(F)[:, None] * v[a]  # every row is the vector
        elif op == 34:
            s[o] = math.sqrt(_total(m[a] * m[a]))
        elif op == 35:
            v[o] = [math.sqrt(_total(m[a][:, j] ** 2)) for j in range(F)]
        elif op == 36:
            v[o] = [math.sqrt(_total(m[a][i] ** 2)) for i in range(F)]
        elif op == 37:
            m[o] = m[a].T.copy()
        elif op == 38:
            m[o] = np.abs(m[a])
        elif op == 39:
            m[o] = m[a] + m[b]
        elif op == 40:
            m[o] = m[a] - m[b]
        elif op == 41:
            m[o] = m[a] * m[b]
        elif op == 42:
            m[o] = m[a] / m[b]
        elif op == 43:
            m[o] = _matmul(m[a], m[b])
        # Min/max: NaN and signed zeros resolve to the first operand for
        # scalars and vectors, to the second for matrices.
        elif op == 44:
            s[o] = _min_first_wins(s[a], s[b])
        elif op == 45:
            v[o] = _min_first_wins(v[a], v[b])
        elif op == 46:
            m[o] = np.where(m[a] < m[b], m[a], m[b])
        elif op == 47:
            s[o] = _max_first_wins(s[a], s[b])
        elif op == 48:
            v[o] = _max_first_wins(v[a], v[b])
        elif op == 49:
            m[o] = np.where(m[a] > m[b], m[a], m[b])
        # Statistics.
        elif op == 50:
            s[o] = _total(v[a]) / F
        elif op == 51:
            s[o] = _total(m[a]) / (F * F)
        elif op == 52:
            v[o] = [_total(row) / F for row in m[a]]
        elif op == 53:
            v[o] = [_std(row) for row in m[a]]
        elif op == 54:
            s[o] = _std(v[a])
        elif op == 55:
            s[o] = _std(m[a])
        # Constants and random draws.
        elif op == 56:
            s[o] = data[0]
        elif op == 57:
            v[o, self._index(data[0])] = data[1]
        elif op == 58:
            m[o, self._index(data[0]), self._index(data[1])] = data[2]
        elif op == 59:
            s[o] = prng.uniform(self.rng, data[0], data[1])
        elif op == 60:
            v[o] = [prng.uniform(self.rng, data[0], data[1]) for _ in range(F)]
        elif op == 61:
            m[o] = np.reshape(
                [prng.uniform(self.rng, data[0], data[1]) for _ in range(F * F)], (F, F)
            )
        elif op == 62:
            s[o] = prng.gaussian(self.rng, data[0], data[1])
        elif op == 63:
            v[o] = [prng.gaussian(self.rng, data[0], data[1]) for _ in range(F)]
        elif op == 64:
            m[o] = np.reshape(
                [prng.gaussian(self.rng, data[0], data[1]) for _ in range(F * F)], (F, F)
            )
        else:
            raise ValueError(f"op id {op} is outside 0..64")

    def _index(self, fraction: float) -> int:
        return int(np.float32(self.memory.features) * np.float32(fraction))


def run_setup(
    program: Program, memory: Memory, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run only Setup on zeroed memory and return the scalars, vectors and matrices;
    ``seed`` seeds the generator of the random ops.

    Example:
        >>> from evoforge.automl_zero.text import from_text
        >>> mem = Memory(3, 2, 1, features=2)
        >>> p = from_text("def Setup():\\n    s2 = 2.5\\n    v1 = bcast(s2)", mem)
        >>> s, v, m = run_setup(p, mem)
        >>> v[1].tolist()
        [2.5, 2.5]
    """
    ex = Executor(program, memory, seed)
    ex.run(0)
    return ex.s, ex.v, ex.m


def run_tasks(
    program: Program,
    memory: Memory,
    tasks,
    start: int = 0,
    stop: int | None = None,
    max_abs_error: float = DEFAULT_MAX_ABS_ERROR,
    record: bool = False,
) -> RunResult:
    """Train and validate ``program`` on tasks ``start..stop`` of a `TaskSet`
    (Figure 1 of the paper, with the reference's resets and stopping rules).

    Raises ValueError for multiclass tasks if the memory has fewer than 3 vectors.
    """
    stop = tasks.D if stop is None else stop
    eval_type, n_classes = tasks.eval_type, tasks.n_classes
    if eval_type == "multiclass" and memory.n_vectors < 3:
        raise ValueError(MULTICLASS_MEMORY_ERROR)
    n_tasks = stop - start
    fitness = np.zeros(n_tasks)
    steps = np.zeros(n_tasks, dtype=np.int64)
    n_epochs, n_train, n_valid = tasks.orders.shape[1], tasks.N, tasks.M
    predictions = np.full((n_tasks, n_epochs * (n_train + n_valid)), np.nan) if record else None
    for k, d in enumerate(range(start, stop)):
        ex = Executor(program, memory, int(tasks.seeds[d]))
        s, v = ex.s, ex.v
        ex.run(0)
        best = 0.0
        slot = 0
        for epoch in range(n_epochs):
            diverged = False
            for i in tasks.orders[d, epoch]:
                x, y = tasks.train_x[d, i], float(tasks.train_y[d, i])
                _reset_for_predict(ex, x, eval_type)
                ex.run(1)
                prediction, errors = _normalize(ex, y, eval_type, n_classes)
                steps[k] += 1
                if record:
                    predictions[k, slot] = prediction
                slot += 1
                if not np.all(errors <= max_abs_error):  # NaN or too large: stop before Learn
                    diverged = True
                    break
                v[FEATURES_VECTOR] = x
                if eval_type == "multiclass":
                    s[LABEL_SCALAR] = 0.0  # the label is the vector v2; s0 carries nothing
                    v[LABEL_VECTOR] = _one_hot(y, memory.features)
                else:
                    s[LABEL_SCALAR] = y
                ex.run(2)
            if diverged:
                break
            epoch_fitness = _validate(ex, tasks, d, max_abs_error, predictions, k, slot)
            slot += n_valid
            best = max(best, epoch_fitness)
        fitness[k] = best
    return RunResult(fitness, steps, predictions)


def _one_hot(label: float, size: int) -> np.ndarray:
    target = np.zeros(size)
    target[int(label)] = 1.0
    return target


def _reset_for_predict(ex: Executor, features: np.ndarray, eval_type: str) -> None:
    """Show Predict the features and hide the label."""
    ex.v[FEATURES_VECTOR] = features
    ex.s[LABEL_SCALAR] = 0.0
    if eval_type == "multiclass":
        ex.v[LABEL_VECTOR] = 0.0


def _normalize(
    ex: Executor, label: float, eval_type: str, n_classes: int
) -> tuple[float, np.ndarray]:
    """Figure 1's Normalize after a training Predict, in memory; returns the prediction
    to record and the absolute errors that the stopping rule checks."""
    s, v = ex.s, ex.v
    if eval_type == "multiclass":
        probabilities = softmax(v[PREDICTION_VECTOR, :n_classes])
        v[PREDICTION_VECTOR, :n_classes] = probabilities
        errors = np.abs(_one_hot(label, n_classes) - probabilities)
        return float(predicted_class(probabilities)), errors
    if eval_type == "accuracy":
        s[PREDICTION_SCALAR] = sigmoid(s[PREDICTION_SCALAR])
    prediction = float(s[PREDICTION_SCALAR])
    return prediction, np.array([abs(label - prediction)])


def _validate(
    ex: Executor,
    tasks,
    d: int,
    max_abs_error: float,
    predictions,
    k: int,
    slot: int,
) -> float:
    s, v = ex.s, ex.v
    loss = 0.0
    for j in range(tasks.M):
        _reset_for_predict(ex, tasks.valid_x[d, j], tasks.eval_type)
        ex.run(1)
        if tasks.eval_type == "multiclass":
            prediction = float(predicted_class(v[PREDICTION_VECTOR, : tasks.n_classes]))
        else:
            prediction = float(s[PREDICTION_SCALAR])
        if predictions is not None:
            predictions[k, slot + j] = prediction
        label = float(tasks.valid_y[d, j])
        if tasks.eval_type == "multiclass":
            loss += float(prediction != label)
        elif tasks.eval_type == "accuracy":
            # NaN > 0.5 is false: a NaN logit counts as class 0, it does not stop.
            loss += float((label > 0.5) != (sigmoid(prediction) > 0.5))
        else:
            error = label - prediction
            if not abs(error) <= max_abs_error:
                return 0.0
            loss += error * error
    if tasks.eval_type == "rms":
        return flip_and_squash(math.sqrt(loss / tasks.M))
    return 1.0 - loss / tasks.M
