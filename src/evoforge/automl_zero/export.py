"""Export an evolved program as a standalone Python module.

`export_module` writes the program's Setup, Predict and Learn as readable
numpy code, one line per instruction (with the evoforge text of the
instruction as a comment), inside a module that also has:

* ``Algorithm(features, seed)``: the memory (``s``, ``v``, ``m`` with
  evoforge's addresses) at any feature size F, and the three component
  functions. An evolved program's ops do not depend on F (the paper searches
  at F = 16 and evaluates at 3,072), so F comes from the data; the index
  constants of ``v[i] = c`` and ``m[i, j] = c`` move with F as in the reference.
* ``fit(X, y, epochs=1, classify=False, seed=0, max_abs_error=100.0)`` and
  ``predict(algorithm, X, carry=True)`` (numpy only): the training and
  validation loops of the reference semantics (resets of ``v0``/``s0``, the
  sigmoid applied in memory when classifying, the early stop before Learn on
  a NaN or too-large error);
* ``EvolvedRegressor`` and ``EvolvedClassifier``: scikit-learn estimators
  (they need scikit-learn) that pass ``sklearn.utils.estimator_checks.
  check_estimator``: validated input, ``n_features_in_``, ``NotFittedError``,
  ``classes_``, ``predict_proba``, ``decision_function``, ``score``;
  ``standardize`` (default on) scales features as evoforge's projected tasks
  are. ``TASK`` records what the run scored the program on (``task``), and
  the estimator of the other kind refuses it.

Checks ``check_estimator`` skips here, and why: ``check_array_api_input``
(only runs with ``SCIPY_ARRAY_API=1``; the estimators convert input to numpy)
and ``check_*_data_not_an_array`` (needs pandas, not installed here; lists
and read-only memmaps are checked). Both estimators carry the tag
``poor_score``: an evolved program need not learn scikit-learn's test
problems, so the checks' accuracy and R^2 thresholds are not asserted.

Every op keeps the exact semantics of `evoforge.automl_zero.interpreter_numpy`
(left-to-right sums, libm functions, the min/max and heaviside rules), so a
program without random ops predicts exactly what evoforge computes when
trained on the same examples in the same order (``predict(..., carry=True)``
and ``standardize=False``). Random ops draw from
``numpy.random.default_rng(seed)``, whose streams differ from evoforge's
generator: programs with random ops match evoforge only in distribution.
Later epochs visit the examples in a shuffled order of the module's own.

`load_estimator` builds the same estimator in memory, without writing a file.

Example:
    >>> import numpy as np
    >>> from evoforge.automl_zero.baselines import linear_sgd
    >>> from evoforge.automl_zero.export import load_estimator
    >>> from evoforge.automl_zero.program import Memory
    >>> model = load_estimator(linear_sgd(0.1), Memory(4, 3, 1, features=2), "regressor")
    >>> X = np.random.default_rng(0).normal(size=(200, 5))  # F = 5 at fit
    >>> y = X @ [1.5, -2.0, 0.5, 0.0, 1.0]
    >>> bool(model.fit(X, y).score(X, y) > 0.99), model.n_features_in_
    (True, 5)
"""

from __future__ import annotations

import hashlib
import math
import string
import sys
import types
from collections.abc import Mapping
from typing import Any

from evoforge.automl_zero.ops import OPS
from evoforge.automl_zero.program import COMPONENTS, Memory, Program
from evoforge.automl_zero.text import from_text, instruction_text
from evoforge.config import Section

ESTIMATORS = {"regressor": "EvolvedRegressor", "classifier": "EvolvedClassifier"}

