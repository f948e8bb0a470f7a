"""Functional-equivalence cache (FEC): skip re-evaluating genomes that behave
like one evaluated recently.

AutoML-Zero found that most mutations leave a program's behaviour unchanged
(they touch dead code), so a cheap behavioural fingerprint (outputs on a few
examples) identifies repeats. `FECache` is an LRU map fingerprint ->
`Evaluation`; `CachedEvaluator` puts it in front of any evaluator that is also
a `Fingerprinter`. Each process that evaluates owns its own cache (as each
worker does in the original C++), so no locking or IPC is needed.

Example:
    >>> from evoforge.evolution.space import Budget, Evaluation
    >>> class Parity:
    ...     def evaluate(self, genome, budget=Budget()):
    ...         return Evaluation(fitness=float(genome % 2))
    ...     def fingerprint(self, genome):
    ...         return genome % 2
    >>> ev = CachedEvaluator(Parity(), capacity=10)
    >>> ev.evaluate(3).fec_hit, ev.evaluate(5).fec_hit, ev.evaluate(5).fitness
    (False, True, 1.0)
    >>> ev.cache.hit_rate
    0.6666666666666666
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from evoforge.config import FEC_CAPACITY
from evoforge.evolution.space import (
    NO_BUDGET,
    BatchEvaluator,
    Budget,
    ContextualEvaluator,
    EvalContext,
    Evaluation,
    Evaluator,
    Fingerprinter,
)

# Stands in the cache for a miss whose batch has not been evaluated yet.
_PENDING = Evaluation(float("nan"))

DEFAULT_CAPACITY = FEC_CAPACITY  # the config's default, defined there (config is below us)

_U64 = 1 << 64
_I64_MIN = -(1 << 63)


def as_int64(fingerprint: int) -> int:
    """Fold an arbitrary int into the signed 64-bit range SQLite stores exactly."""
    return (int(fingerprint) - _I64_MIN) % _U64 + _I64_MIN


class FECache:
    """Least-recently-used map fingerprint -> Evaluation with hit/miss counters.

    Example:
        >>> c = FECache(capacity=1)
        >>> c.put(1, Evaluation(0.5)); c.put(2, Evaluation(0.7))
        >>> c.get(1) is None, c.get(2).fitness, (c.hits, c.misses)
        (True, 0.7, (1, 1))
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[int, Evaluation] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def hit_rate(self) -> float:
        """Hits / lookups (0.0 before the first lookup)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def get(self, fingerprint: int) -> Evaluation | None:
        """The cached evaluation (marked most recently used) or None; counts a hit or miss."""
        evaluation = self._entries.get(fingerprint)
        if evaluation is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(fingerprint)
        return evaluation

    def put(self, fingerprint: int, evaluation: Evaluation) -> None:
        """Insert or refresh an entry, evicting the least recently used beyond capacity."""
        self._entries[fingerprint] = evaluation
        self._entries.move_to_end(fingerprint)
        if len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def entries(self) -> list[tuple[int, Evaluation]]:
        """``(fingerprint, evaluation)`` pairs, least recently used first (what
        `warm` takes: the chunked driver moves a cache into a fused step)."""
        return list(self._entries.items())

    def clear(self) -> None:
        """Forget every entry (an experiment restart); counters are kept."""
        self._entries.clear()

    def warm(self, pairs: Iterable[tuple[int, Evaluation]]) -> None:
        """Insert ``(fingerprint, evaluation)`` pairs, least recently used first.

        Counters are left alone: warming restores state, it is not lookups.
        """
        for fingerprint, evaluation in pairs:
            self.put(fingerprint, evaluation)


class CachedEvaluator:
    """Wraps an evaluator that is also a `Fingerprinter` with an `FECache`.

    On a hit the cached evaluation comes back with ``fec_hit=True``, ``cost=0``
    (nothing was trained) and ``wall_time=0.0`` (not timed); on a miss the
    wrapped evaluator runs and its result (with ``fingerprint`` and
    ``wall_time`` set) is cached.
    Picklable, so process backends ship one copy (cache included) per worker.

    ``evaluate_batch`` answers hits itself and forwards only the misses (one
    ``evaluate_batch`` call if the wrapped evaluator has one), with the same
    hits, counters and cache contents as scoring the genomes one by one.
    ``bind`` is forwarded.
    """

    def __init__(self, evaluator: Evaluator, capacity: int = DEFAULT_CAPACITY) -> None:
        if not isinstance(evaluator, Fingerprinter):
            raise TypeError(f"{type(evaluator).__name__} has no fingerprint(genome) method")
        self.evaluator = evaluator
        self.cache = FECache(capacity)

    @property
    def batched(self) -> bool:
        """Whether the wrapped evaluator scores batches in one call."""
        return isinstance(self.evaluator, BatchEvaluator)

    def bind(self, context: EvalContext) -> None:
        """Pass the worker's context on to the wrapped evaluator."""
        if isinstance(self.evaluator, ContextualEvaluator):
            self.evaluator.bind(context)

    def evaluate(self, genome: Any, budget: Budget = NO_BUDGET) -> Evaluation:
        start = time.perf_counter()
        fingerprint = as_int64(self.evaluator.fingerprint(genome))
        cache = self.cache
        cached = cache.get(fingerprint)
        if cached is not None:
            if not cached.fec_hit:
                # Build the hit form once and share it (evaluations are frozen):
                # hits are the common case and must stay cheap.
                cached = Evaluation(
                    fitness=cached.fitness,
                    per_task=cached.per_task,
                    cost=0,
                    fingerprint=fingerprint,
                    early_stopped=cached.early_stopped,
                    error=cached.error,
                    fec_hit=True,
                )
                cache.put(fingerprint, cached)
            return cached
        result = self.evaluator.evaluate(genome, budget)
        result = Evaluation(
            fitness=result.fitness,
            per_task=result.per_task,
            cost=result.cost,
            fingerprint=fingerprint,
            early_stopped=result.early_stopped,
            error=result.error,
            fec_hit=False,
            wall_time=time.perf_counter() - start,
        )
        cache.put(fingerprint, result)
        return result

    def evaluate_batch(self, genomes: Sequence[Any], budgets: Sequence[Budget]) -> list[Evaluation]:
        """Like ``[self.evaluate(g, b) for g, b in zip(genomes, budgets)]``, with
        the misses scored in one batch call.

        Which genomes hit depends only on fingerprints, so the cache is walked
        in order first with placeholders for the misses (a later duplicate of a
        miss in the same batch is a hit, as it would be one by one), then the
        misses are evaluated and the placeholders filled in.
        """
        start = time.perf_counter()
        cache = self.cache
        fingerprint = self.evaluator.fingerprint  # type: ignore[attr-defined]
        fingerprints = [as_int64(fingerprint(g)) for g in genomes]
        out: list[Evaluation | None] = [None] * len(genomes)
        misses: list[int] = []  # positions evaluated
        first_miss: dict[int, int] = {}  # fingerprint -> position of its miss
        late_hits: list[tuple[int, int]] = []  # (position, the miss it hit)
        hit_later: set[int] = set()  # misses whose entry a later genome hit
        for i, fp in enumerate(fingerprints):
            cached = cache.get(fp)
            if cached is None:
                misses.append(i)
                first_miss[fp] = i
                cache.put(fp, _PENDING)
            elif cached is _PENDING:
                late_hits.append((i, first_miss[fp]))
                hit_later.add(first_miss[fp])  # its entry ends in the hit form
            else:
                out[i] = self._hit(fp, cached)
        if misses:
            inner = self.evaluator
            miss_genomes = [genomes[i] for i in misses]
            miss_budgets = [budgets[i] for i in misses]
            try:
                if isinstance(inner, BatchEvaluator):
                    results = inner.evaluate_batch(miss_genomes, miss_budgets)
                    if len(results) != len(misses):
                        raise ValueError(
                            f"evaluate_batch returned {len(results)} results for {len(misses)}"
                        )
                else:
                    results = [
                        inner.evaluate(g, b)
                        for g, b in zip(miss_genomes, miss_budgets, strict=True)
                    ]
            except BaseException:
                # No placeholder may outlive the call (the caller may retry one by one).
                for fp in first_miss:
                    if cache._entries.get(fp) is _PENDING:
                        del cache._entries[fp]
                raise
            wall = (time.perf_counter() - start) / len(misses)
            entries = cache._entries
            for i, result in zip(misses, results, strict=True):
                fp = fingerprints[i]
                out[i] = result = Evaluation(
                    fitness=result.fitness,
                    per_task=result.per_task,
                    cost=result.cost,
                    fingerprint=fp,
                    early_stopped=result.early_stopped,
                    error=result.error,
                    fec_hit=False,
                    wall_time=wall,
                )
                # Only the latest miss of a fingerprint can still be cached;
                # assignment keeps its place in the LRU order.
                if first_miss[fp] == i and entries.get(fp) is _PENDING:
                    entries[fp] = self._hit_form(fp, result) if i in hit_later else result
        for i, miss in late_hits:
            out[i] = self._hit_form(fingerprints[i], out[miss])  # type: ignore[arg-type]
        return out  # type: ignore[return-value]

    def _hit(self, fingerprint: int, cached: Evaluation) -> Evaluation:
        """The hit form of a cached evaluation (cost 0), stored back once."""
        if cached.fec_hit:
            return cached
        hit = self._hit_form(fingerprint, cached)
        self.cache._entries[fingerprint] = hit  # in place: the lookup already moved it
        return hit

    @staticmethod
    def _hit_form(fingerprint: int, cached: Evaluation) -> Evaluation:
        if cached.fec_hit:
            return cached
        return Evaluation(
            fitness=cached.fitness,
            per_task=cached.per_task,
            cost=0,
            fingerprint=fingerprint,
            early_stopped=cached.early_stopped,
            error=cached.error,
            fec_hit=True,
        )
