"""Experiment configs: TOML in, validated with errors that name the field,
resolved (every default filled in) copy saved in the run directory.

A config has two common tables, ``[run]`` and ``[search]``, plus one table
named after the domain (``run.domain``), e.g. ``[automl_zero]``, which the
domain's builder validates with the same `Section` helpers.

Example:
    >>> cfg = parse_config({"run": {"domain": "toy", "seed": 3},
    ...                     "search": {"population_size": 20, "tournament_size": 5}})
    >>> cfg.run.seed, cfg.search.population_size, cfg.run.backend
    (3, 20, 'serial')
    >>> parse_config({"run": {"domain": "toy"}, "search": {"population_size": -3}})
    Traceback (most recent call last):
    ...
    evoforge.config.ConfigError: search.population_size: expected an integer >= 2, got -3
"""

from __future__ import annotations

import difflib
import importlib
import math
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from evoforge.errors import EvoforgeError

BACKEND_NAMES = ("serial", "processes", "ray")


class ConfigError(EvoforgeError, ValueError):
    """A config value is missing, unknown or invalid.

    ``path`` is the dotted field (``search.population_size``); ``source`` the
    file, when known. ``str()`` gives ``"<source>: <path>: <message>"``.
    """

    def __init__(self, path: str, message: str, source: str | None = None) -> None:
        self.path = path
        self.message = message
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.path, self.message) if p]
        return ": ".join(parts)

    def with_source(self, source: str | None) -> ConfigError:
        return ConfigError(self.path, self.message, source)


_REQUIRED: Any = object()  # sentinel: no default, the key must be given


