"""Population-batched MLP forward and chapter 5's EA operators (issue 13, part 1)."""

from __future__ import annotations

import math

import pytest
import torch

from evoforge.weights.batched import PopulationMLP
from evoforge.weights.population_ea import EAConfig, PopulationEA


def _net() -> PopulationMLP:
    return PopulationMLP((16, 7, 5, 3), pool=2, image_side=8)


def test_batched_forward_equals_per_member_forward() -> None:
    net = _net()
    pop = net.init(9, torch.Generator().manual_seed(0))
    pop[:, -3:] = torch.randn(9, 3)  # non-zero biases, so they are exercised too
    x = torch.rand(11, 64)
    batched = net.logits(pop, x)
    for i in range(9):
        assert torch.allclose(batched[i], net.logits_one(pop[i], x), atol=1e-5)
        assert torch.allclose(batched[i], net.to_module(pop[i])(x), atol=1e-5)
    chunked = PopulationMLP((16, 7, 5, 3), pool=2, image_side=8, chunk=4)
    assert torch.allclose(chunked.logits(pop, x), batched, atol=1e-6)
    y = torch.randint(3, (11,))
    per_member = torch.stack(
        [torch.nn.functional.cross_entropy(net.logits_one(p, x), y) for p in pop]
    )
    assert torch.allclose(net.losses(pop, x, y), per_member, atol=1e-5)


def test_glorot_uniform_init() -> None:
    net = PopulationMLP((30, 20, 10))
    pop = net.init(50, torch.Generator().manual_seed(1))
    (w1, b1), (w2, _) = net.layers(pop)
    limit = math.sqrt(6 / 50)
    assert float(w1.abs().max()) <= limit and float(w1.abs().max()) > 0.95 * limit
    assert float(b1.abs().max()) == 0.0
    # Uniform on [-l, l] has variance l^2 / 3.
    assert abs(float(w2.var()) - (math.sqrt(6 / 30) ** 2 / 3)) < 0.01
    assert net.n_params == 30 * 20 + 20 + 20 * 10 + 10


def _ea(**kw) -> PopulationEA:
    cfg = EAConfig(**{"population": 40, "batch_size": 32, "sigma": 0.01, **kw})
    return PopulationEA(_net(), cfg, seed=3)


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(32, 64, generator=g), torch.randint(3, (32,), generator=g)


def test_uniform_crossover_takes_each_gene_from_a_parent_half_the_time() -> None:
    ea = _ea(crossover_fraction=0.5, elite_fraction=0.1)
    old = ea.population.clone()
    ea.step(*_batch())
    n_e, n_c, _ = ea.config.counts()
    src = ea.last_sources
    kids = ea.population[n_e : n_e + n_c]
    from_a = kids == old[src["cross_a"]]
    from_b = kids == old[src["cross_b"]]
    assert bool((from_a | from_b).all())
    differ = old[src["cross_a"]] != old[src["cross_b"]]
    share = float(from_a[differ].float().mean())
    assert 0.47 < share < 0.53


def test_arithmetic_crossover_is_the_mean_and_children_are_not_mutated() -> None:
    ea = _ea(crossover="arithmetic")
    old = ea.population.clone()
    ea.step(*_batch())
    n_e, n_c, _ = ea.config.counts()
    s = ea.last_sources
    expected = 0.5 * (old[s["cross_a"]] + old[s["cross_b"]])
    assert torch.allclose(ea.population[n_e : n_e + n_c], expected)


def test_elites_are_the_best_copied_unchanged_and_scored_again() -> None:
    ea = _ea(elite_fraction=0.1)
    old = ea.population.clone()
    u = ea.score(*_batch(0))
    ea.step(*_batch(0))
    n_e = ea.config.counts()[0]
    best = torch.argsort(-u, stable=True)[:n_e]
    assert torch.equal(ea.population[:n_e], old[best])
    # Mutants come from the truncation set only.
    top = set(torch.argsort(-u, stable=True)[: ea.config.parents()].tolist())
    assert set(ea.last_sources["mutant"].tolist()) <= top
    # Next generation: the elites' fitness is their loss on the new batch.
    x2, y2 = _batch(1)
    ea.step(x2, y2)
    fresh = -ea.net.losses(old[best], x2, y2)
    assert torch.allclose(ea.fitness[:n_e], fresh, atol=1e-6)