# One statement per op id. Fields: {o} {a} {b} addresses, {d0} {d1} {d2}
# constants (ops 57/58 keep index fractions, so the element moves with F).
_STATEMENTS: dict[int, str] = {
    0: "pass",
    1: "s[{o}] = s[{a}] + s[{b}]",
    2: "s[{o}] = s[{a}] - s[{b}]",
    3: "s[{o}] = s[{a}] * s[{b}]",
    4: "s[{o}] = s[{a}] / s[{b}]",
    5: "s[{o}] = abs(s[{a}])",
    6: "s[{o}] = 1.0 / s[{a}]",
    7: "s[{o}] = _libm(math.sin, s[{a}])",
    8: "s[{o}] = _libm(math.cos, s[{a}])",
    9: "s[{o}] = _libm(math.tan, s[{a}])",
    10: "s[{o}] = _libm(math.asin, s[{a}])",
    11: "s[{o}] = _libm(math.acos, s[{a}])",
    12: "s[{o}] = _libm(math.atan, s[{a}])",
    13: "s[{o}] = _libm(math.exp, s[{a}], overflow=math.inf)",
    14: "s[{o}] = _log(s[{a}])",
    15: "s[{o}] = 1.0 if s[{a}] >= 0.0 else 0.0",
    16: "v[{o}] = np.where(v[{a}] > 0.0, 1.0, 0.0)",
    17: "m[{o}] = np.where(m[{a}] > 0.0, 1.0, 0.0)",
    18: "v[{o}] = s[{a}] * v[{b}]",
    19: "v[{o}] = s[{a}]",
    20: "v[{o}] = 1.0 / v[{a}]",
    21: "s[{o}] = math.sqrt(_total(v[{a}] * v[{a}]))",
    22: "v[{o}] = np.abs(v[{a}])",
    23: "v[{o}] = v[{a}] + v[{b}]",
    24: "v[{o}] = v[{a}] - v[{b}]",
    25: "v[{o}] = v[{a}] * v[{b}]",
    26: "v[{o}] = v[{a}] / v[{b}]",
    27: "s[{o}] = _total(v[{a}] * v[{b}])",
    28: "m[{o}] = np.outer(v[{a}], v[{b}])",
    29: "m[{o}] = s[{a}] * m[{b}]",
    30: "m[{o}] = 1.0 / m[{a}]",
    31: "v[{o}] = _matvec(m[{a}], v[{b}])",
    32: "m[{o}] = v[{a}][:, None]",
    33: "m[{o}] = v[{a}][None, :]",
    34: "s[{o}] = math.sqrt(_total(m[{a}] * m[{a}]))",
    35: "v[{o}] = [math.sqrt(_total(col * col)) for col in m[{a}].T]",
    36: "v[{o}] = [math.sqrt(_total(row * row)) for row in m[{a}]]",
    37: "m[{o}] = m[{a}].T.copy()",
    38: "m[{o}] = np.abs(m[{a}])",
    39: "m[{o}] = m[{a}] + m[{b}]",
    40: "m[{o}] = m[{a}] - m[{b}]",
    41: "m[{o}] = m[{a}] * m[{b}]",
    42: "m[{o}] = m[{a}] / m[{b}]",
    43: "m[{o}] = _matmul(m[{a}], m[{b}])",
    # Min/max: NaN and ties give the first operand for scalars and vectors,
    # the second for matrices.
    44: "s[{o}] = s[{b}] if s[{b}] < s[{a}] else s[{a}]",
    45: "v[{o}] = np.where(v[{b}] < v[{a}], v[{b}], v[{a}])",
    46: "m[{o}] = np.where(m[{a}] < m[{b}], m[{a}], m[{b}])",
    47: "s[{o}] = s[{b}] if s[{a}] < s[{b}] else s[{a}]",
    48: "v[{o}] = np.where(v[{a}] < v[{b}], v[{b}], v[{a}])",
    49: "m[{o}] = np.where(m[{a}] > m[{b}], m[{a}], m[{b}])",
    50: "s[{o}] = _total(v[{a}]) / F",
    51: "s[{o}] = _total(m[{a}]) / (F * F)",
    52: "v[{o}] = [_total(row) / F for row in m[{a}]]",
    53: "v[{o}] = [_std(row) for row in m[{a}]]",
    54: "s[{o}] = _std(v[{a}])",
    55: "s[{o}] = _std(m[{a}])",
    56: "s[{o}] = {d0}",
    57: "v[{o}, _index(F, {d0})] = {d1}",
    58: "m[{o}, _index(F, {d0}), _index(F, {d1})] = {d2}",
    59: "s[{o}] = _uniform(rng, {d0}, {d1})",
    60: "v[{o}] = _uniform(rng, {d0}, {d1}, F)",
    61: "m[{o}] = _uniform(rng, {d0}, {d1}, (F, F))",
    62: "s[{o}] = rng.normal({d0}, {d1})",
    63: "v[{o}] = rng.normal({d0}, {d1}, F)",
    64: "m[{o}] = rng.normal({d0}, {d1}, (F, F))",
}
assert sorted(_STATEMENTS) == [spec.id for spec in OPS]

