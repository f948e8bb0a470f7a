"""Where the engine gets a config's domain: the domain registry, a layer above.

The engine never imports `evoforge.domains` (the registry imports the engine's
seams, and domain packages import the registry). The registry installs itself
here when it is imported (`set_domain_source`); a run made from a config alone
(``Run.create(run_dir, config)``) loads it by name on first need, as the
registry itself loads a built-in domain. A caller with a domain in hand passes
its `DomainSetup` instead and nothing is loaded.

Example:
    >>> from evoforge.evolution.space import DomainSetup
    >>> source = DomainSource(build=lambda config: DomainSetup(None, None),
    ...                       builder=lambda name: None)
    >>> source.build(None).space is None
    True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evoforge.evolution.space import DomainSetup

if TYPE_CHECKING:
    from evoforge.config import ExperimentConfig

#: The module that provides the domain registry (it calls `set_domain_source`).
PROVIDER = "evoforge.domains"

Builder = Callable[[Mapping[str, Any], str, int], DomainSetup]


@dataclass(frozen=True)
class DomainSource:
    """``build(config)``: the config's domain, validated (plugins imported);
    ``builder(name)``: the builder registered as ``name`` (islands rebuild a
    domain from an overridden table with it)."""

    build: Callable[[ExperimentConfig], DomainSetup]
    builder: Callable[[str], Builder]


_source: DomainSource | None = None


def set_domain_source(source: DomainSource) -> None:
    """Install the domain registry the engine builds domains with."""
    global _source
    _source = source


def domain_source() -> DomainSource:
    """The installed domain registry, loading `PROVIDER` on first need."""
    if _source is None:
        importlib.import_module(PROVIDER)
    if _source is None:
        raise RuntimeError(f"{PROVIDER} did not install a domain source")
    return _source
