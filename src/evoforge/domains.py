"""The domain registry: config name -> builder of a search space and evaluator.

A builder receives its config table, the dotted path of that table (for
`ConfigError` messages) and the run's seed, validates the table (typically
with `evoforge.config.Section`) and returns a `DomainSetup`. Built-in domains
are imported only when a config names them, so ``evoforge show`` never pays
for importing numba or torch. Third-party domains register themselves from a
module listed in ``run.plugins``.

Example:
    >>> from evoforge.config import Section
    >>> def build_coin(table, path, seed):
    ...     s = Section(table, path)
    ...     bias = s.get_float("bias", 0.5, min=0.0, max=1.0)
    ...     return DomainSetup(space=None, evaluator=None, resolved_config=s.finish())
    >>> register_domain("coin", build_coin)
    >>> get_builder("coin")({"bias": 0.9}, "coin", 0).resolved_config
    {'bias': 0.9}
"""

from __future__ import annotations

import difflib
import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from evoforge.config import ConfigError, ExperimentConfig, check_memory
from evoforge.evolution.space import Evaluator, SearchSpace


@dataclass
class DomainSetup:
    """What a domain builder returns.

    - ``space``, ``evaluator``: the seams the engine drives.
    - ``selector``: optional ``genome -> float``, e.g. fitness on held-out
      "select" tasks, called whenever the best search fitness improves.
    - ``describe``: optional ``genome -> str``, a short human summary written
      into ``best.txt``'s header (e.g. "12 instructions, 5 effective").
    - ``resolved_config``: the domain table with every default filled in,
      saved in the run's ``config.toml`` (``Section.finish()`` returns it).
    - ``fitness_range``: optional (low, high) that every search and select
      fitness lies in; `build_domain` refuses ``stop_fitness`` and
      ``stop_select_fitness`` outside it, which could never stop a run.
    - ``worker_bytes``: estimated memory of one copy of the evaluator (and
      selector), held by every worker; ``genome_bytes``: of one genome at its
      largest, held by every population member. With them `build_domain`
      refuses a run that cannot fit in memory before anything is written;
      each is paired with the config key to name (``*_key``).
    """

    space: SearchSpace
    evaluator: Evaluator
    selector: Callable[[Any], float] | None = None
    describe: Callable[[Any], str] | None = None
    resolved_config: Mapping[str, Any] | None = None
    fitness_range: tuple[float, float] | None = None
    worker_bytes: int = 0
    worker_key: str = ""
    genome_bytes: int = 0
    genome_key: str = ""


Builder = Callable[[Mapping[str, Any], str, int], DomainSetup]

# Built-in domains: the module whose import registers each one.
_LAZY_MODULES: dict[str, str] = {
    "automl_zero": "evoforge.automl_zero.domain",
    "activations": "evoforge.activations.domain",
    "rl_weights": "evoforge.weights.atari",
}
_BUILDERS: dict[str, Builder] = {}
_RESERVED = ("run", "search")  # table names the common config already uses


def register_domain(name: str, builder: Builder) -> None:
    """Make ``builder`` available as ``run.domain = name`` (re-registering replaces)."""
    if name in _RESERVED:
        raise ValueError(f"{name!r} is reserved for the common config tables")
    _BUILDERS[name] = builder


def available_domains() -> list[str]:
    """Names a config may use (registered or importable on demand)."""
    return sorted(set(_BUILDERS) | set(_LAZY_MODULES))


def _find_module(name: str) -> bool:
    """Whether ``name`` is an installed module, found without importing it or
    its parent packages (a dotted name is looked up level by level)."""
    parts = name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])  # a top-level name imports nothing
        for depth in range(1, len(parts)):
            if spec is None or spec.submodule_search_locations is None:
                return False
            dotted = ".".join(parts[: depth + 1])
            if ".".join(parts[:depth]) in sys.modules:  # already imported: ask normally
                spec = importlib.util.find_spec(dotted)
            else:
                spec = importlib.machinery.PathFinder.find_spec(
                    dotted, list(spec.submodule_search_locations)
                )
    except (ImportError, ValueError):
        return False
    return spec is not None


