"""PANGAEA: parametric activation functions as computation graphs (dissertation ch. 4).

A genome is an `evoforge.activations.graph.Graph` over `PANGAEA_UNARY` and
`PANGAEA_BINARY`: a node's output may feed several consumers, and any edge
(input edges from x and the output edge included) may carry a learnable
multiplicative parameter. Every random choice is drawn from a
`numpy.random.Generator`, so a seed reproduces a run.

Mutations, equally likely (no crossover):

* ``insert``: an operator drawn uniformly from all unary and binary operators
  is put on a random edge. A binary's second input is a new ``zero(x)`` node
  for + and −, ``one(x)`` for ·, / and ^, and for max/min the same source as
  its first input (the node is shared, not copied), so the function's value is
  unchanged (parameters at 1).
* ``remove``: a random operator node is deleted and its consumers read its
  input instead; for a binary node one input, chosen at random, is kept (the
  other if the first choice would leave no operator at all). Nodes no longer
  used are dropped. On a one-node graph it becomes ``change``.
* ``change``: one random operator becomes a different one of the same arity.
* ``regenerate``: every operator is redrawn (same arity), the structure kept.

A graph with more than ``max_nodes`` (7) operator nodes is always mutated by
``remove``. After initialisation and after every mutation the parameters are
redrawn: k ∈ {0, ..., 3} uniformly, then parameters on k distinct random edges.

Every graph these produce is a canonical `Graph`; `evoforge.activations.counts`
counts that space (`searched_count`) next to Table 4.11's (`pangaea_count`).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> g = random_initial(rng)
    >>> g.n_nodes in (2, 3)
    True
    >>> child, name = mutate(g, rng)
    >>> name in MUTATIONS
    True
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from evoforge.activations.graph import INPUT, OUTPUT_EDGE, Edge, Graph, Op, make
from evoforge.activations.operators import PANGAEA_BINARY, PANGAEA_UNARY, get

MAX_NODES = 7
MAX_PARAMS = 3
MUTATIONS: tuple[str, ...] = ("insert", "remove", "change", "regenerate")
#: Second input of a binary operator inserted on an edge: keeps the value unchanged.
NEUTRAL_INPUT: dict[str, str | None] = {
    "add": "zero",
    "sub": "zero",
    "mul": "one",
    "div": "one",
    "pow": "one",
    "max": None,  # the first input's source, shared
    "min": None,
}


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _unary(op: str, source: int) -> Op:
    return Op(op, (source,), (False,))


def with_params(g: Graph, edges: set[Edge] | frozenset[Edge]) -> Graph:
    """``g`` with parameters on exactly ``edges`` ((consumer, slot); the output
    edge is ``(OUTPUT_EDGE, 0)``).

    Example:
        >>> from evoforge.activations.graph import parse, to_text
        >>> to_text(with_params(parse("tanh(x)"), {(1, 0)}))
        'tanh(alpha*x)'
    """
    nodes = tuple(
        replace(n, params=tuple((k, s) in edges for s in range(len(n.inputs))))
        for k, n in enumerate(g.nodes, 1)
    )
    return Graph(nodes, (OUTPUT_EDGE, 0) in edges)


def reparameterise(genome: Graph, rng: np.random.Generator, max_params: int = MAX_PARAMS) -> Graph:
    """The genome with fresh parameters: k ∈ {0..max_params} uniformly (at most the
    number of edges), on k distinct random edges.

    Example:
        >>> from evoforge.activations.graph import parse
        >>> reparameterise(parse("tanh(x)"), np.random.default_rng(0)).n_params <= 2
        True
    """
    edges = genome.edges()
    k = min(int(rng.integers(max_params + 1)), len(edges))
    chosen = rng.choice(len(edges), size=k, replace=False) if k else []
    return with_params(genome, {edges[int(i)] for i in chosen})


def random_initial(
    rng: np.random.Generator,
    unary: tuple[str, ...] = PANGAEA_UNARY,
    binary: tuple[str, ...] = PANGAEA_BINARY,
    max_params: int = MAX_PARAMS,
) -> Graph:
    """``unary1(unary2(x))`` or ``binary(unary1(x), unary2(x))`` (probability ½ each),
    with fresh parameters.

    Example:
        >>> random_initial(np.random.default_rng(0)).n_nodes in (2, 3)
        True
    """
    if rng.random() < 0.5:
        nodes = [_unary(_pick(rng, unary), INPUT), _unary(_pick(rng, unary), 1)]
    else:
        first, second = _pick(rng, unary), _pick(rng, unary)
        nodes = [
            _unary(first, INPUT),
            _unary(second, INPUT),
            Op(_pick(rng, binary), (1, 2), (False, False)),
        ]
    return reparameterise(make(nodes, len(nodes)), rng, max_params)


def insert(
    genome: Graph,
    rng: np.random.Generator,
    unary: tuple[str, ...] = PANGAEA_UNARY,
    binary: tuple[str, ...] = PANGAEA_BINARY,
) -> Graph:
    """A random operator on a random edge, value-preserving (see `insert_at`).

    Example:
        >>> from evoforge.activations.graph import parse, to_text
        >>> insert(parse("tanh(x)"), np.random.default_rng(0)).n_nodes >= 2
        True
    """
    return insert_at(genome, _pick(rng, genome.edges()), _pick(rng, unary + binary))


def insert_at(genome: Graph, edge: Edge, op: str) -> Graph:
    """``op`` put on ``edge`` (consumer, slot): the consumer reads the new node,
    which reads the edge's source (see the module docs for a binary's second
    input). Parameters stay on the edges' consumer ends.

    Example:
        >>> from evoforge.activations.graph import OUTPUT_EDGE, parse, to_text
        >>> to_text(insert_at(parse("exp(tanh(x))"), (2, 0), "max"))
        'h1 = tanh(x); exp(max(h1, h1))'
        >>> to_text(insert_at(parse("tanh(x)"), (OUTPUT_EDGE, 0), "add"))
        'tanh(x) + zero(x)'
    """
    source = genome.source(edge)
    nodes = list(genome.nodes)
    if get(op).arity == 1:
        nodes.append(_unary(op, source))
    else:
        neutral = NEUTRAL_INPUT[op]
        if neutral is None:
            second = source
        else:
            nodes.append(_unary(neutral, INPUT))
            second = len(nodes)
        nodes.append(Op(op, (source, second), (False, False)))
    new = len(nodes)
    k, s = edge
    if k == OUTPUT_EDGE:
        return make(nodes, new, genome.out_param)
    inputs = list(nodes[k - 1].inputs)
    inputs[s] = new
    nodes[k - 1] = replace(nodes[k - 1], inputs=tuple(inputs))
    return make(nodes, genome.n_nodes, genome.out_param)  # `make` renumbers canonically


def change(
    genome: Graph, rng: np.random.Generator, unary=PANGAEA_UNARY, binary=PANGAEA_BINARY
) -> Graph:
    """One random operator replaced by a different one of the same arity.

    Example:
        >>> from evoforge.activations.graph import parse
        >>> change(parse("tanh(x)"), np.random.default_rng(0)) != parse("tanh(x)")
        True
    """
    k = int(rng.integers(genome.n_nodes))
    node = genome.nodes[k]
    names = unary if len(node.inputs) == 1 else binary
    nodes = list(genome.nodes)
    nodes[k] = replace(node, op=_pick(rng, [n for n in names if n != node.op]))
    return Graph(tuple(nodes), genome.out_param)


def regenerate(
    genome: Graph, rng: np.random.Generator, unary=PANGAEA_UNARY, binary=PANGAEA_BINARY
) -> Graph:
    """Every operator redrawn uniformly (same arity); structure and parameters kept.

    Example:
        >>> from evoforge.activations.graph import parse
        >>> regenerate(parse("tanh(x) + sin(x)"), np.random.default_rng(0)).n_nodes
        3
    """
    nodes = tuple(
        replace(n, op=_pick(rng, unary if len(n.inputs) == 1 else binary)) for n in genome.nodes
    )
    return Graph(nodes, genome.out_param)


def remove(genome: Graph, rng: np.random.Generator) -> Graph:
    """A random operator node deleted, its consumers reading one of its inputs,
    chosen at random (see `remove_at`). Needs at least two operator nodes.

    Example:
        >>> from evoforge.activations.graph import parse, to_text
        >>> child = remove(parse("tanh(sin(x))"), np.random.default_rng(0))
        >>> to_text(child) in ("tanh(x)", "sin(x)")
        True
    """
    if genome.n_nodes < 2:
        raise ValueError(f"remove needs at least 2 operator nodes, got {genome.n_nodes}")
    k = int(rng.integers(genome.n_nodes)) + 1
    return remove_at(genome, k, int(rng.integers(len(genome.nodes[k - 1].inputs))))


def remove_at(genome: Graph, k: int, keep: int) -> Graph:
    """Node ``k`` deleted, its consumers reading its input ``keep`` (the other
    input if the output would otherwise be x itself); nodes left unused are
    dropped.

    Example:
        >>> from evoforge.activations.graph import parse, to_text
        >>> to_text(remove_at(parse("h1 = tanh(x); max(h1, exp(h1))"), 1, 0))
        'max(x, exp(x))'
    """
    if genome.n_nodes < 2:
        raise ValueError(f"remove needs at least 2 operator nodes, got {genome.n_nodes}")
    inputs = genome.nodes[k - 1].inputs
    source = inputs[keep]
    if k == genome.n_nodes and source == INPUT:  # never a graph without operators:
        source = inputs[1 - keep]  # a binary output node reads an operator node
    nodes = [
        replace(n, inputs=tuple(source if i == k else i for i in n.inputs)) for n in genome.nodes
    ]
    return make(nodes, source if k == genome.n_nodes else genome.n_nodes, genome.out_param)


def mutate(
    genome: Graph,
    rng: np.random.Generator,
    max_nodes: int = MAX_NODES,
    max_params: int = MAX_PARAMS,
    unary: tuple[str, ...] = PANGAEA_UNARY,
    binary: tuple[str, ...] = PANGAEA_BINARY,
) -> tuple[Graph, str]:
    """A mutated copy and the name of the mutation applied (``insert``, ``remove``,
    ``change`` or ``regenerate``), with fresh parameters.

    Example:
        >>> from evoforge.activations.graph import parse
        >>> big = parse("tanh(tanh(tanh(tanh(tanh(tanh(tanh(tanh(x))))))))")
        >>> mutate(big, np.random.default_rng(0))[1]
        'remove'
    """
    bloated = genome.n_nodes > max_nodes
    name = "remove" if bloated else MUTATIONS[int(rng.integers(len(MUTATIONS)))]
    if name == "remove" and genome.n_nodes < 2:
        name = "change"
    if name == "insert":
        child = insert(genome, rng, unary, binary)
    elif name == "remove":
        child = remove(genome, rng)
    elif name == "change":
        child = change(genome, rng, unary, binary)
    else:
        child = regenerate(genome, rng, unary, binary)
    return reparameterise(child, rng, max_params), name
