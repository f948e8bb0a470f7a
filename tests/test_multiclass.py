"""Multiclass classification tasks: records, data, interpreter semantics, config.

Semantics under test (see `evoforge.automl_zero.interpreter_numpy`): Predict
writes logits to v1[0:K]; v2 (the label) and s0 are zeroed before every
Predict; after a training Predict, v1[0:K] is replaced by its softmax; Learn
sees the one-hot label in v2 and s0 = 0; validation scores the argmax of the
raw logits.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from evoforge.automl_zero import interpreter_numba, interpreter_numpy
from evoforge.automl_zero.interpreter_numpy import predicted_class, softmax
from evoforge.automl_zero.program import Memory
from evoforge.automl_zero.text import from_text
from evoforge.config import ConfigError, load_config
from evoforge.data.projected import projected_multiclass_tasks
from evoforge.data.tasks import Task, TaskSet
from evoforge.domains import build_domain

INTERPRETERS = [
    pytest.param(interpreter_numpy, id="numpy"),
    pytest.param(interpreter_numba, id="numba"),
]
CONFIG = Path(__file__).parent.parent / "configs" / "automl_zero" / "multiclass_digits.toml"
NAN, INF = math.nan, math.inf

# Multinomial logistic regression trained by SGD on the softmax cross-entropy.
LOGISTIC = """
def Setup():
    s3 = 0.03
def Predict():
    v1 = dot(m1, v0)
def Learn():
    v3 = v2 - v1
    v3 = s3 * v3
    m2 = outer(v3, v0)
    m1 = m1 + m2
"""


def tiny_tasks(train_y, valid_y, n_classes=3, features=4, epochs=1) -> TaskSet:
    rng = np.random.default_rng(0)
    n, m = len(train_y), len(valid_y)
    orders = np.stack([np.arange(n), *(rng.permutation(n) for _ in range(epochs - 1))])
    return TaskSet(
        train_x=rng.normal(size=(1, n, features)),
        train_y=np.array([train_y], dtype=np.float64),
        valid_x=rng.normal(size=(1, m, features)),
        valid_y=np.array([valid_y], dtype=np.float64),
        orders=orders[None],
        seeds=np.array([1], dtype=np.uint64),
        eval_type="multiclass",
        names=("tiny",),
        n_classes=n_classes,
    )


def vector_text(address: int, values: list[float]) -> str:
    return "\n".join(f"    v{address}[{i}] = {x}" for i, x in enumerate(values))


# ---------------------------------------------------------------------------
# Normalize and argmax


def test_softmax_is_stable_and_exact_on_hand_values() -> None:
    assert softmax(np.array([0.0, 0.0])).tolist() == [0.5, 0.5]
    e = math.exp(-1.0)
    np.testing.assert_allclose(softmax(np.array([1.0, 2.0])), [e / (1 + e), 1 / (1 + e)])
    # The maximum is subtracted first: huge logits do not overflow.
    np.testing.assert_allclose(softmax(np.array([1000.0, 999.0])), [1 / (1 + e), e / (1 + e)])
    assert softmax(np.array([3.0, -INF])).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("logits", [[NAN, 1.0], [1.0, NAN], [INF, 1.0], [-INF, -INF]])
def test_softmax_of_nan_or_infinite_logits_is_nan(logits) -> None:
    assert np.isnan(softmax(np.array(logits))).all()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.1, 0.7, 0.2], 1),
        ([2.0, 5.0, 5.0], 1),  # ties: the lowest index
        ([NAN, -3.0, -4.0], 1),  # NaN never wins
        ([1.0, NAN, 0.5], 0),
        ([NAN, NAN], 0),  # all NaN: class 0
        ([-INF, -INF, -1.0], 2),
        ([INF, INF], 0),
    ],
)
def test_predicted_class(values, expected) -> None:
    assert predicted_class(np.array(values)) == expected


# ---------------------------------------------------------------------------
# The training / validation loop

# Setup: v3 = [1, 3, 2, 7] (entry 3 lies beyond K = 3, so it must never win).
# Predict: logits = v3 + v4 - 100 * (v2 as Predict sees it), so a visible label
# would sink its class. Learn: v4 = 10 * one-hot, so each training prediction
# after the first is the previous example's label, and validation predicts
# the last training label. Learn also copies what it sees into v6, v7 and s3.
PROBE = f"""
def Setup():
{vector_text(3, [1.0, 3.0, 2.0, 7.0])}
    s4 = -100.0
    s5 = 10.0
    s2 = 1.0