def import_plugins(modules: Iterable[str]) -> None:
    """Import ``run.plugins`` modules so that they register their domains.

    A run directory's ``config.toml`` may come from someone else and names
    these modules, so only installed, importable module names are accepted:
    an empty name, a file path or a name `importlib.util.find_spec` cannot
    find is refused with `ConfigError` before anything is imported.

    Example:
        >>> import_plugins(["json"])
        >>> import_plugins(["/tmp/evil.py"])
        Traceback (most recent call last):
        ...
        evoforge.config.ConfigError: run.plugins[0]: expected an installed module name such as 'my_package.domains', got '/tmp/evil.py'
    """  # noqa: E501
    modules = list(modules)
    for i, module in enumerate(modules):
        path = f"run.plugins[{i}]"
        if not isinstance(module, str) or not all(
            part.isidentifier() for part in module.split(".")
        ):
            raise ConfigError(
                path,
                f"expected an installed module name such as 'my_package.domains', got {module!r}",
            )
        if not _find_module(module):
            raise ConfigError(
                path,
                f"no installed module named {module!r} (plugins must be importable "
                "modules, e.g. installed with pip)",
            )
    for i, module in enumerate(modules):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"run.plugins[{i}]", f"cannot import {module!r}: {exc}") from None


def get_builder(name: str) -> Builder:
    """The builder for ``name``, importing a built-in domain's module on first use."""
    if name not in _BUILDERS and name in _LAZY_MODULES:
        try:
            importlib.import_module(_LAZY_MODULES[name])
        except ImportError as exc:
            raise ConfigError("run.domain", f"domain {name!r} cannot be loaded: {exc}") from None
    if name not in _BUILDERS:
        close = difflib.get_close_matches(name, available_domains(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        known = ", ".join(repr(d) for d in available_domains()) or "none"
        raise ConfigError("run.domain", f"unknown domain {name!r}{hint}; known: {known}")
    return _BUILDERS[name]


def build_domain(config: ExperimentConfig) -> DomainSetup:
    """Import plugins, look up ``config.run.domain`` and build it from its table.

    Raises `ConfigError` (with the config file as source) for any bad input.
    """
    try:
        import_plugins(config.run.plugins)
        builder = get_builder(config.run.domain)
        setup = builder(config.domain, config.run.domain, config.run.seed)
        check_setup(config, setup)
        return setup
    except ConfigError as exc:
        raise exc.with_source(config.source) from None


# What the engine keeps per population member besides its genome (the
# Individual record, its text, the strategy's bookkeeping), and per FEC entry.
_INDIVIDUAL_OVERHEAD = 1024
_FEC_ENTRY_BYTES = 200


def check_setup(config: ExperimentConfig, setup: DomainSetup) -> None:
    """Checks that need both the common config and the built domain: stop
    thresholds inside the domain's fitness range, and the run's memory
    (workers x evaluator + populations x genome + FEC) within what is available.

    Example:
        >>> from evoforge.config import parse_config
        >>> cfg = parse_config({"run": {"domain": "coin", "stop_fitness": 2.0}})
        >>> check_setup(cfg, DomainSetup(None, None, fitness_range=(0.0, 1.0)))
        Traceback (most recent call last):
        ...
        evoforge.config.ConfigError: run.stop_fitness: expected a number in [0.0, 1.0] (the domain's fitness range), got 2.0
    """  # noqa: E501
    rc = config.run
    if setup.fitness_range is not None:
        lo, hi = setup.fitness_range
        for key in ("stop_fitness", "stop_select_fitness"):
            value = getattr(rc, key)
            if value is not None and not lo <= value <= hi:
                raise ConfigError(
                    f"run.{key}",
                    f"expected a number in [{lo}, {hi}] (the domain's fitness range), got {value}",
                )
    search = config.search
    islands = search.islands
    members = search.population_size
    if islands.count:
        high = islands.population_size[1] if islands.population_size else members
        members = islands.count * high
    fec = search.fec.capacity * _FEC_ENTRY_BYTES if search.fec.enabled else 0
    population = members * (setup.genome_bytes + _INDIVIDUAL_OVERHEAD)
    workers = max(rc.workers, islands.count or 1) * setup.worker_bytes
    total = population + workers + fec
    if population >= max(workers, fec):
        key = setup.genome_key if setup.genome_bytes > _INDIVIDUAL_OVERHEAD else ""
        key = key or ("search.islands" if islands.count else "search.population_size")
        what = f"{members:,} population members of up to {setup.genome_bytes:,} bytes each"
    elif workers >= fec:
        key = setup.worker_key or "run.workers"
        what = f"{max(rc.workers, islands.count or 1)} worker(s) holding the evaluator"
    else:
        key, what = "search.fec.capacity", f"a cache of {search.fec.capacity:,} fitnesses"
    check_memory(key, total, f"the run ({what}, plus the rest)")
