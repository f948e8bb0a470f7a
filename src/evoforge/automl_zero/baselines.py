"""Hand-designed programs in the AutoML-Zero search space.

These are the references that evolved programs are measured against, written
in the same text syntax as evolved programs (`evoforge.automl_zero.text`), so
they run in the same interpreter, are tuned by the same random search
(`evoforge.automl_zero.tune`) and are evaluated the same way:

* `linear_sgd`: the reference solution of the linear regression tasks (paper
  §4.1): ``s1 = dot(v0, v1)`` trained by SGD in four Learn instructions.
* `affine_sgd`: the same with a bias ``s4``, the reference of the affine
  regression tasks (§4.1, Figure 4).
* `logistic_regression`: logistic regression trained by SGD for binary
  classification (S8, S10). Predict writes the logit to ``s1``; the evaluator
  replaces ``s1`` by ``sigmoid(s1)`` in memory before Learn runs, so
  ``s0 - s1`` is ``label - p``, the negative gradient of the log-loss with
  respect to the logit. Its text is linear SGD plus a bias.
* `two_layer_nn`: a two-layer network (ReLU hidden layer of F units, no biases,
  like Figure 5) trained by back-propagation with SGD on the log-loss of the
  same in-memory sigmoid.

Each function returns program text; `BASELINES` holds, per name, the builder
and the memory sizes (scalars, vectors, matrices) the program needs, and
`baseline_program` parses one for a feature size. The learning rate and the
initialisation scale are op-56 constants and gaussian-op parameters, i.e.
exactly the constants that `evoforge.automl_zero.tune.tune_constants` scales.

Example:
    >>> from evoforge.automl_zero.baselines import linear_sgd
    >>> print(linear_sgd(0.1), end="")
    def Setup():
        s3 = 0.1
    def Predict():
        s1 = dot(v0, v1)
    def Learn():
        s2 = s0 - s1
        s2 = s2 * s3
        v2 = s2 * v0
        v1 = v1 + v2
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from evoforge.automl_zero.program import Memory, Program
from evoforge.automl_zero.text import from_text


def _check_rate(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}") from None
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return value


def linear_sgd(learning_rate: float = 0.05) -> str:
    """Program text of linear regression trained by SGD (needs s0-s3, v0-v2).

    Example:
        >>> linear_sgd(0.5).splitlines()[1]
        '    s3 = 0.5'
    """
    learning_rate = _check_rate("learning_rate", learning_rate)
    return f"""def Setup():
    s3 = {learning_rate!r}
def Predict():
    s1 = dot(v0, v1)
def Learn():
    s2 = s0 - s1
    s2 = s2 * s3
    v2 = s2 * v0
    v1 = v1 + v2
"""


def affine_sgd(learning_rate: float = 0.05) -> str:
    """Program text of affine regression ``s1 = dot(v0, v1) + s4`` trained by SGD
    (needs s0-s4, v0-v2; the bias ``s4`` starts at 0).

    Example:
        >>> affine_sgd(0.1).splitlines()[3:5]
        ['    s2 = dot(v0, v1)', '    s1 = s2 + s4']
    """
    learning_rate = _check_rate("learning_rate", learning_rate)
    return f"""def Setup():
    s3 = {learning_rate!r}
def Predict():
    s2 = dot(v0, v1)
    s1 = s2 + s4
def Learn():
    s2 = s0 - s1
    s2 = s2 * s3
    v2 = s2 * v0
    v1 = v1 + v2
    s4 = s4 + s2
