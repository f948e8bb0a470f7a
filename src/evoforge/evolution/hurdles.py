"""Rolling-percentile hurdles: stop evaluating candidates that are clearly bad.

The hurdle is the ``q``-th percentile (default 75) of the *unique* fitness
values in the current population; counting each value once keeps a few
duplicated genomes from dragging the hurdle around. The driver passes it to
evaluators as `Budget.hurdle`; each evaluator decides where to check it (for
AutoML-Zero: after the first tasks). The percentile uses numpy's default
``method="linear"`` (Hyndman & Fan type 7): with the ``m`` unique values sorted
``u[0] <= ... <= u[m-1]`` and ``h = (m - 1) * q / 100``, it is
``u[floor(h)] + (h - floor(h)) * (u[floor(h) + 1] - u[floor(h)])``.

Failed members (fitness -inf, see `FAILED_FITNESS`; any non-finite value)
count toward the population's size but not among its values: a percentile
over -inf values is -inf or NaN (``np.percentile([-inf, -inf, 1, 2], 25)`` is
NaN), which would let every candidate through or none.

`Hurdle.threshold` computes it from scratch with numpy; `Hurdle.update` keeps
it incrementally (O(log n) per population change), which is what the driver
uses so that the per-individual cost stays well under a microsecond or two.

Example:
    >>> h = Hurdle(percentile=50, min_population=4)
    >>> h.threshold([0.1, 0.2, 0.2, 0.9])
    0.2
    >>> h.threshold([0.1, 0.2]) is None  # population not full yet
    True
    >>> h.update(joined=[0.1, 0.2, 0.2, 0.9], left=[])
    >>> h.value
    0.2
    >>> h.threshold([-math.inf, -math.inf, 1.0, 2.0])  # failures are not values
    1.5
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

import numpy as np


class Hurdle:
    """The ``percentile``-th percentile of the unique fitnesses of a population,
    or None while it has fewer than ``min_population`` members."""

    def __init__(self, percentile: float = 75.0, min_population: int = 1) -> None:
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile must be in [0, 100], got {percentile}")
        self.percentile = float(percentile)
        self.min_population = max(1, int(min_population))
        self._counts: dict[float, int] = {}
        self._unique: list[float] = []  # sorted keys of _counts
        self._size = 0
        self._value: float | None = None
        self._stale = False

    def threshold(self, population_fitnesses: Sequence[float]) -> float | None:
        """The hurdle for this population, computed from scratch (no state used)."""
        if len(population_fitnesses) < self.min_population:
            return None
        values = np.asarray(population_fitnesses, dtype=np.float64)
        unique = np.unique(values[np.isfinite(values)])
        if not unique.size:
            return None
        return float(np.percentile(unique, self.percentile, method="linear"))

    def update(self, joined: Iterable[float], left: Iterable[float]) -> None:
        """Account for fitnesses that joined and left the population (joined first)."""
        counts, unique, finite = self._counts, self._unique, math.isfinite
        for f in joined:
            self._size += 1
            if not finite(f):
                continue
            n = counts.get(f, 0)
            if n == 0:
                bisect.insort(unique, f)
            counts[f] = n + 1
        for f in left:
            self._size -= 1
            if not finite(f):
                continue
            n = counts[f] - 1
            if n == 0:
                del counts[f]
                del unique[bisect.bisect_left(unique, f)]
            else:
                counts[f] = n
        self._stale = True

    def reset(self, population_fitnesses: Iterable[float]) -> None:
        """Forget everything and track this population (used on resume)."""
        self._counts, self._unique, self._size = {}, [], 0
        self.update(population_fitnesses, ())

    @property
    def value(self) -> float | None:
        """The current hurdle of the population tracked by `update`."""
        if self._stale:
            self._value = self._compute()
            self._stale = False
        return self._value

    def _compute(self) -> float | None:
        unique = self._unique
        if self._size < self.min_population or not unique:
            return None
        h = (len(unique) - 1) * self.percentile / 100.0
        lo = math.floor(h)
        if lo + 1 >= len(unique):
            return unique[-1]
        return unique[lo] + (h - lo) * (unique[lo + 1] - unique[lo])
