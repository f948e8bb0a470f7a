"""Pairwise tournament: Large-Scale Evolution's selection (Real et al. 2017, §3.1).

Each reproduction picks two members at random; the worse is killed at once
(removed from the population) and the better becomes the parent of a mutated
child, which joins the population when its evaluation is told. Workers do
this asynchronously: with ``W`` evaluations in flight the population holds
``P - W`` members, and it is back to ``P`` once every child is told. Ties go
to a coin flip. ``selection = false`` is the paper's random-search control:
the member killed and the one reproduced are both chosen at random.

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> class Count:
    ...     def initial(self, rng): return 0
    ...     def mutate(self, g, rng): return g + 1, "inc"
    >>> s = PairwiseTournament(Count(), np.random.default_rng(0), population_size=3)
    >>> init = s.ask(5)
    >>> _ = s.tell([Individual(i + 1, c.genome, Evaluation(float(i))) for i, c in enumerate(init)])
    >>> [child] = s.ask(1)
    >>> len(s.population), child.mutation
    (2, 'inc')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evoforge.evolution.space import Individual, SearchSpace
from evoforge.evolution.strategies.base import Candidate, PopulationDelta, Strategy
from evoforge.evolution.strategies.params import Param


class PairwiseTournament(Strategy):
    """Pick two at random, kill the worse, mutate the better (asynchronous)."""

    name = "pairwise_tournament"
    params = (
        Param("population_size", int, 1000, "P: members when no child is in flight", min=2),
        Param(
            "selection",
            bool,
            True,
            "false: kill and reproduce random members (the random-search control)",
        ),
    )

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        population_size: int = 1000,
        selection: bool = True,
    ) -> None:
        super().__init__(space, rng)
        if population_size < 2:
            raise ValueError(f"population_size must be >= 2, got {population_size}")
        self.population_size = population_size
        self.selection = selection
        self._members: list[Individual] = []
        self._killed: list[Individual] = []  # since the last tell, for its delta
        self._initial_asked = 0
        self._initial_told = 0

    def ask(self, n: int) -> list[Candidate]:
        out: list[Candidate] = []
        while self._initial_asked < self.population_size and len(out) < n:
            out.append(Candidate(self.space.initial(self.rng), None, None))
            self._initial_asked += 1
        if self._initial_told < self.population_size:
            return out  # children only come from a complete initial population
        while len(out) < n and len(self._members) >= 2:
            i, j = (int(k) for k in self.rng.choice(len(self._members), 2, replace=False))
            a, b = self._members[i], self._members[j]
            coin = bool(self.rng.integers(2))
            # Without selection (or on a tie) the coin decides who dies.
            a_wins = a.fitness > b.fitness if self.selection and a.fitness != b.fitness else coin
            winner, loser = (i, j) if a_wins else (j, i)
            parent = self._members[winner]
            self._killed.append(self._members.pop(loser))
            genome, mutation = self.space.mutate(parent.genome, self.rng)
            out.append(Candidate(genome, parent.id, mutation))
        return out

    def tell(self, individuals: Sequence[Individual]) -> PopulationDelta:
        for ind in individuals:
            self._members.append(ind)
            if ind.parent_id is None:
                self._initial_told += 1
        left, self._killed = self._killed, []
        return PopulationDelta(list(individuals), left)

    @property
    def population(self) -> Sequence[Individual]:
        return list(self._members)

    def state_dict(self) -> dict[str, Any]:
        return {
            "members": [ind.id for ind in self._members],
            "initial_asked": self._initial_asked,
            "initial_told": self._initial_told,
        }

    def load_state_dict(
        self, state: Mapping[str, Any], individuals: Mapping[int, Individual]
    ) -> None:
        self._members = [individuals[i] for i in state["members"]]
        self._initial_asked = int(state["initial_asked"])
        self._initial_told = int(state["initial_told"])
        self._killed = []

    @staticmethod
    def referenced_ids(state: Mapping[str, Any]) -> list[int]:
        return list(state["members"])
