"""Random instructions and the mutations of AutoML-Zero (Supplement S3).

Mutation types, chosen uniformly among those a search allows:

- ``insert_remove``: insert a random instruction at a random position or
  remove one; removal is twice as likely (when the size limits rule one out,
  the other is done);
- ``randomize_component``: re-draw every instruction of one component function;
- ``alter_argument``: change one argument of one instruction: an input or
  output address, or a constant (a real constant is multiplied by U[0.5, 2]
  and its sign flipped with probability 0.1; an index is re-drawn);
- ``randomize_instruction``: re-draw one instruction (used by Google's demo).

Random draws follow the reference generator: scalar and vector outputs come
from ``[1, n)`` (never the label s0 or the features v0), matrix outputs and
all inputs from ``[0, n)``; constants from U(-1, 1), standard deviations from
U(0, 1), indices uniform. Components without allowed ops are never touched.

The work is compiled: a mutation is a few microseconds, so it never limits a
search that evaluates tens of thousands of programs per second. All
randomness comes from the caller's numpy Generator, drawn as one block of
uniforms per mutation, so runs stay seeded and resumable.

Example:
    >>> import numpy as np
    >>> from evoforge.automl_zero.program import Memory, Program
    >>> from evoforge.automl_zero.mutator import Mutator
    >>> mem = Memory(4, 3, 1, features=4)
    >>> mutator = Mutator(mem, ops=([56], [27], [2, 3, 18, 23]), min_sizes=(0, 0, 0),
    ...                   max_sizes=(5, 5, 5), mutations=("insert_remove",))
    >>> child, name = mutator.mutate(Program.empty(), np.random.default_rng(0))
    >>> name, sum(child.sizes)
    ('insert', 1)
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from evoforge.automl_zero.ops import (
    GAUSSIAN,
    MATRIX_CONST,
    N_OPS,
    OPS,
    SCALAR_CONST,
    UNIFORM,
    VECTOR_CONST,
)
from evoforge.automl_zero.program import Memory, Program

MUTATIONS = ("insert_remove", "randomize_component", "alter_argument", "randomize_instruction")
REMOVE_PROBABILITY = 2.0 / 3.0
SIGN_FLIP_PROBABILITY = 0.1

# Result codes of the compiled kernel, in the order of these names.
_RESULT_NAMES = (
    "none",
    "insert",
    "remove",
    "randomize_component",
    "alter_argument",
    "randomize_instruction",
)
_NONE, _INSERT, _REMOVE, _RANDOMIZE_COMPONENT, _ALTER, _RANDOMIZE_INSTRUCTION = range(6)
_DRAWS_PER_INSTRUCTION = 8
_DRAWS_PER_MUTATION = 8

# Operand kinds as small ints for the compiled tables: none, scalar, vector, matrix.
_KIND_CODE = {None: 0, "s": 1, "v": 2, "m": 3}


def _op_tables() -> np.ndarray:
    """(65, 4) table: in1 kind, in2 kind, out kind, constant kind."""
    table = np.zeros((N_OPS, 4), np.int64)
    for spec in OPS:
        inputs = [*spec.inputs, None, None]
        table[spec.id] = (
            _KIND_CODE[inputs[0]],
            _KIND_CODE[inputs[1]],
            _KIND_CODE[spec.output],
            spec.data,
        )
    return table


_OP_TABLE = _op_tables()


@numba.njit(cache=True, nogil=True)
def _pick(u, n):
    k = int(u * n)
    return k if k < n else n - 1


@numba.njit(cache=True, nogil=True)
def _f32(x):
    return np.float64(np.float32(x))


@numba.njit(cache=True, nogil=True)
def _index_fraction(u, features):
    return _f32((_pick(u, features) + 0.5) / features)


@numba.njit(cache=True, nogil=True)
def _address(kind, u, output, banks):
    first = 1 if output and kind <= 2 else 0  # never write s0 (label) or v0 (features)
    n = banks[kind] - first
    return first + _pick(u, n if n > 1 else 1)


@numba.njit(cache=True, nogil=True)
def _scale_or_flip(value, u, pos, flip):
    value *= 0.5 + 1.5 * u[pos]
    if flip and u[pos + 1] < SIGN_FLIP_PROBABILITY:
        value = -value
    return value


@numba.njit(cache=True, nogil=True)
def _random_instruction(code, data, row, allowed, n_allowed, table, banks, features, u, pos):
    """Fill ``row`` with a random instruction; consume 8 uniforms from ``u[pos:]``."""
    op = allowed[_pick(u[pos], n_allowed)]
    code[row, 0] = op
    code[row, 1] = _address(table[op, 0], u[pos + 1], False, banks) if table[op, 0] else 0
    code[row, 2] = _address(table[op, 1], u[pos + 2], False, banks) if table[op, 1] else 0
    code[row, 3] = _address(table[op, 2], u[pos + 3], True, banks) if table[op, 2] else 0
    data[row, 0] = data[row, 1] = data[row, 2] = 0.0
    kind = table[op, 3]
    a, b, c = u[pos + 4], u[pos + 5], u[pos + 6]
    if kind == SCALAR_CONST:
        data[row, 0] = -1.0 + 2.0 * a
    elif kind == VECTOR_CONST:
        data[row, 0] = _index_fraction(a, features)
        data[row, 1] = _f32(-1.0 + 2.0 * b)
    elif kind == MATRIX_CONST:
        data[row, 0] = _index_fraction(a, features)
        data[row, 1] = _index_fraction(b, features)
        data[row, 2] = _f32(-1.0 + 2.0 * c)
    elif kind == GAUSSIAN:
        data[row, 0] = _f32(-1.0 + 2.0 * a)
        data[row, 1] = _f32(b)
    elif kind == UNIFORM:
        data[row, 0] = _f32(-1.0 + 2.0 * a)
        data[row, 1] = _f32(-1.0 + 2.0 * b)


@numba.njit(cache=True, nogil=True)
def _alter_data(data, row, kind, features, u, pos):
    if kind == SCALAR_CONST:
        data[row, 0] = _scale_or_flip(data[row, 0], u, pos, True)
    elif kind == VECTOR_CONST:
        if u[pos + 2] < 0.5:
            data[row, 0] = _index_fraction(u[pos + 3], features)
        else:
            data[row, 1] = _f32(_scale_or_flip(data[row, 1], u, pos, True))
    elif kind == MATRIX_CONST:
        slot = _pick(u[pos + 2], 3)
        if slot < 2:
            data[row, slot] = _index_fraction(u[pos + 3], features)
        else:
            data[row, 2] = _f32(_scale_or_flip(data[row, 2], u, pos, True))
    elif kind == GAUSSIAN:
        if u[pos + 2] < 0.5:
            data[row, 0] = _f32(_scale_or_flip(data[row, 0], u, pos, True))
        else:  # a standard deviation keeps its sign
            data[row, 1] = _f32(_scale_or_flip(data[row, 1], u, pos, False))
    elif kind == UNIFORM:
        slot = _pick(u[pos + 2], 2)
        data[row, slot] = _f32(_scale_or_flip(data[row, slot], u, pos, True))
        low, high = min(data[row, 0], data[row, 1]), max(data[row, 0], data[row, 1])
        data[row, 0], data[row, 1] = low, high


@numba.njit(cache=True, nogil=True)
def _pick_component(u, sizes, mutable, nonempty_only):
    count = 0
    for k in mutable:
        if not nonempty_only or sizes[k] > 0:
            count += 1
    if count == 0:
        return -1
    target = _pick(u, count)
    for k in mutable:
        if not nonempty_only or sizes[k] > 0:
            if target == 0:
                return k
            target -= 1
    return -1


@numba.njit(cache=True, nogil=True)
def _as_tuple(sizes):
    return (sizes[0], sizes[1], sizes[2])


# Layout of the packed int64 "spec" array the kernel receives: one argument
# instead of eight, because dispatch cost grows with the argument count.
_ALLOWED = 0  # (3, N_OPS) allowed ops per component
_N_ALLOWED = _ALLOWED + 3 * N_OPS  # (3,)
_TABLE = _N_ALLOWED + 3  # (N_OPS, 4) operand and constant kinds
_BANKS = _TABLE + 4 * N_OPS  # (4,) bank sizes by kind code
_FEATURES = _BANKS + 4
_MIN = _FEATURES + 1  # (3,)
_MAX = _MIN + 3  # (3,)
_MUTABLE = _MAX + 3  # components that have allowed ops, padded with -1
_SPEC_SIZE = _MUTABLE + 3


@numba.njit(cache=True, nogil=True)
def _mutate(code, data, n_setup, n_predict, n_learn, kinds, u, spec):
    """Returns (code, data, sizes, result, first changed row, rows changed).

    The mutation type is one of ``kinds``, chosen by the last uniform.
    """
    kind_choice = kinds[_pick(u[u.size - 1], kinds.size)]
    allowed = spec[_ALLOWED:_N_ALLOWED].reshape(3, N_OPS)
    n_allowed = spec[_N_ALLOWED:_TABLE]
    table = spec[_TABLE:_BANKS].reshape(N_OPS, 4)
    banks = spec[_BANKS:_FEATURES]
    features = spec[_FEATURES]
    min_sizes, max_sizes = spec[_MIN:_MAX], spec[_MAX:_MUTABLE]
    mutable = spec[_MUTABLE:_SPEC_SIZE]
    mutable = mutable[mutable >= 0]
    sizes = np.array((n_setup, n_predict, n_learn))
    new_sizes = sizes.copy()
    if kind_choice == 0:  # insert or remove
        k = _pick_component(u[0], sizes, mutable, False)
        start = 0
        for j in range(k):
            start += sizes[j]
        remove = u[1] < REMOVE_PROBABILITY
        if remove and sizes[k] <= min_sizes[k]:
            remove = False
        if not remove and sizes[k] >= max_sizes[k]:
            if sizes[k] <= min_sizes[k]:
                return code, data, _as_tuple(new_sizes), _NONE, 0, 0
            remove = True
        n = code.shape[0]
        if remove:
            row = start + _pick(u[2], sizes[k])
            new_code = np.empty((n - 1, 4), np.int64)
            new_data = np.empty((n - 1, 3), np.float64)
            new_code[:row] = code[:row]
            new_code[row:] = code[row + 1 :]
            new_data[:row] = data[:row]
            new_data[row:] = data[row + 1 :]
            new_sizes[k] -= 1
            return new_code, new_data, _as_tuple(new_sizes), _REMOVE, row, 0
        row = start + _pick(u[2], sizes[k] + 1)
        new_code = np.empty((n + 1, 4), np.int64)
        new_data = np.empty((n + 1, 3), np.float64)
        new_code[:row] = code[:row]
        new_code[row + 1 :] = code[row:]
        new_data[:row] = data[:row]
        new_data[row + 1 :] = data[row:]
        _random_instruction(
            new_code, new_data, row, allowed[k], n_allowed[k], table, banks, features, u, 8
        )
        new_sizes[k] += 1
        return new_code, new_data, _as_tuple(new_sizes), _INSERT, row, 1
    new_code, new_data = code.copy(), data.copy()
    if kind_choice == 1:  # randomize a whole component function
        k = _pick_component(u[0], sizes, mutable, False)
        start = 0
        for j in range(k):
            start += sizes[j]
        for i in range(sizes[k]):
            pos = 8 * (i + 1)
            _random_instruction(
                new_code,
                new_data,
                start + i,
                allowed[k],
                n_allowed[k],
                table,
                banks,
                features,
                u,
                pos,
            )
        return (
            new_code,
            new_data,
            _as_tuple(new_sizes),
            _RANDOMIZE_COMPONENT if sizes[k] else _NONE,
            start,
            sizes[k],
        )
    k = _pick_component(u[0], sizes, mutable, True)
    if k < 0:
        return code, data, _as_tuple(new_sizes), _NONE, 0, 0
    start = 0
    for j in range(k):
        start += sizes[j]
    row = start + _pick(u[1], sizes[k])
    if kind_choice == 3:  # randomize one instruction
        _random_instruction(
            new_code, new_data, row, allowed[k], n_allowed[k], table, banks, features, u, 8
        )
        return (
            new_code,
            new_data,
            _as_tuple(new_sizes),
            _RANDOMIZE_INSTRUCTION,
            row,
            1,
        )
    # Alter one argument: an input, the output or the constants, uniformly.
    op = code[row, 0]
    n_args = (table[op, 0] > 0) + (table[op, 1] > 0) + (table[op, 2] > 0) + (table[op, 3] > 0)
    if n_args == 0:  # no_op has nothing to alter
        return code, data, _as_tuple(new_sizes), _NONE, 0, 0
    choice = _pick(u[2], n_args)
    for slot in range(4):
        if table[op, slot] > 0:
            if choice == 0:
                break
            choice -= 1
    if slot < 3:
        new_code[row, slot + 1] = _address(table[op, slot], u[3], slot == 2, banks)
    else:
        _alter_data(new_data, row, table[op, 3], features, u, 4)
    return new_code, new_data, _as_tuple(new_sizes), _ALTER, row, 1


@numba.njit(cache=True, nogil=True)
def _random_rows(code, data, n_setup, n_predict, n_learn, u, spec):
    allowed = spec[_ALLOWED:_N_ALLOWED].reshape(3, N_OPS)
    n_allowed = spec[_N_ALLOWED:_TABLE]
    table = spec[_TABLE:_BANKS].reshape(N_OPS, 4)
    banks, features = spec[_BANKS:_FEATURES], spec[_FEATURES]
    row = 0
    for k, size in enumerate((n_setup, n_predict, n_learn)):
        for _ in range(size):
            _random_instruction(
                code, data, row, allowed[k], n_allowed[k], table, banks, features, u, 8 * row
            )
            row += 1


class Mutator:
    """Draws random instructions and mutates programs within size limits."""

    def __init__(
        self,
        memory: Memory,
        ops: tuple[Sequence[int], Sequence[int], Sequence[int]],
        min_sizes: tuple[int, int, int],
        max_sizes: tuple[int, int, int],
        mutations: Sequence[str] = ("insert_remove", "randomize_component", "alter_argument"),
    ):
        unknown = [m for m in mutations if m not in MUTATIONS]
        if unknown or not mutations:
            raise ValueError(
                f"mutations: expected a non-empty subset of {list(MUTATIONS)}, "
                f"got {list(mutations)}"
            )
        self.memory = memory
        self.ops = tuple(tuple(int(o) for o in comp) for comp in ops)
        self.min_sizes = tuple(int(s) for s in min_sizes)
        self.max_sizes = tuple(int(s) for s in max_sizes)
        self.mutations = tuple(mutations)
        mutable = [k for k in range(3) if self.ops[k]]
        if not mutable:
            raise ValueError("ops: at least one component function needs allowed ops")
        spec = np.full(_SPEC_SIZE, -1, np.int64)
        allowed = spec[_ALLOWED:_N_ALLOWED].reshape(3, N_OPS)
        for k, comp in enumerate(self.ops):
            allowed[k, : len(comp)] = comp
        spec[_N_ALLOWED:_TABLE] = [len(c) for c in self.ops]
        spec[_TABLE:_BANKS] = _OP_TABLE.ravel()
        spec[_BANKS:_FEATURES] = (1, memory.n_scalars, memory.n_vectors, memory.n_matrices)
        spec[_FEATURES] = memory.features
        spec[_MIN:_MAX] = self.min_sizes
        spec[_MAX:_MUTABLE] = self.max_sizes
        spec[_MUTABLE : _MUTABLE + len(mutable)] = mutable
        self._spec = spec
        self._kind_codes = np.array([MUTATIONS.index(m) for m in self.mutations], np.int64)
        self._max_rows = max(max(self.max_sizes), 1)

    def random_instruction(self, component: int, rng: np.random.Generator) -> tuple:
        """A random ``(op, in1, in2, out, d0, d1, d2)`` row for a component."""
        return self.random_program(tuple(int(k == component) for k in range(3)), rng).rows(
            component
        )[0]

    def random_program(self, sizes: tuple[int, int, int], rng: np.random.Generator) -> Program:
        """A program of ``sizes`` random instructions (components without ops stay empty)."""
        sizes = tuple(s if self.ops[k] else 0 for k, s in enumerate(sizes))
        n = sum(sizes)
        code, data = np.zeros((n, 4), np.int64), np.zeros((n, 3), np.float64)
        _random_rows(code, data, *sizes, rng.random(_DRAWS_PER_INSTRUCTION * max(n, 1)), self._spec)
        return Program(code, data, sizes)

    def mutate(self, program: Program, rng: np.random.Generator) -> tuple[Program, str]:
        """A mutated copy of ``program`` and the name of what was done."""
        u = rng.random(_DRAWS_PER_MUTATION * (self._max_rows + 2))
        code, data, sizes, result, first, count = _mutate(
            program.code, program.data, *program.sizes, self._kind_codes, u, self._spec
        )
        if result == _NONE:
            return program, "none"
        lines = self._lines(program, result, first, count)
        return Program(code, data, sizes, lines), _RESULT_NAMES[result]

    @staticmethod
    def _lines(program: Program, result: int, first: int, count: int) -> list[str | None] | None:
        """The parent's cached text lines, with the changed rows forgotten."""
        if program.lines is None:
            return None
        lines = list(program.lines)
        if result == _REMOVE:
            del lines[first]
        elif result == _INSERT:
            lines.insert(first, None)
        else:
            lines[first : first + count] = [None] * count
        return lines
