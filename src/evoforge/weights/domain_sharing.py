"""Chapter 8's learned weight sharing as an engine domain (``run.domain = "weights_sharing"``).

One `WeightSharing` trainer (Algorithm 6, or a full/no-sharing baseline by
``mode``) run as a chain of stages (`evoforge.weights.stages`): an
individual is ``iterations_per_step`` more NES + Adam iterations continued
from its parent's ``state.safetensors`` (weights, Adam moments, π, both
generators), so store, progress and exact resume come from the engine (use
``search.strategy = "random_walk"`` and one worker). Its fitness is 1 − the
mean validation error over tasks of the argmax assignment (validation images
come from each task's training split, disjoint from its training images);
``per_task`` holds each task's *test* error, the figure chapter 8 reports.
Each stage writes the argmax network (only the candidates some task uses) as
``best.safetensors``; ``evoforge export RUN_DIR`` turns the best stage's into
a standalone PyTorch module.

The tasks are the offline stand-in for DKL-MNIST
(`evoforge.weights.sharing_tasks`), drawn by the run's seed, so a run with
seed s trains what ``benchmarks/weights_sharing.py`` trains for seed s.

Example:
    >>> setup = build({"tasks": ["digits", "digits"], "n_train": 40, "n_test": 20,
    ...                "n_val": 20, "channels": 4, "hidden": 8, "batch_per_task": 4,
    ...                "iterations_per_step": 2}, "weights_sharing", 0)
    >>> ev = setup.evaluator.evaluate(1)
    >>> 0.0 <= ev.fitness <= 1.0, ev.cost, len(ev.per_task)
    (True, 2, 2)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from evoforge.config import ConfigError, Section
from evoforge.domains import DomainSetup, register_domain
from evoforge.evolution.space import Evaluation
from evoforge.weights.export import save_network
from evoforge.weights.sharing import MODES, SharingConfig, TaskData, WeightSharing
from evoforge.weights.sharing_tasks import SMALL_TASKS, TASKS, three_tasks
from evoforge.weights.stages import StageChain, Stages


class SharingChain(StageChain):
    """Runs `WeightSharing` stages; picklable (tasks loaded on first use)."""

    def __init__(
        self,
        config: SharingConfig,
        tasks: tuple[str, ...],
        n_train: int,
        n_test: int,
        n_val: int,
        iterations_per_step: int,
        seed: int,
    ) -> None:
        super().__init__(iterations_per_step, seed)
        self.config = config
        self.tasks = tasks
        self.n_train, self.n_test, self.n_val = n_train, n_test, n_val

    def data(self) -> list[TaskData]:
        if self._data is None:
            self._data = three_tasks(self.n_train, self.n_test, self.seed, self.tasks, self.n_val)
        return self._data

    def new(self) -> WeightSharing:
        return WeightSharing(self.data(), self.config, seed=self.seed, device=self.device)

    def advance(self, trainer: WeightSharing, steps: int) -> float:
        loss = float("nan")
        for _ in range(steps):
            loss = trainer.iteration().loss
        return loss

    def score(self, trainer: WeightSharing, progress: float) -> Evaluation:
        if not math.isfinite(progress):
            return Evaluation(0.0, error=f"training loss is {progress}")
        val = trainer.errors("val")
        return Evaluation(1.0 - sum(val) / len(val), per_task=tuple(trainer.errors("test")))

    def state(self, trainer: WeightSharing) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        return trainer.state()

    def load_state(
        self, trainer: WeightSharing, tensors: dict[str, torch.Tensor], meta: dict[str, str]
    ) -> None:
        trainer.load_state(tensors, meta)

    def save_network(self, trainer: WeightSharing, path: Path, evaluation: Evaluation) -> None:
        tensors, kwargs = trainer.network()
        save_network(
            path,
            "SharedConvNet",
            kwargs,
            tensors,
            tasks=list(self.tasks),
            mode=self.config.mode,
            iterations=trainer.iterations,
            val_error=round(1.0 - evaluation.fitness, 6),
            test_errors=[round(e, 6) for e in evaluation.per_task],
            sharing=trainer.sharing(),
        )


def build(table: Mapping[str, Any], path: str, seed: int) -> DomainSetup:
    """The ``[weights_sharing]`` table: Algorithm 6's settings (`SharingConfig`;
    chapter 8's DKL-MNIST ones by default), the tasks and their sizes."""
    s = Section(table, path)
    names = tuple(s.get_list("tasks", list(TASKS), item=str, min_len=1))
    for name in names:
        if name not in TASKS + SMALL_TASKS:
            known = ", ".join(repr(t) for t in TASKS + SMALL_TASKS)
            raise ConfigError(f"{path}.tasks", f"unknown task {name!r}; known: {known}")
    if len({n in SMALL_TASKS for n in names}) > 1:
        raise ConfigError(f"{path}.tasks", f"28×28 tasks cannot be mixed with {SMALL_TASKS}")
    kw = {
        "mode": s.get_str("mode", "learned", choices=MODES),
        "candidates": s.get_int("candidates", 3, min=1),
        "channels": s.get_int("channels", 32, min=1),
        "hidden": s.get_int("hidden", 128, min=1),
        "batch_per_task": s.get_int("batch_per_task", 16, min=1),
        "nes_samples": s.get_int("nes_samples", 8, min=2),
        "sgd_samples": s.get_int("sgd_samples", 8, min=1),
        "nes_lr": s.get_float("nes_lr", 0.01, min=0.0),
        "lr": s.get_float("lr", 1e-3, min=0.0),
        "min_prob": s.get_float("min_prob", 0.001, min=0.0, max=0.5),
    }
    n_train = s.get_int("n_train", 500, min=1)
    n_test = s.get_int("n_test", 2000, min=1)
    n_val = s.get_int("n_val", 500, min=1)
    steps = s.get_int("iterations_per_step", 100, min=1)
    try:
        config = SharingConfig(**kw)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(path, str(exc)) from None
    evaluator = SharingChain(config, names, n_train, n_test, n_val, steps, seed)
    return DomainSetup(
        space=Stages("iterations"),
        evaluator=evaluator,
        describe=lambda g: f"{(g + 1) * steps} iterations, {config.mode} sharing",
        resolved_config=s.finish(),
        fitness_range=(0.0, 1.0),
        # Each task's training split is read whole before its images are drawn.
        worker_bytes=len(names) * 250_000_000,
        worker_key=f"{path}.tasks",
    )


register_domain("weights_sharing", build)
