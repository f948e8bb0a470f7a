"""(1+1) EA with niching and a novelty history: Lamarckian NAS's search (Prellberg, Algorithm 4).

One parent; each step mutates it into a child whose architecture was never
evaluated before (the space's ``novelty_key``, else ``to_text``, is kept in a
history; mutation is redrawn from the parent until the key is new, and after
``max_redraws`` tries further mutations are stacked onto the last draw). The
child replaces the parent if its fitness is strictly greater. Otherwise, with
probability ω (``niche_prob``), a child that did not fail starts a *niche*: ``k``
(``niche_steps``) greedy steps of its own, without nested niching; the best
network of the niche then replaces the parent if it is better than it.

Evaluations are strictly sequential (the algorithm is), so ``ask`` returns at
most one candidate and none while one is in flight. The budget is the run's:
with an evaluator whose ``cost`` is training epochs, ``run.max_cost`` is the
paper's total-epoch budget, niching epochs included.

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> class Count:
    ...     def initial(self, rng): return 0
    ...     def mutate(self, g, rng): return g + int(rng.integers(1, 3)), "add"
    ...     def to_text(self, g): return str(g)
    >>> s = OnePlusOneNiching(Count(), np.random.default_rng(0))
    >>> [c] = s.ask(4)
    >>> s.ask(1)  # waits for the evaluation
    []
    >>> _ = s.tell([Individual(1, c.genome, Evaluation(0.5))])
    >>> [child] = s.ask(1)
    >>> child.parent_id, child.genome != 0
    (1, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evoforge.evolution.space import Individual, SearchSpace
from evoforge.evolution.strategies.base import Candidate, PopulationDelta, Strategy
from evoforge.evolution.strategies.params import Param


class OnePlusOneNiching(Strategy):
    """(1+1) EA with niching (ω, k) and a history of evaluated architectures."""

    name = "one_plus_one"
    params = (
        Param("niche_prob", float, 0.1, "ω: chance a worse child starts a niche", min=0, max=1),
        Param("niche_steps", int, 5, "k: mutate-evaluate-select steps of a niche", min=1),
        Param("novelty", bool, True, "children must be architectures never evaluated before"),
        Param("max_redraws", int, 100, "mutations drawn from the parent before stacking", min=1),
    )

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        niche_prob: float = 0.1,
        niche_steps: int = 5,
        novelty: bool = True,
        max_redraws: int = 100,
    ) -> None:
        super().__init__(space, rng)
        self.niche_prob = niche_prob
        self.niche_steps = niche_steps
        self.novelty = novelty
        self.max_redraws = max_redraws
        self._key = getattr(space, "novelty_key", None) or space.to_text
        self.parent: Individual | None = None
        self.local: Individual | None = None  # the niche's current best, None outside a niche
        self._steps_left = 0
        self._waiting = False
        self._history: set[str] = set()
        self._history_order: list[str] = []  # insertion order, for the checkpoint

    def _remember(self, genome: Any) -> None:
        key = self._key(genome)
        if key not in self._history:
            self._history.add(key)
            self._history_order.append(key)

    def _novel_child(self, base: Individual) -> tuple[Any, str]:
        genome, name = self.space.mutate(base.genome, self.rng)
        if not self.novelty:
            return genome, name
        for _ in range(self.max_redraws - 1):
            if self._key(genome) not in self._history:
                return genome, name
            genome, name = self.space.mutate(base.genome, self.rng)
        for _ in range(10_000):  # every one-mutation neighbour was seen: walk further
            if self._key(genome) not in self._history:
                break
            genome, name = self.space.mutate(genome, self.rng)
        return genome, name

    def ask(self, n: int) -> list[Candidate]:
        if n < 1 or self._waiting:
            return []
        self._waiting = True
        if self.parent is None:
            genome = self.space.initial(self.rng)
            self._remember(genome)
            return [Candidate(genome, None, None)]
        base = self.local if self.local is not None else self.parent
        genome, name = self._novel_child(base)
        self._remember(genome)
        return [Candidate(genome, base.id, name)]

    def tell(self, individuals: Sequence[Individual]) -> PopulationDelta:
        before = {ind.id: ind for ind in self.population}
        for child in individuals:
            self._waiting = False
            if self.parent is None:
                self.parent = child
            elif self.local is not None:
                if child.fitness > self.local.fitness:
                    self.local = child
                self._steps_left -= 1
                if self._steps_left == 0:
                    if self.local.fitness > self.parent.fitness:
                        self.parent = self.local
                    self.local = None
            elif child.fitness > self.parent.fitness:
                self.parent = child
            elif child.evaluation.error is None and self.rng.random() < self.niche_prob:
                # A failed child (e.g. over the evaluator's size bound) has
                # no weights to start a niche from.
                self.local, self._steps_left = child, self.niche_steps
        after = {ind.id: ind for ind in self.population}
        joined = [ind for i, ind in after.items() if i not in before]
        left = [ind for i, ind in before.items() if i not in after]
        return PopulationDelta(joined, left)

    @property
    def population(self) -> Sequence[Individual]:
        """The parent, and the niche's current best while a niche runs."""
        return [ind for ind in (self.parent, self.local) if ind is not None]

    def state_dict(self) -> dict[str, Any]:
        return {
            "parent": None if self.parent is None else self.parent.id,
            "local": None if self.local is None else self.local.id,
            "steps_left": self._steps_left,
            "waiting": self._waiting,
            "history": list(self._history_order),
        }

    def load_state_dict(
        self, state: Mapping[str, Any], individuals: Mapping[int, Individual]
    ) -> None:
        self.parent = None if state["parent"] is None else individuals[state["parent"]]
        self.local = None if state["local"] is None else individuals[state["local"]]
        self._steps_left = int(state["steps_left"])
        self._waiting = bool(state["waiting"])
        self._history_order = list(state["history"])
        self._history = set(self._history_order)

    @staticmethod
    def referenced_ids(state: Mapping[str, Any]) -> list[int]:
        return [i for i in (state["parent"], state["local"]) if i is not None]
