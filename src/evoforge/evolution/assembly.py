"""One factory from a config to the collaborators a `Run` works with.

`build_run_parts` is the only place that reads the ``[run]`` and ``[search]``
tables to pick the engine's pieces: the run's seeded generator and the
strategy drawing from it, the evaluator wrapped for the FEC cache or for
artefacts, the hurdle, the stop rules, how to make a backend, the islands.
`Run.create` and `Run.resume` call it; a `Run` itself only uses what it is
given, so a caller (a test, a benchmark) may swap a part with
`dataclasses.replace` before handing the parts to `Run`.

Config combinations that cannot work together (a crossover strategy on a
space without crossover, the FEC with a re-evaluating strategy, islands with
an evaluator that keeps artefacts) are refused here with a `ConfigError`,
before a run directory is touched.

Example:
    >>> from pathlib import Path
    >>> from evoforge.config import parse_config
    >>> from evoforge.evolution.space import DomainSetup, Evaluation
    >>> class Ints:
    ...     def initial(self, rng): return int(rng.integers(100))
    ...     def mutate(self, g, rng): return g + int(rng.integers(-3, 4)), "step"
    ...     def to_text(self, g): return str(g)
    ...     def from_text(self, text): return int(text)
    >>> class Near42:  # no fingerprint(): the FEC is turned off
    ...     def evaluate(self, g, budget=None): return Evaluation(1 / (1 + abs(g - 42)))
    >>> cfg = parse_config({"run": {"domain": "ints", "max_individuals": 300}})
    >>> parts = build_run_parts(cfg, DomainSetup(Ints(), Near42()), Path("runs/ints"))
    >>> parts.strategy.name, parts.stop.max_individuals, parts.config.search.fec.enabled
    ('regularized_evolution', 300, False)
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evoforge.config import ConfigError, ExperimentConfig
from evoforge.evolution.archipelago import Archipelago, plan_islands
from evoforge.evolution.artefacts import ARTEFACT_DIR, ArtefactStore, Inheritance, JobEvaluator
from evoforge.evolution.backends import Backend, is_batched, make_backend
from evoforge.evolution.chunked import ChunkedDriver, make_chunked
from evoforge.evolution.domain_source import domain_source
from evoforge.evolution.fec import CachedEvaluator
from evoforge.evolution.hurdles import Hurdle
from evoforge.evolution.island_backends import IslandBackend, make_island_backend
from evoforge.evolution.space import ArtefactEvaluator, DomainSetup, Evaluator, Fingerprinter
from evoforge.evolution.stopping import StopRules
from evoforge.evolution.strategies import Strategy, get_strategy, make_strategy

log = logging.getLogger(__name__)


@dataclass
class RunParts:
    """What a `Run` is made of. ``config`` is the one it records (with the
    FEC turned off where it cannot work); the other fields are the
    collaborators built from it."""

    config: ExperimentConfig
    setup: DomainSetup
    # The run's generator: the strategy draws from it and checkpoints save it.
    rng: np.random.Generator
    strategy: Strategy  # unused by island runs, whose islands hold their own
    evaluator: Evaluator  # wrapped: a `CachedEvaluator` or a `JobEvaluator`
    hurdle: Hurdle | None
    stop: StopRules
    backend: Callable[[], Backend]  # a fresh, unstarted backend for one population
    island_backend: Callable[[], IslandBackend]  # the same for an island run
    archipelago: Archipelago | None  # None: one population
    inheritance: Inheritance | None  # files individuals own, when the evaluator keeps any
    # issue 21: run.engine = "fused" -> the chunked driver of a domain's fused step
    chunked: ChunkedDriver | None = None


def build_run_parts(config: ExperimentConfig, setup: DomainSetup, run_dir: Path) -> RunParts:
    """Build a run's parts from its config and domain; nothing is written
    (the artefact store under ``run_dir`` is made when first used).
    `ConfigError` names the key of a combination that cannot work."""
    config = _without_unusable_fec(config, setup)
    search, rc = config.search, config.run
    if rc.randomize_task_seeds:  # the first experiment redraws its tasks too, as the reference
        setup = _first_experiment(config, setup)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(rc.seed).spawn(1)[0]))
    if setup.use_run_dir is not None:
        setup.use_run_dir(run_dir.resolve())
    try:  # e.g. a strategy that needs crossover on a space without it
        strategy = make_strategy(search.strategy, setup.space, rng, **search.params)
    except ValueError as exc:
        raise ConfigError("search.strategy", str(exc), config.source) from None
    if search.fec.enabled and get_strategy(search.strategy).reevaluates:
        raise ConfigError(
            "search.fec.enabled",
            f"strategy {search.strategy!r} re-evaluates individuals (noisy fitness),"
            " and the cache would replay their first evaluation: set it to false",
            config.source,
        )
    keeps_files = isinstance(setup.evaluator, ArtefactEvaluator)
    if search.islands.count and keeps_files:
        raise ConfigError(
            "search.islands.count",
            f"the {rc.domain} evaluator keeps artefacts (inherited weights),"
            " which island runs do not carry between islands: use one population",
            config.source,
        )
    archipelago = None
    if search.islands.count:
        archipelago = Archipelago(config, plan_islands(config, setup, domain_source().builder))
    evaluator: Evaluator = setup.evaluator
    inheritance = None
    if keeps_files:  # jobs instead of genomes, naming the parents' files
        inheritance = Inheritance(ArtefactStore(run_dir.resolve() / ARTEFACT_DIR))
        evaluator = JobEvaluator(evaluator)
    elif search.fec.enabled:  # `_without_unusable_fec` left it on: it can fingerprint
        evaluator = CachedEvaluator(evaluator, search.fec.capacity)
    backend = functools.partial(
        make_backend,
        rc.backend,
        rc.workers,
        chunk_size=rc.chunk_size,
        in_flight_per_worker=rc.in_flight_per_worker,
        eval_timeout=rc.eval_timeout,
        devices=rc.devices,
        ray_address=rc.ray_address,
        population_size=search.population_size,
        batched=is_batched(evaluator),
    )
    stop = StopRules.from_config(rc)
    chunked = None
    if rc.experiment_individuals is not None and rc.engine != "fused":
        raise ConfigError(
            "run.experiment_individuals", "experiment restarts need run.engine = 'fused'",
            config.source,
        )  # fmt: skip
    if rc.engine == "fused":  # issue 21: the compiled step over chunks
        chunked = make_chunked(config, setup, evaluator)
        if rc.experiment_individuals is not None:
            # As the reference: select fitness is checked at each experiment's end only.
            chunked.target = stop.stop_select_fitness
            stop = dataclasses.replace(stop, stop_select_fitness=None)
    return RunParts(
        config=config,
        setup=setup,
        rng=rng,
        strategy=strategy,
        evaluator=evaluator,
        hurdle=(
            Hurdle(search.hurdle.percentile, search.population_size)
            if search.hurdle.enabled
            else None
        ),
        stop=stop,
        backend=backend,
        island_backend=functools.partial(make_island_backend, rc.backend, rc.ray_address),
        archipelago=archipelago,
        inheritance=inheritance,
        chunked=chunked,
    )


def _first_experiment(config: ExperimentConfig, setup: DomainSetup) -> DomainSetup:
    """``run.randomize_task_seeds``: the setup of experiment 0, whose tasks the
    domain redraws (`DomainSetup.for_experiment`); `ConfigError` where it cannot."""
    if setup.for_experiment is None:
        raise ConfigError(
            "run.randomize_task_seeds",
            f"expected a domain that redraws its tasks per experiment, and {config.run.domain}"
            " cannot (its setup offers no for_experiment): remove the key",
            config.source,
        )
    try:
        return setup.for_experiment(0)
    except ConfigError as exc:  # e.g. an explicit task seed it would ignore
        raise exc.with_source(config.source) from None


def _without_unusable_fec(config: ExperimentConfig, setup: DomainSetup) -> ExperimentConfig:
    """Turn the FEC off (and say so in the resolved config) if the evaluator
    cannot fingerprint, or keeps artefacts (a cache hit would leave the child
    without files): the cache is an optimisation, not a requirement."""
    keeps_files = isinstance(setup.evaluator, ArtefactEvaluator)
    if not config.search.fec.enabled or (
        isinstance(setup.evaluator, Fingerprinter) and not keeps_files
    ):
        return config
    why = "keeps artefacts" if keeps_files else "has no fingerprint()"
    log.info("FEC disabled: the %s evaluator %s", config.run.domain, why)
    fec = dataclasses.replace(config.search.fec, enabled=False)
    resolved = {**config.resolved, "search": {**config.resolved["search"]}}
    resolved["search"]["fec"] = {**resolved["search"]["fec"], "enabled": False}
    search = dataclasses.replace(config.search, fec=fec)
    return dataclasses.replace(config, search=search, resolved=resolved)
