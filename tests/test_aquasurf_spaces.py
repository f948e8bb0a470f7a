"""AQuaSurF spaces: exact counts, lazy indexing of the four-node space."""

from __future__ import annotations

import numpy as np

from evoforge.activations.aquasurf.spaces import (
    FourNodeSpace,
    benchmark_count,
    enumerate_benchmark,
    identity_key,
    unique_benchmark,
)
from evoforge.activations.equivalence import outputs
from evoforge.activations.formula import to_text


def test_benchmark_counts() -> None:
    assert benchmark_count() == 27 * 27 * 7 == 5103
    funcs = unique_benchmark()
    assert len(funcs) == 2865
    # Every function of the space has exactly one representative with its outputs.
    keys = {identity_key(outputs(g)) for g in funcs}
    assert len(keys) == len(funcs)
    assert to_text(funcs[0]) == to_text(next(enumerate_benchmark()))


def test_four_node_count_and_forms() -> None:
    space = FourNodeSpace()
    assert len(space) == 1_023_516
    assert sum(len(f) for f in space.forms) == len(space)
    assert [f.name for f in space.forms][2] == "n(u(x),u(x),u(x))"


def test_four_node_indexing_is_lazy_and_bijective_on_a_sample() -> None:
    space = FourNodeSpace()
    rng = np.random.default_rng(1)
    idx = rng.choice(len(space), size=300, replace=False)
    texts = {to_text(space[int(i)]) for i in idx}
    assert len(texts) == 300  # distinct indices give distinct genomes
    # Iteration order equals indexing order at the form boundaries.
    start = 0
    for form in space.forms:
        assert to_text(space[start]) == to_text(form[0])
        assert to_text(space[start + len(form) - 1]) == to_text(form[len(form) - 1])
        start += len(form)
    assert to_text(space[-1]) == to_text(space[len(space) - 1])
    it = iter(space)
    assert [to_text(next(it)) for _ in range(3)] == [to_text(space[i]) for i in range(3)]
