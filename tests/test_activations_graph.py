"""Computation graphs with shared nodes: canonical form, text, evaluation,
parameters, sympy, the torch module and export."""

import numpy as np
import pytest
import sympy as sp
import torch

from evoforge.activations import Activation, pangaea
from evoforge.activations.export import export_source
from evoforge.activations.formula import FormulaError
from evoforge.activations.graph import (
    OUTPUT_EDGE,
    Graph,
    Op,
    evaluate,
    make,
    param_edges,
    parse,
    to_sympy,
    to_text,
)

torch.set_num_threads(1)
X = torch.linspace(-3, 3, 13, dtype=torch.float64)


def test_a_shared_node_is_one_node_read_twice():
    g = parse("h1 = tanh(sin(x)); max(h1, h1)")
    assert g.n_nodes == 3 and g.uses() == [1, 1, 2, 0]
    copied = parse("max(tanh(sin(x)), tanh(sin(x)))")  # a tree formula never shares
    assert copied.n_nodes == 5 and copied != g
    torch.testing.assert_close(evaluate(g, X), evaluate(copied, X))


def test_node_order_is_canonical_whatever_order_it_was_built_in():
    a = make(
        [Op("exp", (0,), (False,)), Op("sin", (0,), (False,)), Op("add", (2, 1), (False,) * 2)], 3
    )
    b = make(
        [Op("sin", (0,), (False,)), Op("exp", (0,), (False,)), Op("add", (1, 2), (False,) * 2)], 3
    )
    assert a == b and hash(a) == hash(b) and to_text(a) == "sin(x) + exp(x)"
    unused = make([Op("cos", (0,), (False,)), Op("exp", (0,), (False,))], 2)
    assert to_text(unused) == "exp(x)"  # nodes the output does not read are dropped
    with pytest.raises(ValueError, match="canonical order"):
        Graph((Op("exp", (0,), (False,)), Op("sin", (0,), (False,))))
    with pytest.raises(ValueError, match="reads"):
        Graph((Op("exp", (1,), (False,)),))
    with pytest.raises(ValueError, match="expected 2 input"):
        Graph((Op("add", (0,), (False,)),))


@pytest.mark.parametrize(
    "text",
    [
        "h1 = tanh(alpha*x); max(h1, beta*h1)",
        "h1 = exp(x); h2 = h1 * sin(h1); alpha*(h2 - h2) + h1",
        "h1 = x + x; h1 ^ h1",
        "alpha*log_sigmoid(beta*x) * gamma*arcsinh(x)",
    ],
)
def test_text_round_trips(text):
    g = parse(text)
    assert to_text(g) == text and parse(to_text(g)) == g


def test_parameters_are_numbered_in_text_order_and_evaluated_on_their_edges():
    g = parse("h1 = tanh(alpha*x); max(beta*h1, h1 + gamma*h1)")
    assert param_edges(g) == ((1, 0), (3, 0), (2, 1))
    a, b, c = (torch.tensor(v, dtype=torch.float64) for v in (0.5, -2.0, 3.0))
    h = torch.tanh(a * X)
    torch.testing.assert_close(evaluate(g, X, [a, b, c]), torch.maximum(b * h, h + c * h))
    assert sp.simplify(to_sympy(parse("h1 = exp(alpha*x); beta*h1 * h1")) - sp.sympify(
        "beta*exp(2*alpha*x)", locals={"alpha": sp.Symbol("alpha", real=True),
                                        "beta": sp.Symbol("beta", real=True),
                                        "x": sp.Symbol("x", real=True)}
    )) == 0  # fmt: skip


def test_output_edge_parameter():
    g = parse("h1 = exp(x); alpha*(h1 + h1)")
    assert g.out_param and param_edges(g) == ((OUTPUT_EDGE, 0),)
    torch.testing.assert_close(evaluate(g, X, [torch.tensor(0.5, dtype=X.dtype)]), torch.exp(X))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("h1 = exp(x); tanh(x)", "'h1' is bound but never used"),
        ("tanh = exp(x); tanh", "cannot bind 'tanh'"),
        ("h1 = alpha*exp(x); h1 + h1", "scaled value"),
        ("h1 = x; h1 + h1", "must be bound to an operator"),
        ("h1 = exp(x); x", "output must be an operator"),
        ("exp(x); exp(x)", "expected 'name = expression'"),
        ("h1 = exp(beta*x); alpha*h1", "expected 'alpha', got 'beta'"),
        ("h1 = exp(x); h2 + h1", "unknown operator|expected"),
    ],
)
def test_bad_graph_text_is_refused_clearly(text, message):
    with pytest.raises(FormulaError, match=message):
        parse(text)


def test_huge_graphs_are_refused_with_a_clear_error():
    chain = Graph(tuple(Op("tanh", (k,), (False,)) for k in range(200)))
    with pytest.raises(FormulaError, match="deeper than 64"):
        to_text(chain)
    with pytest.raises(FormulaError, match="characters"):
        parse("h1 = exp(x); " + "h1 + " * 30_000 + "h1")


def test_module_and_export_compute_shared_graphs_with_trained_parameters():
    rng = np.random.default_rng(0)
    g = pangaea.random_initial(rng)
    found = 0
    while found < 5:  # evolved graphs that share a node and carry parameters
        g, _ = pangaea.mutate(g, rng)
        if g.n_params and any(u > 1 for u in g.uses()[1:]) and "h1 =" in to_text(g):
            found += 1
            act = Activation(g, mode="per_channel", channels=3)
            with torch.no_grad():
                for i, w in enumerate(act.weights):
                    w.copy_(torch.tensor([0.5, 1.5, -1.0]) + i)
            namespace: dict = {}
            exec(compile(export_source(g), "activation.py", "exec"), namespace)
            exported = namespace["EvolvedActivation"](channels=3)
            exported.load_state_dict(act.state_dict())
            x = torch.linspace(-2, 2, 24).reshape(2, 3, 4)
            torch.testing.assert_close(exported(x), act(x), equal_nan=True)
            assert act.formula == to_text(g)
