"""Search strategies (ask/tell) and a name -> class registry for configs.

Example:
    >>> import numpy as np
    >>> class Coin:
    ...     def initial(self, rng):
    ...         return int(rng.integers(2))
    >>> make_strategy("random_search", Coin(), np.random.default_rng(0)).name
    'random_search'
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evoforge.evolution.space import SearchSpace
from evoforge.evolution.strategies.base import (
    NO_CHANGE,
    Candidate,
    PopulationDelta,
    Strategy,
)
from evoforge.evolution.strategies.exhaustive import Exhaustive
from evoforge.evolution.strategies.generational import SoftmaxGA
from evoforge.evolution.strategies.random_search import RandomSearch
from evoforge.evolution.strategies.random_walk import RandomWalk
from evoforge.evolution.strategies.regularized import RegularizedEvolution

STRATEGIES: dict[str, type[Strategy]] = {
    RegularizedEvolution.name: RegularizedEvolution,
    RandomSearch.name: RandomSearch,
    RandomWalk.name: RandomWalk,
    SoftmaxGA.name: SoftmaxGA,
    Exhaustive.name: Exhaustive,
}


def make_strategy(
    name: str, space: SearchSpace, rng: np.random.Generator, **params: Any
) -> Strategy:
    """Instantiate the strategy registered under ``name`` with its parameters."""
    return STRATEGIES[name](space, rng, **params)


__all__ = [
    "NO_CHANGE",
    "STRATEGIES",
    "Candidate",
    "Exhaustive",
    "PopulationDelta",
    "RandomSearch",
    "RandomWalk",
    "RegularizedEvolution",
    "SoftmaxGA",
    "Strategy",
    "make_strategy",
]
