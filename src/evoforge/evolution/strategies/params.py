"""Declared strategy parameters: name, type, range, default and doc, once.

A strategy lists its constructor's keyword parameters as `Param` values in its
``params`` class attribute. Config validation reads them from ``[search]`` with
the same `evoforge.config.Section` helpers domain builders use (so errors,
defaults and the resolved config behave alike), and ``evoforge strategies``
prints them.

Example:
    >>> from evoforge.config import ConfigError, Section
    >>> size = Param("population_size", int, 100, "members", min=2)
    >>> tour = Param("tournament_size", int, 10, "drawn per tournament", min=1,
    ...              max="population_size")
    >>> s = Section({"population_size": 5}, "search")
    >>> read_params((size, tour), s)
    {'population_size': 5, 'tournament_size': 5}
    >>> tour.describe()
    'int in [1, population_size], default 10'
    >>> read_params((size, tour), Section({"population_size": 5, "tournament_size": 6}, "s"))
    Traceback (most recent call last):
    ...
    evoforge.config.ConfigError: s.tournament_size: expected ... [1, population_size=5], got 6
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evoforge.config import ConfigError, Section

_TYPES = (int, float, bool, str)


class InvalidParam(ValueError):
    """A constraint between parameters failed; ``key`` is the one to blame."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


@dataclass(frozen=True)
class Param:
    """One keyword parameter of a strategy's constructor.

    ``default`` None makes it optional (left out of the resolved config when
    unset, as TOML has no null). ``max`` is a number or the name of an integer
    parameter declared before this one (its value bounds this one, and a larger
    default is clipped to it).
    """

    name: str
    type: type
    default: Any
    doc: str
    min: float | None = None
    max: float | str | None = None
    min_exclusive: bool = False
    choices: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"Param {self.name!r}: type must be one of int, float, bool, str")

    def describe(self) -> str:
        """``"int in [1, population_size], default 10"`` for listings."""
        text = self.type.__name__
        lo, hi = self.min, self.max
        if self.choices:
            text += " in {" + ", ".join(self.choices) + "}"
        elif lo is not None and hi is not None:
            text += f" in {'(' if self.min_exclusive else '['}{lo}, {hi}]"
        elif lo is not None:
            text += f" {'>' if self.min_exclusive else '>='} {lo}"
        elif hi is not None:
            text += f" <= {hi}"
        return text + (", optional" if self.default is None else f", default {self.default!r}")

    def read(self, s: Section, known: Mapping[str, Any]) -> Any:
        """This parameter's value from ``s`` (validated), ``known`` the ones read before."""
        hi, ref = self.max, None
        default = self.default
        if isinstance(hi, str):
            ref, hi = hi, known[hi]
            if default is not None:
                default = min(default, hi)
        try:
            return self._read(s, default, hi)
        except ConfigError as exc:
            if ref is None:
                raise
            # Name the bound's source: "in [1, population_size=8]", not "in [1, 8]".
            message = exc.message.replace(f", {hi}]", f", {ref}={hi}]")
            raise ConfigError(exc.path, message.replace(f"<= {hi}", f"<= {ref}={hi}")) from None

    def _read(self, s: Section, default: Any, hi: float | None) -> Any:
        if self.type is bool:
            return s.get_bool(self.name, default)
        if self.type is str:
            return s.get_str(self.name, default, choices=self.choices)
        if self.type is float:
            return s.get_float(
                self.name,
                default,
                min=None if self.min is None else float(self.min),
                max=None if hi is None else float(hi),
                min_exclusive=self.min_exclusive,
            )
        lo = None if self.min is None else int(self.min)
        return s.get_int(self.name, default, min=lo, max=None if hi is None else int(hi))


def read_params(params: Sequence[Param], s: Section) -> dict[str, Any]:
    """Every declared parameter from ``s``, in declaration order, defaults filled in."""
    out: dict[str, Any] = {}
    for p in params:
        out[p.name] = p.read(s, out)
    return out
