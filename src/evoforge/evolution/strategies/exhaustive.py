"""Exhaustive enumeration: evaluate every genome of a finite space once, in order.

The space must have ``enumerate()``, an iterator over all its genomes in a
fixed order (e.g. CAFE's S1, 3,456 functions). The strategy proposes them one
after the other and remembers the best (the first one on ties). A checkpoint
holds only how many were proposed, so resume re-creates the iterator and skips
that many. Set ``run.max_individuals`` to the size of the space (or less): once
every genome has been told, asking for more is an error.

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> class Three:
    ...     def enumerate(self): return iter(["a", "b", "c"])
    >>> s = Exhaustive(Three(), np.random.default_rng(0))
    >>> [c.genome for c in s.ask(2)], [c.genome for c in s.ask(5)], s.ask(1)
    (['a', 'b'], ['c'], [])
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from evoforge.evolution.space import Individual, SearchSpace
from evoforge.evolution.strategies.base import Candidate, KeepsBest, PopulationDelta


class Exhaustive(KeepsBest):
    """Every genome of ``space.enumerate()``, each once; keeps the best."""

    name = "exhaustive"

    def __init__(self, space: SearchSpace, rng: np.random.Generator) -> None:
        super().__init__(space, rng)
        if not callable(getattr(space, "enumerate", None)):
            raise ValueError(
                f"{type(space).__name__} cannot be enumerated (no enumerate() method); "
                "exhaustive search needs a finite space such as CAFE's S1"
            )
        self._asked = 0
        self._told = 0
        self._exhausted = False
        self._iter: Iterator[Any] = space.enumerate()  # type: ignore[attr-defined]

    def ask(self, n: int) -> list[Candidate]:
        out = [Candidate(g, None, None) for g in itertools.islice(self._iter, n)]
        self._asked += len(out)
        if len(out) < n:
            self._exhausted = True
            if not out and self._told == self._asked:
                raise RuntimeError(
                    f"exhaustive: all {self._asked} genomes of the space have been evaluated; "
                    f"set run.max_individuals <= {self._asked}"
                )
        return out

    def tell(self, individuals: Sequence[Individual]) -> PopulationDelta:
        self._told += len(individuals)
        return super().tell(individuals)

    def state_dict(self) -> dict[str, Any]:
        # In-flight candidates are checkpointed by the run as pending, so the
        # enumeration position is what was asked.
        return {"asked": self._asked, **super().state_dict()}

    def load_state_dict(
        self, state: Mapping[str, Any], individuals: Mapping[int, Individual]
    ) -> None:
        self._asked = self._told = int(state["asked"])
        self._iter = self.space.enumerate()  # type: ignore[attr-defined]
        for _ in itertools.islice(self._iter, self._asked):
            pass
        super().load_state_dict(state, individuals)
