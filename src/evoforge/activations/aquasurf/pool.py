"""AQuaSurF's spaces as finite pools for the engine's ``surrogate`` strategy.

`AquasurfSpace` is a `SearchSpace` over a finite list of activation functions
(`pool_functions`: the unique benchmark functions, or a seeded sample of the
lazily enumerated 1,023,516-function four-node space) that also offers what
`evoforge.evolution.strategies.surrogate.SurrogateSearch` reads:
``pool_genomes`` (the functions with finite features: the chapter's filter),
``pool_coordinates`` (their 2-D UMAP embedding from FIM eigenvalues, outputs
or both) and ``pool_start`` (ReLU, evaluated first).

Features are computed on first use with the network the evaluator trains,
initialised as it will be (AutoInit in the chapter), on one batch of its
training data. Once the engine has named the run directory (`use_run_dir`),
features are kept there per space × network (``aquasurf/features-<key>.npz``)
and embeddings per feature set and seed, so a resumed run reads them back.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from evoforge.activations.module import Activation
    >>> net = lambda g: nn.Sequential(nn.Linear(3, 4), Activation(g), nn.Linear(4, 2))
    >>> batch = lambda: (torch.randn(16, 3), torch.randint(0, 2, (16,)))
    >>> fs = lambda: pool_functions("benchmark", pool_size=30, seed=0)
    >>> space = AquasurfSpace(fs, net, batch, {"demo": 1})
    >>> len(space.functions), space.to_text(space.pool_start()[0])
    (31, 'relu(x)')
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evoforge.activations.aquasurf.embedding import FEATURE_SETS, embed
from evoforge.activations.aquasurf.features import FeatureCache, Features, compute_features
from evoforge.activations.aquasurf.spaces import FourNodeSpace, identity_key, unique_benchmark
from evoforge.activations.equivalence import outputs
from evoforge.activations.expr import Binary, Node, Unary, replace_at, walk
from evoforge.activations.formula import parse, to_text
from evoforge.activations.operators import PANGAEA_BINARY, PANGAEA_UNARY
from evoforge.activations.space import _FormulaSpace

log = logging.getLogger(__name__)

POOLS = ("benchmark", "four_node")
#: Tries of `AquasurfSpace.mutate` to land on a pool member by changing one operator.
_MUTATE_TRIES = 20


def pool_functions(
    space: str, pool_size: int = 0, seed: int = 0, start: Sequence[str] = ("relu(x)",)
) -> list[Node]:
    """The functions of a pool, distinct by outputs on the fixed samples.

    ``"benchmark"``: the 2,865 unique benchmark functions, or a seeded sample of
    ``pool_size`` of them (in their order). ``"four_node"``: ``pool_size``
    functions drawn uniformly (seeded) from the four-node space, duplicates by
    outputs and non-finite ones dropped (every function of 1,023,516 would take
    this machine ~10 hours of features). A ``start`` formula computing no pool
    member's function is put first, so the search can begin from it.

    Example:
        >>> [to_text(g) for g in pool_functions("four_node", pool_size=2, seed=0)]
        ['relu(x)', 'elu(square(exp(sinh(x))))', 'sigmoid(neg(exp(bessel_i0e(x))))']
    """
    if space == "benchmark":
        every = unique_benchmark()
        if pool_size and pool_size < len(every):
            keep = np.sort(np.random.default_rng(seed).choice(len(every), pool_size, replace=False))
            every = tuple(every[int(i)] for i in keep)
        funcs = list(every)
    elif space == "four_node":
        if pool_size < 1:
            raise ValueError("four_node: pool_size must be >= 1 (a sample of the space)")
        funcs, seen = [], set()
        for g in FourNodeSpace().sample(np.random.default_rng(seed), pool_size):
            out = outputs(g)
            key = identity_key(out)
            if np.isfinite(out).all() and key not in seen:
                seen.add(key)
                funcs.append(g)
    else:
        raise ValueError(f"space must be one of {POOLS}, got {space!r}")
    keys = {identity_key(outputs(g)) for g in funcs}
    missing = [parse(s) for s in start if identity_key(outputs(parse(s))) not in keys]
    return missing + funcs


class AquasurfSpace(_FormulaSpace):
    """A finite pool of functions with AQuaSurF features and embeddings.

    Args:
        functions: makes the pool's functions (called once, on first use).
        network: the initialised network with a given function (for the FIM).
        batch: the data batch ``(x, y)`` the FIM is computed on.
        describe: what identifies space × network × batch (the features' cache key).
        start: formulas evaluated first, matched to pool members by outputs.
        embed_seed: seeds UMAP.
    """

    def __init__(
        self,
        functions: Callable[[], Sequence[Node]],
        network: Callable[[Node], nn.Module],
        batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
        describe: Mapping[str, object],
        start: Sequence[str] = ("relu(x)",),
        embed_seed: int = 0,
    ) -> None:
        self._make_functions = functions
        self._functions: list[Node] | None = None
        self._members: dict[Node, int] = {}
        self._by_outputs: dict[bytes, int] = {}
        self.network, self.batch = network, batch
        self.describe = dict(describe)
        self.start = list(start)
        self.embed_seed = embed_seed
        self.directory: Path | None = None
        self._features: Features | None = None
        self._coords: dict[str, np.ndarray] = {}

    # -- the pool -------------------------------------------------------------

    @property
    def functions(self) -> list[Node]:
        """Every function of the pool (valid features or not)."""
        if self._functions is None:
            self._functions = list(self._make_functions())
            self._members = {g: i for i, g in enumerate(self._functions)}
            self._by_outputs = {identity_key(outputs(g)): i for i, g in enumerate(self._functions)}
        return self._functions

    def use_run_dir(self, run_dir: Path) -> None:
        """Keep features and embeddings under ``run_dir/aquasurf`` (written on first use)."""
        self.directory = Path(run_dir) / "aquasurf"

    def features(self) -> Features:
        """The pool's features, from the run directory's cache when it has them."""
        if self._features is None:
            x, y = self.batch()
            if self.directory is None:
                self._features = compute_features(self.functions, self.network, x, y)
            else:
                cache = FeatureCache(
                    self.directory,
                    {**self.describe, "functions": [to_text(g) for g in self.functions]},
                )
                log.info("AQuaSurF features of %d functions: %s", len(self.functions), cache.path)
                self._features = cache.get(self.functions, self.network, x, y)
        return self._features

    def pool_genomes(self, features: str = "both") -> list[Node]:
        """The functions with finite features, in pool order (the same for every feature set)."""
        valid = self.features().valid
        return [g for g, ok in zip(self.functions, valid, strict=True) if ok]

    def pool_coordinates(self, features: str = "both") -> np.ndarray:
        """2-D UMAP coordinates of `pool_genomes` from ``features`` (cached)."""
        if features not in FEATURE_SETS:
            raise ValueError(f"features must be one of {FEATURE_SETS}, got {features!r}")
        if features not in self._coords:
            feats = self.features()
            path = None
            if self.directory is not None:
                stem = FeatureCache(self.directory, {**self.describe, "functions": feats.functions})
                path = stem.path.with_name(f"embedding-{stem.key}-{features}-{self.embed_seed}.npz")
            if path is not None and path.exists():
                with np.load(path, allow_pickle=False) as z:
                    self._coords[features] = z["coords"]
            else:
                coords = embed(feats, features, seed=self.embed_seed)
                if path is not None:
                    tmp = path.with_suffix(".tmp.npz")
                    np.savez_compressed(tmp, coords=coords)
                    tmp.replace(path)
                self._coords[features] = coords
        return self._coords[features]

    def pool_start(self) -> list[Node]:
        """The pool members computing the ``start`` formulas that have valid features."""
        valid = self.features().valid
        out = []
        for s in self.start:
            i = self._index_of_outputs(parse(s))
            if i is not None and valid[i]:
                out.append(self.functions[i])
        return out

    def _index_of_outputs(self, genome: Node) -> int | None:
        self.functions  # noqa: B018 - builds the look-ups
        return self._by_outputs.get(identity_key(outputs(genome)))

    # -- SearchSpace ------------------------------------------------------------

    def initial(self, rng: np.random.Generator) -> Node:
        """A pool member drawn uniformly."""
        return self.functions[int(rng.integers(len(self.functions)))]

    random = initial

    def mutate(self, genome: Node, rng: np.random.Generator) -> tuple[Node, str]:
        """Change one operator to another of the same arity, landing on the pool
        member with the same outputs ("change"); after `_MUTATE_TRIES` misses, a
        uniform pool member ("redraw")."""
        nodes = [(p, n) for p, n in walk(genome) if isinstance(n, Unary | Binary)]
        for _ in range(_MUTATE_TRIES):
            path, node = nodes[int(rng.integers(len(nodes)))]
            ops = PANGAEA_UNARY if isinstance(node, Unary) else PANGAEA_BINARY
            op = ops[int(rng.integers(len(ops)))]
            if op == node.op:
                continue
            i = self._index_of_outputs(replace_at(genome, path, replace(node, op=op)))
            if i is not None and self.functions[i] != genome:
                return self.functions[i], "change"
        return self.initial(rng), "redraw"

    def _check(self, genome: Node) -> Node:
        self.functions  # noqa: B018 - builds the look-ups
        if genome not in self._members:
            raise ValueError(
                f"{to_text(genome)!r} is not in this AQuaSurF pool"
                f" ({len(self.functions)} functions)"
            )
        return genome
