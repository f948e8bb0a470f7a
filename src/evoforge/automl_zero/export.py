"""Export an evolved program as a standalone Python module (numpy only).

`export_module` writes the program's Setup, Predict and Learn as readable
numpy code, one line per instruction (with the evoforge text of the
instruction as a comment), inside a module that also has:

* ``Algorithm``: the memory (``s``, ``v``, ``m`` with evoforge's addresses)
  and the three component functions;
* ``fit(X, y, epochs=1, classify=False, seed=0, max_abs_error=100.0)`` and
  ``predict(algorithm, X)``: the training and validation loops of the
  reference semantics (resets of ``v0``/``s0``, the sigmoid applied in memory
  when classifying, the early stop before Learn on a NaN or too-large error);
* ``EvolvedRegressor`` and ``EvolvedClassifier``: scikit-learn style
  estimators (``get_params``/``set_params``, ``fit``, ``predict``, ``score``;
  the classifier also ``predict_proba``, ``decision_function`` and
  ``classes_``, with binary labels mapped to 0/1), usable in
  ``sklearn.model_selection.cross_val_score`` without the module importing
  scikit-learn.

Every op keeps the exact semantics of `evoforge.automl_zero.interpreter_numpy`
(left-to-right sums, libm functions, the min/max and heaviside rules), so a
program without random ops predicts exactly what evoforge computes when
trained on the same examples in the same order. Random ops draw from
``numpy.random.default_rng(seed)``, whose streams differ from evoforge's
generator: programs with random ops match evoforge only in distribution.
Later epochs visit the examples in a shuffled order of the module's own.

`load_estimator` builds the same estimator in memory, without writing a file.

Example:
    >>> import numpy as np
    >>> from evoforge.automl_zero.baselines import linear_sgd
    >>> from evoforge.automl_zero.export import load_estimator
    >>> from evoforge.automl_zero.program import Memory
    >>> sgd = linear_sgd(0.1)
    >>> model = load_estimator(sgd, Memory(4, 3, 1, features=2), "regressor")
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> y = X @ [1.5, -2.0]
    >>> bool(model.fit(X, y).score(X, y) > 0.99)
    True
"""

from __future__ import annotations

import math
import string
import types
from collections.abc import Mapping
from typing import Any

from evoforge.automl_zero.ops import MATRIX_CONST, OPS, VECTOR_CONST
from evoforge.automl_zero.program import COMPONENTS, Memory, Program, fraction_index
from evoforge.automl_zero.text import from_text, instruction_text
from evoforge.config import Section

ESTIMATORS = {"regressor": "EvolvedRegressor", "classifier": "EvolvedClassifier"}

# One statement per op id. Fields: {o} {a} {b} addresses, {d0} {d1} {d2}
# constants, {i} {j} element indices of ops 57/58.
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
    57: "v[{o}, {i}] = {d1}",
    58: "m[{o}, {i}, {j}] = {d2}",
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

Generated by evoforge; needs only numpy. Memory: $n_scalars scalars ``s``,
$n_vectors vectors ``v`` and $n_matrices matrices ``m`` over F = $features features.
``v0`` holds the features and ``s1`` the prediction; ``s0`` is 0 in Predict
and the label in Learn. Before every Predict and Learn, ``v0`` and ``s0`` are
set; nothing else is ever reset.

``fit`` runs Setup once, then Predict and Learn on every training example in
order (later epochs in a shuffled order). When classifying, the prediction is
replaced in memory by its sigmoid before Learn. Training stops, before Learn,
at the first example whose error |label - prediction| is NaN or above
``max_abs_error``. ``predict`` runs Predict alone on each example in order,
on a copy of the trained memory, so repeated calls give the same answer.

Random ops draw from ``numpy.random.default_rng(seed)``, not from evoforge's
generator: programs with random ops match evoforge only in distribution;
programs without them give exactly evoforge's predictions.

Example:
    >>> X = np.random.default_rng(0).normal(size=(50, F))
    >>> model = EvolvedRegressor().fit(X, X.sum(axis=1))
    >>> model.predict(X[:3]).shape
    (3,)
