"""Computation graphs: PANGAEA's genome (dissertation ch. 4), with shared nodes.

A `Graph` is the input x (node 0) and operator nodes 1..n; each operator node
reads its inputs from x or from earlier nodes, and node n is the output. A
node's output may feed several consumers: ``max(h, h)`` after a max/min
insert reads one node twice instead of copying its subtree. Every edge (an
input slot of a node, or the output edge) may carry a learnable
multiplicative parameter.

The node order is canonical: the post-order of a depth-first walk from the
output (inputs left to right), so two graphs of the same structure are equal
(``==``, hash) and every node is used. `make` builds the canonical graph of
any node list; the constructor refuses a non-canonical one.

Text: a graph without shared operator nodes prints as its tree formula
(`evoforge.activations.formula`), so ``parse(to_text(tree))`` round-trips
every CAFE or PANGAEA formula; shared nodes are named in bindings before the
output expression, ``h1 = tanh(x); max(h1, alpha*h1)``. Parameters are
numbered in order of appearance in that text, which is also their order in
`evaluate` and in `evoforge.activations.Activation`'s ``weights``.

Example:
    >>> import torch
    >>> g = parse("h1 = tanh(alpha*x); max(h1, beta*h1)")
    >>> g.n_nodes, g.n_edges, g.n_params
    (2, 4, 2)
    >>> to_text(g)
    'h1 = tanh(alpha*x); max(h1, beta*h1)'
    >>> evaluate(g, torch.tensor([1.0]), [torch.tensor(1.0), torch.tensor(-1.0)]).tolist()
    [0.7615941762924194]
    >>> from evoforge.activations.expr import Binary, Unary
    >>> to_text(as_graph(Binary("add", Unary("sin", X()), X(param=True))))
    'sin(x) + alpha*x'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp
import torch

from evoforge.activations.expr import Node, X
from evoforge.activations.formula import (
    MAX_DEPTH,
    MAX_FORMULA_CHARS,
    PARAM_NAMES,
    FormulaError,
    _Parser,
    _quote,
    param_name,
)
from evoforge.activations.formula import parse as parse_tree
from evoforge.activations.operators import OPERATORS, get

INPUT = 0
#: (consumer node, input slot) of an edge; the output edge is (OUTPUT_EDGE, 0).
OUTPUT_EDGE = -1
Edge = tuple[int, int]


@dataclass(frozen=True)
class Op:
    """One operator node: its operator, the ids it reads (0 = x) and, per input
    edge, whether that edge carries a parameter."""

    op: str
    inputs: tuple[int, ...]
    params: tuple[bool, ...]


@dataclass(frozen=True)
class Graph:
    """A canonical computation graph (see the module docs); ValueError if not."""

    nodes: tuple[Op, ...]
    out_param: bool = False

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ValueError("a graph needs at least one operator node")
        for k, node in enumerate(self.nodes, 1):
            arity = get(node.op).arity
            if len(node.inputs) != arity or len(node.params) != arity:
                raise ValueError(
                    f"node {k} ({node.op}): expected {arity} input(s) and as many parameter"
                    f" flags, got {len(node.inputs)} and {len(node.params)}"
                )
            if any(not 0 <= i < k for i in node.inputs):
                raise ValueError(
                    f"node {k} ({node.op}) reads {node.inputs}; expected ids 0..{k - 1}"
                )
        if _canonical_order(self.nodes, len(self.nodes)) != list(range(1, len(self.nodes) + 1)):
            raise ValueError(
                "graph nodes are not in canonical order (post-order from the output, every"
                " node used); build graphs with evoforge.activations.graph.make"
            )

    @property
    def n_nodes(self) -> int:
        """Operator nodes (x does not count)."""
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        """Edges: every input slot, plus the output edge."""
        return sum(len(n.inputs) for n in self.nodes) + 1

    @property
    def n_params(self) -> int:
        """Learnable parameters."""
        return sum(sum(n.params) for n in self.nodes) + self.out_param

    def edges(self) -> list[Edge]:
        """Every edge as (consumer, slot), the output edge last.

        Example:
            >>> parse("tanh(x)").edges()
            [(1, 0), (-1, 0)]
        """
        slots = [(k, s) for k, n in enumerate(self.nodes, 1) for s in range(len(n.inputs))]
        return [*slots, (OUTPUT_EDGE, 0)]

    def source(self, edge: Edge) -> int:
        """The node an edge leaves."""
        k, s = edge
        return len(self.nodes) if k == OUTPUT_EDGE else self.nodes[k - 1].inputs[s]

    def uses(self) -> list[int]:
        """How many input slots read each id (index 0 = x)."""
        count = [0] * (len(self.nodes) + 1)
        for n in self.nodes:
            for i in n.inputs:
                count[i] += 1
        return count

    def operators(self) -> list[str]:
        """Operator names in node order."""
        return [n.op for n in self.nodes]


def _canonical_order(nodes: Sequence[Op], out: int) -> list[int]:
    """Ids (1-based) of the nodes ``out`` depends on, in post-order."""
    order: list[int] = []
    seen: set[int] = set()
    stack: list[tuple[int, int]] = [(out, 0)]
    while stack:  # iterative: a graph built in code may be deep
        k, i = stack.pop()
        if i < len(nodes[k - 1].inputs):
            stack.append((k, i + 1))
            child = nodes[k - 1].inputs[i]
            if child != INPUT and child not in seen:
                seen.add(child)
                stack.append((child, 0))
        else:
            order.append(k)
    return order


def make(nodes: Sequence[Op], out: int, out_param: bool = False) -> Graph:
    """The canonical `Graph` of ``nodes`` (ids 1.., in any acyclic order) whose
    output is node ``out``; nodes the output does not use are dropped.

    Example:
        >>> to_text(make([Op("tanh", (0,), (False,)), Op("sin", (0,), (False,)),
        ...               Op("max", (2, 2), (False, True))], 3))
        'h1 = sin(x); max(h1, alpha*h1)'
    """
    if not 1 <= out <= len(nodes):
        raise ValueError(f"output id {out} out of range 1..{len(nodes)}")
    order = _canonical_order(nodes, out)
    new_id = {INPUT: INPUT, **{old: new for new, old in enumerate(order, 1)}}
    return Graph(
        tuple(
            Op(nodes[k - 1].op, tuple(new_id[i] for i in nodes[k - 1].inputs), nodes[k - 1].params)
            for k in order
        ),
        out_param,
    )


def as_graph(genome: Node | Graph) -> Graph:
    """A graph as is; a tree as the graph with one node per tree operator (only x
    shared). The bare tree ``x`` becomes ``identity(x)``, the same function.

    Example:
        >>> from evoforge.activations.expr import Unary
        >>> as_graph(Unary("tanh", X(param=True))).nodes
        (Op(op='tanh', inputs=(0,), params=(True,)),)
    """
    if isinstance(genome, Graph):
        return genome
    if isinstance(genome, X):
        return Graph((Op("identity", (INPUT,), (genome.param,)),))
    nodes: list[Op] = []
    out = _append_tree(genome, nodes)
    return make(nodes, out, genome.param)


@dataclass(frozen=True)
class _Ref(X):
    """A bound name inside a parsed statement: a leaf reading node ``ref``."""

    ref: int = 0


def _append_tree(tree: Node, nodes: list[Op]) -> int:
    """Append the operator nodes of ``tree`` in post-order; the id of its root
    (0 for x, the bound id for a reference)."""
    if isinstance(tree, _Ref):
        return tree.ref
    if isinstance(tree, X):
        return INPUT
    inputs = tuple(_append_tree(c, nodes) for c in tree.children)
    nodes.append(Op(tree.op, inputs, tuple(c.param for c in tree.children)))
    return len(nodes)


# --- text ------------------------------------------------------------------------

_BINDING = re.compile(r"\s*([A-Za-z_][A-Za-z_0-9]*)\s*=(?!=)(.*)\Z", re.S)


def _printed(g: Graph) -> tuple[str, tuple[Edge, ...]]:
    """The text of ``g`` and its parameter edges in order of appearance."""
    depth = [0]
    for node in g.nodes:  # the printer recurses along the longest path
        depth.append(1 + max(depth[i] for i in node.inputs))
    if depth[-1] > MAX_DEPTH:
        raise FormulaError(f"graph nests deeper than {MAX_DEPTH} levels ({depth[-1]})")
    shared = [k for k, u in enumerate(g.uses()) if k != INPUT and u > 1]
    names = {k: f"h{i}" for i, k in enumerate(shared, 1)}
    params: list[Edge] = []

    def term(edge: Edge, operand: bool) -> str:
        k, s = edge
        has_param = g.out_param if k == OUTPUT_EDGE else g.nodes[k - 1].params[s]
        prefix = ""
        if has_param:
            prefix = param_name(len(params)) + "*"
            params.append(edge)
        src = g.source(edge)
        if src == INPUT or src in names:
            return prefix + ("x" if src == INPUT else names[src])
        body = value(src)
        infix = (
            OPERATORS[g.nodes[src - 1].op].symbol is not None and len(g.nodes[src - 1].inputs) == 2
        )
        return f"{prefix}({body})" if infix and (has_param or operand) else prefix + body

    def value(k: int) -> str:
        node = g.nodes[k - 1]
        op = OPERATORS[node.op]
        if len(node.inputs) == 1:
            return f"{node.op}({term((k, 0), False)})"
        if op.symbol is None:
            return f"{node.op}({term((k, 0), False)}, {term((k, 1), False)})"
        return f"{term((k, 0), True)} {op.symbol} {term((k, 1), True)}"

    statements = [f"{names[k]} = {value(k)}" for k in shared]
    statements.append(term((OUTPUT_EDGE, 0), False))
    return "; ".join(statements), tuple(params)


@lru_cache(maxsize=4096)  # evaluate and print reuse one walk per graph
def _printed_cached(g: Graph) -> tuple[str, tuple[Edge, ...]]:
    return _printed(g)


def to_text(genome: Graph | Node) -> str:
    """The graph as text (see the module docs).

    Example:
        >>> to_text(parse("h1 = sin(x); h1 * tanh(h1)"))
        'h1 = sin(x); h1 * tanh(h1)'
    """
    return _printed_cached(as_graph(genome))[0]


def param_edges(g: Graph) -> tuple[Edge, ...]:
    """The edges carrying parameters, in parameter order (alpha, beta, ...).

    Example:
        >>> param_edges(parse("alpha*tanh(beta*x)"))
        ((-1, 0), (1, 0))
    """
    return _printed_cached(g)[1]


class _StatementParser(_Parser):
    """The formula parser, with names bound by earlier statements as leaves."""

    def __init__(self, text: str, names: dict[str, int], n_params: int):
        super().__init__(text)
        self.names = names
        self.n_params = n_params

    def atom(self) -> tuple[Node, int]:
        tok = self.peek()
        if tok in self.names:
            self.i += 1
            return _Ref(ref=self.names[tok]), 1
        return super().atom()


def parse(text: str) -> Graph:
    """Parse a graph's text (a tree formula, or bindings then the output
    expression); `FormulaError` (a ValueError) says what is wrong. A formula
    that is x alone is the one-node graph ``identity(x)``.

    Example:
        >>> parse("h1 = exp(x); h1 / h1").n_nodes
        2
        >>> parse("h1 = exp(x); tanh(x)")
        Traceback (most recent call last):
        ...
        evoforge.activations.formula.FormulaError: graph 'h1 = exp(x); tanh(x)': 'h1' is bound but never used
    """  # noqa: E501
    if not isinstance(text, str):
        raise FormulaError(f"formula must be a string, got {type(text).__name__}")
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaError(
            f"formula has {len(text):,} characters; at most {MAX_FORMULA_CHARS:,} are read"
        )
    *bindings, main = text.split(";")
    if not bindings:
        return as_graph(parse_tree(text))  # a bare x is identity(x)
    nodes: list[Op] = []
    names: dict[str, int] = {}
    n_params = 0
    for statement in bindings:
        m = _BINDING.match(statement)
        if m is None:
            raise FormulaError(
                f"graph {_quote(text)}: expected 'name = expression' before each ';', "
                f"got {_quote(statement.strip())}"
            )
        name, body = m.groups()
        if name in OPERATORS or name in PARAM_NAMES or name in ("x", "log") or name in names:
            raise FormulaError(
                f"graph {_quote(text)}: cannot bind {name!r} (an operator, parameter, x or an"
                " already bound name); use h1, h2, ..."
            )
        parser = _StatementParser(body, names, n_params)
        tree = parser.parse()
        n_params = parser.n_params
        if tree.param:
            raise FormulaError(
                f"graph {_quote(text)}: {name!r} is bound to a scaled value; put the"
                " parameter on each use instead"
            )
        if isinstance(tree, X):
            raise FormulaError(f"graph {_quote(text)}: {name!r} must be bound to an operator")
        names[name] = _append_tree(tree, nodes)
    parser = _StatementParser(main, names, n_params)
    tree = parser.parse()
    if isinstance(tree, X) and not isinstance(tree, _Ref):
        raise FormulaError(f"graph {_quote(text)}: the output must be an operator, not x")
    out = _append_tree(tree, nodes)
    used = {i for n in nodes for i in n.inputs} | {out}
    for name, k in names.items():
        if k not in used:
            raise FormulaError(f"graph {_quote(text)}: {name!r} is bound but never used")
    return make(nodes, out, tree.param)


def _node_values(g: Graph, x, params, apply):
    """Every node's value (index 0 = x) with parameter ``params[i]`` on the i-th
    parameter edge; ``apply(op_name, inputs)`` computes an operator."""
    scale = {edge: p for edge, p in zip(param_edges(g), params, strict=False)}
    values = [x]
    for k, node in enumerate(g.nodes, 1):
        args = []
        for s, i in enumerate(node.inputs):
            v = values[i]
            args.append(v * scale[(k, s)] if (k, s) in scale else v)
        values.append(apply(node.op, args))
    out = values[-1]
    return values, (out * scale[(OUTPUT_EDGE, 0)] if (OUTPUT_EDGE, 0) in scale else out)


def evaluate(
    genome: Graph | Node, x: torch.Tensor, params: Sequence[torch.Tensor] = ()
) -> torch.Tensor:
    """The function's value at ``x``; ``params`` (parameter order) default to 1.

    Example:
        >>> evaluate(parse("h1 = exp(x); h1 - h1"), torch.tensor([3.0])).tolist()
        [0.0]
    """
    g = as_graph(genome)
    return _node_values(g, x, params, lambda op, args: get(op).torch(*args))[1]


def to_sympy(genome: Graph | Node) -> sp.Expr:
    """The function as a sympy expression in ``x`` (parameters alpha, beta, ...).

    Example:
        >>> to_sympy(parse("h1 = exp(x); alpha*h1 * h1"))
        alpha*exp(2*x)
    """
    g = as_graph(genome)
    x = sp.Symbol("x", real=True)
    symbols = [sp.Symbol(param_name(i), real=True) for i in range(g.n_params)]
    return _node_values(g, x, symbols, lambda op, args: OPERATORS[op].sympy(*args))[1]