"""


def logistic_regression(learning_rate: float = 0.01) -> str:
    """Program text of logistic regression with a bias, trained by SGD on the
    log-loss (needs s0-s4, v0-v2).

    Predict writes the logit; Learn sees the probability (the evaluator's
    in-memory sigmoid of binary classification tasks), so the update
    ``w += lr * (label - p) * x`` is the same text as `affine_sgd`.

    Example:
        >>> logistic_regression(0.01) == affine_sgd(0.01)
        True
    """
    return affine_sgd(learning_rate)


def two_layer_nn(learning_rate: float = 0.01, init_scale: float = 0.1) -> str:
    """Program text of a two-layer ReLU network for binary classification,
    trained by back-propagation with SGD (needs s0-s3, v0-v7, m0-m1).

    ``m1`` (F x F, first layer) and ``v4`` (second layer) start Gaussian with
    mean 0 and standard deviation ``init_scale``; ``v5`` is never written and
    stays zero, so ``maximum(v6, v5)`` is the ReLU. Learn back-propagates the
    log-loss gradient ``label - p`` (``p`` is the in-memory sigmoid of the
    logit): through the second layer and the ReLU into ``m1``, and into ``v4``.
    Both updates use the weights from before the step. The sizes are those of
    Figure 5's memory (4/8/2).

    Example:
        >>> text = two_layer_nn(0.05, 0.2)
        >>> text.splitlines()[1:4]
        ['    m1 = gaussian(0.0, 0.2)', '    v4 = gaussian(0.0, 0.2)', '    s3 = 0.05']
    """
    learning_rate = _check_rate("learning_rate", learning_rate)
    init_scale = _check_rate("init_scale", init_scale)
    return f"""def Setup():
    m1 = gaussian(0.0, {init_scale!r})
    v4 = gaussian(0.0, {init_scale!r})
    s3 = {learning_rate!r}
def Predict():
    v6 = dot(m1, v0)
    v7 = maximum(v6, v5)
    s1 = dot(v7, v4)
def Learn():
    s2 = s0 - s1
    s2 = s2 * s3
    v3 = heaviside(v6)
    v2 = v4 * v3
    v2 = s2 * v2
    v3 = s2 * v7
    v4 = v4 + v3
    m0 = outer(v2, v0)
    m1 = m1 + m0
"""


@dataclass(frozen=True)
class Baseline:
    """A hand-designed program: its text builder and the memory it needs."""

    name: str
    text: Callable[..., str]
    scalars: int
    vectors: int
    matrices: int
    eval_type: str

    def memory(self, features: int) -> Memory:
        """The smallest memory the program fits, for ``features`` features."""
        return Memory(self.scalars, self.vectors, self.matrices, features=features)


BASELINES: dict[str, Baseline] = {
    "linear_sgd": Baseline("linear_sgd", linear_sgd, 4, 3, 1, "rms"),
    "affine_sgd": Baseline("affine_sgd", affine_sgd, 5, 3, 1, "rms"),
    "logistic_regression": Baseline("logistic_regression", logistic_regression, 5, 3, 1,
                                    "accuracy"),
    "two_layer_nn": Baseline("two_layer_nn", two_layer_nn, 4, 8, 2, "accuracy"),
}  # fmt: skip


def baseline_program(name: str, features: int, **constants: float) -> tuple[Program, Memory]:
    """``(program, memory)`` of the baseline ``name`` for ``features`` features;
    ``constants`` are the builder's keyword arguments (learning rate, init scale).

    Example:
        >>> program, memory = baseline_program("two_layer_nn", 16, learning_rate=0.02)
        >>> program.sizes, (memory.n_scalars, memory.n_vectors, memory.n_matrices)
        ((3, 3, 9), (4, 8, 2))
        >>> baseline_program("svm", 16)
        Traceback (most recent call last):
        ...
        ValueError: baseline: expected one of ['linear_sgd', 'affine_sgd', 'logistic_regression', 'two_layer_nn'], got 'svm'
    """  # noqa: E501
    if name not in BASELINES:
        raise ValueError(f"baseline: expected one of {list(BASELINES)}, got {name!r}")
    baseline = BASELINES[name]
    memory = baseline.memory(features)
    return from_text(baseline.text(**constants), memory), memory