_INDENT = " " * 12  # statements sit inside a method's ``with np.errstate(...)`` block

_MODULE = string.Template('''\
"""An AutoML-Zero algorithm evolved with evoforge, as standalone numpy code.

Generated by evoforge. ``Algorithm``, ``fit`` and ``predict`` need only numpy;
the scikit-learn estimators ``EvolvedRegressor`` and ``EvolvedClassifier``
also need scikit-learn. Memory: $n_scalars scalars ``s``, $n_vectors vectors ``v``
and $n_matrices matrices ``m``; the feature size F is taken from the data at
fit (the ops do not depend on it; evolution ran at F = $features). ``v0`` holds
the features and ``s1`` the prediction; ``s0`` is 0 in Predict and the label
in Learn. Before every Predict and Learn, ``v0`` and ``s0`` are set; nothing
else is ever reset.

``fit`` runs Setup once, then Predict and Learn on every training example in
order (later epochs in a shuffled order). When classifying, the prediction is
replaced in memory by its sigmoid before Learn. Training stops, before Learn,
at the first example whose error |label - prediction| is NaN or above
``max_abs_error``. ``predict`` runs Predict alone on each example in order,
on a copy of the trained memory, so repeated calls give the same answer.

Random ops draw from ``numpy.random.default_rng(seed)``, not from evoforge's
generator: programs with random ops match evoforge only in distribution;
programs without them give exactly evoforge's predictions.

The run that evolved this program scored it on $task_text tasks (``TASK``);
the estimator of the other kind refuses it.

Example:
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> algorithm = fit(X, X.sum(axis=1))
    >>> predict(algorithm, X[:3]).shape
    (3,)
"""

import copy
import math
import numbers
import warnings

import numpy as np

EVOLVED_FEATURES = $features
N_SCALARS = $n_scalars
N_VECTORS = $n_vectors
N_MATRICES = $n_matrices
# "regression", "classification", "multiclass", or None when unknown.
TASK = $task


def _total(x):
    """Left-to-right sum, the order evoforge uses (numpy's own sum is pairwise)."""
    acc = 0.0
    for value in np.ravel(x):
        acc += value
    return acc


def _libm(fn, x, overflow=math.nan):
    """A ``math`` function with IEEE results instead of exceptions."""
    try:
        return fn(x)
    except OverflowError:
        return overflow
    except ValueError:
        return math.nan


def _log(x):
    if x == 0.0:
        return -math.inf
    if x != x or x < 0.0:
        return math.nan
    return math.log(x)


def _std(x):
    """One-pass population standard deviation; NaN when rounding makes the variance negative."""
    mean = _total(x) / x.size
    return np.sqrt(_total(x * x) / x.size - mean * mean)


def _matvec(a, x):
    return np.array([_total(row * x) for row in a])


def _matmul(a, b):
    return np.array([[_total(row * col) for col in b.T] for row in a])


def _uniform(rng, low, high, shape=None):
    """Uniform draws as evoforge makes them, also when low > high."""
    return low + (high - low) * rng.random(shape)


def _index(F, fraction):
    """Element of a stored index fraction at feature size F (formed in float32,
    truncated), so constants move with F as in the reference."""
    return min(F - 1, int(np.float32(F) * np.float32(fraction)))


def _sigmoid(x):
    """1 / (1 + exp(-x)) with libm's exp, as evoforge computes it."""
    return 1.0 / (1.0 + _libm(math.exp, -x, overflow=math.inf))


class Algorithm:
    """The memory, for ``features`` features, and the evolved component functions."""

    def __init__(self, features, seed=0):
        self.F = int(features)
        self.s = np.zeros(N_SCALARS)
        self.v = np.zeros((N_VECTORS, self.F))
        self.m = np.zeros((N_MATRICES, self.F, self.F))
        self.rng = np.random.default_rng(seed)
        self.steps = 0  # training steps run, including one that stopped training
        self.stopped = False  # training stopped early on a NaN or too large error
        self.setup()

    def setup(self):
        s, v, m, rng, F = self.s, self.v, self.m, self.rng, self.F
        with np.errstate(all="ignore"):
$setup

    def predict(self, x):
        """Run Predict on one example and return s1."""
        s, v, m, rng, F = self.s, self.v, self.m, self.rng, self.F
        v[0] = x
        s[0] = 0.0
        with np.errstate(all="ignore"):
$predict
        return float(s[1])

    def learn(self, x, y):
        """Run Learn on one example with label y."""
        s, v, m, rng, F = self.s, self.v, self.m, self.rng, self.F
        v[0] = x
        s[0] = y
        with np.errstate(all="ignore"):
$learn


def _features(X, features=None):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] < 1 or (features is not None and X.shape[1] != features):
        want = "n_features >= 1" if features is None else features
        raise ValueError(f"X: expected shape (n_samples, {want}), got {X.shape}")
    return X


def fit(X, y, epochs=1, *, classify=False, seed=0, max_abs_error=100.0):
    """Run Setup at X's feature size, then train on (X, y) for ``epochs``
    epochs; returns the Algorithm.

    ``classify``: labels are 0/1 and each prediction is squashed by a sigmoid
    in memory before Learn. ``seed`` seeds the random ops and the order of
    epochs after the first.
    """
    X, y = _features(X), np.asarray(y, dtype=np.float64)
    if y.shape != (len(X),):
        raise ValueError(f"y: expected shape ({len(X)},), got {y.shape}")
    algorithm = Algorithm(X.shape[1], seed)
    order_rng = np.random.default_rng([seed, 1])  # independent of the program's draws
    for epoch in range(epochs):
        order = np.arange(len(X)) if epoch == 0 else order_rng.permutation(len(X))
        for i in order:
            prediction = algorithm.predict(X[i])
            if classify:
                prediction = algorithm.s[1] = _sigmoid(prediction)
            algorithm.steps += 1
            if not abs(y[i] - prediction) <= max_abs_error:
                algorithm.stopped = True
                return algorithm
            algorithm.learn(X[i], y[i])
    return algorithm


def predict(algorithm, X, carry=True):
    """s1 after Predict for each row of X (logits when classifying), computed
    on a copy of the trained memory.

    ``carry=True`` runs the rows in order with the memory carried from one
    Predict to the next, as evoforge's validation does; ``carry=False`` starts
    every row from the trained memory, so a row's prediction does not depend
    on the other rows (the two differ only for programs whose Predict writes
    memory that it later reads).
    """
    X = _features(X, algorithm.F)
    state = copy.deepcopy(algorithm)
    if carry:
        return np.array([state.predict(x) for x in X], dtype=np.float64)
    rng_state = algorithm.rng.bit_generator.state
    out = np.empty(len(X))
    for i, x in enumerate(X):
        state.s[:], state.v[:], state.m[:] = algorithm.s, algorithm.v, algorithm.m
        state.rng.bit_generator.state = rng_state
        out[i] = state.predict(x)
    return out


try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted
except ImportError as error:  # fit() and predict() above still work
    _NO_SKLEARN = error

    class BaseEstimator:
        pass

    class ClassifierMixin:
        pass

    class RegressorMixin:
        pass

else:
    _NO_SKLEARN = None
    try:
        from sklearn.utils.validation import validate_data as _validate_data
    except ImportError:  # scikit-learn < 1.6

        def _validate_data(estimator, *args, **kwargs):
            return estimator._validate_data(*args, **kwargs)


class _Evolved(BaseEstimator):
    """The program as a scikit-learn estimator; see EvolvedRegressor and EvolvedClassifier.

    Parameters: ``epochs`` (passes over the training data; later ones in a
    shuffled order), ``random_state`` (seeds the random ops and the epoch
    order; int, None or a RandomState), ``max_abs_error`` (training stops at
    the first example whose error is NaN or larger, as in evoforge; a
    ``ConvergenceWarning`` says so), ``standardize`` (centre and scale every
    feature with the training data's mean and standard deviation before the
    program sees it, as evoforge's projected tasks are; constant features are
    only centred).

    Fitted attributes: ``n_features_in_`` (F, taken from X at fit: the ops do not
    depend on it), ``mean_`` and ``scale_`` (identity when not standardizing),
    ``algorithm_`` (the trained memory), ``n_steps_`` (training steps run) and
    ``stopped_`` (training stopped early).

    ``sklearn.utils.estimator_checks.check_estimator`` passes. It skips two
    checks for reasons outside the estimator: ``check_array_api_input`` (runs
    only with the environment variable ``SCIPY_ARRAY_API=1``; input is
    converted to numpy) and ``check_*_data_not_an_array`` (needs pandas). The
    tag ``poor_score`` is set: an evolved program need not learn the checks'
    test problems, so their accuracy and R^2 thresholds are not asserted.
    """

    def __init__(
        self, epochs=1, random_state=0, max_abs_error=100.0, standardize=True, carry_memory=False
    ):
        self.epochs = epochs
        self.random_state = random_state
        self.max_abs_error = max_abs_error
        self.standardize = standardize
        self.carry_memory = carry_memory


    def _check_task(self):
        if _NO_SKLEARN is not None:
            raise ImportError("the estimators need scikit-learn") from _NO_SKLEARN
        if TASK == "multiclass":
            raise ValueError(
                "this program was evolved on multiclass tasks (vector logits in v1); "
                "the exported estimators run scalar programs only"
            )
        if TASK is not None and TASK != self._task:
            other = "EvolvedClassifier" if TASK == "classification" else "EvolvedRegressor"
            raise ValueError(
                f"this program was evolved on {TASK} tasks; {type(self).__name__} would "
                f"use it for {self._task}: use {other}"
            )
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, numbers.Integral):
            raise TypeError(f"epochs: expected an integer >= 1, got {self.epochs!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs: expected an integer >= 1, got {self.epochs!r}")
        if not self.max_abs_error > 0:
            raise ValueError(f"max_abs_error: expected a number > 0, got {self.max_abs_error!r}")

    def _seed(self):
        if isinstance(self.random_state, numbers.Integral) and not isinstance(
            self.random_state, bool
        ):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    def _train(self, X, y, classify):
        if self.standardize:
            self.mean_ = X.mean(axis=0)
            scale = X.std(axis=0)
            self.scale_ = np.where(scale > 0.0, scale, 1.0)
        else:
            self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        self.algorithm_ = fit(
            (X - self.mean_) / self.scale_, y, self.epochs, classify=classify,
            seed=self._seed(), max_abs_error=self.max_abs_error,
        )  # fmt: skip
        self.n_steps_ = self.algorithm_.steps
        self.stopped_ = self.algorithm_.stopped
        if self.stopped_:
            warnings.warn(
                f"training stopped at step {self.n_steps_} of {self.epochs * len(X)}: the "
                f"error was NaN or above max_abs_error={self.max_abs_error} (as in evoforge); "
                "predictions use the memory at that step",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _outputs(self, X):
        """s1 after Predict for each row of X (validated like the training data)."""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype=np.float64)
        return predict(self.algorithm_, (X - self.mean_) / self.scale_, carry=self.carry_memory)


class EvolvedRegressor(RegressorMixin, _Evolved):
    """The evolved algorithm as a regressor: predictions are s1.

    Follows scikit-learn's conventions (passes ``check_estimator``): X and y are
    validated (finite, 2-D, dense, real), F is taken from X, ``predict`` before
    ``fit`` raises ``NotFittedError``, ``score`` is R^2. Predictions may be
    NaN or infinite after a ``ConvergenceWarning`` (training stopped). Refuses a
    program evolved on classification tasks (``TASK``).
    """

    _task = "regression"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # An evolved program need not learn scikit-learn's test problems (Figure 5's
        # rate of 4.1 diverges on them), so check_estimator does not hold it to an
        # R^2 threshold; every conformance check still runs.
        tags.regressor_tags.poor_score = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"poor_score": True}

    def fit(self, X, y):
        self._check_task()
        X, y = _validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        return self._train(X, y, classify=False)

    def predict(self, X):
        return self._outputs(X)


class EvolvedClassifier(ClassifierMixin, _Evolved):
    """The evolved algorithm as a binary classifier: s1 is the logit of ``classes_[1]``.

    Follows scikit-learn's conventions (passes ``check_estimator``): X and y are
    validated, ``classes_`` holds the two labels (any type) and training sees
    0/1; ``predict_proba`` is (1 - p, p) with p = sigmoid(s1),
    ``decision_function`` the logit, ``score`` the accuracy. As evoforge
    scores it, class 1 needs p > 0.5: a logit of 0 and a NaN logit (training
    stopped) give class 0, and a NaN logit gives p = 0. Refuses more than two
    classes, continuous targets and a program evolved on regression tasks
    (``TASK``). Declares the tag ``multi_class=False``, so ``check_estimator``
    runs its classifier checks on two classes.
    """

    _task = "classification"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.poor_score = True  # as for EvolvedRegressor
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"binary_only": True, "poor_score": True}

    def fit(self, X, y):
        self._check_task()
        X, y = _validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        target = type_of_target(y, input_name="y")
        if target != "binary":
            raise ValueError(
                f"Only binary classification is supported. The type of the target is {target}."
            )
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError("y: a binary classifier needs samples of 2 classes, got 1 class")
        return self._train(X, (y == self.classes_[1]).astype(np.float64), classify=True)

    def decision_function(self, X):
        return self._outputs(X)

    def predict_proba(self, X):
        with np.errstate(all="ignore"):
            p = np.array([_sigmoid(logit) for logit in self.decision_function(X)])
        p = np.where(np.isnan(p), 0.0, p)  # scored as class 0, as evoforge does
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        # As evoforge scores accuracy: class 1 when sigmoid(s1) > 0.5.
        positive = self.predict_proba(X)[:, 1] > 0.5
        return self.classes_[positive.astype(int)]
''')