def _describe(value: Any) -> str:
    """``-3``, ``'abc' (a string)`` ... for error messages, in TOML's terms."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return f"{value!r} ({type(value).__name__})"


def _bounds(lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo}, {hi}]"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


class Section:
    """Typed reader of one config table.

    Each ``get_*`` call validates one key (or returns its default), remembers
    the value for the resolved config, and `finish` rejects keys nobody read,
    with a "did you mean" hint. Domain builders use it for their own table.

    Example:
        >>> s = Section({"steps": 10, "lr": 0.5}, "my_domain")
        >>> s.get_int("steps", 100, min=1), s.get_float("lr", 0.1, min=0.0)
        (10, 0.5)
        >>> s.get_str("mode", "fast", choices=("fast", "exact"))
        'fast'
        >>> s.finish()
        {'steps': 10, 'lr': 0.5, 'mode': 'fast'}
        >>> Section({"step": 1}, "my_domain").finish()
        Traceback (most recent call last):
        ...
        evoforge.config.ConfigError: my_domain.step: unknown key
    """

    def __init__(self, data: Mapping[str, Any] | None, path: str) -> None:
        self.data = dict(data or {})
        self.path = path
        self.resolved: dict[str, Any] = {}
        self._known: list[str] = []  # every key read, set or not, for "did you mean"
        self._children: list[Section] = []

    def field_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(self.field_path(key), message)

    def _raw(self, key: str, default: Any, expected: str) -> tuple[bool, Any]:
        """(given, value): the value from the table, or the default if absent."""
        self._known.append(key)
        if key in self.data:
            return True, self.data[key]
        if default is _REQUIRED:
            raise self.error(key, f"missing; expected {expected}")
        return False, default

    def _keep(self, key: str, value: Any) -> Any:
        if value is not None:  # TOML has no null: an unset option is left out
            self.resolved[key] = value
        return value

    def get_int(
        self, key: str, default: Any = _REQUIRED, *, min: int | None = None, max: int | None = None
    ) -> Any:
        """An integer in ``[min, max]``; ``default=None`` makes the key optional."""
        expected = "an integer" + _bounds(min, max)
        given, value = self._raw(key, default, expected)
        ok = isinstance(value, int) and not isinstance(value, bool)
        if given and (
            not ok or (min is not None and value < min) or (max is not None and value > max)
        ):
            raise self.error(key, f"expected {expected}, got {_describe(value)}")
        return self._keep(key, value)

    def get_float(
        self,
        key: str,
        default: Any = _REQUIRED,
        *,
        min: float | None = None,
        max: float | None = None,
        min_exclusive: bool = False,
    ) -> Any:
        """A finite number (integers accepted) in the bounds; ``default=None`` = optional."""
        expected = "a number" + _bounds(min, max, min_exclusive)
        given, value = self._raw(key, default, expected)
        if given:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)
            if ok and min is not None:
                ok = value > min if min_exclusive else value >= min
            if ok and max is not None:
                ok = value <= max
            if not ok:
                raise self.error(key, f"expected {expected}, got {_describe(value)}")
        return self._keep(key, None if value is None else float(value))

    def get_str(
        self, key: str, default: Any = _REQUIRED, *, choices: Sequence[str] | None = None
    ) -> Any:
        """A string, one of ``choices`` if given; ``default=None`` = optional."""
        expected = "a string"
        if choices is not None:
            expected = "one of " + ", ".join(repr(c) for c in choices)
        given, value = self._raw(key, default, expected)
        if given and (not isinstance(value, str) or (choices is not None and value not in choices)):
            hint = ""
            if isinstance(value, str) and choices:
                close = difflib.get_close_matches(value, choices, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.error(key, f"expected {expected}, got {_describe(value)}{hint}")
        return self._keep(key, value)

    def get_bool(self, key: str, default: Any = _REQUIRED) -> Any:
        """``true`` or ``false``."""
        given, value = self._raw(key, default, "true or false")
        if given and not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_describe(value)}")
        return self._keep(key, value)

    def get_list(
        self,
        key: str,
        default: Any = _REQUIRED,
        *,
        item: type = str,
        min_len: int = 0,
        choices: Sequence[Any] | None = None,
    ) -> Any:
        """An array of ``item`` (str, int or float) values, optionally from ``choices``."""
        plural = {str: "strings", int: "integers", float: "numbers"}[item]
        singular = {str: "a string", int: "an integer", float: "a number"}[item]
        expected = f"an array of {plural}"
        if min_len:
            expected += f" with at least {min_len} item{'s' if min_len > 1 else ''}"
        _, value = self._raw(key, default, expected)
        if value is None:
            return value
        if not isinstance(value, list | tuple) or len(value) < min_len:
            raise self.error(key, f"expected {expected}, got {_describe(value)}")
        out = []
        for i, x in enumerate(value):
            ok = isinstance(x, int | float) if item is float else isinstance(x, item)
            ok = ok and not isinstance(x, bool)
            if ok and item is float:
                ok = math.isfinite(x)  # TOML has nan and inf; no setting wants them
            if not ok or (choices is not None and x not in choices):
                wanted = singular if item is not float else "a finite number"
                if choices is not None:
                    wanted = "one of " + ", ".join(repr(c) for c in choices)
                raise ConfigError(
                    f"{self.field_path(key)}[{i}]", f"expected {wanted}, got {_describe(x)}"
                )
            out.append(float(x) if item is float else x)
        return self._keep(key, list(out))

    def get_section(self, key: str) -> Section:
        """A sub-table (absent = empty); its resolved values nest under ``key``."""
        self._known.append(key)
        value = self.data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected a table, got {_describe(value)}")
        sub = Section(value, self.field_path(key))
        self.resolved[key] = sub.resolved
        self._children.append(sub)
        return sub

    def get_table(self, key: str) -> dict[str, Any]:
        """A sub-table (absent = empty) left raw for someone else to validate:
        not checked by `finish` and not part of ``resolved``."""
        self._known.append(key)
        value = self.data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected a table, got {_describe(value)}")
        return dict(value)

    def finish(self) -> dict[str, Any]:
        """Reject keys that were never read, here and in sub-tables taken with
        `get_section`; return the resolved table."""
        for child in self._children:
            child.finish()
        for key in self.data:
            if key not in self._known:
                close = difflib.get_close_matches(key, self._known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.error(key, f"unknown key{hint}")
        return self.resolved


@dataclass(frozen=True)
class RunConfig:
    """``[run]``: what to search and when to stop."""

    domain: str
    seed: int = 0
    max_individuals: int = 10_000
    max_cost: int | None = None
    max_seconds: float | None = None
    stop_fitness: float | None = None
    stop_select_fitness: float | None = None
    backend: str = "serial"
    workers: int = 1
    checkpoint_every: int = 10_000
    checkpoint_seconds: float = 2.0
    plugins: tuple[str, ...] = ()
    ray_address: str | None = None
    # Backends (evoforge.evolution.backends): per-evaluation time limit (not on
    # serial), chunks in flight per worker, devices dealt round-robin to
    # workers, evaluations per message ("auto": sized from measured times).
    eval_timeout: float | None = None
    in_flight_per_worker: int = 2
    devices: tuple[str, ...] = ("cpu",)
    chunk_size: int | str = "auto"
    # How one population evolves: "loop" (the readable per-individual loop) or
    # "fused" (a domain's compiled step over chunks; evoforge.evolution.chunked).
    engine: str = "loop"
    # Experiment restarts (the reference demo's): a fresh population every
    # `experiment_individuals`, at most `max_experiments` of them (0: no limit).
    experiment_individuals: int | None = None
    max_experiments: int = 0
    # The reference's --randomize_task_seeds: each experiment k searches and
    # selects on tasks the domain redraws from (seed, k) (`DomainSetup.for_experiment`).
    # In [run], not [automl_zero]: experiments are the engine's (beside
    # experiment_individuals), and any domain with tasks may offer the redraw.
    randomize_task_seeds: bool = False


#: `run.engine` values: the readable loop, or a domain's fused compiled step.
ENGINES = ("loop", "fused")

#: Entries the functional-equivalence cache keeps by default (the engine's
#: `evoforge.evolution.fec` takes its default from here: config sits below it).
FEC_CAPACITY = 100_000


@dataclass(frozen=True)
class FecConfig:
    """``[search.fec]``: the functional-equivalence cache."""

    enabled: bool = True
    capacity: int = FEC_CAPACITY


@dataclass(frozen=True)
class HurdleConfig:
    """``[search.hurdle]``: rolling-percentile early stopping."""

    enabled: bool = False
    percentile: float = 75.0


@dataclass(frozen=True)
class IslandsConfig:
    """``[search.islands]``: the island model of AutoML-Zero's S3.

    ``count`` islands (0: one central population) each run regularized
    evolution on their own population; every ``migrate_every`` of its
    evaluations an island uploads half its population, chosen at random, and
    receives as many members sampled from all islands' latest uploads.
    ``population_size`` (low, high) draws each island's P in that range.
    ``families`` are per-island domain overrides (dotted key -> value), dealt
    out round-robin; ``vary`` maps dotted keys to a (low, high) range drawn per
    island (integers if both ends are integers).
    """

    count: int = 0
    migrate_every: int = 10_000
    population_size: tuple[int, int] | None = None
    families: tuple[dict[str, Any], ...] = ()
    vary: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationalConfig:
    """``softmax_ga``'s keys in ``[search]``: per generation of ``population_size``
    members, ``elites`` carried over, ``random_per_generation`` fresh genomes,
    the rest children of softmax(fitness / ``temperature``)-selected parents."""

    elites: int = 5
    random_per_generation: int = 10
    temperature: float = 1.0


@dataclass(frozen=True)
class SearchConfig:
    """``[search]``: the strategy and its helpers.

    ``params`` holds the strategy's declared parameters (every one, defaults
    filled in), as its constructor takes them; the strategy registry
    (`evoforge.evolution.strategies.registry`) reads them. The named fields
    mirror the keys the island model and hurdles use (their defaults when the
    strategy does not declare them). ``quality_gate`` (regularized evolution
    only; None = off): a child whose fitness is below it is counted but does
    not join the population.
    """

    strategy: str = "regularized_evolution"
    population_size: int = 100
    tournament_size: int = 10
    mutation_prob: float = 0.9
    fec: FecConfig = field(default_factory=FecConfig)
    hurdle: HurdleConfig = field(default_factory=HurdleConfig)
    islands: IslandsConfig = field(default_factory=IslandsConfig)
    quality_gate: float | None = None
    generational: GenerationalConfig = field(default_factory=GenerationalConfig)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated config. ``domain`` is the raw domain table (validated by the
    domain's builder); ``source`` the file it came from, for messages."""

    run: RunConfig
    search: SearchConfig
    domain: dict[str, Any]
    source: str | None = None
    resolved: dict[str, Any] = field(default_factory=dict, compare=False)

    def resolved_toml(self, domain_resolved: Mapping[str, Any] | None = None) -> str:
        """The resolved config as TOML; ``domain_resolved`` replaces the raw domain table."""
        data = dict(self.resolved)
        table = dict(domain_resolved) if domain_resolved is not None else dict(self.domain)
        if table:
            data[self.run.domain] = table
        return tomli_w.dumps(data)


