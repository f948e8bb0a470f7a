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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from evoforge.config import ConfigError, ExperimentConfig
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
    """

    space: SearchSpace
    evaluator: Evaluator
    selector: Callable[[Any], float] | None = None
    describe: Callable[[Any], str] | None = None
    resolved_config: Mapping[str, Any] | None = None


Builder = Callable[[Mapping[str, Any], str, int], DomainSetup]

# Built-in domains: the module whose import registers each one.
_LAZY_MODULES: dict[str, str] = {
    "automl_zero": "evoforge.automl_zero.domain",
    "activations": "evoforge.activations.domain",
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


def import_plugins(modules: Iterable[str]) -> None:
    """Import ``run.plugins`` modules so that they register their domains."""
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
        return builder(config.domain, config.run.domain, config.run.seed)
    except ConfigError as exc:
        raise exc.with_source(config.source) from None
