"""The strategy registry: ``search.strategy`` name -> `Strategy` class.

Built-in strategies register when `evoforge.evolution.strategies` is imported;
third-party ones call `register_strategy` from a module listed in
``run.plugins`` (as domains do). `parse_strategy` validates a strategy's own
keys of ``[search]`` from its declared `Param` list, so config validation,
the resolved config and `evoforge strategies` all read one declaration.

Example:
    >>> from evoforge.config import Section
    >>> s = Section({"population_size": 8}, "search")
    >>> name, params = parse_strategy(s, default="regularized_evolution")
    >>> name, params["tournament_size"], params["mutation_prob"]
    ('regularized_evolution', 8, 0.9)
    >>> get_strategy("regularised_evolution")
    Traceback (most recent call last):
    ...
    evoforge.config.ConfigError: search.strategy: unknown strategy 'regularised_evolution' ...
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from evoforge.config import ConfigError, Section, set_strategy_reader
from evoforge.evolution.strategies.base import Strategy
from evoforge.evolution.strategies.params import InvalidParam, read_params
from evoforge.plugins import import_plugins as load_plugins

#: name -> class, in registration order (built-ins first).
STRATEGIES: dict[str, type[Strategy]] = {}

# Keys every resolved config held before strategies declared their parameters
# (whatever the strategy): accepted and ignored for strategies that do not
# declare them, so run directories written then still resume.
_LEGACY_KEYS = ("population_size", "tournament_size", "mutation_prob")


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Make ``cls`` available as ``search.strategy = cls.name`` (re-registering
    replaces); usable as a class decorator."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)) or not cls.name:
        raise TypeError(f"{cls!r}: expected a Strategy subclass with a name")
    STRATEGIES[cls.name] = cls
    return cls


def available_strategies() -> list[str]:
    """Registered names, built-ins first."""
    return list(STRATEGIES)


def import_plugins(plugins: Iterable[str]) -> None:
    """Import ``run.plugins`` modules so that they register their strategies
    (the loader domains use too: `evoforge.plugins.import_plugins`)."""
    load_plugins(plugins)


def get_strategy(name: str, plugins: Iterable[str] = ()) -> type[Strategy]:
    """The class registered as ``name``; ``plugins`` are imported first when
    the name is not registered yet. Raises `ConfigError` naming ``search.strategy``."""
    if name not in STRATEGIES:
        import_plugins(plugins)
    if name not in STRATEGIES:
        close = difflib.get_close_matches(name, STRATEGIES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        known = ", ".join(repr(n) for n in STRATEGIES)
        raise ConfigError("search.strategy", f"unknown strategy {name!r}{hint}; known: {known}")
    return STRATEGIES[name]


def parse_strategy(
    s: Section, default: str, plugins: Iterable[str] = ()
) -> tuple[str, dict[str, Any]]:
    """Read ``strategy`` and that strategy's declared parameters from the
    ``[search]`` section ``s`` (defaults filled in, recorded in ``s.resolved``).

    ``plugins`` (``run.plugins``) are imported first if the name is not
    registered yet. Keys of ``s`` that only other strategies declare get "only
    used by" errors here; keys nobody declares are left for ``s.finish()``
    (unknown key, did you mean).
    """
    raw = s.data.get("strategy", default)
    if isinstance(raw, str) and raw not in STRATEGIES:
        import_plugins(plugins)
    name = s.get_str("strategy", default, choices=tuple(STRATEGIES))
    cls = STRATEGIES[name]
    params = read_params(cls.params, s)
    try:
        cls.check_params(params)
    except InvalidParam as exc:
        raise s.error(exc.key, exc.message) from None
    for key in s.data:
        if key in params or key in s._known:
            continue
        if key in _LEGACY_KEYS:
            s._known.append(key)  # accepted, not resolved: this strategy has no use for it
            continue
        users = [n for n, c in STRATEGIES.items() if any(p.name == key for p in c.params)]
        if users:
            names = ", ".join(repr(u) for u in users[:-1])
            names = f"{names} or {users[-1]!r}" if names else repr(users[-1])
            raise s.error(key, f"only used by strategy {names}, not {name!r}")
    return name, params


# Config validation reads [search] through this registry (config sits below
# the engine, so the engine installs the reader).
set_strategy_reader(parse_strategy)


def make_strategy(name: str, space: Any, rng: Any, **params: Any) -> Strategy:
    """Instantiate the strategy registered under ``name`` with its parameters
    (undeclared ones take the constructor's defaults)."""
    return get_strategy(name)(space, rng, **params)


def describe_strategies() -> str:
    """A plain-text listing of every strategy and its parameters (for the CLI).

    Example:
        >>> print(describe_strategies().split("\\n\\n")[0])  # doctest: +ELLIPSIS
        regularized_evolution
          Steady-state tournament selection with FIFO (aging) replacement.
          population_size  int >= 2, default 100
              ...
    """
    blocks = []
    for name, cls in STRATEGIES.items():
        doc = (cls.__doc__ or "").strip().splitlines()
        lines = [name, f"  {doc[0] if doc else ''}".rstrip()]
        width = max((len(p.name) for p in cls.params), default=0)
        for p in cls.params:
            lines.append(f"  {p.name:<{width}}  {p.describe()}")
            lines.append(f"      {p.doc}")
        if not cls.params:
            lines.append("  (no parameters)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
