"""The strategy seam: ask for candidates, tell their evaluations.

Steady-state strategies (regularized evolution) and generational ones share
this interface, so every backend and the store work with all of them. A
strategy draws all randomness from the injected numpy ``Generator`` and makes
and mutates genomes only through the injected `SearchSpace`; it never
evaluates anything itself.

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> from evoforge.evolution.strategies import RandomSearch
    >>> class Coin:
    ...     def initial(self, rng):
    ...         return int(rng.integers(2))
    >>> s = RandomSearch(Coin(), np.random.default_rng(0))
    >>> [c] = s.ask(1)
    >>> delta = s.tell([Individual(1, c.genome, Evaluation(fitness=0.5))])
    >>> s.best.id
    1
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from evoforge.evolution.space import Individual, SearchSpace


class Candidate(NamedTuple):
    """A genome to evaluate, with its lineage (both None for a fresh genome)."""

    genome: Any
    parent_id: int | None
    mutation: str | None


class PopulationDelta(NamedTuple):
    """How one `Strategy.tell` changed the population: who joined, who left.

    Lets observers such as the rolling hurdle stay up to date in O(changes)
    instead of rescanning the population after every individual.
    """

    joined: Sequence[Individual]
    left: Sequence[Individual]


NO_CHANGE = PopulationDelta((), ())


class Strategy(ABC):
    """Base class of search strategies (ask/tell).

    ``ask(n)`` may return fewer than ``n`` candidates, even none, when the
    strategy must wait for outstanding results (e.g. until the initial
    population is complete); the driver then waits for an evaluation and asks
    again. Asking several times before telling is allowed, so parallel
    backends can keep many evaluations in flight.
    """

    #: The name used in configs (``search.strategy``).
    name: str = ""

    def __init__(self, space: SearchSpace, rng: np.random.Generator) -> None:
        self.space = space
        self.rng = rng

    @abstractmethod
    def ask(self, n: int) -> list[Candidate]:
        """Up to ``n`` new candidates to evaluate."""

    @abstractmethod
    def tell(self, individuals: Sequence[Individual]) -> PopulationDelta:
        """Report evaluated candidates (in completion order, with ids)."""

    @property
    def population(self) -> Sequence[Individual]:
        """The current population, oldest first (empty if the strategy has none)."""
        return ()

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot; genomes appear only as individual ids."""

    @abstractmethod
    def load_state_dict(
        self, state: Mapping[str, Any], individuals: Mapping[int, Individual]
    ) -> None:
        """Restore a `state_dict`; ``individuals`` holds every id `referenced_ids` named."""

    @staticmethod
    @abstractmethod
    def referenced_ids(state: Mapping[str, Any]) -> list[int]:
        """The individual ids a saved state needs back (loaded from the store)."""


class KeepsBest(Strategy):
    """Base of strategies without a population (random search, exhaustive
    enumeration): the fittest individual told so far stands as the population,
    and it is all their state needs to name."""

    best: Individual | None = None

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