def _parse_run(s: Section) -> RunConfig:
    domain = s.get_str("domain")
    seed = s.get_int("seed", RunConfig.seed, min=0)
    workers = s.get_int("workers", RunConfig.workers, min=1)
    backend = s.get_str("backend", "serial" if workers == 1 else "processes", choices=BACKEND_NAMES)
    if backend == "serial" and workers > 1:
        raise s.error("workers", f"the serial backend uses 1 worker, got {workers}")
    eval_timeout = s.get_float("eval_timeout", None, min=0.0, min_exclusive=True)
    if eval_timeout is not None and (backend == "serial" or not math.isfinite(eval_timeout)):
        why = (
            "needs backend 'processes' or 'ray' (the serial backend evaluates in the"
            ' driver, which cannot be stopped): set backend = "processes"'
            if backend == "serial"
            else f"expected a finite number of seconds, got {eval_timeout}"
        )
        raise s.error("eval_timeout", why)
    devices = tuple(s.get_list("devices", ["cpu"], item=str))
    if not devices or not all(devices):
        raise s.error("devices", f"expected a non-empty array of device names, got {list(devices)}")
    experiment_individuals = s.get_int("experiment_individuals", None, min=2)
    randomize_task_seeds = s.get_bool("randomize_task_seeds", RunConfig.randomize_task_seeds)
    if randomize_task_seeds and experiment_individuals is None:
        raise s.error(
            "randomize_task_seeds",
            "redraws the tasks at each experiment restart: set run.experiment_individuals too",
        )
    return RunConfig(
        engine=s.get_str("engine", RunConfig.engine, choices=ENGINES),
        experiment_individuals=experiment_individuals,
        max_experiments=s.get_int("max_experiments", RunConfig.max_experiments, min=0),
        randomize_task_seeds=randomize_task_seeds,
        domain=domain,
        seed=seed,
        max_individuals=s.get_int("max_individuals", RunConfig.max_individuals, min=1),
        max_cost=s.get_int("max_cost", None, min=1),
        max_seconds=s.get_float("max_seconds", None, min=0.0, min_exclusive=True),
        stop_fitness=s.get_float("stop_fitness", None),
        stop_select_fitness=s.get_float("stop_select_fitness", None),
        backend=backend,
        workers=workers,
        checkpoint_every=s.get_int("checkpoint_every", RunConfig.checkpoint_every, min=1),
        checkpoint_seconds=s.get_float(
            "checkpoint_seconds", RunConfig.checkpoint_seconds, min=0.0, min_exclusive=True
        ),
        plugins=tuple(s.get_list("plugins", [], item=str)),
        ray_address=s.get_str("ray_address", None),
        eval_timeout=eval_timeout,
        in_flight_per_worker=s.get_int(
            "in_flight_per_worker", RunConfig.in_flight_per_worker, min=1, max=1024
        ),
        devices=devices,
        chunk_size=_chunk_size(s),
    )


