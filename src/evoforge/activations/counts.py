"""Search-space sizes, computed by enumeration (never typed in).

CAFE: a space of fixed shape has |unary set|^(unary nodes) · |binary set|^(binary
nodes) functions; S1 and S2 are counted from their template trees.

PANGAEA (dissertation eq. 4.12): a graph shape g with u_g unary and b_g binary
nodes and e_g = u_g + 2 b_g + 1 edges holds U^u_g · B^b_g · Σ_{i=0..3} C(e_g, i)
functions (operators, then up to three parameter positions), U = 27, B = 7.

Which shapes does Table 4.11 count? Working back from its rows: shapes are
ordered trees in which x enters only through a unary node and a binary node's
inputs are always operator nodes (G1 = 27·4 counts only unary(x); G3 =
27³·15 + 27²·7·26). That reproduces every row up to G6 and the arrangement
counts 1, 3, 6, 2, 10, 10, 15, 30. For 3 binary nodes and 4 unary nodes the
table counts 1 arrangement, whereas ordered trees give 5 (the Catalan number);
the 1 is exactly the shapes whose binary nodes nest at most 2 deep (the
balanced ``b(b(u, u), b(u, u))``). `pangaea_shapes` therefore takes
``max_binary_depth`` (default 2, the table's convention — an inference) and
``None`` gives the unrestricted count.

The searched space is larger than the table's: the mutations make graphs in
which x feeds a binary node (``relu(x) + x``), nodes feed several consumers
(``h1 = tanh(x); max(h1, h1)``) and binary nodes nest deeper.
`searched_count` counts it exactly: every canonical
`evoforge.activations.graph.Graph` with n operator nodes (its shapes are the
depth-first traces `searched_shapes` lists, and the tests check that random
mutation chains reach every one of them and nothing else), each with
U^u · B^b operator choices and Σ_{i≤3} C(e, i) parameter placements, e = u + 2b
+ 1 as in eq. 4.12. The search also evaluates graphs above ``max_nodes``: an
insert on a graph of ``max_nodes`` nodes adds one node, or two (a binary
operator with its ``zero``/``one`` input), before the bloat rule removes them.

Which of these graphs can the mutations reach from the initial forms?
`reachable_shapes` walks every mutation exhaustively: with ``max_nodes`` = 3
all 62 shapes of up to 3 nodes, but with ``max_nodes`` = 4 (and 5) only 510
of the 542 shapes of up to 4 nodes: a max/min insert shares one source
between two inputs of one new node, so two shared nodes whose consumers
interleave (``h1 = tanh(x); h2 = exp(h1); (h1 + h2) * h2``) are never made.
`searched_count` is therefore the space the search works in (every graph
`PangaeaSpace` accepts, and everything the mutations make lies in it) and
`reachable_shapes` measures the part a run can reach, for small sizes.

Example:
    >>> cafe_s1_count(), cafe_s2_count()
    (3456, 41278242816)
    >>> pangaea_total()
    10170042948450
    >>> aquasurf_count()
    5103
    >>> searched_count(1)  # 27·4 unary(x) + 7·8 binary(x, x)
    164
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from math import comb

from evoforge.activations.cafe import core_unit
from evoforge.activations.expr import Binary, Node, Unary, X, walk
from evoforge.activations.graph import Graph, Op
from evoforge.activations.operators import CAFE_BINARY, CAFE_UNARY, PANGAEA_BINARY, PANGAEA_UNARY

MAX_PARAMS = 3


def template_count(template: Node, n_unary: int, n_binary: int) -> int:
    """Functions with the shape of ``template``: operator choices per node multiplied.

    Example:
        >>> template_count(Unary("identity", X()), 24, 6)
        24
    """
    total = 1
    for _, node in walk(template):
        if isinstance(node, Unary):
            total *= n_unary
        elif isinstance(node, Binary):
            total *= n_binary
    return total


def cafe_s1_count() -> int:
    """|S1| = 24 · 24 · 6.

    Example:
        >>> cafe_s1_count()
        3456
    """
    return template_count(core_unit("add", "zero", "zero"), len(CAFE_UNARY), len(CAFE_BINARY))


def cafe_s2_count() -> int:
    """|S2| = |S1|³.

    Example:
        >>> cafe_s2_count() == cafe_s1_count() ** 3
        True
    """
    inner = core_unit("add", "zero", "zero")
    tree = core_unit("add", "zero", "zero", inner, inner)
    return template_count(tree, len(CAFE_UNARY), len(CAFE_BINARY))


def aquasurf_count() -> int:
    """The AQuaSurF benchmark space: every binary(unary(x), unary(x)) from the PANGAEA
    operators, 27 · 27 · 7.

    Example:
        >>> aquasurf_count()
        5103
    """
    return template_count(core_unit("add", "zero", "zero"), len(PANGAEA_UNARY), len(PANGAEA_BINARY))


@cache
def _shapes(n: int) -> tuple[Node, ...]:
    """Ordered trees with n operator nodes; x only under unary nodes."""
    if n < 1:
        return ()
    out: list[Node] = []
    if n == 1:
        out.append(Unary("identity", X()))
    out.extend(Unary("identity", s) for s in _shapes(n - 1))
    for i in range(1, n - 1):
        for left in _shapes(i):
            for right in _shapes(n - 1 - i):
                out.append(Binary("add", left, right))
    return tuple(out)


def binary_depth(node: Node) -> int:
    """The largest number of binary nodes on one path from x to the output.

    Example:
        >>> binary_depth(Binary("add", Unary("sin", X()), Unary("cos", X())))
        1
    """
    below = max((binary_depth(c) for c in node.children), default=0)
    return below + isinstance(node, Binary)


def pangaea_shapes(n_nodes: int, max_binary_depth: int | None = 2) -> Iterator[Node]:
    """Graph shapes with ``n_nodes`` operator nodes counted by Table 4.11 (every unary
    node is ``identity`` and every binary node ``add``: only the shape matters).

    Example:
        >>> sum(1 for _ in pangaea_shapes(4))
        4
        >>> sum(1 for _ in pangaea_shapes(7)), sum(1 for _ in pangaea_shapes(7, None))
        (47, 51)
    """
    for s in _shapes(n_nodes):
        if max_binary_depth is None or binary_depth(s) <= max_binary_depth:
            yield s


def shape_count(
    shape: Node, n_unary: int = 27, n_binary: int = 7, max_params: int = MAX_PARAMS
) -> int:
    """|F_g| = U^u · B^b · Σ_{i=0..max_params} C(e, i) (eq. 4.12).

    Example:
        >>> shape_count(Unary("identity", X()))
        108
    """
    n_params = sum(comb(shape.n_edges, i) for i in range(max_params + 1))
    return template_count(shape, n_unary, n_binary) * n_params


def pangaea_rows(n_nodes: int, max_binary_depth: int | None = 2) -> list[tuple[int, int, int, int]]:
    """Table 4.11's rows for G_n: (binary nodes, unary nodes, edges, arrangements).

    Example:
        >>> pangaea_rows(5)
        [(0, 5, 6, 1), (1, 4, 7, 6), (2, 3, 8, 2)]
    """
    rows: dict[tuple[int, int, int], int] = {}
    for s in pangaea_shapes(n_nodes, max_binary_depth):
        b = sum(isinstance(n, Binary) for _, n in walk(s))
        key = (b, s.n_nodes - b, s.n_edges)
        rows[key] = rows.get(key, 0) + 1
    return [(*k, v) for k, v in sorted(rows.items())]


def pangaea_count(n_nodes: int, max_binary_depth: int | None = 2) -> int:
    """|G_n|'s functions: the sum of eq. 4.12 over the shapes with ``n_nodes`` nodes.

    Example:
        >>> pangaea_count(3)
        427923
    """
    u, b = len(PANGAEA_UNARY), len(PANGAEA_BINARY)
    return sum(shape_count(s, u, b) for s in pangaea_shapes(n_nodes, max_binary_depth))


def pangaea_table(max_nodes: int = 7, max_binary_depth: int | None = 2) -> dict[int, int]:
    """{n: functions in G_n} for n = 1..max_nodes (Table 4.11's last column).

    Example:
        >>> pangaea_table(2)
        {1: 108, 2: 5832}
    """
    return {n: pangaea_count(n, max_binary_depth) for n in range(1, max_nodes + 1)}


def pangaea_total(max_nodes: int = 7, max_binary_depth: int | None = 2) -> int:
    """All PANGAEA functions with up to ``max_nodes`` nodes (eq. 4.16).

    Example:
        >>> pangaea_total(1)
        108
    """
    return sum(pangaea_table(max_nodes, max_binary_depth).values())


# --- the searched space: canonical graphs with shared nodes ---------------------------


def searched_shapes(n_nodes: int) -> Iterator[Graph]:
    """Every canonical graph with ``n_nodes`` operator nodes, unary nodes
    ``identity`` and binary ones ``add`` (only the shape matters): the
    depth-first traces from the output, each input slot reading x, a node
    already finished, or a new node. Exponential: for checking
    `searched_count` on small sizes.

    Example:
        >>> from evoforge.activations.graph import to_text
        >>> [to_text(g) for g in searched_shapes(1)]
        ['identity(x)', 'x + x']
    """
    for nodes, _, used in _new_node((), n_nodes):
        if used == n_nodes:
            yield Graph(nodes)


_Trace = tuple[tuple[Op, ...], int, int]  # (nodes so far, id read, new nodes made)


def _slot(nodes: tuple[Op, ...], budget: int) -> Iterator[_Trace]:
    for ref in range(len(nodes) + 1):  # x or a finished node
        yield nodes, ref, 0
    if budget >= 1:
        yield from _new_node(nodes, budget)


def _new_node(nodes: tuple[Op, ...], budget: int) -> Iterator[_Trace]:
    for inner, src, used in _slot(nodes, budget - 1):
        yield (*inner, Op("identity", (src,), (False,))), len(inner) + 1, used + 1
    for first, a, used_a in _slot(nodes, budget - 1):
        for second, b, used_b in _slot(first, budget - 1 - used_a):
            made = used_a + used_b + 1
            yield (*second, Op("add", (a, b), (False, False))), len(second) + 1, made


@cache
def _slot_ways(finished: int, u: int, b: int) -> int:
    """Ways for one input slot, with ``finished`` nodes to read besides x, to
    read an existing source (u = b = 0) or to make exactly u unary and b binary
    new nodes."""
    if u == b == 0:
        return finished + 1
    return _node_ways(finished, u, b)


@cache
def _node_ways(finished: int, u: int, b: int) -> int:
    """Ways to make a new node that, with the new nodes below it, has u unary and
    b binary nodes."""
    total = _slot_ways(finished, u - 1, b) if u else 0
    if b:
        for u1 in range(u + 1):
            for b1 in range(b):
                total += _slot_ways(finished, u1, b1) * _slot_ways(
                    finished + u1 + b1, u - u1, b - 1 - b1
                )
    return total


def searched_rows(n_nodes: int) -> list[tuple[int, int, int, int]]:
    """The searched space's rows for n nodes, as `pangaea_rows`: (binary nodes,
    unary nodes, edges, shapes).

    Example:
        >>> searched_rows(2)
        [(0, 2, 3, 1), (1, 1, 4, 4), (2, 0, 5, 3)]
    """
    rows = []
    for b in range(n_nodes + 1):
        u = n_nodes - b
        rows.append((b, u, u + 2 * b + 1, _node_ways(0, u, b)))
    return rows


def searched_count(
    n_nodes: int, n_unary: int = 27, n_binary: int = 7, max_params: int = MAX_PARAMS
) -> int:
    """Functions in the searched space with ``n_nodes`` operator nodes (module docs).

    Example:
        >>> searched_count(2) > pangaea_count(2)
        True
    """
    return sum(
        shapes * n_unary**u * n_binary**b * sum(comb(e, i) for i in range(max_params + 1))
        for b, u, e, shapes in searched_rows(n_nodes)
    )


def graph_shape(g: Graph) -> Graph:
    """``g``'s shape: unary nodes ``identity``, binary nodes ``add``, no parameters.

    Example:
        >>> from evoforge.activations.graph import parse, to_text
        >>> to_text(graph_shape(parse("h1 = tanh(alpha*x); max(h1, exp(h1))")))
        'h1 = identity(x); h1 + identity(h1)'
    """
    return Graph(
        tuple(
            Op("identity" if len(n.inputs) == 1 else "add", n.inputs, (False,) * len(n.inputs))
            for n in g.nodes
        )
    )


def reachable_shapes(max_nodes: int) -> set[Graph]:
    """Every graph shape (operators as in `searched_shapes`) that PANGAEA's
    mutations reach from the two initial forms with the bloat rule at
    ``max_nodes``: an exhaustive walk over every insert (a unary, a binary with
    a neutral input, a max/min) on every edge and every removal; change and
    regenerate keep the shape. Grows fast: seconds for ``max_nodes`` = 3.

    Example:
        >>> len({g for g in reachable_shapes(2) if g.n_nodes <= 2}), sum(
        ...     len(list(searched_shapes(n))) for n in (1, 2))
        (10, 10)
    """
    from evoforge.activations import pangaea  # the mutations, only for this walk

    u = Op("identity", (0,), (False,))
    start = [
        Graph((u, Op("identity", (1,), (False,)))),
        Graph((u, u, Op("add", (1, 2), (False,) * 2))),
    ]
    seen, frontier = set(start), list(start)
    while frontier:
        g = frontier.pop()
        kids = []
        if g.n_nodes <= max_nodes:
            kids += [
                pangaea.insert_at(g, e, op) for e in g.edges() for op in ("tanh", "add", "max")
            ]
        if g.n_nodes >= 2:
            for k, node in enumerate(g.nodes, 1):
                kids += [pangaea.remove_at(g, k, keep) for keep in range(len(node.inputs))]
        for child in map(graph_shape, kids):
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return seen


def searched_table(max_nodes: int = 7) -> dict[int, int]:
    """{n: searched functions with n nodes} for n = 1..max_nodes.

    Example:
        >>> searched_table(2)
        {1: 164, 2: 20994}
    """
    return {n: searched_count(n) for n in range(1, max_nodes + 1)}


# --- unique functions of the AQuaSurF benchmark space ---------------------------------

Comparison = str  # "exact" | "signature"


def aquasurf_unique_count(
    compare: Comparison = "exact",
    division: str = "safe",
    power: str = "safe",
    dtype: str = "float64",
) -> int:
    """Functionally distinct members of the 5,103-function benchmark space (ch. 6).

    Outputs are computed on `evoforge.activations.equivalence.SAMPLES` (1,000
    draws of N(0, 1) truncated to [-5, 5], parameters at 1) and compared:

    * ``compare="exact"``: identical outputs (bit for bit; one NaN, −0.0 = 0.0);
      ``"signature"``: equal after rounding to 16 mantissa bits (~5 significant
      digits, values below 1e-9 as 0), evoforge's FEC fingerprint, which also
      merges functions that differ only by float noise (``x + x`` and ``2·x``
      computed two ways) or by less than 1e-5 relative anywhere;
    * ``division``: ``"safe"`` (PANGAEA's: x/0 = 0, so ``reciprocal`` and ``/``
      are finite) or ``"ieee"`` (x/0 = ±inf, 0/0 = NaN);
    * ``power``: ``"safe"`` (evoforge's `operators._safe_pow`: a negative base
      with a non-integer exponent gives 0, 0^negative = 0) or ``"ieee"``
      (``torch.pow``: NaN and inf there);
    * ``dtype``: ``"float64"`` or ``"float32"`` (TensorFlow's default, which
      the dissertation's code used; float32 rounding separates or merges a
      few functions that float64 does not).

    The dissertation reports 2,913 without saying which of these it used;
    `benchmarks/pangaea_counts.py` prints every combination next to it.

    Example:
        >>> aquasurf_unique_count() >= aquasurf_unique_count("signature")
        True
    """
    return len(aquasurf_unique_rows(compare, division, power, dtype))


def aquasurf_unique_rows(
    compare: Comparison = "exact",
    division: str = "safe",
    power: str = "safe",
    dtype: str = "float64",
) -> list[int]:
    """Indices (in ``binary, unary1, unary2`` order) of the first function of each
    class counted by `aquasurf_unique_count`."""
    import numpy as np

    outputs = aquasurf_outputs(division, power, dtype)
    from evoforge.activations.equivalence import canonical

    keys = outputs.astype(np.float64)
    if compare == "signature":
        keys = np.stack([canonical(row) for row in keys])
    elif compare != "exact":
        raise ValueError(f"compare must be 'exact' or 'signature', got {compare!r}")
    keys = np.where(np.isnan(keys), np.nan, keys) + 0.0  # one NaN, -0.0 -> 0.0
    # Rows as bytes: np.unique on float rows would treat NaN != NaN.
    seen: dict[bytes, int] = {}
    for i, row in enumerate(keys):
        seen.setdefault(row.tobytes(), i)
    return sorted(seen.values())


def aquasurf_outputs(division: str = "safe", power: str = "safe", dtype: str = "float64"):
    """(5103, 1000) outputs of ``binary(unary1(x), unary2(x))`` on the fixed samples,
    rows in ``binary, unary1, unary2`` order (see `aquasurf_unique_count`)."""
    import torch

    from evoforge.activations.equivalence import SAMPLES
    from evoforge.activations.operators import _safe_div, get

    if division not in ("safe", "ieee") or power not in ("safe", "ieee"):
        raise ValueError(f"division and power must be 'safe' or 'ieee', got {division}, {power}")
    torch_dtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    x = torch.from_numpy(SAMPLES.copy()).to(torch_dtype)
    ieee = {
        "div": lambda a, b: a / b,
        "reciprocal": lambda a: 1 / a,
        "pow": torch.pow,
    }
    chosen = {"div": division, "reciprocal": division, "pow": power}

    def op(name: str):
        return ieee[name] if chosen.get(name) == "ieee" else get(name).torch

    assert _safe_div is get("div").torch  # the "safe" convention is evoforge's own
    with torch.no_grad():
        unary = torch.stack([op(u)(x) for u in PANGAEA_UNARY])  # (27, N)
        rows = [
            op(b)(unary[:, None, :], unary[None, :, :]).reshape(-1, x.numel())
            for b in PANGAEA_BINARY
        ]
    return torch.cat(rows).numpy()
