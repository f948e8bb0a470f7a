"""The compiled interpreter: the reference semantics at a few ns per instruction.

`run_tasks` computes exactly what `evoforge.algorithms.interpreter_numpy.run_tasks`
computes (the reference; see ``shared/notes/automl_zero_semantics.md``), with the
same reduction order and the same libm calls, so the two agree to the last bit
on almost every program. The work happens in `run_kernel`, a compiled function
of arrays and scalars only, which an evaluator can call directly to avoid the
per-call cost of building a `RunResult`.

Example:
    >>> from evoforge.algorithms.program import Memory
    >>> from evoforge.algorithms.text import from_text
    >>> from evoforge.algorithms import interpreter_numba
    >>> from evoforge.data.regression import linear_tasks
    >>> tasks = linear_tasks(n_tasks=2, features=4, n_train=100, n_valid=20, seed=0)
    >>> mem = Memory(4, 3, 1, features=4)
    >>> sgd = from_text('''
    ... def Setup():
    ...     s3 = 0.1
    ... def Predict():
    ...     s1 = dot(v0, v1)
    ... def Learn():
    ...     s2 = s0 - s1
    ...     s2 = s2 * s3
    ...     v2 = s2 * v0
    ...     v1 = v1 + v2
    ... ''', mem)
    >>> result = interpreter_numba.run_tasks(sgd, mem, tasks)
    >>> bool(result.fitness.min() > 0.99)
    True
"""

from __future__ import annotations

import math

import numba
import numpy as np

from evoforge.algorithms import prng
from evoforge.algorithms.interpreter_numpy import (
    _TWO_OVER_PI,
    DEFAULT_MAX_ABS_ERROR,
    RunResult,
)
from evoforge.algorithms.ops import OPS
from evoforge.algorithms.program import (
    FEATURES_VECTOR,
    LABEL_SCALAR,
    PREDICTION_SCALAR,
    Memory,
    Program,
)

# IEEE division instead of ZeroDivisionError, as the reference does.
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")

# Operand kinds per op, (in1, in2, out): 0 unused, 1 scalar, 2 vector, 3 matrix.
# Lets the kernel check every address once per call instead of on every step.
_KIND_CODES = {"s": 1, "v": 2, "m": 3}
_OPERAND_KINDS = np.array(
    [
        [_KIND_CODES.get(k, 0) for k in (*spec.inputs, "", "")[:2]]
        + [_KIND_CODES.get(spec.output or "", 0)]
        for spec in OPS
    ],
    dtype=np.int64,
)
_N_OPS = len(OPS)

# Predictions buffer that tells `run_kernel` not to record.
_NO_RECORD = np.empty((0, 0))


@_jit
def _index(features: int, fraction: float) -> int:
    # The reference forms F * f in float32 and truncates (ops 57, 58).
    return int(np.float32(features) * np.float32(fraction))


@_jit
def _check(code, data, n_scalars, n_vectors, n_matrices, features):
    """Raise ValueError unless every op id, address and element index is in range."""
    bank = np.array([0, n_scalars, n_vectors, n_matrices])
    for i in range(code.shape[0]):
        op = code[i, 0]
        if op < 0 or op >= _N_OPS:
            raise ValueError("program has an op id outside 0..64")
        for slot in range(3):
            kind = _OPERAND_KINDS[op, slot]
            address = code[i, slot + 1]
            if kind != 0 and (address < 0 or address >= bank[kind]):
                raise ValueError("program has an address outside the memory")
        if op == 57 or op == 58:
            for slot in range(op - 56):
                product = np.float32(features) * np.float32(data[i, slot])
                # Written so that NaN fails too.
                if not (product >= 0.0 and product < features):
                    raise ValueError("program has an element index fraction outside [0, 1)")


# What the kernel runs next for a task; `run_kernel` moves between these.
_SETUP, _TRAIN_PREDICT, _TRAIN_LEARN, _VALID_PREDICT, _DONE = 0, 1, 2, 3, 4


@_jit
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@_jit
def _rms_fitness(loss, n_valid):
    # FlipAndSquash of the RMS error; 0 for NaN or infinite errors.
    rms = math.sqrt(loss / n_valid)
    if math.isnan(rms) or math.isinf(rms):
        return 0.0
    return 1.0 - _TWO_OVER_PI * math.atan(rms)


