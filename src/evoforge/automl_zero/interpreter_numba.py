"""The compiled interpreter: the reference semantics at a few ns per instruction.

`run_tasks` computes exactly what `evoforge.automl_zero.interpreter_numpy.run_tasks`
computes (the reference; see ``shared/notes/automl_zero_semantics.md``), with the
same reduction order and the same libm calls, so the two agree to the last bit
on almost every program, multiclass tasks included. The work happens in a
compiled kernel of arrays and scalars only, one per feature size (`kernel_for`),
which an evaluator can call directly to skip the per-call cost of `run_tasks`.

Example:
    >>> from evoforge.automl_zero.program import Memory
    >>> from evoforge.automl_zero.baselines import linear_sgd
    >>> from evoforge.automl_zero.text import from_text
    >>> from evoforge.automl_zero import interpreter_numba
    >>> from evoforge.data.regression import linear_tasks
    >>> tasks = linear_tasks(n_tasks=2, features=4, n_train=100, n_valid=20, seed=0)
    >>> mem = Memory(4, 3, 1, features=4)
    >>> sgd = from_text(linear_sgd(0.1), mem)
    >>> result = interpreter_numba.run_tasks(sgd, mem, tasks)
    >>> bool(result.fitness.min() > 0.99)
    True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numba
import numpy as np

from evoforge.automl_zero import prng
from evoforge.automl_zero.interpreter_numpy import (
    _TWO_OVER_PI,
    DEFAULT_MAX_ABS_ERROR,
    RunResult,
)
from evoforge.automl_zero.ops import OPS
from evoforge.automl_zero.program import (
    FEATURES_VECTOR,
    LABEL_SCALAR,
    LABEL_VECTOR,
    PREDICTION_SCALAR,
    PREDICTION_VECTOR,
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

# Predictions buffer that tells the kernel not to record.
_NO_RECORD = np.empty((0, 0))

# The kernel's code for each `TaskSet.eval_type`.
_RMS, _ACCURACY, _MULTICLASS = 0, 1, 2
EVAL_CODES = {"rms": _RMS, "accuracy": _ACCURACY, "multiclass": _MULTICLASS}


def eval_arguments(tasks) -> tuple[int, int]:
    """The kernel's ``eval_code`` and ``n_classes`` arguments for a `TaskSet`.

    Example:
        >>> from evoforge.data.regression import linear_tasks
        >>> eval_arguments(linear_tasks(1, features=2, n_train=3, n_valid=1))
        (0, 0)
    """
    code = EVAL_CODES[tasks.eval_type]
    return code, tasks.n_classes if code == _MULTICLASS else 0


@_jit
def _index(features: int, fraction: float) -> int:
    # The reference forms F * f in float32 and truncates (ops 57, 58).
    return int(np.float32(features) * np.float32(fraction))


@_jit
def _check(
    code, data, sizes, s, v, m, train_x, valid_x, features, eval_code, n_classes, multiclass
):
    """Raise ValueError unless the program and the arrays fit each other: the
    kernel indexes memory without bounds checks."""
    n = code.shape[0]
    if data.shape[0] != n or sizes.min() < 0 or sizes.sum() != n:
        raise ValueError("program: code, data and component sizes disagree")
    for shape in (v.shape[1], m.shape[1], m.shape[2], train_x.shape[2], valid_x.shape[2]):
        if shape != features:
            raise ValueError("memory banks and tasks must have the kernel's feature size")
    if s.shape[0] < 2 or v.shape[0] < 1 or m.shape[0] < 1:
        raise ValueError("memory needs s0, s1, v0 and m0")
    if eval_code < _RMS or eval_code > _MULTICLASS:
        raise ValueError("eval_code must be 0 (rms), 1 (accuracy) or 2 (multiclass)")
    if (eval_code == _MULTICLASS) != multiclass:
        raise ValueError("eval_code 2 (multiclass) goes with kernel_for(F, multiclass=True) only")
    if multiclass:
        if v.shape[0] < 3:
            raise ValueError(
                "multiclass tasks need at least 3 vectors: v0 features, v1 logits, v2 label"
            )
        if n_classes < 2 or n_classes > features:
            raise ValueError("n_classes must lie in [2, F] for multiclass tasks")
    bank = np.array([0, s.shape[0], v.shape[0], m.shape[0]])
    for i in range(n):
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


# What the kernel runs next for a task; it moves between these phases.
_SETUP, _TRAIN_PREDICT, _TRAIN_LEARN, _VALID_PREDICT = 0, 1, 2, 3


@_jit
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@_jit
def _softmax_logits(v, n_classes):
    # In place on v1[0:K], in the reference's order (`interpreter_numpy.softmax`).
    top = v[PREDICTION_VECTOR, 0]
    for k in range(1, n_classes):
        if v[PREDICTION_VECTOR, k] > top:
            top = v[PREDICTION_VECTOR, k]
    total = 0.0
    for k in range(n_classes):
        x = math.exp(v[PREDICTION_VECTOR, k] - top)
        v[PREDICTION_VECTOR, k] = x
        total += x
    for k in range(n_classes):
        v[PREDICTION_VECTOR, k] = v[PREDICTION_VECTOR, k] / total


@_jit
def _predicted_class(v, n_classes):
    # Argmax of v1[0:K]: NaN never wins, ties go to the lowest index, all NaN is class 0.
    best = 0
    for k in range(1, n_classes):
        x = v[PREDICTION_VECTOR, k]
        y = v[PREDICTION_VECTOR, best]
        if x > y or (y != y and x == x):
            best = k
    return best


@_jit
def _one_hot_error_ok(v, n_classes, label, max_abs_error):
    # The stopping rule on every class: False if any |onehot_k - p_k| is NaN or too large.
    for k in range(n_classes):
        target = 1.0 if k == label else 0.0
        if not abs(target - v[PREDICTION_VECTOR, k]) <= max_abs_error:
            return False
    return True


@_jit
def _rms_fitness(loss, n_valid):
    # FlipAndSquash of the RMS error; 0 for NaN or infinite errors.
    rms = math.sqrt(loss / n_valid)
    if math.isnan(rms) or math.isinf(rms):
        return 0.0
    return 1.0 - _TWO_OVER_PI * math.atan(rms)


def _build_kernel(F: int, multiclass: bool):
    # F is a constant of the compiled code (a closure variable, which numba's
    # cache keys on): loops over features unroll, a third faster at F = 4. So is
    # ``multiclass``: the rms/accuracy kernel carries no multiclass branches (tested
    # at run time instead, they made it 5-15% slower at F = 4).
    @_jit
    def kernel(
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
        eval_code,
        n_classes,
        max_abs_error,
        fitness,
        steps,
        predictions,
    ):
        # Arguments and behaviour: see `kernel_for`.
        n_train = train_x.shape[1]
        n_valid = valid_x.shape[1]
        n_epochs = orders.shape[1]
        sizes = np.array([n_setup, n_predict, n_learn])
        _check(code, data, sizes, s, v, m, train_x, valid_x, F, eval_code, n_classes, multiclass)
        classify = eval_code == _ACCURACY
        record = predictions.shape[0] > 0
        # Instruction ranges of Setup, Predict and Learn, by phase.
        learn_lo = n_setup + n_predict
        lo = np.array([0, n_setup, learn_lo, n_setup], dtype=np.uint64)
        hi = np.array([n_setup, learn_lo, learn_lo + n_learn, learn_lo], dtype=np.uint64)
        # Unsigned, checked addresses: numba then skips negative-index handling.
        ucode = code.astype(np.uint64)
        tv = np.empty(F)
        tm = np.empty((F, F))
        rng = np.empty(1, dtype=np.uint64)
        for task in range(stop - start):
            d = start + task
            s[:] = 0.0
            v[:] = 0.0
            m[:] = 0.0
            rng[0] = seeds[d]
            if record:
                predictions[task, :] = np.nan
            # Views of the task, taken once: each costs a reference count.
            task_train_x = train_x[d]
            task_train_y = train_y[d]
            task_valid_x = valid_x[d]
            task_valid_y = valid_y[d]
            task_orders = orders[d]
            best = 0.0
            n_steps = 0
            epoch = 0
            e = 0  # example position within the epoch's training or validation
            i = 0  # the training example's row
            loss = 0.0
            # A state machine: run the phase's instructions, then move to the next
            # phase. The op dispatch appears once, written out here, because a
            # function call per component (arrays passed, reference counts taken)
            # costs more than the few instructions it runs, and numba would
            # re-optimise an inlined copy at every call site. The dispatch shares
            # this scope: its loop names (j, k, r) must not be the ones above.
            phase = _SETUP
            while True:
                for pc in range(lo[phase], hi[phase]):
                    op = ucode[pc, 0]
                    a = ucode[pc, 1]
                    b = ucode[pc, 2]
                    o = ucode[pc, 3]
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
                                for r in range(F):
                                    acc += m[a, j, r] * m[b, r, k]
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
                if phase == _TRAIN_PREDICT:
                    # Normalize: the learner sees probabilities, not logits.
                    if multiclass:
                        _softmax_logits(v, n_classes)
                        prediction = float(_predicted_class(v, n_classes))
                    else:
                        prediction = s[PREDICTION_SCALAR]
                        if classify:
                            prediction = _sigmoid(prediction)
                            s[PREDICTION_SCALAR] = prediction
                    n_steps += 1
                    if record:
                        predictions[task, epoch * (n_train + n_valid) + e] = prediction
                    # NaN or too large: stop before Learn, keeping the best earlier epoch.
                    if multiclass:
                        if not _one_hot_error_ok(v, n_classes, int(task_train_y[i]), max_abs_error):
                            break
                    elif not abs(task_train_y[i] - prediction) <= max_abs_error:
                        break
                    phase = _TRAIN_LEARN
                elif phase == _TRAIN_LEARN:
                    e += 1
                    phase = _TRAIN_PREDICT
                    if e == n_train:
                        phase = _VALID_PREDICT
                        e = 0
                        loss = 0.0
                elif phase == _VALID_PREDICT:
                    if multiclass:
                        prediction = float(_predicted_class(v, n_classes))
                    else:
                        prediction = s[PREDICTION_SCALAR]
                    if record:
                        predictions[task, epoch * (n_train + n_valid) + n_train + e] = prediction
                    label = task_valid_y[e]
                    e += 1
                    if multiclass:
                        if prediction != label:
                            loss += 1.0
                        if e == n_valid:
                            best = max(best, 1.0 - loss / n_valid)
                    elif classify:
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
                        if epoch == n_epochs:
                            break
                        phase = _TRAIN_PREDICT
                        e = 0
                else:  # Setup
                    if n_epochs == 0:
                        break
                    phase = _TRAIN_PREDICT
                # Reset the reserved addresses for the next phase (paper §3.1); a
                # multiclass label is the one-hot v2 in Learn, and s0 stays 0.
                if phase == _VALID_PREDICT:
                    for f in range(F):
                        v[FEATURES_VECTOR, f] = task_valid_x[e, f]
                    s[LABEL_SCALAR] = 0.0
                else:
                    if phase == _TRAIN_PREDICT:
                        i = task_orders[epoch, e]
                        s[LABEL_SCALAR] = 0.0
                    else:
                        s[LABEL_SCALAR] = 0.0 if multiclass else task_train_y[i]
                    for f in range(F):
                        v[FEATURES_VECTOR, f] = task_train_x[i, f]
                if multiclass:
                    for f in range(F):
                        v[LABEL_VECTOR, f] = 0.0
                    if phase == _TRAIN_LEARN:
                        v[LABEL_VECTOR, int(task_train_y[i])] = 1.0
            fitness[task] = best
            steps[task] = n_steps

    return kernel


@functools.cache
def kernel_for(features: int, multiclass: bool = False) -> Callable[..., None]:
    """The compiled kernel for feature size ``features`` and multiclass tasks
    (``multiclass=True``) or the others (compiled on first use, then loaded from
    numba's cache); the core of `run_tasks`.

    ``kernel(code, data, n_setup, n_predict, n_learn, s, v, m, train_x, train_y,
    valid_x, valid_y, orders, seeds, start, stop, eval_code, n_classes, max_abs_error,
    fitness, steps, predictions) -> None`` trains and validates a program on
    tasks ``start..stop``. Arguments, all positional:

    * ``code`` int64 ``(n, 4)``, ``data`` float64 ``(n, 3)``: `Program` arrays;
      ``n_setup, n_predict, n_learn`` their component sizes (`Program.sizes`).
    * ``s (n_scalars,)``, ``v (n_vectors, F)``, ``m (n_matrices, F, F)``: float64
      C-contiguous memory banks, preallocated by the caller; zeroed before each
      task, they hold the last task's final memory on return.
    * ``train_x (D, N, F)``, ``train_y (D, N)``, ``valid_x (D, M, F)``,
      ``valid_y (D, M)``, ``orders (D, E, N)`` int64, ``seeds (D,)`` uint64: the
      `TaskSet` arrays (read-only, C-contiguous), trusted to be consistent.
    * ``start, stop``: the task range, ``0 <= start <= stop <= D``.
    * ``eval_code``, ``n_classes``: how predictions are normalized and scored
      (see `interpreter_numpy`), from `eval_arguments`: 0 for ``"rms"``, 1 for
      ``"accuracy"`` (both need ``multiclass=False``), 2 for ``"multiclass"``
      (``multiclass=True``) with ``n_classes`` K (``2 <= K <= F``; 0 otherwise).
      Multiclass labels (class indices in ``train_y``/``valid_y``) are trusted to
      lie in 0..K-1.
    * ``max_abs_error``: the early-stopping threshold (100.0 by default).
    * Outputs, overwritten: ``fitness`` float64 ``(stop - start,)``, ``steps``
      int64 ``(stop - start,)`` and ``predictions`` float64
      ``(stop - start, E * (N + M))`` laid out as `RunResult.predictions`, or a
      ``(0, 0)`` array to record nothing.

    It raises ValueError, before running anything, if the program does not fit
    the memory banks (op ids, addresses, element indices, component sizes), an
    array's feature size is not ``features``, or the evaluation arguments are
    invalid or do not match ``multiclass`` (a multiclass run also needs
    ``v0``-``v2``); task ranges are not checked. Passing arrays of these exact
    types (as `run_tasks` does) keeps to one compiled version per kernel. The
    kernel releases the GIL: threads may run it at once with their own banks and
    outputs. With zero epochs (``orders`` of shape ``(D, 0, N)``) it runs Setup only.

    Example:
        >>> import numpy as np
        >>> from evoforge.automl_zero.program import Program
        >>> from evoforge.data.regression import linear_tasks
        >>> tasks = linear_tasks(3, features=4, n_train=10, n_valid=5, seed=0)
        >>> p = Program.empty()
        >>> fitness, steps = np.zeros(3), np.zeros(3, dtype=np.int64)
        >>> kernel_for(4)(
        ...     p.code, p.data, *p.sizes, np.zeros(2), np.zeros((1, 4)), np.zeros((1, 4, 4)),
        ...     tasks.train_x, tasks.train_y, tasks.valid_x, tasks.valid_y, tasks.orders,
        ...     tasks.seeds, 0, 3, 0, 0, 100.0, fitness, steps, np.empty((0, 0)))
        >>> steps.tolist()
        [10, 10, 10]
    """
    return _build_kernel(int(features), bool(multiclass))


def _frozen(array: np.ndarray) -> np.ndarray:
    # Read-only like `TaskSet` arrays, so the kernel is not compiled twice.
    array.flags.writeable = False
    return array


def _memory_banks(memory: Memory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Uninitialised: the kernel zeroes the banks before each task.
    f = memory.features
    return (
        np.empty(memory.n_scalars),
        np.empty((memory.n_vectors, f)),
        np.empty((memory.n_matrices, f, f)),
    )


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
    s, v, m = _memory_banks(memory)
    f = memory.features
    # A task with zero epochs: the kernel runs Setup and stops.
    kernel_for(f)(
        program.code, program.data, *program.sizes, s, v, m,
        _frozen(np.zeros((1, 1, f))), _frozen(np.zeros((1, 1))),
        _frozen(np.zeros((1, 1, f))), _frozen(np.zeros((1, 1))),
        _frozen(np.zeros((1, 0, 1), dtype=np.int64)), _frozen(prng.new_state(seed)),
        0, 1, _RMS, 0, DEFAULT_MAX_ABS_ERROR, np.zeros(1), np.zeros(1, dtype=np.int64), _NO_RECORD,
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
    kernel_for(tasks.F, tasks.eval_type == "multiclass")(
        program.code, program.data, *program.sizes, *_memory_banks(memory),
        tasks.train_x, tasks.train_y, tasks.valid_x, tasks.valid_y, tasks.orders, tasks.seeds,
        start, stop, *eval_arguments(tasks), float(max_abs_error),
        fitness, steps, predictions,
    )  # fmt: skip
    return RunResult(fitness, steps, predictions if record else None)
