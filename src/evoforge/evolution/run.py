"""The run driver: ask -> evaluate -> tell -> store, with checkpoints and resume.

A `Run` owns everything that makes a search reproducible: the seeded numpy
generator (PCG64 from a `SeedSequence`), the strategy, the (cached)
evaluator, the hurdle, the backend, the store and the progress display. A run
directory holds the resolved ``config.toml``, ``run.sqlite`` and ``best.txt``.

Checkpoints capture the strategy, the generator state, the counters and every
candidate asked but not yet stored, in the same transaction as the individuals
they account for. So `Run.resume` continues exactly where the last checkpoint
left off: on the serial backend an interrupted and resumed run produces the
same individuals as an uninterrupted one.

Example:
    >>> import tempfile
    >>> from evoforge.config import parse_config
    >>> from evoforge.evolution.space import DomainSetup
    >>> from evoforge.evolution.space import Evaluation
    >>> class Ints:  # genomes are ints
    ...     def initial(self, rng): return int(rng.integers(100))
    ...     def mutate(self, g, rng): return g + int(rng.integers(-3, 4)), "step"
    ...     def to_text(self, g): return str(g)
    ...     def from_text(self, text): return int(text)
    >>> class Near42:  # the closer to 42 the better
    ...     def evaluate(self, g, budget=None): return Evaluation(1 / (1 + abs(g - 42)))
    >>> cfg = parse_config({"run": {"domain": "ints", "max_individuals": 300}})
    >>> result = Run.create(tempfile.mkdtemp(), cfg, setup=DomainSetup(Ints(), Near42())).run()
    >>> result.n_individuals, result.best.genome, result.stop_reason
    (300, 42, 'max_individuals')
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.config import ExperimentConfig, load_config
from evoforge.errors import RunDirError
from evoforge.evolution.assembly import RunParts, build_run_parts
from evoforge.evolution.backends import Backend
from evoforge.evolution.domain_source import domain_source
from evoforge.evolution.fec import CachedEvaluator
from evoforge.evolution.island_backends import IslandBackend
from evoforge.evolution.lock import RunLock
from evoforge.evolution.pacing import Pacer
from evoforge.evolution.progress import NullProgress, Progress, Snapshot
from evoforge.evolution.rundir import (
    BEST_FILE,
    CONFIG_FILE,
    STORE_FILE,
    check_config,
    check_empty,
    checkpoint_problem,
    claim_run_dir,
    config_fingerprint,
    plain_changes,
    resolved_table,
    write_atomic,
    write_best,
)
from evoforge.evolution.space import Budget, DomainSetup, Individual
from evoforge.evolution.store import RunStore, StoreError
from evoforge.evolution.strategies import Candidate, decode_state, encode_state

log = logging.getLogger(__name__)

# Importers of this module have long found these here.
__all__ = ["BEST_FILE", "CONFIG_FILE", "STORE_FILE", "Run", "RunDirError", "RunResult"]

INTERRUPTED = "interrupted"
_NO_HURDLE = Budget()
# A first one stops after the evaluations in hand, a second one at once.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class RunResult:
    """How a `Run.run` session ended."""

    run_dir: Path
    n_individuals: int
    stop_reason: str
    best: Individual | None
    best_select: float | None
    elapsed: float
    cost: int
    signal: int | None = None  # the signal that interrupted it (SIGINT, SIGTERM)

    @property
    def interrupted(self) -> bool:
        return self.stop_reason == INTERRUPTED


def _median(fitness: list[float]) -> float | None:
    """The median of the population's valid members (failures are -inf, which
    would drag the median to -inf or, beside +inf, NaN); None if there are none."""
    valid = [f for f in fitness if math.isfinite(f)]
    return float(np.median(valid)) if valid else None


class Run:
    """One search in one run directory. Make it with `create` or `resume`,
    then call `run` once.

    Example:
        >>> run = Run.create("runs/demo", load_config("configs/demo.toml"))  # doctest: +SKIP
        >>> run.run().best.fitness  # doctest: +SKIP
        0.97
        >>> Run.resume("runs/demo", max_individuals=20_000).run()  # doctest: +SKIP
    """

    def __init__(
        self,
        run_dir: Path,
        parts: RunParts,
        store: RunStore,
        progress: Progress | None = None,
    ) -> None:
        """A run over ``parts`` (see `build_run_parts`) writing ``store``.
        `create` and `resume` make both and checkpoint or restore; a run made
        here directly starts from nothing and holds no lock."""
        self.run_dir = run_dir
        self.config = parts.config
        self.setup = parts.setup
        self.space = parts.setup.space
        self.store = store
        self.progress: Progress = progress or NullProgress()
        self.rng = parts.rng
        self.strategy = parts.strategy
        self.evaluator = parts.evaluator
        self.hurdle = parts.hurdle
        self.stop = parts.stop
        self.inheritance = parts.inheritance
        # The island model: islands evolve in workers; `strategy` then stays unused.
        self.archipelago = parts.archipelago
        # issue 21: a domain's fused step over chunks (run.engine = "fused"), or None.
        self.chunked = parts.chunked
        self._make_backend = parts.backend
        self._make_island_backend = parts.island_backend
        self.n = 0  # individuals stored so far == the last id
        self.cost = 0
        self.fec_hits = 0
        self.early_stopped = 0
        self.errors = 0
        self.best: Individual | None = None
        self.best_select: float | None = None  # select fitness of `best`
        self.max_select: float | None = None  # highest select fitness seen
        self._best_fitness = -math.inf
        self._elapsed_before = 0.0  # seconds spent in earlier sessions
        self._t0 = time.monotonic()
        self._pending: list[Candidate] = []  # asked in an earlier session, not yet stored
        self._in_flight: dict[int, Candidate] = {}
        self._stop_reason: str | None = None
        self._busy = False  # True while state is being changed: no consistent checkpoint
        self._critical = 0  # > 0 while a checkpoint is written, or the run is ending
        self._final = False  # the loop has ended
        self._stop_now = False  # a second signal arrived while `_critical`
        self._signal: int | None = None  # the signal that asked to stop
        self._lock: RunLock | None = None  # held from create/resume to the end of `run`
        self._budget = _NO_HURDLE

    # -- construction ------------------------------------------------------------

    @classmethod
    def create(
        cls,
        run_dir: str | Path,
        config: ExperimentConfig,
        *,
        setup: DomainSetup | None = None,
        progress: Progress | None = None,
    ) -> Run:
        """A new run in ``run_dir`` (absent or empty). The domain and the run's
        parts are built (and so validated) before anything is written; the
        directory stays locked against other writers until `run` ends. If it
        cannot be written (a read-only or full disk) the error names the path
        and the cause and nothing is left behind."""
        run_dir = Path(run_dir)
        check_empty(run_dir)
        if setup is None:
            setup = domain_source().build(config)
        parts = build_run_parts(config, setup, run_dir)
        config = parts.config
        with claim_run_dir(run_dir) as lock:
            store: RunStore | None = None
            try:
                resolved = resolved_table(config, setup)
                write_atomic(run_dir / CONFIG_FILE, config.resolved_toml(setup.resolved_config))
                store = RunStore.create(run_dir / STORE_FILE)
                if parts.chunked is not None:  # issue 21: compact rows need their codec
                    store.set_codec(setup.space.genome_codec)
                store.set_meta(
                    domain=config.run.domain,
                    seed=config.run.seed,
                    status="created",
                    config_fingerprint=config_fingerprint(resolved),
                    config=resolved,
                )
                run = cls._created(run_dir, parts, store, progress)
            except BaseException:
                if store is not None:
                    store.close()
                raise
        run._lock = lock
        return run

    @classmethod
    def _created(
        cls, run_dir: Path, parts: RunParts, store: RunStore, progress: Progress | None
    ) -> Run:
        for plan in parts.archipelago.plans if parts.archipelago is not None else ():
            store.event(
                "island",
                {
                    "island": plan.index,
                    "population_size": plan.population_size,
                    "overrides": plan.overrides,
                },
            )
        run = cls(run_dir, parts, store, progress)
        run.checkpoint()
        return run

    @classmethod
    def resume(
        cls,
        run_dir: str | Path,
        *,
        max_individuals: int | None = None,
        accept_config_changes: bool = False,
        progress: Progress | None = None,
    ) -> Run:
        """Reopen a run directory at its last checkpoint, optionally raising
        ``run.max_individuals`` (saved back into its ``config.toml``).

        The directory is locked against other writers (`RunLockedError` names
        the holder). A ``config.toml`` edited since the run started is refused
        (`ConfigChangedError` names each changed key, old -> new) unless every
        change is in `SAFE_CONFIG_KEYS` and ``accept_config_changes`` is set;
        accepted changes become the run's config (an event records them). The
        store must hold exactly the individuals its checkpoint accounts for, and
        the checkpoint must be intact (`StoreError` says what is wrong and what
        is intact otherwise).

        Example:
            >>> Run.resume("runs/demo", max_individuals=20_000).run()  # doctest: +SKIP
            >>> Run.resume("runs/demo", accept_config_changes=True).run()  # doctest: +SKIP
        """
        run_dir = Path(run_dir)
        config_path, store_path = run_dir / CONFIG_FILE, run_dir / STORE_FILE
        if not run_dir.is_dir():
            raise RunDirError(f"{run_dir}: no such run directory")
        if not (config_path.is_file() and store_path.is_file()):
            raise RunDirError(
                f"{run_dir}: not a run directory (expected {CONFIG_FILE} and {STORE_FILE})"
            )
        lock = RunLock.acquire(run_dir)
        try:
            run = cls._reopen(run_dir, max_individuals, accept_config_changes, progress)
        except BaseException:
            lock.release()
            raise
        run._lock = lock
        return run

    @classmethod
    def _reopen(
        cls,
        run_dir: Path,
        max_individuals: int | None,
        accept_config_changes: bool,
        progress: Progress | None,
    ) -> Run:
        config_path, store_path = run_dir / CONFIG_FILE, run_dir / STORE_FILE
        overrides = {} if max_individuals is None else {"run.max_individuals": max_individuals}
        config = load_config(config_path, overrides)
        setup = domain_source().build(config)
        store = RunStore.open(store_path)
        try:
            resolved = resolved_table(config, setup)
            changes = check_config(store, config_path, resolved, overrides, accept_config_changes)
            checkpoint = store.latest_checkpoint()
            if checkpoint is None:
                raise StoreError(f"{store_path}: holds no checkpoint")
            store.check_complete(checkpoint[0])
            # After the checks: a changed config is reported as such, not as
            # whatever its new values fail to build.
            run = cls(run_dir, build_run_parts(config, setup, run_dir), store, progress)
            run._restore(*checkpoint)
            if overrides:
                write_atomic(config_path, config.resolved_toml(setup.resolved_config))
            if changes is not None:
                store.set_meta(config_fingerprint=config_fingerprint(resolved), config=resolved)
                if changes:
                    store.event(
                        "config_changed",
                        {
                            "changes": plain_changes(changes),
                            "fingerprint": config_fingerprint(resolved),
                        },
                    )
        except BaseException:
            store.close()
            raise
        return run

    def _restore(self, n: int, state: Mapping[str, Any]) -> None:
        problem = checkpoint_problem(state)
        if problem is None:
            try:
                self._load_state(n, state)
                return
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        raise StoreError(
            f"{self.store.path}: the checkpoint (at {n:,} individuals) is damaged or does not"
            f" fit this config ({problem}); the rows are intact up to id"
            f" {self.store.intact_prefix():,}, but there is no other checkpoint to resume"
            " from (`evoforge show` still reads the run)"
        )

    def _load_state(self, n: int, state: Mapping[str, Any]) -> None:
        self.n = n
        counters = state["counters"]
        self.cost = counters["cost"]
        self.fec_hits = counters["fec_hits"]
        self.early_stopped = counters["early_stopped"]
        self.errors = counters["errors"]
        self.best_select = state["best_select"]
        self.max_select = state["max_select"]
        self._elapsed_before = state["elapsed"]
        self.rng.bit_generator.state = state["rng"]
        if self.archipelago is not None:
            self.archipelago.load_state_dict(state["islands"], self.store)
            ids = set()
        else:
            strategy_state = decode_state(state["strategy"])  # arrays back from .npy bytes
            ids = set(self.strategy.referenced_ids(strategy_state))
        if state["best"] is not None:
            ids.add(state["best"])
        beyond = sorted(i for i in ids if not 1 <= i <= n)
        if beyond:  # `check_complete` vouched for the ids 1..n only
            raise ValueError(f"it names individuals {beyond[:5]} beyond the {n:,} stored")
        individuals = {}
        for i, (ind, text) in self.store.individuals(ids).items():
            ind.genome = self.space.from_text(text)
            individuals[i] = ind
        if self.archipelago is None:
            self.strategy.load_state_dict(strategy_state, individuals)
        if self.chunked is not None:  # issue 21: the fused population's arrays
            self.chunked.load_state_dict(decode_state(state.get("fused")), self)
        if state["best"] is not None:
            self.best = individuals[state["best"]]
            self._best_fitness = self.best.fitness
        from_text = self.space.from_text
        self._pending = [
            Candidate(
                from_text(p["genome"]),
                p["parent_id"],
                p["mutation"],
                p.get("parent2_id"),  # absent in checkpoints written before crossover
                p.get("reevaluates"),
            )
            for p in state["pending"]
        ]
        if self.archipelago is not None:
            return  # each island warms its own cache and hurdle when it is built
        if isinstance(self.evaluator, CachedEvaluator):
            cache = self.evaluator.cache
            # An experiment restart emptied the cache: only its own rows refill it.
            since = 1 if self.chunked is None else self.chunked.experiment_start(self)
            cache.warm(self.store.fec_entries(cache.capacity, since=since))
        if self.hurdle is not None:
            self.hurdle.reset(ind.fitness for ind in self.strategy.population)

    # -- state -------------------------------------------------------------------

    def elapsed(self) -> float:
        """Wall-clock seconds over all sessions of this run."""
        return self._elapsed_before + time.monotonic() - self._t0

    @property
    def best_fitness(self) -> float:
        """The best valid fitness stored so far (-inf before the first)."""
        return self._best_fitness

    def checkpoint(self) -> None:
        """Write a checkpoint: the strategy (or the islands), the generator,
        the counters and every candidate asked but not yet stored, committed
        with the individuals stored since the last one; then ``best.txt``.

        A second Ctrl-C or SIGTERM that arrives while this writes waits for it
        (see `_on_stop_signal`), so no signal leaves the store half-written.
        """
        self._critical += 1
        try:
            self._write_checkpoint()
        finally:
            self._critical -= 1
        if self._stop_now and not self._critical:
            self._stop_now = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def changing_state(self) -> Iterator[None]:
        """Mark the body as changing the run's state (storing individuals,
        telling the strategy). If Ctrl-C interrupts it, the state is half
        changed, so `run` keeps the last periodic checkpoint instead of
        writing a final one."""
        self._busy = True
        yield
        self._busy = False  # not on an exception: that change is incomplete

    def _write_checkpoint(self) -> None:
        to_text = self.space.to_text
        pending = [*self._in_flight.values(), *self._pending]
        islands = self.archipelago
        strategy_state = self.strategy.state_dict() if islands is None else {}
        fused = None
        if self.chunked is not None:  # issue 21: the fused step holds the population
            strategy_state = self.chunked.strategy_state() or strategy_state
            fused = encode_state(self.chunked.state_dict())
        state = {
            "strategy": encode_state(strategy_state),
            "islands": None if islands is None else islands.state_dict(),
            "fused": fused,
            "rng": self.rng.bit_generator.state,
            "counters": {
                "cost": self.cost,
                "fec_hits": self.fec_hits,
                "early_stopped": self.early_stopped,
                "errors": self.errors,
            },
            "best": None if self.best is None else self.best.id,
            "best_select": self.best_select,
            "max_select": self.max_select,
            "elapsed": self.elapsed(),
            "pending": [
                {
                    "genome": to_text(c.genome),
                    "parent_id": c.parent_id,
                    "mutation": c.mutation,
                    "parent2_id": c.parent2_id,
                    "reevaluates": c.reevaluates,
                }
                for c in pending
            ],
        }
        self.store.checkpoint(self.n, state)
        if self.inheritance is not None and islands is None:
            referenced = list(self.strategy.referenced_ids(strategy_state))
            if self.best is not None:
                referenced.append(self.best.id)
            self.inheritance.collect(referenced, pending)
        self._write_best()

    def _write_best(self) -> None:
        best = self.best
        if best is None:
            return
        describe = self.setup.describe
        write_best(
            self.run_dir,
            best,
            self.space.to_text(best.genome),
            select=self.best_select,
            individuals=self.n,
            description=None if describe is None else describe(best.genome),
        )

    def snapshot(self, status: str = "running") -> Snapshot:
        """The figures the progress display shows."""
        if self.archipelago is not None:
            fitness = self.archipelago.population_fitness()
        elif self.chunked is not None:  # issue 21
            fitness = self.chunked.population_fitness(self)
        else:
            fitness = [ind.fitness for ind in self.strategy.population]
        return Snapshot(
            evaluated=self.n,
            elapsed=self.elapsed(),
            fec_hit_rate=(
                self.fec_hits / self.n
                if isinstance(self.evaluator, CachedEvaluator) and self.n
                else None
            ),
            best_fitness=None if self.best is None else self.best.fitness,
            median_fitness=_median(fitness),
            best_select=self.max_select,
            status=status,
            cost=self.cost,  # issue 18: lets progress show a max_cost budget's share
        )

    # -- the loop ----------------------------------------------------------------

    def run(self) -> RunResult:
        """Search until a stop condition (or Ctrl-C, or SIGTERM), checkpoint,
        close the store and unlock the run directory.

        A first Ctrl-C or SIGTERM stops after the evaluations in hand are
        stored; a second one stops at once, except while a checkpoint is being
        written (it waits for that). Either way the final checkpoint lets
        `resume` go on, and the store is marked interrupted, not running.
        A store that cannot be written (a full disk) raises `StoreError` and
        loses nothing already checkpointed.
        """
        self._t0 = time.monotonic()
        previous_handlers = self._install_signal_handlers()
        islands = self.archipelago
        backend: Backend | IslandBackend | None = None
        try:
            self.store.set_meta(status="running")
            self.store.event(
                "start", {"individuals": self.n, "max_individuals": self.stop.max_individuals}
            )
            consistent = True
            try:
                if self.chunked is not None:  # issue 21: the fused step, in the driver
                    reason = self.chunked.loop(self)
                elif islands is None:
                    backend = self._make_backend()
                    backend.start(self.evaluator)
                    reason = self._loop(backend)
                else:
                    backend = self._make_island_backend()
                    reason = islands.loop(self, backend)
                self._enter_final()
            except KeyboardInterrupt:
                self._enter_final()
                reason = INTERRUPTED
                # Interrupted halfway through changing state: the last periodic
                # checkpoint is the consistent one, keep it.
                consistent = not self._busy
            self.store.event("stop", {"reason": reason, "individuals": self.n})
            if consistent:
                self.checkpoint()
            status = INTERRUPTED if reason == INTERRUPTED else "finished"
            self.store.set_meta(
                status=status, stop_reason=reason, elapsed=self.elapsed(), individuals=self.n
            )
        except BaseException as exc:
            self._enter_final()
            failed = INTERRUPTED if isinstance(exc, KeyboardInterrupt) else "failed"
            # A full disk may refuse this too; the error in hand is the one to report.
            with contextlib.suppress(StoreError):
                self.store.set_meta(status=failed, error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.store.close()
            if backend is not None:
                backend.close()
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
            self.close()
        self.progress.close(self.snapshot(status))
        return RunResult(
            run_dir=self.run_dir,
            n_individuals=self.n,
            stop_reason=reason,
            best=self.best,
            best_select=self.best_select,
            elapsed=self.elapsed(),
            cost=self.cost,
            signal=self._signal,
        )

    def close(self) -> None:
        """Unlock the run directory (`run` does this when it ends; call it for
        a run made but never run)."""
        self.store.close()  # idempotent
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def _enter_final(self) -> None:
        """From here to the end of `run` a further signal waits (for the final
        checkpoint and the store's status) instead of interrupting them."""
        if not self._final:
            self._final = True
            self._critical += 1

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}  # only the main thread may set handlers
        return {signum: signal.signal(signum, self._on_stop_signal) for signum in _STOP_SIGNALS}

    def _on_stop_signal(self, signum: int, frame: Any) -> None:
        if self._stop_reason == INTERRUPTED:  # the second one: stop now
            if self._critical:
                self._stop_now = True  # `_checkpoint` raises once it is written
                return
            raise KeyboardInterrupt
        self._stop_reason = INTERRUPTED
        self._signal = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        print(
            f"\nstopping after the evaluations in hand ({name} again to stop now)",
            file=sys.stderr,
        )

    def stop_check(self) -> str | None:
        """Why the run should stop now: a stop signal, or a `StopRules` rule the
        counters already meet (e.g. when resuming); None to go on."""
        if self._stop_reason is not None:
            return self._stop_reason
        return self.stop.reason(
            self.n, self.cost, self._best_fitness, self.max_select, self.elapsed()
        )

    def _current_budget(self) -> Budget:
        if self.hurdle is None:
            return _NO_HURDLE
        value = self.hurdle.value
        if value != self._budget.hurdle:
            self._budget = Budget(hurdle=value)
        return self._budget

    def _loop(self, backend: Backend) -> str:
        # The hot path: every per-individual step here counts toward the
        # engine's ~20 us budget, hence the bound methods held in locals.
        ask, tell, hurdle = self.strategy.ask, self.strategy.tell, self.hurdle
        submit, results = backend.submit, backend.results
        add, to_text = self.store.add, self.space.to_text
        in_flight = self._in_flight
        stop = self.stop
        max_n, max_cost, max_seconds = stop.max_individuals, stop.max_cost, stop.max_seconds
        capacity = backend.capacity
        reason = self.stop_check()
        if reason is not None:
            return reason
        inheritance = self.inheritance
        job = stored = None
        if inheritance is not None:
            job, stored = inheritance.job, inheritance.stored
            owners = [i for i in inheritance.store.ids() if i <= self.n]
            inheritance.restart(self.n, self._fitness_of(owners))
        key = 0
        for candidate in self._pending:
            in_flight[key] = candidate
            submit(
                key,
                candidate.genome if job is None else job(key, candidate),
                self._current_budget(),
            )
            key += 1
        self._pending = []
        with Pacer(self) as pacer:
            while True:
                room = min(capacity, max_n - self.n) - len(in_flight)
                if room > 0 and self._stop_reason is None:
                    self._busy = True
                    budget = self._current_budget()
                    for candidate in ask(room):
                        in_flight[key] = candidate
                        submit(
                            key, candidate.genome if job is None else job(key, candidate), budget
                        )
                        key += 1
                    self._busy = False
                if not in_flight:
                    if self._stop_reason is not None:
                        return self._stop_reason
                    raise RuntimeError(f"{self.strategy.name} proposed nothing, nothing in flight")
                done = results()

                self._busy = True
                created = time.time()
                n = self.n
                told = []
                for k, evaluation, worker in done:
                    candidate = in_flight.pop(k)
                    n += 1
                    if stored is not None:
                        stored(k, n, evaluation.fitness if evaluation.error is None else -math.inf)
                    told.append(
                        Individual(
                            n,
                            candidate.genome,
                            evaluation,
                            candidate.parent_id,
                            candidate.mutation,
                            worker=worker,
                            created=created,
                            parent2_id=candidate.parent2_id,
                        )
                    )
                self.n = n
                delta = tell(told)
                if hurdle is not None:
                    hurdle.update(
                        [ind.evaluation.fitness for ind in delta.joined],
                        [ind.evaluation.fitness for ind in delta.left],
                    )
                for ind in told:
                    ev = ind.evaluation
                    add(ind, to_text(ind.genome))
                    self.cost += ev.cost
                    if ev.fec_hit:
                        self.fec_hits += 1
                    if ev.early_stopped:
                        self.early_stopped += 1
                    if ev.error is not None:
                        self.errors += 1  # a failure is never the best, whatever the signs
                    elif ev.fitness > self._best_fitness:
                        self._new_best(ind)
                self._busy = False

                if self._stop_reason is not None:
                    return self._stop_reason
                if n >= max_n:
                    return "max_individuals"
                if max_cost is not None and self.cost >= max_cost:
                    return "max_cost"
                if pacer.step() and max_seconds is not None and self.elapsed() >= max_seconds:
                    return "max_seconds"

    def _fitness_of(self, ids: list[int]) -> list[tuple[float, int]]:
        """(fitness, id) of stored individuals, for the artefacts' fittest few."""
        rows = self.store.individuals(set(ids)).items() if ids else ()
        return [(ind.fitness, i) for i, (ind, _) in rows if ind.evaluation.error is None]

    def offer_best(self, ind: Individual) -> bool:
        """Make ``ind``, just stored, the run's best if it is valid and fitter
        than the best so far: a ``new_best`` event, its select fitness (where
        the domain has a selector) and maybe a stop (``stop_fitness``,
        ``stop_select_fitness``). True if it became the best."""
        if ind.evaluation.error is not None or not ind.fitness > self._best_fitness:
            return False
        self._new_best(ind)
        return True

    def _new_best(self, ind: Individual) -> None:
        self.best = ind
        self._best_fitness = ind.fitness
        select, error = None, None
        if self.setup.selector is not None:
            try:
                select = float(self.setup.selector(ind.genome))
            except Exception as exc:  # a degenerate genome must not stop the run
                error = f"{type(exc).__name__}: {exc}"
            if select is not None and not math.isfinite(select):
                select, error = None, f"non-finite select fitness {select}"
            if select is not None and (self.max_select is None or select > self.max_select):
                self.max_select = select
        self.best_select = select
        event = {
            "id": ind.id,
            "fitness": ind.fitness,
            "select_fitness": select,
            "elapsed": self.elapsed(),
            "individuals": ind.id,  # ids are contiguous: the count evaluated so far
        }
        if error is not None:
            event["select_error"] = error
        self.store.event("new_best", event)
        if self._stop_reason is None:
            self._stop_reason = self.stop.after_best(ind.fitness, select)