@_jit
def run_kernel(
    code,
    data,
    n_setup,
    n_predict,
    n_learn,
    s,
    v,
    m,
    train_x,
    train_y,
    valid_x,
    valid_y,
    orders,
    seeds,
    start,
    stop,
    classify,
    max_abs_error,
    fitness,
    steps,
    predictions,
):
    """Train and validate a program on tasks ``start..stop``; the compiled core of `run_tasks`.

    Arguments, all positional:

    * ``code`` int64 ``(n, 4)``, ``data`` float64 ``(n, 3)``: `Program` arrays;
      ``n_setup, n_predict, n_learn`` their component sizes (`Program.sizes`).
    * ``s (n_scalars,)``, ``v (n_vectors, F)``, ``m (n_matrices, F, F)``: float64
      C-contiguous memory banks, preallocated by the caller; zeroed before each
      task, they hold the last task's final memory on return.
    * ``train_x (D, N, F)``, ``train_y (D, N)``, ``valid_x (D, M, F)``,
      ``valid_y (D, M)``, ``orders (D, E, N)`` int64, ``seeds (D,)`` uint64: the
      `TaskSet` arrays, trusted to be consistent (`TaskSet` checks them).
    * ``start, stop``: the task range, ``0 <= start <= stop <= D``.
    * ``classify``: True for ``"accuracy"`` tasks, False for ``"rms"``.
    * ``max_abs_error``: the early-stopping threshold (100.0 by default).
    * Outputs, overwritten: ``fitness`` float64 ``(stop - start,)``, ``steps``
      int64 ``(stop - start,)`` and ``predictions`` float64
      ``(stop - start, E * (N + M))`` laid out as `RunResult.predictions`, or a
      ``(0, 0)`` array to record nothing.

    Raises ValueError (before running anything) if an op id, address or element
    index of the program does not fit the banks; nothing else is checked.
    """
    F = v.shape[1]
    n_train = train_x.shape[1]
    n_valid = valid_x.shape[1]
    n_epochs = orders.shape[1]
    _check(code, data, s.shape[0], v.shape[0], m.shape[0], F)
    record = predictions.shape[0] > 0
    # Instruction ranges of Setup, Predict and Learn, by phase.
    learn_lo = n_setup + n_predict
    lo = np.array([0, n_setup, learn_lo, n_setup])
    hi = np.array([n_setup, learn_lo, learn_lo + n_learn, learn_lo])
    tv = np.empty(F)
    tm = np.empty((F, F))
    rng = np.empty(1, dtype=np.uint64)
    for t in range(stop - start):
        d = start + t
        s[:] = 0.0
        v[:] = 0.0
        m[:] = 0.0
        rng[0] = seeds[d]
        if record:
            predictions[t, :] = np.nan
        best = 0.0
        n_steps = 0
        epoch = 0
        e = 0  # example position within the phase
        loss = 0.0
        # A state machine: run the phase's instructions, then move to the next
        # phase. The op dispatch appears once, written out here, because a
        # function call per component (arrays passed, reference counts taken)
        # costs more than the few instructions it runs, and numba would
        # re-optimise an inlined copy at every call site.
        phase = _SETUP
        while True:
            for pc in range(lo[phase], hi[phase]):
                op = code[pc, 0]
                a = code[pc, 1]
                b = code[pc, 2]
                o = code[pc, 3]
                # One if/elif chain on ``op``: LLVM turns it into a jump table.
                if op == 0:
                    pass
                elif op == 1:
                    s[o] = s[a] + s[b]
                elif op == 2:
                    s[o] = s[a] - s[b]
                elif op == 3:
                    s[o] = s[a] * s[b]
                elif op == 4:
                    s[o] = s[a] / s[b]
                elif op == 5:
                    s[o] = abs(s[a])
                elif op == 6:
                    s[o] = 1.0 / s[a]
                elif op == 7:
                    s[o] = math.sin(s[a])
                elif op == 8:
                    s[o] = math.cos(s[a])
                elif op == 9:
                    s[o] = math.tan(s[a])
                elif op == 10:
                    s[o] = math.asin(s[a])
                elif op == 11:
                    s[o] = math.acos(s[a])
                elif op == 12:
                    s[o] = math.atan(s[a])
                elif op == 13:
                    s[o] = math.exp(s[a])
                elif op == 14:
                    s[o] = math.log(s[a])
                elif op == 15:
                    s[o] = 1.0 if s[a] >= 0.0 else 0.0
                elif op == 16:
                    for j in range(F):
                        v[o, j] = 1.0 if v[a, j] > 0.0 else 0.0
                elif op == 17:
                    for j in range(F):
                        for k in range(F):
                            m[o, j, k] = 1.0 if m[a, j, k] > 0.0 else 0.0
                elif op == 18:
                    x = s[a]
                    for j in range(F):
                        v[o, j] = x * v[b, j]
                elif op == 19:
                    x = s[a]
                    for j in range(F):
                        v[o, j] = x
                elif op == 20:
                    for j in range(F):
                        v[o, j] = 1.0 / v[a, j]
                elif op == 21:
                    acc = 0.0
                    for j in range(F):
                        acc += v[a, j] * v[a, j]
                    s[o] = math.sqrt(acc)
                elif op == 22:
                    for j in range(F):
                        v[o, j] = abs(v[a, j])
                elif op == 23:
                    for j in range(F):
                        v[o, j] = v[a, j] + v[b, j]
                elif op == 24:
                    for j in range(F):
                        v[o, j] = v[a, j] - v[b, j]
                elif op == 25:
                    for j in range(F):
                        v[o, j] = v[a, j] * v[b, j]
                elif op == 26:
                    for j in range(F):
                        v[o, j] = v[a, j] / v[b, j]
                elif op == 27:
                    acc = 0.0
                    for j in range(F):
                        acc += v[a, j] * v[b, j]
                    s[o] = acc
                elif op == 28:
                    for j in range(F):
                        x = v[a, j]
                        for k in range(F):
                            m[o, j, k] = x * v[b, k]
                elif op == 29:
                    x = s[a]
                    for j in range(F):
                        for k in range(F):
                            m[o, j, k] = x * m[b, j, k]
                elif op == 30:
                    for j in range(F):
                        for k in range(F):
                            m[o, j, k] = 1.0 / m[a, j, k]
                elif op == 31:
                    for j in range(F):
                        acc = 0.0
                        for k in range(F):
                            acc += m[a, j, k] * v[b, k]
                        tv[j] = acc
                    for j in range(F):
                        v[o, j] = tv[j]
                elif op == 32:
                    for j in range(F):
                        x = v[a, j]
                        for k in range(F):
                            m[o, j, k] = x
                elif op == 33:
                    for j in range(F):
                        for k in range(F):
                            m[o, j, k] = v[a, k]
                elif op == 34:
                    acc = 0.0
                    for j in range(F):
                        for k in range(F):
                            acc += m[a, j, k] * m[a, j, k]
                    s[o] = math.sqrt(acc)
                elif op == 35:
                    for k in range(F):
                        acc = 0.0
                        for j in range(F):
                            acc += m[a, j, k] * m[a, j, k]
                        v[o, k] = math.sqrt(acc)
                elif op == 36:
                    for j in range(F):
                        acc = 0.0
                        for k in range(F):
                            acc += m[a, j, k] * m[a, j, k]
                        v[o, j] = math.sqrt(acc)
                elif op == 37:
                    for j in range(F):
                        for k in range(F):
                            tm[j, k] = m[a, k, j]
                    m[o, :, :] = tm
                elif op == 38:
                    for j in range(F):
                        for k in range(F):
                            m[o, j, k] = abs(m[a, j, k])
                elif op == 39:
                    for j in range(F):
                        for k in range(F):
                            m[o, j, k] = m[a, j, k] + m[b, j, k]
                elif op == 40:
                    for j in range(F):
                        for k in range(F):
                            m[o, j, k] = m[a, j, k] - m[b, j, k]
                elif op == 41:
                    for j in range(F):
                        for k in range(F):
                            m[o, j, k] = m[a, j, k] * m[b, j, k]
                elif op == 42:
                    for j in range(F):
                        for k in range(F):
                            m[o, j, k] = m[a, j, k] / m[b, j, k]
                elif op == 43:
                    for j in range(F):
                        for k in range(F):
                            acc = 0.0
                            for t in range(F):
                                acc += m[a, j, t] * m[b, t, k]
                            tm[j, k] = acc
                    m[o, :, :] = tm
                # Min/max: NaN and ties resolve to the first operand for scalars and
                # vectors, to the second for matrices.
                elif op == 44:
                    x = s[a]
                    y = s[b]
                    s[o] = y if y < x else x
                elif op == 45:
                    for j in range(F):
                        x = v[a, j]
                        y = v[b, j]
                        v[o, j] = y if y < x else x
                elif op == 46:
                    for j in range(F):
                        for k in range(F):
                            x = m[a, j, k]
                            y = m[b, j, k]
                            m[o, j, k] = x if x < y else y
                elif op == 47:
                    x = s[a]
                    y = s[b]
                    s[o] = y if x < y else x
                elif op == 48:
                    for j in range(F):
                        x = v[a, j]
                        y = v[b, j]
                        v[o, j] = y if x < y else x
                elif op == 49:
                    for j in range(F):
                        for k in range(F):
                            x = m[a, j, k]
                            y = m[b, j, k]
                            m[o, j, k] = x if x > y else y
                elif op == 50:
                    acc = 0.0
                    for j in range(F):
                        acc += v[a, j]
                    s[o] = acc / F
                elif op == 51:
                    acc = 0.0
                    for j in range(F):
                        for k in range(F):
                            acc += m[a, j, k]
                    s[o] = acc / (F * F)
                elif op == 52:
                    for j in range(F):
                        acc = 0.0
                        for k in range(F):
                            acc += m[a, j, k]
                        v[o, j] = acc / F
                # Standard deviations: one pass, E[x^2] - E[x]^2; a negative
                # difference gives NaN, as in the reference.
                elif op == 53:
                    for j in range(F):
                        acc = 0.0
                        acc2 = 0.0
                        for k in range(F):
                            acc += m[a, j, k]
                            acc2 += m[a, j, k] * m[a, j, k]
                        mean = acc / F
                        v[o, j] = math.sqrt(acc2 / F - mean * mean)
                elif op == 54:
                    acc = 0.0
                    acc2 = 0.0
                    for j in range(F):
                        acc += v[a, j]
                        acc2 += v[a, j] * v[a, j]
                    mean = acc / F
                    s[o] = math.sqrt(acc2 / F - mean * mean)
                elif op == 55:
                    acc = 0.0
                    acc2 = 0.0
                    for j in range(F):
                        for k in range(F):
                            acc += m[a, j, k]
                            acc2 += m[a, j, k] * m[a, j, k]
                    mean = acc / (F * F)
                    s[o] = math.sqrt(acc2 / (F * F) - mean * mean)
                elif op == 56:
                    s[o] = data[pc, 0]
                elif op == 57:
                    v[o, _index(F, data[pc, 0])] = data[pc, 1]
                elif op == 58:
                    m[o, _index(F, data[pc, 0]), _index(F, data[pc, 1])] = data[pc, 2]
                # Random draws: vectors in index order, matrices row-major, as the reference.
                elif op == 59:
                    s[o] = prng.uniform(rng, data[pc, 0], data[pc, 1])
                elif op == 60:
                    for j in range(F):
                        v[o, j] = prng.uniform(rng, data[pc, 0], data[pc, 1])
                elif op == 61:
                    for j in range(F):
                        for k in range(F):
                            m[o, j, k] = prng.uniform(rng, data[pc, 0], data[pc, 1])
                elif op == 62:
                    s[o] = prng.gaussian(rng, data[pc, 0], data[pc, 1])
                elif op == 63:
                    for j in range(F):
                        v[o, j] = prng.gaussian(rng, data[pc, 0], data[pc, 1])
                elif op == 64:
                    for j in range(F):
                        for k in range(F):
                            m[o, j, k] = prng.gaussian(rng, data[pc, 0], data[pc, 1])
            # The phase's instructions are done: move to the next phase.
            if phase == _SETUP:
                phase = _TRAIN_PREDICT if n_epochs > 0 else _DONE
            elif phase == _TRAIN_PREDICT:
                if classify:
                    # The learner sees the probability, not the logit.
                    s[PREDICTION_SCALAR] = _sigmoid(s[PREDICTION_SCALAR])
                n_steps += 1
                if record:
                    predictions[t, epoch * (n_train + n_valid) + e] = s[PREDICTION_SCALAR]
                error = abs(train_y[d, orders[d, epoch, e]] - s[PREDICTION_SCALAR])
                # NaN or too large: stop before Learn, keeping the best earlier epoch.
                phase = _TRAIN_LEARN if error <= max_abs_error else _DONE
            elif phase == _TRAIN_LEARN:
                e += 1
                if e == n_train:
                    phase = _VALID_PREDICT
                    e = 0
                    loss = 0.0
                else:
                    phase = _TRAIN_PREDICT
            else:
                prediction = s[PREDICTION_SCALAR]
                if record:
                    predictions[t, epoch * (n_train + n_valid) + n_train + e] = prediction
                label = valid_y[d, e]
                e += 1
                if classify:
                    # NaN > 0.5 is false: a NaN logit counts as class 0, it does not stop.
                    if (label > 0.5) != (_sigmoid(prediction) > 0.5):
                        loss += 1.0
                    if e == n_valid:
                        best = max(best, 1.0 - loss / n_valid)
                else:
                    error = label - prediction
                    loss += error * error
                    if not abs(error) <= max_abs_error:
                        e = n_valid  # this epoch's fitness is 0
                    elif e == n_valid:
                        best = max(best, _rms_fitness(loss, n_valid))
                if e == n_valid:
                    epoch += 1
                    e = 0
                    phase = _TRAIN_PREDICT if epoch < n_epochs else _DONE
            if phase == _DONE:
                break
            # Reset the reserved addresses for the next phase (paper §3.1).
            # Element by element: an array view would cost a reference count.
            if phase == _VALID_PREDICT:
                for f in range(F):
                    v[FEATURES_VECTOR, f] = valid_x[d, e, f]
                s[LABEL_SCALAR] = 0.0
            else:
                i = orders[d, epoch, e]
                for f in range(F):
                    v[FEATURES_VECTOR, f] = train_x[d, i, f]
                s[LABEL_SCALAR] = train_y[d, i] if phase == _TRAIN_LEARN else 0.0
        fitness[t] = best
        steps[t] = n_steps


