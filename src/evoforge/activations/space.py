"""`SearchSpace` implementations for the two representations (see
`evoforge.evolution.space`): `CafeSpace` (trees, with crossover) and
`PangaeaSpace` (parametric graphs).

The text form is the formula of `evoforge.activations.formula`; the JSON form
is nested objects ``{"op": name, "args": [...], "param": true}`` with
``{"op": "x"}`` for the input (``param`` only when true).

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import SearchSpace
    >>> space = PangaeaSpace()
    >>> isinstance(space, SearchSpace)
    True
    >>> g = space.initial(np.random.default_rng(0))
    >>> space.from_json(space.to_json(g)) == g == space.from_text(space.to_text(g))
    True
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from evoforge.activations import cafe, pangaea
from evoforge.activations.expr import Binary, Node, Unary, X, operators
from evoforge.activations.formula import parse, to_text
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
    """PANGAEA graphs: ``initial`` is `pangaea.random_initial`, ``mutate`` is
    `pangaea.mutate` (insert/remove/change/regenerate, bloat rule, fresh parameters).

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

    def initial(self, rng: np.random.Generator) -> Node:
        return pangaea.random_initial(rng, self.unary, self.binary, self.max_params)

    random = initial

    def mutate(self, genome: Node, rng: np.random.Generator) -> tuple[Node, str]:
        return pangaea.mutate(genome, rng, self.max_nodes, self.max_params, self.unary, self.binary)

    def _check(self, genome: Node) -> Node:
        allowed = set(self.unary) | set(self.binary)
        bad = sorted(set(operators(genome)) - allowed)
        if bad:
            raise ValueError(
                f"operators {bad} are not in this PANGAEA space; expected some of "
                f"{', '.join(self.unary + self.binary)}"
            )
        if genome.n_nodes == 0:
            raise ValueError("a PANGAEA genome needs at least one operator node")
        return genome
