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

from collections.abc import Mapping, Sequence
from typing import Any

from evoforge.evolution.space import Individual
from evoforge.evolution.strategies.base import NO_CHANGE, Candidate, PopulationDelta, Strategy


class RandomSearch(Strategy):
    """Independent random genomes; remembers the best."""

    name = "random_search"
    best: Individual | None = None

    def ask(self, n: int) -> list[Candidate]:
        return [Candidate(self.space.initial(self.rng), None, None) for _ in range(n)]

    def tell(self, individuals: Sequence[Individual]) -> PopulationDelta:
        for ind in individuals:
            if self.best is None or ind.evaluation.fitness > self.best.evaluation.fitness:
                self.best = ind
        return NO_CHANGE

    @property
    def population(self) -> Sequence[Individual]:
        return () if self.best is None else (self.best,)

    def state_dict(self) -> dict[str, Any]:
        return {"best": None if self.best is None else self.best.id}

    def load_state_dict(
        self, state: Mapping[str, Any], individuals: Mapping[int, Individual]
    ) -> None:
        self.best = None if state["best"] is None else individuals[state["best"]]

    @staticmethod
    def referenced_ids(state: Mapping[str, Any]) -> list[int]:
        return [] if state["best"] is None else [state["best"]]
