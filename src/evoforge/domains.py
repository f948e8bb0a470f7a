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
from collections.abc import Callable, Mapping
from typing import Any

from evoforge.config import ConfigError, ExperimentConfig, check_memory
from evoforge.evolution.domain_source import DomainSource, set_domain_source
from evoforge.evolution.space import DomainSetup  # the engine's seam, re-exported
from evoforge.plugins import import_plugins  # one loader for domains and strategies

Builder = Callable[[Mapping[str, Any], str, int], DomainSetup]

# Built-in domains: the module whose import registers each one.
_LAZY_MODULES: dict[str, str] = {
    "automl_zero": "evoforge.automl_zero.domain",
    "activations": "evoforge.activations.domain",
    "learning_rules": "evoforge.learning_rules.domain",
    "architectures": "evoforge.architectures.domain",
    "rl_weights": "evoforge.weights.atari",
    "weights_ea": "evoforge.weights.domain_ea",
    "weights_sharing": "evoforge.weights.domain_sharing",
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


# The engine builds domains through this registry without importing it.
set_domain_source(DomainSource(build=build_domain, builder=get_builder))


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
