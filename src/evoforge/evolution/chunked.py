"""The chunked driver: one population evolved by a domain's fused, compiled step.

With ``run.engine = "fused"`` a `Run` hands its loop to `ChunkedDriver`. The
initial population is made, evaluated and stored by the readable path (the
strategy's ``ask``/``tell``, the cached evaluator, the hurdle), one
individual at a time as `Run._loop` does; from then on the domain's fused
step (`FusedStep`, e.g. `evoforge.automl_zero.fused.FusedSearch`) makes whole
chunks of children per call and the driver sees only their arrays: it buffers
them into the store as compact rows, updates the counters and the best, and
checkpoints between chunks. The checkpoint holds the population arrays (in
the strategy-state encoding, no pickle) next to the generator's state; the
cache is rebuilt from the stored rows exactly as the loop rebuilds its own.

Like islands, the driver uses only `Run`'s public members.

`experiment_individuals` turns on the reference demo's restarts
(``run_search_experiment.cc``): each experiment starts from a fresh initial
population and an empty cache and ends after that many individuals; at its
end the fittest member of its population is scored by the domain's selector,
and the run stops once one reaches ``stop_select_fitness`` (or after
``max_experiments``). With ``randomize_task_seeds`` each experiment also gets
its own tasks, which the domain redraws from the run's seed and the
experiment's index (`DomainSetup.for_experiment`, `ChunkedDriver.redraw_tasks`).

Example:
    >>> from evoforge.config import parse_config
    >>> cfg = parse_config({"run": {"domain": "x", "engine": "fused"}})
    >>> cfg.run.engine
    'fused'
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from evoforge.config import ConfigError, ExperimentConfig
from evoforge.evolution.fec import CachedEvaluator
from evoforge.evolution.pacing import Pacer
from evoforge.evolution.space import Budget, DomainSetup, Evaluation, Individual

if TYPE_CHECKING:
    from evoforge.evolution.run import Run

#: Children per fused call: large enough that the call's Python cost (~30 us)
#: vanishes, small enough that progress and Ctrl-C answer within a tick.
CHUNK = 2048


class FusedStep(Protocol):
    """What a domain's fused step offers the driver (see `FusedSearch`)."""

    P: int

    def admit(self, ind_id: int, genome: Any, evaluation: Evaluation, fingerprint: Any) -> None: ...
    def set_population(self, members: Sequence[tuple[int, Any, float]], head: int) -> None: ...
    def warm(self, pairs: Any) -> None: ...
    def step(
        self, rng: np.random.Generator, first_id: int, n: int, stop_above: float, cost_limit: int
    ) -> Any: ...
    def columns(self, chunk: Any) -> dict[str, Any]: ...
    def individual(self, chunk: Any, i: int) -> Individual: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...
    def slot_ids(self) -> list[int]: ...
    def population_fitness(self) -> list[float]: ...
    def reset(self) -> None: ...


