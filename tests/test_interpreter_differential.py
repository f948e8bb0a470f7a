"""The compiled interpreter against the reference, on random programs and tasks.

Random programs use all 65 ops with random addresses and constants, so most of
them produce NaN, infinities or huge values somewhere: the early-stopping
paths get as much exercise as the arithmetic. Tasks are regression, binary or
multiclass classification.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evoforge.automl_zero import interpreter_numba, interpreter_numpy
from evoforge.automl_zero.baselines import linear_sgd
from evoforge.automl_zero.ops import (
    GAUSSIAN,
    MATRIX_CONST,
    N_OPS,
    OPS,
    SCALAR_CONST,
    UNIFORM,
    VECTOR_CONST,
)
from evoforge.automl_zero.program import Memory, Program
from evoforge.automl_zero.text import from_text
from evoforge.data.regression import linear_tasks
from evoforge.data.tasks import TaskSet

SIZES = {"n_scalars": 6, "n_vectors": 6, "n_matrices": 3}

fractions = st.floats(0.0, 1.0, exclude_max=True, width=32)
float32s = st.floats(-4.0, 4.0, width=32)
doubles = st.one_of(
    st.floats(-3.0, 3.0),
    st.sampled_from([0.0, -0.0, 1.0, 0.5, -1.0, 50.0, 1e6, 1e-300, 1e300]),
)


@st.composite
def instructions(draw, memory: Memory) -> tuple:
    spec = OPS[draw(st.integers(0, N_OPS - 1))]
    addresses = [draw(st.integers(0, memory.size(kind) - 1)) for kind in spec.inputs]
    in1, in2 = (*addresses, 0, 0)[:2]
    out = draw(st.integers(0, memory.size(spec.output) - 1)) if spec.output else 0
    if spec.data == SCALAR_CONST:
        data = (draw(doubles), 0.0, 0.0)
    elif spec.data == VECTOR_CONST:
        data = (draw(fractions), draw(float32s), 0.0)
    elif spec.data == MATRIX_CONST:
        data = (draw(fractions), draw(fractions), draw(float32s))
    elif spec.data == UNIFORM:
        data = (draw(float32s), draw(float32s), 0.0)
    elif spec.data == GAUSSIAN:
        data = (draw(float32s), draw(st.floats(0.0, 2.0, width=32)), 0.0)
    else:
        data = (0.0, 0.0, 0.0)
    return (spec.id, in1, in2, out, *data)


@st.composite
def programs(draw, memory: Memory) -> Program:
    return Program.from_components(
        tuple(
            draw(st.lists(instructions(memory), max_size=n_max))
            for n_max in (6, 5, 6)  # Setup, Predict, Learn
        )
    )


@st.composite
def task_sets(draw, features: int, eval_types=("rms", "accuracy", "multiclass")) -> TaskSet:
    """Two small tasks, regression, binary or multiclass classification, 1-3 epochs."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    eval_type = draw(st.sampled_from(eval_types))
    n_classes = draw(st.integers(2, features)) if eval_type == "multiclass" else 2
    n_train, n_valid, epochs = (
        draw(st.integers(1, 6)),
        draw(st.integers(1, 5)),
        draw(st.integers(1, 3)),
    )
    x = rng.normal(size=(2, n_train + n_valid, features)) * draw(st.sampled_from([0.1, 1.0, 5.0]))
    if eval_type == "multiclass":
        y = np.argmax(x @ rng.normal(size=(features, n_classes)), axis=-1).astype(np.float64)
    else:
        y = x @ rng.normal(size=features)
    if eval_type == "accuracy":
        y = (y > 0).astype(np.float64)
    orders = np.stack(
        [
            [np.arange(n_train), *(rng.permutation(n_train) for _ in range(epochs - 1))]
            for _ in range(2)
        ]
    )
    return TaskSet(
        train_x=x[:, :n_train],
        train_y=y[:, :n_train],
        valid_x=x[:, n_train:],
        valid_y=y[:, n_train:],
        orders=orders,
        seeds=rng.integers(0, 2**64, size=2, dtype=np.uint64),
        eval_type=eval_type,
        names=("a", "b"),
        n_classes=n_classes,
    )


