"""AQuaSurF's 2-D embedding of activation functions (dissertation §6.3–6.5).

Distances:

* FIM eigenvalues: the layer-wise 1-Wasserstein distance of eq. 6.16. For
  histograms on common bins, W1 is the L1 distance between the cumulative
  distributions times the bin width; dividing layer l's W1 between eigenvalue
  counts by its |θ_l| weights is the W1 between the normalised histograms. So
  `wasserstein_vectors` turns each function's histograms into per-layer
  normalised CDFs scaled by the bin width, and the Manhattan distance between
  two such vectors *is* eq. 6.16 — which is why UMAP gets ``metric="manhattan"``.
* Outputs: the RMS difference on the 1,000 samples, i.e. the Euclidean
  distance divided by √1000 (UMAP's fuzzy graph does not change under a
  global scale, so ``metric="euclidean"`` implements it).

UMAP settings are the chapter's: FIM ``n_neighbors=3, min_dist=0.1``; outputs
``n_neighbors=15, min_dist=0.1``; "both" is the union of the two fuzzy graphs
(as umap-learn's ``model_a + model_b``) embedded in 2-D. ``random_state`` makes
each embedding deterministic (umap-learn then runs single-threaded).

Example:
    >>> h = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]])  # one layer, 3 bins on [-100, 100]
    >>> v = wasserstein_vectors(h, [3])
    >>> float(np.abs(v[0] - v[1]).sum()) == wasserstein_1d(h[0], h[1], (-100, 100))
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from evoforge.activations.aquasurf.features import LOG_RANGE, Features, n_bins

FEATURE_SETS = ("both", "fim", "outputs")
FIM_UMAP = {"metric": "manhattan", "n_neighbors": 3, "min_dist": 0.1}
OUTPUT_UMAP = {"metric": "euclidean", "n_neighbors": 15, "min_dist": 0.1}


def wasserstein_1d(a: np.ndarray, b: np.ndarray, value_range: tuple[float, float]) -> float:
    """W1 between two histograms on equal bins over ``value_range`` (each normalised
    to mass 1): Σ |CDF_a − CDF_b| · bin width.

    Example:
        >>> wasserstein_1d(np.array([1.0, 0, 0, 0]), np.array([0, 0, 0, 1.0]), (0, 4))
        3.0
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    width = (value_range[1] - value_range[0]) / a.size
    return float(np.abs(np.cumsum(a / a.sum()) - np.cumsum(b / b.sum())).sum() * width)


def wasserstein_vectors(hists: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Rows whose Manhattan distance is eq. 6.16's layer-wise W1 sum.

    ``sizes`` are |θ_l| per layer (each layer has `n_bins` of them as columns
    of ``hists``), or directly the bins per layer when they already match.
    """
    hists = np.asarray(hists, dtype=np.float64)
    bins = [n_bins(s) for s in sizes]
    if sum(bins) != hists.shape[1]:
        bins = list(sizes)
    if sum(bins) != hists.shape[1]:
        raise ValueError(f"{hists.shape[1]} histogram columns, layers give {sum(bins)}")
    parts, start = [], 0
    for k in bins:
        h = hists[:, start : start + k]
        mass = h.sum(axis=1, keepdims=True)
        width = (LOG_RANGE[1] - LOG_RANGE[0]) / k
        parts.append(np.cumsum(h / np.where(mass > 0, mass, 1.0), axis=1) * width)
        start += k
    return np.concatenate(parts, axis=1)


def _umap(data: np.ndarray, settings: dict[str, object], seed: int):  # type: ignore[no-untyped-def]
    import umap  # optional extra: `pip install evoforge[aquasurf]`

    n = data.shape[0]
    kw = dict(settings)
    kw["n_neighbors"] = min(int(kw["n_neighbors"]), n - 1)  # type: ignore[call-overload]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state; small-data notes
        return umap.UMAP(n_components=2, random_state=seed, **kw).fit(data)  # type: ignore[arg-type]


def embed(feats: Features, which: str = "both", seed: int = 0) -> np.ndarray:
    """2-D coordinates of the valid functions of ``feats`` (rows in order of
    ``np.flatnonzero(feats.valid)``) from the ``which`` features: ``"fim"``,
    ``"outputs"`` or ``"both"`` (the union of the two UMAP graphs).

    Example (needs umap-learn; skipped here: numba's first compile takes a
    minute, and ``tests/test_aquasurf_embedding.py`` checks determinism):
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> f = Features([f"f{i}" for i in range(30)], rng.random((30, 4)), rng.random((30, 8)),
        ...              np.ones(30, bool), [400])
        >>> a, b = embed(f, "both", seed=1), embed(f, "both", seed=1)  # doctest: +SKIP
        >>> a.shape, bool((a == b).all())  # doctest: +SKIP
        ((30, 2), True)
    """
    if which not in FEATURE_SETS:
        raise ValueError(f"features must be one of {FEATURE_SETS}, got {which!r}")
    keep = np.asarray(feats.valid, dtype=bool)
    models = []
    if which in ("fim", "both"):
        models.append(_umap(wasserstein_vectors(feats.fim[keep], feats.sizes), FIM_UMAP, seed))
    if which in ("outputs", "both"):
        models.append(_umap(feats.outputs[keep], OUTPUT_UMAP, seed))
    if len(models) == 1:
        return np.asarray(models[0].embedding_, dtype=np.float64)
    return _union_embedding(models[0], models[1], seed)


def _union_embedding(a, b, seed: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Embed the union of two fitted UMAP models' fuzzy graphs in 2-D.

    What umap-learn's ``a + b`` does, except that it always lays the union out
    with random state 42; here the layout takes ``seed`` too.
    """
    import scipy.sparse.csgraph
    from umap.umap_ import (
        general_simplicial_set_union,
        reset_local_connectivity,
        simplicial_set_embedding,
    )

    graph = reset_local_connectivity(general_simplicial_set_union(a.graph_, b.graph_), True)
    connected = scipy.sparse.csgraph.connected_components(graph)[0] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emb, _ = simplicial_set_embedding(
            None, graph, 2, 1.0, a._a, a._b, 1.0, 5, None,
            "spectral" if connected else "random", np.random.RandomState(seed), "euclidean", {},
            False, {}, False, parallel=False, verbose=False,
        )  # fmt: skip
    return np.asarray(emb, dtype=np.float64)
