"""Regularized (aging) evolution, as in AutoML-Zero and AmoebaNet.

Each child comes from a tournament: ``T`` members drawn uniformly with
replacement from the population, the fittest wins (the first drawn wins
ties). The child is the winner's genome mutated with probability ``U``
(otherwise copied unchanged, mutation ``"none"``). Every told child joins the
population and the oldest member leaves, so good genomes survive only by
having their lineage re-selected.

An optional quality gate ``V`` (PANGAEA's: 20 % accuracy) keeps bad children
out: a child whose fitness is below ``V`` is counted (stored, part of the
budget) but never joins the population, so nobody ages out for it. Members of
the initial population are always admitted, so the population fills.

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> class Count:
    ...     def initial(self, rng):
    ...         return 0
    ...     def mutate(self, g, rng):
    ...         return g + 1, "inc"
    >>> s = RegularizedEvolution(Count(), np.random.default_rng(0), population_size=2,
    ...                          tournament_size=2, mutation_prob=1.0)
    >>> init = s.ask(5)  # only the initial population until it is told
    >>> len(init)
    2
    >>> _ = s.tell([Individual(i + 1, c.genome, Evaluation(float(i))) for i, c in enumerate(init)])
    >>> s.ask(1)[0][:3]
    (1, 2, 'inc')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evoforge.evolution.space import Individual, SearchSpace
from evoforge.evolution.strategies.base import Candidate, PopulationDelta, Strategy
from evoforge.evolution.strategies.params import Param


class RegularizedEvolution(Strategy):
    """Steady-state tournament selection with FIFO (aging) replacement."""

    name = "regularized_evolution"
    params = (
        Param(
            "population_size", int, 100, "P: members; the oldest leaves when a child joins", min=2
        ),
        Param(
            "tournament_size",
            int,
            10,
            "T: members drawn (with replacement) per tournament",
            min=1,
            max="population_size",
        ),
        Param(
            "mutation_prob", float, 0.9, "U: chance a child is mutated (else copied)", min=0, max=1
        ),
        Param("quality_gate", float, None, "V: a child below this fitness does not join"),
    )

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        population_size: int = 100,
        tournament_size: int = 10,
        mutation_prob: float = 0.9,
        quality_gate: float | None = None,
    ) -> None:
        super().__init__(space, rng)
        if population_size < 2:
            raise ValueError(f"population_size must be >= 2, got {population_size}")
        if not 1 <= tournament_size <= population_size:
            raise ValueError(
                f"tournament_size must be in [1, population_size={population_size}], "
                f"got {tournament_size}"
            )
        if not 0.0 <= mutation_prob <= 1.0:
            raise ValueError(f"mutation_prob must be in [0, 1], got {mutation_prob}")
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.mutation_prob = mutation_prob
        self.quality_gate = quality_gate
        # A ring buffer: once full, `_head` is the slot of the oldest member and a
        # new member overwrites it. Tournaments draw slot indices, so the slot
        # layout (not only the age order) is part of the state for exact resume.
        self._slots: list[Individual] = []
        self._fitness: list[float] = []  # parallel to _slots; avoids attribute lookups
        self._head = 0
        self._initial_asked = 0

    def ask(self, n: int) -> list[Candidate]:
        out: list[Candidate] = []
        size = self.population_size
        while self._initial_asked < size and len(out) < n:
            out.append(Candidate(self.space.initial(self.rng), None, None))
            self._initial_asked += 1
        if len(self._slots) < size:
            # Children only come from a complete initial population.
            return out
        rng, mutate = self.rng, self.space.mutate
        random_raw = rng.bit_generator.random_raw
        draws_per_child = self.tournament_size + 1
        # P(raw < bar) for a uniform 64-bit raw is mutation_prob (to 2**-64).
        bar = round(self.mutation_prob * 2**64)
        for _ in range(n - len(out)):
            # One call draws the tournament and the mutation coin: per-call
            # overhead dominates at this size (`Generator.integers(size=T)`
            # alone costs ~20 us in numpy 2, this ~2 us).
            *tournament, coin = random_raw(draws_per_child).tolist()
            parent = self._tournament(tournament)
            if coin < bar:
                genome, mutation = mutate(parent.genome, rng)
            else:
                genome, mutation = parent.genome, "none"
            out.append(Candidate(genome, parent.id, mutation))
        return out

    def _tournament(self, draws: list[int]) -> Individual:
        # Map raw 64-bit draws to slots by multiply-shift (bias <= P / 2**64).
        # Ties go to the first drawn.
        size = self.population_size
        fitness = self._fitness
        best = (draws[0] * size) >> 64
        best_fitness = fitness[best]
        for raw in draws[1:]:
            slot = (raw * size) >> 64
            if fitness[slot] > best_fitness:
                best, best_fitness = slot, fitness[slot]
        return self._slots[best]

    def tell(self, individuals: Sequence[Individual]) -> PopulationDelta:
        left: list[Individual] = []
        size = self.population_size
        gate = self.quality_gate
        joined: Sequence[Individual] = individuals
        if gate is not None:
            # Only children (with a parent) are gated; the initial population fills.
            joined = [
                ind
                for ind in individuals
                if ind.parent_id is None or ind.evaluation.fitness >= gate
            ]
        for ind in joined:
            if len(self._slots) < size:
                self._slots.append(ind)
                self._fitness.append(ind.evaluation.fitness)
            else:
                head = self._head
                left.append(self._slots[head])
                self._slots[head] = ind
                self._fitness[head] = ind.evaluation.fitness
                self._head = (head + 1) % size
        return PopulationDelta(joined, left)

    @property
    def population(self) -> Sequence[Individual]:
        return self._slots[self._head :] + self._slots[: self._head]

    # -- migration (island model): members leave and arrive by slot ------------

    def sample_slots(self, k: int) -> list[int]:
        """``k`` distinct slots of the full population, chosen uniformly at random."""
        if not 0 <= k <= len(self._slots):
            raise ValueError(f"cannot choose {k} of {len(self._slots)} members")
        return sorted(self.rng.choice(len(self._slots), size=k, replace=False).tolist())

    def member(self, slot: int) -> Individual:
        return self._slots[slot]

    def replace(self, slot: int, ind: Individual) -> PopulationDelta:
        """Put ``ind`` in ``slot`` (it takes that member's age), returning the change."""
        left = self._slots[slot]
        self._slots[slot] = ind
        self._fitness[slot] = ind.evaluation.fitness
        return PopulationDelta((ind,), (left,))

    def state_dict(self) -> dict[str, Any]:
        return {
            "slots": [ind.id for ind in self._slots],
            "head": self._head,
            "initial_asked": self._initial_asked,
        }

    def load_state_dict(
        self, state: Mapping[str, Any], individuals: Mapping[int, Individual]
    ) -> None:
        self._slots = [individuals[i] for i in state["slots"]]
        self._fitness = [ind.evaluation.fitness for ind in self._slots]
        self._head = int(state["head"])
        self._initial_asked = int(state["initial_asked"])

    @staticmethod
    def referenced_ids(state: Mapping[str, Any]) -> list[int]:
        return list(state["slots"])
