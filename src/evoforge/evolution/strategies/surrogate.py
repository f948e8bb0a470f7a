"""Surrogate search over a finite, embedded pool (AQuaSurF, Bingham ch. 6).

The space offers a finite pool of candidates with low-dimensional coordinates
(for activation functions: the 2-D UMAP embedding of their FIM eigenvalues
and outputs). The strategy first evaluates the space's start genomes (ReLU)
plus random pool members up to ``n_initial``; then, each time it is asked, it
fits a regressor from the coordinates of everything told so far to its
fitness, predicts every pool member not yet asked for, and proposes the one
with the highest prediction (ties: the lowest pool index; ``ask(n)`` gives the
``n`` best). Regressors, scikit-learn defaults otherwise: ``knn`` (k nearest,
distance-weighted — the chapter's "weighted" k-NN, k = 3), ``rf`` (random
forest of ``trees`` trees, scikit-learn's default 100, seeded from the
strategy's rng), ``svr``; ``random`` picks an
unevaluated member uniformly (the baseline). ``features`` names which
coordinates the space gives (``both``, ``fim``, ``outputs``: the ablations).

The space must provide ``pool_genomes(features) -> Sequence`` (hashable
genomes), ``pool_coordinates(features) -> ndarray (N, d)`` and optionally
``pool_start() -> list`` of genomes to evaluate first. The pool is read at the
first ask or tell, not when the strategy is made: a space may compute it then
(AQuaSurF's features and embedding, cached in the run directory).

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> class Line:  # fitness peaks at x = 7
    ...     def pool_genomes(self, features): return list(range(10))
    ...     def pool_coordinates(self, features): return np.arange(10.0)[:, None]
    ...     def pool_start(self): return [0]
    >>> s = SurrogateSearch(Line(), np.random.default_rng(0), n_initial=3)
    >>> first = s.ask(5)
    >>> [c.genome for c in first]
    [0, 8, 6]
    >>> told = s.tell([Individual(i, c.genome, Evaluation(-abs(c.genome - 7.0)))
    ...                for i, c in enumerate(first)])
    >>> s.ask(1)[0].genome
    7
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evoforge.evolution.space import Individual, SearchSpace
from evoforge.evolution.strategies.base import Candidate, KeepsBest, PopulationDelta
from evoforge.evolution.strategies.params import Param

SURROGATES = ("knn", "rf", "svr", "random")
FEATURES = ("both", "fim", "outputs")


def make_regressor(kind: str, k: int, seed: int, trees: int = 100) -> Any:
    """A fresh scikit-learn regressor for ``kind`` (not ``random``).

    Example:
        >>> type(make_regressor("knn", 3, 0)).__name__
        'KNeighborsRegressor'
        >>> make_regressor("rf", 3, 0, trees=25).n_estimators
        25
    """
    if kind == "knn":
        from sklearn.neighbors import KNeighborsRegressor

        return KNeighborsRegressor(n_neighbors=k, weights="distance")
    if kind == "rf":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_estimators=trees, random_state=seed, n_jobs=1)
    if kind == "svr":
        from sklearn.svm import SVR

        return SVR()
    raise ValueError(f"surrogate must be one of {SURROGATES[:3]}, got {kind!r}")


class SurrogateSearch(KeepsBest):
    """Fit a regressor on the evaluated pool members' coordinates; evaluate the argmax."""

    name = "surrogate"
    params = (
        Param("surrogate", str, "knn", "regressor: knn, rf, svr or random", choices=SURROGATES),
        Param("features", str, "both", "which coordinates the space gives", choices=FEATURES),
        Param("k", int, 3, "neighbours of the knn regressor", min=1),
        Param("n_initial", int, 8, "evaluated before the first fit (start genomes first)", min=1),
        Param("trees", int, 100, "trees of the rf regressor", min=1),
    )

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        surrogate: str = "knn",
        features: str = "both",
        k: int = 3,
        n_initial: int = 8,
        trees: int = 100,
    ) -> None:
        super().__init__(space, rng)
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, got {surrogate!r}")
        for method in ("pool_genomes", "pool_coordinates"):
            if not callable(getattr(space, method, None)):
                raise ValueError(
                    f"{type(space).__name__} has no {method}(); the surrogate strategy needs "
                    "a finite pool with coordinates (e.g. the AQuaSurF spaces)"
                )
        self.surrogate, self.features, self.k, self.trees = surrogate, features, k, trees
        self._n_initial = n_initial
        self._pool: tuple[list[Any], np.ndarray, dict[Any, int], list[int]] | None = None
        self._asked: list[int] = []  # pool indices, in order
        self._told_idx: list[int] = []
        self._told_fit: list[float] = []

    def _load_pool(self) -> tuple[list[Any], np.ndarray, dict[Any, int], list[int]]:
        """(genomes, coordinates, genome -> index, start indices), read once."""
        if self._pool is None:
            genomes = list(self.space.pool_genomes(self.features))  # type: ignore[attr-defined]
            coords = np.asarray(self.space.pool_coordinates(self.features), dtype=np.float64)  # type: ignore[attr-defined]
            if coords.ndim == 1:
                coords = coords[:, None]
            if len(genomes) != coords.shape[0] or not genomes:
                raise ValueError(
                    f"pool: {len(genomes)} genomes but {coords.shape[0]} coordinate rows"
                )
            index = {g: i for i, g in enumerate(genomes)}
            start = getattr(self.space, "pool_start", None)
            self._pool = (
                genomes,
                coords,
                index,
                [index[g] for g in (start() if callable(start) else ())],
            )
        return self._pool

    @property
    def genomes(self) -> list[Any]:
        """The pool's genomes (coordinates row i is genome i)."""
        return self._load_pool()[0]

    @property
    def coords(self) -> np.ndarray:
        return self._load_pool()[1]

    @property
    def n_initial(self) -> int:
        """Evaluated before the first fit: ``n_initial``, at least the start genomes."""
        return max(self._n_initial, len(self._load_pool()[3]))

    # -- ask/tell --------------------------------------------------------------

    def ask(self, n: int) -> list[Candidate]:
        out: list[int] = []
        while len(self._asked) + len(out) < min(self.n_initial, len(self.genomes)) and len(out) < n:
            out.append(self._initial_pick(out))
        if len(self._asked) + len(out) < self.n_initial or out:
            self._asked.extend(out)
            return [Candidate(self.genomes[i], None, None) for i in out]
        if len(self._told_idx) < min(self.n_initial, len(self.genomes)):
            return []  # the first fit waits for the whole initial sample
        free = np.ones(len(self.genomes), dtype=bool)
        free[self._asked] = False
        candidates = np.flatnonzero(free)
        if candidates.size == 0:
            return []
        picks = self._pick(candidates, n)
        self._asked.extend(picks)
        return [Candidate(self.genomes[i], None, self.surrogate) for i in picks]

    def _initial_pick(self, pending: list[int]) -> int:
        taken = set(self._asked) | set(pending)
        for i in self._load_pool()[3]:
            if i not in taken:
                return i
        free = np.array([i for i in range(len(self.genomes)) if i not in taken])
        return int(free[self.rng.integers(free.size)])

    def predict(self, candidates: np.ndarray) -> np.ndarray:
        """The surrogate's predicted fitness of pool members ``candidates``."""
        model = make_regressor(self.surrogate, min(self.k, len(self._told_idx)),
                               int(self.rng.integers(2**31)), self.trees)  # fmt: skip
        model.fit(self.coords[self._told_idx], np.asarray(self._told_fit))
        return np.asarray(model.predict(self.coords[candidates]), dtype=np.float64)

    def _pick(self, candidates: np.ndarray, n: int) -> list[int]:
        if self.surrogate == "random":
            chosen = self.rng.choice(candidates.size, size=min(n, candidates.size), replace=False)
            return [int(candidates[j]) for j in chosen]
        pred = self.predict(candidates)
        # Stable sort on -prediction: equal predictions go to the lowest index.
        order = np.argsort(-pred, kind="stable")[:n]
        return [int(candidates[j]) for j in order]

    def tell(self, individuals: Sequence[Individual]) -> PopulationDelta:
        for ind in individuals:
            i = self._load_pool()[2].get(ind.genome)
            if i is None:
                raise ValueError(f"surrogate: told a genome outside the pool: {ind.genome!r}")
            self._told_idx.append(i)
            fit = float(ind.evaluation.fitness)
            self._told_fit.append(
                fit if np.isfinite(fit) else float(np.min(self._told_fit or [0.0]))
            )
        return super().tell(individuals)

    # -- checkpoint ------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "asked": np.asarray(self._asked, dtype=np.int64),
            "told_idx": np.asarray(self._told_idx, dtype=np.int64),
            "told_fit": np.asarray(self._told_fit, dtype=np.float64),
            **super().state_dict(),
        }

    def load_state_dict(
        self, state: Mapping[str, Any], individuals: Mapping[int, Individual]
    ) -> None:
        self._asked = [int(i) for i in np.asarray(state["asked"])]
        self._told_idx = [int(i) for i in np.asarray(state["told_idx"])]
        self._told_fit = [float(f) for f in np.asarray(state["told_fit"])]
        super().load_state_dict(state, individuals)
