"""PANGAEA mutation rules, re-parameterisation and reproducibility."""

from collections import Counter

import numpy as np
import pytest
import torch

from evoforge.activations import pangaea
from evoforge.activations.equivalence import outputs
from evoforge.activations.expr import Binary, Unary, X, operators, strip_params, walk
from evoforge.activations.formula import parse, to_text
from evoforge.activations.operators import PANGAEA_BINARY, PANGAEA_UNARY

torch.set_num_threads(1)


def _random_genomes(seed, n):
    rng = np.random.default_rng(seed)
    g = pangaea.random_initial(rng)
    out = []
    for _ in range(n):
        g, _ = pangaea.mutate(g, rng)
        out.append(g)
    return out


def test_initial_population_has_both_forms_in_equal_measure():
    rng = np.random.default_rng(0)
    forms = Counter()
    for _ in range(400):
        g = pangaea.random_initial(rng)
        assert set(operators(g)) <= set(PANGAEA_UNARY) | set(PANGAEA_BINARY)
        if isinstance(g, Unary):
            assert isinstance(g.arg, Unary) and isinstance(g.arg.arg, X)
            forms["unary"] += 1
        else:
            assert isinstance(g.left, Unary) and isinstance(g.right, Unary)
            forms["binary"] += 1
    assert 150 < forms["unary"] < 250


def test_inserting_a_binary_operator_keeps_the_function_value():
    rng = np.random.default_rng(1)
    seen = set()
    for g in _random_genomes(1, 150):
        g = strip_params(g)
        child = pangaea.insert(g, rng, unary=(), binary=PANGAEA_BINARY)
        assert child.n_nodes > g.n_nodes
        seen |= set(operators(child)) & set(PANGAEA_BINARY)
        np.testing.assert_array_equal(outputs(child), outputs(g), err_msg=to_text(child))
    assert seen == set(PANGAEA_BINARY)


def test_insert_second_inputs_follow_the_rules():
    g = parse("tanh(x)")
    rng = np.random.default_rng(2)
    found = {}
    while len(found) < len(PANGAEA_BINARY):
        child = pangaea.insert(g, rng, unary=(), binary=PANGAEA_BINARY)
        for _, n in walk(child):
            if isinstance(n, Binary):
                found[n.op] = n
    for op in ("add", "sub"):
        assert found[op].right == Unary("zero", X())
    for op in ("mul", "div", "pow"):
        assert found[op].right == Unary("one", X())
    for op in ("max", "min"):
        assert found[op].right == found[op].left


def test_more_than_seven_nodes_always_removes():
    big = parse("tanh(x) + sin(x) * (cos(x) - exp(x) / erf(x))")  # 9 nodes
    assert big.n_nodes == 9
    for seed in range(40):
        child, name = pangaea.mutate(big, np.random.default_rng(seed))
        assert name == "remove" and child.n_nodes < big.n_nodes


def test_remove_on_one_node_becomes_change():
    names = Counter()
    for seed in range(60):
        g = parse("alpha*tanh(x)")
        child, name = pangaea.mutate(g, np.random.default_rng(seed))
        names[name] += 1
        if name == "change":
            assert child.n_nodes == 1 and operators(child) != ["tanh"]
    assert "remove" not in names and names["change"] > 15
    with pytest.raises(ValueError, match="at least 2 operator nodes"):
        pangaea.remove(parse("tanh(x)"), np.random.default_rng(0))


def test_remove_never_leaves_a_graph_without_operators():
    g = parse("x + zero(x)")
    for seed in range(30):
        child = pangaea.remove(g, np.random.default_rng(seed))
        assert child.n_nodes >= 1


def test_remove_wires_input_to_output():
    g = parse("tanh(x) * sin(x)")
    results = {to_text(pangaea.remove(g, np.random.default_rng(s))) for s in range(40)}
    assert results == {"x * sin(x)", "tanh(x) * x", "tanh(x)", "sin(x)"}


def test_change_and_regenerate_keep_structure():
    rng = np.random.default_rng(3)
    for g in _random_genomes(3, 60):
        for fn in (pangaea.change, pangaea.regenerate):
            child = fn(g, rng)
            assert [type(n) for _, n in walk(child)] == [type(n) for _, n in walk(g)]
        changed = pangaea.change(g, rng)
        diffs = sum(a != b for a, b in zip(operators(g), operators(changed), strict=True))
        assert diffs == 1


def test_mutations_are_equally_likely_and_params_redrawn():
    rng = np.random.default_rng(4)
    g = parse("tanh(x) + sin(x)")
    names, ks = Counter(), Counter()
    for _ in range(800):
        child, name = pangaea.mutate(g, rng)
        names[name] += 1
        ks[child.n_params] += 1
    assert set(names) == set(pangaea.MUTATIONS)
    assert all(150 < v < 250 for v in names.values()), names
    assert set(ks) == {0, 1, 2, 3}


def test_reparameterise_puts_k_params_on_distinct_edges():
    rng = np.random.default_rng(5)
    for g in _random_genomes(5, 50):
        assert g.n_params <= min(3, g.n_edges)
    one = parse("tanh(x)")  # 2 edges
    assert max(pangaea.reparameterise(one, rng).n_params for _ in range(50)) == 2


def test_runs_are_reproducible_from_a_seed():
    assert _random_genomes(9, 100) == _random_genomes(9, 100)
    assert _random_genomes(9, 100) != _random_genomes(10, 100)
