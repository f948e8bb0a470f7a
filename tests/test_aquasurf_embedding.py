"""UMAP embedding: deterministic under a seed, one row per valid function."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("umap")

from evoforge.activations.aquasurf.embedding import embed
from evoforge.activations.aquasurf.features import Features


def test_embedding_is_deterministic_under_a_seed() -> None:
    rng = np.random.default_rng(0)
    n = 40
    valid = np.ones(n, bool)
    valid[[3, 17]] = False
    f = Features([f"f{i}" for i in range(n)], rng.random((n, 5)), rng.random((n, 12)), valid, [500])
    a, b = embed(f, "both", seed=4), embed(f, "both", seed=4)
    assert a.shape == (38, 2) and np.isfinite(a).all()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, embed(f, "both", seed=5))
    assert embed(f, "fim", seed=4).shape == embed(f, "outputs", seed=4).shape == (38, 2)
