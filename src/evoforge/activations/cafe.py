"""CAFE: activation functions as fixed-shape operator trees (dissertation ch. 3).

A core unit is ``binary(unary1(x), unary2(x))``. S1 is one core unit
(24·24·6 = 3,456 functions); S2 is ``core1(core2(x), core3(x))``: the root
core unit's two unaries apply to the outputs of two inner core units, i.e.
``b1(u1(b2(u3(x), u4(x))), u2(b3(u5(x), u6(x))))``. Genomes are
`evoforge.activations.expr` trees without parameters, over `CAFE_UNARY` and
`CAFE_BINARY`.

Mutation replaces one random operator with a different operator of the same
arity. Crossover picks a depth at random (1 or more, above the x leaves),
one random subtree at that depth in each parent, and returns the first parent
with its subtree replaced by the second's; in S1 and S2 all subtrees at one
depth have the same shape, so the child stays in the parents' space.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> g = random_s2(rng)
    >>> shape_of(g), g.n_nodes
    ('s2', 9)
    >>> child, name = mutate(g, rng)
    >>> shape_of(child), name
    ('s2', 'change')
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from evoforge.activations.expr import Binary, Node, Unary, X, at, replace_at, walk
from evoforge.activations.operators import CAFE_BINARY, CAFE_UNARY


def core_unit(
    binary: str, unary1: str, unary2: str, inner1: Node | None = None, inner2: Node | None = None
) -> Node:
    """``binary(unary1(inner1), unary2(inner2))``.

    Example:
        >>> from evoforge.activations.formula import to_text
        >>> to_text(core_unit("mul", "tanh", "min_zero"))
        'tanh(x) * min_zero(x)'
    """
    return Binary(binary, Unary(unary1, inner1 or X()), Unary(unary2, inner2 or X()))


def enumerate_s1() -> Iterator[Node]:
    """All 3,456 S1 functions (binary outermost, then unary1, then unary2).

    Example:
        >>> sum(1 for _ in enumerate_s1())
        3456
    """
    for b in CAFE_BINARY:
        for u1 in CAFE_UNARY:
            for u2 in CAFE_UNARY:
                yield core_unit(b, u1, u2)


def _pick(rng: np.random.Generator, names: tuple[str, ...]) -> str:
    return names[int(rng.integers(len(names)))]


def random_s1(rng: np.random.Generator) -> Node:
    """A uniformly random S1 function.

    Example:
        >>> shape_of(random_s1(np.random.default_rng(1)))
        's1'
    """
    return core_unit(_pick(rng, CAFE_BINARY), _pick(rng, CAFE_UNARY), _pick(rng, CAFE_UNARY))


def random_s2(rng: np.random.Generator) -> Node:
    """A uniformly random S2 function.

    Example:
        >>> random_s2(np.random.default_rng(1)).n_nodes
        9
    """
    inner1, inner2 = random_s1(rng), random_s1(rng)
    return core_unit(
        _pick(rng, CAFE_BINARY), _pick(rng, CAFE_UNARY), _pick(rng, CAFE_UNARY), inner1, inner2
    )


def shape_of(genome: Node) -> str:
    """``'s1'`` or ``'s2'``; ValueError if the genome is neither or uses a non-CAFE
    operator or a parameter.

    Example:
        >>> from evoforge.activations.formula import parse
        >>> shape_of(parse("sin(x) + cos(x)"))
        's1'
    """

    def is_core(n: Node, inner: bool) -> bool:
        if not (isinstance(n, Binary) and n.op in CAFE_BINARY and not n.param):
            return False
        for u in (n.left, n.right):
            if not (isinstance(u, Unary) and u.op in CAFE_UNARY and not u.param):
                return False
            if inner and not is_core(u.arg, False):
                return False
            if not inner and u.arg != X():
                return False
        return True

    if is_core(genome, False):
        return "s1"
    if is_core(genome, True):
        return "s2"
    raise ValueError(
        "not a CAFE genome: expected binary(unary(x), unary(x)) (S1) or "
        "binary(unary(S1), unary(S1)) (S2) over the CAFE operators, without parameters"
    )


def mutate(genome: Node, rng: np.random.Generator) -> tuple[Node, str]:
    """Replace one random operator with a different one of the same arity.

    Example:
        >>> from evoforge.activations.formula import parse, to_text
        >>> child, _ = mutate(parse("sin(x) + cos(x)"), np.random.default_rng(0))
        >>> child != parse("sin(x) + cos(x)")
        True
    """
    paths = [p for p, n in walk(genome) if not isinstance(n, X)]
    path = paths[int(rng.integers(len(paths)))]
    node = at(genome, path)
    names = CAFE_UNARY if isinstance(node, Unary) else CAFE_BINARY
    others = tuple(n for n in names if n != node.op)
    return replace_at(genome, path, replace(node, op=_pick(rng, others))), "change"


def crossover(a: Node, b: Node, rng: np.random.Generator) -> Node:
    """One child: ``a`` with a random subtree replaced by a random subtree of ``b`` at
    the same depth (depth >= 1, x leaves excluded). Both parents must have the same
    shape (S1 or S2).

    Example:
        >>> from evoforge.activations.formula import parse, to_text
        >>> rng = np.random.default_rng(0)
        >>> to_text(crossover(parse("sin(x) + cos(x)"), parse("exp(x) * exp(x)"), rng))
        'sin(x) + exp(x)'
    """
    if shape_of(a) != shape_of(b):
        raise ValueError(
            f"crossover needs parents of the same shape, got {shape_of(a)} and {shape_of(b)}"
        )
    by_depth_a: dict[int, list] = {}
    by_depth_b: dict[int, list] = {}
    for table, tree in ((by_depth_a, a), (by_depth_b, b)):
        for p, n in walk(tree):
            if p and not isinstance(n, X):
                table.setdefault(len(p), []).append(p)
    depths = sorted(by_depth_a)
    d = depths[int(rng.integers(len(depths)))]
    pa = by_depth_a[d][int(rng.integers(len(by_depth_a[d])))]
    pb = by_depth_b[d][int(rng.integers(len(by_depth_b[d])))]
    return replace_at(a, pa, at(b, pb))
