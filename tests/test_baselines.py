"""Hand-designed baseline programs learn; equal-budget tuning keeps its promises."""

import numpy as np
import pytest

from evoforge.automl_zero.baselines import (
    BASELINES,
    baseline_program,
    linear_sgd,
    logistic_regression,
    two_layer_nn,
)
from evoforge.automl_zero.evaluator import ProgramEvaluator
from evoforge.automl_zero.text import from_text
from evoforge.automl_zero.tune import tune_with_budget
from evoforge.data.projected import projected_binary_tasks
from evoforge.data.regression import affine_tasks, linear_tasks


@pytest.fixture(scope="module")
def digits_tasks():
    return projected_binary_tasks(n_pairs=8, projections_per_pair=1, seed=11)


def majority(tasks):
    positive = tasks.valid_y.mean(axis=1)
    return float(np.mean(np.maximum(positive, 1 - positive)))


def accuracy(name, tasks, **constants):
    program, memory = baseline_program(name, tasks.F, **constants)
    return ProgramEvaluator(memory, tasks).evaluate(program).fitness


def without_learn(name, tasks):
    text = BASELINES[name].text()
    memory = BASELINES[name].memory(tasks.F)
    program = from_text(text[: text.index("def Learn():")], memory)
    assert program.sizes[2] == 0
    return ProgramEvaluator(memory, tasks).evaluate(program).fitness


def test_logistic_regression_beats_the_constant_predictor(digits_tasks):
    fitness = accuracy("logistic_regression", digits_tasks, learning_rate=0.01)
    assert fitness >= majority(digits_tasks) + 0.25
    # Without Learn the weights stay 0: the gain is SGD's.
    assert without_learn("logistic_regression", digits_tasks) <= majority(digits_tasks)


def test_two_layer_network_learns(digits_tasks):
    fitness = accuracy("two_layer_nn", digits_tasks, learning_rate=0.03, init_scale=0.3)
    assert fitness >= majority(digits_tasks) + 0.25
    # A random network that does not learn is near chance.
    assert without_learn("two_layer_nn", digits_tasks) < fitness - 0.25


@pytest.mark.parametrize(("name", "make"), [("linear_sgd", linear_tasks),
                                            ("affine_sgd", affine_tasks)])  # fmt: skip
def test_regression_references_fit_their_tasks(name, make):
    tasks = make(3, 8, 1000, 100, seed=4)
    assert accuracy(name, tasks, learning_rate=0.05) > 0.9999
    # linear SGD cannot fit the bias of affine tasks
    if name == "affine_sgd":
        assert accuracy("linear_sgd", tasks, learning_rate=0.05) < 0.9


def test_memory_sizes_are_what_the_programs_need():
    for name, baseline in BASELINES.items():
        program, memory = baseline_program(name, 16)
        smaller = [(baseline.scalars - 1, baseline.vectors, baseline.matrices),
                   (baseline.scalars, baseline.vectors - 1, baseline.matrices)]  # fmt: skip
        for sizes in smaller:
            with pytest.raises(ValueError):
                program.validate(type(memory)(*sizes, features=16))


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf"), "fast"])
def test_bad_constants_are_rejected(bad):
    with pytest.raises(ValueError, match="learning_rate: expected a positive finite number"):
        logistic_regression(bad)
    with pytest.raises(ValueError, match="init_scale: expected a positive finite number"):
        two_layer_nn(0.1, bad)
    with pytest.raises(ValueError, match="learning_rate"):
        linear_sgd(bad)


def test_tune_with_budget_counts_evaluations_and_never_loses(digits_tasks):
    program, memory = baseline_program("two_layer_nn", 16, learning_rate=0.03, init_scale=0.3)
    evaluator = ProgramEvaluator(memory, digits_tasks.subset([0, 1, 2]))
    start = evaluator.evaluate(program).fitness
    for seed in range(3):
        best, fitness, history = tune_with_budget(
            program, memory, evaluator, 12, np.random.default_rng(seed)
        )
        assert len(history) == 12 and history[0] == start
        assert fitness == max(history) >= start
        assert evaluator.evaluate(best).fitness == fitness


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_tune_with_budget_rejects_bad_budgets(bad, digits_tasks):
    program, memory = baseline_program("logistic_regression", 16)
    evaluator = ProgramEvaluator(memory, digits_tasks.subset([0]))
    with pytest.raises(ValueError, match="evaluations: expected an integer >= 1"):
        tune_with_budget(program, memory, evaluator, bad, np.random.default_rng(0))
