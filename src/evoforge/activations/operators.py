"""One registry of the operators that activation functions are built from.

Each `Operator` has a name (used in formulas), an arity, a torch implementation
(used for training and evaluation, differentiable where the function is) and a
sympy form (used for export and symbolic checks). Four named tuples list the
operator sets of the two search spaces: `CAFE_UNARY` (24), `CAFE_BINARY` (6),
`PANGAEA_UNARY` (27) and `PANGAEA_BINARY` (7).

Choices where the dissertation is silent (all documented in ``DOCS`` too):

* ``EPS = 1e-6`` is the ε of CAFE's ``log(|x + ε|)`` and ``x1 / (x2 + ε)``.
* ``sqrt`` is √|x| (defined everywhere, even in x).
* ``sinc`` is the unnormalised sin(x)/x with sinc(0) = 1 (sympy's convention;
  torch.sinc is the normalised one and is not used).
* ``div`` (PANGAEA), ``div_eps`` (CAFE) and ``reciprocal`` return 0 where the
  divisor is exactly 0.
* ``pow`` is x1^x2 for x1 > 0; for x1 < 0 it is (−1)^x2·|x1|^x2 when x2 is an
  integer and 0 otherwise; 0^x2 is 1 for x2 = 0 and 0 otherwise. So it never
  returns NaN on finite input (it may overflow to inf).
* ``hard_sigmoid`` is max{0, min{1, 0.2x + 0.5}} (the dissertation's §4.7).

Operators that overflow to ±inf on large finite input (never NaN):
`OVERFLOWING`. Operators that may return NaN on finite input: none.

Example:
    >>> import torch
    >>> OPERATORS["swish"].torch(torch.tensor([0.0, 1.0])).tolist()
    [0.0, 0.7310585975646973]
    >>> len(CAFE_UNARY), len(CAFE_BINARY), len(PANGAEA_UNARY), len(PANGAEA_BINARY)
    (24, 6, 27, 7)
    >>> OPERATORS["div"].arity, OPERATORS["div"].symbol
    (2, '/')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
import torch
import torch.nn.functional as F

EPS = 1e-6
SELU_LAMBDA = 1.0507009873554805
SELU_ALPHA = 1.6732632423543772


@dataclass(frozen=True)
class Operator:
    """A named operator: ``torch`` maps tensors to a tensor, ``sympy`` maps sympy
    expressions to one; ``symbol`` is the infix symbol of a binary operator
    printed infix (``None``: printed as a call, ``name(a, b)``)."""

    name: str
    arity: int
    torch: Callable[..., torch.Tensor]
    sympy: Callable[..., sp.Expr]
    symbol: str | None = None
    doc: str = ""


def _safe_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # Double where: the unused branch never sees a zero divisor, so gradients stay finite.
    zero = b == 0
    safe_b = torch.where(zero, torch.ones_like(b), b)
    return torch.where(zero, torch.zeros_like(a * b), a / safe_b)


def _safe_pow(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = torch.broadcast_tensors(a, b)
    mag = a.abs()
    nonzero = mag > 0
    safe_mag = torch.where(nonzero, mag, torch.ones_like(mag))
    power = torch.pow(safe_mag, b)
    integer = b == torch.round(b)
    odd = integer & (torch.remainder(b, 2) == 1)
    negative = torch.where(odd, -power, power)
    zero_base = torch.where(b == 0, torch.ones_like(power), torch.zeros_like(power))
    result = torch.where(a > 0, power, torch.where(integer, negative, torch.zeros_like(power)))
    result = torch.where(nonzero, result, zero_base)
    return torch.where(torch.isnan(a) | torch.isnan(b), a + b, result)  # NaN in, NaN out


def _sinc(x: torch.Tensor) -> torch.Tensor:
    zero = x == 0
    safe = torch.where(zero, torch.ones_like(x), x)
    return torch.where(zero, torch.ones_like(x), torch.sin(safe) / safe)


def _sym_safe_div(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    return sp.Piecewise((sp.Integer(0), sp.Eq(b, 0)), (a / b, True))


def _sym_sigmoid(x: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-x))


def _sym_elu(x: sp.Expr) -> sp.Expr:
    return sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True))


_UNARY: list[tuple[str, Callable, Callable, str]] = [
    ("zero", torch.zeros_like, lambda x: sp.Integer(0), "the constant 0"),
    ("one", torch.ones_like, lambda x: sp.Integer(1), "the constant 1"),
    ("identity", lambda x: x, lambda x: x, "x"),
    ("neg", torch.neg, lambda x: -x, "-x"),
    ("abs", torch.abs, sp.Abs, "|x|"),
    (
        "reciprocal",
        lambda x: _safe_div(torch.ones_like(x), x),
        lambda x: _sym_safe_div(1, x),
        "1/x, 0 at x = 0",
    ),
    ("square", torch.square, lambda x: x**2, "x^2"),
    ("cube", lambda x: x * x * x, lambda x: x**3, "x^3"),
    ("sqrt", lambda x: torch.sqrt(torch.abs(x)), lambda x: sp.sqrt(sp.Abs(x)), "sqrt(|x|)"),
    ("exp", torch.exp, sp.exp, "e^x"),
    ("exp_neg_square", lambda x: torch.exp(-x * x), lambda x: sp.exp(-(x**2)), "e^(-x^2)"),
    ("softplus", F.softplus, lambda x: sp.log(1 + sp.exp(x)), "log(1 + e^x)"),
    (
        "log_abs_eps",
        lambda x: torch.log(torch.abs(x + EPS)),
        lambda x: sp.log(sp.Abs(x + sp.Float(EPS))),
        "log(|x + eps|), eps = EPS",
    ),
    ("sin", torch.sin, sp.sin, "sin(x)"),
    ("sinh", torch.sinh, sp.sinh, "sinh(x)"),
    ("arcsinh", torch.asinh, sp.asinh, "arcsinh(x)"),
    ("cos", torch.cos, sp.cos, "cos(x)"),
    ("cosh", torch.cosh, sp.cosh, "cosh(x)"),
    ("tanh", torch.tanh, sp.tanh, "tanh(x)"),
    ("arctan", torch.atan, sp.atan, "arctan(x)"),
    ("relu", torch.relu, lambda x: sp.Max(x, 0), "max{x, 0}"),
    ("min_zero", lambda x: torch.clamp(x, max=0.0), lambda x: sp.Min(x, 0), "min{x, 0}"),
    ("sigmoid", torch.sigmoid, _sym_sigmoid, "1 / (1 + e^-x)"),
    ("erf", torch.erf, sp.erf, "erf(x)"),
    ("erfc", torch.erfc, sp.erfc, "1 - erf(x)"),
    ("sinc", _sinc, sp.sinc, "sin(x)/x, 1 at x = 0"),
    ("expm1", torch.expm1, lambda x: sp.exp(x) - 1, "e^x - 1"),
    ("log_sigmoid", F.logsigmoid, lambda x: -sp.log(1 + sp.exp(-x)), "log(sigmoid(x))"),
    ("elu", F.elu, _sym_elu, "x if x > 0 else e^x - 1"),
    (
        "selu",
        F.selu,
        lambda x: (
            sp.Float(SELU_LAMBDA)
            * sp.Piecewise((x, x > 0), (sp.Float(SELU_ALPHA) * (sp.exp(x) - 1), True))
        ),
        "lambda * (x if x > 0 else alpha (e^x - 1))",
    ),
    ("swish", F.silu, lambda x: x * _sym_sigmoid(x), "x * sigmoid(x)"),
    ("softsign", F.softsign, lambda x: x / (1 + sp.Abs(x)), "x / (1 + |x|)"),
    (
        "hard_sigmoid",
        lambda x: torch.clamp(0.2 * x + 0.5, 0.0, 1.0),
        lambda x: sp.Max(0, sp.Min(1, x / 5 + sp.Rational(1, 2))),
        "max{0, min{1, 0.2x + 0.5}}",
    ),
    (
        "bessel_i0e",
        torch.special.i0e,
        lambda x: sp.exp(-sp.Abs(x)) * sp.besseli(0, x),
        "e^-|x| I0(x)",
    ),
    (
        "bessel_i1e",
        torch.special.i1e,
        lambda x: sp.exp(-sp.Abs(x)) * sp.besseli(1, x),
        "e^-|x| I1(x)",
    ),
]

_BINARY: list[tuple[str, Callable, Callable, str | None, str]] = [
    ("add", torch.add, lambda a, b: a + b, "+", "x1 + x2"),
    ("sub", torch.sub, lambda a, b: a - b, "-", "x1 - x2"),
    ("mul", torch.mul, lambda a, b: a * b, "*", "x1 * x2"),
    ("div", _safe_div, _sym_safe_div, "/", "x1 / x2, 0 where x2 = 0"),
    (
        "div_eps",
        lambda a, b: _safe_div(a, b + EPS),
        lambda a, b: _sym_safe_div(a, b + sp.Float(EPS)),
        None,
        "x1 / (x2 + eps), 0 where x2 = -eps",
    ),
    ("pow", _safe_pow, lambda a, b: a**b, "^", "x1^x2 (see module docs for x1 <= 0)"),
    ("max", torch.maximum, sp.Max, None, "max{x1, x2}"),
    ("min", torch.minimum, sp.Min, None, "min{x1, x2}"),
]

OPERATORS: dict[str, Operator] = {}
for _name, _t, _s, _doc in _UNARY:
    OPERATORS[_name] = Operator(_name, 1, _t, _s, None, _doc)
for _name, _t, _s, _sym, _doc in _BINARY:
    OPERATORS[_name] = Operator(_name, 2, _t, _s, _sym, _doc)

#: Infix symbol -> binary operator name.
INFIX: dict[str, str] = {op.symbol: op.name for op in OPERATORS.values() if op.symbol}

CAFE_UNARY: tuple[str, ...] = (
    "zero", "one", "identity", "neg", "abs", "square", "cube", "sqrt", "exp", "exp_neg_square",
    "softplus", "log_abs_eps", "sin", "sinh", "arcsinh", "cos", "cosh", "tanh", "arctan", "relu",
    "min_zero", "sigmoid", "erf", "sinc",
)  # fmt: skip
CAFE_BINARY: tuple[str, ...] = ("add", "sub", "mul", "div_eps", "max", "min")
PANGAEA_UNARY: tuple[str, ...] = (
    "zero", "one", "identity", "neg", "abs", "reciprocal", "square", "exp", "sigmoid", "erf",
    "erfc", "sinh", "cosh", "tanh", "arcsinh", "arctan", "expm1", "log_sigmoid", "relu", "elu",
    "selu", "swish", "softplus", "softsign", "hard_sigmoid", "bessel_i0e", "bessel_i1e",
)  # fmt: skip
PANGAEA_BINARY: tuple[str, ...] = ("add", "sub", "mul", "div", "pow", "max", "min")

#: Operators that overflow to +-inf for large finite input (|x| up to 1e4 in float32).
OVERFLOWING: frozenset[str] = frozenset({"exp", "sinh", "cosh", "expm1", "pow", "mul"})


def get(name: str, arity: int | None = None) -> Operator:
    """The operator called ``name``; ValueError naming the known ones if unknown.

    Example:
        >>> get("tanh").arity
        1
        >>> get("tanhh")
        Traceback (most recent call last):
        ...
        ValueError: unknown operator 'tanhh'; expected one of: zero, one, ...
    """
    op = OPERATORS.get(name)
    if op is None:
        known = ", ".join(OPERATORS)
        raise ValueError(f"unknown operator {name!r}; expected one of: {known}")
    if arity is not None and op.arity != arity:
        raise ValueError(f"operator {name!r} takes {op.arity} input(s), not {arity}")
    return op


def _check_sets() -> None:
    for group in (CAFE_UNARY, PANGAEA_UNARY):
        assert all(OPERATORS[n].arity == 1 for n in group)
    for group in (CAFE_BINARY, PANGAEA_BINARY):
        assert all(OPERATORS[n].arity == 2 for n in group)
    assert math.isclose(SELU_LAMBDA, 1.0507009873554805)


_check_sets()
