"""CAFE's generational genetic algorithm with softmax fitness-proportional selection.

A generation has ``population_size`` (N) members. Generation 0 is N fresh
``space.initial`` genomes. When every member of a generation has been told,
the next one is made of:

* the ``elites`` fittest members, carried over as they are (not re-evaluated:
  evaluators are deterministic, so retraining them would only spend budget);
* ``random_per_generation`` fresh ``space.initial`` genomes;
* the rest, N − elites − random, children: two parents drawn with replacement
  with probability ``p_i = softmax(L / temperature)_i`` over the finished
  generation (L = fitness), combined by ``space.crossover(a, b, rng)`` (the
  child's ``parent_id`` is a, its ``parent2_id`` b) and then
  mutated by ``space.mutate`` with probability ``mutation_prob``.

So a run of G generations evaluates N + (G − 1)(N − elites) candidates
(455 for CAFE's N = 50, 5 elites, 10 generations). Softmax is shift
invariant, so a fitness of ``c − loss`` selects exactly like ``−loss``.

Candidates are drawn lazily at ``ask`` time from the run's generator (random
ones first, then children), so a checkpoint needs only ids: the members of the
finished generation (the parents), those told so far in the current one, and
how many candidates of it were asked.

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> class Ints:
    ...     def initial(self, rng): return int(rng.integers(100))
    ...     def mutate(self, g, rng): return g + 1, "inc"
    ...     def crossover(self, a, b, rng): return (a + b) // 2
    >>> s = SoftmaxGA(Ints(), np.random.default_rng(0), population_size=4, elites=1,
    ...               random_per_generation=1)
    >>> first = s.ask(10)  # generation 0: 4 random genomes
    >>> len(first), s.ask(1)
    (4, [])
    >>> _ = s.tell([Individual(i + 1, c.genome, Evaluation(c.genome / 100))
    ...             for i, c in enumerate(first)])
    >>> s.generation, [c.mutation for c in s.ask(10)]  # elite kept; 1 random + 2 children
    (1, [None, 'crossover+inc', 'crossover+inc'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evoforge.evolution.space import Individual, SearchSpace
from evoforge.evolution.strategies.base import Candidate, PopulationDelta, Strategy
from evoforge.evolution.strategies.params import InvalidParam, Param


def softmax(values: Sequence[float], temperature: float = 1.0) -> np.ndarray:
    """Selection probabilities ``exp(v / T) / Σ exp(v / T)`` (computed stably).

    Example:
        >>> softmax([0.0, 0.0]).tolist()
        [0.5, 0.5]
        >>> bool(softmax([1.0, 0.0], temperature=0.01)[0] > 0.99)
        True
        >>> softmax([-np.inf, -5.0]).tolist()  # a failure is never drawn
        [0.0, 1.0]
        >>> softmax([-np.inf, -np.inf]).tolist()  # all failed: uniform, not NaN
        [0.5, 0.5]
    """
    v = np.asarray(values, dtype=np.float64) / temperature
    top = v.max()
    if top == -np.inf:
        return np.full(len(v), 1.0 / len(v))
    e = np.exp(v - top)
    return e / e.sum()


class SoftmaxGA(Strategy):
    """Generational GA: elitism, random immigrants and softmax-selected crossover children."""

    name = "softmax_ga"
    params = (
        Param("population_size", int, 50, "N: members per generation", min=2),
        Param("elites", int, 5, "fittest members carried over unchanged", min=0),
        Param(
            "random_per_generation", int, 10, "fresh space.initial genomes per generation", min=0
        ),
        Param(
            "temperature",
            float,
            1.0,
            "softmax(fitness / temperature) selects parents",
            min=0,
            min_exclusive=True,
        ),
        Param(
            "mutation_prob", float, 1.0, "chance a crossover child is also mutated", min=0, max=1
        ),
    )

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> None:
        size, elites = params["population_size"], params["elites"]
        if elites >= size:
            raise InvalidParam(
                "elites",
                f"expected an integer in [0, population_size - 1 = {size - 1}], got {elites}",
            )
        if elites + params["random_per_generation"] > size:
            raise InvalidParam(
                "random_per_generation",
                f"elites + random_per_generation must be <= population_size={size}, got "
                f"{elites} + {params['random_per_generation']}",
            )

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        population_size: int = 50,
        elites: int = 5,
        random_per_generation: int = 10,
        temperature: float = 1.0,
        mutation_prob: float = 1.0,
    ) -> None:
        super().__init__(space, rng)
        if population_size < 2:
            raise ValueError(f"population_size must be >= 2, got {population_size}")
        if elites < 0 or random_per_generation < 0:
            raise ValueError("elites and random_per_generation must be >= 0")
        if elites + random_per_generation > population_size:
            raise ValueError(
                f"elites ({elites}) + random_per_generation ({random_per_generation}) "
                f"must be <= population_size ({population_size})"
            )
        if elites == population_size:
            raise ValueError("elites must be < population_size, or nothing new is ever tried")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= mutation_prob <= 1.0:
            raise ValueError(f"mutation_prob must be in [0, 1], got {mutation_prob}")
        self.children_per_generation = population_size - elites - random_per_generation
        if self.children_per_generation and not callable(getattr(space, "crossover", None)):
            raise ValueError(
                f"{type(space).__name__} has no crossover(a, b, rng); "
                "softmax_ga needs one (or random_per_generation = population_size - elites)"
            )
        self.population_size = population_size
        self.elites = elites
        self.random_per_generation = random_per_generation
        self.temperature = temperature
        self.mutation_prob = mutation_prob
        self.generation = 0
        self._parents: list[Individual] = []  # the finished generation
        self._probs: np.ndarray | None = None  # selection probabilities over _parents
        self._members: list[Individual] = []  # the current generation so far
        self._asked = 0  # candidates of the current generation handed out

    def _quota(self) -> int:
        """New candidates the current generation needs."""
        return self.population_size - (self.elites if self.generation else 0)

    def _set_parents(self, parents: list[Individual]) -> None:
        self._parents = parents
        self._probs = softmax([p.evaluation.fitness for p in parents], self.temperature)

    def ask(self, n: int) -> list[Candidate]:
        out: list[Candidate] = []
        rng, space = self.rng, self.space
        while self._asked < self._quota() and len(out) < n:
            k = self._asked
            self._asked += 1
            if self.generation == 0 or k < self.random_per_generation:
                out.append(Candidate(space.initial(rng), None, None))
                continue
            i, j = rng.choice(len(self._parents), size=2, p=self._probs).tolist()
            a, b = self._parents[i], self._parents[j]
            genome = space.crossover(a.genome, b.genome, rng)  # type: ignore[attr-defined]
            mutation = "crossover"
            if self.mutation_prob >= 1.0 or rng.random() < self.mutation_prob:
                genome, name = space.mutate(genome, rng)
                mutation = f"crossover+{name}"
            out.append(Candidate(genome, a.id, mutation, b.id))
        return out

    def tell(self, individuals: Sequence[Individual]) -> PopulationDelta:
        left: list[Individual] = []
        for ind in individuals:
            self._members.append(ind)
            if len(self._members) == self.population_size:
                left += self._next_generation()
        return PopulationDelta(individuals, left)

    def _next_generation(self) -> list[Individual]:
        finished = self._members
        # Fittest first; ties go to the earlier member (elites first, then tell order).
        order = sorted(range(len(finished)), key=lambda i: -finished[i].evaluation.fitness)
        keep = [finished[i] for i in order[: self.elites]]
        self._set_parents(finished)
        self._members = keep
        self.generation += 1
        self._asked = 0
        kept = {id(k) for k in keep}
        return [m for m in finished if id(m) not in kept]

    @property
    def population(self) -> Sequence[Individual]:
        """The current generation's members told so far (elites first)."""
        return list(self._members)

    def state_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "parents": [ind.id for ind in self._parents],
            "members": [ind.id for ind in self._members],
            "asked": self._asked,
        }

    def load_state_dict(
        self, state: Mapping[str, Any], individuals: Mapping[int, Individual]
    ) -> None:
        self.generation = int(state["generation"])
        parents = [individuals[i] for i in state["parents"]]
        if parents:
            self._set_parents(parents)
        else:
            self._parents, self._probs = [], None
        self._members = [individuals[i] for i in state["members"]]
        self._asked = int(state["asked"])

    @staticmethod
    def referenced_ids(state: Mapping[str, Any]) -> list[int]:
        return sorted(set(state["parents"]) | set(state["members"]))
