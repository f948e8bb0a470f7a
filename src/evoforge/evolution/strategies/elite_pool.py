"""The Backprop Evolution controller (Alber et al. 2018, §3.2 and Appendix B).

Every evaluated individual stays in the population. For each child, with
probability ``p_top`` the parent is drawn uniformly from the ``top_n`` fittest
individuals so far, otherwise uniformly from the rest (from the top when
there is no rest). The child is the parent after ``k`` mutations, ``k`` drawn
from the categorical distribution ``mutation_counts`` (weights for k = 1, 2,
...; the paper always used one). The initial population is
``population_size`` draws of the space's ``initial`` (random equations, or
seeded ones such as BP, FA and DFA); children start once it is complete.

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> class Count:
    ...     def initial(self, rng):
    ...         return 0
    ...     def mutate(self, g, rng):
    ...         return g + 1, "inc"
    >>> s = ElitePool(Count(), np.random.default_rng(0), population_size=2, top_n=1,
    ...               mutation_counts="0, 1")
    >>> init = s.ask(5)
    >>> _ = s.tell([Individual(i + 1, c.genome, Evaluation(float(i))) for i, c in enumerate(init)])
    >>> child = s.ask(1)[0]
    >>> child.genome, child.mutation
    (2, 'inc+inc')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evoforge.evolution.space import Individual, SearchSpace
from evoforge.evolution.strategies.base import Candidate, PopulationDelta, Strategy
from evoforge.evolution.strategies.params import InvalidParam, Param


def parse_counts(text: str) -> list[float]:
    """``"0.5, 0.3, 0.2"`` -> normalised weights for k = 1, 2, 3 mutations."""
    try:
        weights = [float(w) for w in text.split(",")]
    except ValueError:
        raise ValueError(
            f"expected comma-separated weights such as '1' or '0.7, 0.3', got {text!r}"
        ) from None
    if not weights or any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"expected non-negative weights with a positive sum, got {text!r}")
    total = sum(weights)
    return [w / total for w in weights]


class ElitePool(Strategy):
    """Parents drawn from the N fittest so far with probability p, else from the rest."""

    name = "elite_pool"
    params = (
        Param("population_size", int, 100, "initial individuals drawn before any child", min=1),
        Param("top_n", int, 1000, "N: how many of the fittest so far count as competitive", min=1),
        Param("p_top", float, 0.7, "p: chance the parent comes from the top N", min=0, max=1),
        Param(
            "mutation_counts",
            str,
            "1",
            "weights of k = 1, 2, ... mutations per child (comma-separated)",
        ),
    )

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        population_size: int = 100,
        top_n: int = 1000,
        p_top: float = 0.7,
        mutation_counts: str = "1",
    ) -> None:
        super().__init__(space, rng)
        self.population_size = population_size
        self.top_n = top_n
        self.p_top = p_top
        self.counts = parse_counts(mutation_counts)
        self._members: list[Individual] = []
        self._initial_asked = 0

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> None:
        try:
            parse_counts(params["mutation_counts"])
        except ValueError as exc:
            raise InvalidParam("mutation_counts", str(exc)) from None

    def ask(self, n: int) -> list[Candidate]:
        out: list[Candidate] = []
        while self._initial_asked < self.population_size and len(out) < n:
            out.append(Candidate(self.space.initial(self.rng), None, None))
            self._initial_asked += 1
        if len(self._members) < self.population_size:
            return out
        # Stable sort: among equal fitness the older individual ranks first.
        ranked = sorted(self._members, key=lambda ind: -ind.evaluation.fitness)
        top, rest = ranked[: self.top_n], ranked[self.top_n :]
        for _ in range(n - len(out)):
            pool = top if (not rest or self.rng.random() < self.p_top) else rest
            parent = pool[int(self.rng.integers(len(pool)))]
            k = 1 + int(self.rng.choice(len(self.counts), p=self.counts))
            genome, names = parent.genome, []
            for _ in range(k):
                genome, name = self.space.mutate(genome, self.rng)
                names.append(name)
            out.append(Candidate(genome, parent.id, "+".join(names)))
        return out

    def tell(self, individuals: Sequence[Individual]) -> PopulationDelta:
        self._members.extend(individuals)
        return PopulationDelta(individuals, ())

    @property
    def population(self) -> Sequence[Individual]:
        return self._members

    def state_dict(self) -> dict[str, Any]:
        return {"members": [ind.id for ind in self._members], "initial_asked": self._initial_asked}

    def load_state_dict(
        self, state: Mapping[str, Any], individuals: Mapping[int, Individual]
    ) -> None:
        self._members = [individuals[i] for i in state["members"]]
        self._initial_asked = int(state["initial_asked"])

    @staticmethod
    def referenced_ids(state: Mapping[str, Any]) -> list[int]:
        return list(state["members"])
