"""The network of a block genome: blocks conv → BN → ReLU, global average
pooling, dense classifier (Prellberg, Figure 7.1).

Convolutions zero-pad by ``k // 2`` so the spatial size changes only with the
stride. Names follow block ids (``blocks.b<id>.conv.weight``, ``...bn.running_mean``,
``dense.weight``); weights start Glorot-uniform with zero biases (§7.3.3).

Example:
    >>> import torch
    >>> from evoforge.architectures.lamarckian.genome import Block, BlockGenome
    >>> g = BlockGenome((Block(0, 16, 3, 1), Block(4, 32, 5, 2)), 5)
    >>> net = BlockNet(g, 1, 10)
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> sorted(net.state_dict())[:2]
    ['blocks.b0.bn.bias', 'blocks.b0.bn.num_batches_tracked']
"""

from __future__ import annotations

import torch
from torch import nn

from evoforge.architectures.lamarckian.genome import BlockGenome


def glorot_init(module: nn.Module) -> None:
    """Glorot-uniform kernels, zero biases, BN at (1, 0) with fresh statistics."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class BlockNet(nn.Module):
    """The classifier a `BlockGenome` describes, for ``in_channels``-channel images."""

    def __init__(self, genome: BlockGenome, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict()
        c = in_channels
        for b in genome.blocks:
            self.blocks[f"b{b.id}"] = ConvBlock(c, b.channels, b.kernel, b.stride)
            c = b.channels
        self.dense = nn.Linear(c, num_classes)
        glorot_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks.values():
            x = block(x)
        return self.dense(x.mean(dim=(2, 3)))


def forward_flops(genome: BlockGenome, in_shape: tuple[int, ...], num_classes: int) -> int:
    """FLOPs of one example's forward pass (multiply-add = 2, BN + ReLU = 4 per element)."""
    c, h, w = in_shape
    flops = 0
    for b in genome.blocks:
        h, w = -(-h // b.stride), -(-w // b.stride)
        flops += (2 * b.kernel * b.kernel * c + 1 + 4) * b.channels * h * w
        c = b.channels
    return flops + c * h * w + 2 * c * num_classes + num_classes