def _frozen(array: np.ndarray) -> np.ndarray:
    # Read-only like `TaskSet` arrays, so `run_kernel` is not compiled twice.
    array.flags.writeable = False
    return array


def _memory_banks(memory: Memory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = memory.features
    return (
        np.zeros(memory.n_scalars),
        np.zeros((memory.n_vectors, f)),
        np.zeros((memory.n_matrices, f, f)),
    )


def run_setup(
    program: Program, memory: Memory, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run only Setup on zeroed memory and return the scalars, vectors and matrices;
    ``seed`` seeds the generator of the random ops.

    Example:
        >>> from evoforge.algorithms.text import from_text
        >>> mem = Memory(3, 2, 1, features=2)
        >>> p = from_text("def Setup():\\n    s2 = 2.5\\n    v1 = bcast(s2)", mem)
        >>> s, v, m = run_setup(p, mem)
        >>> v[1].tolist()
        [2.5, 2.5]
    """
    s, v, m = _memory_banks(memory)
    f = memory.features
    # A task with zero epochs: the kernel runs Setup and stops.
    run_kernel(
        program.code, program.data, *program.sizes, s, v, m,
        _frozen(np.zeros((1, 1, f))), _frozen(np.zeros((1, 1))),
        _frozen(np.zeros((1, 1, f))), _frozen(np.zeros((1, 1))),
        _frozen(np.zeros((1, 0, 1), dtype=np.int64)), _frozen(prng.new_state(seed)),
        0, 1, False, DEFAULT_MAX_ABS_ERROR, np.zeros(1), np.zeros(1, dtype=np.int64), _NO_RECORD,
    )  # fmt: skip
    return s, v, m


def run_tasks(
    program: Program,
    memory: Memory,
    tasks,
    start: int = 0,
    stop: int | None = None,
    max_abs_error: float = DEFAULT_MAX_ABS_ERROR,
    record: bool = False,
) -> RunResult:
    """Train and validate ``program`` on tasks ``start..stop`` of a `TaskSet`;
    same arguments and result as `interpreter_numpy.run_tasks`.

    Raises ValueError if the program or the task range does not fit.
    """
    stop = tasks.D if stop is None else stop
    if not 0 <= start <= stop <= tasks.D:
        raise ValueError(f"task range {start}..{stop} is outside 0..{tasks.D}")
    if memory.features != tasks.F:
        raise ValueError(f"memory has {memory.features} features but the tasks have {tasks.F}")
    n_tasks = stop - start
    fitness = np.zeros(n_tasks)
    steps = np.zeros(n_tasks, dtype=np.int64)
    predictions = np.empty((n_tasks, tasks.epochs * (tasks.N + tasks.M))) if record else _NO_RECORD
    run_kernel(
        program.code, program.data, *program.sizes, *_memory_banks(memory),
        tasks.train_x, tasks.train_y, tasks.valid_x, tasks.valid_y, tasks.orders, tasks.seeds,
        start, stop, tasks.eval_type == "accuracy", float(max_abs_error),
        fitness, steps, predictions,
    )  # fmt: skip
    return RunResult(fitness, steps, predictions if record else None)