def _literal(value: float) -> str:
    """A Python expression for ``value``, exact for every double."""
    if math.isfinite(value):
        return repr(float(value))
    return "math.nan" if math.isnan(value) else ("math.inf" if value > 0 else "-math.inf")


def _statement(row: tuple, features: int) -> str:
    op, in1, in2, out, d0, d1, d2 = row
    fields = dict(o=out, a=in1, b=in2, d0=_literal(d0), d1=_literal(d1), d2=_literal(d2))
    code = _STATEMENTS[op].format(**fields)
    return f"{_INDENT}{code}  # {instruction_text(OPS[op], row, features)}"


# The kind of task a run scored its programs on, by search_tasks.type.
TASKS = {
    "linear": "regression",
    "affine": "regression",
    "teacher": "regression",
    "projected_binary": "classification",
    "projected_multiclass": "multiclass",
}
_TASK_TEXT = {
    None: "unrecorded",
    "regression": "regression (RMS error)",
    "classification": "binary classification (accuracy)",
    "multiclass": "multiclass",
}


def export_module(program: Program, memory: Memory, task: str | None = None) -> str:
    """Python source of a standalone module implementing ``program`` (see the
    module docstring for what it contains). ``task`` (``"regression"``,
    ``"classification"``, ``"multiclass"`` or None) is what the program was
    evolved on: the module records it as ``TASK`` and its estimator of the
    other kind refuses the program. Raises ``ValueError`` if ``program`` does
    not fit ``memory`` or ``task`` is unknown. ``memory.features`` is only
    recorded: the module takes F from the data.

    Example:
        >>> from evoforge.automl_zero.program import Memory
        >>> from evoforge.automl_zero.text import from_text
        >>> mem = Memory(4, 3, 1, features=4)
        >>> source = export_module(from_text("def Predict():\\n    s1 = dot(v0, v0)", mem), mem)
        >>> [line.strip() for line in source.splitlines() if "# s1 = dot" in line]
        ['s[1] = _total(v[0] * v[0])  # s1 = dot(v0, v0)']
    """
    program.validate(memory)
    if task not in _TASK_TEXT:
        raise ValueError(f"task: expected one of {sorted(TASKS.values())} or None, got {task!r}")
    bodies = {}
    for k, name in enumerate(COMPONENTS):
        lines = [_statement(row, memory.features) for row in program.rows(k)]
        bodies[name] = "\n".join(lines) if lines else f"{_INDENT}pass"
    return _MODULE.substitute(
        features=memory.features,
        n_scalars=memory.n_scalars,
        n_vectors=memory.n_vectors,
        n_matrices=memory.n_matrices,
        task=repr(task),
        task_text=_TASK_TEXT[task],
        **bodies,
    )


