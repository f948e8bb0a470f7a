"""Prellberg's weight-inheritance rules (§7.3.3), stated on block ids.

A block's weights are its kernel ``k_i`` and the one-dimensional tensors
``h_i`` (conv bias, BN scale and shift, BN running mean and variance). The
child takes from its parent:

* ``h_i`` when the parent has block i with the same channel count;
* ``k_i`` when, in addition, the kernel size is the same and block i reads
  the same input: the same preceding block (or the image) with the same
  channel count;
* the dense layer when the last block's channel count is the same.

Everything else is re-initialised. Applied to each mutation this gives the
paper's table exactly: change stride copies everything; change kernel
re-initialises ``k_i`` only; add/remove channels on block i re-initialise
``θ_i`` and ``k_{i+1}``; adding a block after i re-initialises the new block
and ``k_{i+1}`` (even when its channel count happens to equal block i's,
which a rule by shape alone would keep); removing block i re-initialises
``k_{i+1}``; the dense layer survives unless ``c_n`` changed. Because the
rules look only at the two architectures, they also hold for a child several
mutations away (the novelty history may stack mutations).

Example:
    >>> from evoforge.architectures.lamarckian.genome import Block, BlockGenome
    >>> parent = BlockGenome((Block(0, 16, 3, 1), Block(1, 32, 3, 1)), 2)
    >>> child = BlockGenome((Block(0, 32, 3, 1), Block(1, 32, 3, 1)), 2)  # add channels, block 0
    >>> sorted(inherited_names(parent, child))
    ['blocks.b1.bn.bias', 'blocks.b1.bn.num_batches_tracked', 'blocks.b1.bn.running_mean', \
'blocks.b1.bn.running_var', 'blocks.b1.bn.weight', 'blocks.b1.conv.bias', 'dense.bias', \
'dense.weight']
"""

from __future__ import annotations

from evoforge.architectures.lamarckian.genome import Block, BlockGenome

_H = ("conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
      "bn.num_batches_tracked")  # fmt: skip


def _inputs(genome: BlockGenome) -> dict[int, tuple[int | None, int | None]]:
    """block id -> (id of the block before it or None for the image, its channels)."""
    out: dict[int, tuple[int | None, int | None]] = {}
    before: Block | None = None
    for b in genome.blocks:
        out[b.id] = (None, None) if before is None else (before.id, before.channels)
        before = b
    return out


def inherited_names(parent: BlockGenome, child: BlockGenome) -> set[str]:
    """The state-dict names the child copies from its parent (see the module doc)."""
    old = {b.id: b for b in parent.blocks}
    old_inputs, new_inputs = _inputs(parent), _inputs(child)
    names: set[str] = set()
    for b in child.blocks:
        p = old.get(b.id)
        if p is None or p.channels != b.channels:
            continue
        names.update(f"blocks.b{b.id}.{h}" for h in _H)
        if p.kernel == b.kernel and old_inputs[b.id] == new_inputs[b.id]:
            names.add(f"blocks.b{b.id}.conv.weight")
    if parent.blocks[-1].channels == child.blocks[-1].channels:
        names.update(("dense.weight", "dense.bias"))
    return names
