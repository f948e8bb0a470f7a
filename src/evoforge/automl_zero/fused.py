"""Regularized evolution of AutoML-Zero programs, fused into one compiled step.

`FusedSearch` runs the whole per-child step of the engine's readable loop
(`evoforge.evolution.run.Run._loop` with `RegularizedEvolution`,
`CachedEvaluator` and `Hurdle`) inside one numba function, over a chunk of
children per call: tournament, mutation (the compiled `mutator._mutate`, every
mutation type), fingerprint and LRU functional-equivalence cache, evaluation
with the hurdle's early stop, and replacement of the oldest member. Python sees
only the chunk's arrays (`Chunk`), which the engine's chunked driver
(`evoforge.evolution.chunked`) stores, shows and checkpoints.

It draws from the run's own numpy generator, in the same order as the loop:
per child ``T + 1`` raw 64-bit words (tournament, mutation coin) and, when
mutated, the mutator's block of uniforms. A chunk's words are drawn ahead into
an array; after the call the generator is rewound and advanced by exactly the
words used (`PCG64.advance`), so the fused step and the loop produce the same
individuals, row for row, from the same seed (tested).

Example:
    >>> import numpy as np
    >>> from evoforge.automl_zero.domain import build
    >>> table = {"memory": {"scalars": 4, "vectors": 3, "matrices": 1},
    ...          "setup": {"ops": ["SCALAR_CONST_SET"], "size": 1},
    ...          "predict": {"ops": ["VECTOR_INNER_PRODUCT"], "size": 1},
    ...          "learn": {"ops": ["SCALAR_DIFF", "SCALAR_PRODUCT",
    ...                            "SCALAR_VECTOR_PRODUCT", "VECTOR_SUM"], "size": 4},
    ...          "search_tasks": {"type": "linear", "n_tasks": 2, "features": 4,
    ...                           "n_train": 20, "n_valid": 10}}
    >>> setup = build(table, "<doc>", seed=0)
    >>> rng = np.random.default_rng(0)
    >>> fused = FusedSearch(setup.space, setup.evaluator, population_size=4,
    ...                     tournament_size=2, mutation_prob=0.9, fec_capacity=100)
    >>> for i in range(4):  # the initial population, as the loop builds it
    ...     p = setup.space.initial(rng)
    ...     fused.admit(i + 1, p, setup.evaluator.evaluate(p), fingerprint=None)
    >>> chunk = fused.step(rng, first_id=5, n=10)
    >>> len(chunk), bool(chunk.parent_id.min() >= 1)
    (10, True)
"""

from __future__ import annotations

import math
import time
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from evoforge.automl_zero.evaluator import ProgramEvaluator, _hash_predictions, _program_seed
from evoforge.automl_zero.fused_codec import DATA_SLOTS, encode_chunk
from evoforge.automl_zero.interpreter_numba import eval_arguments, kernel_for
from evoforge.automl_zero.mutator import (
    _DRAWS_PER_MUTATION,
    _RESULT_NAMES,
    _mutate,
)
from evoforge.automl_zero.program import Program
from evoforge.automl_zero.space import ProgramSpace
from evoforge.evolution.space import Evaluation, Individual

#: Names of the chunk's mutation codes (index = code), as the loop records them.
MUTATION_NAMES = _RESULT_NAMES

_jit = numba.njit(cache=True, nogil=True)
_U64 = np.uint64
_TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0
_FIB = np.uint64(0x9E3779B97F4A7C15)

# Slots of the int64 `meta` array the kernel keeps its counters in.
_HEAD = 0  # ring slot of the oldest member
_FEC_COUNT = 1  # cache entries in use
_FEC_OLD = 2  # least recently used entry (-1: empty)
_FEC_NEW = 3  # most recently used entry
_FEC_BITS = 4  # log2 of the hash table size
_HUR_UNIQUE = 5  # distinct finite fitnesses in the population
_HUR_SIZE = 6  # members counted by the hurdle
_FEC_HITS = 7
_FEC_MISSES = 8
_META_SIZE = 9


# -- numbers as Python computes them -------------------------------------------------


