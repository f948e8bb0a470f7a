"""Score an activation function by training a small network that uses it everywhere.

`ActivationEvaluator` builds the configured model (`evoforge.nn.build_model`)
with one `Activation` module per activation site, optionally re-initialises it
(``"autoinit"``, ``"autoinit++"``, ``"glorot"``, ``"he"``; ``"none"`` keeps
PyTorch's default),
trains it with `evoforge.nn.train` and returns an `Evaluation`:

* ``fitness``: validation accuracy (``fitness="accuracy"``), or
  ``LOSS_CEILING − min(val loss, LOSS_CEILING)`` (``fitness="loss"``). The
  latter is the negative validation loss shifted to be ≥ 0: softmax
  selection is shift invariant, and the engine's minimum fitness is 0;
* ``per_task``: ``(val accuracy, val loss)``; ``cost``: optimiser steps.

A candidate that diverges (non-finite or exploding loss), whose outputs are
not finite, or whose model cannot be built or initialised gets the minimum
fitness 0 with ``error`` set; nothing raises.

Everything is seeded: the data split by ``data_seed``, the initial weights
and the training order by ``seed``, so every candidate starts from the same
weights and the same genome always gets the same fitness (on the CPU). The
data are loaded lazily, once per process, and never pickled.

``fingerprint`` makes the engine's functional-equivalence cache (FEC) skip
candidates that compute the same function as one already trained: the FEC
then reuses the *first* equivalent candidate's training result (fitness,
per-task values; cost 0). The fingerprint is
`evoforge.activations.equivalence.fingerprint` of the function with its
parameters at their initial value 1, combined with the function at distinct
parameter values (0.5, 1.5, 2.5, ...) so that parametric families are told
apart from their parameter-free versions.

Example:
    >>> from evoforge.activations.formula import parse
    >>> ev = ActivationEvaluator(model={"name": "mlp", "hidden": [16]}, n_train=200, n_val=100,
    ...                          train={"epochs": 1, "batch_size": 50, "lr": 0.05})
    >>> result = ev.evaluate(parse("relu(x)"))
    >>> 0.0 < result.fitness <= 1.0, result.cost, result.error
    (True, 4, None)
    >>> ev.fingerprint(parse("relu(x)")) == ev.fingerprint(parse("max(x, zero(x))"))
    True
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from evoforge.activations import equivalence
from evoforge.activations.expr import Node
from evoforge.activations.graph import Graph, evaluate
from evoforge.activations.module import MODES, Activation
from evoforge.evolution.space import MIN_FITNESS, NO_BUDGET, Budget, Evaluation
from evoforge.nn import (
    ImageData,
    TrainConfig,
    TrainResult,
    build_model,
    glorot_uniform,
    he_normal,
    train,
)
from evoforge.nn.data import IMAGE_SHAPES, NUM_CLASSES, LazyImageData

INITS = ("none", "autoinit", "autoinit++", "glorot", "he")
FITNESS = ("accuracy", "loss")
LOSS_CEILING = 10.0
_PARAM_PROBES = (0.5, 1.5, 2.5, 3.5, 4.5)


def _autoinit(model: nn.Module, example: torch.Tensor) -> None:
    from evoforge.init import autoinit  # torch.fx tracing: imported only when used

    autoinit(model, example)


def _autoinit_centered(model: nn.Module, example: torch.Tensor) -> None:
    """AutoInit++: every activation also shifted to zero mean under its input."""
    from evoforge.init import autoinit

    autoinit(model, example, centered=True)


def init_hook(name: str) -> Callable[[nn.Module, torch.Tensor], Any] | None:
    """The model ``init`` hook for one of `INITS`.

    Example:
        >>> init_hook("none") is None, init_hook("he").__name__
        (True, 'he_normal')
    """
    hooks = {
        "none": None,
        "autoinit": _autoinit,
        "autoinit++": _autoinit_centered,
        "glorot": glorot_uniform,
        "he": he_normal,
    }
    if name not in hooks:
        raise ValueError(f"init: expected one of {', '.join(INITS)}, got {name!r}")
    return hooks[name]


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def param_fingerprint(genome: Graph | Node) -> int:
    """64-bit digest of the genome's outputs with parameters at 1 and at distinct other values.

    Equal for functionally equivalent parameter-free genomes (it is then exactly
    `equivalence.fingerprint`); differs between ``x * sigmoid(x)`` and
    ``alpha*x * sigmoid(x)``.

    Example:
        >>> from evoforge.activations.formula import parse
        >>> param_fingerprint(parse("x*sigmoid(x)")) == param_fingerprint(parse("swish(x)"))
        True
        >>> param_fingerprint(parse("swish(x)")) == param_fingerprint(parse("swish(alpha*x)"))
        False
    """
    base = equivalence.fingerprint(genome)
    k = genome.n_params
    if k == 0:
        return base
    x = torch.from_numpy(equivalence.SAMPLES.copy())
    scales = [torch.tensor(v, dtype=torch.float64) for v in _PARAM_PROBES[:k]]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = evaluate(genome, x, scales)
    values = np.broadcast_to(y.numpy().astype(np.float64), x.shape)
    probe = equivalence.signature_of_outputs(values)
    return base ^ int.from_bytes(probe[:8], "little") ^ k


class ActivationEvaluator(LazyImageData):
    """Trains ``model`` with the candidate activation; picklable, deterministic.

    Args:
        model: a `build_model` spec, e.g. ``{"name": "allcnnc", "width": 0.17}``.
        train: `TrainConfig` fields (a dict) or a `TrainConfig`.
        dataset, n_train, n_val, n_test, data_dir: the `load_image_data` split.
        data_seed: seeds the split; ``seed`` seeds weights, dropout and batch order.
        init: ``"none"``, ``"autoinit"``, ``"autoinit++"``, ``"glorot"`` or ``"he"``.
        param_mode: where learnable parameters live (see `Activation`).
        fitness: ``"accuracy"`` or ``"loss"`` (see the module docstring).
        device: torch device for training.
    """

    def __init__(
        self,
        model: Mapping[str, Any],
        train: Mapping[str, Any] | TrainConfig | None = None,
        *,
        dataset: str = "digits",
        n_train: int | None = 1000,
        n_val: int | float = 300,
        n_test: int | None = None,
        data_dir: str | None = None,
        data_seed: int = 0,
        seed: int = 0,
        init: str = "none",
        param_mode: str = "per_channel",
        fitness: str = "accuracy",
        device: str = "cpu",
    ) -> None:
        if param_mode not in MODES:
            raise ValueError(f"param_mode: expected one of {', '.join(MODES)}, got {param_mode!r}")
        if fitness not in FITNESS:
            raise ValueError(f"fitness: expected one of {', '.join(FITNESS)}, got {fitness!r}")
        init_hook(init)
        if dataset not in IMAGE_SHAPES:
            raise ValueError(f"dataset: expected one of {', '.join(IMAGE_SHAPES)}, got {dataset!r}")
        self.model = dict(model)
        self.train_config = train if isinstance(train, TrainConfig) else TrainConfig.from_dict(
            dict(train or {})
        )  # fmt: skip
        self.dataset = dataset
        self.n_train, self.n_val, self.n_test = n_train, n_val, n_test
        self.data_dir = data_dir
        self.data_seed = data_seed
        self.seed = seed
        self.init = init
        self.param_mode = param_mode
        self.fitness = fitness
        self.device = device

    @property
    def in_shape(self) -> tuple[int, ...]:
        return IMAGE_SHAPES[self.dataset]

    def build(self, genome: Graph | Node, seed: int | None = None) -> nn.Module:
        """The model with ``genome`` at every activation site, initialised (seeded)."""
        seed = self.seed if seed is None else seed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # AutoInit's approximation notes, overflow
            return build_model(
                self.model,
                in_shape=self.in_shape,
                num_classes=NUM_CLASSES[self.dataset],
                activation=lambda: Activation(genome, mode=self.param_mode),
                init=init_hook(self.init),
                seed=seed,
            )

    def train_genome(
        self,
        genome: Graph | Node,
        seed: int | None = None,
        config: TrainConfig | None = None,
        data: ImageData | None = None,
    ) -> TrainResult:
        """Build and train one model (``seed`` and ``config`` default to the evaluator's);
        raises on a model that cannot be built. Used for reranking and final tests."""
        return self.train_model(genome, seed, config, data)[1]

    def train_model(
        self,
        genome: Graph | Node,
        seed: int | None = None,
        config: TrainConfig | None = None,
        data: ImageData | None = None,
    ) -> tuple[nn.Module, TrainResult]:
        """`train_genome`, also returning the trained model (its `Activation`
        modules hold the learned parameter values)."""
        seed = self.seed if seed is None else seed
        with _one_thread():
            model = self.build(genome, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = train(
                    model,
                    data if data is not None else self.data,
                    config or self.train_config,
                    seed=seed,
                    device=self.device,
                )
        return model, result

    def score(self, result: TrainResult) -> float:
        """The fitness of a training result (0 for a diverged one)."""
        if result.diverged or not math.isfinite(result.val_loss):
            return MIN_FITNESS
        if self.fitness == "accuracy":
            return float(result.val_accuracy)
        return LOSS_CEILING - min(float(result.val_loss), LOSS_CEILING)

    def evaluate(self, genome: Graph | Node, budget: Budget = NO_BUDGET) -> Evaluation:
        try:
            result = self.train_genome(genome)
        except Exception as exc:  # a degenerate function must not stop the run
            return Evaluation(fitness=MIN_FITNESS, error=f"{type(exc).__name__}: {exc}")
        per_task = (float(result.val_accuracy), float(result.val_loss))
        error = result.divergence if result.diverged else None
        if error is None and not math.isfinite(result.val_loss):
            error = f"non-finite validation loss {result.val_loss}"
        fitness = self.score(result)
        return Evaluation(fitness=fitness, per_task=per_task, cost=result.steps, error=error)

    def fingerprint(self, genome: Graph | Node) -> int:
        """`param_fingerprint`: equal for functionally equivalent genomes."""
        return param_fingerprint(genome)
