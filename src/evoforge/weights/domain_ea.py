"""Chapter 5's EA as an engine domain (``run.domain = "weights_ea"``).

A population of λ networks cannot be λ engine individuals: each would carry
92k weights through the store every generation. So the engine sees the EA
as a chain (`evoforge.weights.stages`): an individual is *a stage*,
``generations_per_step`` more generations of `PopulationEA` continued from
its parent's saved state (``state.safetensors`` holds the population, σ,
fitness and generator state). Its fitness is the validation accuracy of the
generation's best member, whose weights it also writes as
``best.safetensors`` (`evoforge.weights.batched.load_mlp` reads it back as a
PyTorch module; ``evoforge export RUN_DIR`` writes it with a standalone
``model.py``). Use ``search.strategy = "random_walk"`` and one worker, which
makes the chain; the engine then gives store, progress, checkpoints and
resume (a resumed run continues from the last stored stage, exactly).

Example:
    >>> setup = build({"dataset": "digits", "hidden": [8], "population": 10,
    ...                "batch_size": 32, "generations_per_step": 2}, "weights_ea", 0)
    >>> ev = setup.evaluator.evaluate(1)
    >>> 0.0 <= ev.fitness <= 1.0, ev.cost
    (True, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evoforge.config import ConfigError, Section
from evoforge.data.datasets import read_dataset
from evoforge.domains import DomainSetup, register_domain
from evoforge.evolution.space import Evaluation
from evoforge.weights.batched import PopulationMLP, save_mlp
from evoforge.weights.population_ea import (
    CROSSOVERS,
    SIGMA_MODES,
    EAConfig,
    GenerationStats,
    PopulationEA,
)
from evoforge.weights.stages import StageChain, Stages

DATASETS = ("mnist", "fashion_mnist", "digits")


class EAChain(StageChain):
    """Runs `PopulationEA` stages; picklable (data loaded on first use)."""

    def __init__(
        self,
        config: EAConfig,
        dataset: str,
        hidden: tuple[int, ...],
        generations_per_step: int,
        n_val: int,
        seed: int,
    ) -> None:
        super().__init__(generations_per_step, seed)
        self.config = config
        self.dataset = dataset
        self.hidden = hidden
        self.n_val = n_val

    def network(self) -> PopulationMLP:
        if self.dataset == "digits":  # 8×8, no pooling
            return PopulationMLP((64, *self.hidden, 10))
        return PopulationMLP((196, *self.hidden, 10), pool=2, image_side=28)

    def data(self) -> tuple[torch.Tensor, ...]:
        """Train and validation tensors on the device, split by the run's seed."""
        if self._data is None:
            X, y = read_dataset(self.dataset, "train")
            if self.dataset == "digits":
                X = X / 16.0
            order = np.random.default_rng(self.seed).permutation(X.shape[0])
            va, tr = order[: self.n_val], order[self.n_val :]
            Xf = torch.from_numpy(X.astype(np.float32)).to(self.device)
            yt = torch.from_numpy(y).to(self.device)
            self._data = (Xf[tr], yt[tr], Xf[va], yt[va])
        return self._data

    def new(self) -> PopulationEA:
        return PopulationEA(self.network(), self.config, seed=self.seed, device=self.device)

    def advance(self, trainer: PopulationEA, steps: int) -> list[GenerationStats]:
        x, y, _, _ = self.data()
        return trainer.run(x, y, steps)

    def score(self, trainer: PopulationEA, progress: list[GenerationStats]) -> Evaluation:
        if not np.isfinite(progress[-1].best_loss):
            return Evaluation(0.0, error="every member's loss is non-finite")
        _, _, xv, yv = self.data()
        acc = trainer.net.accuracy(trainer.best(), xv, yv)
        return Evaluation(acc, per_task=(progress[-1].best_loss, progress[-1].median_loss))

    def state(self, trainer: PopulationEA) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        return trainer.state(), {}

    def load_state(
        self, trainer: PopulationEA, tensors: dict[str, torch.Tensor], meta: dict[str, str]
    ) -> None:
        trainer.load_state(tensors)

    def save_network(self, trainer: PopulationEA, path: Path, evaluation: Evaluation) -> None:
        save_mlp(
            path,
            trainer.net,
            trainer.best().cpu(),
            generation=trainer.generation,
            dataset=self.dataset,
            val_acc=evaluation.fitness,
        )


def build(table: Mapping[str, Any], path: str, seed: int) -> DomainSetup:
    """The ``[weights_ea]`` table: Algorithm 2's settings (Table 5.1's test
    setting by default) and the data; see `EAConfig` for each key."""
    s = Section(table, path)
    dataset = s.get_str("dataset", "mnist", choices=DATASETS)
    hidden = tuple(s.get_list("hidden", [256, 128, 64], item=int, min_len=1))
    kw = {
        "population": s.get_int("population", 2000, min=2),
        "batch_size": s.get_int("batch_size", 1024, min=1),
        "truncation": s.get_float("truncation", 0.5, min=0.0, max=1.0),
        "elite_fraction": s.get_float("elite_fraction", 0.05, min=0.0, max=1.0),
        "crossover_fraction": s.get_float("crossover_fraction", 0.75, min=0.0, max=1.0),
        "crossover": s.get_str("crossover", "uniform", choices=CROSSOVERS),
        "sigma": s.get_float("sigma", 0.001, min=0.0),
        "sigma_mode": s.get_str("sigma_mode", "constant", choices=SIGMA_MODES),
        "decay_every": s.get_float("decay_every", 100.0, min=0.0),
        "tau": s.get_float("tau", 0.01, min=0.0),
        "alpha": s.get_float("alpha", 1.0, min=0.0, max=1.0),
    }
    steps = s.get_int("generations_per_step", 100, min=1)
    n_val = s.get_int("n_val", 5000 if dataset != "digits" else 300, min=1)
    try:
        config = EAConfig(**kw)
    except ValueError as exc:
        raise ConfigError(path, str(exc)) from None
    if not hidden or min(hidden) < 1:
        raise ConfigError(f"{path}.hidden", f"expected positive widths, got {list(hidden)}")
    evaluator = EAChain(config, dataset, hidden, steps, n_val, seed)
    n_params = evaluator.network().n_params
    return DomainSetup(
        space=Stages("generations"),
        evaluator=evaluator,
        describe=lambda g: f"{(g + 1) * steps} generations, λ = {config.population}",
        resolved_config=s.finish(),
        fitness_range=(0.0, 1.0),
        # The worker holds two generations of the population plus the data.
        worker_bytes=2 * config.population * n_params * 4 + 300_000_000,
        worker_key=f"{path}.population",
    )


register_domain("weights_ea", build)
