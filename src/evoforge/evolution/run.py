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
import dataclasses
import hashlib
import json
import logging
import math
import os
import signal
import sys
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.config import ConfigError, ExperimentConfig, load_config
from evoforge.errors import RunDirError
from evoforge.evolution.archipelago import Archipelago, IslandPlan, plan_islands
from evoforge.evolution.artefacts import ARTEFACT_DIR, ArtefactStore, Inheritance, JobEvaluator
from evoforge.evolution.backends import Backend, is_batched, make_backend
from evoforge.evolution.domain_source import domain_source
from evoforge.evolution.fec import CachedEvaluator
from evoforge.evolution.hurdles import Hurdle
from evoforge.evolution.island_backends import IslandBackend, make_island_backend
from evoforge.evolution.lock import LOCK_FILE, RunLock
from evoforge.evolution.pacing import Pacer
from evoforge.evolution.progress import NullProgress, Progress, Snapshot
from evoforge.evolution.space import (
    ArtefactEvaluator,
    Budget,
    DomainSetup,
    Evaluator,
    Fingerprinter,
    Individual,
)
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
# A first one stops after the evaluations in hand, a second one at once.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Config keys `resume` may continue with when they changed: the budget, stop
# conditions and how evaluations are executed, none of which the checkpoint's
# strategy, rng or population depend on.
SAFE_CONFIG_KEYS = frozenset(
    {
        "run.max_individuals",
        "run.max_cost",
        "run.max_seconds",
        "run.stop_fitness",
        "run.stop_select_fitness",
        "run.workers",
        "run.backend",
        "run.checkpoint_every",
        "run.checkpoint_seconds",
        "run.eval_timeout",
        "run.in_flight_per_worker",
        "run.chunk_size",
        "run.devices",
    }
)
_ABSENT: Any = object()  # a key missing on one side of a config comparison


