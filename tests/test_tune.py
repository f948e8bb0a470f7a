"""Constant tuning: never worse than the input, deterministic, and scales only constants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evoforge.automl_zero.baselines import linear_sgd
from evoforge.automl_zero.evaluator import ProgramEvaluator
from evoforge.automl_zero.mutator import Mutator
from evoforge.automl_zero.ops import GAUSSIAN, N_OPS, OPS, UNIFORM
from evoforge.automl_zero.program import Memory, Program
from evoforge.automl_zero.text import from_text
from evoforge.automl_zero.tune import FACTOR_RANGE, constant_slots, tune_constants
from evoforge.data.projected import projected_binary_tasks
from evoforge.data.regression import linear_tasks
from evoforge.evolution.space import Evaluation

MEMORY = Memory(4, 3, 2, features=4)
ALL_OPS = list(range(N_OPS))
MUTATOR = Mutator(MEMORY, (ALL_OPS, ALL_OPS, ALL_OPS), (0, 0, 0), (12, 12, 12))
EVALUATORS = {
    "regression": ProgramEvaluator(MEMORY, linear_tasks(2, 4, 30, 10, seed=1)),
    "classification": ProgramEvaluator(
        MEMORY, projected_binary_tasks(features=4, n_pairs=2, n_train=30, n_valid=10, seed=2)
    ),
}
SGD = linear_sgd(0.0001)


class Recorder:
    """An evaluator that remembers what it saw and scores by a hash of the constants."""

    def __init__(self):
        self.seen: list[Program] = []

    def evaluate(self, program: Program, budget=None) -> Evaluation:
        self.seen.append(program)
        return Evaluation(float(np.sin(program.data.sum()) ** 2))


def random_program(seed: int, sizes=(6, 8, 8)) -> Program:
    return MUTATOR.random_program(sizes, np.random.default_rng(seed))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), task=st.sampled_from(sorted(EVALUATORS)))
def test_never_worse_than_the_input(seed, task):
    program = random_program(seed)
    evaluator = EVALUATORS[task]
    best, fitness, history = tune_constants(
        program, MEMORY, evaluator, 4, np.random.default_rng(seed)
    )
    assert history[0] == evaluator.evaluate(program).fitness
    assert fitness == max(history) >= history[0]
    assert evaluator.evaluate(best).fitness == fitness
    assert np.array_equal(best.code, program.code) and best.sizes == program.sizes


def test_deterministic_given_the_generator():
    program, recorder = random_program(7), Recorder()
    first = tune_constants(program, MEMORY, recorder, 10, np.random.default_rng(3))
    second = tune_constants(program, MEMORY, recorder, 10, np.random.default_rng(3))
    other = tune_constants(program, MEMORY, recorder, 10, np.random.default_rng(4))
    assert first[0] == second[0] and first[1:] == second[1:]
    assert first[2] != other[2]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_trials_scale_every_constant_of_the_input_and_nothing_else(seed):
    program, recorder = random_program(seed, (8, 8, 8)), Recorder()
    rows, cols, f32 = constant_slots(program)
    tune_constants(program, MEMORY, recorder, 6, np.random.default_rng(seed))
    assert recorder.seen[0] is program
    is_uniform = np.array([OPS[op].data == UNIFORM for op in program.code[:, 0]], bool)
    is_gaussian = np.array([OPS[op].data == GAUSSIAN for op in program.code[:, 0]], bool)
    constant = np.zeros(program.data.shape, bool)
    constant[rows, cols] = True
    for trial in recorder.seen[1:]:
        trial.validate(MEMORY)
        assert np.array_equal(trial.code, program.code)
        # Index fractions and unused data stay as they were.
        assert np.array_equal(trial.data[~constant], program.data[~constant])
        new, old = trial.data[rows, cols], program.data[rows, cols]
        assert np.all(new[f32] == new[f32].astype(np.float32))
        assert np.all(trial.data[is_uniform, 0] <= trial.data[is_uniform, 1])
        assert np.all(trial.data[is_gaussian, 1] >= 0.0)
        # Same sign, magnitude scaled within the range (with float32 rounding;
        # uniform bounds may have swapped places, so compare them as sets).
        plain = ~is_uniform[rows]
        ratio = new[plain] / np.where(old[plain] == 0, 1.0, old[plain])
        ok = (old[plain] == 0) & (new[plain] == 0) | (
            (ratio >= FACTOR_RANGE[0] * (1 - 1e-6)) & (ratio <= FACTOR_RANGE[1] * (1 + 1e-6))
        )
        assert np.all(ok)


def test_tuning_rescues_a_tiny_learning_rate():
    evaluator = ProgramEvaluator(MEMORY, linear_tasks(3, 4, 100, 20, seed=0))
    program = from_text(SGD, MEMORY)
    best, fitness, history = tune_constants(
        program, MEMORY, evaluator, 30, np.random.default_rng(0)
    )
    assert len(history) == 31 and fitness > history[0] + 0.1
    assert 1e-7 <= best.data[0, 0] <= 1e-1 and best.data[0, 0] != program.data[0, 0]


def test_program_without_constants_and_bad_trial_counts():
    recorder = Recorder()
    program = from_text("def Predict():\n    s1 = dot(v0, v0)", MEMORY)
    best, _, history = tune_constants(program, MEMORY, recorder, 5, np.random.default_rng(0))
    assert best is program and len(history) == 1 and len(recorder.seen) == 1
    with pytest.raises(ValueError, match="n_trials"):
        tune_constants(program, MEMORY, recorder, -1, np.random.default_rng(0))
