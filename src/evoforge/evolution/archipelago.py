"""The island-model driver: islands evolve apart and exchange members.

`Archipelago` plans the islands of a run (each island's population size and
domain, for task diversity), feeds them `Request`s, stores what they send
back under global ids, runs migrations and restarts islands whose worker died
from their last stored state. Its state goes into the run's checkpoint, so
``evoforge resume`` continues an island run; an island that is restarted or
resumed replays from its last reported state, so no stored individual is lost
and none is stored twice.

Schedules: parallel backends get requests as their islands need them, so who
stores what when depends on speed. The serial backend (``lockstep``) serves
islands in turn, each request running to a fixed end (its island's next
migration or multiple of ``GRANT`` evaluations), so the schedule depends only
on counts that the checkpoint holds (whose turn it is, each island's state,
the immigrants chosen for it): a resumed serial run, stopped by Ctrl-C or by
``max_individuals`` (which only cuts the last request short), stores the same
individuals as an uninterrupted one.

Migration (AutoML-Zero S3): every ``migrate_every`` of its own evaluations an
island uploads half its population (chosen at random) and receives as many
members sampled without replacement from the latest uploads of all islands
(its own included), which take the uploaded members' slots.

Task diversity: ``search.islands.families`` (dotted overrides of the domain
table, dealt round-robin) and ``search.islands.vary`` (a range per dotted key,
drawn per island) give each island its own domain, built with the same
builder; all draws are seeded, so a resumed run rebuilds the same islands.

Example:
    >>> import tempfile
    >>> from evoforge.config import parse_config
    >>> from evoforge.evolution.space import DomainSetup
    >>> from evoforge.evolution.run import Run
    >>> from evoforge.evolution.space import Evaluation
    >>> class Ints:
    ...     def initial(self, rng): return int(rng.integers(100))
    ...     def mutate(self, g, rng): return g + int(rng.integers(-3, 4)), "step"
    ...     def to_text(self, g): return str(g)
    ...     def from_text(self, text): return int(text)
    >>> class Near42:
    ...     def evaluate(self, g, budget=None): return Evaluation(1 / (1 + abs(g - 42)))
    >>> cfg = parse_config({"run": {"domain": "ints", "max_individuals": 2000},
    ...                     "search": {"population_size": 20, "tournament_size": 4,
    ...                                "islands": {"count": 3, "migrate_every": 200}}})
    >>> result = Run.create(tempfile.mkdtemp(), cfg, setup=DomainSetup(Ints(), Near42())).run()
    >>> result.n_individuals, result.best.genome
    (2000, 42)
"""

from __future__ import annotations

import copy
import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from evoforge.config import ConfigError, ExperimentConfig, set_dotted
from evoforge.evolution.domain_source import Builder
from evoforge.evolution.island_backends import Died, IslandBackend
from evoforge.evolution.islands import Chunk, IslandSpec, Migrant, Request
from evoforge.evolution.pacing import Pacer
from evoforge.evolution.space import DomainSetup, Evaluation, Individual
from evoforge.evolution.store import RunStore

if TYPE_CHECKING:
    from evoforge.evolution.run import Run

log = logging.getLogger(__name__)

GRANT = 2000  # most evaluations per request
REQUEST_SECONDS = 0.25  # an island answers at least this often (progress, stops)
IN_FLIGHT = 2  # requests queued per island, so an island never waits for the driver
MAX_RESTARTS = 3  # restarts of one island in a row, with nothing stored between them

# Seed-sequence spawn keys under the run's seed (the run's own generator uses (0,)).
_ISLAND_KEY, _PLAN_KEY, _MIGRATION_KEY = 1, 2, 3


@dataclass
class IslandPlan:
    """Island ``index``'s population size, domain overrides and domain."""

    index: int
    population_size: int
    overrides: dict[str, Any]
    setup: DomainSetup


def plan_islands(
    config: ExperimentConfig, base: DomainSetup, builder: Callable[[str], Builder]
) -> list[IslandPlan]:
    """Draw each island's P and overrides (seeded) and build its domain with
    ``builder(config.run.domain)`` (the domain registry's `get_builder`).

    Islands without overrides share ``base``. A bad override raises
    `ConfigError` naming the island.
    """
    ic = config.search.islands
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(config.run.seed, spawn_key=(_PLAN_KEY,)))
    )
    plans = []
    for index in range(ic.count):
        size = config.search.population_size
        if ic.population_size is not None:
            size = int(rng.integers(ic.population_size[0], ic.population_size[1] + 1))
        overrides = dict(ic.families[index % len(ic.families)]) if ic.families else {}
        for key, (low, high) in ic.vary.items():
            if isinstance(low, int) and isinstance(high, int):
                overrides[key] = int(rng.integers(low, high + 1))
            else:
                overrides[key] = float(rng.uniform(low, high))
        setup = base if not overrides else _island_setup(config, index, overrides, builder)
        plans.append(IslandPlan(index, size, overrides, setup))
    return plans