def make_chunked(config: ExperimentConfig, setup: DomainSetup, evaluator: Any) -> ChunkedDriver:
    """The driver for ``run.engine = "fused"``, or `ConfigError` naming the key
    of whatever the fused step cannot do."""
    rc, search = config.run, config.search

    def refuse(key: str, why: str) -> ConfigError:
        return ConfigError(key, f"run.engine = 'fused' {why}", config.source)

    if search.strategy != "regularized_evolution":
        raise refuse("search.strategy", "runs regularized_evolution only")
    if search.islands.count:
        raise refuse("search.islands.count", "runs one population: islands use the loop")
    if rc.backend != "serial":
        raise refuse("run.backend", "evaluates in the driver: set backend = 'serial'")
    if search.params.get("quality_gate") is not None:
        raise refuse("search.quality_gate", "has no quality gate")
    make = getattr(setup.space, "fused_search", None)
    if make is None:
        raise refuse("run.engine", f"needs a domain with a fused step ({rc.domain} has none)")
    make_fused = functools.partial(
        make,
        population_size=int(search.params.get("population_size", 100)),
        tournament_size=int(search.params.get("tournament_size", 10)),
        mutation_prob=float(search.params.get("mutation_prob", 0.9)),
        fec_capacity=search.fec.capacity if search.fec.enabled else None,
        hurdle_percentile=search.hurdle.percentile if search.hurdle.enabled else None,
    )
    try:
        fused = make_fused(setup.evaluator)
    except ValueError as exc:
        raise refuse(f"{rc.domain}", str(exc)) from None
    if rc.experiment_individuals is not None and rc.experiment_individuals <= fused.P:
        raise ConfigError(
            "run.experiment_individuals",
            f"expected more than the population ({fused.P}), got {rc.experiment_individuals}",
            config.source,
        )
    driver = ChunkedDriver(fused, rc.experiment_individuals, rc.max_experiments)
    if rc.randomize_task_seeds:  # `setup` is experiment 0's (`build_run_parts`)
        driver.redraw_tasks(setup.for_experiment, make_fused)
    return driver


