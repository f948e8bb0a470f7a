"""K-FAC factors against their definitions; eigenvalues; histograms; Wasserstein."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from evoforge.activations.aquasurf.embedding import wasserstein_1d, wasserstein_vectors
from evoforge.activations.aquasurf.features import (
    FeatureCache,
    fim_histograms,
    kfac_factors,
    layer_histogram,
    layer_sizes,
    log_eigenvalues,
)


def _per_example_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layer: nn.Module):
    """Gradient of each example's loss w.r.t. ``layer``'s output, one backward per example."""
    rows = []
    for i in range(x.shape[0]):
        store: list[torch.Tensor] = []
        h = layer.register_forward_hook(lambda m, a, o, store=store: store.append(o))
        out = model(x[i : i + 1])
        h.remove()
        (g,) = torch.autograd.grad(F.cross_entropy(out, y[i : i + 1]), store[0])
        rows.append(g[0])
    return torch.stack(rows).double()


def test_dense_factors_equal_definitions() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4))
    x, y = torch.randn(7, 3), torch.randint(0, 4, (7,))
    f1, f2 = kfac_factors(net, x, y)
    # Omega: E[a_bar a_bar^T] with a leading 1 for the bias.
    a0 = torch.cat([torch.ones(7, 1), x], 1).double()
    assert torch.allclose(f1.omega, a0.T @ a0 / 7)
    a1 = torch.cat([torch.ones(7, 1), torch.tanh(net[0](x))], 1).double().detach()
    assert torch.allclose(f2.omega, a1.T @ a1 / 7)
    # Gamma: E[Ds Ds^T] of per-example gradients w.r.t. the layer's output.
    for layer, f in ((net[0], f1), (net[2], f2)):
        g = _per_example_grads(net, x, y, layer)
        assert torch.allclose(f.gamma, g.T @ g / 7, atol=1e-10)
    assert [f.n_weights for f in (f1, f2)] == layer_sizes(net) == [20, 24]


def test_conv_factors_equal_definitions() -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    net = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    x, y = torch.randn(5, 2, 4, 4), torch.randint(0, 2, (5,))
    f = kfac_factors(net, x, y)[0]
    # Omega: patches (with a 1) summed over the 16 positions, averaged over examples.
    om = torch.zeros(19, 19, dtype=torch.float64)
    xp = F.pad(x, (1, 1, 1, 1)).double()
    for n in range(5):
        for i in range(4):
            for j in range(4):
                patch = torch.cat(
                    [torch.ones(1, dtype=torch.float64), xp[n, :, i : i + 3, j : j + 3].reshape(-1)]
                )
                om += torch.outer(patch, patch)
    assert torch.allclose(f.omega, om / 5)
    g = _per_example_grads(net, x, y, conv)  # (5, 3, 4, 4)
    rows = g.permute(0, 2, 3, 1).reshape(-1, 3)
    assert torch.allclose(f.gamma, rows.T @ rows / (5 * 16), atol=1e-10)
    assert f.n_weights == conv.weight.numel() + conv.bias.numel()


def test_eigenvalues_of_kronecker_are_pairwise_products() -> None:
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 3))
    x, y = torch.randn(40, 2), torch.randint(0, 3, (40,))
    for f in kfac_factors(net, x, y):
        direct = torch.linalg.eigvalsh(torch.kron(f.omega, f.gamma)).numpy()
        ours = np.exp(log_eigenvalues(f))
        big = direct > 1e-12 * direct.max()
        # The nonzero spectrum agrees (numerically zero ones are clamped to `tiny`).
        assert np.allclose(np.sort(ours)[-big.sum() :], np.sort(direct[big]), rtol=1e-6)
        assert len(ours) == f.n_weights


def test_histogram_bins_and_filter() -> None:
    assert layer_histogram(np.array([-1000.0, 0.0, 1000.0]), 250).tolist() == [1.0, 2.0]
    torch.manual_seed(3)
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    good = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    h = fim_histograms(good, x, y)
    assert h is not None and h.sum() == sum(layer_sizes(good))

    class Blow(nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return torch.exp(torch.exp(torch.exp(10 * t)))

    bad = nn.Sequential(nn.Linear(3, 4), Blow(), nn.Linear(4, 2))
    assert fim_histograms(bad, x, y) is None


def test_wasserstein_on_known_histograms() -> None:
    # All mass moves by 2 bins of width 0.5 -> W1 = 1.
    assert wasserstein_1d(np.array([1, 0, 0, 0]), np.array([0, 0, 1, 0]), (0, 2)) == pytest.approx(
        1.0
    )
    # Half the mass moves 3 bins of width 1 -> 1.5; scale of counts does not matter.
    a, b = np.array([2.0, 0, 0, 2.0]), np.array([4.0, 0, 0, 0])
    assert wasserstein_1d(a, b, (0, 4)) == pytest.approx(1.5)
    assert wasserstein_1d(10 * a, b, (0, 4)) == pytest.approx(1.5)
    # Layer-wise: Manhattan distance of the vectors = sum of per-layer W1 on [-100, 100].
    h = np.array([[1.0, 0, 3.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0, 1.0]])
    v = wasserstein_vectors(h, [3, 2])
    expect = wasserstein_1d(h[0, :3], h[1, :3], (-100, 100)) + wasserstein_1d(
        h[0, 3:], h[1, 3:], (-100, 100)
    )
    assert np.abs(v[0] - v[1]).sum() == pytest.approx(expect)
    # CDFs (.25, .25, 1) vs (0, 1, 1): 1.0 x 200/3; (1, 1) vs (0, 1): 1.0 x 100.
    assert expect == pytest.approx(200 / 3 + 100.0)


def test_a_stopped_feature_computation_resumes_after_its_last_saved_block(tmp_path) -> None:
    from evoforge.activations.formula import parse

    functions = [parse(t) for t in ("relu(x)", "tanh(x)", "exp(exp(exp(x)))", "x", "sigmoid(x)")]
    _ = torch.manual_seed(0)
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    built = []

    def network(genome):
        built.append(genome)
        if len(built) == 3:  # Ctrl-C in the second block (of two functions each)
            raise KeyboardInterrupt
        return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))

    cache = FeatureCache(tmp_path, {"space": "demo"}, block=2)
    with pytest.raises(KeyboardInterrupt):
        cache.get(functions, network, x, y)
    assert cache.part_path.exists() and not cache.path.exists()
    seen = []
    resumed = cache.get(functions, network, x, y, progress=seen.append)
    # Only the last three were computed again (two networks: exp(exp(exp(x)))
    # is never built, its outputs are not finite); progress counts on from the
    # saved block.
    assert len(built) == 3 + 2 and seen == [3, 4, 5]
    assert cache.path.exists() and not cache.part_path.exists()
    whole = FeatureCache(tmp_path / "whole", {"space": "demo"}, block=2).get(
        functions, lambda g: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), x, y
    )
    assert resumed.functions == whole.functions
    assert resumed.valid.tolist() == whole.valid.tolist() == [True, True, False, True, True]
    np.testing.assert_array_equal(resumed.outputs, whole.outputs)
    assert resumed.fim.shape == whole.fim.shape
