"""Weight inheritance per mutation: Large-Scale Evolution (by name and shape,
through the evaluator and its weight files) and Lamarckian NAS (the rules)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evoforge.architectures.data import DataSpec
from evoforge.architectures.dna import Edge, add_vertex_after, linear_dna
from evoforge.architectures.evaluator import DNAEvaluator
from evoforge.architectures.inheritance import WEIGHTS_FILE, load_weights
from evoforge.architectures.lamarckian.evaluator import BlockEvaluator
from evoforge.architectures.lamarckian.genome import MUTATIONS as BLOCK_MUTATIONS
from evoforge.architectures.lamarckian.genome import Block, BlockGenome
from evoforge.architectures.lamarckian.inheritance import inherited_names
from evoforge.architectures.lamarckian.model import BlockNet
from evoforge.architectures.mutations import MUTATIONS
from evoforge.evolution.space import Job

torch.set_num_threads(1)
DATA = DataSpec("digits", n_train=200, n_val=100, n_test=50)


@pytest.fixture(scope="module")
def trained_parent(tmp_path_factory):
    """A two-conv DNA trained a few steps; its directory holds its weights."""
    dna = add_vertex_after(linear_dna(), 0, Edge(0, 0, 0, "conv", channels=4.0), "bn_relu")
    dna = add_vertex_after(dna, 1, Edge(0, 0, 0, "conv", channels=6.0), "bn_relu")
    out = tmp_path_factory.mktemp("parent")
    ev = DNAEvaluator(DATA, steps=5).evaluate_job(Job(dna, out))
    assert ev.error is None
    return dna, out, load_weights(out / WEIGHTS_FILE)


def child_weights(tmp_path, parent_dir, child, mutation, inherit=True):
    out = tmp_path / "child"
    out.mkdir(parents=True)
    # steps=0 would not train at all: one step with a zero learning rate keeps
    # the inherited weights (BN statistics move, which the test excludes).
    child = type(child)(child.vertices, child.edges, 1e-12, child.next_id)
    ev = DNAEvaluator(DATA, steps=1, inherit=inherit, momentum=0.0, weight_decay=0.0)
    ev.evaluate_job(Job(child, out, (parent_dir,), (1,), mutation))
    return load_weights(out / WEIGHTS_FILE)


def same(a, b, name):
    return a[name].shape == b[name].shape and torch.allclose(a[name], b[name], atol=1e-6)


def kept_names(parent, child):
    return {
        n
        for n in child
        if "running" not in n and "batches" not in n and n in parent and same(parent, child, n)
    }


def test_identity_and_learning_rate_keep_everything(tmp_path, trained_parent):
    dna, pdir, pw = trained_parent
    rng = np.random.default_rng(0)
    for i, name in enumerate(("identity", "alter_learning_rate")):
        child = MUTATIONS[name](dna, rng)
        cw = child_weights(tmp_path / str(i), pdir, child, name)
        assert kept_names(pw, cw) == {n for n in pw if "running" not in n and "batches" not in n}


def test_reset_weights_and_no_inheritance_keep_nothing(tmp_path, trained_parent):
    dna, pdir, pw = trained_parent
    for i, (name, inherit) in enumerate((("reset_weights", True), ("identity", False))):
        cw = child_weights(tmp_path / str(i), pdir, dna, name, inherit)
        learned = {n for n in pw if n.endswith("weight") and "norms" not in n}
        assert not learned & kept_names(pw, cw)


def test_filter_size_discards_only_the_mutated_filter(tmp_path, trained_parent):
    dna, pdir, pw = trained_parent
    rng = np.random.default_rng(2)
    child = MUTATIONS["filter_size"](dna, rng)
    changed = [e for e, old in zip(child.convs, dna.convs, strict=True) if e.kernel != old.kernel]
    while not changed:  # a draw may round back to 3: draw again
        child = MUTATIONS["filter_size"](dna, rng)
        changed = [e for e, o in zip(child.convs, dna.convs, strict=True) if e.kernel != o.kernel]
    cw = child_weights(tmp_path, pdir, child, "filter_size")
    lost = {n for n in pw if "running" not in n and "batches" not in n} - kept_names(pw, cw)
    assert lost == {f"convs.e{changed[0].id}.weight"}


def test_channel_change_discards_that_conv_its_bn_and_the_next_conv(tmp_path, trained_parent):
    dna, pdir, pw = trained_parent
    first = dna.convs[0]
    child = type(dna)(
        dna.vertices,
        tuple(
            e if e.id != first.id else Edge(e.id, e.src, e.dst, "conv", channels=9.0)
            for e in dna.edges
        ),
        dna.learning_rate,
        dna.next_id,
    )
    cw = child_weights(tmp_path, pdir, child, "alter_number_of_channels")
    lost = {n for n in pw if "running" not in n and "batches" not in n} - kept_names(pw, cw)
    second = dna.convs[1].id
    assert lost == {
        f"convs.e{first.id}.weight",
        f"convs.e{first.id}.bias",
        f"norms.v{first.dst}.weight",
        f"norms.v{first.dst}.bias",
        f"convs.e{second}.weight",
    }


# -- Lamarckian NAS ------------------------------------------------------------

P = BlockGenome((Block(0, 16, 3, 1), Block(1, 32, 3, 1), Block(2, 64, 5, 1)), 3)
H = (
    "conv.bias",
    "bn.weight",
    "bn.bias",
    "bn.running_mean",
    "bn.running_var",
    "bn.num_batches_tracked",
)
ALL = {f"blocks.b{i}.{h}" for i in range(3) for h in (*H, "conv.weight")} | {
    "dense.weight",
    "dense.bias",
}


def k(i):
    return f"blocks.b{i}.conv.weight"


def h(i):
    return {f"blocks.b{i}.{x}" for x in H}


def test_block_rules_for_each_mutation():
    stride = BlockGenome((P.blocks[0], Block(1, 32, 3, 2), P.blocks[2]), 3)
    assert inherited_names(P, stride) == ALL
    kernel = BlockGenome((P.blocks[0], Block(1, 32, 5, 1), P.blocks[2]), 3)
    assert inherited_names(P, kernel) == ALL - {k(1)}
    channels = BlockGenome((P.blocks[0], Block(1, 64, 3, 1), P.blocks[2]), 3)
    assert inherited_names(P, channels) == ALL - {k(1), k(2)} - h(1)
    last_channels = BlockGenome((*P.blocks[:2], Block(2, 96, 5, 1)), 3)
    assert inherited_names(P, last_channels) == ALL - {k(2), "dense.weight", "dense.bias"} - h(2)
    # add block after block 0 with the same channel count as block 0: k_1 is
    # still re-initialised (its input changed), which a shape rule would miss.
    added = BlockGenome((P.blocks[0], Block(3, 16, 3, 1), *P.blocks[1:]), 4)
    assert inherited_names(P, added) == ALL - {k(1)}
    removed = BlockGenome((P.blocks[0], P.blocks[2]), 3)
    assert inherited_names(P, removed) == ALL - {k(1), k(2)} - h(1)
    appended = BlockGenome((*P.blocks, Block(3, 32, 1, 1)), 4)
    assert inherited_names(P, appended) == ALL - {"dense.weight", "dense.bias"}


def test_block_mutations_respect_the_sets_and_three_stride_two_blocks():
    rng = np.random.default_rng(0)
    g = BlockGenome((Block(0, 256, 3, 2), Block(1, 16, 1, 2), Block(2, 64, 5, 2)), 3)
    for _ in range(50):
        assert (
            BLOCK_MUTATIONS["change_stride"](g, rng) is None
            or sum(b.stride == 2 for b in BLOCK_MUTATIONS["change_stride"](g, rng).blocks) <= 3
        )
    assert BLOCK_MUTATIONS["remove_block"](BlockGenome((Block(0, 16, 3, 1),), 1), rng) is None
    up = {BLOCK_MUTATIONS["add_channels"](g, rng) for _ in range(30)} - {None}
    assert {b.channels for c in up for b in c.blocks} <= {16, 32, 64, 96, 128, 256}


def test_block_evaluator_inherits_bn_statistics(tmp_path):
    ev = BlockEvaluator(DATA, epochs=1, batch_size=64)
    parent = BlockGenome((Block(0, 16, 3, 1), Block(1, 16, 3, 1)), 2)
    ev.evaluate_job(Job(parent, tmp_path))
    pw = load_weights(tmp_path / WEIGHTS_FILE)
    child = BlockGenome((Block(0, 16, 3, 1), Block(1, 16, 3, 2)), 2)  # change stride: all kept
    net = BlockNet(child, 1, 10)
    from evoforge.architectures.inheritance import inherit_matching

    _, fresh = inherit_matching(net, pw, inherited_names(parent, child))
    assert fresh == [] and torch.equal(
        net.state_dict()["blocks.b1.bn.running_var"], pw["blocks.b1.bn.running_var"]
    )
    assert not torch.equal(pw["blocks.b1.bn.running_var"], torch.ones(16))  # they were trained
