"""When a run's loop checkpoints and refreshes its progress display.

Both loops (one population in `evoforge.evolution.run`, islands in
`evoforge.evolution.archipelago`) call `Pacer.step` after storing each batch
of individuals.

Example:
    >>> class FakeRun:  # what a Pacer uses of a Run
    ...     class config:
    ...         class run:
    ...             checkpoint_every, checkpoint_seconds = 100, 60.0
    ...     n, checkpoints = 0, 0
    ...     def checkpoint(self): self.checkpoints += 1
    >>> run = FakeRun()
    >>> with Pacer(run) as pacer:  # the cyclic collector waits for checkpoints
    ...     run.n = 150
    ...     pacer.step(), run.checkpoints  # 100 individuals since the last checkpoint
    (False, 1)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from evoforge.evolution.collector import CollectionPause

if TYPE_CHECKING:
    from evoforge.evolution.run import Run

TICK = 0.25  # seconds between progress updates and time-based checks


class Pacer:
    """When a run's loop checkpoints (every ``run.checkpoint_every`` individuals
    or ``run.checkpoint_seconds``) and refreshes its progress (every tick).

    Used as a context manager around the loop: inside it the automatic cyclic
    collector is off and runs at checkpoints instead (see `CollectionPause`).
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        now = time.monotonic()
        self.next_tick = now + TICK
        self._next_checkpoint(now)
        self._collection = CollectionPause()

    def __enter__(self) -> Pacer:
        self._collection.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._collection.__exit__(*exc_info)

    def _checkpoint(self, now: float) -> None:
        self.run.checkpoint()
        self._collection.maybe_collect()
        self._next_checkpoint(now)

    def _next_checkpoint(self, now: float) -> None:
        rc = self.run.config.run
        self.next_n = self.run.n + rc.checkpoint_every
        self.next_time = now + rc.checkpoint_seconds

    def step(self) -> bool:
        """Call after storing a batch; True when a tick passed (time to check clocks)."""
        run = self.run
        if run.n >= self.next_n:
            self._checkpoint(time.monotonic())
        now = time.monotonic()
        if now < self.next_tick:
            return False
        self.next_tick = now + TICK
        run.progress.update(run.snapshot())
        if now >= self.next_time:
            self._checkpoint(now)
        return True
