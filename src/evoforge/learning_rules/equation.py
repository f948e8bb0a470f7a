"""Equations of the Backprop Evolution DSL: f(u1(op1), u2(op2)), composed.

An `Equation` is 1 to 3 `Block` s. The first block computes
``f(u1(op1), u2(op2))``; each later block takes the previous result as its
``op1``. The last result is b_i^p, so it must have the shape of h_i^p
(`infer_shape`). The text form is the nested call that is evaluated, the
identity unary left out::

    mul(matmul(b1, W), dh)          # back-propagation, (b_{i+1}^p · W_i) ⊙ σ'(h_i^p)
    min(norm_fro(g), clip[1](h))    # Table 1, A1 SGD

Example:
    >>> eq = parse("mul(matmul(b1, W), dh)")
    >>> len(eq.blocks), str(eq)
    (2, 'mul(matmul(b1, W), dh)')
    >>> infer_shape(eq), infer_shape(parse("add(b1, g)"))
    ((5, 7), None)
    >>> parse("add(g, clip[2](h))")
    Traceback (most recent call last):
    ...
    evoforge.learning_rules.equation.EquationSyntaxError: clip takes a value in (0.01, 0.1, 0.5, 1.0), got 2.0 (in 'add(g, clip[2](h))')
"""  # noqa: E501

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from evoforge.learning_rules.functions import (
    BINARY,
    UNARY_PARAMS,
    RuntimeState,
    Unary,
    Value,
    apply_binary,
    apply_unary,
    binary_shape,
    unary_shape,
)
from evoforge.learning_rules.operands import (
    OPERANDS,
    VARIANTS,
    WEIGHT_LIKE,
    OperandRef,
    shape_env,
)

MAX_BLOCKS = 3
IDENTITY = Unary("id")


class EquationSyntaxError(ValueError):
    """Equation text that does not parse, naming what was expected."""


@dataclass(frozen=True, order=True)
class Block:
    """One binary step. ``op1`` is None in every block but the first (its
    left operand is then the previous block's result)."""

    op1: OperandRef | None
    u1: Unary
    op2: OperandRef
    u2: Unary
    f: str

    def __post_init__(self) -> None:
        if self.f not in BINARY:
            raise ValueError(f"unknown binary function {self.f!r}; known: {', '.join(BINARY)}")


@dataclass(frozen=True, order=True)
class Equation:
    """1 to `MAX_BLOCKS` blocks; only the first has its own ``op1``."""

    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.blocks) <= MAX_BLOCKS:
            raise ValueError(f"an equation has 1 to {MAX_BLOCKS} blocks, got {len(self.blocks)}")
        if self.blocks[0].op1 is None:
            raise ValueError("the first block needs its op1")
        if any(b.op1 is not None for b in self.blocks[1:]):
            raise ValueError("only the first block has an op1; later ones use the result")

    def __str__(self) -> str:
        text = ""
        for i, b in enumerate(self.blocks):
            left = str(b.op1) if i == 0 else text
            text = f"{b.f}({_wrap(b.u1, left)}, {_wrap(b.u2, str(b.op2))})"
        return text

    def operands(self) -> list[OperandRef]:
        """The operands the equation reads, in order (the first block's op1 first)."""
        first = self.blocks[0].op1
        assert first is not None
        return [first] + [b.op2 for b in self.blocks]


def _wrap(u: Unary, text: str) -> str:
    return text if u == IDENTITY else f"{u}({text})"


# -- shapes -------------------------------------------------------------------


def infer_shape(
    eq: Equation, env: dict[str, tuple[int, int]] | None = None, conv: bool = False
) -> tuple[int, int] | None:
    """The shape of the equation's result, or None if a step does not fit.

    ``env`` maps operands to shapes (default `shape_env`). With ``conv``,
    weight-like values (convolution kernels) may only be the right factor of
    a matrix product with an activation, or combine element-wise with each
    other, as they can in a convolutional layer.
    """
    env = env or shape_env()

    def operand(ref: OperandRef) -> tuple[tuple[int, int], bool]:
        return env[ref.name], ref.name in WEIGHT_LIKE

    shape, weight = operand(eq.blocks[0].op1)  # type: ignore[arg-type]
    for b in eq.blocks:
        shape = unary_shape(b.u1, shape)
        shape2, weight2 = operand(b.op2)
        shape2 = unary_shape(b.u2, shape2)
        if conv and b.f != "left":
            if b.f == "matmul" and weight:
                return None
            if b.f != "matmul" and weight != weight2:
                return None
        new = binary_shape(b.f, shape, shape2)
        if new is None:
            return None
        weight = weight if b.f == "left" else (weight and weight2 and b.f != "matmul")
        shape = new
    return shape


def is_feasible(eq: Equation, conv: bool = False) -> bool:
    """Whether the result has h_i^p's shape for every layer (checked at
    distinct prime sizes, see `shape_env`)."""
    env = shape_env()
    return infer_shape(eq, env, conv) == env["hp"]


