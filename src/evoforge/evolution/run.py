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
    >>> from evoforge.domains import DomainSetup
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

import dataclasses
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.config import ConfigError, ExperimentConfig, load_config
from evoforge.domains import DomainSetup, build_domain
from evoforge.evolution.archipelago import Archipelago, IslandPlan, plan_islands
from evoforge.evolution.backends import Backend, is_batched, make_backend
from evoforge.evolution.fec import CachedEvaluator
from evoforge.evolution.hurdles import Hurdle
from evoforge.evolution.island_backends import IslandBackend, make_island_backend
from evoforge.evolution.pacing import Pacer
from evoforge.evolution.progress import NullProgress, Progress, Snapshot
from evoforge.evolution.space import Budget, Evaluator, Fingerprinter, Individual
from evoforge.evolution.store import RunStore, StoreError
from evoforge.evolution.strategies import (
    Candidate,
    Strategy,
    decode_state,
    encode_state,
    get_strategy,
    make_strategy,
)

log = logging.getLogger(__name__)

CONFIG_FILE = "config.toml"
STORE_FILE = "run.sqlite"
BEST_FILE = "best.txt"

INTERRUPTED = "interrupted"
_NO_HURDLE = Budget()


class RunDirError(Exception):
    """The run directory cannot be used (not empty, missing, not a run)."""


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

    @property
    def interrupted(self) -> bool:
        return self.stop_reason == INTERRUPTED


