"""(μ,λ) evolution with elites that are re-evaluated and averaged, for noisy fitness.

Prellberg's Algorithm 3 (the GA for Atari of Such et al., with the proposal's
elite re-evaluation; seed 003, chapter 6)::

    P ← λ random genomes; evaluate; P ← best μ
    loop:
      E ← κ best of P; re-evaluate each elite once more (up to max_evaluations
          in total), its fitness = the mean of its evaluations
      Q ← λ draws from P, uniformly with replacement, each mutated; evaluate Q
      P ← best μ of E ∪ Q

λ is ``population_size``, μ ``parents``, κ ``elites``. Table 6.1: the
baseline κ = 1, μ = 10, λ = 5,000, max_evaluations = 1 (elites never
re-evaluated); the proposal κ = 10, μ = 40, λ = 2,000, max_evaluations = 20
(the defaults here). Mutation strength (σ) is the space's business.

A re-evaluation is a candidate of its own (`Candidate.reevaluation`), stored
as a row whose ``parent_id`` is the elite and ``mutation`` is ``REEVALUATE``;
the strategy adds its fitness to the elite's running sum (a failed one,
with ``error`` set, is left out: the elite is tried again next generation
while it stays an elite). The generation
ends when its re-evaluations and its λ offspring have all been told. Ties in
"best" go to the lower id (elites before their offspring). The population (for
progress and hurdles) shows each parent with its mean fitness.

``crossover_prob`` (default 0: Algorithm 3 exactly) makes an offspring
``space.crossover`` of two parents drawn the same way, not mutated (as the
crossover children of Prellberg's Algorithm 2), recorded with both parents.

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> class Ints:
    ...     def initial(self, rng): return int(rng.integers(100))
    ...     def mutate(self, g, rng): return g + 1, "inc"
    >>> s = MuLambda(Ints(), np.random.default_rng(0), population_size=4, parents=2,
    ...              elites=1, max_evaluations=3)
    >>> gen0 = s.ask(10)
    >>> _ = s.tell([Individual(i + 1, c.genome, Evaluation(float(c.genome)))
    ...             for i, c in enumerate(gen0)])
    >>> [c.mutation for c in s.ask(10)]  # the elite again, then 4 offspring
    ['reevaluate', 'inc', 'inc', 'inc', 'inc']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evoforge.evolution.space import REEVALUATE, Individual, SearchSpace
from evoforge.evolution.strategies.base import Candidate, PopulationDelta, Strategy
from evoforge.evolution.strategies.params import Param


class MuLambda(Strategy):
    """(μ,λ) EA with κ elites re-evaluated and averaged (Prellberg, Algorithm 3)."""

    name = "mu_lambda"
    reevaluates = True
    params = (
        Param(
            "population_size",
            int,
            2000,
            "λ: offspring per generation (and random genomes in generation 0)",
            min=1,
        ),
        Param(
            "parents",
            int,
            40,
            "μ: best of elites and offspring kept as the next parents",
            min=1,
            max="population_size",
        ),
        Param(
            "elites",
            int,
            10,
            "κ: best parents carried over and re-evaluated",
            min=0,
            max="parents",
        ),
        Param(
            "max_evaluations",
            int,
            20,
            "evaluations of an elite at most (its fitness is their mean; 1: never re-evaluated)",
            min=1,
        ),
        Param(
            "crossover_prob",
            float,
            0.0,
            "chance an offspring is the crossover of two parents, not a mutant (0: Algorithm 3)",
            min=0,
            max=1,
        ),
    )

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        population_size: int = 2000,
        parents: int = 40,
        elites: int = 10,
        max_evaluations: int = 20,
        crossover_prob: float = 0.0,
    ) -> None:
        super().__init__(space, rng)
        if not 1 <= parents <= population_size:
            raise ValueError(f"parents must be in [1, population_size], got {parents}")
        if not 0 <= elites <= parents:
            raise ValueError(f"elites must be in [0, parents={parents}], got {elites}")
        if max_evaluations < 1:
            raise ValueError(f"max_evaluations must be >= 1, got {max_evaluations}")
        if not 0.0 <= crossover_prob <= 1.0:
            raise ValueError(f"crossover_prob must be in [0, 1], got {crossover_prob}")
        if crossover_prob > 0 and not callable(getattr(space, "crossover", None)):
            raise ValueError(
                f"{type(space).__name__} has no crossover(a, b, rng); "
                "mu_lambda needs one for crossover_prob > 0"
            )
        self.population_size = population_size
        self.parents = parents
        self.elites = elites
        self.max_evaluations = max_evaluations
        self.crossover_prob = crossover_prob
        self.generation = 0
        self._parents: list[Individual] = []  # P, best (by mean) first
        self._sum: dict[int, float] = {}  # id -> sum of its evaluations' fitness
        self._count: dict[int, int] = {}  # id -> number of evaluations
        self._shown: list[Individual] = []  # P with mean fitness, as last reported
        self._reevaluate: list[Individual] = []  # elites to score again this generation
        self._offspring: list[Individual] = []  # Q told so far
        self._asked = 0
        self._told = 0

    def mean_fitness(self, ind_id: int) -> float:
        """The mean fitness over an individual's evaluations so far."""
        return self._sum[ind_id] / self._count[ind_id]

    def evaluations(self, ind_id: int) -> int:
        return self._count[ind_id]

    def _quota(self) -> int:
        return len(self._reevaluate) + self.population_size

    def ask(self, n: int) -> list[Candidate]:
        out: list[Candidate] = []
        rng, space, parents = self.rng, self.space, self._parents
        n_reeval = len(self._reevaluate)
        while self._asked < self._quota() and len(out) < n:
            k = self._asked
            self._asked += 1
            if self.generation == 0:
                out.append(Candidate(space.initial(rng), None, None))
            elif k < n_reeval:
                out.append(Candidate.reevaluation(self._reevaluate[k]))
            else:
                a = parents[int(rng.integers(len(parents)))]
                if self.crossover_prob > 0 and rng.random() < self.crossover_prob:
                    b = parents[int(rng.integers(len(parents)))]
                    genome = space.crossover(a.genome, b.genome, rng)  # type: ignore[attr-defined]
                    out.append(Candidate(genome, a.id, "crossover", b.id))
                else:
                    genome, mutation = space.mutate(a.genome, rng)
                    out.append(Candidate(genome, a.id, mutation))
        return out

    def tell(self, individuals: Sequence[Individual]) -> PopulationDelta:
        joined: list[Individual] = []
        left: list[Individual] = []
        for ind in individuals:
            if ind.mutation == REEVALUATE:
                # A failed re-evaluation (a dead worker, a time limit) says
                # nothing about the elite's genome, which scored before: it is
                # left out of the mean rather than sinking the elite for good
                # (the engine's failure fitness is -inf).
                if ind.evaluation.error is None:
                    self._sum[ind.parent_id] += ind.evaluation.fitness  # type: ignore[index]
                    self._count[ind.parent_id] += 1  # type: ignore[index]
            else:
                self._offspring.append(ind)
                self._sum[ind.id] = ind.evaluation.fitness
                self._count[ind.id] = 1
            self._told += 1
            if self._told == self._quota():
                left += self._shown
                self._next_generation()
                joined += self._shown
        return PopulationDelta(joined, left)

    def _next_generation(self) -> None:
        pool = (
            self._parents[: self.elites] + self._offspring if self.generation else self._offspring
        )
        mean = self.mean_fitness
        best = sorted(pool, key=lambda ind: (-mean(ind.id), ind.id))[: self.parents]
        self._set_parents(best)
        self.generation += 1
        self._offspring = []
        self._asked = self._told = 0

    def _set_parents(self, parents: list[Individual]) -> None:
        keep = {ind.id for ind in parents}
        self._sum = {i: v for i, v in self._sum.items() if i in keep}
        self._count = {i: v for i, v in self._count.items() if i in keep}
        self._parents = parents
        self._shown = [self._with_mean(ind) for ind in parents]
        self._reevaluate = [
            e for e in parents[: self.elites] if self._count[e.id] < self.max_evaluations
        ]

    def _with_mean(self, ind: Individual) -> Individual:
        ev = dataclasses.replace(ind.evaluation, fitness=self.mean_fitness(ind.id))
        return dataclasses.replace(ind, evaluation=ev, extra={})

    @property
    def population(self) -> Sequence[Individual]:
        """The parents P, each with the mean fitness of its evaluations (as of
        the start of the current generation)."""
        return list(self._shown)

    def state_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "parents": [[p.id, self._sum[p.id], self._count[p.id]] for p in self._parents],
            "shown": [p.evaluation.fitness for p in self._shown],
            "reevaluate": [e.id for e in self._reevaluate],
            "offspring": [ind.id for ind in self._offspring],
            "asked": self._asked,
            "told": self._told,
        }

    def load_state_dict(
        self, state: Mapping[str, Any], individuals: Mapping[int, Individual]
    ) -> None:
        self.generation = int(state["generation"])
        parents = [individuals[i] for i, _, _ in state["parents"]]
        self._sum = {int(i): float(s) for i, s, _ in state["parents"]}
        self._count = {int(i): int(c) for i, _, c in state["parents"]}
        self._parents = parents
        # The means shown as of the generation's start (re-evaluations told
        # since then changed the sums, not what the hurdle was given).
        self._shown = [
            dataclasses.replace(
                p, evaluation=dataclasses.replace(p.evaluation, fitness=f), extra={}
            )
            for p, f in zip(parents, state["shown"], strict=True)
        ]
        self._offspring = [individuals[i] for i in state["offspring"]]
        for ind in self._offspring:
            self._sum[ind.id] = ind.evaluation.fitness
            self._count[ind.id] = 1
        self._asked = int(state["asked"])
        self._told = int(state["told"])
        by_id = {p.id: p for p in parents}
        self._reevaluate = [by_id[i] for i in state["reevaluate"]]

    @staticmethod
    def referenced_ids(state: Mapping[str, Any]) -> list[int]:
        return sorted({i for i, _, _ in state["parents"]} | set(state["offspring"]))
