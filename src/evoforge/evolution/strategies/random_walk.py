"""Random walk: each candidate is a mutation of the latest one.

This is regularized evolution with a population of one, tournament size one
and no quality gate (P = 1, S = 1, V = 0), the "random search" baseline of
PANGAEA: unlike `RandomSearch` (independent ``space.initial`` draws) it
explores genomes the mutations reach, e.g. larger graphs. The first candidate
is ``space.initial``; every told individual becomes the current one (the last
told, when several were in flight); the best seen is remembered (the first on
ties).

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> class Count:
    ...     def initial(self, rng): return 0
    ...     def mutate(self, g, rng): return g + 1, "inc"
    >>> s = RandomWalk(Count(), np.random.default_rng(0))
    >>> [first] = s.ask(3)  # nothing to mutate until the first one is told
    >>> _ = s.tell([Individual(1, first.genome, Evaluation(0.0))])
    >>> [tuple(c)[:3] for c in s.ask(2)]
    [(1, 1, 'inc'), (1, 1, 'inc')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evoforge.evolution.space import Individual
from evoforge.evolution.strategies.base import Candidate, PopulationDelta, Strategy


class RandomWalk(Strategy):
    """Mutate the latest individual, again and again; keep the best."""

    name = "random_walk"
    best: Individual | None = None
    current: Individual | None = None
    _initial_asked = False

    def ask(self, n: int) -> list[Candidate]:
        if self.current is None:
            if self._initial_asked or n < 1:
                return []
            self._initial_asked = True
            return [Candidate(self.space.initial(self.rng), None, None)]
        out = []
        for _ in range(n):
            genome, mutation = self.space.mutate(self.current.genome, self.rng)
            out.append(Candidate(genome, self.current.id, mutation))
        return out

    def tell(self, individuals: Sequence[Individual]) -> PopulationDelta:
        left = [] if self.current is None else [self.current]
        for ind in individuals:
            if self.best is None or ind.evaluation.fitness > self.best.evaluation.fitness:
                self.best = ind
        if individuals:
            self.current = individuals[-1]
        return PopulationDelta(individuals[-1:], left if individuals else [])

    @property
    def population(self) -> Sequence[Individual]:
        return () if self.current is None else (self.current,)

    def state_dict(self) -> dict[str, Any]:
        return {
            "current": None if self.current is None else self.current.id,
            "best": None if self.best is None else self.best.id,
            "initial_asked": self._initial_asked,
        }

    def load_state_dict(
        self, state: Mapping[str, Any], individuals: Mapping[int, Individual]
    ) -> None:
        self.current = None if state["current"] is None else individuals[state["current"]]
        self.best = None if state["best"] is None else individuals[state["best"]]
        self._initial_asked = bool(state["initial_asked"])

    @staticmethod
    def referenced_ids(state: Mapping[str, Any]) -> list[int]:
        return [i for i in (state["current"], state["best"]) if i is not None]