def _chunk_size(s: Section) -> int | str:
    """``run.chunk_size``: evaluations per message to a worker, or "auto"."""
    expected = 'an integer in [1, 100000] or "auto"'
    _, value = s._raw("chunk_size", RunConfig.chunk_size, expected)
    ok = value == "auto" or (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100_000
    )
    if not ok:
        raise s.error("chunk_size", f"expected {expected}, got {_describe(value)}")
    return s._keep("chunk_size", value)


# The strategy's own keys of [search] are declared by the strategies, which
# live in the engine, a layer above this module: the engine's registry installs
# its reader here when it is imported (`set_strategy_reader`), so config never
# refers to the engine. Parsing a config before anything imported the engine
# loads the module that provides the built-in strategies, by name, as
# `evoforge.domains` loads a built-in domain.
StrategyReader = Callable[["Section", str, Sequence[str]], tuple[str, dict[str, Any]]]
STRATEGY_PROVIDER = "evoforge.evolution.strategies"
_strategy_reader: StrategyReader | None = None


def set_strategy_reader(reader: StrategyReader) -> None:
    """Install ``reader(section, default, plugins) -> (name, params)``, which
    validates ``[search].strategy`` and that strategy's declared keys (the
    engine's strategy registry installs its ``parse_strategy``)."""
    global _strategy_reader
    _strategy_reader = reader


