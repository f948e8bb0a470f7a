"""Expression trees: CAFE's genome, and the tree form of any formula.

A genome is an immutable, hashable tree of `X` (the input x), `Unary` and
`Binary` nodes. Every node has exactly one outgoing edge (to its parent, or to
the output for the root), so "an edge" is identified with the node it leaves:
``param=True`` puts a learnable multiplicative parameter (initialised to 1) on
that edge. ``alpha*x`` is a parameter on an input edge, ``beta*tanh(x)`` one on
tanh's output edge. Positions are paths: tuples of child indices from the root.

Parameters are ordered by a pre-order walk (node, then its inputs left to right),
which is the order their names appear in the printed formula. A tree is
evaluated as the graph it is (`evoforge.activations.graph.evaluate`), whose
parameters are in the same order.

Example:
    >>> g = Binary("mul", Unary("tanh", X(param=True)), Unary("relu", X()))
    >>> g.n_nodes, g.n_edges, g.n_params
    (3, 5, 1)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from evoforge.activations.operators import get

Path = tuple[int, ...]


class _Sizes:
    """Size properties shared by the three node types."""

    @property
    def n_nodes(self) -> int:
        """Number of operator (unary and binary) nodes; x leaves do not count."""
        return _stats(self)[0]  # type: ignore[arg-type]

    @property
    def n_edges(self) -> int:
        """Number of edges, the input edges from x and the output edge included."""
        return _stats(self)[1]  # type: ignore[arg-type]

    @property
    def n_params(self) -> int:
        """Number of learnable parameters."""
        return _stats(self)[2]  # type: ignore[arg-type]


@dataclass(frozen=True)
class X(_Sizes):
    """The input x (a leaf)."""

    param: bool = False

    @property
    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True)
class Unary(_Sizes):
    """A unary operator applied to one input."""

    op: str
    arg: Node
    param: bool = False

    def __post_init__(self) -> None:
        get(self.op, 1)

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.arg,)


@dataclass(frozen=True)
class Binary(_Sizes):
    """A binary operator applied to two inputs."""

    op: str
    left: Node
    right: Node
    param: bool = False

    def __post_init__(self) -> None:
        get(self.op, 2)

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


Node = X | Unary | Binary


def _stats(node: Node) -> tuple[int, int, int]:
    """(operator nodes, edges, parameters) of a tree; iterative, so any depth works."""
    n = e = p = 0
    stack = [node]
    while stack:
        current = stack.pop()
        n += not isinstance(current, X)
        e += 1  # every node has exactly one outgoing edge
        p += current.param
        stack.extend(current.children)
    return n, e, p


def walk(node: Node, path: Path = ()) -> Iterator[tuple[Path, Node]]:
    """Every (path, subtree) in pre-order (a node before its inputs, left to right).

    Example:
        >>> [p for p, _ in walk(Unary("tanh", X()))]
        [(), (0,)]
    """
    yield path, node
    for i, c in enumerate(node.children):
        yield from walk(c, (*path, i))


def at(node: Node, path: Path) -> Node:
    """The subtree at ``path``.

    Example:
        >>> at(Unary("tanh", X(True)), (0,))
        X(param=True)
    """
    for i in path:
        node = node.children[i]
    return node


def with_children(node: Node, children: Sequence[Node]) -> Node:
    """``node`` with its inputs replaced.

    Example:
        >>> with_children(Unary("tanh", X()), [X(True)])
        Unary(op='tanh', arg=X(param=True), param=False)
    """
    if isinstance(node, Unary):
        (arg,) = children
        return replace(node, arg=arg)
    if isinstance(node, Binary):
        left, right = children
        return replace(node, left=left, right=right)
    return node


def replace_at(node: Node, path: Path, new: Node) -> Node:
    """A copy of ``node`` with the subtree at ``path`` replaced by ``new``.

    Example:
        >>> replace_at(Unary("tanh", X()), (0,), Unary("sin", X()))
        Unary(op='tanh', arg=Unary(op='sin', arg=X(param=False), param=False), param=False)
    """
    if not path:
        return new
    kids = list(node.children)
    kids[path[0]] = replace_at(kids[path[0]], path[1:], new)
    return with_children(node, kids)


def operators(node: Node) -> list[str]:
    """Operator names in pre-order.

    Example:
        >>> operators(Binary("add", Unary("sin", X()), X()))
        ['add', 'sin']
    """
    return [n.op for _, n in walk(node) if not isinstance(n, X)]
