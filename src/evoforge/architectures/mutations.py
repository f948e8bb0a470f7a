"""The 11 mutations of Large-Scale Evolution (Real et al. 2017, §3.2).

Each mutation is a function ``(dna, rng) -> dna`` or None where it does not
apply (no convolution to remove, no skip to remove, no new skip possible).
`mutate` picks one uniformly among those that apply to the parent, which is
the same as drawing from the whole set and redrawing until one applies.

Numeric changes draw uniformly from half to twice the current value (the
stored float, so repeated small changes accumulate); for strides the rule acts
on log2 of the stride. A stride-1 convolution has log2 = 0, which half-to-twice
would never move, so the draw then acts on 0.5 instead (new log2 in [0.25, 1]:
stride 1 or 2) -- the paper is silent on this case.

Example:
    >>> import numpy as np
    >>> from evoforge.architectures.dna import linear_dna
    >>> rng = np.random.default_rng(0)
    >>> dna, name = mutate(linear_dna(), rng)
    >>> name in MUTATIONS
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from evoforge.architectures.dna import ACTIVATIONS, DNA, Edge, add_vertex_after, remove_vertex

Mutation = Callable[[DNA, np.random.Generator], DNA | None]


def _half_to_twice(value: float, rng: np.random.Generator) -> float:
    return float(rng.uniform(value / 2, value * 2))


def _pick(items: list, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    return items[int(rng.integers(len(items)))]


def _replace_edge(dna: DNA, edge: Edge) -> DNA:
    return replace(dna, edges=tuple(edge if e.id == edge.id else e for e in dna.edges))


def _channels_at(dna: DNA, position: int, in_channels: int) -> int:
    """Channels of backbone vertex ``position`` (its primary edge decides)."""
    channels = in_channels
    for v in dna.vertices[1 : position + 1]:
        e = dna.primary_into(v.id)
        if e.kind == "conv":
            channels = e.out_channels
    return channels


def alter_learning_rate(dna: DNA, rng: np.random.Generator) -> DNA:
    return replace(dna, learning_rate=_half_to_twice(dna.learning_rate, rng))


def identity(dna: DNA, rng: np.random.Generator) -> DNA:
    """The same DNA: the child goes on training its parent's weights."""
    return dna


def reset_weights(dna: DNA, rng: np.random.Generator) -> DNA:
    """The same DNA; the evaluator inherits no weights for this mutation."""
    return dna


def insert_convolution(dna: DNA, rng: np.random.Generator, in_channels: int = 1) -> DNA:
    """A 3x3 convolution at a random place of the backbone, stride 1 or 2, as
    many channels as its input, followed by BN + ReLU or nothing at random."""
    position = int(rng.integers(len(dna.vertices)))
    channels = _channels_at(dna, position, in_channels)
    stride_log2 = float(rng.integers(2))
    edge = Edge(0, 0, 0, "conv", False, 3.0, 3.0, stride_log2, float(channels))
    return add_vertex_after(dna, position, edge, _pick(list(ACTIVATIONS), rng))


def remove_convolution(dna: DNA, rng: np.random.Generator) -> DNA | None:
    convs = dna.convs
    if not convs:
        return None
    return remove_vertex(dna, dna.index(_pick(convs, rng).dst))


def alter_stride(dna: DNA, rng: np.random.Generator) -> DNA | None:
    convs = dna.convs
    if not convs:
        return None
    e = _pick(convs, rng)
    return _replace_edge(dna, replace(e, log2_stride=_half_to_twice(max(e.log2_stride, 0.5), rng)))


def alter_number_of_channels(dna: DNA, rng: np.random.Generator) -> DNA | None:
    convs = dna.convs
    if not convs:
        return None
    e = _pick(convs, rng)
    return _replace_edge(dna, replace(e, channels=_half_to_twice(e.channels, rng)))


def filter_size(dna: DNA, rng: np.random.Generator) -> DNA | None:
    """Height or width (at random) of a random convolution's filter; sizes used are odd."""
    convs = dna.convs
    if not convs:
        return None
    e = _pick(convs, rng)
    if rng.integers(2):
        e = replace(e, filter_w=_half_to_twice(e.filter_w, rng))
    else:
        e = replace(e, filter_h=_half_to_twice(e.filter_h, rng))
    return _replace_edge(dna, e)


def insert_one_to_one(dna: DNA, rng: np.random.Generator) -> DNA:
    """An identity edge to a new vertex (BN + ReLU or linear) at a random place."""
    position = int(rng.integers(len(dna.vertices)))
    edge = Edge(0, 0, 0, "identity")
    return add_vertex_after(dna, position, edge, _pick(list(ACTIVATIONS), rng))


def _skip_pairs(dna: DNA) -> list[tuple[int, int]]:
    have = {(e.src, e.dst) for e in dna.skips}
    ids = [v.id for v in dna.vertices]
    return [
        (ids[i], ids[j])
        for i in range(len(ids))
        for j in range(i + 1, len(ids))
        if (ids[i], ids[j]) not in have
    ]


def add_skip(dna: DNA, rng: np.random.Generator) -> DNA | None:
    """An identity from a random vertex to a random later one (not already joined by a skip)."""
    pairs = _skip_pairs(dna)
    if not pairs:
        return None
    src, dst = _pick(pairs, rng)
    edge = Edge(dna.next_id, src, dst, "identity", skip=True)
    return replace(dna, edges=(*dna.edges, edge), next_id=dna.next_id + 1)


def remove_skip(dna: DNA, rng: np.random.Generator) -> DNA | None:
    skips = dna.skips
    if not skips:
        return None
    gone = _pick(skips, rng).id
    return replace(dna, edges=tuple(e for e in dna.edges if e.id != gone))


#: name -> mutation, in the paper's order.
MUTATIONS: dict[str, Mutation] = {
    "alter_learning_rate": alter_learning_rate,
    "identity": identity,
    "reset_weights": reset_weights,
    "insert_convolution": insert_convolution,
    "remove_convolution": remove_convolution,
    "alter_stride": alter_stride,
    "alter_number_of_channels": alter_number_of_channels,
    "filter_size": filter_size,
    "insert_one_to_one": insert_one_to_one,
    "add_skip": add_skip,
    "remove_skip": remove_skip,
}


def mutate(
    dna: DNA,
    rng: np.random.Generator,
    names: tuple[str, ...] = tuple(MUTATIONS),
    in_channels: int = 1,
) -> tuple[DNA, str]:
    """Apply one mutation drawn uniformly from those of ``names`` that apply.

    ``in_channels`` is the image's channel count (an inserted convolution at
    the input gets that many channels).
    """
    order = rng.permutation(len(names))
    for i in order:
        name = names[int(i)]
        if name == "insert_convolution":
            return insert_convolution(dna, rng, in_channels), name
        child = MUTATIONS[name](dna, rng)
        if child is not None:
            return child, name
    raise ValueError(f"none of the mutations {names} applies")