def Predict():
    v1 = v3 + v4
    v5 = s4 * v2
    v1 = v1 + v5
def Learn():
    v4 = s5 * v2
    v6 = s2 * v1
    v7 = s2 * v2
    s3 = s3 + s0
"""
TRAIN_Y = [2, 0, 0, 1, 2]
VALID_Y = [2, 2, 1, 0]
MEMORY = Memory(6, 8, 1, features=4)


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_labels_are_hidden_from_predict_and_one_hot_in_learn(interpreter) -> None:
    tasks = tiny_tasks(TRAIN_Y, VALID_Y)
    result = interpreter.run_tasks(from_text(PROBE, MEMORY), MEMORY, tasks, record=True)
    # Training: class 1 (argmax of [1, 3, 2], not the 7 at index 3), then the previous label.
    assert result.predictions[0, :5].tolist() == [1, 2, 0, 0, 1]
    # Validation: the last training label, 2, for every example.
    assert result.predictions[0, 5:].tolist() == [2, 2, 2, 2]
    assert result.fitness.tolist() == [0.5]
    assert result.steps.tolist() == [5]


def test_learn_sees_probabilities_one_hot_and_zero_s0() -> None:
    # Final memory is only observable through the kernel's banks.
    tasks = tiny_tasks(TRAIN_Y, VALID_Y)
    program = from_text(PROBE, MEMORY)
    s, v, m = np.zeros(6), np.zeros((8, 4)), np.zeros((1, 4, 4))
    fitness, steps = np.zeros(1), np.zeros(1, dtype=np.int64)
    interpreter_numba.kernel_for(4, multiclass=True)(
        program.code, program.data, *program.sizes, s, v, m, tasks.train_x, tasks.train_y,
        tasks.valid_x, tasks.valid_y, tasks.orders, tasks.seeds, 0, 1,
        *interpreter_numba.eval_arguments(tasks), 100.0, fitness, steps, np.empty((0, 0)),
    )  # fmt: skip
    # The last Learn saw the softmax of [1, 3, 2] + 10 * onehot(1) and, untouched, 7.
    logits = np.array([1.0, 13.0, 2.0])
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(v[6], [*probabilities, 7.0], rtol=1e-15)
    assert v[7].tolist() == [0.0, 0.0, 1.0, 0.0]  # one-hot of the last label, 2
    assert s[3] == 0.0
    # After the last validation Predict: raw logits (no softmax), v2 zeroed.
    assert v[1].tolist() == [1.0, 3.0, 12.0, 7.0]
    assert v[2].tolist() == [0.0] * 4


@pytest.mark.parametrize("interpreter", INTERPRETERS)
@pytest.mark.parametrize("value", ["s2 / s2", "1 / s2"])  # NaN, +inf
def test_nan_or_infinite_logits_stop_training(interpreter, value) -> None:
    program = from_text(
        f"def Setup():\n    s2 = 0.0\ndef Predict():\n    s3 = {value}\n    v1 = bcast(s3)",
        MEMORY,
    )
    result = interpreter.run_tasks(program, MEMORY, tiny_tasks(TRAIN_Y, VALID_Y), record=True)
    assert result.fitness.tolist() == [0.0] and result.steps.tolist() == [1]


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_stopping_rule_checks_every_class(interpreter) -> None:
    # Uniform probabilities: |1 - 1/3| = 0.67 for the labelled class.
    uniform = from_text("def Predict():\n    v1 = v3 + v3", MEMORY)
    tasks = tiny_tasks(TRAIN_Y, VALID_Y)
    assert interpreter.run_tasks(uniform, MEMORY, tasks, max_abs_error=0.7).steps.tolist() == [5]
    stopped = interpreter.run_tasks(uniform, MEMORY, tasks, max_abs_error=0.6)
    assert stopped.steps.tolist() == [1] and stopped.fitness.tolist() == [0.0]


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_multiclass_needs_three_vectors(interpreter) -> None:
    memory = Memory(4, 2, 1, features=4)
    with pytest.raises(ValueError, match="3 vectors"):
        interpreter.run_tasks(from_text("def Setup():", memory), memory, tiny_tasks([0], [1]))


def test_kernel_refuses_a_mismatched_eval_code() -> None:
    tasks = tiny_tasks([0], [1])
    program = from_text("def Setup():", MEMORY)
    args = (program.code, program.data, *program.sizes, np.zeros(6), np.zeros((8, 4)),
            np.zeros((1, 4, 4)), tasks.train_x, tasks.train_y, tasks.valid_x, tasks.valid_y,
            tasks.orders, tasks.seeds, 0, 1)  # fmt: skip
    outputs = (100.0, np.zeros(1), np.zeros(1, dtype=np.int64), np.empty((0, 0)))
    with pytest.raises(ValueError, match="multiclass"):
        interpreter_numba.kernel_for(4)(*args, 2, 3, *outputs)
    with pytest.raises(ValueError, match="n_classes"):
        interpreter_numba.kernel_for(4, multiclass=True)(*args, 2, 5, *outputs)


# ---------------------------------------------------------------------------
# Learning


def test_logistic_regression_learns_ten_digit_classes() -> None:
    tasks = projected_multiclass_tasks(n_tasks=2, n_train=800, n_valid=400, seed=3)
    memory = Memory(4, 4, 3, features=16)
    result = interpreter_numba.run_tasks(from_text(LOGISTIC, memory), memory, tasks)
    assert result.fitness.min() > 0.6  # chance is about 0.1


def test_logistic_regression_is_bit_for_bit() -> None:
    tasks = projected_multiclass_tasks(n_tasks=1, n_train=60, n_valid=30, epochs=2, seed=3)
    memory = Memory(4, 4, 3, features=16)
    program = from_text(LOGISTIC, memory)
    expected = interpreter_numpy.run_tasks(program, memory, tasks, record=True)
    actual = interpreter_numba.run_tasks(program, memory, tasks, record=True)
    np.testing.assert_array_equal(actual.fitness, expected.fitness)
    np.testing.assert_array_equal(actual.predictions, expected.predictions)
    assert expected.fitness[0] > 0.3


# ---------------------------------------------------------------------------
# Records and data


def test_task_set_keeps_n_classes_through_its_operations() -> None:
    tasks = projected_multiclass_tasks(n_classes=5, n_tasks=3, n_train=40, n_valid=20, seed=1)
    assert tasks.n_classes == 5 and tasks.eval_type == "multiclass"
    for derived in (tasks.subset([2, 0]), tasks.head(10, 5), TaskSet.from_tasks([tasks.task(1)])):
        assert derived.n_classes == 5
    assert tasks.task(0).n_classes == 5
    assert pickle.loads(pickle.dumps(tasks)).n_classes == 5
    assert "n_classes=5" in repr(tasks)


@pytest.mark.parametrize(
    ("train_y", "n_classes", "eval_type", "message"),
    [
        ([0.0, 3.0], 3, "multiclass", "class indices"),
        ([0.0, 1.5], 3, "multiclass", "class indices"),
        ([0.0, -1.0], 3, "multiclass", "class indices"),
        ([0.0, 1.0], 5, "multiclass", r"\[2, F=4\]"),
        ([0.0, 0.0], 1, "multiclass", r"\[2, F=4\]"),
        ([0.0, 1.0], 3, "accuracy", "must be 2"),
        ([0.0, 1.0], 3, "rms", "must be 2"),
        ([0.0, 1.0], True, "multiclass", "integer"),
        ([0.0, 1.0], 2.0, "multiclass", "integer"),
    ],
)
def test_bad_multiclass_records_are_rejected(train_y, n_classes, eval_type, message) -> None:
    x = np.zeros((2, 4))
    with pytest.raises(ValueError, match=message):
        Task(x, np.array(train_y), x[:1], np.zeros(1), np.arange(2)[None], 0, eval_type, "t",
             n_classes=n_classes)  # fmt: skip


def test_tasks_with_different_class_counts_do_not_stack() -> None:
    a = projected_multiclass_tasks(n_classes=3, n_tasks=1, n_train=10, n_valid=5).task(0)
    b = projected_multiclass_tasks(n_classes=4, n_tasks=1, n_train=10, n_valid=5).task(0)
    with pytest.raises(ValueError, match="n_classes"):
        TaskSet.from_tasks([a, b])


def test_projected_multiclass_tasks() -> None:
    tasks = projected_multiclass_tasks(features=12, n_tasks=3, n_train=300, n_valid=100, epochs=2)
    assert (tasks.D, tasks.N, tasks.M, tasks.F, tasks.epochs) == (3, 300, 100, 12, 2)
    assert tasks.names[2] == "digits 10-class proj#2"
    np.testing.assert_allclose(tasks.train_x.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(tasks.train_x.std(axis=1), 1.0)
    assert set(np.unique(tasks.train_y)) == set(range(10))
    # Each task is its own projection and shuffle; more tasks keep the earlier ones.
    assert not np.allclose(tasks.train_x[0], tasks.train_x[1])
    more = projected_multiclass_tasks(features=12, n_tasks=4, n_train=300, n_valid=100, epochs=2)
    np.testing.assert_array_equal(more.train_x[:3], tasks.train_x)
    np.testing.assert_array_equal(more.valid_y[:3], tasks.valid_y)
    # Fewer classes: the first classes in sorted order.
    three = projected_multiclass_tasks(n_classes=3, n_tasks=1, n_train=300, n_valid=100)
    assert set(np.unique(three.valid_y)) == {0.0, 1.0, 2.0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_classes": 11}, "n_classes"),
        ({"features": 8, "n_classes": 9}, "n_classes"),
        ({"n_classes": 1}, "n_classes"),
        ({"n_train": 1500, "n_valid": 500}, "n_train \\+ n_valid"),
        ({"n_tasks": 0}, "n_tasks"),
    ],
)
def test_projected_multiclass_rejects_bad_arguments(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        projected_multiclass_tasks(**kwargs)


# ---------------------------------------------------------------------------
# Config


def test_multiclass_config_starts_from_a_working_network() -> None:
    setup = build_domain(load_config(CONFIG))
    tasks, memory = setup.evaluator.tasks, setup.space.memory
    assert (tasks.eval_type, tasks.n_classes, tasks.F, tasks.D) == ("multiclass", 10, 16, 10)
    assert (memory.n_scalars, memory.n_vectors, memory.n_matrices) == (10, 16, 4)
    assert setup.selector.evaluator.tasks.eval_type == "multiclass"
    network = setup.space.initial(np.random.default_rng(0))
    assert setup.evaluator.evaluate(network).fitness > 0.6


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"automl_zero.memory.vectors": 2}, "automl_zero.memory.vectors"),
        ({"automl_zero.search_tasks.n_classes": 17}, "automl_zero.search_tasks.n_classes"),
        ({"automl_zero.search_tasks.n_train": 1700}, "automl_zero.search_tasks.dataset"),
        ({"automl_zero.select_tasks.type": "linear"}, "automl_zero.select_tasks.type"),
    ],
)
def test_bad_multiclass_configs_name_the_field(overrides, field) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        build_domain(load_config(CONFIG, overrides))