def _island_setup(
    config: ExperimentConfig,
    index: int,
    overrides: Mapping[str, Any],
    builder: Callable[[str], Builder],
) -> DomainSetup:
    domain = config.run.domain
    table = {domain: copy.deepcopy(config.domain)}
    for key, value in overrides.items():
        if not key.startswith(domain + "."):
            raise ConfigError(
                "search.islands", f"island {index}: override {key!r} must start with '{domain}.'"
            ).with_source(config.source)
        set_dotted(table, key, value)
    try:
        return builder(domain)(table[domain], domain, config.run.seed)
    except ConfigError as exc:
        raise ConfigError(
            "search.islands", f"island {index} (overrides {overrides}): {exc}", config.source
        ) from None


@dataclass
class _Book:
    """The driver's record of one island."""

    plan: IslandPlan
    state: dict[str, Any] | None = None  # last reported (ids local or global)
    fitness: list[float] = field(default_factory=list)
    evaluated: int = 0
    uploads: int = 0  # uploads received: the next boundary is (uploads + 1) * M
    grants: deque[int] = field(default_factory=deque)  # requests in flight, in order
    migrating: bool = False  # a request in flight may stop at a boundary and upload
    immigrants: tuple[tuple[int, Migrant], ...] | None = None  # to deliver next
    # Those chosen for the island's latest upload, kept until it reports them
    # taken in, so a checkpoint holds them (drawing again would change the run).
    arriving: tuple[tuple[int, Migrant], ...] = ()
    upload: list[Migrant] = field(default_factory=list)  # latest upload, global ids
    # Local -> global id runs (first local id, first global id, count), oldest first.
    runs: deque[tuple[int, int, int]] = field(default_factory=deque)
    deaths: int = 0  # in a row, without an answer in between

    @property
    def outstanding(self) -> int:
        return sum(self.grants)

    def to_global(self, local: int | None) -> int | None:
        if local is None or local > 0:
            return local
        for first_local, first_global, count in reversed(self.runs):
            offset = first_local - local
            if 0 <= offset < count:
                return first_global + offset
        raise KeyError(f"island {self.plan.index}: local id {local} is not stored")


