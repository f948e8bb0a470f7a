"""A population of MLPs as stacked weight tensors, scored in one batched pass.

Prellberg's GPU implementation (seed 003, chapter 5) keeps the whole
population in device memory: every dense layer's weights stacked over the
population (p × out × in), the same input batch for every member, one batched
matrix product per layer. Here a population is one flat ``(p, n_params)``
tensor, which the EA's operators (crossover masks, Gaussian noise) touch
elementwise; `PopulationMLP.layers` views it per layer without copying.

The network: optional k×k max-pooling of a square image, then dense layers
with ReLU between them (none after the last). Chapter 5's MLP is
``PopulationMLP((196, 256, 128, 64, 10), pool=2, image_side=28)``: 2×2 pooling
of 28×28 MNIST, 92,234 parameters.

Example:
    >>> import torch
    >>> net = PopulationMLP((4, 3, 2))
    >>> pop = net.init(5, torch.Generator().manual_seed(0))
    >>> x, y = torch.randn(7, 4), torch.tensor([0, 1, 0, 1, 0, 1, 0])
    >>> net.losses(pop, x, y).shape, net.n_params
    (torch.Size([5]), 23)
    >>> bool(torch.allclose(net.logits(pop, x)[2], net.logits_one(pop[2], x), atol=1e-6))
    True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

#: Chapter 5's network on 2×2-pooled 28×28 MNIST.
CHAPTER5_SIZES = (196, 256, 128, 64, 10)


class PopulationMLP:
    """The shape of a dense ReLU network and batched maths over a population of them.

    ``sizes`` are the layer widths, input first (after pooling). ``pool`` > 1
    max-pools ``image_side`` × ``image_side`` inputs by ``pool`` first (inputs
    then arrive flattened, ``image_side**2`` wide). ``chunk`` bounds how many
    members one batched product handles, so activation memory
    (chunk × batch × width) stays bounded for large populations.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        pool: int = 1,
        image_side: int | None = None,
        chunk: int | None = None,
    ) -> None:
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must be >= 2 positive widths, got {sizes}")
        if pool > 1:
            if image_side is None or image_side % pool:
                raise ValueError(f"pool={pool} needs an image_side divisible by it")
            if (image_side // pool) ** 2 != sizes[0]:
                raise ValueError(
                    f"sizes[0] must be (image_side/pool)^2 = {(image_side // pool) ** 2}, "
                    f"got {sizes[0]}"
                )
        self.sizes = sizes
        self.pool = int(pool)
        self.image_side = image_side
        self.chunk = chunk
        # (offset of W, offset of b, fan_in, fan_out) per layer in the flat vector.
        self._slots: list[tuple[int, int, int, int]] = []
        offset = 0
        for fan_in, fan_out in itertools.pairwise(sizes):
            self._slots.append((offset, offset + fan_in * fan_out, fan_in, fan_out))
            offset += fan_in * fan_out + fan_out
        self.n_params = offset

    @property
    def in_features(self) -> int:
        """Width of one flattened input (before pooling)."""
        return self.image_side**2 if self.pool > 1 else self.sizes[0]  # type: ignore[operator]

    def init(
        self,
        population: int,
        generator: torch.Generator,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """``(population, n_params)`` Glorot-uniform weights, zero biases.

        Drawn on ``generator``'s device (a CUDA generator for CUDA), then moved.
        """
        gen_device = generator.device
        pop = torch.zeros(population, self.n_params, dtype=dtype, device=gen_device)
        for w0, b0, fan_in, fan_out in self._slots:
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            w = pop[:, w0:b0]
            w.uniform_(-limit, limit, generator=generator)
        return pop.to(device)

    def layers(self, pop: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer ``(W (p, out, in), b (p, out))`` views of a ``(p, n_params)`` population."""
        out = []
        p = pop.shape[0]
        for w0, b0, fan_in, fan_out in self._slots:
            out.append(
                (pop[:, w0:b0].view(p, fan_out, fan_in), pop[:, b0 : b0 + fan_out].view(p, fan_out))
            )
        return out

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Flattened inputs ``(b, in_features)`` -> the first dense layer's ``(b, sizes[0])``."""
        if self.pool > 1:
            side = self.image_side
            x = F.max_pool2d(x.view(-1, 1, side, side), self.pool)  # type: ignore[arg-type]
            x = x.flatten(1)
        return x

    def logits(self, pop: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(p, b, classes)`` outputs of every member on the same batch ``x``.

        The first layer multiplies the shared batch by all members' weights at
        once (a broadcast matmul, no copy of ``x`` per member); the rest are
        batched products (``baddbmm``) over the population.
        """
        h0 = self.prepare(x)
        chunk = self.chunk or pop.shape[0]
        parts = []
        for start in range(0, pop.shape[0], chunk):
            h = h0
            layers = self.layers(pop[start : start + chunk])
            for i, (w, b) in enumerate(layers):
                if i == 0:
                    h = torch.matmul(h, w.transpose(1, 2)) + b.unsqueeze(1)
                else:
                    h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
                if i < len(layers) - 1:
                    h = torch.relu(h)
            parts.append(h)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def losses(self, pop: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(p,)`` mean cross-entropy of every member on the batch ``(x, y)``."""
        logits = self.logits(pop, x)
        p, b, c = logits.shape
        ce = F.cross_entropy(logits.reshape(p * b, c), y.repeat(p), reduction="none")
        return ce.view(p, b).mean(1)

    def logits_one(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(b, classes)`` outputs of one member (flat ``(n_params,)``), layer by layer:
        the per-member reference the batched pass is tested against."""
        h = self.prepare(x)
        layers = self.layers(params.unsqueeze(0))
        for i, (w, b) in enumerate(layers):
            h = F.linear(h, w[0], b[0])
            if i < len(layers) - 1:
                h = torch.relu(h)
        return h

    def accuracy(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
        """Fraction of ``x`` one member classifies correctly (in chunks of 4,096)."""
        correct = 0
        with torch.no_grad():
            for start in range(0, x.shape[0], 4096):
                pred = self.logits_one(params, x[start : start + 4096]).argmax(1)
                correct += int((pred == y[start : start + 4096]).sum())
        return correct / max(1, x.shape[0])

    def bytes_per_member(self, batch: int, dtype_bytes: int = 4) -> int:
        """Device memory one member needs in a generation: its weights, its
        child's (the next population is built beside the old one), and its
        activations on a batch (the widest two layers live at once)."""
        widest = sorted(self.sizes[1:], reverse=True)[:2]
        return dtype_bytes * (2 * self.n_params + batch * sum(widest))

    def to_module(self, params: torch.Tensor) -> MaxPoolMLP:
        """A plain `torch.nn.Module` with one member's weights."""
        module = MaxPoolMLP(self.sizes, self.pool, self.image_side)
        with torch.no_grad():
            for linear, (w, b) in zip(module.dense, self.layers(params.unsqueeze(0)), strict=True):
                linear.weight.copy_(w[0])
                linear.bias.copy_(b[0])
        return module

    def describe(self) -> dict[str, object]:
        """The JSON-able shape, stored in exported files' metadata."""
        return {"sizes": list(self.sizes), "pool": self.pool, "image_side": self.image_side}


class MaxPoolMLP(nn.Module):
    """Max-pool (optional) then dense ReLU layers: one member as a PyTorch module.

    Example:
        >>> import torch
        >>> MaxPoolMLP((4, 3, 2))(torch.zeros(5, 4)).shape
        torch.Size([5, 2])
    """

    def __init__(self, sizes: Sequence[int], pool: int = 1, image_side: int | None = None):
        super().__init__()
        self.sizes = tuple(sizes)
        self.pool = pool
        self.image_side = image_side
        self.dense = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool > 1:
            side = self.image_side
            x = F.max_pool2d(x.reshape(-1, 1, side, side), self.pool).flatten(1)  # type: ignore[arg-type]
        else:
            x = x.flatten(1)
        for i, layer in enumerate(self.dense):
            x = layer(x)
            if i < len(self.dense) - 1:
                x = torch.relu(x)
        return x


def save_mlp(path: str | Path, net: PopulationMLP, params: torch.Tensor, **meta: object) -> None:
    """Write one member as safetensors (``dense.<i>.weight``/``bias``), with the
    network's shape and ``meta`` (JSON-able) in the header's metadata
    (`evoforge.weights.export.save_network`)."""
    from evoforge.weights.export import save_network

    save_network(path, "MaxPoolMLP", net.describe(), net.to_module(params).state_dict(), **meta)


def load_mlp(path: str | Path) -> MaxPoolMLP:
    """The `MaxPoolMLP` a `save_mlp` file holds (no pickle involved).

    Example:
        >>> import tempfile, torch
        >>> net = PopulationMLP((4, 3, 2))
        >>> pop = net.init(1, torch.Generator().manual_seed(1))
        >>> path = tempfile.mkdtemp() + "/best.safetensors"
        >>> save_mlp(path, net, pop[0], generation=3)
        >>> x = torch.randn(2, 4)
        >>> bool(torch.allclose(load_mlp(path)(x), net.logits_one(pop[0], x)))
        True
    """
    from evoforge.weights.export import load_network

    module = load_network(path)
    if not isinstance(module, MaxPoolMLP):
        raise ValueError(f"{path}: holds a {type(module).__name__}, not a MaxPoolMLP")
    return module
