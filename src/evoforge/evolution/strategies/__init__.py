"""Search strategies (ask/tell) and the registry that names them in configs.

Each strategy declares its parameters once (`Param`, in its ``params`` class
attribute); `register_strategy` adds one (built-ins here, others from a
``run.plugins`` module), and config validation, the resolved config and
``evoforge strategies`` read the declaration.

Example:
    >>> import numpy as np
    >>> class Coin:
    ...     def initial(self, rng):
    ...         return int(rng.integers(2))
    >>> make_strategy("random_search", Coin(), np.random.default_rng(0)).name
    'random_search'
"""

from __future__ import annotations

from evoforge.evolution.strategies.base import (
    NO_CHANGE,
    Candidate,
    PopulationDelta,
    Strategy,
)
from evoforge.evolution.strategies.categorical_nes import CategoricalNES
from evoforge.evolution.strategies.elite_pool import ElitePool
from evoforge.evolution.strategies.exhaustive import Exhaustive
from evoforge.evolution.strategies.generational import SoftmaxGA
from evoforge.evolution.strategies.mu_lambda import MuLambda
from evoforge.evolution.strategies.one_plus_one import OnePlusOneNiching
from evoforge.evolution.strategies.pairwise import PairwiseTournament
from evoforge.evolution.strategies.params import InvalidParam, Param
from evoforge.evolution.strategies.random_search import RandomSearch
from evoforge.evolution.strategies.random_walk import RandomWalk
from evoforge.evolution.strategies.registry import (
    STRATEGIES,
    available_strategies,
    describe_strategies,
    get_strategy,
    make_strategy,
    parse_strategy,
    register_strategy,
)
from evoforge.evolution.strategies.regularized import RegularizedEvolution
from evoforge.evolution.strategies.state import decode_state, encode_state
from evoforge.evolution.strategies.surrogate import SurrogateSearch

for _cls in (RegularizedEvolution, RandomSearch, RandomWalk, SoftmaxGA, Exhaustive, MuLambda):
    register_strategy(_cls)
for _cls in (PairwiseTournament, OnePlusOneNiching):  # architectures (Real 2017; Prellberg ch. 7)
    register_strategy(_cls)
register_strategy(CategoricalNES)
register_strategy(ElitePool)  # Backprop Evolution's controller (Alber 2018)
register_strategy(SurrogateSearch)  # AQuaSurF (Bingham ch. 6)

__all__ = [
    "NO_CHANGE",
    "STRATEGIES",
    "Candidate",
    "CategoricalNES",
    "ElitePool",
    "Exhaustive",
    "InvalidParam",
    "MuLambda",
    "OnePlusOneNiching",
    "PairwiseTournament",
    "Param",
    "PopulationDelta",
    "RandomSearch",
    "RandomWalk",
    "RegularizedEvolution",
    "SoftmaxGA",
    "Strategy",
    "SurrogateSearch",
    "available_strategies",
    "decode_state",
    "describe_strategies",
    "encode_state",
    "get_strategy",
    "make_strategy",
    "parse_strategy",
    "register_strategy",
]
