"""Lamarckian NAS's genome: a stack of conv(c, k, s) → BN → ReLU blocks (Prellberg, §7.3).

After the blocks: global average pooling and a dense classifier. Each block
draws from fixed sets -- channels c ∈ {16, 32, 64, 96, 128, 192, 256},
kernel k ∈ {1, 3, 5}, stride s ∈ {1, 2} -- and at most three blocks may have
stride 2. The first genome is one block with random c and k and stride 1.

The six mutations, with their relative frequencies: add block [3] (random
position, random c and k, stride 1), remove block [3], add channels [2] (next
larger c), remove channels [2] (next smaller c), change kernel size [2] and
change stride [1]; choices inside a mutation are uniform. Blocks keep a
permanent id, which is how the inheritance rules
(`evoforge.architectures.lamarckian.inheritance`) find a block's weights.

`novelty_key` is the architecture without ids: the (1+1) EA's history of
evaluated architectures (``one_plus_one`` strategy) uses it to make a child
an architecture never evaluated before.

Example:
    >>> import numpy as np
    >>> space = BlockSpace()
    >>> g = space.initial(np.random.default_rng(0))
    >>> len(g.blocks), g.blocks[0].stride
    (1, 1)
    >>> child, name = space.mutate(g, np.random.default_rng(1))
    >>> space.from_text(space.to_text(child)) == child
    True
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

CHANNELS = (16, 32, 64, 96, 128, 192, 256)
KERNELS = (1, 3, 5)
STRIDES = (1, 2)
MAX_STRIDE_TWO = 3
#: mutation -> relative frequency (§7.3.2).
MUTATION_WEIGHTS: dict[str, int] = {
    "add_block": 3,
    "remove_block": 3,
    "add_channels": 2,
    "remove_channels": 2,
    "change_kernel_size": 2,
    "change_stride": 1,
}


@dataclass(frozen=True)
class Block:
    """conv(channels, kernel, stride) → BN → ReLU, with a permanent id."""

    id: int
    channels: int
    kernel: int
    stride: int


@dataclass(frozen=True)
class BlockGenome:
    """The block stack (input side first) and the next unused block id."""

    blocks: tuple[Block, ...]
    next_id: int

    def key(self) -> str:
        """The architecture without ids, e.g. ``"c32k3s1 c64k5s2"``."""
        return " ".join(f"c{b.channels}k{b.kernel}s{b.stride}" for b in self.blocks)


def check(genome: BlockGenome) -> None:
    """Raise ValueError unless every block lies in the search space."""
    if not genome.blocks:
        raise ValueError("a block genome needs at least one block")
    ids = [b.id for b in genome.blocks]
    if len(set(ids)) != len(ids) or max(ids) >= genome.next_id:
        raise ValueError("block ids must be distinct and below next_id")
    for b in genome.blocks:
        if b.channels not in CHANNELS or b.kernel not in KERNELS or b.stride not in STRIDES:
            raise ValueError(f"block {b.id} ({b}) is outside the search space")
    if sum(b.stride == 2 for b in genome.blocks) > MAX_STRIDE_TWO:
        raise ValueError(f"at most {MAX_STRIDE_TWO} blocks may have stride 2")


def _pick(seq: tuple | list, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    return seq[int(rng.integers(len(seq)))]


def _set(genome: BlockGenome, i: int, block: Block) -> BlockGenome:
    blocks = list(genome.blocks)
    blocks[i] = block
    return replace(genome, blocks=tuple(blocks))


def add_block(g: BlockGenome, rng: np.random.Generator) -> BlockGenome | None:
    position = int(rng.integers(len(g.blocks) + 1))
    new = Block(g.next_id, _pick(CHANNELS, rng), _pick(KERNELS, rng), 1)
    blocks = (*g.blocks[:position], new, *g.blocks[position:])
    return BlockGenome(blocks, g.next_id + 1)


def remove_block(g: BlockGenome, rng: np.random.Generator) -> BlockGenome | None:
    if len(g.blocks) < 2:
        return None
    i = int(rng.integers(len(g.blocks)))
    return replace(g, blocks=g.blocks[:i] + g.blocks[i + 1 :])


def _step_channels(g: BlockGenome, rng: np.random.Generator, step: int) -> BlockGenome | None:
    i = int(rng.integers(len(g.blocks)))
    b = g.blocks[i]
    j = CHANNELS.index(b.channels) + step
    if not 0 <= j < len(CHANNELS):
        return None  # already at the end of the set: nothing changes
    return _set(g, i, replace(b, channels=CHANNELS[j]))


def add_channels(g: BlockGenome, rng: np.random.Generator) -> BlockGenome | None:
    return _step_channels(g, rng, 1)


def remove_channels(g: BlockGenome, rng: np.random.Generator) -> BlockGenome | None:
    return _step_channels(g, rng, -1)


def change_kernel_size(g: BlockGenome, rng: np.random.Generator) -> BlockGenome | None:
    i = int(rng.integers(len(g.blocks)))
    return _set(g, i, replace(g.blocks[i], kernel=_pick(KERNELS, rng)))


def change_stride(g: BlockGenome, rng: np.random.Generator) -> BlockGenome | None:
    i = int(rng.integers(len(g.blocks)))
    child = _set(g, i, replace(g.blocks[i], stride=_pick(STRIDES, rng)))
    if sum(b.stride == 2 for b in child.blocks) > MAX_STRIDE_TWO:
        return None
    return child


MUTATIONS = {
    "add_block": add_block,
    "remove_block": remove_block,
    "add_channels": add_channels,
    "remove_channels": remove_channels,
    "change_kernel_size": change_kernel_size,
    "change_stride": change_stride,
}


class BlockSpace:
    """The `SearchSpace` of block genomes.

    ``mutate`` draws a mutation by its relative frequency; a mutation that
    cannot apply, or leaves the architecture unchanged (a kernel drawn equal
    to the old one), is drawn again, since "the mutation operator is forced to
    modify the network".
    """

    def initial(self, rng: np.random.Generator) -> BlockGenome:
        return BlockGenome((Block(0, _pick(CHANNELS, rng), _pick(KERNELS, rng), 1),), 1)

    def mutate(self, genome: BlockGenome, rng: np.random.Generator) -> tuple[BlockGenome, str]:
        names = list(MUTATION_WEIGHTS)
        weights = np.array([MUTATION_WEIGHTS[n] for n in names], dtype=float)
        weights /= weights.sum()
        for _ in range(10_000):
            name = names[int(rng.choice(len(names), p=weights))]
            child = MUTATIONS[name](genome, rng)
            if child is not None and child.key() != genome.key():
                return child, name
        raise RuntimeError("no mutation changes this genome")  # unreachable for valid genomes

    def novelty_key(self, genome: BlockGenome) -> str:
        return genome.key()

    def to_text(self, genome: BlockGenome) -> str:
        """One block per line, e.g. ``block 3 channels 64 kernel 3 stride 2``."""
        lines = [
            f"block {b.id} channels {b.channels} kernel {b.kernel} stride {b.stride}"
            for b in genome.blocks
        ]
        return "\n".join([*lines, f"next_id {genome.next_id}"])

    def from_text(self, text: str) -> BlockGenome:
        blocks, next_id = [], None
        for number, line in enumerate(text.strip().splitlines(), 1):
            w = line.split()
            try:
                if w[0] == "block" and w[2::2] == ["channels", "kernel", "stride"]:
                    blocks.append(Block(int(w[1]), int(w[3]), int(w[5]), int(w[7])))
                elif w[0] == "next_id" and len(w) == 2:
                    next_id = int(w[1])
                else:
                    raise ValueError("expected 'block ID channels C kernel K stride S' or next_id")
            except (IndexError, ValueError) as exc:
                raise ValueError(f"block genome line {number} ({line!r}): {exc}") from None
        if next_id is None:
            raise ValueError("block genome text needs a next_id line")
        genome = BlockGenome(tuple(blocks), next_id)
        check(genome)
        return genome

    def to_json(self, genome: BlockGenome) -> dict[str, Any]:
        return {
            "blocks": [[b.id, b.channels, b.kernel, b.stride] for b in genome.blocks],
            "next_id": genome.next_id,
        }

    def from_json(self, data: Any) -> BlockGenome:
        try:
            genome = BlockGenome(
                tuple(Block(*(int(x) for x in b)) for b in data["blocks"]), int(data["next_id"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed block genome JSON: {exc!r}") from None
        check(genome)
        return genome