def config_memory(table: Mapping[str, Any], path: str = "automl_zero") -> Memory:
    """The memory of a run from its resolved ``[automl_zero]`` config table:
    address counts from ``memory``, F from ``search_tasks.features``.

    Raises `evoforge.config.ConfigError` naming a missing or invalid field.

    Example:
        >>> config_memory({"memory": {"scalars": 5, "vectors": 3, "matrices": 1},
        ...                "search_tasks": {"type": "linear", "features": 4}})
        Memory(n_scalars=5, n_vectors=3, n_matrices=1, features=4)
    """
    section = Section(table, path)
    memory = section.get_section("memory")
    features = section.get_section("search_tasks").get_int("features", min=1)
    return Memory(
        n_scalars=memory.get_int("scalars", min=2),
        n_vectors=memory.get_int("vectors", min=1),
        n_matrices=memory.get_int("matrices", min=1),
        features=features,
    )


def config_task(table: Mapping[str, Any], path: str = "automl_zero") -> str:
    """The kind of task (a `TASKS` value) a run's ``[automl_zero]`` table scored
    its programs on, from ``search_tasks.type``.

    Example:
        >>> config_task({"search_tasks": {"type": "projected_binary"}})
        'classification'
    """
    kind = Section(table, path).get_section("search_tasks").get_str("type", choices=tuple(TASKS))
    return TASKS[kind]


