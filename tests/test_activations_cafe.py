"""CAFE trees: S1 enumeration, sampling, mutation and same-depth crossover."""

import numpy as np
import pytest

from evoforge.activations import cafe
from evoforge.activations.expr import at, operators, replace_at, walk
from evoforge.activations.formula import parse


def test_s1_enumeration_is_complete_and_distinct():
    s1 = list(cafe.enumerate_s1())
    assert len(s1) == len(set(s1)) == 3456
    assert all(cafe.shape_of(g) == "s1" for g in s1[::97])


def test_random_s2_shape_and_operators():
    rng = np.random.default_rng(0)
    for _ in range(50):
        g = cafe.random_s2(rng)
        assert cafe.shape_of(g) == "s2" and g.n_nodes == 9 and g.n_params == 0


def test_shape_of_rejects_other_trees():
    for text in ("tanh(x)", "swish(x) + x", "alpha*sin(x) + cos(x)", "sin(x) + cos(sin(x))"):
        with pytest.raises(ValueError, match="not a CAFE genome"):
            cafe.shape_of(parse(text))


def test_mutation_changes_exactly_one_operator_of_the_same_arity():
    rng = np.random.default_rng(1)
    for _ in range(100):
        g = cafe.random_s2(rng)
        child, name = cafe.mutate(g, rng)
        assert name == "change" and cafe.shape_of(child) == "s2"
        diffs = [(a, b) for a, b in zip(operators(g), operators(child), strict=True) if a != b]
        assert len(diffs) == 1


def test_crossover_swaps_one_same_depth_subtree():
    rng = np.random.default_rng(2)
    depths = set()
    for _ in range(60):
        a, b = cafe.random_s2(rng), cafe.random_s2(rng)
        child = cafe.crossover(a, b, rng)
        assert cafe.shape_of(child) == "s2"
        options = {
            len(pa)
            for pa, _ in walk(a)
            for pb, _ in walk(b)
            if pa and len(pa) == len(pb) and replace_at(a, pa, at(b, pb)) == child
        }
        assert options, "child is not a with one same-depth subtree of b"
        depths |= options
    assert {1, 2, 3} <= depths


def test_crossover_needs_parents_of_the_same_shape():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="same shape"):
        cafe.crossover(cafe.random_s1(rng), cafe.random_s2(rng), rng)