def test_sigma_schedules() -> None:
    ea = _ea(sigma_mode="exponential", sigma=0.1, decay_every=10)
    for _ in range(20):
        ea.step(*_batch())
    n_e, n_c, _ = ea.config.counts()
    assert float(ea.sigma[n_e + n_c :].mean()) == pytest.approx(0.1 * 0.99 ** (19 / 10))

    ea = _ea(sigma_mode="self_adaptive", sigma=0.1, tau=0.5, population=400)
    parent_sigma = ea.sigma.clone()
    parent_sigma[:] = torch.linspace(0.05, 0.15, 400)
    ea.sigma = parent_sigma.clone()
    ea.step(*_batch())
    n_e, n_c, _ = ea.config.counts()
    s = ea.last_sources
    z = torch.log(ea.sigma[n_e + n_c :] / parent_sigma[s["mutant"]]) / 0.5
    assert abs(float(z.mean())) < 0.25 and 0.75 < float(z.std()) < 1.25
    # A crossover child takes its parents' mean sigma.
    mean = 0.5 * (parent_sigma[s["cross_a"]] + parent_sigma[s["cross_b"]])
    assert torch.allclose(ea.sigma[n_e : n_e + n_c], mean)


def test_fitness_inheritance_blends_parent_fitness() -> None:
    ea = _ea(alpha=0.25, elite_fraction=0.1, crossover_fraction=0.0)
    ea.step(*_batch(0))
    ranked = ea.fitness.clone()
    inherited = ea.inherited.clone()
    n_e = ea.config.counts()[0]
    assert torch.allclose(inherited[n_e:], ranked[ea.last_sources["mutant"]])
    x, y = _batch(1)
    u = ea.score(x, y)
    ea.step(x, y)
    assert torch.allclose(ea.fitness, 0.75 * inherited + 0.25 * u, atol=1e-6)


def test_non_finite_members_rank_last() -> None:
    ea = _ea(elite_fraction=0.1)
    ea.population[5] = math.nan
    stats = ea.step(*_batch())
    assert stats.invalid == 1 and math.isfinite(stats.best_loss)
    assert not bool(torch.isnan(ea.population[: ea.config.counts()[0]]).any())


def test_state_round_trip_continues_exactly() -> None:
    x, y = torch.rand(100, 64), torch.randint(3, (100,))
    a = _ea(sigma_mode="self_adaptive", alpha=0.5)
    a.run(x, y, 3)
    b = _ea(sigma_mode="self_adaptive", alpha=0.5)
    b.load_state({k: v.clone() for k, v in a.state().items()})
    a.run(x, y, 2)
    b.run(x, y, 2)
    assert torch.equal(a.population, b.population) and torch.equal(a.sigma, b.sigma)


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="elite_fraction \\+ crossover_fraction"):
        EAConfig(elite_fraction=0.5, crossover_fraction=0.6)
    with pytest.raises(ValueError, match="crossover must be"):
        EAConfig(crossover="one_point")
    assert EAConfig(population=100, crossover="none").counts() == (5, 0, 95)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    net = _net()
    pop = net.init(16, torch.Generator().manual_seed(0))
    x = torch.rand(8, 64)
    on_gpu = net.logits(pop.cuda(), x.cuda()).cpu()
    assert torch.allclose(on_gpu, net.logits(pop, x), atol=1e-4)
    ea = PopulationEA(net, EAConfig(population=16, batch_size=8), seed=0, device="cuda")
    ea.run(x.cuda(), torch.randint(3, (8,)).cuda(), 2)
    assert ea.population.is_cuda
