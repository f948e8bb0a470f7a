"""Random search: every candidate is a fresh ``space.initial(rng)`` genome.

The baseline every evolutionary result should beat; it keeps only the best
individual seen (the first one on ties).

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> class Die:
    ...     def initial(self, rng):
    ...         return int(rng.integers(1, 7))
    >>> s = RandomSearch(Die(), np.random.default_rng(0))
    >>> cands = s.ask(3)
    >>> told = [Individual(i, c.genome, Evaluation(float(c.genome))) for i, c in enumerate(cands)]
    >>> _ = s.tell(told)
    >>> s.best.fitness == max(ind.fitness for ind in told)
    True
"""

from __future__ import annotations

from evoforge.evolution.strategies.base import Candidate, KeepsBest


class RandomSearch(KeepsBest):
    """Independent random genomes; remembers the best."""

    name = "random_search"

    def ask(self, n: int) -> list[Candidate]:
        return [Candidate(self.space.initial(self.rng), None, None) for _ in range(n)]
