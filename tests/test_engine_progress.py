"""Progress display: rich on a terminal, plain lines otherwise, nothing when quiet."""

from __future__ import annotations

import io

from rich.console import Console

from evoforge.evolution.progress import (
    LogProgress,
    NullProgress,
    RichProgress,
    Snapshot,
    make_progress,
)


def test_log_lines_are_throttled_and_complete():
    out = io.StringIO()
    p = LogProgress(out, every=3600)
    p.update(Snapshot(evaluated=10, elapsed=1.0))
    p.update(Snapshot(evaluated=20, elapsed=2.0))  # within the interval: no line
    p.close(
        Snapshot(
            evaluated=30,
            elapsed=3.0,
            fec_hit_rate=0.5,
            best_fitness=0.75,
            median_fitness=0.5,
            best_select=0.7,
            status="finished",
        )
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("evaluated 10 | 10/s")
    assert "FEC hits 50.0%" in lines[1] and "best 0.7500" in lines[1]
    assert "select 0.7000" in lines[1] and lines[1].endswith("| finished")


def test_rich_display_renders():
    out = io.StringIO()
    p = RichProgress(Console(file=out, force_terminal=True, width=80))
    p.update(Snapshot(evaluated=1000, elapsed=1.0, best_fitness=0.5))
    p.close(Snapshot(evaluated=2000, elapsed=2.0, best_fitness=0.9, status="finished"))
    text = out.getvalue()
    assert "individuals/s" in text and "0.9000" in text and "finished" in text


def test_make_progress_picks_by_terminal():
    assert isinstance(make_progress(quiet=True), NullProgress)
    assert isinstance(make_progress(stream=io.StringIO()), LogProgress)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(make_progress(stream=Tty()), RichProgress)


def test_budget_share_and_time_left():
    from evoforge.evolution.progress import Limits

    out = io.StringIO()
    p = LogProgress(out, every=0.0, limits=Limits(max_individuals=1000, max_cost=500))
    p.update(Snapshot(evaluated=100, elapsed=10.0, cost=100))  # resumed: its own baseline
    p.update(Snapshot(evaluated=200, elapsed=11.0, cost=300))
    # cost is the binding limit: 60 % done, 200 units left at 200 units/s
    assert out.getvalue().splitlines()[-1].endswith("| 60.0% | 1s left")
    p.limits = Limits(max_individuals=1000, max_seconds=100.0, target=True)
    p.update(Snapshot(evaluated=300, elapsed=12.0))
    # individuals: 700 left at 100/s (7 s) beat 88 s; a fitness target may stop it sooner
    assert out.getvalue().splitlines()[-1].endswith("| 30.0% | ≤ 7s left")
    p.close(Snapshot(evaluated=300, elapsed=12.0, status="finished"))
    assert out.getvalue().splitlines()[-1].endswith("| 30.0% | finished")

    console_out = io.StringIO()
    rich = RichProgress(Console(file=console_out, force_terminal=True, width=80),
                        limits=Limits(max_individuals=4000))  # fmt: skip
    rich.update(Snapshot(evaluated=1000, elapsed=10.0))
    rich.update(Snapshot(evaluated=2000, elapsed=20.0))
    text = console_out.getvalue()
    assert "budget done" in text and "50.0%" in text and "20s" in text and "time left" in text
