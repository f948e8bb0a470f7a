"""PANGAEA: parametric activation functions as computation graphs (dissertation ch. 4).

A genome is an `evoforge.activations.expr` tree over `PANGAEA_UNARY` and
`PANGAEA_BINARY`; any edge (input edges from x and the output edge included)
may carry a learnable multiplicative parameter. Every random choice is drawn
from a `numpy.random.Generator`, so a seed reproduces a run.

Mutations, equally likely (no crossover):

* ``insert``: an operator drawn uniformly from all unary and binary operators
  is put on a random edge. A binary's second input is ``zero(x)`` for + and −,
  ``one(x)`` for ·, / and ^, and a copy of the first input for max/min, so the
  function's value is unchanged (parameters at 1).
* ``remove``: a random operator node is deleted and its input wired to its
  output; for a binary node one input, chosen at random, is kept (the other if
  the first choice would leave no operator at all). On a one-node graph it
  becomes ``change``.
* ``change``: one random operator becomes a different one of the same arity.
* ``regenerate``: every operator is redrawn (same arity), the structure kept.

A graph with more than ``max_nodes`` (7) operator nodes is always mutated by
``remove``. After initialisation and after every mutation the parameters are
redrawn: k ∈ {0, ..., 3} uniformly, then parameters on k distinct random edges.

Because genomes are trees, a copied input (max/min insert) is a copied subtree
and counts its nodes again; the bloat rule then shrinks the graph.

Example:
    >>> import numpy as np
    >>> from evoforge.activations.formula import to_text
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

from evoforge.activations.expr import (
    Binary,
    Node,
    Unary,
    X,
    at,
    replace_at,
    set_params,
    strip_params,
    walk,
    with_children,
)
from evoforge.activations.operators import PANGAEA_BINARY, PANGAEA_UNARY

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
    "max": None,  # a copy of the first input
    "min": None,
}


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _op_paths(genome: Node) -> list:
    return [p for p, n in walk(genome) if not isinstance(n, X)]


def reparameterise(genome: Node, rng: np.random.Generator, max_params: int = MAX_PARAMS) -> Node:
    """The genome with fresh parameters: k ∈ {0..max_params} uniformly (at most the
    number of edges), on k distinct random edges.

    Example:
        >>> from evoforge.activations.formula import parse
        >>> reparameterise(parse("tanh(x)"), np.random.default_rng(0)).n_params <= 2
        True
    """
    edges = [p for p, _ in walk(genome)]
    k = min(int(rng.integers(max_params + 1)), len(edges))
    chosen = rng.choice(len(edges), size=k, replace=False) if k else []
    return set_params(genome, {edges[int(i)] for i in chosen})


def random_initial(
    rng: np.random.Generator,
    unary: tuple[str, ...] = PANGAEA_UNARY,
    binary: tuple[str, ...] = PANGAEA_BINARY,
    max_params: int = MAX_PARAMS,
) -> Node:
    """``unary1(unary2(x))`` or ``binary(unary1(x), unary2(x))`` (probability ½ each),
    with fresh parameters.

    Example:
        >>> g = random_initial(np.random.default_rng(0))
        >>> isinstance(g, (Unary, Binary))
        True
    """
    if rng.random() < 0.5:
        g: Node = Unary(_pick(rng, unary), Unary(_pick(rng, unary), X()))
    else:
        g = Binary(_pick(rng, binary), Unary(_pick(rng, unary), X()), Unary(_pick(rng, unary), X()))
    return reparameterise(g, rng, max_params)


def insert(
    genome: Node,
    rng: np.random.Generator,
    unary: tuple[str, ...] = PANGAEA_UNARY,
    binary: tuple[str, ...] = PANGAEA_BINARY,
) -> Node:
    """A random operator on a random edge, value-preserving (see the module docs).
    Parameters are kept where they were.

    Example:
        >>> from evoforge.activations.formula import parse
        >>> insert(parse("tanh(x)"), np.random.default_rng(0)).n_nodes >= 2
        True
    """
    paths = [p for p, _ in walk(genome)]
    path = _pick(rng, paths)
    sub = at(genome, path)
    op = _pick(rng, unary + binary)
    if op in unary:
        new: Node = Unary(op, sub)
    else:
        neutral = NEUTRAL_INPUT.get(op)
        second = strip_params(sub) if neutral is None else Unary(neutral, X())
        new = Binary(op, sub, second)
    return replace_at(genome, path, new)


def change(
    genome: Node, rng: np.random.Generator, unary=PANGAEA_UNARY, binary=PANGAEA_BINARY
) -> Node:
    """One random operator replaced by a different one of the same arity.

    Example:
        >>> from evoforge.activations.formula import parse
        >>> change(parse("tanh(x)"), np.random.default_rng(0)) != parse("tanh(x)")
        True
    """
    path = _pick(rng, _op_paths(genome))
    node = at(genome, path)
    names = unary if isinstance(node, Unary) else binary
    return replace_at(
        genome, path, replace(node, op=_pick(rng, [n for n in names if n != node.op]))
    )


def regenerate(
    genome: Node, rng: np.random.Generator, unary=PANGAEA_UNARY, binary=PANGAEA_BINARY
) -> Node:
    """Every operator redrawn uniformly (same arity); structure and parameters kept.

    Example:
        >>> from evoforge.activations.formula import parse
        >>> regenerate(parse("tanh(x) + sin(x)"), np.random.default_rng(0)).n_nodes
        3
    """
    if isinstance(genome, X):
        return genome
    kids = [regenerate(c, rng, unary, binary) for c in genome.children]
    names = unary if isinstance(genome, Unary) else binary
    return replace(with_children(genome, kids), op=_pick(rng, names))


def remove(genome: Node, rng: np.random.Generator) -> Node:
    """A random operator node deleted, its (one kept) input wired to its output.
    Needs at least two operator nodes; never leaves a graph without operators.

    Example:
        >>> from evoforge.activations.formula import parse, to_text
        >>> to_text(remove(parse("tanh(sin(x))"), np.random.default_rng(0)))
        'tanh(x)'
    """
    if genome.n_nodes < 2:
        raise ValueError(f"remove needs at least 2 operator nodes, got {genome.n_nodes}")
    path = _pick(rng, _op_paths(genome))
    node = at(genome, path)
    if isinstance(node, Unary):
        return replace_at(genome, path, node.arg)
    first = int(rng.integers(2))
    out = replace_at(genome, path, node.children[first])
    if out.n_nodes == 0:
        out = replace_at(genome, path, node.children[1 - first])
    return out


def mutate(
    genome: Node,
    rng: np.random.Generator,
    max_nodes: int = MAX_NODES,
    max_params: int = MAX_PARAMS,
    unary: tuple[str, ...] = PANGAEA_UNARY,
    binary: tuple[str, ...] = PANGAEA_BINARY,
) -> tuple[Node, str]:
    """A mutated copy and the name of the mutation applied (``insert``, ``remove``,
    ``change`` or ``regenerate``), with fresh parameters.

    Example:
        >>> from evoforge.activations.formula import parse
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
    return reparameterise(strip_params(child), rng, max_params), name