"""

import copy
import math

import numpy as np

F = $features
N_SCALARS = $n_scalars
N_VECTORS = $n_vectors
N_MATRICES = $n_matrices


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


def _sigmoid(x):
    """1 / (1 + exp(-x)) with libm's exp, as evoforge computes it."""
    return 1.0 / (1.0 + _libm(math.exp, -x, overflow=math.inf))


class Algorithm:
    """The memory and the evolved component functions."""

    def __init__(self, seed=0):
        self.s = np.zeros(N_SCALARS)
        self.v = np.zeros((N_VECTORS, F))
        self.m = np.zeros((N_MATRICES, F, F))
        self.rng = np.random.default_rng(seed)
        self.steps = 0  # training steps run, including one that stopped training
        self.stopped = False  # training stopped early on a NaN or too large error
        self.setup()

    def setup(self):
        s, v, m, rng = self.s, self.v, self.m, self.rng
        with np.errstate(all="ignore"):
$setup

    def predict(self, x):
        """Run Predict on one example and return s1."""
        s, v, m, rng = self.s, self.v, self.m, self.rng
        v[0] = x
        s[0] = 0.0
        with np.errstate(all="ignore"):
$predict
        return float(s[1])

    def learn(self, x, y):
        """Run Learn on one example with label y."""
        s, v, m, rng = self.s, self.v, self.m, self.rng
        v[0] = x
        s[0] = y
        with np.errstate(all="ignore"):
$learn


def _features(X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != F:
        raise ValueError(f"X: expected shape (n_samples, {F}), got {X.shape}")
    return X


def fit(X, y, epochs=1, *, classify=False, seed=0, max_abs_error=100.0):
    """Run Setup, then train on (X, y) for ``epochs`` epochs; returns the Algorithm.

    ``classify``: labels are 0/1 and each prediction is squashed by a sigmoid
    in memory before Learn. ``seed`` seeds the random ops and the order of
    epochs after the first.
    """
    X, y = _features(X), np.asarray(y, dtype=np.float64)
    if y.shape != (len(X),):
        raise ValueError(f"y: expected shape ({len(X)},), got {y.shape}")
    algorithm = Algorithm(seed)
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


def predict(algorithm, X):
    """s1 after Predict for each row of X in order (logits when classifying),
    computed on a copy of the trained memory."""
    state = copy.deepcopy(algorithm)
    return np.array([state.predict(x) for x in _features(X)], dtype=np.float64)


class _Estimator:
    """scikit-learn's estimator protocol, written out so that this module needs only numpy."""

    _PARAMS = ("epochs", "seed", "max_abs_error")

    def __init__(self, epochs=1, seed=0, max_abs_error=100.0):
        self.epochs = epochs
        self.seed = seed
        self.max_abs_error = max_abs_error

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params):
        for name, value in params.items():
            if name not in self._PARAMS:
                raise ValueError(f"{type(self).__name__}: unknown parameter {name!r}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{name}={value!r}" for name, value in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __sklearn_tags__(self):
        # Only scikit-learn (>= 1.6) asks for tags, so it can be imported here.
        from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags

        classifier = self._estimator_type == "classifier"
        return Tags(
            estimator_type=self._estimator_type,
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_class=False) if classifier else None,
            regressor_tags=None if classifier else RegressorTags(),
        )

    def _train(self, X, y, classify):
        self.algorithm_ = fit(X, y, self.epochs, classify=classify, seed=self.seed,
                              max_abs_error=self.max_abs_error)
        self.n_features_in_ = F
        return self


class EvolvedRegressor(_Estimator):
    """The evolved algorithm as a regressor: predictions are s1."""

    _estimator_type = "regressor"

    def fit(self, X, y):
        return self._train(X, y, classify=False)

    def predict(self, X):
        return predict(self.algorithm_, X)

    def score(self, X, y):
        """Coefficient of determination R^2."""
        y = np.asarray(y, dtype=np.float64)
        residual = float(np.sum((y - self.predict(X)) ** 2))
        total = float(np.sum((y - y.mean()) ** 2))
        if total == 0.0:
            return 1.0 if residual == 0.0 else 0.0
        return 1.0 - residual / total


