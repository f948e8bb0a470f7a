"""Policy networks whose weights are a list of seeds (Such et al.'s compact
genome, used by Prellberg's chapter 6).

A genome is a tuple of integers: the first seeds the initial weights
(Glorot-uniform matrices and kernels, zero biases), every further one is a
mutation that adds ``sigma * N(0, 1)`` noise drawn from it. So a store row is a
few numbers however large the network, and `SeedPolicy.weights` rebuilds the
same float32 vector on any machine (numpy's PCG64 streams). A small cache of
rebuilt vectors turns a child's rebuild into one noise draw on top of its
parent's.

Networks: ``"nature"`` is the chapter's (conv 32 8×8 s4 → conv 64 4×4 s2 →
conv 64 3×3 s1 → dense 512 → actions, ReLU) on 4×84×84 frames scaled to
[0, 1]; ``"mlp"`` is a small tanh network for vector observations (CartPole).
The action is the argmax of the outputs.

Example:
    >>> p = SeedPolicy("mlp", (4,), 2, sigma=0.1, hidden=(8,))
    >>> p.n_params
    58
    >>> bool((p.weights((1, 2)) == SeedPolicy("mlp", (4,), 2, 0.1, (8,)).weights((1, 2))).all())
    True
    >>> p.act((1, 2), np.zeros(4, np.float32)) in (0, 1)
    True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

NETWORKS = ("nature", "mlp")


def build_network(
    kind: str, obs_shape: Sequence[int], n_actions: int, hidden: Sequence[int]
) -> Any:
    """The torch module of a network kind (weights to be overwritten).

    Example:
        >>> net = build_network("nature", (4, 84, 84), 6, ())
        >>> sum(p.numel() for p in net.parameters())
        1687206
    """
    import torch
    from torch import nn

    if kind == "nature":
        c = obs_shape[0]
        with torch.device("meta"):  # the flattened size without allocating
            convs = _nature_convs(nn, c)
            flat = convs(torch.empty(1, *obs_shape)).shape[1]
        return nn.Sequential(
            _nature_convs(nn, c), nn.Linear(flat, 512), nn.ReLU(), nn.Linear(512, n_actions)
        )
    if kind == "mlp":
        layers: list[Any] = []
        width = int(np.prod(obs_shape))
        for h in hidden:
            layers += [nn.Linear(width, h), nn.Tanh()]
            width = h
        return nn.Sequential(*layers, nn.Linear(width, n_actions))
    raise ValueError(f"unknown network {kind!r}; expected one of {NETWORKS}")


def _nature_convs(nn: Any, channels: int) -> Any:
    return nn.Sequential(
        nn.Conv2d(channels, 32, 8, stride=4),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1),
        nn.ReLU(),
        nn.Flatten(),
    )


class SeedPolicy:
    """A network kind plus σ: turns seed-list genomes into weights and actions.

    Picklable (the torch module and the cache are rebuilt in each process).
    """

    def __init__(
        self,
        kind: str,
        obs_shape: Sequence[int],
        n_actions: int,
        sigma: float,
        hidden: Sequence[int] = (64,),
        cache_size: int = 8,
    ) -> None:
        self.kind = kind
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.n_actions = int(n_actions)
        self.sigma = float(sigma)
        self.hidden = tuple(int(h) for h in hidden)
        self.cache_size = cache_size
        self._net: Any = None
        self._cache: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._loaded: tuple[int, ...] | None = None
        self._shapes = [tuple(p.shape) for p in self.network().parameters()]
        self.n_params = int(sum(np.prod(s) for s in self._shapes))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_net=None, _cache=OrderedDict(), _loaded=None)
        return state

    def network(self) -> Any:
        """The torch module (made once per process, in eval mode)."""
        if self._net is None:
            net = build_network(self.kind, self.obs_shape, self.n_actions, self.hidden)
            self._net = net.eval().requires_grad_(False)
        return self._net

    def initial_weights(self, seed: int) -> np.ndarray:
        """Glorot-uniform weights (bound sqrt(6 / (fan_in + fan_out)), kernels
        counting their receptive field), zero biases, in parameter order."""
        rng = np.random.default_rng(seed)
        parts = []
        for shape in self._shapes:
            if len(shape) == 1:
                parts.append(np.zeros(shape, np.float32))
                continue
            field = int(np.prod(shape[2:])) if len(shape) > 2 else 1
            bound = np.sqrt(6.0 / ((shape[1] + shape[0]) * field))
            parts.append(rng.uniform(-bound, bound, size=shape).astype(np.float32).ravel())
        return np.concatenate([p.ravel() for p in parts])

    def weights(self, seeds: Sequence[int]) -> np.ndarray:
        """The weight vector of a seed-list genome: the initial weights of
        ``seeds[0]`` plus ``sigma * N(0, 1)`` from each later seed, in order."""
        seeds = tuple(int(s) for s in seeds)
        if not seeds:
            raise ValueError("a genome needs at least its initial seed")
        start = len(seeds)
        while start > 0 and seeds[:start] not in self._cache:
            start -= 1
        if start == 0:
            theta = self.initial_weights(seeds[0])
            start = 1
        else:
            theta = self._cache[seeds[:start]].copy()
            self._cache.move_to_end(seeds[:start])
        for seed in seeds[start:]:
            noise = np.random.default_rng(seed).standard_normal(self.n_params, np.float32)
            theta += np.float32(self.sigma) * noise
        self._remember(seeds, theta)
        return theta

    def _remember(self, seeds: tuple[int, ...], theta: np.ndarray) -> None:
        if self.cache_size <= 0:
            return
        self._cache[seeds] = theta.copy()
        self._cache.move_to_end(seeds)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def load(self, seeds: Sequence[int]) -> Any:
        """The network holding a genome's weights."""
        import torch

        seeds = tuple(int(s) for s in seeds)
        net = self.network()
        if self._loaded != seeds:
            flat = torch.from_numpy(self.weights(seeds))
            torch.nn.utils.vector_to_parameters(flat, net.parameters())
            self._loaded = seeds
        return net

    def act(self, seeds: Sequence[int], obs: np.ndarray) -> int:
        """The argmax action for one observation (uint8 frames are scaled to [0, 1])."""
        import torch

        net = self.load(seeds)
        x = torch.from_numpy(np.asarray(obs, dtype=np.float32))
        if np.asarray(obs).dtype == np.uint8:
            x = x / 255.0
        with torch.no_grad():
            return int(net(x.unsqueeze(0)).argmax(1).item())

    def controller(self, seeds: Sequence[int]) -> Any:
        """``obs -> action`` for one genome, for `evoforge.weights.envs`."""
        seeds = tuple(int(s) for s in seeds)
        self.load(seeds)
        return lambda obs: self.act(seeds, obs)

    def export(self, seeds: Sequence[int], path: str | Path, metadata: dict[str, str]) -> Path:
        """Write a genome's weights as safetensors (tensor names as in the
        torch module's ``state_dict``), with ``metadata`` (strings) alongside."""
        from safetensors.torch import save_file

        net = self.load(seeds)
        tensors = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
        meta = {
            "network": self.kind,
            "obs_shape": ",".join(map(str, self.obs_shape)),
            "n_actions": str(self.n_actions),
            "hidden": ",".join(map(str, self.hidden)),
            "sigma": repr(self.sigma),
            "seeds": " ".join(map(str, seeds)),
            **metadata,
        }
        path = Path(path)
        save_file(tensors, str(path), metadata=meta)
        return path
