"""Lamarckian NAS's evaluator: inherit by the rules, train e epochs with Adam, validate.

Each child starts from its parent's weights as `inherited_names` allows (all
fresh without inheritance, the paper's baselines), trains ``epochs`` epochs
with Adam (learning rate 1e-3, batch 512), and scores its validation
accuracy (§7.4). `final_training` is the last step of the paper's protocol:
the best checkpoint trained 30 more epochs (1e-3, then 1e-4 from epoch 10,
1e-5 from epoch 20) and measured on the test set.

What the store gets: ``fitness`` = validation accuracy; ``cost`` = epochs
trained (the paper's budget unit, so ``run.max_cost = 128`` is its 128-epoch
checkpoint); ``per_task`` = (validation accuracy, test accuracy, FLOPs), the
FLOPs being ``F_t·N_t·E + F_v·N_v`` with ``F_t = 3·F_v``.

Example:
    >>> import tempfile, pathlib
    >>> from evoforge.architectures.data import DataSpec
    >>> from evoforge.architectures.lamarckian.genome import Block, BlockGenome
    >>> from evoforge.evolution.space import Job
    >>> ev = BlockEvaluator(DataSpec("digits", n_train=300, n_val=100, n_test=50), epochs=2)
    >>> r = ev.evaluate_job(Job(BlockGenome((Block(0, 16, 3, 1),), 1),
    ...                         pathlib.Path(tempfile.mkdtemp())))
    >>> r.error is None, r.cost, r.per_task[2] > 0
    (True, 2, True)
"""

from __future__ import annotations

import json
import math
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from evoforge.architectures.data import DataSpec
from evoforge.architectures.inheritance import (
    WEIGHTS_FILE,
    inherit_matching,
    parent_weights,
    save_weights,
)
from evoforge.architectures.lamarckian.genome import BlockGenome, BlockSpace
from evoforge.architectures.lamarckian.inheritance import inherited_names
from evoforge.architectures.lamarckian.model import BlockNet, forward_flops
from evoforge.evolution.space import MIN_FITNESS, NO_BUDGET, Budget, Evaluation, Job
from evoforge.nn.data import ImageData
from evoforge.nn.train import TrainConfig, TrainResult, train

_SPACE = BlockSpace()


def search_config(epochs: int, batch_size: int = 512, lr: float = 1e-3) -> TrainConfig:
    """Training during the search: Adam, constant rate, ``epochs`` epochs."""
    return TrainConfig(
        optimizer="adam", lr=lr, batch_size=batch_size, epochs=epochs, schedule="constant",
        weight_decay=0.0, divergence_factor=None, val_every=0,
    )  # fmt: skip


def final_config(epochs: int = 30, batch_size: int = 512) -> TrainConfig:
    """The final training: Adam 1e-3, ×0.1 at one and two thirds (epochs 10 and 20 of 30)."""
    return TrainConfig(
        optimizer="adam", lr=1e-3, batch_size=batch_size, epochs=epochs, schedule="step",
        milestones=(1 / 3, 2 / 3), gamma=0.1, weight_decay=0.0, divergence_factor=None,
        val_every=0,
    )  # fmt: skip


@dataclass
class BlockEvaluator:
    """Scores block genomes; picklable (data load lazily per process).

    ``inherit`` False re-initialises every weight after each mutation (the
    paper's baselines with e = 4 and e = 16). ``max_flops`` bounds one
    example's forward FLOPs: a larger child gets an error, untrained, so that
    a CPU run's time stays bounded (the paper's only bound was its GPUs).
    """

    data: DataSpec
    epochs: int = 4
    batch_size: int = 512
    lr: float = 1e-3
    inherit: bool = True
    max_flops: int | None = None
    parent_genome_file: str = "genome.json"

    def evaluate(self, genome: BlockGenome, budget: Budget = NO_BUDGET) -> Evaluation:
        return self._run(genome, None, None, ())

    def evaluate_job(self, job: Job, budget: Budget = NO_BUDGET) -> Evaluation:
        parent = job.parents[0] if job.parents else None
        return self._run(job.genome, parent, job.output, job.parent_ids)

    def _run(self, genome, parent: Path | None, output: Path | None, parent_ids) -> Evaluation:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        data = self.data.load()
        flops = forward_flops(genome, data.in_shape, data.num_classes)
        if self.max_flops is not None and flops > self.max_flops:
            return Evaluation(
                MIN_FITNESS, error=f"{flops:,} forward FLOPs > max_flops {self.max_flops:,}"
            )
        seed = zlib.crc32(f"{_SPACE.to_text(genome)}|{tuple(parent_ids)}".encode())
        try:
            torch.manual_seed(seed)  # the fresh weights: the same child trains the same way
            model = BlockNet(genome, data.in_shape[0], data.num_classes)
            if self.inherit and parent is not None:
                weights = parent_weights(parent)
                genome_file = parent / self.parent_genome_file
                if weights is not None and genome_file.is_file():
                    parent_genome = _SPACE.from_json(json.loads(genome_file.read_text()))
                    inherit_matching(model, weights, inherited_names(parent_genome, genome))
            result = train(model, data, search_config(self.epochs, self.batch_size, self.lr), seed)
        except (RuntimeError, ValueError) as exc:
            return Evaluation(MIN_FITNESS, error=f"{type(exc).__name__}: {exc}")
        if result.diverged or not math.isfinite(result.val_loss):
            return Evaluation(MIN_FITNESS, error=result.divergence or "non-finite validation loss")
        if output is not None:
            save_weights(model, output / WEIGHTS_FILE)
            # The child needs its parent's architecture to apply the rules.
            (output / self.parent_genome_file).write_text(json.dumps(_SPACE.to_json(genome)))
        total = 3 * flops * data.x_train.shape[0] * self.epochs + flops * data.x_val.shape[0]
        test = math.nan if result.test_accuracy is None else result.test_accuracy
        return Evaluation(
            fitness=result.val_accuracy,
            per_task=(result.val_accuracy, test, float(total)),
            cost=self.epochs,
            wall_time=time.perf_counter() - started,
        )


def final_training(
    genome: BlockGenome,
    weights: dict[str, torch.Tensor] | None,
    data: ImageData,
    epochs: int = 30,
    seed: int = 0,
) -> tuple[BlockNet, TrainResult]:
    """Train a found architecture (from its evolved weights when given) with
    the final schedule; the result holds the test accuracy."""
    model = BlockNet(genome, data.in_shape[0], data.num_classes)
    if weights is not None:
        inherit_matching(model, weights)
    return model, train(model, data, final_config(epochs), seed)


def load_individual(directory: Path) -> tuple[BlockGenome, dict[str, torch.Tensor]]:
    """The genome and weights an evaluation left in an artefact directory."""
    genome = _SPACE.from_json(json.loads((directory / "genome.json").read_text()))
    weights = parent_weights(directory)
    if weights is None:
        raise FileNotFoundError(f"{directory / WEIGHTS_FILE}: missing")
    return genome, weights
