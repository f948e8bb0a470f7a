"""Dead-code removal for AutoML-Zero programs (paper Supplement S8, Figure S1b).

`simplify` keeps only the instructions whose results can reach a prediction,
found by a backward liveness analysis over the order in which the
interpreters run the component functions::

    Setup -> (Predict -> Learn)* -> Predict*    (training, then validation)

The analysis is exact about what the interpreters do between components:

* before every Predict and every Learn, ``v0`` is overwritten by the features
  and ``s0`` by 0 or the label, so whatever was in them before is dead;
* ``s1`` is read after every Predict (as the prediction, and for
  classification also by the sigmoid that rewrites it in memory);
* memory persists across steps, epochs and validation, so a value that Learn
  writes is live if a later Predict or Learn may read it;
* ops 57 and 58 write a single element: they kill that element only and are
  live only when that element is. Every other op writes its whole output.

Liveness is "strong": an instruction whose output is dead does not make its
inputs live, so whole dead chains go in one pass. Liveness is tracked per
element of every vector and matrix (a whole-address write kills all of them,
a whole-address read makes all of them live).

Random ops (59-64) share one generator per task, so removing a dead one would
shift the draws of every random op after it. A dead random op is therefore
kept when a live random op runs after it (anywhere in Predict or Learn, or
later in Setup); otherwise it is removed. The simplified program then gives
bit-identical predictions, fitness and FEC fingerprint. (The paper's own
simplification removes dead random ops regardless, e.g. ``v3 = gaussian(0.7,
0.4)`` in Figure S1b, which changes the random stream.)

Example:
    >>> from evoforge.automl_zero.baselines import linear_sgd
    >>> from evoforge.automl_zero.program import Memory
    >>> from evoforge.automl_zero.simplify import effective_instructions, simplify
    >>> from evoforge.automl_zero.text import from_text, to_text
    >>> mem = Memory(4, 3, 1, features=4)
    >>> p = from_text('''
    ... def Setup():
    ...     s3 = 0.1
    ...     s2 = 0.7
    ... def Predict():
    ...     s1 = dot(v0, v1)
    ...     v2 = abs(v0)
    ... def Learn():
    ...     s2 = s0 - s1
    ...     s2 = s2 * s3
    ...     v2 = s2 * v0
    ...     v1 = v1 + v2
    ...     s2 = sin(s2)
    ... ''', mem)
    >>> to_text(simplify(p, mem), mem) == linear_sgd(0.1)
    True
    >>> effective_instructions(p, mem)
    6
"""

from __future__ import annotations

import numpy as np

from evoforge.automl_zero.ops import GAUSSIAN, MATRIX_CONST, OPS, UNIFORM, VECTOR_CONST
from evoforge.automl_zero.program import (
    FEATURES_VECTOR,
    LABEL_SCALAR,
    LABEL_VECTOR,
    PREDICTION_SCALAR,
    PREDICTION_VECTOR,
    Memory,
    Program,
    fraction_index,
)

_SETUP, _PREDICT, _LEARN = 0, 1, 2
_RANDOM_KINDS = (UNIFORM, GAUSSIAN)

# Live elements per bank: scalars (n_s,), vectors (n_v, F), matrices (n_m, F, F).
_Live = dict[str, np.ndarray]


def _empty(memory: Memory) -> _Live:
    f = memory.features
    return {
        "s": np.zeros(memory.n_scalars, bool),
        "v": np.zeros((memory.n_vectors, f), bool),
        "m": np.zeros((memory.n_matrices, f, f), bool),
    }


def _union(a: _Live, b: _Live) -> _Live:
    return {kind: a[kind] | b[kind] for kind in a}


def _same(a: _Live, b: _Live) -> bool:
    return all(np.array_equal(a[kind], b[kind]) for kind in a)


def _before_reset(live: _Live, multiclass: bool) -> _Live:
    """Liveness just before the interpreter overwrites ``v0`` and ``s0`` (and
    the label vector ``v2`` of multiclass tasks): it does so before every
    Predict and every Learn."""
    live = {kind: bank.copy() for kind, bank in live.items()}
    live["v"][FEATURES_VECTOR] = False
    live["s"][LABEL_SCALAR] = False
    if multiclass:
        live["v"][LABEL_VECTOR] = False
    return live


def _element(spec_data: int, out: int, data: np.ndarray, features: int) -> tuple[int, ...]:
    """The one element that op 57 or 58 writes."""
    n_indices = 1 if spec_data == VECTOR_CONST else 2
    return (out, *(fraction_index(data[k], features) for k in range(n_indices)))


