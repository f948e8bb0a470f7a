"""Searches replayed against a precomputed table: no training, exact repeats.

As the chapter does on Act-Bench, a search's "evaluation" of a function is a
look-up of its accuracy in the mini benchmark table. `TablePool` is the finite
space the engine's `evoforge.evolution.strategies.SurrogateSearch` needs: the
table's functions with their 2-D coordinates per feature set. The surrogate
searches only functions with valid features (the FIM filter); the random
baseline draws from every function in the table, unfiltered, as the chapter's
random search does. Both begin with ReLU when the table has it.

`replay` drives the strategy through ask/tell with the seed of one repeat, so
the same seed gives the same curve.

Example:
    >>> import numpy as np
    >>> names = [f"f{i}" for i in range(20)]
    >>> acc = {n: i / 20 for i, n in enumerate(names)}
    >>> pool = TablePool(names, {"both": np.arange(20.0)[:, None]}, valid=np.ones(20, bool))
    >>> curve = replay(pool, acc, "knn", "both", budget=12, seed=0)
    >>> len(curve), curve == replay(pool, acc, "knn", "both", budget=12, seed=0)
    (12, True)
    >>> evaluations_to_reach(curve, 0.95) is not None
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from evoforge.evolution.space import Evaluation, Individual
from evoforge.evolution.strategies.surrogate import SurrogateSearch

RELU = "relu(x)"


def equivalent_name(names: Sequence[str], formula: str = RELU) -> str | None:
    """The entry of ``names`` computing the same function as ``formula`` (identical
    outputs on the fixed samples), e.g. ReLU's representative ``zero(x) + relu(x)``.

    Example:
        >>> equivalent_name(["tanh(x) + zero(x)", "zero(x) + relu(x)"])
        'zero(x) + relu(x)'
    """
    from evoforge.activations.aquasurf.spaces import identity_key
    from evoforge.activations.equivalence import outputs
    from evoforge.activations.formula import parse

    want = identity_key(outputs(parse(formula)))
    for n in names:
        if identity_key(outputs(parse(n))) == want:
            return n
    return None


class TablePool:
    """The functions of a table as a finite pool: ``names`` (function texts, the
    genomes), ``coords[features]`` (rows for the valid names, in order) and
    ``valid`` (the FIM filter)."""

    def __init__(
        self,
        names: Sequence[str],
        coords: Mapping[str, np.ndarray],
        valid: np.ndarray,
        start: Sequence[str] = (RELU,),
    ) -> None:
        self.names = list(names)
        self.valid = np.asarray(valid, dtype=bool)
        self.coords = dict(coords)
        self.start = [s for s in start if s in self.names]
        self._random = False

    def for_random(self) -> TablePool:
        """The unfiltered pool the random baseline draws from."""
        other = TablePool(self.names, self.coords, np.ones(len(self.names), bool), self.start)
        other._random = True
        return other

    def pool_genomes(self, features: str) -> list[str]:
        return [n for n, v in zip(self.names, self.valid, strict=True) if v]

    def pool_coordinates(self, features: str) -> np.ndarray:
        if self._random:
            return np.zeros((len(self.names), 1))
        return self.coords[features]

    def pool_start(self) -> list[str]:
        valid = set(self.pool_genomes(""))
        return [s for s in self.start if s in valid]


def replay(
    pool: TablePool, fitness: Mapping[str, float], surrogate: str, features: str, **kw: int
) -> list[float]:
    """Fitness of each function a search evaluates, in order (`replay_names`'s
    ``budget``, ``seed``, ``k``, ``n_initial``, ``trees`` as keywords).

    ``surrogate="random"`` is the baseline (unfiltered pool, uniform picks).
    """
    return [float(fitness[n]) for n in replay_names(pool, fitness, surrogate, features, **kw)]


def replay_names(
    pool: TablePool,
    fitness: Mapping[str, float],
    surrogate: str,
    features: str,
    budget: int = 100,
    seed: int = 0,
    k: int = 3,
    n_initial: int = 8,
    trees: int = 100,
) -> list[str]:
    """The functions a replayed search evaluates, in order (``trees``: the random
    forest's, for ``surrogate="rf"``)."""
    space = pool.for_random() if surrogate == "random" else pool
    s = SurrogateSearch(
        space, np.random.default_rng(seed), surrogate=surrogate, features=features, k=k,  # type: ignore[arg-type]
        n_initial=n_initial, trees=trees,
    )  # fmt: skip
    out: list[str] = []
    next_id = 1
    while len(out) < budget:
        cands = s.ask(min(n_initial, budget - len(out)) if len(out) == 0 else 1)
        if not cands:
            break
        told = []
        for c in cands:
            f = float(fitness[c.genome])
            told.append(Individual(next_id, c.genome, Evaluation(f), None, c.mutation))
            next_id += 1
            out.append(c.genome)
        s.tell(told)
    return out[:budget]


def best_so_far(curve: Sequence[float]) -> np.ndarray:
    """Running maximum.

    Example:
        >>> best_so_far([0.2, 0.1, 0.5]).tolist()
        [0.2, 0.2, 0.5]
    """
    return np.maximum.accumulate(np.asarray(curve, dtype=np.float64))


def evaluations_to_reach(curve: Sequence[float], target: float) -> int | None:
    """The 1-based count of evaluations after which a value ≥ ``target`` was seen.

    Example:
        >>> evaluations_to_reach([0.1, 0.9, 0.95], 0.9), evaluations_to_reach([0.1], 0.9)
        (2, None)
    """
    for i, v in enumerate(curve):
        if v >= target:
            return i + 1
    return None


def top_fraction_threshold(values: Sequence[float], fraction: float = 0.01) -> float:
    """The smallest value among the best ⌈fraction·N⌉ (a "top-1 %" function reaches it).

    Example:
        >>> top_fraction_threshold(list(range(200)), 0.01)
        198
    """
    v = sorted(values, reverse=True)
    return v[max(1, math.ceil(fraction * len(v))) - 1]
