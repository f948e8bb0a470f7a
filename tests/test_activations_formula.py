"""Formula printing/parsing round trip, parse errors, sympy export."""

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from evoforge.activations import cafe, graph, pangaea
from evoforge.activations.equivalence import SAMPLES, outputs
from evoforge.activations.expr import Binary, Unary, X
from evoforge.activations.formula import parse, to_sympy, to_text
from evoforge.activations.operators import OPERATORS

torch.set_num_threads(1)

UNARY = sorted(n for n, op in OPERATORS.items() if op.arity == 1)
BINARY = sorted(n for n, op in OPERATORS.items() if op.arity == 2)

trees = st.recursive(
    st.builds(X, st.booleans()),
    lambda kids: st.one_of(
        st.builds(Unary, st.sampled_from(UNARY), kids, st.booleans()),
        st.builds(Binary, st.sampled_from(BINARY), kids, kids, st.booleans()),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_parse_inverts_print_for_any_tree(tree):
    assert parse(to_text(tree)) == tree


@settings(max_examples=300, deadline=None)
@given(trees)
def test_a_tree_prints_the_same_as_its_graph(tree):
    if not isinstance(tree, X):  # a graph's output is an operator (x is identity(x))
        assert graph.to_text(graph.as_graph(tree)) == to_text(tree)
        assert graph.parse(to_text(tree)) == graph.as_graph(tree)


def test_parse_inverts_print_for_evolved_genomes():
    rng = np.random.default_rng(0)
    g = pangaea.random_initial(rng)
    for _ in range(300):
        g, _ = pangaea.mutate(g, rng)
        assert graph.parse(to_text(g)) == g  # to_text prints a graph in its own form
    for g in list(cafe.enumerate_s1())[::7]:
        assert parse(to_text(g)) == g


def test_printing_is_readable_and_names_parameters_in_order():
    g = Binary("mul", Unary("log_sigmoid", X(True)), Unary("arcsinh", X(), True))
    assert to_text(g) == "log_sigmoid(alpha*x) * beta*arcsinh(x)"
    g = Binary("sub", X(True), Unary("log_sigmoid", X(True), True))
    assert to_text(g) == "alpha*x - beta*log_sigmoid(gamma*x)"
    nested = Binary("add", Binary("sub", X(), X()), Binary("max", X(), X(), True))
    assert to_text(nested) == "(x - x) + alpha*max(x, x)"
    assert to_text(Binary("mul", Binary("add", X(), X(), True), X())) == "alpha*(x + x) * x"


def test_parse_uses_usual_precedence_and_associativity():
    assert parse("x + x * x") == parse("x + (x * x)")
    assert parse("x - x - x") == parse("(x - x) - x")
    assert parse("x ^ x ^ x") == parse("x ^ (x ^ x)")
    assert parse("x * alpha*x") == Binary("mul", X(), X(True))  # a parameter, not a product
    assert parse("alpha*x * beta*x") == Binary("mul", X(True), X(True))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gelu(x)", r"unknown operator 'gelu'; expected one of"),
        ("tanh(x", r"expected '\)', got end of text"),
        ("tanh x", r"expected '\(', got 'x'"),
        ("x $ x", r"unexpected character '\$' at position 2"),
        ("", r"formula is empty"),
        ("beta*x", r"expected 'alpha', got 'beta'"),
        ("alpha*x + alpha*x", r"expected 'beta', got 'alpha'"),
        ("alpha x", r"expected '\*', got 'x'"),
        ("max(x)", r"'max' takes 2 input\(s\), got 1"),
        ("tanh(x, x)", r"'tanh' takes 1 input\(s\), got 2"),
        ("x x", r"expected an infix operator"),
        ("3 * x", r"the constant 0 or 1"),
        ("y", r"unknown operator 'y'"),
        ("-x", r"expected x, a parameter name"),
    ],
)
def test_bad_formulas_raise_clear_value_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse(text)


def test_sympy_export_matches_torch_on_samples():
    rng = np.random.default_rng(5)
    x = sp.Symbol("x", real=True)
    pts = SAMPLES[:25]
    for _ in range(25):
        g = pangaea.random_initial(rng)
        if "pow" in to_text(g) or g.n_params:
            continue
        f = sp.lambdify(x, to_sympy(g), modules=["scipy", "numpy"])
        with np.errstate(all="ignore"):
            want = np.asarray(np.broadcast_to(f(pts), pts.shape), dtype=float)
        np.testing.assert_allclose(outputs(g, pts), want, rtol=1e-7, atol=1e-9, err_msg=to_text(g))


def test_sympy_export_names_parameters():
    expr = to_sympy(parse("alpha*x - beta*log_sigmoid(gamma*x)"))
    assert {s.name for s in expr.free_symbols} == {"x", "alpha", "beta", "gamma"}


def test_paper_spellings_log_sigmoid_and_constants_parse_to_the_canonical_genome():
    assert parse("log(sigmoid(alpha*x)) * beta*arcsinh(x)") == parse(
        "log_sigmoid(alpha*x) * beta*arcsinh(x)"
    )
    # CAFE writes its unary min{x, 0} and max{x, 0} with the bare constant 0.
    assert parse("min(x, 0)") == parse("min_zero(x)") == parse("min(0, x)")
    assert parse("max(tanh(x), 0)") == parse("relu(tanh(x))")
    assert parse("min(x, zero(x))").op == "min"  # the binary min stays expressible
    assert parse("min(x, 0 + x)").op == "min"  # only a bare 0 argument
    assert parse("x * 1.0") == parse("x * one(x)")
    for bad, message in [
        ("min(x, 2)", "the constant 0 or 1"),
        ("log(x)", "'sigmoid"),
        ("log(sigmoid(x)", "expected '\\)'"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse(bad)


def test_table_3_1_formulas_are_s1_core_units_with_cafes_operators():
    from evoforge.activations.cafe import shape_of
    from evoforge.activations.expr import operators
    from evoforge.activations.operators import CAFE_BINARY, CAFE_UNARY

    for text in ("arctan(x) * min(x, 0)", "tanh(x) * min(x, 0)", "min(x, 0) * erf(x)"):
        genome = parse(text)
        assert shape_of(genome) == "s1", text
        assert set(operators(genome)) <= set(CAFE_UNARY) | set(CAFE_BINARY), text