class EvolvedClassifier(_Estimator):
    """The evolved algorithm as a binary classifier: s1 is the logit of ``classes_[1]``."""

    _estimator_type = "classifier"

    def fit(self, X, y):
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(f"y: expected two classes, got {len(self.classes_)}")
        return self._train(X, (y == self.classes_[1]).astype(np.float64), classify=True)

    def decision_function(self, X):
        return predict(self.algorithm_, X)

    def predict_proba(self, X):
        p = np.array([_sigmoid(logit) for logit in self.decision_function(X)])
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        # As evoforge scores accuracy: class 1 when sigmoid(s1) > 0.5, so a NaN
        # logit and a logit of exactly 0 both give class 0.
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    def score(self, X, y):
        """Accuracy."""
        return float(np.mean(self.predict(X) == np.asarray(y)))
''')


def _literal(value: float) -> str:
    """A Python expression for ``value``, exact for every double."""
    if math.isfinite(value):
        return repr(float(value))
    return "math.nan" if math.isnan(value) else ("math.inf" if value > 0 else "-math.inf")


def _statement(row: tuple, features: int) -> str:
    op, in1, in2, out, d0, d1, d2 = row
    fields = dict(o=out, a=in1, b=in2, d0=_literal(d0), d1=_literal(d1), d2=_literal(d2))
    if OPS[op].data in (VECTOR_CONST, MATRIX_CONST):
        fields["i"] = fraction_index(d0, features)
        fields["j"] = fraction_index(d1, features)
    code = _STATEMENTS[op].format(**fields)
    return f"{_INDENT}{code}  # {instruction_text(OPS[op], row, features)}"


def export_module(program: Program, memory: Memory) -> str:
    """Python source of a standalone module implementing ``program`` (see the
    module docstring for what it contains). Raises ``ValueError`` if
    ``program`` does not fit ``memory``.

    Example:
        >>> from evoforge.automl_zero.program import Memory
        >>> from evoforge.automl_zero.text import from_text
        >>> mem = Memory(4, 3, 1, features=4)
        >>> source = export_module(from_text("def Predict():\\n    s1 = dot(v0, v0)", mem), mem)
        >>> [line.strip() for line in source.splitlines() if "# s1 = dot" in line]
        ['s[1] = _total(v[0] * v[0])  # s1 = dot(v0, v0)']
    """
    program.validate(memory)
    bodies = {}
    for k, name in enumerate(COMPONENTS):
        lines = [_statement(row, memory.features) for row in program.rows(k)]
        bodies[name] = "\n".join(lines) if lines else f"{_INDENT}pass"
    return _MODULE.substitute(
        features=memory.features,
        n_scalars=memory.n_scalars,
        n_vectors=memory.n_vectors,
        n_matrices=memory.n_matrices,
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


def load_estimator(program_text: str, memory: Memory, kind: str = "regressor"):
    """An unfitted ``EvolvedRegressor`` or ``EvolvedClassifier`` (``kind``
    ``"regressor"`` or ``"classifier"``) for a program in evoforge's text form,
    built from `export_module`'s source without writing a file.

    The class lives in an unnamed in-memory module, so the estimator cannot be
    pickled (e.g. for ``n_jobs > 1``); write the module to a file for that.

    Example:
        >>> from evoforge.automl_zero.program import Memory
        >>> load_estimator("def Predict():\\n    s1 = mean(v0)", Memory(4, 3, 1, 4), "classifier")
        EvolvedClassifier(epochs=1, seed=0, max_abs_error=100.0)
    """
    if kind not in ESTIMATORS:
        raise ValueError(f"kind: expected one of {sorted(ESTIMATORS)}, got {kind!r}")
    source = export_module(from_text(program_text, memory), memory)
    module = types.ModuleType("evoforge_exported")
    exec(compile(source, "<evoforge exported program>", "exec"), module.__dict__)
    return getattr(module, ESTIMATORS[kind])()