def _without_unusable_fec(config: ExperimentConfig, setup: DomainSetup) -> ExperimentConfig:
    """Turn the FEC off (and say so in the resolved config) if the evaluator
    cannot fingerprint: the cache is an optimisation, not a requirement."""
    if not config.search.fec.enabled or isinstance(setup.evaluator, Fingerprinter):
        return config
    log.info("FEC disabled: the %s evaluator has no fingerprint()", config.run.domain)
    fec = dataclasses.replace(config.search.fec, enabled=False)
    resolved = {**config.resolved, "search": {**config.resolved["search"]}}
    resolved["search"]["fec"] = {**resolved["search"]["fec"], "enabled": False}
    search = dataclasses.replace(config.search, fec=fec)
    return dataclasses.replace(config, search=search, resolved=resolved)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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
        config: ExperimentConfig,
        setup: DomainSetup,
        store: RunStore,
        progress: Progress | None = None,
        islands: list[IslandPlan] | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.config = config
        self.setup = setup
        self.space = setup.space
        self.store = store
        self.progress: Progress = progress or NullProgress()
        self.rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(config.run.seed).spawn(1)[0])
        )
        self.strategy: Strategy = make_strategy(
            config.search.strategy, self.space, self.rng, **config.search.params
        )
        evaluator: Evaluator = setup.evaluator
        if config.search.fec.enabled and isinstance(evaluator, Fingerprinter):
            evaluator = CachedEvaluator(evaluator, config.search.fec.capacity)
        self.evaluator = evaluator
        self.hurdle = (
            Hurdle(config.search.hurdle.percentile, config.search.population_size)
            if config.search.hurdle.enabled
            else None
        )
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
        self._budget = _NO_HURDLE
        # The island model: islands evolve in workers; `strategy` then stays unused.
        self.archipelago = Archipelago(config, islands) if islands else None

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
        """A new run in ``run_dir`` (absent or empty). The domain is built (and
        so validated) before anything is written."""
        run_dir = Path(run_dir)
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise RunDirError(
                f"{run_dir}: exists and is not empty; choose another output directory"
                f" or continue it with `evoforge resume {run_dir}`"
            )
        if setup is None:
            setup = build_domain(config)
        config = _without_unusable_fec(config, setup)
        try:  # e.g. a strategy that needs crossover on a space without it
            make_strategy(
                config.search.strategy, setup.space, np.random.default_rng(0),
                **config.search.params,
            )  # fmt: skip
        except ValueError as exc:
            raise ConfigError("search.strategy", str(exc), config.source) from None
        if config.search.fec.enabled and get_strategy(config.search.strategy).reevaluates:
            raise ConfigError(
                "search.fec.enabled",
                f"strategy {config.search.strategy!r} re-evaluates individuals (noisy fitness),"
                " and the cache would replay their first evaluation: set it to false",
                config.source,
            )
        islands = plan_islands(config, setup) if config.search.islands.count else None
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / CONFIG_FILE).write_text(config.resolved_toml(setup.resolved_config))
        store = RunStore.create(run_dir / STORE_FILE)
        store.set_meta(domain=config.run.domain, seed=config.run.seed, status="created")
        for plan in islands or ():
            store.event(
                "island",
                {
                    "island": plan.index,
                    "population_size": plan.population_size,
                    "overrides": plan.overrides,
                },
            )
        run = cls(run_dir, config, setup, store, progress, islands)
        run._checkpoint()
        return run

    @classmethod
    def resume(
        cls,
        run_dir: str | Path,
        *,
        max_individuals: int | None = None,
        progress: Progress | None = None,
    ) -> Run:
        """Reopen a run directory at its last checkpoint, optionally raising
        ``run.max_individuals`` (saved back into its ``config.toml``)."""
        run_dir = Path(run_dir)
        config_path, store_path = run_dir / CONFIG_FILE, run_dir / STORE_FILE
        if not run_dir.is_dir():
            raise RunDirError(f"{run_dir}: no such run directory")
        if not (config_path.is_file() and store_path.is_file()):
            raise RunDirError(
                f"{run_dir}: not a run directory (expected {CONFIG_FILE} and {STORE_FILE})"
            )
        overrides = {} if max_individuals is None else {"run.max_individuals": max_individuals}
        config = load_config(config_path, overrides)
        setup = build_domain(config)
        islands = plan_islands(config, setup) if config.search.islands.count else None
        store = RunStore.open(store_path)
        try:
            checkpoint = store.latest_checkpoint()
            if checkpoint is None:
                raise StoreError(f"{store_path}: holds no checkpoint")
            run = cls(run_dir, config, setup, store, progress, islands)
            run._restore(*checkpoint)
        except BaseException:
            store.close()
            raise
        if overrides:
            _write_atomic(config_path, config.resolved_toml(setup.resolved_config))
        return run

    def _restore(self, n: int, state: Mapping[str, Any]) -> None:
        if self.store.max_id() != n:
            raise StoreError(
                f"{self.store.path}: checkpoint covers {n} individuals"
                f" but the store holds {self.store.max_id()}"
            )
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
        individuals = {}
        for i, (ind, text) in self.store.individuals(ids).items():
            ind.genome = self.space.from_text(text)
            individuals[i] = ind
        if self.archipelago is None:
            self.strategy.load_state_dict(strategy_state, individuals)
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
            self.evaluator.cache.warm(self.store.fec_entries(self.evaluator.cache.capacity))
        if self.hurdle is not None:
            self.hurdle.reset(ind.fitness for ind in self.strategy.population)

    # -- state -------------------------------------------------------------------

    def elapsed(self) -> float:
        """Wall-clock seconds over all sessions of this run."""
        return self._elapsed_before + time.monotonic() - self._t0

    def _checkpoint(self) -> None:
        to_text = self.space.to_text
        pending = [*self._in_flight.values(), *self._pending]
        islands = self.archipelago
        state = {
            "strategy": encode_state(self.strategy.state_dict()) if islands is None else {},
            "islands": None if islands is None else islands.state_dict(),
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
        self._write_best()

    def _write_best(self) -> None:
        best = self.best
        if best is None:
            return
        header = [
            "evoforge best individual",
            f"id: {best.id}",
            f"fitness: {best.fitness!r}",
        ]
        if self.best_select is not None:
            header.append(f"select_fitness: {self.best_select!r}")
        header += [
            f"individuals_evaluated: {self.n}",
            f"parent_id: {best.parent_id}",
            f"mutation: {best.mutation}",
        ]
        if self.setup.describe is not None:
            header += ["description:", *self.setup.describe(best.genome).splitlines()]
        text = "".join(f"# {line}\n" for line in header)
        _write_atomic(self.run_dir / BEST_FILE, f"{text}\n{self.space.to_text(best.genome)}\n")

    def snapshot(self, status: str = "running") -> Snapshot:
        """The figures the progress display shows."""
        if self.archipelago is not None:
            fitness = self.archipelago.population_fitness()
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
            median_fitness=float(np.median(fitness)) if fitness else None,
            best_select=self.max_select,
            status=status,
        )

    # -- the loop ----------------------------------------------------------------

    def run(self) -> RunResult:
        """Search until a stop condition (or Ctrl-C), checkpoint, close the store.

        A first Ctrl-C stops after the evaluations in hand are stored; a second
        one stops at once. Either way the final checkpoint lets `resume` go on.
        """
        self._t0 = time.monotonic()
        rc = self.config.run
        self.store.set_meta(status="running")
        self.store.event("start", {"individuals": self.n, "max_individuals": rc.max_individuals})
        previous_handler = self._install_sigint()
        islands = self.archipelago
        backend: Backend | IslandBackend | None = None
        try:
            consistent = True
            try:
                if islands is None:
                    backend = make_backend(
                        rc.backend,
                        rc.workers,
                        chunk_size=rc.chunk_size,
                        in_flight_per_worker=rc.in_flight_per_worker,
                        eval_timeout=rc.eval_timeout,
                        devices=rc.devices,
                        ray_address=rc.ray_address,
                        population_size=self.config.search.population_size,
                        batched=is_batched(self.evaluator),
                    )
                    backend.start(self.evaluator)
                    reason = self._loop(backend)
                else:
                    backend = make_island_backend(rc.backend, rc.ray_address)
                    reason = islands.loop(self, backend)
            except KeyboardInterrupt:
                reason = INTERRUPTED
                # Interrupted halfway through changing state: the last periodic
                # checkpoint is the consistent one, keep it.
                consistent = not self._busy
            self.store.event("stop", {"reason": reason, "individuals": self.n})
            if consistent:
                self._checkpoint()
        except BaseException as exc:
            self.store.set_meta(status="failed", error=f"{type(exc).__name__}: {exc}")
            self.store.close()
            raise
        finally:
            if backend is not None:
                backend.close()
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
        status = INTERRUPTED if reason == INTERRUPTED else "finished"
        self.store.set_meta(
            status=status, stop_reason=reason, elapsed=self.elapsed(), individuals=self.n
        )
        self.store.close()
        self.progress.close(self.snapshot(status))
        return RunResult(
            run_dir=self.run_dir,
            n_individuals=self.n,
            stop_reason=reason,
            best=self.best,
            best_select=self.best_select,
            elapsed=self.elapsed(),
            cost=self.cost,
        )

    def _install_sigint(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_sigint(signum: int, frame: Any) -> None:
            if self._stop_reason == INTERRUPTED:
                raise KeyboardInterrupt
            self._stop_reason = INTERRUPTED
            print(
                "\nstopping after the evaluations in hand (Ctrl-C again to stop now)",
                file=sys.stderr,
            )

        return signal.signal(signal.SIGINT, on_sigint)

    def _stop_check(self) -> str | None:
        """A stop condition already met by the counters (e.g. when resuming)."""
        rc = self.config.run
        if self._stop_reason is not None:
            return self._stop_reason
        if self.n >= rc.max_individuals:
            return "max_individuals"
        if rc.max_cost is not None and self.cost >= rc.max_cost:
            return "max_cost"
        if rc.stop_fitness is not None and self._best_fitness >= rc.stop_fitness:
            return "stop_fitness"
        if (
            rc.stop_select_fitness is not None
            and self.max_select is not None
            and self.max_select >= rc.stop_select_fitness
        ):
            return "stop_select_fitness"
        if rc.max_seconds is not None and self.elapsed() >= rc.max_seconds:
            return "max_seconds"
        return None

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
        rc = self.config.run
        ask, tell, hurdle = self.strategy.ask, self.strategy.tell, self.hurdle
        submit, results = backend.submit, backend.results
        add, to_text = self.store.add, self.space.to_text
        in_flight = self._in_flight
        max_n, max_cost = rc.max_individuals, rc.max_cost
        capacity = backend.capacity
        reason = self._stop_check()
        if reason is not None:
            return reason
        key = 0
        for candidate in self._pending:
            in_flight[key] = candidate
            submit(key, candidate.genome, self._current_budget())
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
                        submit(key, candidate.genome, budget)
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
                        self.errors += 1
                    if ev.fitness > self._best_fitness:
                        self._new_best(ind)
                self._busy = False

                if self._stop_reason is not None:
                    return self._stop_reason
                if n >= max_n:
                    return "max_individuals"
                if max_cost is not None and self.cost >= max_cost:
                    return "max_cost"
                if pacer.step() and rc.max_seconds is not None and self.elapsed() >= rc.max_seconds:
                    return "max_seconds"

    def _new_best(self, ind: Individual) -> None:
        rc = self.config.run
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
            if rc.stop_fitness is not None and ind.fitness >= rc.stop_fitness:
                self._stop_reason = "stop_fitness"
            elif (
                select is not None
                and rc.stop_select_fitness is not None
                and select >= rc.stop_select_fitness
            ):
                self._stop_reason = "stop_select_fitness"
