"""Operator registry: set sizes, NaN safety on a wide grid, torch vs sympy."""

import math

import numpy as np
import pytest
import sympy as sp
import torch

from evoforge.activations.operators import (
    CAFE_BINARY,
    CAFE_UNARY,
    OPERATORS,
    OVERFLOWING,
    PANGAEA_BINARY,
    PANGAEA_UNARY,
    get,
)

torch.set_num_threads(1)

UNARY = sorted(n for n, op in OPERATORS.items() if op.arity == 1)
BINARY = sorted(n for n, op in OPERATORS.items() if op.arity == 2)


def test_sets_have_the_dissertation_sizes_and_no_duplicates():
    for names, size in ((CAFE_UNARY, 24), (CAFE_BINARY, 6), (PANGAEA_UNARY, 27),
                        (PANGAEA_BINARY, 7)):  # fmt: skip
        assert len(names) == size == len(set(names))
    assert set(CAFE_UNARY) | set(PANGAEA_UNARY) == set(UNARY)
    assert set(CAFE_BINARY) | set(PANGAEA_BINARY) == set(BINARY)


def test_unknown_operator_and_wrong_arity_raise_value_error():
    with pytest.raises(ValueError, match=r"unknown operator 'gelu'.*expected one of"):
        get("gelu")
    with pytest.raises(ValueError, match="takes 1 input"):
        get("tanh", 2)


GRID = torch.cat([torch.linspace(-1e4, 1e4, 20001), torch.tensor([0.0, -0.0, -1e-6, 1e-6, 1e-30])])


@pytest.mark.parametrize("name", UNARY)
def test_unary_never_nan_on_wide_grid(name):
    y = OPERATORS[name].torch(GRID)
    assert not torch.isnan(y).any()
    if name not in OVERFLOWING:
        # log_abs_eps is -inf only at exactly x = -eps; everything else stays finite.
        finite = torch.isfinite(y) | ((GRID == -1e-6) & (name == "log_abs_eps"))
        assert finite.all(), GRID[~finite][:5]


@pytest.mark.parametrize("name", BINARY)
def test_binary_never_nan_on_wide_grid(name):
    pts = torch.cat([torch.linspace(-1e4, 1e4, 201), torch.tensor([0.0, 1.0, -1.0, 0.5, -1e-6])])
    a, b = torch.meshgrid(pts, pts, indexing="ij")
    y = OPERATORS[name].torch(a, b)
    assert not torch.isnan(y).any()


@pytest.mark.parametrize("name", ["div", "div_eps", "pow"])
def test_safe_binary_gradients_are_finite_at_their_special_points(name):
    a = torch.tensor([1.5, -2.0, 0.0, 3.0, -2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.0, -1e-6, 0.0, 2.0, 0.5], dtype=torch.float64, requires_grad=True)
    OPERATORS[name].torch(a, b).sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


def test_safe_division_and_power_values():
    div, powr = OPERATORS["div"].torch, OPERATORS["pow"].torch
    assert div(torch.tensor([3.0, 3.0]), torch.tensor([0.0, 2.0])).tolist() == [0.0, 1.5]
    a = torch.tensor([-2.0, -2.0, -2.0, 0.0, 0.0, 4.0])
    b = torch.tensor([3.0, 2.0, 0.5, 0.0, -1.0, 0.5])
    assert powr(a, b).tolist() == [-8.0, 4.0, 0.0, 1.0, 0.0, 2.0]
    assert OPERATORS["reciprocal"].torch(torch.tensor([0.0, 4.0])).tolist() == [0.0, 0.25]
    assert OPERATORS["sinc"].torch(torch.tensor([0.0])).tolist() == [1.0]


POINTS = [-2.5, -1.3, -0.4, 0.0, 0.3, 0.7, 1.9, 3.1]
_x, _y = sp.Symbol("x", real=True), sp.Symbol("y", real=True)


def _sympy_value(expr, subs):
    return complex(expr.subs(subs).evalf(30))


@pytest.mark.parametrize("name", UNARY)
def test_unary_torch_matches_sympy(name):
    op = OPERATORS[name]
    expr = op.sympy(_x)
    got = op.torch(torch.tensor(POINTS, dtype=torch.float64)).tolist()
    for p, g in zip(POINTS, got, strict=True):
        want = _sympy_value(expr, {_x: sp.Float(p, 30)})
        assert abs(want.imag) < 1e-12
        assert math.isclose(g, want.real, rel_tol=1e-9, abs_tol=1e-9), (name, p, g, want)


def _binary_pairs(name):
    pairs = [(a, b) for a in POINTS for b in POINTS]
    if name == "pow":  # sympy is complex for negative bases and infinite for 0^negative
        pairs = [(a, b) for a, b in pairs if a > 0] + [
            (a, b) for a in (-2.5, -1.3) for b in (-2.0, 1.0, 2.0, 3.0)
        ] + [(0.0, b) for b in (0.0, 0.7, 1.9)]  # fmt: skip
    return pairs


@pytest.mark.parametrize("name", BINARY)
def test_binary_torch_matches_sympy(name):
    op = OPERATORS[name]
    expr = op.sympy(_x, _y)
    pairs = _binary_pairs(name)
    a = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    b = torch.tensor([p[1] for p in pairs], dtype=torch.float64)
    got = op.torch(a, b).tolist()
    for (pa, pb), g in zip(pairs, got, strict=True):
        want = _sympy_value(expr, {_x: sp.Float(pa, 30), _y: sp.Float(pb, 30)})
        assert math.isclose(g, want.real, rel_tol=1e-9, abs_tol=1e-9), (name, pa, pb, g, want)


def test_selu_uses_standard_constants():
    y = OPERATORS["selu"].torch(torch.tensor([1.0, -50.0], dtype=torch.float64)).numpy()
    np.testing.assert_allclose(y, [1.0507009873554805, -1.0507009873554805 * 1.6732632423543772])
