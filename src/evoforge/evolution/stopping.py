"""When a run stops: the ``[run]`` budget and fitness targets as one value.

Budgets are work (individuals, cost units); wall time is one more limit
beside them, never the only one. A run asks `StopRules.reason` between
batches (and once when it starts, so a resumed run that already met a rule
stops at once) and `StopRules.after_best` whenever it finds a new best.

Example:
    >>> rules = StopRules(max_individuals=1000, max_cost=50, stop_fitness=0.9)
    >>> rules.reason(n=10, cost=60, best_fitness=0.5, max_select=None, elapsed=1.0)
    'max_cost'
    >>> rules.reason(n=10, cost=0, best_fitness=0.5, max_select=None, elapsed=1.0) is None
    True
    >>> rules.after_best(fitness=0.95, select=None)
    'stop_fitness'
"""

from __future__ import annotations

from dataclasses import dataclass

from evoforge.config import RunConfig


@dataclass(frozen=True)
class StopRules:
    """The limits and targets of ``[run]``; None: no such rule."""

    max_individuals: int
    max_cost: int | None = None
    max_seconds: float | None = None
    stop_fitness: float | None = None
    stop_select_fitness: float | None = None

    @classmethod
    def from_config(cls, rc: RunConfig) -> StopRules:
        """The rules a ``[run]`` table sets.

        Example:
            >>> from evoforge.config import parse_config
            >>> StopRules.from_config(parse_config({"run": {"domain": "x"}}).run).max_individuals
            10000
        """
        return cls(
            max_individuals=rc.max_individuals,
            max_cost=rc.max_cost,
            max_seconds=rc.max_seconds,
            stop_fitness=rc.stop_fitness,
            stop_select_fitness=rc.stop_select_fitness,
        )

    def reason(
        self,
        n: int,
        cost: int,
        best_fitness: float,
        max_select: float | None,
        elapsed: float,
    ) -> str | None:
        """The first rule the counters meet (budgets before targets, wall
        time last), or None: ``n`` individuals stored, their summed ``cost``,
        the best valid fitness, the highest select fitness, seconds spent."""
        if n >= self.max_individuals:
            return "max_individuals"
        if self.max_cost is not None and cost >= self.max_cost:
            return "max_cost"
        if self.stop_fitness is not None and best_fitness >= self.stop_fitness:
            return "stop_fitness"
        if (
            self.stop_select_fitness is not None
            and max_select is not None
            and max_select >= self.stop_select_fitness
        ):
            return "stop_select_fitness"
        if self.max_seconds is not None and elapsed >= self.max_seconds:
            return "max_seconds"
        return None

    def after_best(self, fitness: float, select: float | None) -> str | None:
        """The target a new best individual reaches (its ``fitness``, its
        ``select`` fitness where the domain has a selector), or None."""
        if self.stop_fitness is not None and fitness >= self.stop_fitness:
            return "stop_fitness"
        if (
            select is not None
            and self.stop_select_fitness is not None
            and select >= self.stop_select_fitness
        ):
            return "stop_select_fitness"
        return None
