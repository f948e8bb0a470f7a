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
from typing import Any, ClassVar, NamedTuple

import numpy as np

from evoforge.evolution.space import REEVALUATE, Individual, SearchSpace
from evoforge.evolution.strategies.params import Param


class Candidate(NamedTuple):
    """A genome to evaluate, with its lineage (parent and mutation None for a
    fresh genome). ``parent2_id`` is a crossover child's second parent;
    ``reevaluates`` names the individual whose genome this scores again (then
    ``parent_id`` is that id too and ``mutation`` is ``REEVALUATE``).

    Example:
        >>> from evoforge.evolution.space import Evaluation
        >>> Candidate.reevaluation(Individual(7, "0110", Evaluation(0.5)))
        Candidate(genome='0110', parent_id=7, mutation='reevaluate', parent2_id=None, reevaluates=7)
    """

    genome: Any
    parent_id: int | None
    mutation: str | None
    parent2_id: int | None = None
    reevaluates: int | None = None

    @classmethod
    def reevaluation(cls, ind: Individual) -> Candidate:
        """Score ``ind``'s genome once more (stored as its own row, parent ``ind.id``)."""
        return cls(ind.genome, ind.id, REEVALUATE, None, ind.id)


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
    #: The parameters the constructor takes as keywords, declared once: config
    #: validation, the resolved config and ``evoforge strategies`` read them.
    params: ClassVar[tuple[Param, ...]] = ()
    #: True if it asks for re-evaluations (noisy fitness): the run then
    #: refuses a functional-equivalence cache, which would replay the first score.
    reevaluates: ClassVar[bool] = False

    def __init__(self, space: SearchSpace, rng: np.random.Generator) -> None:
        self.space = space
        self.rng = rng

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> None:
        """Constraints between declared parameters (each one's own type and
        range are checked from its `Param`); raise `InvalidParam` naming the key."""
        del params  # none by default

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
