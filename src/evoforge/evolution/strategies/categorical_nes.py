"""Categorical natural evolution strategy: independent categorical distributions
over discrete choices, moved by rank-based natural gradients.

Prellberg's learned weight sharing (seed 003, chapter 8, Algorithm 6) samples
λ assignments ``a ∈ [K]^N`` from N independent categorical distributions π,
scores them, and moves π along the natural gradient of the log-likelihood,
which for a categorical distribution is ``onehot(a) − π``::

    u_i = 2·(rank_i − 1)/(λ − 1) − 1       # rank 1 = worst, best → +1
    π  ← π + η · mean_i u_i·(onehot(a_i) − π)
    π  ← max(π, 0.001), renormalised

`nes_update` is that step (used by `evoforge.weights.sharing` inside its
training loop, where the weights change between steps). `CategoricalNES` is
the same search as an engine strategy for any space whose genomes are tuples
of category indices: the space declares ``categories`` (K per variable). Each
generation asks λ samples; once all are told it updates π. π is numpy state,
saved in checkpoints (`evoforge.evolution.strategies.state`). Fitness is
maximised (chapter 8 ranks by loss; the engine's fitness is its negative).

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> class Pick:
    ...     categories = (3, 3)
    >>> s = CategoricalNES(Pick(), np.random.default_rng(0), population_size=8,
    ...                    learning_rate=0.2)
    >>> ids = iter(range(1, 10**6))
    >>> for _ in range(60):  # fitness: how many variables chose category 2
    ...     _ = s.tell([Individual(next(ids), c.genome, Evaluation(float(sum(
    ...         g == 2 for g in c.genome)))) for c in s.ask(8)])
    >>> s.argmax(), bool(s.probs[:, 2].min() > 0.9)
    ((2, 2), True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evoforge.evolution.space import Individual, SearchSpace
from evoforge.evolution.strategies.base import Candidate, PopulationDelta, Strategy
from evoforge.evolution.strategies.params import Param

MIN_PROB = 0.001


def uniform_probs(categories: Sequence[int]) -> np.ndarray:
    """``(N, max K)`` uniform probabilities; entries past a variable's K are 0."""
    probs = np.zeros((len(categories), max(categories)))
    for i, k in enumerate(categories):
        probs[i, :k] = 1.0 / k
    return probs


def sample(probs: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, N)`` category indices, each row one draw from every distribution."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random((n, probs.shape[0], 1))
    # The count of cumulative probabilities below u is the drawn index; clip
    # guards against a cumulative sum that rounds to just under 1.
    idx = (u >= cum[None, :, :]).sum(axis=2)
    return np.minimum(idx, (probs > 0).sum(axis=1) - 1)


def rank_utilities(scores: Sequence[float]) -> np.ndarray:
    """``2(rank−1)/(λ−1) − 1`` for each score, higher score ranked higher
    (ties broken by position, the first ranked lower); λ = 1 gives 0.

    Example:
        >>> rank_utilities([0.3, 0.9, 0.1]).tolist()
        [0.0, 1.0, -1.0]
    """
    scores = np.asarray(scores, dtype=float)
    lam = scores.shape[0]
    if lam < 2:
        return np.zeros(lam)
    # Non-finite scores (degenerate candidates) rank below every finite one.
    keyed = np.where(np.isfinite(scores), scores, -np.inf)
    ranks = np.empty(lam)
    ranks[np.argsort(keyed, kind="stable")] = np.arange(1, lam + 1)
    return 2.0 * (ranks - 1.0) / (lam - 1.0) - 1.0


