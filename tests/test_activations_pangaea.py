"""PANGAEA mutation rules on graphs with shared nodes, re-parameterisation,
reproducibility, and the searched space against its count."""

from collections import Counter

import numpy as np
import pytest
import torch

from evoforge.activations import counts, pangaea
from evoforge.activations.equivalence import outputs
from evoforge.activations.graph import INPUT, Graph, Op, evaluate, parse, to_text
from evoforge.activations.operators import PANGAEA_BINARY, PANGAEA_UNARY
from evoforge.activations.space import PangaeaSpace

torch.set_num_threads(1)


def _random_genomes(seed, n, **kwargs):
    rng = np.random.default_rng(seed)
    g = pangaea.random_initial(rng)
    out = []
    for _ in range(n):
        g, _ = pangaea.mutate(g, rng, **kwargs)
        out.append(g)
    return out


def _bare(g: Graph) -> Graph:
    return pangaea.with_params(g, set())


def test_initial_population_has_both_forms_in_equal_measure():
    rng = np.random.default_rng(0)
    forms = Counter()
    for _ in range(400):
        g = pangaea.random_initial(rng)
        assert set(g.operators()) <= set(PANGAEA_UNARY) | set(PANGAEA_BINARY)
        if g.n_nodes == 2:
            assert [n.inputs for n in g.nodes] == [(INPUT,), (1,)]
            forms["unary"] += 1
        else:
            assert [n.inputs for n in g.nodes] == [(INPUT,), (INPUT,), (1, 2)]
            forms["binary"] += 1
    assert 150 < forms["unary"] < 250


def test_inserting_a_binary_operator_keeps_the_function_value():
    rng = np.random.default_rng(1)
    seen = set()
    for g in _random_genomes(1, 150):
        g = _bare(g)
        child = pangaea.insert(g, rng, unary=(), binary=PANGAEA_BINARY)
        new_ops = set(child.operators()) - set(g.operators())
        seen |= new_ops & set(PANGAEA_BINARY)
        np.testing.assert_array_equal(outputs(child), outputs(g), err_msg=to_text(child))
    assert seen == set(PANGAEA_BINARY)


def test_insert_second_inputs_follow_the_rules_and_max_min_share_their_input():
    g = parse("tanh(sin(x))")
    rng = np.random.default_rng(2)
    found = {}
    while len(found) < len(PANGAEA_BINARY):
        child = pangaea.insert(g, rng, unary=(), binary=PANGAEA_BINARY)
        (binary,) = [n for n in child.nodes if len(n.inputs) == 2]
        found[binary.op] = (child, binary)
    for op in ("add", "sub", "mul", "div", "pow"):
        child, node = found[op]
        neutral = child.nodes[node.inputs[1] - 1]
        assert neutral == Op(pangaea.NEUTRAL_INPUT[op], (INPUT,), (False,))
        assert child.n_nodes == g.n_nodes + 2
    for op in ("max", "min"):
        child, node = found[op]
        assert node.inputs[0] == node.inputs[1]  # one source read twice, not a copy
        assert child.n_nodes == g.n_nodes + 1


def test_max_insert_on_a_shared_subgraph_does_not_copy_it():
    g = parse("tanh(sin(cos(x)))")
    rng = np.random.default_rng(3)
    texts = set()
    for _ in range(200):
        child = pangaea.insert(g, rng, unary=(), binary=("max",))
        assert child.n_nodes == 4
        texts.add(to_text(child))
    assert texts == {
        "max(x, x)".join(["tanh(sin(cos(", ")))"]),
        "h1 = cos(x); tanh(sin(max(h1, h1)))",
        "h1 = sin(cos(x)); tanh(max(h1, h1))",
        "h1 = tanh(sin(cos(x))); max(h1, h1)",
    }


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
            assert child.n_nodes == 1 and child.operators() != ["tanh"]
    assert "remove" not in names and names["change"] > 15
    with pytest.raises(ValueError, match="at least 2 operator nodes"):
        pangaea.remove(parse("tanh(x)"), np.random.default_rng(0))


def test_remove_never_leaves_a_graph_without_operators():
    for text in ("x + zero(x)", "h1 = tanh(x); max(h1, x)", "x * exp(x)"):
        for seed in range(30):
            assert pangaea.remove(parse(text), np.random.default_rng(seed)).n_nodes >= 1


