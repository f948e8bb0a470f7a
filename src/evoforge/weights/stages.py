"""A long training run as an engine chain: each individual is one more stage.

A trainer that holds a whole population (chapter 5's EA) or a large
multi-task network with its optimiser (chapter 8's learned weight sharing)
cannot be an engine genome: too much would cross the store each step. So the
engine sees the run as a chain of *stages*: the genome is a stage number,
and stage g continues the trainer its parent (stage g − 1) left in the run's
artefact store for ``steps`` more work units (generations, iterations). With
``search.strategy = "random_walk"`` and one worker the engine makes that
chain and gives it store, progress, checkpoints and exact resume (a resumed
run continues from the last stored stage).

Every stage writes two files into its artefact directory:

- ``state.safetensors``: everything the trainer needs to continue exactly
  (weights, optimiser state, generators), with JSON metadata;
- ``best.safetensors``: the network to keep, named as its plain PyTorch
  module names its tensors, its constructor arguments in the metadata
  (`evoforge.weights.export` turns it into a standalone module).

A domain subclasses `StageChain` with its trainer: `new`, `advance`,
`score`, `state`, `load_state` and `save_network`. ``evaluate`` (no
artefacts: export, tests) replays the stages from scratch.

Example:
    >>> Stages().mutate(3, None), Stages().from_text(Stages().to_text(7))
    ((4, 'steps'), 7)
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evoforge.evolution.space import NO_BUDGET, Budget, EvalContext, Evaluation, Job

STATE_FILE = "state.safetensors"
BEST_FILE = "best.safetensors"


class Stages:
    """Genomes are stage numbers: 0 first, each child the next (its mutation
    named by the chain's work ``unit``)."""

    def __init__(self, unit: str = "steps") -> None:
        self.unit = unit

    def initial(self, rng: np.random.Generator) -> int:
        return 0

    def mutate(self, genome: int, rng: np.random.Generator | None) -> tuple[int, str]:
        return genome + 1, self.unit

    def to_text(self, genome: int) -> str:
        return f"stage {genome}"

    def from_text(self, text: str) -> int:
        return int(text.split()[-1])

    def to_json(self, genome: int) -> int:
        return genome

    def from_json(self, data: Any) -> int:
        return int(data)


class StageChain(ABC):
    """An evaluator that runs a trainer ``steps`` work units per stage.

    Picklable: a subclass keeps its data in ``self._data``, which is dropped
    when pickled (workers load the data themselves) and on `bind` (the device
    may change).
    """

    def __init__(self, steps: int, seed: int) -> None:
        self.steps = steps
        self.seed = seed
        self.device = "cpu"
        self._data: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_data": None}

    def bind(self, context: EvalContext) -> None:
        self.device = context.device
        self._data = None

    @abstractmethod
    def new(self) -> Any:
        """A fresh trainer, seeded by the run's seed."""

    @abstractmethod
    def advance(self, trainer: Any, steps: int) -> Any:
        """Run ``steps`` work units; returns what `score` needs (e.g. the last stats)."""

    @abstractmethod
    def score(self, trainer: Any, progress: Any) -> Evaluation:
        """The stage's evaluation (fitness on validation data) after `advance`."""

    @abstractmethod
    def state(self, trainer: Any) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """Tensors and string metadata that continue the trainer exactly."""

    @abstractmethod
    def load_state(
        self, trainer: Any, tensors: dict[str, torch.Tensor], meta: dict[str, str]
    ) -> None:
        """Restore a `state` into a `new` trainer."""

    @abstractmethod
    def save_network(self, trainer: Any, path: Path, evaluation: Evaluation) -> None:
        """Write the network to keep as ``path`` (see the module docstring)."""

    def _stage(self, trainer: Any) -> Evaluation:
        t0 = time.perf_counter()
        evaluation = self.score(trainer, self.advance(trainer, self.steps))
        return replace(evaluation, cost=self.steps, wall_time=time.perf_counter() - t0)

    def evaluate(self, genome: int, budget: Budget = NO_BUDGET) -> Evaluation:
        """Stage ``genome`` replayed from the start (every earlier stage run again)."""
        trainer = self.new()
        if genome:
            self.advance(trainer, genome * self.steps)
        return self._stage(trainer)

    def evaluate_job(self, job: Job, budget: Budget = NO_BUDGET) -> Evaluation:
        """The next stage from the parent's saved state; writes both files."""
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file

        trainer = self.new()
        parent = job.parents[0] if job.parents else None
        if parent is not None and (parent / STATE_FILE).is_file():
            with safe_open(str(parent / STATE_FILE), framework="pt") as f:
                meta = dict(f.metadata() or {})
            self.load_state(trainer, load_file(str(parent / STATE_FILE)), meta)
        elif job.genome:
            return Evaluation(0.0, error=f"stage {job.genome}: its parent left no {STATE_FILE}")
        evaluation = self._stage(trainer)
        tensors, meta = self.state(trainer)
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        save_file(tensors, str(Path(job.output) / STATE_FILE), metadata=meta or None)
        self.save_network(trainer, Path(job.output) / BEST_FILE, evaluation)
        return evaluation
