"""Formulas: print a genome as readable text, parse it back, export to sympy.

Grammar of the text (what `to_text` prints and `parse` reads)::

    expr    := term (infix term)*          # + - (lowest), * /, ^ (right-assoc, highest)
    term    := [PARAM "*"] atom            # a parameter on the edge leaving atom
    atom    := "x" | "0" | "1" | NAME "(" expr ("," expr)? ")" | "(" expr ")"

Spellings from the papers are read as well (and printed canonically):
``log(sigmoid(e))`` is ``log_sigmoid(e)``; ``min(e, 0)`` and ``max(e, 0)``
(either order, the bare constant 0) are CAFE's unary ``min_zero(e)`` and
``relu(e)`` (Table 3.1's min{x, 0}); elsewhere the constants ``0`` and ``1``
are ``zero(x)`` and ``one(x)``, and the binary min with a zero input is
written ``min(x, zero(x))``.

``NAME`` is an operator of `evoforge.activations.operators.OPERATORS`; binary
operators with an infix symbol (``+ - * / ^``) print infix, the others
(``max``, ``min``, ``div_eps``) as calls. ``PARAM`` names are alpha, beta,
gamma, ... and must appear in that order, each once, because each names a
different edge. Nested infix operations are printed fully parenthesised, so
``parse(to_text(g)) == g`` for every genome.

Example:
    >>> g = parse("log_sigmoid(alpha*x) * beta*arcsinh(x)")
    >>> g.n_params
    2
    >>> to_text(g)
    'log_sigmoid(alpha*x) * beta*arcsinh(x)'
    >>> to_sympy(parse("x * relu(x)"))
    x*Max(0, x)
    >>> to_text(parse("log(sigmoid(alpha*x)) * beta*arcsinh(x)"))
    'log_sigmoid(alpha*x) * beta*arcsinh(x)'
    >>> to_text(parse("arctan(x) * min(x, 0)"))
    'arctan(x) * min_zero(x)'
    >>> to_text(parse("min(x, zero(x))"))
    'min(x, zero(x))'
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

import sympy as sp

from evoforge.activations.expr import Binary, Node, Unary, X
from evoforge.activations.operators import INFIX, OPERATORS, get
from evoforge.errors import EvoforgeError

if TYPE_CHECKING:
    from evoforge.activations.graph import Graph

PARAM_NAMES: tuple[str, ...] = (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi",
    "psi", "omega",
)  # fmt: skip
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 3}
# Deepest formula the parser and printers accept (root = depth 1). Genomes of
# the searched spaces stay below 20; the bound keeps the recursive parser and
# printers far from Python's recursion limit, and a chain ``x + x + ... + x``
# counts one level per operator, as its tree does. The parser's own nesting
# (brackets and right operands) may reach twice that, as printed formulas do.
MAX_DEPTH = 64
_MAX_NESTING = 2 * MAX_DEPTH + 1
MAX_FORMULA_CHARS = 100_000
# ``min(e, 0)`` and ``max(e, 0)`` with the bare constant 0 are the unary
# operators CAFE writes that way; ``min(e, zero(x))`` stays the binary min.
_ZERO_CLAMPS = {"min": "min_zero", "max": "relu"}


class FormulaError(EvoforgeError, ValueError):
    """A formula that cannot be parsed or printed; the message quotes it and
    says what was expected.

    Example:
        >>> parse("tanh(x")
        Traceback (most recent call last):
        ...
        evoforge.activations.formula.FormulaError: formula 'tanh(x': expected ')', got end of text
    """


def _quote(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")


_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z_0-9]*|[0-9]+(?:\.[0-9]*)?)|([-+*/^(),]))")
_TRAILING_SPACE = re.compile(r"\s*\Z")
_CONSTANTS = {"0": "zero", "1": "one"}  # constants the operator sets have, as functions of x


def param_name(i: int) -> str:
    """Name of the ``i``-th parameter (0-based).

    Example:
        >>> param_name(2)
        'gamma'
    """
    if not 0 <= i < len(PARAM_NAMES):
        raise FormulaError(
            f"parameter index {i} out of range 0..{len(PARAM_NAMES) - 1}: a formula has at "
            f"most {len(PARAM_NAMES)} parameters (alpha ... omega)"
        )
    return PARAM_NAMES[i]


def _check_printable(node: Node) -> None:
    """Depth and parameter count within what the printers handle, checked
    without recursion (a genome built in code may be arbitrarily deep)."""
    stack, params = [(node, 1)], 0
    while stack:
        n, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FormulaError(f"formula nests deeper than {MAX_DEPTH} levels")
        params += n.param
        stack.extend((c, depth + 1) for c in n.children)
    if params > len(PARAM_NAMES):
        raise FormulaError(
            f"formula has {params} parameters; at most {len(PARAM_NAMES)} (alpha ... omega)"
        )


def to_text(node: Node | Graph) -> str:
    """The genome as a formula; a `evoforge.activations.graph.Graph` prints in
    its own form (bindings for shared nodes).

    Example:
        >>> to_text(Binary("max", Unary("sin", X()), Unary("zero", X(), param=True)))
        'max(sin(x), alpha*zero(x))'
    """
    if not isinstance(node, X | Unary | Binary):
        from evoforge.activations import graph  # graph builds on this module

        return graph.to_text(node)
    _check_printable(node)
    counter = iter(range(len(PARAM_NAMES) + 1))

    def rec(n: Node, operand: bool) -> str:
        name = param_name(next(counter)) + "*" if n.param else ""
        if isinstance(n, X):
            return name + "x"
        op = OPERATORS[n.op]
        if isinstance(n, Unary):
            return f"{name}{n.op}({rec(n.arg, False)})"
        if op.symbol is None:
            return f"{name}{n.op}({rec(n.left, False)}, {rec(n.right, False)})"
        body = f"{rec(n.left, True)} {op.symbol} {rec(n.right, True)}"
        return f"{name}({body})" if name or operand else body

    return rec(node, False)


class _Parser:
    """Precedence climbing over the tokens. Every method returns
    ``(node, depth)``; ``self.nesting`` counts the open calls so that input
    nested past `MAX_DEPTH` fails before Python's recursion limit does."""

    def __init__(self, text: str):
        self.text = text
        self.nesting = 0
        self.tokens: list[tuple[str, int]] = []
        pos = 0
        while pos < len(text):
            if _TRAILING_SPACE.match(text, pos):  # not text[pos:]: quadratic on long input
                break
            m = _TOKEN.match(text, pos)
            if m is None:
                bad = text[pos:].lstrip()[:1]
                where = len(text) - len(text[pos:].lstrip())
                raise FormulaError(
                    f"formula {_quote(text)}: unexpected character {bad!r} at position {where}; "
                    "expected x, an operator name, a parameter name, '(', ')', ',' or + - * / ^"
                )
            self.tokens.append((m.group(1) or m.group(2), m.start(m.lastindex or 0)))
            pos = m.end()
        self.i = 0
        self.n_params = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def fail(self, expected: str) -> FormulaError:
        if self.i < len(self.tokens):
            tok, pos = self.tokens[self.i]
            got = f"{_quote(tok)} at position {pos}"
        else:
            got = "end of text"
        return FormulaError(f"formula {_quote(self.text)}: expected {expected}, got {got}")

    def deeper(self, depth: int, limit: int = MAX_DEPTH) -> int:
        if depth > limit:
            raise FormulaError(
                f"formula {_quote(self.text)}: nests deeper than {MAX_DEPTH} levels "
                "(each operator of a long sum or product counts as one)"
            )
        return depth

    def take(self, tok: str) -> None:
        if self.peek() != tok:
            raise self.fail(repr(tok))
        self.i += 1

    def parse(self) -> Node:
        if not self.tokens:
            raise FormulaError("formula is empty; expected an expression such as 'tanh(x)'")
        node, _ = self.expr(1)
        if self.peek() is not None:
            raise self.fail("an infix operator (+ - * / ^) or the end of the formula")
        return node

    def expr(self, min_prec: int) -> tuple[Node, int]:
        self.nesting += 1
        self.deeper(self.nesting, _MAX_NESTING)
        left, depth = self.term()
        while (tok := self.peek()) in _PRECEDENCE and _PRECEDENCE[tok] >= min_prec:
            self.i += 1
            prec = _PRECEDENCE[tok]
            right, right_depth = self.expr(prec if tok == "^" else prec + 1)
            left = Binary(INFIX[tok], left, right)
            depth = self.deeper(1 + max(depth, right_depth))
        self.nesting -= 1
        return left, depth

    def term(self) -> tuple[Node, int]:
        tok = self.peek()
        if tok in PARAM_NAMES:
            if self.n_params >= len(PARAM_NAMES):
                raise FormulaError(
                    f"formula {_quote(self.text)}: more than {len(PARAM_NAMES)} parameters; "
                    "the names alpha ... omega are all used"
                )
            expected = PARAM_NAMES[self.n_params]
            if tok != expected:
                raise FormulaError(
                    f"formula {_quote(self.text)}: parameters must be named alpha, beta, gamma, "
                    f"... in order of appearance, each once; expected {expected!r}, got {tok!r}"
                )
            self.n_params += 1
            self.i += 1
            self.take("*")
            node, depth = self.atom()
            return _with_param(node), depth
        return self.atom()

    def atom(self) -> tuple[Node, int]:
        tok = self.peek()
        if tok == "(":
            self.i += 1
            node, depth = self.expr(1)
            self.take(")")
            return node, depth
        if tok == "x":
            self.i += 1
            return X(), 1
        if tok is not None and tok[0].isdigit():
            if float(tok) not in (0.0, 1.0):
                raise self.fail("the constant 0 or 1 (other constants are parameters)")
            self.i += 1
            return Unary(_CONSTANTS["0" if float(tok) == 0.0 else "1"], X()), 2
        if tok == "log":
            return self._log_sigmoid()
        if tok is None or not (tok[0].isalpha() or tok[0] == "_"):
            raise self.fail("x, a parameter name, an operator call such as 'tanh(x)' or '('")
        if tok in PARAM_NAMES:
            raise self.fail(f"an operand after '*' (parameter {tok!r} cannot follow one directly)")
        try:
            op = get(tok)
        except ValueError as error:
            raise FormulaError(f"formula {_quote(self.text)}: {error}") from None
        self.i += 1
        self.take("(")
        zeros = [self._literal_zero()]
        args = [self.expr(1)]
        while self.peek() == ",":
            self.i += 1
            zeros.append(self._literal_zero())
            args.append(self.expr(1))
        self.take(")")
        if tok in _ZERO_CLAMPS and len(args) == 2 and sum(zeros) == 1:
            # CAFE's min{x, 0} and max{x, 0} are unary operators (Table 3.1).
            other = args[zeros.index(False)]
            return Unary(_ZERO_CLAMPS[tok], other[0]), self.deeper(1 + other[1])
        if len(args) != op.arity:
            raise FormulaError(
                f"formula {_quote(self.text)}: operator {tok!r} takes {op.arity} input(s), "
                f"got {len(args)}"
            )
        depth = self.deeper(1 + max(d for _, d in args))
        if op.arity == 1:
            return Unary(tok, args[0][0]), depth
        return Binary(tok, args[0][0], args[1][0]), depth

    def _literal_zero(self) -> bool:
        """Whether the next argument is the bare constant 0 (not ``zero(x)``)."""
        tok = self.peek()
        after = self.tokens[self.i + 1][0] if self.i + 1 < len(self.tokens) else None
        return tok is not None and tok[0].isdigit() and float(tok) == 0.0 and after in (",", ")")

    def _log_sigmoid(self) -> tuple[Node, int]:
        """``log(sigmoid(e))``, the papers' spelling of ``log_sigmoid(e)``."""
        self.i += 1
        self.take("(")
        if self.peek() != "sigmoid":
            raise self.fail("'sigmoid(...)' inside log(...): the logarithms are log_sigmoid and "
                            "log_abs_eps")  # fmt: skip
        self.i += 1
        self.take("(")
        inner, depth = self.expr(1)
        self.take(")")
        self.take(")")
        return Unary("log_sigmoid", inner), self.deeper(depth + 1)