@_jit
def _fsum(values, n):
    """``math.fsum(values[:n])`` for finite values (Shewchuk's partials with
    CPython's final half-way correction), so combined fitnesses match the loop's
    to the last bit."""
    partials = np.empty(n + 1)
    m = 0
    for t in range(n):
        x = values[t]
        i = 0
        for j in range(m):
            y = partials[j]
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            x = hi
        partials[i] = x
        m = i + 1
    if m == 0:
        return 0.0
    m -= 1
    hi = partials[m]
    lo = 0.0
    while m > 0:
        x = hi
        m -= 1
        y = partials[m]
        hi = x + y
        yr = hi - x
        lo = y - yr
        if lo != 0.0:
            break
    if m > 0 and ((lo < 0.0 and partials[m - 1] < 0.0) or (lo > 0.0 and partials[m - 1] > 0.0)):
        y = lo * 2.0
        x = hi + y
        yr = x - hi
        if y == yr:
            hi = x
    return hi


@_jit
def _combine(values, n, median):
    # `evaluator.combine`: the mean by fsum, or the upper middle of the sorted values.
    if median:
        return np.sort(values[:n])[n // 2]
    return _fsum(values, n) / n


@_jit
def _slot_of(raw, size):
    # (raw * size) >> 64 without 128-bit integers: size < 2**32.
    hi = raw >> _U64(32)
    lo = raw & _U64(0xFFFFFFFF)
    s = _U64(size)
    return np.int64((hi * s + ((lo * s) >> _U64(32))) >> _U64(32))


# -- the rolling-percentile hurdle (`evolution.hurdles.Hurdle`) ----------------------


@_jit
def _hurdle_add(values, counts, meta, f):
    meta[_HUR_SIZE] += 1
    if not math.isfinite(f):
        return
    m = meta[_HUR_UNIQUE]
    i = np.searchsorted(values[:m], f)
    if i < m and values[i] == f:
        counts[i] += 1
        return
    values[i + 1 : m + 1] = values[i:m].copy()
    counts[i + 1 : m + 1] = counts[i:m].copy()
    values[i] = f
    counts[i] = 1
    meta[_HUR_UNIQUE] = m + 1


@_jit
def _hurdle_remove(values, counts, meta, f):
    meta[_HUR_SIZE] -= 1
    if not math.isfinite(f):
        return
    m = meta[_HUR_UNIQUE]
    i = np.searchsorted(values[:m], f)
    if counts[i] > 1:
        counts[i] -= 1
        return
    values[i : m - 1] = values[i + 1 : m].copy()
    counts[i : m - 1] = counts[i + 1 : m].copy()
    meta[_HUR_UNIQUE] = m - 1


@_jit
def _hurdle_value(values, meta, percentile, min_population):
    # NaN stands for "no hurdle yet" (`Hurdle.value` is None).
    m = meta[_HUR_UNIQUE]
    if meta[_HUR_SIZE] < min_population or m == 0:
        return np.nan
    h = (m - 1) * percentile / 100.0
    lo = math.floor(h)
    if lo + 1 >= m:
        return values[m - 1]
    return values[lo] + (h - lo) * (values[lo + 1] - values[lo])


# -- the LRU functional-equivalence cache (`evolution.fec.FECache`) ------------------


@_jit
def _home(key, bits):
    return np.int64((_U64(key) * _FIB) >> _U64(64 - bits))


@_jit
def _fec_find(table, keys, meta, key):
    """Position in ``table`` holding ``key``'s entry, or of the empty cell that
    ends its probe (``table`` holds entry + 1, 0 for empty)."""
    bits = meta[_FEC_BITS]
    mask = (1 << bits) - 1
    pos = _home(key, bits)
    while table[pos] != 0 and keys[table[pos] - 1] != key:
        pos = (pos + 1) & mask
    return pos


@_jit
def _fec_unlink(prev, nxt, meta, e):
    p, q = prev[e], nxt[e]
    if p >= 0:
        nxt[p] = q
    else:
        meta[_FEC_OLD] = q
    if q >= 0:
        prev[q] = p
    else:
        meta[_FEC_NEW] = p


@_jit
def _fec_append(prev, nxt, meta, e):
    # Make ``e`` the most recently used entry.
    last = meta[_FEC_NEW]
    prev[e] = last
    nxt[e] = -1
    if last >= 0:
        nxt[last] = e
    else:
        meta[_FEC_OLD] = e
    meta[_FEC_NEW] = e


@_jit
def _fec_delete(table, keys, meta, pos):
    # Linear probing's backward-shift deletion: no tombstones to slow lookups.
    bits = meta[_FEC_BITS]
    mask = (1 << bits) - 1
    i = pos
    j = pos
    while True:
        j = (j + 1) & mask
        if table[j] == 0:
            break
        k = _home(keys[table[j] - 1], bits)
        # Whether k lies cyclically in (i, j]: then the entry may stay.
        stays = i < k <= j if i <= j else k > i or k <= j
        if not stays:
            table[i] = table[j]
            i = j
    table[i] = 0


@_jit
def _fec_insert(table, keys, prev, nxt, meta, key):
    """A new entry for ``key`` (absent), evicting the least recently used when
    full; returns the entry index."""
    capacity = keys.shape[0]
    if meta[_FEC_COUNT] < capacity:
        e = meta[_FEC_COUNT]
        meta[_FEC_COUNT] += 1
    else:
        e = meta[_FEC_OLD]
        _fec_unlink(prev, nxt, meta, e)
        _fec_delete(table, keys, meta, _fec_find(table, keys, meta, keys[e]))
    keys[e] = key
    table[_fec_find(table, keys, meta, key)] = e + 1
    _fec_append(prev, nxt, meta, e)
    return e


# -- the fused step ------------------------------------------------------------------


def _step_source(F: int, multiclass: bool):
    # The step calls the interpreter's kernel through the global name
    # ``_KERNEL`` (bound per feature size in `_build_step`), not a closure
    # variable: numba's cache keys on closure values, and a kernel's pickled
    # form changes with every process, so a captured kernel was recompiled
    # (~12 s) in every process. F and multiclass stay closure values so each
    # kernel's step has its own cache entry.
    def step(
        # the population, a ring of slots (see `FusedSearch`)
        pop_code, pop_data, pop_sizes, pop_fit, pop_id,
        # hurdle
        hur_values, hur_counts, hurdle_on, percentile, hurdle_tasks,
        # FEC
        fec_on, fec_table, fec_keys, fec_prev, fec_next, fec_fit, fec_task, fec_ntask, fec_early,
        meta,
        # the generator's words, drawn ahead
        raws,
        # search parameters
        tournament, always_mutate, bar, kinds, spec, n_uniforms,
        # tasks: search and fingerprint
        train_x, train_y, valid_x, valid_y, orders, seeds, per_program_seeds,
        f_train_x, f_train_y, f_valid_x, f_valid_y, f_orders, f_seeds,
        eval_code, n_classes, max_abs_error, median,
        # work buffers
        s, v, m, f_pred,
        # the chunk
        first_id, n_max, stop_above, cost_limit,
        out_parent, out_mutation, out_sizes, out_code, out_data, out_fit, out_task, out_ntask,
        out_cost, out_fp, out_hit, out_early,
    ):  # fmt: skip
        P = pop_fit.shape[0]
        D = train_x.shape[0]
        if s.shape[0] < 0 or (F < 0 and multiclass):  # ties the cache key to F, multiclass
            return 0, 0
        kernel = _KERNEL  # noqa: F821 (bound by _build_step)
        task_fit = np.zeros(D)
        task_steps = np.zeros(D, np.int64)
        f_fit = np.zeros(1)
        f_steps = np.zeros(1, np.int64)
        u = np.empty(n_uniforms)
        used = 0
        total_cost = 0
        done = 0
        for c in range(n_max):
            # Tournament (ties to the first drawn) and the mutation coin.
            best = _slot_of(raws[used], P)
            best_fitness = pop_fit[best]
            for t in range(1, tournament):
                slot = _slot_of(raws[used + t], P)
                if pop_fit[slot] > best_fitness:
                    best = slot
                    best_fitness = pop_fit[slot]
            coin = raws[used + tournament]
            used += tournament + 1
            n0 = pop_sizes[best, 0]
            n1 = pop_sizes[best, 1]
            n2 = pop_sizes[best, 2]
            rows = n0 + n1 + n2
            code = pop_code[best, :rows].copy()
            data = pop_data[best, :rows].copy()
            result = 0
            if always_mutate or coin < bar:
                for k in range(n_uniforms):
                    u[k] = (raws[used + k] >> _U64(11)) * _TWO_POW_MINUS_53
                used += n_uniforms
                code, data, sizes, result, _first, _count = _mutate(
                    code, data, n0, n1, n2, kinds, u, spec
                )
                n0, n1, n2 = sizes
                rows = n0 + n1 + n2
            # Fingerprint and cache lookup.
            hit = False
            entry = -1
            fp = np.int64(0)
            if fec_on:
                kernel(code, data, n0, n1, n2, s, v, m, f_train_x, f_train_y, f_valid_x,
                       f_valid_y, f_orders, f_seeds, 0, 1, eval_code, n_classes, max_abs_error,
                       f_fit, f_steps, f_pred)  # fmt: skip
                fp = _hash_predictions(f_pred)
                pos = _fec_find(fec_table, fec_keys, meta, fp)
                if fec_table[pos] != 0:
                    entry = fec_table[pos] - 1
                    hit = True
                    meta[_FEC_HITS] += 1
                    _fec_unlink(fec_prev, fec_next, meta, entry)
                    _fec_append(fec_prev, fec_next, meta, entry)
                else:
                    meta[_FEC_MISSES] += 1
            if hit:
                fitness = fec_fit[entry]
                n_tasks = fec_ntask[entry]
                for d in range(n_tasks):
                    out_task[c, d] = fec_task[entry, d]
                early = fec_early[entry]
                cost = 0
            else:
                # Evaluate, stopping at the hurdle (`ProgramEvaluator.evaluate`).
                hurdle = _hurdle_value(hur_values, meta, percentile, P) if hurdle_on else np.nan
                run_seeds = seeds
                if per_program_seeds:
                    run_seeds = seeds ^ _program_seed(code, data)
                split = D
                if hurdle == hurdle and hurdle_tasks > 0 and hurdle_tasks < D:
                    split = hurdle_tasks
                kernel(code, data, n0, n1, n2, s, v, m, train_x, train_y, valid_x, valid_y,
                       orders, run_seeds, 0, split, eval_code, n_classes, max_abs_error,
                       task_fit[:split], task_steps[:split], f_pred[:0, :0])  # fmt: skip
                cost = 0
                for d in range(split):
                    cost += task_steps[d]
                early = False
                n_tasks = split
                if split < D:
                    partial = _combine(task_fit, split, median)
                    if partial < hurdle:
                        early = True
                        fitness = partial
                    else:
                        kernel(code, data, n0, n1, n2, s, v, m, train_x, train_y, valid_x,
                               valid_y, orders, run_seeds, split, D, eval_code, n_classes,
                               max_abs_error, task_fit[split:], task_steps[split:],
                               f_pred[:0, :0])  # fmt: skip
                        for d in range(split, D):
                            cost += task_steps[d]
                        n_tasks = D
                if not early:
                    fitness = _combine(task_fit, D, median)
                for d in range(n_tasks):
                    out_task[c, d] = task_fit[d]
                if fec_on:
                    e = _fec_insert(fec_table, fec_keys, fec_prev, fec_next, meta, fp)
                    fec_fit[e] = fitness
                    fec_ntask[e] = n_tasks
                    fec_early[e] = early
                    for d in range(n_tasks):
                        fec_task[e, d] = task_fit[d]
            # The child joins; the oldest member leaves.
            head = meta[_HEAD]
            if hurdle_on:
                _hurdle_add(hur_values, hur_counts, meta, fitness)
                _hurdle_remove(hur_values, hur_counts, meta, pop_fit[head])
            pop_code[head, :rows] = code
            pop_data[head, :rows] = data
            pop_sizes[head, 0] = n0
            pop_sizes[head, 1] = n1
            pop_sizes[head, 2] = n2
            pop_fit[head] = fitness
            parent_id = pop_id[best]
            pop_id[head] = first_id + c
            meta[_HEAD] = (head + 1) % P
            # The chunk's row.
            out_parent[c] = parent_id
            out_mutation[c] = result
            out_sizes[c, 0] = n0
            out_sizes[c, 1] = n1
            out_sizes[c, 2] = n2
            out_code[c, :rows] = code
            out_data[c, :rows] = data
            out_fit[c] = fitness
            out_ntask[c] = n_tasks
            out_cost[c] = cost
            out_fp[c] = fp
            out_hit[c] = hit
            out_early[c] = early
            total_cost += cost
            done = c + 1
            # Stop where the driver must look: a new best (stop rules, select
            # fitness) or the cost budget.
            if fitness > stop_above or total_cost >= cost_limit:
                break
        return done, used

    return step


def _build_step(F: int, multiclass: bool):
    source = _step_source(F, multiclass)
    scope = dict(globals())
    scope["_KERNEL"] = kernel_for(F, multiclass)
    function = types.FunctionType(
        source.__code__, scope, source.__name__, source.__defaults__, source.__closure__
    )
    function.__qualname__ = source.__qualname__
    return _jit(function)


_STEPS: dict[tuple[int, bool], Any] = {}


def _step_for(F: int, multiclass: bool):
    key = (int(F), bool(multiclass))
    if key not in _STEPS:
        _STEPS[key] = _build_step(*key)
    return _STEPS[key]


# -- Python side ---------------------------------------------------------------------


@dataclass
class Chunk:
    """The children of one `FusedSearch.step`, as arrays (row ``i`` is id
    ``first_id + i``). ``code[i, :rows]``/``data[i, :rows]`` are the program's
    rows, ``rows = sizes[i].sum()``; ``per_task[i, :n_tasks[i]]`` its task
    fitnesses; ``mutation`` indexes `MUTATION_NAMES`."""

    first_id: int
    parent_id: np.ndarray
    mutation: np.ndarray
    sizes: np.ndarray
    code: np.ndarray
    data: np.ndarray
    fitness: np.ndarray
    per_task: np.ndarray
    n_tasks: np.ndarray
    cost: np.ndarray
    fingerprint: np.ndarray
    fec_hit: np.ndarray
    early_stopped: np.ndarray

    seconds: float = 0.0  # wall time of the call that made it
    created: float = 0.0  # time.time() when it was made

    def __len__(self) -> int:
        return len(self.fitness)

    def program(self, i: int) -> Program:
        """Child ``i`` as a `Program` (copies)."""
        sizes = tuple(int(k) for k in self.sizes[i])
        rows = sum(sizes)
        return Program(self.code[i, :rows].copy(), self.data[i, :rows].copy(), sizes)


class FusedSearch:
    """Regularized evolution over AutoML-Zero programs with the per-child step
    compiled; the state lives in arrays.

    ``admit`` fills the population (the initial members, evaluated by the
    readable path, or members restored on resume), ``warm`` fills the cache,
    then ``step`` makes chunks of children. ``state_dict``/``load_state_dict``
    hold everything (population, cache in LRU order, counters) as arrays.
    Raises ``ValueError`` for a setup it cannot fuse (a time cap, the numpy
    interpreter, an initial program longer than the size limits allow).
    """

    def __init__(
        self,
        space: ProgramSpace,
        evaluator: ProgramEvaluator,
        *,
        population_size: int,
        tournament_size: int,
        mutation_prob: float,
        fec_capacity: int | None,
        hurdle_percentile: float | None = None,
    ) -> None:
        if evaluator.time_cap_seconds is not None:
            raise ValueError(
                "time_cap_seconds: the fused step has no per-evaluation time cap; remove it"
            )
        if evaluator.interpreter != "numba":
            raise ValueError("interpreter: the fused step runs the numba interpreter only")
        if population_size >= 2**32:
            raise ValueError("population_size: at most 2**32 - 1 in the fused step")
        self.space = space
        self.evaluator = evaluator
        mutator = space.mutator
        self.P = int(population_size)
        self.T = int(tournament_size)
        self.mutation_prob = float(mutation_prob)
        bar = round(self.mutation_prob * 2**64)
        self._always = bar >= 2**64
        self._bar = np.uint64(min(bar, 2**64 - 1))
        self._kinds = mutator._kind_codes
        self._spec = mutator._spec
        self._n_uniforms = _DRAWS_PER_MUTATION * (mutator._max_rows + 2)
        tasks = evaluator.tasks
        self.D = tasks.D
        self.L = max(sum(mutator.max_sizes), 1)
        init = space.initial_program
        if isinstance(init, Program):
            self.L = max(self.L, len(init))
        self.memory = space.memory
        self._multiclass = tasks.eval_type == "multiclass"
        self._step = _step_for(tasks.F, self._multiclass)
        fec = evaluator.fec_tasks
        self._tasks = (tasks.train_x, tasks.train_y, tasks.valid_x, tasks.valid_y, tasks.orders,
                       tasks.seeds, evaluator.random_seeds == "program",
                       fec.train_x, fec.train_y, fec.valid_x, fec.valid_y, fec.orders, fec.seeds,
                       *eval_arguments(tasks), evaluator.max_abs_error,
                       evaluator.combine == "median")  # fmt: skip
        F, mem = tasks.F, self.memory
        self._banks = (
            np.zeros(mem.n_scalars),
            np.zeros((mem.n_vectors, F)),
            np.zeros((mem.n_matrices, F, F)),
            np.zeros((1, fec.epochs * (fec.N + fec.M))),
        )
        self.hurdle_on = hurdle_percentile is not None
        self.percentile = 75.0 if hurdle_percentile is None else float(hurdle_percentile)
        self.hurdle_tasks = evaluator.hurdle_tasks or 0
        self.fec_on = fec_capacity is not None
        capacity = int(fec_capacity) if fec_capacity else 1
        self._new_arrays(capacity)

    def _new_arrays(self, capacity: int) -> None:
        P, L, D = self.P, self.L, self.D
        self.pop_code = np.zeros((P, L, 4), np.int64)
        self.pop_data = np.zeros((P, L, 3), np.float64)
        self.pop_sizes = np.zeros((P, 3), np.int64)
        self.pop_fit = np.zeros(P)
        self.pop_id = np.zeros(P, np.int64)
        self.n_members = 0
        self.hur_values = np.zeros(P + 1)
        self.hur_counts = np.zeros(P + 1, np.int64)
        bits = max(4, math.ceil(math.log2(2 * capacity)))
        self.fec_table = np.zeros(1 << bits, np.int64)
        self.fec_keys = np.zeros(capacity, np.int64)
        self.fec_prev = np.full(capacity, -1, np.int64)
        self.fec_next = np.full(capacity, -1, np.int64)
        self.fec_fit = np.zeros(capacity)
        self.fec_task = np.zeros((capacity, D))
        self.fec_ntask = np.zeros(capacity, np.int64)
        self.fec_early = np.zeros(capacity, np.bool_)
        self.meta = np.zeros(_META_SIZE, np.int64)
        self.meta[_FEC_OLD] = self.meta[_FEC_NEW] = -1
        self.meta[_FEC_BITS] = bits

    @property
    def fec_capacity(self) -> int:
        return len(self.fec_keys)

    # -- filling ---------------------------------------------------------------------

    def admit(self, ind_id: int, program: Program, evaluation, fingerprint: int | None) -> None:
        """Add a member in the next ring slot (the initial population, in order)."""
        if self.n_members >= self.P:
            raise ValueError("the population is full")
        self.pop_code[self.n_members] = 0
        self._put(self.n_members, ind_id, program, evaluation.fitness)
        if self.hurdle_on:
            _hurdle_add(self.hur_values, self.hur_counts, self.meta, float(evaluation.fitness))
        self.n_members += 1

    def _put(self, slot: int, ind_id: int, program: Program, fitness: float) -> None:
        rows = len(program)
        if rows > self.L:
            raise ValueError(f"a program of {rows} rows exceeds the fused limit of {self.L}")
        self.pop_code[slot, :rows] = program.code
        self.pop_data[slot, :rows] = program.data
        self.pop_sizes[slot] = program.sizes
        self.pop_fit[slot] = fitness
        self.pop_id[slot] = ind_id

    def set_population(self, members: Sequence[tuple[int, Program, float]], head: int) -> None:
        """Fill every slot: ``members[slot] = (id, program, fitness)``, the oldest in ``head``."""
        if len(members) != self.P:
            raise ValueError(f"expected {self.P} members, got {len(members)}")
        self.meta[_HUR_UNIQUE] = self.meta[_HUR_SIZE] = 0
        for slot, (ind_id, program, fitness) in enumerate(members):
            self._put(slot, ind_id, program, fitness)
            if self.hurdle_on:
                _hurdle_add(self.hur_values, self.hur_counts, self.meta, float(fitness))
        self.n_members = self.P
        self.meta[_HEAD] = head

    def warm(self, pairs) -> None:
        """Insert ``(fingerprint, evaluation)`` pairs, least recently used first
        (as `FECache.warm`)."""
        for fingerprint, ev in pairs:
            key = int(fingerprint)
            pos = _fec_find(self.fec_table, self.fec_keys, self.meta, key)
            if self.fec_table[pos]:
                e = self.fec_table[pos] - 1
                _fec_unlink(self.fec_prev, self.fec_next, self.meta, e)
                _fec_append(self.fec_prev, self.fec_next, self.meta, e)
            else:
                e = _fec_insert(
                    self.fec_table, self.fec_keys, self.fec_prev, self.fec_next, self.meta, key
                )
            n = len(ev.per_task)
            self.fec_fit[e] = ev.fitness
            self.fec_ntask[e] = n
            self.fec_task[e, :n] = ev.per_task
            self.fec_early[e] = ev.early_stopped

    def fec_order(self) -> np.ndarray:
        """Cache entries from least to most recently used."""
        order = np.empty(self.meta[_FEC_COUNT], np.int64)
        e, i = self.meta[_FEC_OLD], 0
        while e >= 0:
            order[i] = e
            e = self.fec_next[e]
            i += 1
        return order

    @property
    def fec_counts(self) -> tuple[int, int]:
        """(hits, misses) of the cache in the fused steps made by this object."""
        return int(self.meta[_FEC_HITS]), int(self.meta[_FEC_MISSES])

    def hurdle_value(self) -> float | None:
        value = _hurdle_value(self.hur_values, self.meta, self.percentile, self.P)
        return None if not self.hurdle_on or math.isnan(value) else float(value)

    # -- stepping --------------------------------------------------------------------

    def step(
        self,
        rng: np.random.Generator,
        first_id: int,
        n: int,
        stop_above: float = math.inf,
        cost_limit: int = 2**62,
    ) -> Chunk:
        """Make up to ``n`` children with ids from ``first_id``; stop early after
        a child fitter than ``stop_above`` or once the chunk's cost reaches
        ``cost_limit``. Advances ``rng`` by exactly the words used."""
        if self.n_members < self.P:
            raise ValueError("the population is not complete yet")
        started = time.perf_counter()
        bitgen = rng.bit_generator
        saved = bitgen.state
        raws = bitgen.random_raw(n * (self.T + 1 + self._n_uniforms))
        out = Chunk(
            first_id,
            np.zeros(n, np.int64),
            np.zeros(n, np.int64),
            np.zeros((n, 3), np.int64),
            np.zeros((n, self.L, 4), np.int64),
            np.zeros((n, self.L, 3)),
            np.zeros(n),
            np.zeros((n, self.D)),
            np.zeros(n, np.int64),
            np.zeros(n, np.int64),
            np.zeros(n, np.int64),
            np.zeros(n, np.bool_),
            np.zeros(n, np.bool_),
        )
        done, used = self._step(
            self.pop_code, self.pop_data, self.pop_sizes, self.pop_fit, self.pop_id,
            self.hur_values, self.hur_counts, self.hurdle_on, self.percentile, self.hurdle_tasks,
            self.fec_on, self.fec_table, self.fec_keys, self.fec_prev, self.fec_next,
            self.fec_fit, self.fec_task, self.fec_ntask, self.fec_early, self.meta,
            raws, self.T, self._always, self._bar, self._kinds, self._spec, self._n_uniforms,
            *self._tasks, *self._banks,
            first_id, n, float(stop_above), int(cost_limit),
            out.parent_id, out.mutation, out.sizes, out.code, out.data, out.fitness,
            out.per_task, out.n_tasks, out.cost, out.fingerprint, out.fec_hit, out.early_stopped,
        )  # fmt: skip
        out.seconds = time.perf_counter() - started
        out.created = time.time()
        bitgen.state = saved
        bitgen.advance(used)
        if done < n:
            for name in ("parent_id", "mutation", "sizes", "code", "data", "fitness",
                         "per_task", "n_tasks", "cost", "fingerprint", "fec_hit",
                         "early_stopped"):  # fmt: skip
                setattr(out, name, getattr(out, name)[:done])
        return out

    # -- state -----------------------------------------------------------------------

    def members(self) -> list[tuple[int, Program, float]]:
        """``(id, program, fitness)`` per ring slot."""
        out = []
        for slot in range(self.n_members):
            sizes = tuple(int(k) for k in self.pop_sizes[slot])
            rows = sum(sizes)
            program = Program(
                self.pop_code[slot, :rows].copy(), self.pop_data[slot, :rows].copy(), sizes
            )
            out.append((int(self.pop_id[slot]), program, float(self.pop_fit[slot])))
        return out

    @property
    def head(self) -> int:
        return int(self.meta[_HEAD])

    def state_dict(self) -> dict[str, Any]:
        """Arrays for `evoforge.evolution.strategies.state.encode_state`: the
        population ring. (The cache is rebuilt from the store's rows, whose
        order is its LRU order: `RunStore.fec_entries`.)"""
        return {
            "pop_code": self.pop_code[: self.n_members],
            "pop_data": self.pop_data[: self.n_members],
            "pop_sizes": self.pop_sizes[: self.n_members],
            "pop_fit": self.pop_fit[: self.n_members],
            "pop_id": self.pop_id[: self.n_members],
            "head": self.head,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` saved (into fresh arrays)."""
        code = np.asarray(state["pop_code"])
        if code.shape[1:] != (self.L, 4) or code.shape[0] != self.P:
            raise ValueError("the fused checkpoint does not fit this config's sizes")
        self._new_arrays(self.fec_capacity)
        n = code.shape[0]
        self.pop_code[:n] = code
        self.pop_data[:n] = state["pop_data"]
        self.pop_sizes[:n] = state["pop_sizes"]
        self.pop_fit[:n] = state["pop_fit"]
        self.pop_id[:n] = state["pop_id"]
        self.n_members = n
        self.meta[_HEAD] = int(state["head"])
        if self.hurdle_on:
            for f in self.pop_fit[:n]:
                _hurdle_add(self.hur_values, self.hur_counts, self.meta, float(f))

    def reset(self) -> None:
        """Empty population and cache (an experiment restart)."""
        self._new_arrays(self.fec_capacity)

    def slot_ids(self) -> list[int]:
        return self.pop_id[: self.n_members].tolist()

    def population_fitness(self) -> list[float]:
        return self.pop_fit[: self.n_members].tolist()

    def best_member(self) -> Individual:
        """The fittest member (the first slot among equals), as the reference's
        ``PopulationStats`` picks an experiment's candidate."""
        slot = int(np.argmax(self.pop_fit[: self.n_members]))
        (ind_id, program, fitness) = self.members()[slot]
        return Individual(ind_id, program, Evaluation(fitness))

    # -- rows for the store --------------------------------------------------------

    def single(self, ind: Individual) -> Chunk:
        """A one-row chunk holding ``ind`` (a member of the initial population)."""
        program, ev = ind.genome, ind.evaluation
        rows = len(program)
        code = np.zeros((1, max(self.L, rows), 4), np.int64)
        data = np.zeros((1, max(self.L, rows), 3))
        code[0, :rows], data[0, :rows] = program.code, program.data
        per_task = np.zeros((1, max(self.D, len(ev.per_task))))
        per_task[0, : len(ev.per_task)] = ev.per_task
        fp = 0 if ev.fingerprint is None else ev.fingerprint
        return Chunk(
            ind.id, np.array([ind.parent_id or 0]), np.array([-1]), np.array([program.sizes]),
            code, data, np.array([ev.fitness]), per_task, np.array([len(ev.per_task)]),
            np.array([ev.cost]), np.array([fp]), np.array([ev.fec_hit]),
            np.array([ev.early_stopped]), ev.wall_time or 0.0, ind.created or time.time(),
        )  # fmt: skip

    def columns(self, chunk: Chunk) -> dict[str, list]:
        """The chunk as the store's compact columns (`RunStore.add_chunk`)."""
        n = len(chunk)
        wide = bool(n and chunk.code[..., 1:].max() > 255)
        buf, ends = encode_chunk(
            chunk.sizes, chunk.code, chunk.data, DATA_SLOTS, self.memory.features, wide
        )
        blob = buf.tobytes()
        cuts = ends.tolist()
        width = 8 * chunk.per_task.shape[1]
        tasks = chunk.per_task.tobytes()
        starts = range(0, n * width, width)
        names = MUTATION_NAMES
        mutations = [None if c < 0 else names[c] for c in chunk.mutation.tolist()]
        parents = [p or None for p in chunk.parent_id.tolist()]
        wall = chunk.seconds / n if n else 0.0
        return {
            "id": list(range(chunk.first_id, chunk.first_id + n)),
            "parent_id": parents,
            "mutation": mutations,
            "genome_blob": [blob[cuts[i] : cuts[i + 1]] for i in range(n)],
            "fitness": chunk.fitness.tolist(),
            "per_task": [
                tasks[a : a + 8 * k] for a, k in zip(starts, chunk.n_tasks.tolist(), strict=True)
            ],
            "cost": chunk.cost.tolist(),
            "fingerprint": chunk.fingerprint.tolist() if self.fec_on else [None] * n,
            "fec_hit": chunk.fec_hit.astype(np.int64).tolist(),
            "early_stopped": chunk.early_stopped.astype(np.int64).tolist(),
            "wall_time": [wall] * n,
            "created": [chunk.created] * n,
            "worker": [0] * n,
        }

    def individual(self, chunk: Chunk, i: int, ind_id: int) -> Individual:
        """Row ``i`` of ``chunk`` as an `Individual` (for the run's best)."""
        m = int(chunk.mutation[i])
        ev = Evaluation(
            fitness=float(chunk.fitness[i]),
            per_task=tuple(chunk.per_task[i, : chunk.n_tasks[i]].tolist()),
            cost=int(chunk.cost[i]),
            fingerprint=int(chunk.fingerprint[i]) if self.fec_on else None,
            early_stopped=bool(chunk.early_stopped[i]),
            fec_hit=bool(chunk.fec_hit[i]),
        )
        parent = int(chunk.parent_id[i]) or None
        return Individual(ind_id, chunk.program(i), ev, parent,
                          None if m < 0 else MUTATION_NAMES[m], worker=0,
                          created=chunk.created)  # fmt: skip
