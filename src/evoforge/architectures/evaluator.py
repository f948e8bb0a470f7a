"""Large-Scale Evolution's evaluator: build the child, inherit, train, validate, save.

For each individual (§3.4-3.6): build the DNA's model, copy in every parent
tensor whose name and shape match (none after reset-weights, or in the
no-inheritance control), train a fixed number of SGD steps (momentum 0.9,
batch 50, weight decay 1e-4, the DNA's learning rate, constant), and score
the validation accuracy. The trained weights go to the individual's artefact
directory for its children.

What the store gets (`Evaluation`):

* ``fitness``: validation accuracy;
* ``cost``: the paper's FLOPs estimate ``F_t·N_t·E + F_v·N_v`` (§3.5), with
  ``N_t·E = steps × batch`` examples trained on and ``F_t = 3·F_v`` (a backward
  pass costs about two forward passes), so ``run.max_cost`` compares runs at
  equal compute;
* ``per_task``: ``(validation accuracy, test accuracy, FLOPs)`` -- the test
  accuracy (not used by the search) draws the paper's Figure 2; the FLOPs
  are repeated so that both architecture systems keep them at ``per_task[2]``
  (Lamarckian NAS counts its ``cost`` in epochs).

Degenerate individuals (non-finite loss, more parameters than ``max_params``,
any shape or runtime error) get ``Evaluation(error=...)`` and keep no files.

Example:
    >>> import tempfile, pathlib
    >>> from evoforge.architectures.data import DataSpec
    >>> from evoforge.architectures.dna import linear_dna
    >>> from evoforge.evolution.space import Job
    >>> ev = DNAEvaluator(DataSpec("digits", n_train=300, n_val=100, n_test=50), steps=30)
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> r = ev.evaluate_job(Job(linear_dna(), out))
    >>> r.error is None, r.fitness > 0.5, sorted(p.name for p in out.iterdir())
    (True, True, ['weights.safetensors'])
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from evoforge.architectures import dna as dna_mod
from evoforge.architectures.data import DataSpec
from evoforge.architectures.dna import DNA
from evoforge.architectures.inheritance import (
    WEIGHTS_FILE,
    inherit_matching,
    parent_weights,
    save_weights,
)
from evoforge.architectures.model import DNANet, forward_flops, parameter_count
from evoforge.evolution.space import MIN_FITNESS, NO_BUDGET, Budget, Evaluation, Job
from evoforge.nn.data import ImageData
from evoforge.nn.train import evaluate


def job_seed(text: str, parent_ids: tuple[int, ...]) -> int:
    """A deterministic seed for one evaluation: the same genome from the same
    parents trains the same way on every backend."""
    return zlib.crc32(f"{text}|{parent_ids}".encode())


def train_steps(
    model: nn.Module,
    data: ImageData,
    steps: int,
    lr: float,
    *,
    batch_size: int = 50,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> str | None:
    """``steps`` SGD steps on shuffled passes over the training set; returns
    why training diverged (a non-finite loss), or None."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
    )
    model.train()
    n = data.x_train.shape[0]
    order = torch.randperm(n, generator=generator)
    cursor = 0
    for step in range(steps):
        if cursor + batch_size > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        idx = order[cursor : cursor + batch_size]
        cursor += batch_size
        loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        if not torch.isfinite(loss):
            return f"non-finite loss at step {step}"
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return None


@dataclass
class DNAEvaluator:
    """Scores Large-Scale Evolution DNAs; picklable (the data load lazily per process).

    ``inherit`` False is the paper's no-inheritance control: every child
    trains from fresh weights.
    """

    data: DataSpec
    steps: int = 25_600
    batch_size: int = 50
    momentum: float = 0.9
    weight_decay: float = 1e-4
    inherit: bool = True
    max_params: int = 5_000_000

    def evaluate(self, genome: DNA, budget: Budget = NO_BUDGET) -> Evaluation:
        """Train from fresh weights and score (no files kept)."""
        return self._run(genome, None, (), None, None)

    def evaluate_job(self, job: Job, budget: Budget = NO_BUDGET) -> Evaluation:
        parent = job.parents[0] if job.parents else None
        return self._run(job.genome, parent, job.parent_ids, job.mutation, job.output)

    def _run(self, genome, parent, parent_ids, mutation, output) -> Evaluation:  # type: ignore[no-untyped-def]
        # One intra-op thread: evaluations run side by side in worker processes.
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._train(genome, parent, parent_ids, mutation, output)
        finally:
            torch.set_num_threads(previous)

    def _train(self, genome, parent, parent_ids, mutation, output) -> Evaluation:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        data = self.data.load()
        in_shape, classes = data.in_shape, data.num_classes
        try:
            n_params = parameter_count(genome, in_shape, classes)
            if n_params > self.max_params:
                return self._error(f"{n_params:,} parameters > max_params {self.max_params:,}")
            flops = forward_flops(genome, in_shape, classes)
            seed = job_seed(dna_mod.to_text(genome), tuple(parent_ids))
            torch.manual_seed(seed)  # the fresh weights, not only the batch order
            model = DNANet(genome, in_shape, classes)
            weights = None
            if self.inherit and mutation != "reset_weights":
                weights = parent_weights(parent)
            if weights is not None:
                inherit_matching(model, weights)
            problem = train_steps(
                model,
                data,
                self.steps,
                genome.learning_rate,
                batch_size=self.batch_size,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
                seed=seed,
            )
            if problem is not None:
                return self._error(problem, started)
            val_acc, val_loss = evaluate(model, data.x_val, data.y_val)
            if not math.isfinite(val_loss):
                return self._error(f"non-finite validation loss {val_loss}", started)
            test_acc = math.nan
            if data.x_test is not None and data.y_test is not None:
                test_acc, _ = evaluate(model, data.x_test, data.y_test)
        except (RuntimeError, ValueError) as exc:  # shape errors, out of memory
            return self._error(f"{type(exc).__name__}: {exc}", started)
        if output is not None:
            save_weights(model, output / WEIGHTS_FILE)
        n_val = data.x_val.shape[0]
        cost = 3 * flops * self.steps * self.batch_size + flops * n_val
        return Evaluation(
            fitness=val_acc,
            per_task=(val_acc, test_acc, float(cost)),
            cost=cost,
            wall_time=time.perf_counter() - started,
        )

    @staticmethod
    def _error(message: str, started: float | None = None) -> Evaluation:
        wall = 0.0 if started is None else time.perf_counter() - started
        return Evaluation(fitness=MIN_FITNESS, error=message, wall_time=wall)