def _with_param(node: Node) -> Node:
    return replace(node, param=True)


def parse(text: str) -> Node:
    """Parse a formula (see the module docs); `FormulaError` (a ValueError)
    says what is wrong, also for formulas too long or deeper than `MAX_DEPTH`.

    Example:
        >>> parse("alpha*x - beta*log_sigmoid(gamma*x)").n_params
        3
        >>> parse("tanh(x) +")
        Traceback (most recent call last):
        ...
        evoforge.activations.formula.FormulaError: formula 'tanh(x) +': expected x, a parameter name, ... got end of text
    """  # noqa: E501
    if not isinstance(text, str):
        raise FormulaError(f"formula must be a string, got {type(text).__name__}")
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaError(
            f"formula has {len(text):,} characters; at most {MAX_FORMULA_CHARS:,} are read"
        )
    return _Parser(text).parse()


def to_sympy(node: Node | Graph) -> sp.Expr:
    """The genome (a tree or a `evoforge.activations.graph.Graph`) as a sympy
    expression in the symbol ``x`` (parameters: alpha, beta, ...).

    Example:
        >>> to_sympy(parse("alpha*tanh(x)"))
        alpha*tanh(x)
    """
    from evoforge.activations import graph  # graph builds on this module

    if isinstance(node, X | Unary | Binary):
        _check_printable(node)
    return graph.to_sympy(node)