def _backward(program: Program, component: int, live_out: _Live, features: int):
    """Liveness at the start of ``component`` given ``live_out`` at its end,
    and which of its rows are live."""
    live = {kind: bank.copy() for kind, bank in live_out.items()}
    start, stop = program.bounds(component)
    keep = np.zeros(stop - start, bool)
    for row in range(stop - 1, start - 1, -1):
        op, in1, in2, out = (int(x) for x in program.code[row])
        spec = OPS[op]
        if spec.output is None:  # no_op
            continue
        bank = live[spec.output]
        if spec.data in (VECTOR_CONST, MATRIX_CONST):
            element = _element(spec.data, out, program.data[row], features)
            keep[row - start] = bank[element]
            bank[element] = False  # the rest of the vector or matrix keeps its value
            continue
        if not bank[out].any():
            continue
        keep[row - start] = True
        bank[out] = False  # kill before gen: ``out`` may also be an input
        for kind, address in zip(spec.inputs, (in1, in2), strict=False):
            live[kind][address] = True
    return live, keep


def _live_rows(program: Program, memory: Memory, multiclass: bool) -> np.ndarray:
    """Boolean mask over the program's rows: True for the instructions to keep."""
    program.validate(memory)
    f = memory.features
    predicted = _empty(memory)
    if multiclass:  # the logits; the softmax reads and rewrites them in place
        predicted["v"][PREDICTION_VECTOR] = True
    else:
        predicted["s"][PREDICTION_SCALAR] = True
    # Fixed point over the Predict <-> Learn cycle; liveness only grows, so
    # this ends after a few rounds.
    in_predict, in_learn = _empty(memory), _empty(memory)
    while True:
        out_predict = _union(_before_reset(_union(in_predict, in_learn), multiclass), predicted)
        out_learn = _before_reset(in_predict, multiclass)
        new_predict, keep_predict = _backward(program, _PREDICT, out_predict, f)
        new_learn, keep_learn = _backward(program, _LEARN, out_learn, f)
        if _same(new_predict, in_predict) and _same(new_learn, in_learn):
            break
        in_predict, in_learn = new_predict, new_learn
    _, keep_setup = _backward(program, _SETUP, _before_reset(in_predict, multiclass), f)
    keep = np.concatenate([keep_setup, keep_predict, keep_learn])
    _keep_random_stream(program, keep)
    return keep


def _keep_random_stream(program: Program, keep: np.ndarray) -> None:
    """Mark dead random ops that a live random op runs after as kept.

    Predict and Learn alternate and repeat, so any live random op in either
    runs after every random op of both; Setup runs once, first.
    """
    is_random = np.array([OPS[op].data in _RANDOM_KINDS for op in program.code[:, 0]], bool)
    live_random = is_random & keep
    n_setup = program.sizes[0]
    loop_has_live_random = bool(live_random[n_setup:].any())
    # For each Setup row: does a live random op run later in Setup?
    later_in_setup = np.zeros(n_setup, bool)
    seen = False
    for row in range(n_setup - 1, -1, -1):
        later_in_setup[row] = seen
        seen = seen or live_random[row]
    follows = np.concatenate([later_in_setup, np.zeros(len(keep) - n_setup, bool)])
    keep |= is_random & (follows | loop_has_live_random)


def simplify(program: Program, memory: Memory, multiclass: bool = False) -> Program:
    """``program`` without the instructions that cannot affect any prediction
    (``s1``; for ``multiclass`` tasks the logits in ``v1``).

    The result predicts exactly what ``program`` predicts, on every task and
    with either interpreter, so it has the same fitness and FEC fingerprint.
    Raises ``ValueError`` if ``program`` does not fit ``memory``.

    Example:
        >>> from evoforge.automl_zero.program import Memory
        >>> from evoforge.automl_zero.text import from_text
        >>> mem = Memory(4, 3, 1, features=4)
        >>> simplify(from_text("def Predict():\\n    s2 = 1.5\\n    s1 = 2.0", mem), mem).sizes
        (0, 1, 0)
    """
    keep = _live_rows(program, memory, multiclass)
    sizes = tuple(int(keep[slice(*program.bounds(k))].sum()) for k in range(3))
    lines = program.lines
    if lines is not None and len(lines) == len(program):
        lines = [line for line, kept in zip(lines, keep, strict=True) if kept]
    else:
        lines = None
    return Program(program.code[keep].copy(), program.data[keep].copy(), sizes, lines)


def effective_instructions(program: Program, memory: Memory, multiclass: bool = False) -> int:
    """How many instructions of ``program`` can affect a prediction (the size
    of `simplify`'s result), for run summaries.

    Example:
        >>> from evoforge.automl_zero.program import Memory
        >>> from evoforge.automl_zero.text import from_text
        >>> mem = Memory(4, 3, 1, features=4)
        >>> effective_instructions(from_text("def Setup():\\n    s2 = 1.5", mem), mem)
        0
    """
    return int(_live_rows(program, memory, multiclass).sum())