def _read_strategy(s: Section, plugins: Sequence[str]) -> tuple[str, dict[str, Any]]:
    if _strategy_reader is None:
        importlib.import_module(STRATEGY_PROVIDER)  # it calls set_strategy_reader
    assert _strategy_reader is not None, f"{STRATEGY_PROVIDER} set no strategy reader"
    return _strategy_reader(s, SearchConfig.strategy, plugins)


def _parse_search(s: Section, plugins: Sequence[str] = ()) -> SearchConfig:
    strategy, params = _read_strategy(s, plugins)
    size = params.get("population_size", SearchConfig.population_size)
    tournament = params.get("tournament_size", min(SearchConfig.tournament_size, size))
    mutation_prob = params.get("mutation_prob", SearchConfig.mutation_prob)
    quality_gate = params.get("quality_gate")
    ga_keys = ("elites", "random_per_generation", "temperature")
    generational = GenerationalConfig()
    if all(key in params for key in ga_keys):
        generational = GenerationalConfig(**{key: params[key] for key in ga_keys})
    f = s.get_section("fec")
    fec = FecConfig(
        enabled=f.get_bool("enabled", FecConfig.enabled),
        capacity=f.get_int("capacity", FecConfig.capacity, min=1),
    )
    h = s.get_section("hurdle")
    hurdle = HurdleConfig(
        enabled=h.get_bool("enabled", HurdleConfig.enabled),
        percentile=h.get_float("percentile", HurdleConfig.percentile, min=0.0, max=100.0),
    )
    if hurdle.enabled and "population_size" not in params:
        raise h.error("enabled", f"hurdles need a population; {strategy} keeps none")
    islands = _parse_islands(s.get_section("islands"))
    if islands.count and strategy != "regularized_evolution":
        raise s.error("strategy", f"islands run regularized_evolution; got {strategy}")
    return SearchConfig(
        strategy,
        size,
        tournament,
        mutation_prob,
        fec,
        hurdle,
        islands,
        quality_gate,
        generational,
        params,
    )


def _range(s: Section, key: str, value: Any, integer: bool) -> tuple[Any, Any]:
    kinds = (int,) if integer else (int, float)
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, kinds) and not isinstance(v, bool) for v in value)
        or not all(math.isfinite(v) for v in value)
        or value[0] > value[1]
    ):
        what = "integers" if integer else "finite numbers"
        raise s.error(key, f"expected [low, high] with low <= high ({what}), got {value!r}")
    return value[0], value[1]


MIGRATE_NEVER = "never"


def _migrate_every(s: Section) -> int:
    """``migrate_every``: evaluations between migrations, or ``"never"`` for
    isolated islands (0 internally). A bare 0 used to switch migration off
    without saying so; now it is an error that names the explicit spelling."""
    expected = f"an integer >= 1, or {MIGRATE_NEVER!r} for isolated islands"
    given, value = s._raw("migrate_every", IslandsConfig.migrate_every, expected)
    if value == MIGRATE_NEVER:
        s._keep("migrate_every", value)
        return 0
    if given and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        hint = " (0 no longer turns migration off silently)" if value == 0 else ""
        raise s.error("migrate_every", f"expected {expected}, got {_describe(value)}{hint}")
    return s._keep("migrate_every", value)


