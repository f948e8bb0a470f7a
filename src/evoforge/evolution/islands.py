"""One island of the island model (AutoML-Zero S3, "Parallelism"): a worker's
own regularized evolution, with its own FEC cache and hurdle.

The driver (`evoforge.evolution.archipelago`) talks to an island only through
`Request` and `Chunk` messages, so the same `Island` runs in the driver
process, in a worker process or in a Ray actor. A request grants a number of
evaluations (and a time limit); the island spends them and returns the store
rows of everything it evaluated, its state and, at a migration point, the
members it uploads. Immigrants arrive with the next request and take the
uploaded members' slots, so the island keeps its population size.

Ids: the island cannot know the global ids the driver will give its
individuals, so it numbers them -1, -2, ... (continuing across requests) and
the driver translates. Members that came from the store (at resume) or from
other islands carry their global, positive ids.

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation
    >>> class Ints:
    ...     def initial(self, rng): return int(rng.integers(100))
    ...     def mutate(self, g, rng): return g + int(rng.integers(-3, 4)), "step"
    ...     def to_text(self, g): return str(g)
    ...     def from_text(self, text): return int(text)
    >>> class Near42:
    ...     def evaluate(self, g, budget=None): return Evaluation(1 / (1 + abs(g - 42)))
    >>> island = Island(IslandSpec(0, Ints(), Near42(), population_size=10, tournament_size=3,
    ...                            mutation_prob=1.0, seed=(7, 0)))
    >>> chunk = island.step(Request(grant=900, seconds=60.0, migrate_at=500))
    >>> len(chunk.rows), chunk.evaluated, len(chunk.emigrants), max(chunk.fitness)
    (500, 500, 5, 1.0)
    >>> chunk.rows[0][0], chunk.rows[-1][0]  # local ids
    (-1, -500)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from evoforge.evolution.backends import safe_evaluate
from evoforge.evolution.collector import CollectionPause
from evoforge.evolution.fec import CachedEvaluator
from evoforge.evolution.hurdles import Hurdle
from evoforge.evolution.space import (
    Budget,
    Evaluation,
    Evaluator,
    Fingerprinter,
    Individual,
    SearchSpace,
)
from evoforge.evolution.store import PerTaskText, individual_row
from evoforge.evolution.strategies import PopulationDelta, RegularizedEvolution

MIGRATED = "migrated"


class Migrant(NamedTuple):
    """A member travelling between islands: its id, genome text and evaluation."""

    id: int
    text: str
    evaluation: Evaluation


@dataclass(frozen=True)
class IslandSpec:
    """Everything a worker needs to build (or rebuild) island ``index``.

    ``seed`` is the `numpy.random.SeedSequence` entropy of a fresh island;
    ``state`` (ids global) and ``members`` (id -> `Migrant` for every id the
    state names) restore one from a checkpoint, and ``fec_entries`` warm its
    cache as `RunStore.fec_entries` gives them.
    """

    index: int
    space: SearchSpace
    evaluator: Evaluator
    population_size: int
    tournament_size: int
    mutation_prob: float
    seed: Any = 0
    quality_gate: float | None = None
    fec_capacity: int | None = None
    hurdle_percentile: float | None = None
    state: Mapping[str, Any] | None = None
    members: Mapping[int, Migrant] = field(default_factory=dict)
    fec_entries: Sequence[tuple[int, Evaluation]] = ()


@dataclass(frozen=True)
class Request:
    """Spend up to ``grant`` evaluations, stopping early after ``seconds``.

    ``immigrants`` (slot, member) replace the members uploaded at the last
    migration. ``migrate_at``: an evaluation count at which the island stops
    and uploads (if it reaches it within this request).
    """

    grant: int
    seconds: float
    migrate_at: int | None = None
    immigrants: tuple[tuple[int, Migrant], ...] = ()


@dataclass
class Chunk:
    """What an island sends back for one `Request`.

    ``rows`` are store rows (`individual_row`) whose id is the island's local
    id and whose parent id is local (negative) or global; ``state`` is the
    island's state after them (ids likewise); ``fitness`` the population's
    fitness values; ``emigrants`` (slot, member) the upload, if one was due.
    """

    index: int
    rows: list[tuple[Any, ...]]
    evaluated: int
    migrations: int
    state: dict[str, Any]
    fitness: list[float]
    emigrants: list[tuple[int, Migrant]] | None = None


class Island:
    """Regularized evolution on one population, driven by `Request` messages."""

    def __init__(self, spec: IslandSpec) -> None:
        self.index = spec.index
        self.space = spec.space
        seed = spec.seed
        if not isinstance(seed, np.random.SeedSequence):
            seed = np.random.SeedSequence(seed)
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.strategy = RegularizedEvolution(
            spec.space,
            self.rng,
            spec.population_size,
            spec.tournament_size,
            spec.mutation_prob,
            quality_gate=spec.quality_gate,
        )
        evaluator = spec.evaluator
        if spec.fec_capacity is not None and isinstance(evaluator, Fingerprinter):
            evaluator = CachedEvaluator(evaluator, spec.fec_capacity)
            evaluator.cache.warm(spec.fec_entries)
        self.evaluator = evaluator
        self.hurdle = (
            None
            if spec.hurdle_percentile is None
            else Hurdle(spec.hurdle_percentile, spec.population_size)
        )
        self.evaluated = 0
        self.migrations = 0
        self._next_local = -1
        self._uploaded: list[int] = []  # slots awaiting immigrants
        self._per_task_text = PerTaskText(10_000)
        self._collection = CollectionPause()
        if spec.state is not None:
            self._restore(spec.state, spec.members)

    def _restore(self, state: Mapping[str, Any], members: Mapping[int, Migrant]) -> None:
        individuals = {
            i: Individual(i, self.space.from_text(m.text), m.evaluation, mutation=MIGRATED)
            for i, m in members.items()
        }
        self.strategy.load_state_dict(state["strategy"], individuals)
        self.rng.bit_generator.state = state["rng"]
        self.evaluated = int(state["evaluated"])
        self.migrations = int(state["migrations"])
        self._uploaded = list(state["uploaded"])
        if self.hurdle is not None:
            self.hurdle.reset(ind.fitness for ind in self.strategy.population)

    def state(self) -> dict[str, Any]:
        """JSON-able state; the strategy's ids are local (negative) or global."""
        return {
            "strategy": self.strategy.state_dict(),
            "rng": self.rng.bit_generator.state,
            "evaluated": self.evaluated,
            "migrations": self.migrations,
            "uploaded": list(self._uploaded),
            "population_size": self.strategy.population_size,
        }

    def _changed(self, delta: PopulationDelta) -> None:
        if self.hurdle is not None:
            self.hurdle.update(
                [ind.evaluation.fitness for ind in delta.joined],
                [ind.evaluation.fitness for ind in delta.left],
            )

    def _immigrate(self, immigrants: Sequence[tuple[int, Migrant]]) -> None:
        from_text = self.space.from_text
        for slot, m in immigrants:
            genome = from_text(m.text)
            self._changed(
                self.strategy.replace(
                    slot, Individual(m.id, genome, m.evaluation, mutation=MIGRATED)
                )
            )
        self._uploaded = []
        self.migrations += 1

    def step(self, request: Request) -> Chunk:
        """Serve one request (see `Request`)."""
        if request.immigrants:
            self._immigrate(request.immigrants)
        strategy, hurdle, evaluator = self.strategy, self.hurdle, self.evaluator
        to_text, per_task_text, index = self.space.to_text, self._per_task_text, self.index
        rows: list[tuple[Any, ...]] = []
        deadline = time.monotonic() + request.seconds
        no_hurdle = budget = Budget()
        grant = request.grant
        if request.migrate_at is not None:
            grant = min(grant, request.migrate_at - self.evaluated)
        with self._collection:  # the hot loop makes no cycles
            while len(rows) < grant:
                if hurdle is not None and hurdle.value != budget.hurdle:
                    budget = Budget(hurdle=hurdle.value) if hurdle.value is not None else no_hurdle
                [candidate] = strategy.ask(1)
                evaluation = safe_evaluate(evaluator, candidate.genome, budget)
                ind = Individual(
                    self._next_local,
                    candidate.genome,
                    evaluation,
                    candidate.parent_id,
                    candidate.mutation,
                    worker=index,
                    created=time.time(),
                )
                self._next_local -= 1
                self._changed(strategy.tell([ind]))
                rows.append(individual_row(ind, to_text(ind.genome), per_task_text(evaluation)))
                if time.monotonic() >= deadline:
                    break
        self._collection.maybe_collect()
        self.evaluated += len(rows)
        emigrants = None
        if self.evaluated == request.migrate_at and not self._uploaded:
            self._uploaded = strategy.sample_slots(strategy.population_size // 2)
            emigrants = []
            for slot in self._uploaded:
                member = strategy.member(slot)
                emigrants.append(
                    (slot, Migrant(member.id, to_text(member.genome), member.evaluation))
                )
        return Chunk(
            index,
            rows,
            self.evaluated,
            self.migrations,
            self.state(),
            [ind.evaluation.fitness for ind in strategy.population],
            emigrants,
        )
