"""Equations in the backward pass: BP reproduces autograd, FA and DFA match hand-written ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from evoforge.learning_rules import apply_rule

torch.set_num_threads(1)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10)
    )


def _cnn():
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 10),
    )


def _grads(net, x, y, rule=None, **kw):
    net.zero_grad()
    if rule is None:
        F.cross_entropy(net(x), y).backward()
    else:
        with apply_rule(net, rule, **kw):
            F.cross_entropy(net(x), y).backward()
    return [p.grad.clone() for p in net.parameters()]


DATA = (torch.randn(7, 1, 8, 8, generator=torch.Generator().manual_seed(2)), torch.arange(7) % 10)


@pytest.mark.parametrize("make", [_mlp, _cnn], ids=["dense", "conv"])
@pytest.mark.parametrize("rule", ["bp", "bp_g", "mul(matmul(b1, W), ind(hp))"])
def test_bp_equation_reproduces_autograd(make, rule):
    net = make()
    ref = _grads(net, *DATA)
    got = _grads(net, *DATA, rule)
    for a, b in zip(got, ref, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)


def test_a_different_rule_changes_hidden_gradients_only():
    net = _mlp()
    ref = _grads(net, *DATA)
    got = _grads(net, *DATA, "add(norm_fro(g), scale[0.5](g))")
    assert torch.equal(got[-1], ref[-1]) and torch.equal(got[-2], ref[-2])  # output layer
    assert not torch.allclose(got[0], ref[0])


def test_fa_matches_hand_written_feedback_alignment():
    net = _mlp()
    x, y = DATA
    with apply_rule(net, "fa", seed=3) as rule:
        net.zero_grad()
        F.cross_entropy(net(x), y).backward()
        got = [p.grad.clone() for p in net.parameters()]
        # Hand-written FA: b_i = (b_{i+1} · B_i) ⊙ relu'(h_i^p), B_i fixed random.
        l1, l2, l3 = net[1], net[3], net[5]
        b_fb1 = rule.feedback(0, "R", l2.weight)  # (16, 32)
        b_fb2 = rule.feedback(1, "R", l3.weight)  # (10, 16)
    with torch.no_grad():
        a0 = x.flatten(1)
        h1p = l1(a0)
        h1 = h1p.relu()
        h2p = l2(h1)
        h2 = h2p.relu()
        out = l3(h2)
        e = (out.softmax(1) - F.one_hot(y, 10)) / x.shape[0]
        b2 = (e @ b_fb2) * (h2p > 0)
        b1 = (b2 @ b_fb1) * (h1p > 0)
    want = [b1.T @ a0, b1.sum(0), b2.T @ h1, b2.sum(0), e.T @ h2, e.sum(0)]
    for a, b in zip(got, want, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(b_fb2, l3.weight)


def test_feedback_matrices_are_fixed_seeded_and_per_layer():
    net = _mlp()
    with apply_rule(net, "dfa", seed=5) as rule:
        for _ in range(2):
            F.cross_entropy(net(DATA[0]), DATA[1]).backward()
            first = rule.feedback(0, "RL", net[1].weight, (10, 32)).clone()
        assert torch.equal(rule.feedback(0, "RL", net[1].weight, (10, 32)), first)
        other = rule.feedback(1, "RL", net[1].weight, (10, 16))
    with apply_rule(net, "dfa", seed=5) as again:
        assert torch.equal(again.feedback(0, "RL", net[1].weight, (10, 32)), first)
        assert other.shape == (10, 16)
    with apply_rule(net, "dfa", seed=6) as changed:
        assert not torch.equal(changed.feedback(0, "RL", net[1].weight, (10, 32)), first)


def test_dfa_matches_hand_written_direct_feedback_alignment():
    net = _mlp()
    x, y = DATA
    with apply_rule(net, "dfa", seed=2) as rule:
        got = _grads(net, x, y)  # hooks still active: the rule applies
        r1 = rule.feedback(0, "RL", net[1].weight, (10, 32))
        r2 = rule.feedback(1, "RL", net[1].weight, (10, 16))
    with torch.no_grad():
        a0 = x.flatten(1)
        h1p = net[1](a0)
        h2p = net[3](h1p.relu())
        e = (net[5](h2p.relu()).softmax(1) - F.one_hot(y, 10)) / x.shape[0]
        b2 = (e @ r2) * (h2p > 0)
        b1 = (e @ r1) * (h1p > 0)
    assert torch.allclose(got[2], b2.T @ h1p.relu(), atol=1e-6)
    assert torch.allclose(got[0], b1.T @ a0, atol=1e-6)


def test_removed_rule_restores_backprop_and_no_grad_forward_is_untouched():
    net = _mlp()
    ref = _grads(net, *DATA)
    rule = apply_rule(net, "fa")
    with torch.no_grad():
        net(DATA[0])
    rule.remove()
    for a, b in zip(_grads(net, *DATA), ref, strict=True):
        assert torch.equal(a, b)


def test_shape_errors_surface_as_value_errors():
    net = _mlp()
    with pytest.raises(ValueError, match="b_i\\^p needs"), apply_rule(net, "left(hp1, g)"):
        F.cross_entropy(net(DATA[0]), DATA[1]).backward()