class ChunkedDriver:
    """Runs a `Run` with a `FusedStep` (see the module docstring)."""

    def __init__(
        self, fused: FusedStep, experiment_individuals: int | None = None, max_experiments: int = 0
    ) -> None:
        self.fused = fused
        self.experiment_individuals = experiment_individuals
        self.max_experiments = max_experiments
        self.chunk = CHUNK
        # With restarts: the select fitness that ends the run (checked per experiment).
        self.target: float | None = None
        self._ready = False  # the fused population is complete and current
        # run.randomize_task_seeds: (each experiment's setup, a fused step for its evaluator).
        self._redraw: tuple[Callable[[int], DomainSetup], Callable[[Any], FusedStep]] | None = None
        self._experiment = 0  # whose tasks the run's evaluator, selector and fused step hold

    def redraw_tasks(
        self, for_experiment: Callable[[int], DomainSetup], make_fused: Callable[[Any], FusedStep]
    ) -> None:
        """Give every experiment its own tasks (``run.randomize_task_seeds``):
        at each experiment's start (and on resume) the run's evaluator and
        selector become ``for_experiment(k)``'s and the fused step is made
        afresh for that evaluator by ``make_fused``. The driver starts with
        experiment 0's in place.

        Example (a run resumed in experiment 2 gets that experiment's tasks):
            >>> from types import SimpleNamespace
            >>> driver = ChunkedDriver(None, experiment_individuals=200)
            >>> driver.redraw_tasks(lambda k: SimpleNamespace(evaluator=f"tasks {k}"),
            ...                     lambda evaluator: f"fused step on {evaluator}")
            >>> run = SimpleNamespace(n=450, setup=None, evaluator=None)
            >>> driver.load_state_dict(None, run)
            >>> run.evaluator, driver.fused
            ('tasks 2', 'fused step on tasks 2')
        """
        self._redraw = (for_experiment, make_fused)

    # -- checkpoint state --------------------------------------------------------

    def strategy_state(self) -> dict[str, Any]:
        """The strategy-shaped state (`RegularizedEvolution.state_dict`) the
        checkpoint records, so that resume finds the members by id."""
        if not self._ready:
            return {}
        return {"slots": self.fused.slot_ids(), "head": self.fused.head,
                "initial_asked": self.fused.P}  # fmt: skip

    def state_dict(self) -> dict[str, Any] | None:
        return self.fused.state_dict() if self._ready else None

    def load_state_dict(self, state: Mapping[str, Any] | None, run: Run) -> None:
        """Restore from a checkpoint's ``fused`` entry (None: the population was
        not complete, the strategy holds it), with the tasks of the experiment
        in progress."""
        if self.experiment_individuals is not None:
            self._use_experiment(run, run.n // self.experiment_individuals)
        if state is None:
            return
        self.fused.load_state_dict(state)
        self._warm(run)
        self._ready = True

    def population_fitness(self, run: Run) -> list[float]:
        if self._ready:
            return self.fused.population_fitness()
        return [ind.fitness for ind in run.strategy.population]

    def _warm(self, run: Run) -> None:
        fused = self.fused
        if getattr(fused, "fec_on", False):
            fused.warm(run.store.fec_entries(fused.fec_capacity, since=self.experiment_start(run)))

    def experiment_start(self, run: Run) -> int:
        """The first id of the current experiment (1 without restarts): the
        cache a restart emptied holds only the rows from here on.

        Example:
            >>> from types import SimpleNamespace
            >>> ChunkedDriver(None, experiment_individuals=200).experiment_start(
            ...     SimpleNamespace(n=450))
            401
        """
        if self.experiment_individuals is None:
            return 1
        return (run.n // self.experiment_individuals) * self.experiment_individuals + 1

    def _at_experiment_end(self, run: Run) -> bool:
        return (
            self.experiment_individuals is not None
            and run.n > 0
            and (run.n % self.experiment_individuals == 0)
        )

    def _use_experiment(self, run: Run, experiment: int) -> None:
        """Swap in ``experiment``'s evaluator, selector and a fresh fused step
        (`redraw_tasks`); nothing without it, or if they are in place."""
        if self._redraw is None or experiment == self._experiment:
            return
        for_experiment, make_fused = self._redraw
        setup = for_experiment(experiment)
        run.setup = setup  # its selector scores this experiment's bests and winner
        evaluator = run.evaluator
        if isinstance(evaluator, CachedEvaluator):  # the initial population's readable path
            run.evaluator = CachedEvaluator(setup.evaluator, evaluator.cache.capacity)
        else:
            run.evaluator = setup.evaluator
        self.fused = make_fused(setup.evaluator)
        self._experiment = experiment

    # -- the loop ----------------------------------------------------------------

    def loop(self, run: Run) -> str:
        """Search until a stop rule; returns the reason."""
        reason = run.stop_check()
        if reason is not None:
            return reason
        if self._ready and self._at_experiment_end(run):
            # Resumed where an experiment ended and stopped the run (its winner
            # passed stop_select_fitness, since raised): its end is recorded,
            # so the search goes on with the next experiment, not its population.
            self._start_experiment(run, run.n // self.experiment_individuals)
        max_n = run.config.run.max_individuals
        stop = run.stop
        watch_best = stop.stop_fitness is not None or stop.stop_select_fitness is not None
        with Pacer(run) as pacer:
            while True:
                if not self._ready:
                    reason = self._initial(run, pacer)
                    if reason is not None:
                        return reason
                    continue
                n = min(self.chunk, max_n - run.n)
                if self.experiment_individuals is not None:
                    n = min(n, self.experiment_individuals - run.n % self.experiment_individuals)
                cost_limit = 2**62
                if stop.max_cost is not None:
                    cost_limit = stop.max_cost - run.cost
                stop_above = run.best_fitness if watch_best else math.inf
                with run.changing_state():
                    chunk = self.fused.step(run.rng, run.n + 1, n, stop_above, cost_limit)
                    self._store(run, chunk)
                reason = self._after_batch(run, pacer)
                if reason is not None:
                    return reason

    def _after_batch(self, run: Run, pacer: Pacer) -> str | None:
        stop = run.stop
        if self._at_experiment_end(run):
            # A Ctrl-C halfway through the restart must not checkpoint a
            # half-reset population: the last periodic checkpoint stands.
            with run.changing_state():
                reason = self._end_experiment(run)
            if reason is not None:
                return reason
        reason = run.stop_check()
        if reason is not None:
            return reason
        if run.n >= run.config.run.max_individuals:
            return "max_individuals"
        if stop.max_cost is not None and run.cost >= stop.max_cost:
            return "max_cost"
        if pacer.step() and stop.max_seconds is not None and run.elapsed() >= stop.max_seconds:
            return "max_seconds"
        return None

    def _initial(self, run: Run, pacer: Pacer) -> str | None:
        """Members of the initial population, one at a time by the readable
        path, until it is complete; then the fused step takes them over."""
        strategy, evaluator, hurdle = run.strategy, run.evaluator, run.hurdle
        size = self.fused.P
        while len(strategy.population) < size:
            with run.changing_state():
                (candidate,) = strategy.ask(1)
                value = None if hurdle is None else hurdle.value
                evaluation = evaluator.evaluate(candidate.genome, Budget(hurdle=value))
                ind = Individual(run.n + 1, candidate.genome, evaluation, None, None, worker=0,
                                 created=time.time())  # fmt: skip
                delta = strategy.tell([ind])
                if hurdle is not None:
                    hurdle.update(
                        [i.fitness for i in delta.joined], [i.fitness for i in delta.left]
                    )
                run.store.add_chunk(self.fused.columns(self.fused.single(ind)))
                run.n += 1
                self._count(run, [ind])
            reason = self._after_batch(run, pacer)
            if reason is not None:
                return reason
        state = strategy.state_dict()
        members = [strategy.member(slot) for slot in range(size)]
        self.fused.set_population(
            [(m.id, m.genome, m.fitness) for m in members], int(state["head"])
        )
        if isinstance(evaluator, CachedEvaluator):
            self.fused.warm(evaluator.cache.entries())
        self._ready = True
        return None

    def _store(self, run: Run, chunk: Any) -> None:
        first = run.n + 1
        columns = self.fused.columns(chunk)
        run.store.add_chunk(columns)
        run.n += len(chunk)
        run.cost += int(np.sum(columns["cost"]))
        run.fec_hits += int(np.sum(columns["fec_hit"]))
        run.early_stopped += int(np.sum(columns["early_stopped"]))
        # New bests in id order, as the loop offers them one by one.
        fitness = np.asarray(columns["fitness"])
        before = np.maximum.accumulate(np.concatenate(([run.best_fitness], fitness)))[:-1]
        for i in np.flatnonzero(fitness > before).tolist():
            run.offer_best(self.fused.individual(chunk, i, first + i))

    @staticmethod
    def _count(run: Run, told: list[Individual]) -> None:
        for ind in told:
            ev = ind.evaluation
            run.cost += ev.cost
            run.fec_hits += int(ev.fec_hit)
            run.early_stopped += int(ev.early_stopped)
            if ev.error is not None:
                run.errors += 1
            else:
                run.offer_best(ind)

    def _end_experiment(self, run: Run) -> str | None:
        """The reference's end of an experiment: score the fittest member on
        the select tasks, stop if it suffices, else start afresh."""
        experiment = run.n // self.experiment_individuals
        best = self.fused.best_member()
        select = run.setup.selector(best.genome) if run.setup.selector is not None else None
        run.store.event(
            "experiment_end",
            {"experiment": experiment, "individuals": run.n, "best_id": best.id,
             "search_fitness": best.fitness, "select_fitness": select},
        )  # fmt: skip
        target = self.target
        if select is not None and target is not None and select >= target:
            return "stop_select_fitness"
        if self.max_experiments and experiment >= self.max_experiments:
            return "max_experiments"
        self._start_experiment(run, experiment)  # the count ended so far: the next one's index
        return None

    def _start_experiment(self, run: Run, experiment: int) -> None:
        """A fresh experiment: new initial population, empty cache and hurdle."""
        self.fused.reset()
        self._use_experiment(run, experiment)
        run.strategy.load_state_dict({"slots": [], "head": 0, "initial_asked": 0}, {})
        if isinstance(run.evaluator, CachedEvaluator):
            run.evaluator.cache.clear()
        if run.hurdle is not None:
            run.hurdle.reset(())
        self._ready = False
