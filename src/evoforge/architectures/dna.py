"""Large-Scale Evolution's DNA: a graph of activations (vertices) and
convolutions or identities (edges), plus the learning rate (Real et al. 2017, §3.2).

The vertices form a *backbone*, kept in order: ``vertices[0]`` is the input
image, ``vertices[-1]`` feeds the classifier (flatten + dense), and each other
vertex has exactly one *primary* incoming edge from the vertex before it.
Further incoming edges are *skips*: identities from any earlier vertex, whose
activations are resized to the primary edge's shape (see `evoforge.architectures.model`).

Integer parameters (filter height and width, log2 of the stride, channels) are
stored as floats so that several small mutations accumulate despite rounding
(the paper's footnote 3); the properties of `Edge` give the integers a model uses.
Vertices and edges carry ids that never change and are never reused
(``next_id``), which is what lets a child find its parent's weights.

Example:
    >>> dna = linear_dna()
    >>> dna = add_vertex_after(dna, 0, Edge(0, 0, 0, "conv", channels=7.6), "bn_relu")
    >>> [e.out_channels for e in dna.edges], dna.vertices[-1].activation
    ([8], 'bn_relu')
    >>> from_text(to_text(dna)) == dna
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

Activation = Literal["input", "bn_relu", "linear"]
EdgeKind = Literal["conv", "identity"]
ACTIVATIONS: tuple[str, ...] = ("bn_relu", "linear")
INITIAL_LEARNING_RATE = 0.1


@dataclass(frozen=True)
class Vertex:
    """An activation: the input image, batch-norm + ReLU, or linear (none)."""

    id: int
    activation: Activation


@dataclass(frozen=True)
class Edge:
    """A convolution or identity from vertex ``src`` to vertex ``dst``.

    ``skip`` marks a non-primary edge (always an identity). Convolutions keep
    their numbers as floats; ``kernel``, ``stride`` and ``out_channels`` are
    what the model uses: the nearest odd size >= 1, ``2**round(log2_stride)``
    and ``round(channels)`` (at least 1).
    """

    id: int
    src: int
    dst: int
    kind: EdgeKind
    skip: bool = False
    filter_h: float = 3.0
    filter_w: float = 3.0
    log2_stride: float = 0.0
    channels: float = 1.0

    @property
    def kernel(self) -> tuple[int, int]:
        return (_odd(self.filter_h), _odd(self.filter_w))

    @property
    def stride(self) -> int:
        return 2 ** max(0, round(self.log2_stride))

    @property
    def out_channels(self) -> int:
        return max(1, round(self.channels))


def _odd(value: float) -> int:
    """The odd integer >= 1 nearest to ``value`` (ties go up)."""
    return max(1, 2 * math.floor((value - 1) / 2 + 0.5) + 1)


@dataclass(frozen=True)
class DNA:
    """An individual's architecture and learning rate (immutable: the engine shares genomes)."""

    vertices: tuple[Vertex, ...]
    edges: tuple[Edge, ...]
    learning_rate: float
    next_id: int

    def index(self, vertex_id: int) -> int:
        """The backbone position of ``vertex_id``."""
        for i, v in enumerate(self.vertices):
            if v.id == vertex_id:
                return i
        raise KeyError(vertex_id)

    def primary_into(self, vertex_id: int) -> Edge:
        """The non-skip edge into ``vertex_id`` (not the input vertex)."""
        for e in self.edges:
            if e.dst == vertex_id and not e.skip:
                return e
        raise KeyError(vertex_id)

    def skips_into(self, vertex_id: int) -> list[Edge]:
        return [e for e in self.edges if e.dst == vertex_id and e.skip]

    @property
    def convs(self) -> list[Edge]:
        return [e for e in self.edges if e.kind == "conv"]

    @property
    def skips(self) -> list[Edge]:
        return [e for e in self.edges if e.skip]


