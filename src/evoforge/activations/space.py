"""`SearchSpace` implementations for the two representations (see
`evoforge.evolution.space`): `CafeSpace` (trees, with crossover) and
`PangaeaSpace` (parametric graphs with shared nodes).

CAFE's text form is the formula of `evoforge.activations.formula`, its JSON
form nested objects ``{"op": name, "args": [...], "param": true}`` with
``{"op": "x"}`` for the input (``param`` only when true). PANGAEA's text form
is `evoforge.activations.graph`'s (a tree formula when no node is shared),
its JSON form ``{"nodes": [[op, [inputs], [params]], ...], "out_param": b}``
(`graph_to_json`); a tree's JSON, as stores written before graphs hold, is
read as that tree's graph.

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import SearchSpace
    >>> space = PangaeaSpace()
    >>> isinstance(space, SearchSpace)
    True
    >>> g = space.initial(np.random.default_rng(0))
    >>> space.from_json(space.to_json(g)) == g == space.from_text(space.to_text(g))
    True
    >>> space.from_text("h1 = tanh(x); max(h1, h1)").n_nodes
    2
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from evoforge.activations import cafe, graph, pangaea
from evoforge.activations.expr import Binary, Node, Unary, X
from evoforge.activations.formula import parse, to_text
from evoforge.activations.graph import Graph, Op
from evoforge.activations.operators import PANGAEA_BINARY, PANGAEA_UNARY, get


def to_json(genome: Node) -> dict[str, Any]:
    """An exact JSON-serialisable form of a genome.

    Example:
        >>> to_json(Unary("tanh", X(param=True)))
        {'op': 'tanh', 'args': [{'op': 'x', 'param': True}]}
    """
    out: dict[str, Any] = {"op": "x"} if isinstance(genome, X) else {
        "op": genome.op, "args": [to_json(c) for c in genome.children]
    }  # fmt: skip
    if genome.param:
        out["param"] = True
    return out


def from_json(data: Any) -> Node:
    """The genome of `to_json`'s form; ValueError on malformed data.

    Example:
        >>> from_json({"op": "tanh", "args": [{"op": "x"}]})
        Unary(op='tanh', arg=X(param=False), param=False)
    """
    if not isinstance(data, dict) or not isinstance(data.get("op"), str):
        raise ValueError(f"genome JSON: expected an object with a string 'op', got {data!r}")
    extra = set(data) - {"op", "args", "param"}
    if extra:
        raise ValueError(f"genome JSON: unexpected keys {sorted(extra)}; expected op, args, param")
    param = data.get("param", False)
    if not isinstance(param, bool):
        raise ValueError(f"genome JSON: 'param' must be true or false, got {param!r}")
    args = data.get("args", [])
    if not isinstance(args, list):
        raise ValueError(f"genome JSON: 'args' must be a list, got {args!r}")
    if data["op"] == "x":
        if args:
            raise ValueError("genome JSON: the input 'x' takes no args")
        return X(param)
    op = get(data["op"])
    if len(args) != op.arity:
        raise ValueError(f"genome JSON: {op.name!r} takes {op.arity} arg(s), got {len(args)}")
    kids = [from_json(a) for a in args]
    return Unary(op.name, kids[0], param) if op.arity == 1 else Binary(op.name, *kids, param)


def graph_to_json(g: Graph) -> dict[str, Any]:
    """An exact JSON-serialisable form of a graph.

    Example:
        >>> graph_to_json(graph.parse("h1 = sin(x); max(h1, alpha*h1)"))
        {'nodes': [['sin', [0], [False]], ['max', [1, 1], [False, True]]], 'out_param': False}
    """
    nodes = [[n.op, list(n.inputs), list(n.params)] for n in g.nodes]
    return {"nodes": nodes, "out_param": g.out_param}


def graph_from_json(data: Any) -> Graph:
    """The graph of `graph_to_json`'s form, or of a tree's `to_json` form;
    ValueError on malformed data.

    Example:
        >>> graph.to_text(graph_from_json({"nodes": [["tanh", [0], [True]]]}))
        'tanh(alpha*x)'
    """
    if isinstance(data, dict) and "nodes" not in data:
        return graph.as_graph(from_json(data))
    if not isinstance(data, dict) or not isinstance(data["nodes"], list):
        raise ValueError(f"graph JSON: expected an object with a 'nodes' list, got {data!r}")
    extra = set(data) - {"nodes", "out_param"}
    if extra:
        raise ValueError(f"graph JSON: unexpected keys {sorted(extra)}; expected nodes, out_param")
    out_param = data.get("out_param", False)
    if not isinstance(out_param, bool):
        raise ValueError(f"graph JSON: 'out_param' must be true or false, got {out_param!r}")
    nodes = []
    for i, entry in enumerate(data["nodes"]):
        ok = isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
        ok = ok and all(isinstance(v, list) for v in entry[1:])
        if (
            not ok
            or not all(type(v) is int for v in entry[1])
            or not all(isinstance(v, bool) for v in entry[2])
        ):
            raise ValueError(
                f"graph JSON: node {i + 1} must be [op, [input ids], [parameter flags]],"
                f" got {entry!r}"
            )
        nodes.append(Op(entry[0], tuple(entry[1]), tuple(entry[2])))
    return Graph(tuple(nodes), out_param)


class _FormulaSpace(ABC):
    """Text and JSON forms shared by both spaces."""

    @abstractmethod
    def _check(self, genome: Node) -> Node:
        """``genome`` if it belongs to this space, else a ValueError saying why."""

    def to_text(self, genome: Node) -> str:
        return to_text(genome)

    def from_text(self, text: str) -> Node:
        return self._check(parse(text))

    def to_json(self, genome: Node) -> Any:
        return to_json(genome)

    def from_json(self, data: Any) -> Node:
        return self._check(from_json(data))


class CafeSpace(_FormulaSpace):
    """CAFE trees: ``initial`` draws uniformly from S2 (or S1), ``mutate`` changes one
    operator, `crossover` swaps same-depth subtrees.

    Example:
        >>> import numpy as np
        >>> space = CafeSpace("s1")
        >>> rng = np.random.default_rng(0)
        >>> child = space.crossover(space.initial(rng), space.initial(rng), rng)
        >>> cafe.shape_of(child)
        's1'
    """

    def __init__(self, shape: str = "s2"):
        if shape not in ("s1", "s2"):
            raise ValueError(f"shape: expected 's1' or 's2', got {shape!r}")
        self.shape = shape

    def initial(self, rng: np.random.Generator) -> Node:
        return cafe.random_s2(rng) if self.shape == "s2" else cafe.random_s1(rng)

    random = initial

    def mutate(self, genome: Node, rng: np.random.Generator) -> tuple[Node, str]:
        return cafe.mutate(genome, rng)

    def crossover(self, a: Node, b: Node, rng: np.random.Generator) -> Node:
        """One child of two parents (see `evoforge.activations.cafe.crossover`)."""
        return cafe.crossover(a, b, rng)

    def _check(self, genome: Node) -> Node:
        shape = cafe.shape_of(genome)
        if shape != self.shape:
            raise ValueError(f"expected a CAFE {self.shape.upper()} genome, got {shape.upper()}")
        return genome


class PangaeaSpace(_FormulaSpace):
    """PANGAEA graphs (`evoforge.activations.graph.Graph`): ``initial`` is
    `pangaea.random_initial`, ``mutate`` is `pangaea.mutate`
    (insert/remove/change/regenerate, bloat rule, fresh parameters).

    Example:
        >>> import numpy as np
        >>> space = PangaeaSpace(max_nodes=7, max_params=3)
        >>> space.from_text("alpha*x * sigmoid(x)").n_params
        1
    """

    def __init__(
        self,
        max_nodes: int = pangaea.MAX_NODES,
        max_params: int = pangaea.MAX_PARAMS,
        unary: tuple[str, ...] = PANGAEA_UNARY,
        binary: tuple[str, ...] = PANGAEA_BINARY,
    ):
        for name in unary:
            get(name, 1)
        for name in binary:
            get(name, 2)
        self.max_nodes = max_nodes
        self.max_params = max_params
        self.unary = tuple(unary)
        self.binary = tuple(binary)

    def initial(self, rng: np.random.Generator) -> Graph:
        return pangaea.random_initial(rng, self.unary, self.binary, self.max_params)

    random = initial

    def mutate(self, genome: Graph, rng: np.random.Generator) -> tuple[Graph, str]:
        return pangaea.mutate(genome, rng, self.max_nodes, self.max_params, self.unary, self.binary)

    def to_text(self, genome: Graph) -> str:
        return graph.to_text(genome)

    def from_text(self, text: str) -> Graph:
        return self._check(graph.parse(text))

    def to_json(self, genome: Graph) -> Any:
        return graph_to_json(genome)

    def from_json(self, data: Any) -> Graph:
        return self._check(graph_from_json(data))

    def _check(self, genome: Graph) -> Graph:
        allowed = set(self.unary) | set(self.binary)
        bad = sorted(set(genome.operators()) - allowed)
        if bad:
            raise ValueError(
                f"operators {bad} are not in this PANGAEA space; expected some of "
                f"{', '.join(self.unary + self.binary)}"
            )
        return genome
