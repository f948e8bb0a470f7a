"""Activation-function representations: operators, CAFE trees, PANGAEA graphs,
formulas, equivalence, a torch module and search-space sizes.

`parse` reads any function's text (a tree formula, or a graph with shared
nodes) as a `Graph`; `evoforge.activations.formula.parse` reads tree formulas
as trees (CAFE's genomes).

Example:
    >>> import numpy as np
    >>> from evoforge.activations import PangaeaSpace, parse, to_text, equivalent
    >>> to_text(parse("log_sigmoid(alpha*x) * beta*arcsinh(x)"))
    'log_sigmoid(alpha*x) * beta*arcsinh(x)'
    >>> parse("h1 = tanh(x); max(h1, alpha*h1)").n_nodes
    2
    >>> equivalent(parse("relu(x)"), parse("max(x, zero(x))"))
    True
"""

from evoforge.activations.equivalence import equivalent, fingerprint, outputs, signature
from evoforge.activations.expr import Binary, Node, Unary, X
from evoforge.activations.graph import Graph, evaluate, parse, to_sympy, to_text
from evoforge.activations.module import Activation
from evoforge.activations.operators import (
    CAFE_BINARY,
    CAFE_UNARY,
    OPERATORS,
    PANGAEA_BINARY,
    PANGAEA_UNARY,
)
from evoforge.activations.space import CafeSpace, PangaeaSpace, from_json, to_json

__all__ = [
    "CAFE_BINARY",
    "CAFE_UNARY",
    "OPERATORS",
    "PANGAEA_BINARY",
    "PANGAEA_UNARY",
    "Activation",
    "Binary",
    "CafeSpace",
    "Graph",
    "Node",
    "PangaeaSpace",
    "Unary",
    "X",
    "equivalent",
    "evaluate",
    "fingerprint",
    "from_json",
    "outputs",
    "parse",
    "signature",
    "to_json",
    "to_sympy",
    "to_text",
]