def linear_dna(learning_rate: float = INITIAL_LEARNING_RATE) -> DNA:
    """The initial individual: no convolutions, the input goes straight to
    the dense classifier (a linear model), learning rate 0.1 (§3.3)."""
    return DNA((Vertex(0, "input"),), (), learning_rate, 1)


def add_vertex_after(dna: DNA, position: int, edge: Edge, activation: Activation) -> DNA:
    """Insert a vertex after backbone ``position``, reached from it by ``edge``
    (its ``id``, ``src`` and ``dst`` are replaced by fresh ones).

    The primary edge that left ``position`` now leaves the new vertex, so a
    convolution inserted with as many channels as its input leaves every
    later tensor's shape unchanged (only strides change later spatial sizes).
    """
    src = dna.vertices[position].id
    vid, eid = dna.next_id, dna.next_id + 1
    new_edge = replace(edge, id=eid, src=src, dst=vid, skip=False)
    edges = [replace(e, src=vid) if e.src == src and not e.skip else e for e in dna.edges]
    vertices = list(dna.vertices)
    vertices.insert(position + 1, Vertex(vid, activation))
    return replace(dna, vertices=tuple(vertices), edges=(*edges, new_edge), next_id=eid + 1)


def remove_vertex(dna: DNA, position: int) -> DNA:
    """Remove backbone vertex ``position`` (>= 1) with its primary edge, merging
    it into the vertex before: its outgoing edges now leave that vertex, skips
    into it from earlier vertices now end there (those from the vertex before
    it vanish), and duplicate or self skips are dropped."""
    if position < 1:
        raise ValueError("the input vertex cannot be removed")
    gone, before = dna.vertices[position].id, dna.vertices[position - 1].id
    edges: list[Edge] = []
    seen: set[tuple[int, int]] = set()
    for e in dna.edges:
        if e.dst == gone and not e.skip:
            continue
        if e.src == gone:
            e = replace(e, src=before)
        if e.dst == gone:
            e = replace(e, dst=before)
        if e.skip:
            if e.src == e.dst or dna.index(e.src) >= dna.index(e.dst) or (e.src, e.dst) in seen:
                continue
            seen.add((e.src, e.dst))
        edges.append(e)
    vertices = dna.vertices[:position] + dna.vertices[position + 1 :]
    return replace(dna, vertices=vertices, edges=tuple(edges))


def check(dna: DNA) -> None:
    """Raise ValueError unless ``dna`` is a well-formed backbone with skips."""
    if not dna.vertices or dna.vertices[0].activation != "input":
        raise ValueError("the first vertex must be the input")
    ids = [v.id for v in dna.vertices]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate vertex ids")
    position = {v: i for i, v in enumerate(ids)}
    primaries: dict[int, int] = {}
    edge_ids: set[int] = set()
    for e in dna.edges:
        if e.id in edge_ids or e.id in position:
            raise ValueError(f"edge id {e.id} is used twice")
        edge_ids.add(e.id)
        if e.src not in position or e.dst not in position:
            raise ValueError(f"edge {e.id} joins unknown vertices")
        if position[e.src] >= position[e.dst]:
            raise ValueError(f"edge {e.id} goes backwards")
        if e.skip:
            if e.kind != "identity":
                raise ValueError(f"skip edge {e.id} must be an identity")
        else:
            if position[e.dst] != position[e.src] + 1:
                raise ValueError(f"primary edge {e.id} must join neighbouring vertices")
            if e.dst in primaries:
                raise ValueError(f"vertex {e.dst} has two primary edges")
            primaries[e.dst] = e.id
    for v in dna.vertices[1:]:
        if v.id not in primaries:
            raise ValueError(f"vertex {v.id} has no primary edge")
        if v.activation not in ACTIVATIONS:
            raise ValueError(f"vertex {v.id}: unknown activation {v.activation!r}")
    if max([*ids, *edge_ids]) >= dna.next_id:
        raise ValueError("next_id must exceed every id")
    if not (math.isfinite(dna.learning_rate) and dna.learning_rate > 0):
        raise ValueError(f"learning rate must be positive, got {dna.learning_rate}")


