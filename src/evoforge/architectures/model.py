"""A PyTorch model from a Large-Scale Evolution DNA, with shape resolution at vertices.

Each vertex's shape comes from its primary edge: a convolution gives
``(channels, ceil(H / stride), ceil(W / stride))`` (zero padding keeps the
size at stride 1), an identity passes its input's shape. Skip inputs are made
to agree with it: spatial size by zeroth-order (nearest-neighbour)
interpolation, channels by truncation or zero padding (§3.2). The inputs are
summed and the vertex's activation applied (BN + ReLU, or none). The last
vertex is flattened into a dense classifier, so the initial DNA (input vertex
only) is a linear model.

Parameter and buffer names are stable across mutations -- ``convs.e<id>.*``,
``norms.v<id>.*``, ``classifier.*`` -- which is how inheritance matches a
child's tensors to its parent's.

Example:
    >>> import torch
    >>> from evoforge.architectures.dna import Edge, add_vertex_after, linear_dna
    >>> dna = add_vertex_after(linear_dna(), 0, Edge(0, 0, 0, "conv", log2_stride=1.0,
    ...                        channels=4.0), "bn_relu")
    >>> net = DNANet(dna, (1, 8, 8), 10)
    >>> net(torch.zeros(2, 1, 8, 8)).shape, vertex_shapes(dna, (1, 8, 8))[-1]
    (torch.Size([2, 10]), (4, 4, 4))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from evoforge.architectures.dna import DNA

Shape = tuple[int, int, int]


def vertex_shapes(dna: DNA, in_shape: Sequence[int]) -> list[Shape]:
    """``(C, H, W)`` of every backbone vertex, in order."""
    c, h, w = (int(x) for x in in_shape)
    shapes: list[Shape] = [(c, h, w)]
    for v in dna.vertices[1:]:
        e = dna.primary_into(v.id)
        if e.kind == "conv":
            s = e.stride
            c, h, w = e.out_channels, -(-h // s), -(-w // s)
        shapes.append((c, h, w))
    return shapes


def resolve(x: torch.Tensor, shape: Shape) -> torch.Tensor:
    """Make a skip input ``x`` (N, C, H, W) agree with a vertex of ``shape``:
    nearest-neighbour resizing, then channel truncation or zero padding.

    Example:
        >>> resolve(torch.ones(1, 3, 4, 4), (5, 2, 2)).shape
        torch.Size([1, 5, 2, 2])
    """
    c, h, w = shape
    if x.shape[2:] != (h, w):
        x = F.interpolate(x, size=(h, w), mode="nearest")
    if x.shape[1] > c:
        x = x[:, :c]
    elif x.shape[1] < c:
        x = F.pad(x, (0, 0, 0, 0, 0, c - x.shape[1]))
    return x


def he_init(module: nn.Module) -> None:
    """He et al. (2015) normal weights, zero biases, BN at (1, 0): the initial
    and reset-weights distribution (§3.2)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()


class DNANet(nn.Module):
    """The network a DNA describes, for inputs of ``in_shape`` (C, H, W)."""

    def __init__(self, dna: DNA, in_shape: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.dna = dna
        self.shapes = vertex_shapes(dna, in_shape)
        self.convs = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        for i, v in enumerate(dna.vertices[1:], 1):
            e = dna.primary_into(v.id)
            if e.kind == "conv":
                kh, kw = e.kernel
                self.convs[f"e{e.id}"] = nn.Conv2d(
                    self.shapes[i - 1][0],
                    e.out_channels,
                    (kh, kw),
                    stride=e.stride,
                    padding=(kh // 2, kw // 2),
                )
            if v.activation == "bn_relu":
                self.norms[f"v{v.id}"] = nn.BatchNorm2d(self.shapes[i][0])
        self.classifier = nn.Linear(math.prod(self.shapes[-1]), num_classes)
        # The forward pass as a flat plan: resolved once, not per batch.
        self._plan = [
            (
                v.id,
                dna.primary_into(v.id),
                [e.src for e in dna.skips_into(v.id)],
                v.activation == "bn_relu",
                self.shapes[i],
            )
            for i, v in enumerate(dna.vertices[1:], 1)
        ]
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acts = {self.dna.vertices[0].id: x}
        out = x
        for vid, edge, skip_srcs, bn_relu, shape in self._plan:
            out = acts[edge.src]
            if edge.kind == "conv":
                out = self.convs[f"e{edge.id}"](out)
            for src in skip_srcs:
                out = out + resolve(acts[src], shape)
            if bn_relu:
                out = F.relu(self.norms[f"v{vid}"](out))
            acts[vid] = out
        return self.classifier(out.flatten(1))


def forward_flops(dna: DNA, in_shape: Sequence[int], num_classes: int) -> int:
    """Floating-point operations of one example's forward pass (a coarse
    estimate, as in §3.5: multiply-adds count 2; BN + ReLU 4 per element;
    each skip input 1 per element for the sum)."""
    shapes = vertex_shapes(dna, in_shape)
    flops = 0
    for i, v in enumerate(dna.vertices[1:], 1):
        c, h, w = shapes[i]
        e = dna.primary_into(v.id)
        if e.kind == "conv":
            kh, kw = e.kernel
            flops += 2 * kh * kw * shapes[i - 1][0] * c * h * w + c * h * w
        flops += len(dna.skips_into(v.id)) * c * h * w
        if v.activation == "bn_relu":
            flops += 4 * c * h * w
    flops += 2 * math.prod(shapes[-1]) * num_classes + num_classes
    return flops


def parameter_count(dna: DNA, in_shape: Sequence[int], num_classes: int) -> int:
    """Trainable parameters, computed from shapes alone (before building anything)."""
    shapes = vertex_shapes(dna, in_shape)
    n = 0
    for i, v in enumerate(dna.vertices[1:], 1):
        e = dna.primary_into(v.id)
        c = shapes[i][0]
        if e.kind == "conv":
            kh, kw = e.kernel
            n += kh * kw * shapes[i - 1][0] * c + c
        if v.activation == "bn_relu":
            n += 2 * c
    return n + (math.prod(shapes[-1]) + 1) * num_classes