class ConfigChangedError(RunDirError):
    """A run directory's ``config.toml`` differs from the config the run was
    started with. ``changes`` lists ``(dotted key, old, new)``; ``unsafe`` the
    keys that `Run.resume` cannot continue with."""

    def __init__(
        self, message: str, changes: list[tuple[str, Any, Any]], unsafe: list[str]
    ) -> None:
        super().__init__(message)
        self.changes = changes
        self.unsafe = unsafe


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


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` whole or not at all; `RunDirError` naming
    the path and the cause (e.g. a full disk) if it cannot be written."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise RunDirError(f"{path}: cannot write: {exc.strerror or exc}") from None


# What `Run.create` may write into a run directory (removed again if it fails).
_RUN_FILES = (
    CONFIG_FILE,
    CONFIG_FILE + ".tmp",
    STORE_FILE,
    STORE_FILE + "-journal",
    BEST_FILE,
    BEST_FILE + ".tmp",
)


def _check_empty(run_dir: Path) -> None:
    """`RunDirError` unless ``run_dir`` is absent or empty (a lock file left by
    a writer that died does not count)."""
    if run_dir.exists() and (
        not run_dir.is_dir() or any(p.name != LOCK_FILE for p in run_dir.iterdir())
    ):
        raise RunDirError(
            f"{run_dir}: exists and is not empty; choose another output directory"
            f" or continue it with `evoforge resume {run_dir}`"
        )


def _make_dirs(run_dir: Path) -> list[Path]:
    """Make ``run_dir`` and its missing parents; the directories made,
    outermost first. `RunDirError` naming the one that could not be made."""
    missing = [p for p in (run_dir, *run_dir.parents) if not p.exists()][::-1]
    made: list[Path] = []
    for directory in missing:
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                exc_text = "a file is in the way"
                break
            continue
        except OSError as exc:
            exc_text = exc.strerror or str(exc)
            break
        made.append(directory)
    else:
        if run_dir.is_dir():
            return made
        directory, exc_text = run_dir, "not a directory"
    for done in reversed(made):
        with contextlib.suppress(OSError):
            done.rmdir()
    raise RunDirError(f"{run_dir}: cannot create the run directory ({directory}: {exc_text})")


def _resolved_table(config: ExperimentConfig, setup: DomainSetup) -> dict[str, Any]:
    """The resolved config exactly as ``config.toml`` holds it (TOML types)."""
    return tomllib.loads(config.resolved_toml(setup.resolved_config))


def config_fingerprint(resolved: Mapping[str, Any]) -> str:
    """sha256 of a resolved config in canonical form (sorted keys, compact JSON).

    Example:
        >>> config_fingerprint({"run": {"seed": 1}}) == config_fingerprint({"run": {"seed": 1}})
        True
    """
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` for every leaf that differs;
    a missing side is `_ABSENT`."""
    a, b = _flatten(old), _flatten(new)
    return [
        (key, a.get(key, _ABSENT), b.get(key, _ABSENT))
        for key in sorted(a.keys() | b.keys())
        if a.get(key, _ABSENT) != b.get(key, _ABSENT)
    ]


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value)


def _describe_changes(changes: list[tuple[str, Any, Any]]) -> str:
    return ", ".join(f"{key} {_show(old)} -> {_show(new)}" for key, old, new in changes)


def _plain(value: Any) -> Any:
    return None if value is _ABSENT else value


def _check_config(
    store: RunStore,
    config_path: Path,
    resolved: dict[str, Any],
    overrides: Mapping[str, Any],
    accept: bool,
) -> list[tuple[str, Any, Any]] | None:
    """Compare the config `resume` would run with to the one the run was
    started with (in the store's meta). None: unchanged. Otherwise the
    accepted changes (``[]``: only keys a newer evoforge filled in, or a store
    from before fingerprints), which become the run's config; unsafe or
    unaccepted changes raise `ConfigChangedError`."""
    meta = store.meta()
    old = meta.get("config")
    if meta.get("config_fingerprint") is None or not isinstance(old, dict):
        return []  # written before fingerprints were stored: record this one
    if meta["config_fingerprint"] == config_fingerprint(resolved):
        return None
    changes = config_changes(old, resolved)
    # A key the run's config lacks and config.toml does not set was filled in
    # with its default by a newer evoforge: not an edit.
    written = _flatten(tomllib.loads(config_path.read_text()))
    changes = [
        c
        for c in changes
        if not (c[1] is _ABSENT and c[0] not in written and c[0] not in overrides)
    ]
    unsafe = [c for c in changes if c[0] not in SAFE_CONFIG_KEYS]
    safe = [c for c in changes if c[0] in SAFE_CONFIG_KEYS and c[0] not in overrides]
    run_dir = config_path.parent
    if unsafe:
        also = (
            f" (the other changes, {_describe_changes(safe)}, could continue with"
            " --accept-config-changes)"
            if safe
            else ""
        )
        raise ConfigChangedError(
            f"{config_path}: changed since the run started: {_describe_changes(unsafe)};"
            " the checkpoint (population, strategy, random state) belongs to the old"
            f" values, so the run cannot continue with these: put them back, or start a"
            f" new run with `evoforge run`{also}",
            changes,
            [c[0] for c in unsafe],
        )
    if safe and not accept:
        raise ConfigChangedError(
            f"{config_path}: changed since the run started: {_describe_changes(safe)};"
            f" to continue with these, run `evoforge resume {run_dir} --accept-config-changes`"
            " (or put them back)",
            changes,
            [],
        )
    return changes


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_pending(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("genome"), str)
        and (value.get("parent_id") is None or _is_int(value.get("parent_id")))
    )


# What every checkpoint holds, checked before any of it is used: a tampered
# checkpoint is reported as such, not as a KeyError deep in a strategy.
_STATE_CHECKS: dict[str, tuple[str, Any]] = {
    "counters": (
        "a table of integers",
        lambda v: (
            isinstance(v, dict)
            and all(_is_int(v.get(k)) for k in ("cost", "fec_hits", "early_stopped", "errors"))
        ),
    ),
    "rng": ("a generator state table", lambda v: isinstance(v, dict)),
    "best": ("an id or null", lambda v: v is None or _is_int(v)),
    "best_select": ("a number or null", lambda v: v is None or _is_number(v)),
    "max_select": ("a number or null", lambda v: v is None or _is_number(v)),
    "elapsed": ("a number", _is_number),
    "pending": (
        "a list of candidates",
        lambda v: isinstance(v, list) and all(_is_pending(p) for p in v),
    ),
    "strategy": ("a table", lambda v: isinstance(v, dict)),
    "islands": ("a table or null", lambda v: v is None or isinstance(v, dict)),
}


def _state_problem(state: Mapping[str, Any]) -> str | None:
    """What is wrong with a checkpoint's state at its top level, or None."""
    for key, (expected, ok) in _STATE_CHECKS.items():
        if key not in state:
            return f"no {key!r}"
        if not ok(state[key]):
            return f"{key!r} is not {expected}: {json.dumps(state[key])[:60]}"
    return None


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
        # Files an individual owns (inherited weights): jobs instead of genomes.
        self.inheritance: Inheritance | None = None
        if isinstance(evaluator, ArtefactEvaluator):
            root = ArtefactStore(run_dir.resolve() / ARTEFACT_DIR)
            self.inheritance = Inheritance(root)
            evaluator = JobEvaluator(evaluator)
        elif config.search.fec.enabled and isinstance(evaluator, Fingerprinter):
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
        self._critical = 0  # > 0 while a checkpoint is written, or the run is ending
        self._final = False  # the loop has ended
        self._stop_now = False  # a second signal arrived while `_critical`
        self._signal: int | None = None  # the signal that asked to stop
        self._lock: RunLock | None = None  # held from create/resume to the end of `run`
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
        so validated) before anything is written; the directory stays locked
        against other writers until `run` ends. If it cannot be written (a
        read-only or full disk) the error names the path and the cause and
        nothing is left behind."""
        run_dir = Path(run_dir)
        _check_empty(run_dir)
        if setup is None:
            setup = domain_source().build(config)
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
        if config.search.islands.count and isinstance(setup.evaluator, ArtefactEvaluator):
            raise ConfigError(
                "search.islands.count",
                f"the {config.run.domain} evaluator keeps artefacts (inherited weights),"
                " which island runs do not carry between islands: use one population",
                config.source,
            )
        islands = (
            plan_islands(config, setup, domain_source().builder)
            if config.search.islands.count
            else None
        )
        created = _make_dirs(run_dir)
        lock: RunLock | None = None
        store: RunStore | None = None
        owned = False  # True once this call may remove what is in run_dir
        try:
            lock = RunLock.acquire(run_dir)
            _check_empty(run_dir)  # again, now that no other writer can start here
            owned = True
            resolved = _resolved_table(config, setup)
            _write_atomic(run_dir / CONFIG_FILE, config.resolved_toml(setup.resolved_config))
            store = RunStore.create(run_dir / STORE_FILE)
            store.set_meta(
                domain=config.run.domain,
                seed=config.run.seed,
                status="created",
                config_fingerprint=config_fingerprint(resolved),
                config=resolved,
            )
            run = cls._created(run_dir, config, setup, store, progress, islands)
        except BaseException:
            # Nothing partial: remove what this call wrote, then the directories it made.
            if store is not None:
                store.close()
            if owned:
                for name in _RUN_FILES:
                    with contextlib.suppress(OSError):
                        (run_dir / name).unlink(missing_ok=True)
            if lock is not None:
                lock.release()
                if owned:
                    with contextlib.suppress(OSError):
                        (run_dir / LOCK_FILE).unlink(missing_ok=True)
            for directory in reversed(created):
                with contextlib.suppress(OSError):  # not empty: not only ours
                    directory.rmdir()
            raise
        run._lock = lock
        return run

    @classmethod
    def _created(
        cls,
        run_dir: Path,
        config: ExperimentConfig,
        setup: DomainSetup,
        store: RunStore,
        progress: Progress | None,
        islands: list[IslandPlan] | None,
    ) -> Run:
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
        islands = (
            plan_islands(config, setup, domain_source().builder)
            if config.search.islands.count
            else None
        )
        store = RunStore.open(store_path)
        try:
            resolved = _resolved_table(config, setup)
            changes = _check_config(store, config_path, resolved, overrides, accept_config_changes)
            checkpoint = store.latest_checkpoint()
            if checkpoint is None:
                raise StoreError(f"{store_path}: holds no checkpoint")
            store.check_complete(checkpoint[0])
            run = cls(run_dir, config, setup, store, progress, islands)
            run._restore(*checkpoint)
            if overrides:
                _write_atomic(config_path, config.resolved_toml(setup.resolved_config))
            if changes is not None:
                store.set_meta(config_fingerprint=config_fingerprint(resolved), config=resolved)
                if changes:
                    store.event(
                        "config_changed",
                        {
                            "changes": {k: [_plain(a), _plain(b)] for k, a, b in changes},
                            "fingerprint": config_fingerprint(resolved),
                        },
                    )
        except BaseException:
            store.close()
            raise
        return run

    def _restore(self, n: int, state: Mapping[str, Any]) -> None:
        problem = _state_problem(state)
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
        # A second Ctrl-C or SIGTERM that arrives while this writes waits for it
        # (see `_on_stop_signal`), so no signal leaves the store half-written.
        self._critical += 1
        try:
            self._write_checkpoint()
        finally:
            self._critical -= 1
        if self._stop_now and not self._critical:
            self._stop_now = False
            raise KeyboardInterrupt

    def _write_checkpoint(self) -> None:
        to_text = self.space.to_text
        pending = [*self._in_flight.values(), *self._pending]
        islands = self.archipelago
        strategy_state = self.strategy.state_dict() if islands is None else {}
        state = {
            "strategy": encode_state(strategy_state),
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
            median_fitness=_median(fitness),
            best_select=self.max_select,
            status=status,
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
        rc = self.config.run
        previous_handlers = self._install_signal_handlers()
        islands = self.archipelago
        backend: Backend | IslandBackend | None = None
        try:
            self.store.set_meta(status="running")
            self.store.event(
                "start", {"individuals": self.n, "max_individuals": rc.max_individuals}
            )
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
                self._enter_final()
            except KeyboardInterrupt:
                self._enter_final()
                reason = INTERRUPTED
                # Interrupted halfway through changing state: the last periodic
                # checkpoint is the consistent one, keep it.
                consistent = not self._busy
            self.store.event("stop", {"reason": reason, "individuals": self.n})
            if consistent:
                self._checkpoint()
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
                if pacer.step() and rc.max_seconds is not None and self.elapsed() >= rc.max_seconds:
                    return "max_seconds"

    def _fitness_of(self, ids: list[int]) -> list[tuple[float, int]]:
        """(fitness, id) of stored individuals, for the artefacts' fittest few."""
        rows = self.store.individuals(set(ids)).items() if ids else ()
        return [(ind.fitness, i) for i, (ind, _) in rows if ind.evaluation.error is None]

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
