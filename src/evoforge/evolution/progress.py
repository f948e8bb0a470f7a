"""Live progress of a run: a rich panel on a terminal, plain log lines otherwise.

The driver calls `Progress.update` at most a few times per second (never per
individual), so progress costs nothing measurable.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> p = LogProgress(out, every=0.0)
    >>> p.update(Snapshot(evaluated=2000, elapsed=2.0, best_fitness=0.9))
    >>> print(out.getvalue().strip())
    evaluated 2,000 | 1,000/s | FEC hits - | best 0.9000 | median - | select - | 2s
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Protocol, TextIO

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


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


class Progress(Protocol):
    """Receives snapshots; `close` gets the final one."""

    def update(self, snapshot: Snapshot) -> None: ...

    def close(self, snapshot: Snapshot) -> None: ...


class NullProgress:
    """Shows nothing (tests, library use)."""

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


class LogProgress:
    """One plain line every ``every`` seconds (for logs and pipes)."""

    def __init__(self, stream: TextIO | None = None, every: float = 5.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self._next = 0.0
        self._rate = _Rate()

    def _line(self, s: Snapshot) -> str:
        rate = self._rate(s)
        hits = "-" if s.fec_hit_rate is None else f"{s.fec_hit_rate:.1%}"
        return (
            f"evaluated {s.evaluated:,} | {_fmt(rate, ',.0f')}/s | FEC hits {hits} | "
            f"best {_fmt(s.best_fitness)} | median {_fmt(s.median_fitness)} | "
            f"select {_fmt(s.best_select)} | {s.elapsed:.0f}s"
        )

    def update(self, snapshot: Snapshot) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.every
            print(self._line(snapshot), file=self.stream, flush=True)

    def close(self, snapshot: Snapshot) -> None:
        print(self._line(snapshot) + f" | {snapshot.status}", file=self.stream, flush=True)


class RichProgress:
    """A live-updating table on a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._rate = _Rate()
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


def make_progress(quiet: bool = False, stream: TextIO | None = None) -> Progress:
    """Rich display if ``stream`` (default stderr) is a terminal, log lines if not."""
    if quiet:
        return NullProgress()
    stream = stream if stream is not None else sys.stderr
    if stream.isatty():
        return RichProgress(Console(file=stream))
    return LogProgress(stream)