def test_remove_wires_input_to_output():
    g = parse("tanh(x) * sin(x)")
    results = {to_text(pangaea.remove(g, np.random.default_rng(s))) for s in range(40)}
    assert results == {"x * sin(x)", "tanh(x) * x", "tanh(x)", "sin(x)"}
    shared = parse("h1 = tanh(x); max(h1, exp(h1))")
    results = {to_text(pangaea.remove(shared, np.random.default_rng(s))) for s in range(60)}
    # removing tanh rewires both of its consumers to x; removing max keeps one input
    assert results == {"max(x, exp(x))", "h1 = tanh(x); max(h1, h1)", "tanh(x)", "exp(tanh(x))"}


def test_change_and_regenerate_keep_structure():
    rng = np.random.default_rng(3)
    for g in _random_genomes(3, 60):
        for fn in (pangaea.change, pangaea.regenerate):
            child = fn(g, rng)
            assert [n.inputs for n in child.nodes] == [n.inputs for n in g.nodes]
        changed = pangaea.change(g, rng)
        diffs = sum(a != b for a, b in zip(g.operators(), changed.operators(), strict=True))
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
    shared = parse("h1 = tanh(x); max(h1, h1)")  # 4 edges: x->tanh, tanh->max twice, output
    placed = {to_text(pangaea.reparameterise(shared, rng)) for _ in range(400)}
    assert "h1 = tanh(x); max(alpha*h1, h1)" in placed
    assert "h1 = tanh(x); max(h1, alpha*h1)" in placed


def test_runs_are_reproducible_from_a_seed():
    assert _random_genomes(9, 100) == _random_genomes(9, 100)
    assert _random_genomes(9, 100) != _random_genomes(10, 100)


def test_long_random_chains_stay_valid_graphs():
    space = PangaeaSpace()
    shared = 0
    x = torch.linspace(-3, 3, 7)
    for seed in range(3):
        for g in _random_genomes(seed, 1500):
            assert isinstance(g, Graph) and 1 <= g.n_nodes <= pangaea.MAX_NODES + 2
            assert g.n_params <= pangaea.MAX_PARAMS
            assert space.from_text(space.to_text(g)) == g
            assert space.from_json(space.to_json(g)) == g
            assert Graph(g.nodes, g.out_param) == g  # canonical: the constructor checks
            assert g.uses()[1:-1].count(0) == 0 and g.uses()[-1] == 0  # every node used
            shared += any(u > 1 for u in g.uses()[1:])
            assert pangaea.mutate(g, np.random.default_rng(0))[0] is not None
        assert evaluate(g, x).shape == x.shape
    assert shared > 100  # sharing is common, not a corner case


def test_searched_count_equals_the_enumerated_graphs():
    for n in range(1, 6):
        shapes = list(counts.searched_shapes(n))
        assert len(shapes) == len(set(shapes)) == sum(r[3] for r in counts.searched_rows(n))
        assert counts.searched_count(n, 1, 1, 0) == len(shapes)
        by_kind = Counter((sum(len(s.inputs) == 2 for s in g.nodes)) for g in shapes)
        assert [by_kind[b] for b, *_ in counts.searched_rows(n)] == [
            r[3] for r in counts.searched_rows(n)
        ]
    assert counts.searched_count(1) == 27 * 4 + 7 * 8
    assert counts.searched_count(1) > counts.pangaea_count(1)  # Table 4.11 leaves out x + x
    listed = {n: set(counts.searched_shapes(n)) for n in range(1, 6)}
    for g in _random_genomes(12, 400, max_nodes=3):  # random chains: inside the enumeration
        assert counts.graph_shape(g) in listed[g.n_nodes]


def test_mutations_reach_exactly_the_counted_shapes():
    """The searched space is the counted one at max_nodes = 3: from the two
    initial forms, the mutations reach every graph shape with at most 3 nodes,
    and every shape they make (above 3 nodes too) is one `searched_shapes` lists."""
    max_nodes = 3
    rngs = [np.random.default_rng(s) for s in range(20)]
    start = {counts.graph_shape(pangaea.random_initial(rng)) for rng in rngs}
    reached = counts.reachable_shapes(max_nodes)
    assert start <= reached
    assert max(g.n_nodes for g in reached) == max_nodes + 2  # insert + neutral, then removed
    for n in range(1, max_nodes + 3):
        listed = set(counts.searched_shapes(n))
        at_n = {g for g in reached if g.n_nodes == n}
        assert at_n <= listed
        assert (at_n == listed) == (n <= max_nodes)
