"""Chapter 5's evolutionary training of network weights (Prellberg, Algorithm 2).

A (μ,λ) EA with μ = λ over a population held as one ``(λ, n_params)`` tensor
(`evoforge.weights.batched`). Each generation draws one fresh training batch
and scores every member on it in one batched pass (fitness = −mean
cross-entropy), then builds the next population from three parts:

- elites ``E``: the ``p_E·λ`` best, copied unchanged (and so scored again on
  the next generation's batch);
- crossover children ``C``: ``p_C·λ`` pairs drawn uniformly from the ``ρ·λ``
  best (truncation set ``T``); uniform (each gene from either parent with
  probability ½) or arithmetic (the mean); children are not also mutated;
- mutants ``M``: the rest, ``x + σ·ε`` of a parent drawn uniformly from ``T``.

σ is constant, decays as ``σ_0·0.99^(g/k)``, or is a gene of its own that
mutates as ``σ·exp(τ·ε)`` before the weights do (a crossover child takes its
parents' mean σ). k = 100 and τ = 0.01 follow the released code (the text
gives neither). Fitness inheritance ranks members by
``(1−α)·u_inherited + α·u_batch``, ``u_inherited`` the parents' mean (crossover)
or the parent's (mutation) ranking fitness; an elite inherits its own. α = 1
(Table 5.1) turns it off. A member with a non-finite loss ranks last.

All randomness comes from one ``torch.Generator`` on the population's device,
and `PopulationEA.state` holds everything (population, σ, fitness, the
generator's state) as tensors, so a run saved as safetensors resumes exactly.

Example:
    >>> import torch
    >>> from evoforge.weights.batched import PopulationMLP
    >>> X = torch.randn(200, 4); Y = (X[:, 0] > 0).long()
    >>> ea = PopulationEA(PopulationMLP((4, 8, 2)), EAConfig(population=40, batch_size=64,
    ...                   sigma=0.05), seed=0)
    >>> first = ea.step(X, Y).best_loss
    >>> for _ in range(30): last = ea.step(X, Y).best_loss
    >>> last < first
    True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch

from evoforge.weights.batched import PopulationMLP

CROSSOVERS = ("uniform", "arithmetic", "none")
SIGMA_MODES = ("constant", "exponential", "self_adaptive")


@dataclass(frozen=True)
class EAConfig:
    """Algorithm 2's settings; the defaults are Table 5.1's test setting
    (λ = 2,000, batch 1,024, p_E 0.05, p_C 0.75, p_M 0.20, σ 0.001, ρ 0.5, α 1).

    ``mutation_fraction`` is ``1 − elite_fraction − crossover_fraction``.
    With ``crossover = "none"`` the crossover share is mutated instead.

    Example:
        >>> EAConfig(population=1000, batch_size=512, crossover_fraction=0.5).counts()
        (50, 500, 450)
    """

    population: int = 2000
    batch_size: int = 1024
    truncation: float = 0.5
    elite_fraction: float = 0.05
    crossover_fraction: float = 0.75
    crossover: str = "uniform"
    sigma: float = 0.001
    sigma_mode: str = "constant"
    decay_every: float = 100.0
    tau: float = 0.01
    alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.population < 2:
            raise ValueError(f"population must be >= 2, got {self.population}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0.0 < self.truncation <= 1.0:
            raise ValueError(f"truncation must be in (0, 1], got {self.truncation}")
        if not (self.elite_fraction >= 0 and self.crossover_fraction >= 0):
            raise ValueError("elite_fraction and crossover_fraction must be >= 0")
        if self.elite_fraction + self.crossover_fraction > 1.0 + 1e-9:
            raise ValueError(
                "elite_fraction + crossover_fraction must be <= 1 (the rest is mutation), got "
                f"{self.elite_fraction} + {self.crossover_fraction}"
            )
        if self.crossover not in CROSSOVERS:
            raise ValueError(f"crossover must be one of {CROSSOVERS}, got {self.crossover!r}")
        if self.sigma_mode not in SIGMA_MODES:
            raise ValueError(f"sigma_mode must be one of {SIGMA_MODES}, got {self.sigma_mode!r}")
        if not (self.sigma > 0 and self.decay_every > 0 and self.tau >= 0):
            raise ValueError("sigma and decay_every must be > 0, tau >= 0")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")

    def counts(self) -> tuple[int, int, int]:
        """``(elites, crossover children, mutants)``, summing to ``population``."""
        n = self.population
        elites = round(self.elite_fraction * n)
        cross = 0 if self.crossover == "none" else round(self.crossover_fraction * n)
        cross = min(cross, n - elites)
        return elites, cross, n - elites - cross

    def parents(self) -> int:
        """|T|: how many of the best may become parents."""
        return max(1, round(self.truncation * self.population))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class GenerationStats(NamedTuple):
    """What one generation measured (losses on that generation's batch)."""

    generation: int
    best_loss: float
    median_loss: float
    mean_sigma: float
    invalid: int


class PopulationEA:
    """Algorithm 2 over a `PopulationMLP` population on one device.

    ``step(x, y)`` runs one generation on the batch ``x, y`` (already on the
    device); `run` draws the batches from a training set itself.
    """

    def __init__(
        self,
        net: PopulationMLP,
        config: EAConfig,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        self.net = net
        self.config = config
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))
        self.population = net.init(config.population, self.generator, self.device)
        self.sigma = torch.full((config.population,), config.sigma, device=self.device)
        # The ranking fitness each member inherits (NaN: none, ranked on its own).
        self.inherited = torch.full((config.population,), math.nan, device=self.device)
        self.fitness = torch.full((config.population,), -math.inf, device=self.device)
        self.generation = 0
        self._best: torch.Tensor | None = None
        # Where each member came from in the last generation (-1: elite copy);
        # kept for tests and statistics, not needed to resume.
        self.last_sources: dict[str, torch.Tensor] = {}

    def _randint(self, high: int, n: int) -> torch.Tensor:
        return torch.randint(high, (n,), generator=self.generator, device=self.device)

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.generator, device=self.device)

    def mutation_sigma(self, parents: torch.Tensor) -> torch.Tensor:
        """σ of each mutant (one per parent index), by the configured schedule."""
        c = self.config
        if c.sigma_mode == "constant":
            return torch.full((parents.shape[0],), c.sigma, device=self.device)
        if c.sigma_mode == "exponential":
            value = c.sigma * 0.99 ** (self.generation / c.decay_every)
            return torch.full((parents.shape[0],), value, device=self.device)
        return self.sigma[parents] * torch.exp(c.tau * self._randn(parents.shape[0]))

    def score(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Every member's fitness (−loss) on ``x, y``; non-finite becomes −inf."""
        with torch.no_grad():
            u = -self.net.losses(self.population, x, y)
        return torch.where(torch.isfinite(u), u, torch.full_like(u, -math.inf))

    def step(self, x: torch.Tensor, y: torch.Tensor) -> GenerationStats:
        """Score the population on ``x, y`` and replace it by the next generation."""
        c = self.config
        u = self.score(x, y)
        rank_u = u
        if c.alpha < 1.0:
            inherited = torch.where(torch.isnan(self.inherited), u, self.inherited)
            rank_u = (1 - c.alpha) * inherited + c.alpha * u
            rank_u = torch.where(torch.isfinite(u), rank_u, u)
        self.fitness = rank_u
        # Stable sort on the device: ties go to the lower index (elites first).
        order = torch.argsort(-rank_u, stable=True)
        n_e, n_c, n_m = c.counts()
        top = order[: c.parents()]
        pop, sigma = self.population, self.sigma
        elites = order[:n_e]
        pa = top[self._randint(top.shape[0], n_c)]
        pb = top[self._randint(top.shape[0], n_c)]
        if c.crossover == "uniform":
            mask = torch.rand(n_c, pop.shape[1], generator=self.generator, device=self.device) < 0.5
            cross = torch.where(mask, pop[pa], pop[pb])
        else:
            cross = 0.5 * (pop[pa] + pop[pb])
        pm = top[self._randint(top.shape[0], n_m)]
        m_sigma = self.mutation_sigma(pm)
        mutants = pop[pm] + m_sigma.unsqueeze(1) * self._randn(n_m, pop.shape[1])
        self._best = pop[order[0]].clone()  # with p_E = 0 no elite keeps it
        self.population = torch.cat([pop[elites], cross, mutants])
        self.sigma = torch.cat([sigma[elites], 0.5 * (sigma[pa] + sigma[pb]), m_sigma])
        self.inherited = torch.cat([rank_u[elites], 0.5 * (rank_u[pa] + rank_u[pb]), rank_u[pm]])
        self.last_sources = {"elites": elites, "cross_a": pa, "cross_b": pb, "mutant": pm}
        finite = u[torch.isfinite(u)]
        stats = GenerationStats(
            self.generation,
            float(-u[order[0]]),
            float(-finite.median()) if finite.numel() else math.inf,
            float(self.sigma.mean()),
            int((~torch.isfinite(u)).sum()),
        )
        self.generation += 1
        return stats

    def best(self) -> torch.Tensor:
        """The member ranked first in the last generation (before any: the first)."""
        return self.population[0] if self._best is None else self._best

    def run(
        self, x_train: torch.Tensor, y_train: torch.Tensor, generations: int
    ) -> list[GenerationStats]:
        """``generations`` generations, each on a fresh batch drawn (with the
        EA's generator) without replacement from ``x_train, y_train``."""
        out = []
        n = x_train.shape[0]
        b = min(self.config.batch_size, n)
        for _ in range(generations):
            idx = torch.randperm(n, generator=self.generator, device=self.device)[:b]
            out.append(self.step(x_train[idx], y_train[idx]))
        return out

    def state(self) -> dict[str, torch.Tensor]:
        """Everything needed to continue exactly, as tensors (for safetensors)."""
        return {
            "population": self.population,
            "sigma": self.sigma,
            "inherited": self.inherited,
            "fitness": self.fitness,
            "generation": torch.tensor([self.generation], dtype=torch.int64),
            "generator": self.generator.get_state(),
            "best": self.best(),
        }

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore a `state` (onto this EA's device)."""
        pop = state["population"]
        if tuple(pop.shape) != (self.config.population, self.net.n_params):
            raise ValueError(
                f"saved population has shape {tuple(pop.shape)}, expected "
                f"({self.config.population}, {self.net.n_params})"
            )
        self.population = pop.to(self.device)
        self.sigma = state["sigma"].to(self.device)
        self.inherited = state["inherited"].to(self.device)
        self.fitness = state["fitness"].to(self.device)
        self.generation = int(state["generation"][0])
        self.generator.set_state(state["generator"].cpu())
        self._best = state["best"].to(self.device) if self.generation else None
