"""Large-Scale Evolution DNA: validity after long mutation chains, shape
resolution at vertices, the mutations' exact effects, text and JSON forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evoforge.architectures import dna as D
from evoforge.architectures.dna import DNA, Edge, Vertex, add_vertex_after, linear_dna
from evoforge.architectures.model import DNANet, forward_flops, parameter_count, resolve
from evoforge.architectures.mutations import MUTATIONS, mutate

torch.set_num_threads(1)


@pytest.mark.parametrize("seed", range(4))
def test_long_mutation_chains_stay_valid_and_build(seed):
    rng = np.random.default_rng(seed)
    dna, seen = linear_dna(), set()
    for step in range(150):
        dna, name = mutate(dna, rng)
        seen.add(name)
        D.check(dna)
        assert D.from_text(D.to_text(dna)) == dna
        assert D.from_json(D.to_json(dna)) == dna
        if step % 25 == 0 and parameter_count(dna, (1, 8, 8), 10) < 200_000:
            net = DNANet(dna, (1, 8, 8), 10)
            out = net(torch.randn(3, 1, 8, 8))
            assert out.shape == (3, 10) and torch.isfinite(out).all()
            assert sum(p.numel() for p in net.parameters()) == parameter_count(dna, (1, 8, 8), 10)
    assert len(seen) >= 9  # the chain used (nearly) every mutation


def _chain():
    """input -conv s2 c5-> a (bn_relu) -identity-> b (linear) -conv s1 c3-> c, skip input->c."""
    dna = linear_dna()
    dna = add_vertex_after(dna, 0, Edge(0, 0, 0, "conv", log2_stride=1.0, channels=5.0), "bn_relu")
    dna = add_vertex_after(dna, 1, Edge(0, 0, 0, "identity"), "linear")
    dna = add_vertex_after(dna, 2, Edge(0, 0, 0, "conv", channels=3.0), "linear")
    skip = Edge(dna.next_id, 0, dna.vertices[3].id, "identity", skip=True)
    return DNA(dna.vertices, (*dna.edges, skip), dna.learning_rate, dna.next_id + 1)


def test_shape_resolution_at_a_vertex_follows_the_primary_edge():
    dna = _chain()
    net = DNANet(dna, (2, 8, 8), 10)
    assert net.shapes == [(2, 8, 8), (5, 4, 4), (5, 4, 4), (3, 4, 4)]
    # The skip (2x8x8 image) reaches the 3x4x4 vertex by nearest-neighbour
    # subsampling and zero padding of the third channel.
    x = torch.arange(128.0).reshape(1, 2, 8, 8)
    r = resolve(x, (3, 4, 4))
    assert r.shape == (1, 3, 4, 4)
    assert torch.equal(r[0, :2], x[0, :, ::2, ::2]) and not r[0, 2].any()
    assert torch.equal(resolve(torch.ones(1, 6, 4, 4), (3, 4, 4)), torch.ones(1, 3, 4, 4))
    assert net(x).shape == (1, 10)
    assert forward_flops(dna, (2, 8, 8), 10) > forward_flops(linear_dna(), (2, 8, 8), 10)


def test_skip_contributes_to_the_output():
    dna = _chain()
    net = DNANet(dna, (2, 8, 8), 10).eval()
    no_skip = DNA(dna.vertices, dna.edges[:-1], dna.learning_rate, dna.next_id)
    other = DNANet(no_skip, (2, 8, 8), 10).eval()
    other.load_state_dict(net.state_dict())
    x = torch.randn(2, 2, 8, 8)
    assert not torch.allclose(net(x), other(x))


def test_integers_are_stored_as_floats_and_rounded_for_the_model():
    e = Edge(1, 0, 2, "conv", filter_h=4.2, filter_w=1.4, log2_stride=1.6, channels=10.4)
    assert e.kernel == (5, 1) and e.stride == 4 and e.out_channels == 10
    assert Edge(1, 0, 2, "conv", filter_h=2.9).kernel[0] == 3


def test_numeric_mutations_draw_from_half_to_twice():
    base = add_vertex_after(linear_dna(), 0, Edge(0, 0, 0, "conv", channels=10.0), "bn_relu")
    rng = np.random.default_rng(0)
    channels = [
        MUTATIONS["alter_number_of_channels"](base, rng).convs[0].channels for _ in range(300)
    ]
    assert 5.0 <= min(channels) < 5.5 and 19.5 < max(channels) <= 20.0
    rates = [MUTATIONS["alter_learning_rate"](base, rng).learning_rate for _ in range(300)]
    assert 0.05 <= min(rates) < 0.055 and 0.195 < max(rates) <= 0.2
    strides = {MUTATIONS["alter_stride"](base, rng).convs[0].stride for _ in range(100)}
    assert strides == {1, 2}  # stride 1 can leave 1 (log2 drawn from [0.25, 1])


def test_insert_convolution_keeps_the_input_channels_and_later_shapes():
    dna = add_vertex_after(linear_dna(), 0, Edge(0, 0, 0, "conv", channels=6.0), "bn_relu")
    rng = np.random.default_rng(1)
    for _ in range(20):
        child = MUTATIONS["insert_convolution"](dna, rng, 1)
        new = next(e for e in child.convs if e.id >= dna.next_id)
        src_pos = child.index(new.src)
        expected = 1 if src_pos == 0 else 6
        assert new.kernel == (3, 3) and new.out_channels == expected and new.stride in (1, 2)
        assert child.vertices[child.index(new.dst)].activation in ("bn_relu", "linear")


def test_remove_convolution_and_skips():
    dna = _chain()
    rng = np.random.default_rng(0)
    for _ in range(10):
        child = MUTATIONS["remove_convolution"](dna, rng)
        D.check(child)
        assert len(child.convs) == 1 and len(child.vertices) == 3
    assert MUTATIONS["remove_convolution"](linear_dna(), rng) is None
    assert MUTATIONS["remove_skip"](dna, rng).skips == []
    added = MUTATIONS["add_skip"](dna, rng)
    assert len(added.skips) == 2
    assert MUTATIONS["add_skip"](linear_dna(), rng) is None  # one vertex: nowhere to go


def test_text_errors_name_the_line():
    with pytest.raises(ValueError, match="line 2"):
        D.from_text("learning_rate 0.1\nvertex zero input\nnext_id 1")
    with pytest.raises(ValueError, match="backwards"):
        D.check(
            DNA((Vertex(0, "input"), Vertex(1, "linear")), (Edge(2, 1, 0, "identity"),), 0.1, 3)
        )