class Archipelago:
    """Drives a run's islands (see the module docstring)."""

    def __init__(self, config: ExperimentConfig, plans: list[IslandPlan]) -> None:
        self.config = config
        self.books = [_Book(plan) for plan in plans]
        self.rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(config.run.seed, spawn_key=(_MIGRATION_KEY,)))
        )
        self.restarts = 0
        self.turn = 0  # the island whose request is next, on a lockstep backend

    # -- specs, state ------------------------------------------------------------

    def spec(self, index: int, store: RunStore | None = None) -> IslandSpec:
        """How to build island ``index`` now: fresh, or from its last state
        (members and FEC entries read from ``store``)."""
        book = self.books[index]
        search = self.config.search
        plan = book.plan
        state = None if book.state is None else self._global_state(book)
        members: Mapping[int, Migrant] = {}
        fec_entries: list[tuple[int, Evaluation]] = []
        if state is not None and store is not None:
            members = _migrants(store, set(state["strategy"]["slots"]))
            if search.fec.enabled:
                fec_entries = store.fec_entries(search.fec.capacity, worker=index)
        return IslandSpec(
            index=index,
            space=plan.setup.space,
            evaluator=plan.setup.evaluator,
            population_size=plan.population_size,
            tournament_size=min(search.tournament_size, plan.population_size),
            mutation_prob=search.mutation_prob,
            seed=np.random.SeedSequence(self.config.run.seed, spawn_key=(_ISLAND_KEY, index)),
            quality_gate=search.quality_gate,
            fec_capacity=search.fec.capacity if search.fec.enabled else None,
            hurdle_percentile=search.hurdle.percentile if search.hurdle.enabled else None,
            state=state,
            members=members,
            fec_entries=fec_entries,
        )

    def _global_state(self, book: _Book) -> dict[str, Any]:
        assert book.state is not None
        strategy = dict(book.state["strategy"])
        strategy["slots"] = [book.to_global(i) for i in strategy["slots"]]
        return {**book.state, "strategy": strategy}

    def state_dict(self) -> dict[str, Any]:
        """JSON-able, with global ids only."""
        return {
            "islands": [
                {
                    "state": None if b.state is None else self._global_state(b),
                    "fitness": b.fitness,
                    "upload": [m.id for m in b.upload],
                    "arriving": [[slot, m.id] for slot, m in self._awaited(b)],
                }
                for b in self.books
            ],
            "rng": self.rng.bit_generator.state,
            "turn": self.turn,
        }

    @staticmethod
    def _awaited(book: _Book) -> tuple[tuple[int, Migrant], ...]:
        """The immigrants chosen for an island that its state has not taken in."""
        return book.arriving if book.state is not None and book.state["uploaded"] else ()

    def load_state_dict(self, state: Mapping[str, Any], store: RunStore) -> None:
        """Restore from a checkpoint (members and uploads read from ``store``)."""
        saved = state["islands"]
        if len(saved) != len(self.books):
            raise ValueError(f"checkpoint has {len(saved)} islands, config {len(self.books)}")
        self.rng.bit_generator.state = state["rng"]
        self.turn = int(state.get("turn", 0)) % len(self.books)
        for book, entry in zip(self.books, saved, strict=True):
            book.state = entry["state"]
            book.fitness = list(entry["fitness"])
            arriving = entry.get("arriving", [])
            found = _migrants(store, set(entry["upload"]) | {i for _, i in arriving})
            book.upload = [found[i] for i in entry["upload"]]
            book.arriving = tuple((slot, found[i]) for slot, i in arriving)
            if book.state is not None:
                book.evaluated = int(book.state["evaluated"])
                book.uploads = int(book.state["migrations"]) + bool(book.state["uploaded"])
        for book in self.books:
            if book.state is not None and book.state["uploaded"]:
                if not book.arriving:  # a checkpoint from before they were saved
                    book.arriving = self._immigrants(book.state["uploaded"])
                book.immigrants = book.arriving

    @property
    def plans(self) -> list[IslandPlan]:
        """Each island's plan, in island order."""
        return [book.plan for book in self.books]

    def population_fitness(self) -> list[float]:
        return [f for book in self.books for f in book.fitness]

    # -- the loop ------------------------------------------------------------------

    def loop(self, run: Run, backend: IslandBackend) -> str:
        """Feed the islands and store their results until a stop condition."""
        reason = run.stop_check()
        if reason is not None:
            return reason
        backend.start([self.spec(i, run.store) for i in range(len(self.books))])
        if backend.lockstep:
            with Pacer(run) as pacer:
                return self._lockstep(run, backend, pacer)
        stopping = False
        with Pacer(run) as pacer:
            while True:
                if not stopping:
                    for book in self.books:
                        self._feed(book, run, backend)
                if not any(book.grants for book in self.books):
                    # Nothing in flight: stopping, or the individuals budget is granted out.
                    return reason if stopping else run.stop_check() or "max_individuals"
                for index, message in backend.receive():
                    book = self.books[index]
                    if isinstance(message, Died):
                        self._restart(book, message, run, backend)
                        continue
                    with run.changing_state():
                        self._take(book, message, run)
                if not stopping:
                    reason = run.stop_check()
                    stopping = reason is not None
                pacer.step()

    def _lockstep(self, run: Run, backend: IslandBackend, pacer: Pacer) -> str:
        """Serve the islands in turn, one request at a time (see the module
        docstring): each request ends where it would however the run was cut."""
        every = self.config.search.islands.migrate_every
        max_n = self.config.run.max_individuals
        while True:
            reason = run.stop_check()
            if reason is not None:
                return reason
            book = self.books[self.turn]
            migrate_at = (book.uploads + 1) * every if every else None
            end = (book.evaluated // GRANT + 1) * GRANT
            if migrate_at is not None:
                end = min(end, migrate_at)
            immigrants = book.immigrants or ()
            book.immigrants = None  # `arriving` keeps them until taken in
            grant = min(end - book.evaluated, max_n - run.n)
            backend.send(book.plan.index, Request(grant, REQUEST_SECONDS, migrate_at, immigrants))
            book.grants.append(grant)
            [(_, chunk)] = backend.receive()
            with run.changing_state():
                self._take(book, chunk, run)
            if book.evaluated >= end:
                self.turn = (self.turn + 1) % len(self.books)
            pacer.step()

    def _feed(self, book: _Book, run: Run, backend: IslandBackend) -> None:
        """Queue requests so the island has ``IN_FLIGHT`` of them, never past a
        migration boundary (its immigrants depend on the upload)."""
        every = self.config.search.islands.migrate_every
        while len(book.grants) < IN_FLIGHT and not book.migrating:
            if book.state is not None and book.state["uploaded"] and book.immigrants is None:
                return  # its immigrants were sent with a request still in flight
            in_flight = sum(b.outstanding for b in self.books)
            remaining = self.config.run.max_individuals - run.n - in_flight
            planned = book.evaluated + book.outstanding
            grant = min(GRANT, remaining)
            migrate_at = None
            if every:
                migrate_at = (book.uploads + 1) * every
                grant = min(grant, migrate_at - planned)
            if grant <= 0:
                return
            immigrants = book.immigrants or ()
            book.immigrants = None
            backend.send(book.plan.index, Request(grant, REQUEST_SECONDS, migrate_at, immigrants))
            book.grants.append(grant)
            if migrate_at is not None and planned + grant == migrate_at:
                book.migrating = True

    def _take(self, book: _Book, chunk: Chunk, run: Run) -> None:
        """Store a chunk's rows under global ids and update the island's record."""
        book.grants.popleft()
        book.deaths = 0
        rows = chunk.rows
        if rows:
            first_global = run.n + 1
            book.runs.append((rows[0][0], first_global, len(rows)))
            # Column-wise (zip and sum run in C): the driver shares the cores
            # with the islands, so its per-row cost caps the scaling.
            columns = list(zip(*rows, strict=True))
            ids = range(first_global, first_global + len(rows))
            parents = map(book.to_global, columns[1])
            stored = list(zip(ids, parents, *columns[2:], strict=True))
            run.cost += sum(columns[6])
            run.fec_hits += sum(columns[8])
            run.early_stopped += sum(columns[9])
            run.errors += len(rows) - columns[10].count(None)
            if max(columns[4]) > run.best_fitness:
                for row in stored:  # in order: each new best is announced
                    if row[10] is None and row[4] > run.best_fitness:  # not a failure
                        run.offer_best(self._individual(row, run))
            run.n = first_global + len(rows) - 1
            run.store.add_rows(stored)
        book.state = chunk.state
        book.fitness = chunk.fitness
        book.evaluated = chunk.evaluated
        if chunk.emigrants is not None:
            book.uploads += 1
            book.upload = [
                Migrant(book.to_global(m.id), m.text, m.evaluation) for _, m in chunk.emigrants
            ]
            book.arriving = self._immigrants([slot for slot, _ in chunk.emigrants])
            book.immigrants = book.arriving
            run.store.event(
                "migration",
                {
                    "island": book.plan.index,
                    "evaluated": book.evaluated,
                    "members": len(book.upload),
                },
            )
        if chunk.emigrants is not None or not book.grants:
            # Uploaded, or the boundary request ended short of the boundary
            # (an earlier answer came back short): plan afresh.
            book.migrating = False
        self._prune(book)

    def _individual(self, row: tuple[Any, ...], run: Run) -> Individual:
        """The Individual of a stored row (for the run's best-so-far)."""
        per_task = tuple(json.loads(row[5])) if row[5] else ()
        evaluation = Evaluation(
            fitness=row[4],
            per_task=per_task,
            cost=row[6],
            fingerprint=row[7],
            early_stopped=bool(row[9]),
            error=row[10],
            fec_hit=bool(row[8]),
            wall_time=row[11],
        )
        genome = run.space.from_text(row[3])
        return Individual(
            row[0], genome, evaluation, row[1], row[2], worker=row[13], created=row[12]
        )

    def _immigrants(self, slots: list[int]) -> tuple[tuple[int, Migrant], ...]:
        # An individual can sit in two uploads (it migrated and was uploaded
        # again): count it once, so no island receives it twice.
        pool = list({m.id: m for book in self.books for m in book.upload}.values())
        chosen = self.rng.choice(len(pool), size=len(slots), replace=len(pool) < len(slots))
        return tuple((slot, pool[i]) for slot, i in zip(slots, chosen.tolist(), strict=True))

    def _prune(self, book: _Book) -> None:
        """Forget id runs no member can still refer to: the parents of the
        island's next children are its members or those children."""
        if book.state is None:
            return
        local = [i for i in book.state["strategy"]["slots"] if i < 0]
        if not local:
            book.runs.clear()
            return
        oldest = max(local)  # local ids count down
        while book.runs and book.runs[0][0] - book.runs[0][2] + 1 > oldest:
            book.runs.popleft()

    def _restart(self, book: _Book, died: Died, run: Run, backend: IslandBackend) -> None:
        """Rebuild a dead island from its last reported state."""
        index = book.plan.index
        book.deaths += 1
        if book.deaths > MAX_RESTARTS:
            raise RuntimeError(
                f"island {index} died {book.deaths} times in a row without storing anything"
                f" (last: {died.reason}); giving up"
            )
        log.warning("island %d: %s; restarting it from its last state", index, died.reason)
        run.store.event("island_restart", {"island": index, "reason": died.reason})
        run.checkpoint()  # its members must be in the file to be read back
        book.grants.clear()
        book.migrating = False
        if book.state is not None:
            book.state = self._global_state(book)
            if book.state["uploaded"]:  # those chosen, whether sent or not
                book.immigrants = book.arriving
        book.runs.clear()  # the new worker numbers its individuals from -1 again
        backend.restart(self.spec(index, run.store))
        self.restarts += 1


def _migrants(store: RunStore, ids: set[int]) -> dict[int, Migrant]:
    return {
        i: Migrant(i, text, ind.evaluation) for i, (ind, text) in store.individuals(ids).items()
    }
