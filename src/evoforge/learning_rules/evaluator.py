"""Score a learning rule: train a fixed network with it for a short budget (§4, Appendix B).

The network (an `evoforge.nn.build_model` spec: an MLP, All-CNN-C, a ResNet
or Wide ResNet) is built with the same seed for every candidate, trained with
the rule by `evoforge.nn.train` (SGD with or without momentum, a configured
learning rate, stopping early when the loss diverges) and scored by its
validation accuracy. An equation that fails on this network (a shape that
does not fit a layer, an error in the backward pass) gets the minimum
fitness and its ``error``; a diverged one keeps the accuracy its final
weights reach (0 for non-finite weights), marked ``early_stopped``.

Example:
    >>> ev = RuleEvaluator({"name": "mlp", "hidden": [16, 16]},
    ...                    {"lr": 0.1, "epochs": 1, "batch_size": 50}, n_train=200, n_val=100)
    >>> e = ev.evaluate(preset("bp"))
    >>> 0.0 < e.fitness <= 1.0, e.error, e.cost
    (True, None, 4)
    >>> ev.evaluate(preset("left(W, g)")).error
    'ValueError: layer 1: the equation gives shape (10, 16), b_i^p needs (50, 16)'
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from evoforge.evolution.space import NO_BUDGET, Budget, EvalContext, Evaluation
from evoforge.learning_rules.backward import apply_rule
from evoforge.learning_rules.equation import Equation, preset
from evoforge.nn import TrainConfig, build_model, train
from evoforge.nn.data import LazyImageData

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


@dataclass(frozen=True)
class Rerun:
    """Test accuracies of one equation over several training seeds."""

    equation: str
    accuracies: tuple[float, ...]

    @property
    def mean(self) -> float:
        return sum(self.accuracies) / len(self.accuracies)

    @property
    def std(self) -> float:
        m, n = self.mean, len(self.accuracies)
        return math.sqrt(sum((a - m) ** 2 for a in self.accuracies) / max(n - 1, 1))


class RuleEvaluator(LazyImageData):
    """Trains ``model`` with a candidate rule and returns its validation accuracy.

    Args:
        model: an `evoforge.nn.build_model` spec.
        train: `evoforge.nn.TrainConfig` fields (optimiser, lr, momentum, epochs...).
        dataset, n_train, n_val, n_test, data_dir, data_seed: the data split
            (`evoforge.nn.load_image_data`).
        seed: seeds the weights, the batch order and the rule's random matrices.
        activation: "relu", "tanh" or "elu", used by the model and by the
            rule's activation operands.
    """

    def __init__(
        self,
        model: Mapping[str, Any],
        train: Mapping[str, Any],
        *,
        dataset: str = "digits",
        n_train: int | None = 1000,
        n_val: int = 300,
        n_test: int | None = None,
        data_dir: str | None = None,
        data_seed: int = 0,
        seed: int = 0,
        activation: str = "relu",
        device: str = "cpu",
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}")
        self.model = dict(model)
        self.train_config = TrainConfig.from_dict(dict(train))
        self.dataset, self.n_train, self.n_val, self.n_test = dataset, n_train, n_val, n_test
        self.data_dir, self.data_seed, self.seed = data_dir, data_seed, seed
        self.activation = activation
        self.device = device

    def bind(self, context: EvalContext) -> None:
        self.device = context.device

    def build(self, seed: int) -> nn.Module:
        """The fixed network, initialised from ``seed``."""
        return build_model(
            self.model,
            in_shape=self.data.in_shape,
            num_classes=self.data.num_classes,
            activation=ACTIVATIONS[self.activation],
            seed=seed,
        )

    def run(
        self, genome: Equation, seed: int | None = None, epochs: int | None = None
    ) -> tuple[Evaluation, float | None]:
        """Train once with ``genome``; the evaluation and the test accuracy."""
        seed = self.seed if seed is None else seed
        config = self.train_config
        if epochs is not None:
            config = TrainConfig.from_dict({**config.to_dict(), "epochs": epochs})
        started = time.perf_counter()
        try:
            net = self.build(seed)
            act = ACTIVATIONS[self.activation]()
            with apply_rule(net, genome, activation=act, seed=seed):
                result = train(net, self.data, config, seed=seed, device=self.device)
        except Exception as exc:  # a degenerate equation must not stop the run
            wall = time.perf_counter() - started
            error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            return Evaluation(0.0, error=error, wall_time=wall), None
        fitness = result.val_accuracy if math.isfinite(result.val_accuracy) else 0.0
        ev = Evaluation(
            fitness,
            per_task=(fitness,),
            cost=result.steps,
            fingerprint=self.fingerprint(genome),
            early_stopped=result.diverged,
            wall_time=result.wall_seconds,
        )
        return ev, result.test_accuracy

    def evaluate(self, genome: Equation, budget: Budget = NO_BUDGET) -> Evaluation:
        del budget  # one fixed training budget per candidate
        return self.run(genome)[0]

    def fingerprint(self, genome: Equation) -> int:
        """Equal equations train identically (seeded), so the text identifies the score."""
        digest = hashlib.sha256(str(genome).encode()).digest()
        return int.from_bytes(digest[:8], "big") >> 1

    def rerun(self, genome: Equation | str, repeats: int = 5, epochs: int | None = None) -> Rerun:
        """Test accuracy over ``repeats`` training seeds (seed, seed+1, ...), as
        the paper re-runs its top equations 5 times; failed runs count as 0.

        Example:
            >>> ev = RuleEvaluator({"name": "mlp", "hidden": [16]}, {"lr": 0.1, "epochs": 1},
            ...                    n_train=100, n_val=50)
            >>> r = ev.rerun("bp", repeats=2)
            >>> len(r.accuracies), 0.0 <= r.mean <= 1.0
            (2, True)
        """
        eq = preset(genome) if isinstance(genome, str) else genome
        accs = []
        for k in range(repeats):
            _, test = self.run(eq, seed=self.seed + k, epochs=epochs)
            accs.append(0.0 if test is None or not math.isfinite(test) else test)
        return Rerun(str(eq), tuple(accs))


def describe(genome: Equation) -> str:
    """A one-line summary for ``best.txt``."""
    operands = ", ".join(map(str, genome.operands()))
    return f"{len(genome.blocks)} binary function(s), operands {operands}"


def rerun_table(
    evaluator: RuleEvaluator, equations: Sequence[str], repeats: int = 5
) -> list[Rerun]:
    """`RuleEvaluator.rerun` for each equation, in order."""
    return [evaluator.rerun(e, repeats) for e in equations]