def nes_update(
    probs: np.ndarray,
    samples: np.ndarray,
    scores: Sequence[float],
    learning_rate: float,
    min_prob: float = MIN_PROB,
) -> np.ndarray:
    """One NES step on ``probs`` ``(N, K)`` from ``samples`` ``(λ, N)`` and their
    ``scores`` (higher is better); returns the new probabilities.

    Example:
        >>> p = uniform_probs([2])
        >>> nes_update(p, np.array([[0], [1]]), [1.0, 0.0], 0.5).round(3).tolist()
        [[0.75, 0.25]]
    """
    u = rank_utilities(scores)
    lam, n = samples.shape
    onehot = np.zeros((lam, *probs.shape))
    onehot[np.arange(lam)[:, None], np.arange(n)[None, :], samples] = 1.0
    grad = (u[:, None, None] * (onehot - probs[None])).mean(axis=0)
    valid = probs > 0
    new = np.where(valid, np.maximum(probs + learning_rate * grad, min_prob), 0.0)
    return new / new.sum(axis=1, keepdims=True)


class CategoricalNES(Strategy):
    """Generational categorical NES over tuples of category indices (chapter 8's search)."""

    name = "categorical_nes"
    params = (
        Param("population_size", int, 8, "λ: assignments sampled per NES step", min=2),
        Param("learning_rate", float, 0.01, "η_π: step size on the probabilities", min=0),
        Param(
            "min_prob", float, MIN_PROB, "probabilities clamped at least to this", min=0, max=0.5
        ),
    )

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        population_size: int = 8,
        learning_rate: float = 0.01,
        min_prob: float = MIN_PROB,
    ) -> None:
        super().__init__(space, rng)
        categories = getattr(space, "categories", None)
        if not categories or min(categories) < 1:
            raise ValueError(
                f"{type(space).__name__} needs a 'categories' attribute (K >= 1 per "
                "variable) for categorical_nes"
            )
        self.categories = tuple(int(k) for k in categories)
        self.population_size = population_size
        self.learning_rate = learning_rate
        self.min_prob = min_prob
        self.probs = uniform_probs(self.categories)
        self.generation = 0
        self._asked = 0
        self._told: list[Individual] = []
        self._best: Individual | None = None

    def argmax(self) -> tuple[int, ...]:
        """The most probable assignment (what inference uses)."""
        return tuple(int(i) for i in self.probs.argmax(axis=1))

    def ask(self, n: int) -> list[Candidate]:
        k = min(n, self.population_size - self._asked)
        if k <= 0:
            return []
        self._asked += k
        draws = sample(self.probs, self.rng, k)
        return [Candidate(tuple(int(v) for v in row), None, "sample") for row in draws]

    def tell(self, individuals: Sequence[Individual]) -> PopulationDelta:
        for ind in individuals:
            self._told.append(ind)
            if self._best is None or ind.evaluation.fitness > self._best.evaluation.fitness:
                self._best = ind
            if len(self._told) == self.population_size:
                samples = np.array([list(i.genome) for i in self._told], dtype=np.int64)
                scores = [i.evaluation.fitness for i in self._told]
                self.probs = nes_update(
                    self.probs, samples, scores, self.learning_rate, self.min_prob
                )
                self.generation += 1
                self._told, self._asked = [], 0
        return PopulationDelta((), ())

    @property
    def population(self) -> Sequence[Individual]:
        return () if self._best is None else (self._best,)

    def state_dict(self) -> dict[str, Any]:
        return {
            "probs": self.probs.copy(),
            "generation": self.generation,
            "asked": self._asked,
            "told": [i.id for i in self._told],
            "best": None if self._best is None else self._best.id,
        }

    def load_state_dict(
        self, state: Mapping[str, Any], individuals: Mapping[int, Individual]
    ) -> None:
        self.probs = np.asarray(state["probs"], dtype=float)
        self.generation = int(state["generation"])
        self._asked = int(state["asked"])
        self._told = [individuals[i] for i in state["told"]]
        self._best = None if state["best"] is None else individuals[state["best"]]

    @staticmethod
    def referenced_ids(state: Mapping[str, Any]) -> list[int]:
        best = [] if state["best"] is None else [state["best"]]
        return sorted(set(state["told"]) | set(best))
