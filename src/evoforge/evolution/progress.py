"""Live progress of a run: a rich panel on a terminal, plain log lines otherwise.

The driver calls `Progress.update` at most a few times per second (never per
individual), so progress costs nothing measurable. Given the run's `Limits`,
a display also shows the share of the budget done and the time left: the
soonest of the limits to be reached at this session's average rate (``≤``
when a fitness target may stop the run sooner).

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> p = LogProgress(out, every=0.0)
    >>> p.update(Snapshot(evaluated=2000, elapsed=2.0, best_fitness=0.9))
    >>> print(out.getvalue().strip())
    evaluated 2,000 | 1,000/s | FEC hits - | best 0.9000 | median - | select - | 2s
    >>> p = LogProgress(out, every=0.0, limits=Limits(max_individuals=10_000))
    >>> p.update(Snapshot(evaluated=2000, elapsed=2.0, best_fitness=0.9))
    >>> print(out.getvalue().splitlines()[-1].split(" | 2s | ")[1])
    20.0% | 8s left
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table


@dataclass(frozen=True)
class Snapshot:
    """The figures shown; None where not applicable (no FEC, no selector, ...)."""

    evaluated: int
    elapsed: float
    fec_hit_rate: float | None = None
    best_fitness: float | None = None
    median_fitness: float | None = None
    best_select: float | None = None
    status: str = "running"
    cost: int | None = None  # work units so far, for a ``max_cost`` budget


@dataclass(frozen=True)
class Limits:
    """The run's budget: the limits `evoforge.config.RunConfig` sets (None:
    no such limit); ``target``: a fitness target may stop it sooner."""

    max_individuals: int | None = None
    max_cost: int | None = None
    max_seconds: float | None = None
    target: bool = False

    @classmethod
    def of(cls, run_config: Any) -> Limits:
        """The limits of a ``[run]`` table (`evoforge.config.RunConfig`)."""
        rc = run_config
        return cls(
            max_individuals=rc.max_individuals,
            max_cost=rc.max_cost,
            max_seconds=rc.max_seconds,
            target=rc.stop_fitness is not None or rc.stop_select_fitness is not None,
        )


def format_duration(seconds: float) -> str:
    """``"45s"``, ``"12m 05s"``, ``"3h 07m"``, ``"2d 04h"``.

    Example:
        >>> format_duration(3725), format_duration(59.4), format_duration(200_000)
        ('1h 02m', '59s', '2d 07h')
    """
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


class _Budget:
    """Share of the budget done and the time left, from this session's
    average rates (the first snapshot of a session is the baseline, so a
    resumed run is not credited with its earlier sessions' speed; until a
    second one arrives, the whole run's average)."""

    def __init__(self, limits: Limits | None) -> None:
        self.limits = limits
        self._first: Snapshot | None = None

    def __call__(self, s: Snapshot) -> tuple[float, float | None] | None:
        """``(share done, seconds left or None)``; None without limits."""
        limits = self.limits
        if limits is None:
            return None
        if self._first is None:
            self._first = s
        first = self._first
        dt = s.elapsed - first.elapsed
        shares: list[float] = []
        lefts: list[float] = []
        counters = (
            (limits.max_individuals, s.evaluated, first.evaluated),
            (limits.max_cost, s.cost, first.cost),
        )
        for limit, now, then in counters:
            if limit is None or now is None:
                continue
            shares.append(now / limit if limit else 1.0)
            if then is not None and dt > 0 and now > then:
                lefts.append(max(0, limit - now) / ((now - then) / dt))
            elif dt <= 0 and s.elapsed > 0 and now > 0:  # no baseline yet: the whole run's
                lefts.append(max(0, limit - now) / (now / s.elapsed))
        if limits.max_seconds is not None:
            shares.append(s.elapsed / limits.max_seconds if limits.max_seconds else 1.0)
            lefts.append(max(0.0, limits.max_seconds - s.elapsed))
        if not shares:
            return None
        left = min(lefts) if lefts else None
        return min(1.0, max(shares)), left if left is None or math.isfinite(left) else None

    def text(self, s: Snapshot) -> str | None:
        """``"20.0% | 8s left"`` (``≤ 8s left`` with a fitness target), or None."""
        done = self(s)
        if done is None:
            return None
        share, left = done
        if left is None or s.status != "running":
            return f"{share:.1%}"
        bound = "≤ " if self.limits is not None and self.limits.target else ""
        return f"{share:.1%} | {bound}{format_duration(left)} left"


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


class Progress(Protocol):
    """Receives snapshots; `close` gets the final one."""

    def update(self, snapshot: Snapshot) -> None: ...

    def close(self, snapshot: Snapshot) -> None: ...


class NullProgress:
    """Shows nothing (tests, library use)."""

    limits: Limits | None = None

    def update(self, snapshot: Snapshot) -> None:
        pass

    def close(self, snapshot: Snapshot) -> None:
        pass


class _Rate:
    """Individuals per second between successive snapshots (of the same session)."""

    def __init__(self) -> None:
        self._last: tuple[float, int] | None = None
        self.value: float | None = None

    def __call__(self, snapshot: Snapshot) -> float | None:
        if self._last is not None and snapshot.elapsed > self._last[0]:
            dt = snapshot.elapsed - self._last[0]
            self.value = (snapshot.evaluated - self._last[1]) / dt
        elif self._last is None and snapshot.elapsed > 0:
            self.value = snapshot.evaluated / snapshot.elapsed
        self._last = (snapshot.elapsed, snapshot.evaluated)
        return self.value


class _Display:
    """What both displays keep between snapshots: the rate and the budget."""

    def __init__(self, limits: Limits | None) -> None:
        self._rate = _Rate()
        self._budget = _Budget(limits)

    @property
    def limits(self) -> Limits | None:
        return self._budget.limits

    @limits.setter
    def limits(self, value: Limits | None) -> None:
        self._budget.limits = value


class LogProgress(_Display):
    """One plain line every ``every`` seconds (for logs and pipes)."""

    def __init__(
        self, stream: TextIO | None = None, every: float = 5.0, limits: Limits | None = None
    ) -> None:
        super().__init__(limits)
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self._next = 0.0

    def _line(self, s: Snapshot) -> str:
        rate = self._rate(s)
        hits = "-" if s.fec_hit_rate is None else f"{s.fec_hit_rate:.1%}"
        budget = self._budget.text(s)
        return (
            f"evaluated {s.evaluated:,} | {_fmt(rate, ',.0f')}/s | FEC hits {hits} | "
            f"best {_fmt(s.best_fitness)} | median {_fmt(s.median_fitness)} | "
            f"select {_fmt(s.best_select)} | {s.elapsed:.0f}s"
            + ("" if budget is None else f" | {budget}")
        )

    def update(self, snapshot: Snapshot) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.every
            print(self._line(snapshot), file=self.stream, flush=True)

    def close(self, snapshot: Snapshot) -> None:
        print(self._line(snapshot) + f" | {snapshot.status}", file=self.stream, flush=True)


class RichProgress(_Display):
    """A live-updating table on a terminal."""

    def __init__(self, console: Console | None = None, limits: Limits | None = None) -> None:
        super().__init__(limits)
        self.console = console or Console(stderr=True)
        self._live: Live | None = None

    def _table(self, s: Snapshot) -> Table:
        table = Table(show_header=False, box=None, padding=(0, 2))
        rate = self._rate(s)
        rows = [
            ("status", s.status),
            ("evaluated", f"{s.evaluated:,}"),
            ("individuals/s", _fmt(rate, ",.0f")),
            ("FEC hit rate", "-" if s.fec_hit_rate is None else f"{s.fec_hit_rate:.1%}"),
            ("best fitness", _fmt(s.best_fitness)),
            ("median population fitness", _fmt(s.median_fitness)),
            ("best select fitness", _fmt(s.best_select)),
            ("elapsed", f"{s.elapsed:,.1f} s"),
        ]
        budget = self._budget(s)
        if budget is not None:
            share, left = budget
            rows.append(("budget done", f"{share:.1%}"))
            if left is not None and s.status == "running":
                bound = "at most " if self.limits is not None and self.limits.target else ""
                rows.append(("time left", bound + format_duration(left)))
        for name, value in rows:
            table.add_row(f"[bold]{name}", value)
        return table

    def update(self, snapshot: Snapshot) -> None:
        if self._live is None:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        self._live.update(self._table(snapshot), refresh=True)

    def close(self, snapshot: Snapshot) -> None:
        self.update(snapshot)
        assert self._live is not None
        self._live.stop()
        self._live = None


def make_progress(
    quiet: bool = False, stream: TextIO | None = None, limits: Limits | None = None
) -> Progress:
    """Rich display if ``stream`` (default stderr) is a terminal, log lines if not;
    with ``limits``, the share of the budget done and the time left."""
    if quiet:
        return NullProgress()
    stream = stream if stream is not None else sys.stderr
    if stream.isatty():
        return RichProgress(Console(file=stream), limits)
    return LogProgress(stream, limits=limits)