def assert_agree(program: Program, memory: Memory, tasks: TaskSet, **kwargs) -> None:
    expected = interpreter_numpy.run_tasks(program, memory, tasks, record=True, **kwargs)
    actual = interpreter_numba.run_tasks(program, memory, tasks, record=True, **kwargs)
    np.testing.assert_array_equal(actual.steps, expected.steps)
    np.testing.assert_allclose(actual.fitness, expected.fitness, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(actual.predictions, expected.predictions, rtol=1e-9, equal_nan=True)


@st.composite
def cases(draw) -> tuple[Program, Memory, TaskSet, dict]:
    features = draw(st.sampled_from([2, 4]))
    memory = Memory(**SIZES, features=features)
    tasks = draw(task_sets(features))
    start = draw(st.integers(0, 1))
    kwargs = {
        "start": start,
        "stop": draw(st.integers(start, 2)),
        "max_abs_error": draw(st.sampled_from([100.0, 100.0, 3.0, 0.5])),
    }
    return draw(programs(memory)), memory, tasks, kwargs


@settings(max_examples=300, deadline=None)
@given(cases())
def test_random_programs_agree(case) -> None:
    program, memory, tasks, kwargs = case
    assert_agree(program, memory, tasks, **kwargs)


@st.composite
def multiclass_cases(draw) -> tuple[Program, Memory, TaskSet, dict]:
    """Multiclass tasks and a Predict that ends by writing the logits v1, which
    few random programs do."""
    program, memory, _, kwargs = draw(cases())
    tasks = draw(task_sets(memory.features, eval_types=("multiclass",)))
    logits = draw(instructions(memory).filter(lambda row: OPS[row[0]].output == "v"))
    setup, predict, learn = (program.rows(c) for c in range(3))
    program = Program.from_components((setup, [*predict, (*logits[:3], 1, *logits[4:])], learn))
    return program, memory, tasks, kwargs


@settings(max_examples=150, deadline=None)
@given(multiclass_cases())
def test_random_multiclass_predictions_agree(case) -> None:
    program, memory, tasks, kwargs = case
    assert_agree(program, memory, tasks, **kwargs)


SGD = linear_sgd(0.05)


def test_sgd_is_bit_for_bit() -> None:
    memory = Memory(4, 3, 1, features=4)
    tasks = linear_tasks(3, features=4, n_train=50, n_valid=20, epochs=3, seed=1)
    program = from_text(SGD, memory)
    expected = interpreter_numpy.run_tasks(program, memory, tasks, record=True)
    actual = interpreter_numba.run_tasks(program, memory, tasks, record=True)
    assert expected.fitness.min() > 0.9
    np.testing.assert_array_equal(actual.fitness, expected.fitness)
    np.testing.assert_array_equal(actual.predictions, expected.predictions)


def test_numba_rejects_what_does_not_fit() -> None:
    memory = Memory(4, 3, 1, features=4)
    tasks = linear_tasks(2, features=4, n_train=5, n_valid=5, seed=0)
    program = from_text(SGD, memory)
    outside = Program.from_components(([(1, 0, 1, 4, 0.0, 0.0, 0.0)], [], []))  # s4 = s0 + s1
    with pytest.raises(ValueError, match="address"):
        interpreter_numba.run_tasks(outside, memory, tasks)
    with pytest.raises(ValueError, match="features"):
        interpreter_numba.run_tasks(program, Memory(4, 3, 1, features=2), tasks)
    with pytest.raises(ValueError, match="task range"):
        interpreter_numba.run_tasks(program, memory, tasks, start=1, stop=3)