def load_estimator(
    program_text: str,
    memory: Memory,
    kind: str = "regressor",
    task: str | None = None,
    **params: Any,
):
    """An unfitted ``EvolvedRegressor`` or ``EvolvedClassifier`` (``kind``
    ``"regressor"`` or ``"classifier"``) for a program in evoforge's text form,
    built from `export_module`'s source without writing a file; ``params`` are
    the estimator's (``epochs``, ``random_state``, ``max_abs_error``,
    ``standardize``). ``memory`` gives the address counts; F comes from the
    data at ``fit``. ``task``, when known, is what the program was evolved on
    (see `export_module`): a ``kind`` that does not match it is refused here.

    The module is registered in ``sys.modules`` under a name derived from its
    source, so the estimator pickles within this process (``clone``, joblib
    with threads); for worker processes (``n_jobs > 1``) write the module to a
    file and import it.

    Example:
        >>> from evoforge.automl_zero.program import Memory
        >>> load_estimator("def Predict():\\n    s1 = mean(v0)", Memory(4, 3, 1, 4), "classifier")
        EvolvedClassifier()
        >>> load_estimator("def Predict():\\n    s1 = mean(v0)", Memory(4, 3, 1, 4), "classifier",
        ...                task="regression")
        Traceback (most recent call last):
        ...
        ValueError: kind: the program was evolved on regression tasks; use kind='regressor'
    """
    if kind not in ESTIMATORS:
        raise ValueError(f"kind: expected one of {sorted(ESTIMATORS)}, got {kind!r}")
    kinds = {"regression": "regressor", "classification": "classifier"}
    if task is not None and kinds.get(task) != kind:
        hint = f"use kind={kinds[task]!r}" if task in kinds else "no exported estimator runs it"
        raise ValueError(f"kind: the program was evolved on {task} tasks; {hint}")
    source = export_module(from_text(program_text, memory), memory, task)
    name = "evoforge_exported_" + hashlib.sha256(source.encode()).hexdigest()[:16]
    module = sys.modules.get(name)
    if module is None:
        module = types.ModuleType(name)
        exec(compile(source, f"<evoforge exported program {name}>", "exec"), module.__dict__)
        sys.modules[name] = module
    return getattr(module, ESTIMATORS[kind])(**params)