# -- evaluation -----------------------------------------------------------------


def evaluate(
    eq: Equation,
    operand: Callable[[OperandRef], Value],
    state: RuntimeState,
    key: Hashable = (),
) -> Value:
    """The equation's value; ``operand`` gives each operand's value and
    ``key`` prefixes the running statistics of its unary functions in ``state``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, -2.0]])
        >>> evaluate(parse("max(g, neg(g))"), lambda ref: x, RuntimeState(0)).tolist()
        [[1.0, 2.0]]
    """
    value = operand(eq.blocks[0].op1)  # type: ignore[arg-type]
    for k, b in enumerate(eq.blocks):
        left = apply_unary(b.u1, value, state, (key, k, 1))
        if b.f == "left":
            value = left
            continue
        right = apply_unary(b.u2, operand(b.op2), state, (key, k, 2))
        value = apply_binary(b.f, left, right)
    return value


# -- text -----------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)|(?P<punct>[()\[\],]))")
_NUMBER = re.compile(r"\s*(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


@dataclass
class _Call:
    name: str
    param: float | None
    args: list[Any]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str) -> EquationSyntaxError:
        return EquationSyntaxError(f"{message} at position {self.pos} of {self.text!r}")

    def peek(self) -> str | None:
        m = _TOKEN.match(self.text, self.pos)
        return None if m is None else (m.group("name") or m.group("punct"))

    def take(self, expected: str | None = None) -> str:
        m = _TOKEN.match(self.text, self.pos)
        if m is None:
            what = "end of text" if not self.text[self.pos :].strip() else "an unexpected character"
            raise self.fail(f"expected {expected or 'a name'}, got {what}")
        tok = m.group("name") or m.group("punct")
        if expected is not None and tok != expected:
            raise self.fail(f"expected {expected!r}, got {tok!r}")
        if expected is None and m.group("name") is None:
            raise self.fail(f"expected a name, got {tok!r}")
        self.pos = m.end()
        return tok

    def call(self) -> _Call:
        name = self.take()
        param = None
        if self.peek() == "[":
            self.take("[")
            m = _NUMBER.match(self.text, self.pos)
            if m is None:
                raise self.fail("expected a number")
            param = float(m.group("num"))
            self.pos = m.end()
            self.take("]")
        args: list[Any] = []
        if self.peek() == "(":
            self.take("(")
            args.append(self.call())
            while self.peek() == ",":
                self.take(",")
                args.append(self.call())
            self.take(")")
        return _Call(name, param, args)


def parse(text: str) -> Equation:
    """The equation written as ``str(equation)`` writes it.

    Raises `EquationSyntaxError` naming what was expected.
    """
    p = _Parser(text)
    tree = p.call()
    if p.text[p.pos :].strip():
        raise p.fail("expected the end of the equation")
    try:
        blocks = _blocks(tree)
        return Equation(tuple(blocks))
    except ValueError as exc:
        if isinstance(exc, EquationSyntaxError):
            raise
        raise EquationSyntaxError(f"{exc} (in {text!r})") from None


def _operand(node: _Call) -> OperandRef:
    if node.name in VARIANTS and node.name and len(node.args) == 1 and not node.args[0].args:
        return OperandRef(node.args[0].name, node.name)
    if node.args or node.param is not None or node.name not in OPERANDS:
        raise ValueError(f"expected an operand such as 'g' or 'bn(g)', got {node.name!r}")
    return OperandRef(node.name)


def _unary_arg(node: _Call) -> tuple[Unary, _Call]:
    if node.name in UNARY_PARAMS:
        if len(node.args) != 1:
            raise ValueError(f"unary function {node.name!r} takes one argument")
        return Unary(node.name, node.param), node.args[0]
    return IDENTITY, node


def _blocks(node: _Call) -> list[Block]:
    if node.name not in BINARY:
        raise ValueError(f"expected a binary function ({', '.join(BINARY)}), got {node.name!r}")
    if len(node.args) != 2 or node.param is not None:
        raise ValueError(f"binary function {node.name!r} takes two arguments and no value")
    u1, inner = _unary_arg(node.args[0])
    u2, right = _unary_arg(node.args[1])
    if inner.name in BINARY:
        return [*_blocks(inner), Block(None, u1, _operand(right), u2, node.name)]
    return [Block(_operand(inner), u1, _operand(right), u2, node.name)]


#: Back-propagation, feedback alignment and direct feedback alignment as
#: equations; ``bp_g`` is BP through the gradient operand itself.
PRESETS: dict[str, str] = {
    "bp": "mul(matmul(b1, W), dh)",
    "bp_g": "left(g, g)",
    "fa": "mul(matmul(b1, R), dh)",
    "dfa": "mul(matmul(bL, RL), dh)",
}


def preset(name: str) -> Equation:
    """A named equation of `PRESETS` (or any equation text).

    Example:
        >>> str(preset("dfa"))
        'mul(matmul(bL, RL), dh)'
    """
    return parse(PRESETS.get(name, name))