def to_json(dna: DNA) -> dict[str, Any]:
    """An exact JSON form (floats round-trip through JSON)."""
    return {
        "learning_rate": dna.learning_rate,
        "next_id": dna.next_id,
        "vertices": [[v.id, v.activation] for v in dna.vertices],
        "edges": [
            [e.id, e.src, e.dst, e.kind, e.skip, e.filter_h, e.filter_w, e.log2_stride, e.channels]
            for e in dna.edges
        ],
    }


def from_json(data: Any) -> DNA:
    """The inverse of `to_json`; raises ValueError naming what is malformed."""
    try:
        vertices = tuple(Vertex(int(i), str(a)) for i, a in data["vertices"])  # type: ignore[arg-type]
        edges = tuple(
            Edge(int(i), int(s), int(d), k, bool(sk), float(fh), float(fw), float(ls), float(c))
            for i, s, d, k, sk, fh, fw, ls, c in data["edges"]
        )
        dna = DNA(vertices, edges, float(data["learning_rate"]), int(data["next_id"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed DNA JSON: {exc!r}") from None
    check(dna)
    return dna


def to_text(dna: DNA) -> str:
    """A readable form, one line per vertex and edge, that `from_text` parses back exactly.

    Example:
        >>> print(to_text(linear_dna()))
        learning_rate 0.1
        vertex 0 input
        next_id 1
    """
    lines = [f"learning_rate {dna.learning_rate!r}"]
    for v in dna.vertices:
        lines.append(f"vertex {v.id} {v.activation}")
        for e in sorted((e for e in dna.edges if e.dst == v.id), key=lambda e: (e.skip, e.id)):
            head = f"edge {e.id} {e.src} -> {e.dst}"
            if e.kind == "identity":
                lines.append(f"{head} {'skip' if e.skip else 'identity'}")
            else:
                kh, kw = e.kernel
                lines.append(
                    f"{head} conv {kh}x{kw} stride {e.stride} channels {e.out_channels}"
                    f" [{e.filter_h!r} {e.filter_w!r} {e.log2_stride!r} {e.channels!r}]"
                )
    lines.append(f"next_id {dna.next_id}")
    return "\n".join(lines)


def from_text(text: str) -> DNA:
    """Parse `to_text`'s form (the bracketed floats are the exact values)."""
    lr: float | None = None
    next_id: int | None = None
    vertices: list[Vertex] = []
    edges: list[Edge] = []
    for number, line in enumerate(text.strip().splitlines(), 1):
        words = line.split()
        try:
            if words[0] == "learning_rate":
                lr = float(words[1])
            elif words[0] == "next_id":
                next_id = int(words[1])
            elif words[0] == "vertex":
                vertices.append(Vertex(int(words[1]), words[2]))  # type: ignore[arg-type]
            elif words[0] == "edge" and words[3] == "->":
                eid, src, dst, kind = int(words[1]), int(words[2]), int(words[4]), words[5]
                if kind in ("skip", "identity"):
                    edges.append(Edge(eid, src, dst, "identity", skip=kind == "skip"))
                elif kind == "conv":
                    inner = line[line.index("[") + 1 : line.index("]")].split()
                    fh, fw, ls, ch = (float(x) for x in inner)
                    edges.append(Edge(eid, src, dst, "conv", False, fh, fw, ls, ch))
                else:
                    raise ValueError(f"unknown edge kind {kind!r}")
            else:
                raise ValueError("expected learning_rate, vertex, edge or next_id")
        except (IndexError, ValueError) as exc:
            raise ValueError(f"DNA text line {number} ({line!r}): {exc}") from None
    if lr is None or next_id is None:
        raise ValueError("DNA text needs a learning_rate and a next_id line")
    # Edges are kept in id order (every mutation appends a fresh, larger id).
    dna = DNA(tuple(vertices), tuple(sorted(edges, key=lambda e: e.id)), lr, next_id)
    check(dna)
    return dna