def _parse_islands(s: Section) -> IslandsConfig:
    count = s.get_int("count", IslandsConfig.count, min=0)
    migrate_every = _migrate_every(s)
    sizes = None
    raw_size = s.get_list("population_size", None, item=int)
    if raw_size is not None:
        sizes = _range(s, "population_size", raw_size, integer=True)
        if sizes[0] < 2:
            raise s.error("population_size", f"expected sizes >= 2, got {raw_size!r}")
    _, families = s._raw("families", [], "an array of tables")
    if not isinstance(families, list | tuple) or not all(isinstance(f, Mapping) for f in families):
        raise s.error("families", f"expected an array of tables, got {_describe(families)}")
    for i, family in enumerate(families):
        for key in family:
            if "." not in key:
                raise ConfigError(
                    f"{s.field_path('families')}[{i}]",
                    f"expected dotted keys like 'domain.key', got {key!r}",
                )
    s._keep("families", [dict(f) for f in families])
    _, vary = s._raw("vary", {}, "a table of dotted key = [low, high]")
    if not isinstance(vary, Mapping):
        raise s.error(
            "vary", f"expected a table of dotted key = [low, high], got {_describe(vary)}"
        )
    ranges = {key: _range(s, f"vary.{key}", value, integer=False) for key, value in vary.items()}
    s._keep("vary", {key: list(r) for key, r in ranges.items()})
    if count == 0 and (sizes or families or ranges):
        raise s.error("count", "population_size, families and vary need count >= 1")
    return IslandsConfig(count, migrate_every, sizes, tuple(dict(f) for f in families), ranges)


def parse_config(data: Mapping[str, Any], source: str | None = None) -> ExperimentConfig:
    """Validate a config table (as loaded from TOML). Raises `ConfigError`."""
    try:
        top = Section(data, "")
        run_section = top.get_section("run")
        run = _parse_run(run_section)
        search = _parse_search(top.get_section("search"), run.plugins)
        count = search.islands.count
        if count and run.workers not in (1, count):
            raise run_section.error(
                "workers", f"island runs use one worker per island ({count}), got {run.workers}"
            )
        domain = top.get_table(run.domain)
        top.finish()
    except ConfigError as exc:
        raise exc.with_source(source) from None
    return ExperimentConfig(run, search, domain, source, top.resolved)


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for ``dotted="a.b"``, creating tables.

    Raises `ConfigError` naming the key when a table on the way is something
    else (``run = "x"`` with an override of ``run.seed``).

    Example:
        >>> d = {"run": {"seed": 1}}
        >>> set_dotted(d, "run.seed", 7); d
        {'run': {'seed': 7}}
        >>> set_dotted({"run": "x"}, "run.seed", 7)
        Traceback (most recent call last):
        ...
        evoforge.config.ConfigError: run: expected a table, got 'x' (a string)
    """
    *tables, key = dotted.split(".")
    for i, name in enumerate(tables):
        data = data.setdefault(name, {})
        if not isinstance(data, dict):
            path = ".".join(tables[: i + 1])
            raise ConfigError(path, f"expected a table, got {_describe(data)}")
    data[key] = value


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """Read and validate a TOML config; ``overrides`` maps dotted keys to values.

    Raises `ConfigError` for a missing or unreadable file, bad TOML or bad values.

    Example:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "exp.toml"
        >>> _ = p.write_text('[run]\\ndomain = "toy"\\n')
        >>> load_config(p, {"run.seed": 7}).run.seed
        7
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("", "no such config file", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"cannot read config: {exc}", str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"invalid TOML: {exc}", str(path)) from None
    try:
        for dotted, value in (overrides or {}).items():
            set_dotted(data, dotted, value)
    except ConfigError as exc:
        raise exc.with_source(str(path)) from None
    return parse_config(data, str(path))


def available_memory() -> int:
    """Bytes of memory this machine can give a run now: ``MemAvailable`` from
    ``/proc/meminfo`` where there is one, else the physical memory.

    Example:
        >>> available_memory() > 0
        True
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):  # no sysconf (Windows): do not guess low
        return 1 << 62


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``; for memory messages.

    Example:
        >>> format_bytes(3 * 2**30)
        '3.0 GiB'
    """
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_memory(path: str, estimate: float, what: str) -> None:
    """Raise `ConfigError` at ``path`` if ``estimate`` bytes (of ``what``) exceed
    the memory available now: checked before anything is allocated or written,
    so an oversized config fails in a second instead of a `MemoryError` later.

    Example:
        >>> check_memory("x.size", 1024, "one table")
        >>> check_memory("x.size", 2.0**60, "one table")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        evoforge.config.ConfigError: x.size: one table would need about 1024.0 PiB, more than ...
    """
    available = available_memory()
    if estimate > available:
        raise ConfigError(
            path,
            f"{what} would need about {format_bytes(estimate)}, more than the "
            f"{format_bytes(available)} of memory available on this machine",
        )
