"""Callbacks on a running search: one per stored individual, one per new best.

For experiment trackers (MLflow, TensorBoard, a notebook's live plot). The
driver already hands every individual it stores to the run's store (``add``
on the serial loop, ``add_rows`` from island workers, ``add_chunk`` from the
fused driver of ``run.engine = "fused"``) and every new best as a
``new_best`` event, so `observe` wraps the store of a `Run` that has not
started yet in an `ObservedStore`: the engine's loops stay untouched and pay
nothing when there are no callbacks. Each `Record` holds what `open_run`
reads back for that individual (a compact row's text made by the store's
codec). A callback runs in the driver, between
evaluations: a slow one slows the search, and one that raises stops the run
(the store is marked failed, the last checkpoint is kept).

Example:
    >>> import tempfile
    >>> from evoforge.config import parse_config
    >>> from evoforge.evolution.run import Run
    >>> from evoforge.evolution.space import DomainSetup, Evaluation
    >>> class Ints:
    ...     def initial(self, rng): return int(rng.integers(100))
    ...     def mutate(self, g, rng): return g + int(rng.integers(-3, 4)), "step"
    ...     def to_text(self, g): return str(g)
    ...     def from_text(self, text): return int(text)
    >>> class Near42:
    ...     def evaluate(self, g, budget=None): return Evaluation(1 / (1 + abs(g - 42)))
    >>> cfg = parse_config({"run": {"domain": "ints", "max_individuals": 50}})
    >>> run = Run.create(tempfile.mkdtemp(), cfg, setup=DomainSetup(Ints(), Near42()))
    >>> seen, bests = [], []
    >>> observe(run, Callbacks(on_individual=seen.append, on_new_best=bests.append))
    >>> _ = run.run()
    >>> len(seen), [r.id for r in seen[:3]], bests[-1].fitness == max(r.fitness for r in seen)
    (50, [1, 2, 3], True)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evoforge.evolution.space import Individual
from evoforge.evolution.store import compact_rows, individual_row, per_task_values

if TYPE_CHECKING:
    from evoforge.evolution.run import Run
    from evoforge.evolution.store import RunStore


@dataclass(frozen=True)
class Record:
    """One stored individual, as plain values (a row of the ``individuals`` table).

    ``fitness`` is ``-inf`` for a failed evaluation (``error`` says why);
    ``created`` is the Unix time it was stored; ``worker`` the worker (or
    island) that evaluated it.
    """

    id: int
    parent_id: int | None
    mutation: str | None
    genome_text: str
    fitness: float
    per_task: tuple[float, ...]
    cost: int
    fingerprint: int | None
    fec_hit: bool
    early_stopped: bool
    error: str | None
    wall_time: float | None
    created: float | None
    worker: int | None
    parent2_id: int | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...], genome_text: str | None = None) -> Record:
        """A record from a full row in the store's column order (`individual_row`);
        ``per_task`` JSON or float64 bytes; ``genome_text`` for a compact row's."""
        return cls(
            id=row[0],
            parent_id=row[1],
            mutation=row[2],
            genome_text=row[3] if genome_text is None else genome_text,
            fitness=float(row[4]),
            per_task=per_task_values(row[5]),
            cost=row[6],
            fingerprint=row[7],
            fec_hit=bool(row[8]),
            early_stopped=bool(row[9]),
            error=row[10],
            wall_time=row[11],
            created=row[12],
            worker=row[13],
            parent2_id=row[14],
        )

    def as_dict(self) -> dict[str, Any]:
        """The record as a plain dict (for a DataFrame or a tracker's log call)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class NewBest:
    """A new best individual: its id, search fitness, select fitness (where the
    domain has a selector), run time so far, individuals so far, genome text."""

    id: int
    fitness: float
    select_fitness: float | None
    elapsed: float
    individuals: int
    genome_text: str | None


@dataclass(frozen=True)
class Callbacks:
    """What to call: ``on_individual(Record)`` for each stored individual (in id
    order), ``on_new_best(NewBest)`` each time the best valid fitness improves."""

    on_individual: Callable[[Record], None] | None = None
    on_new_best: Callable[[NewBest], None] | None = None

    def __bool__(self) -> bool:
        return self.on_individual is not None or self.on_new_best is not None


class ObservedStore:
    """A `RunStore` that also reports what it is given to `Callbacks`.

    Everything else is the wrapped store's (``__getattr__``), so the driver
    writes, checkpoints and closes it as before.
    """

    def __init__(self, store: RunStore, callbacks: Callbacks, run: Run) -> None:
        self._store = store
        self._callbacks = callbacks
        self._run = run

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def add(self, ind: Individual, genome_text: str) -> None:
        self._store.add(ind, genome_text)
        on_individual = self._callbacks.on_individual
        if on_individual is not None:
            per_task = json.dumps(ind.evaluation.per_task) if ind.evaluation.per_task else None
            on_individual(Record.from_row(individual_row(ind, genome_text, per_task)))

    def add_chunk(self, columns: Mapping[str, Sequence[Any]]) -> None:
        self._store.add_chunk(columns)
        on_individual = self._callbacks.on_individual
        if on_individual is not None:
            # Compact rows (run.engine = "fused"): text by the store's codec.
            decode = self._store.genome_decoder()
            for row in compact_rows(columns):
                on_individual(Record.from_row(row, decode(row[15])))

    def add_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        rows = list(rows)
        self._store.add_rows(rows)
        on_individual = self._callbacks.on_individual
        if on_individual is not None:
            for row in rows:
                on_individual(Record.from_row(row))

    def event(self, kind: str, payload: Mapping[str, Any]) -> None:
        self._store.event(kind, payload)
        on_new_best = self._callbacks.on_new_best
        if kind == "new_best" and on_new_best is not None:
            # The driver makes the individual its best before it records the event.
            best = self._run.best
            text = (
                self._run.space.to_text(best.genome)
                if best is not None and best.id == payload["id"]
                else None
            )
            on_new_best(
                NewBest(
                    id=payload["id"],
                    fitness=payload["fitness"],
                    select_fitness=payload.get("select_fitness"),
                    elapsed=payload["elapsed"],
                    individuals=payload["individuals"],
                    genome_text=text,
                )
            )


def observe(run: Run, callbacks: Callbacks) -> None:
    """Report ``run``'s individuals and new bests to ``callbacks`` from now on;
    call it before `Run.run` (the loop binds the store's methods when it starts)."""
    if callbacks and not isinstance(run.store, ObservedStore):
        run.store = ObservedStore(run.store, callbacks, run)  # type: ignore[assignment]
