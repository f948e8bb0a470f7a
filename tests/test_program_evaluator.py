"""Program evaluation: fitness, fingerprints for FEC, hurdles, degenerate programs."""

import pytest

from evoforge.automl_zero.baselines import linear_sgd
from evoforge.automl_zero.evaluator import ProgramEvaluator, combine
from evoforge.automl_zero.program import Memory
from evoforge.automl_zero.text import from_text
from evoforge.data.projected import projected_binary_tasks, projected_multiclass_tasks
from evoforge.data.regression import linear_tasks
from evoforge.evolution.space import Budget

MEMORY = Memory(4, 3, 1, features=4)
SGD = linear_sgd(0.05)
# The same algorithm written differently: operands swapped, an instruction
# whose result is never read, and independent instructions reordered.
SGD_REWRITTEN = """
def Setup():
    s2 = 0.7
    s3 = 0.05
def Predict():
    s1 = dot(v1, v0)
def Learn():
    s2 = s0 - s1
    v2 = s3 * v0
    s2 = s3 * s2
    v2 = s2 * v0
    v1 = v2 + v1
"""
SGD_OTHER_RATE = SGD.replace("0.05", "0.06")


@pytest.fixture(scope="module")
def evaluator():
    return ProgramEvaluator(MEMORY, linear_tasks(5, 4, 100, 100, seed=3))


def program(text):
    return from_text(text, MEMORY)


def test_sgd_learns_linear_tasks(evaluator):
    result = evaluator.evaluate(program(SGD))
    assert result.fitness > 0.97
    assert len(result.per_task) == 5 and result.cost == 5 * 100 and result.error is None


def test_equivalent_programs_share_a_fingerprint(evaluator):
    assert evaluator.fingerprint(program(SGD)) == evaluator.fingerprint(program(SGD_REWRITTEN))
    assert (
        evaluator.evaluate(program(SGD)).fitness
        == evaluator.evaluate(program(SGD_REWRITTEN)).fitness
    )


def test_different_programs_get_different_fingerprints(evaluator):
    assert evaluator.fingerprint(program(SGD)) != evaluator.fingerprint(program(SGD_OTHER_RATE))
    assert evaluator.fingerprint(program(SGD)) != evaluator.fingerprint(program("def Setup():"))


def test_fingerprint_is_stable_across_evaluator_copies():
    a = ProgramEvaluator(MEMORY, linear_tasks(5, 4, 100, 100, seed=3))
    b = ProgramEvaluator(MEMORY, linear_tasks(5, 4, 100, 100, seed=3))
    assert a.fingerprint(program(SGD)) == b.fingerprint(program(SGD))


def test_hurdle_stops_weak_programs_early(evaluator):
    hurdled = ProgramEvaluator(MEMORY, evaluator.tasks, hurdle_tasks=2)
    weak = program("def Predict():\n    s1 = dot(v0, v0)")
    stopped = hurdled.evaluate(weak, Budget(hurdle=0.9))
    assert stopped.early_stopped and len(stopped.per_task) == 2 and stopped.cost == 200
    passed = hurdled.evaluate(program(SGD), Budget(hurdle=0.9))
    assert not passed.early_stopped and len(passed.per_task) == 5


def test_divergent_programs_get_minimum_fitness(evaluator):
    exploding = program(SGD.replace("0.05", "50.0"))
    result = evaluator.evaluate(exploding)
    assert result.fitness == 0.0
    assert result.cost < 5 * 100  # training stopped at the first error above e_max
    nan = program("def Setup():\n    s2 = 0.0\ndef Predict():\n    s1 = s2 / s2")
    assert evaluator.evaluate(nan).fitness == 0.0


def test_programs_that_do_not_fit_memory_score_minimum(evaluator):
    from evoforge.automl_zero.program import Program

    bad = Program.from_components(([(1, 9, 0, 1, 0, 0, 0)], [], []))
    result = evaluator.evaluate(bad)
    assert result.fitness == 0.0 and "outside" in result.error


def test_classification_uses_accuracy():
    tasks = projected_binary_tasks(
        "digits", features=4, split="search", n_train=100, n_valid=50, seed=0
    )
    evaluator = ProgramEvaluator(MEMORY, tasks.subset([0, 1, 2]))
    constant = program("def Predict():\n    s1 = 0.0")
    result = evaluator.evaluate(constant)
    # A constant logit of 0 is class 0 for every example.
    for d, fitness in enumerate(result.per_task):
        assert fitness == pytest.approx(1 - tasks.valid_y[d].mean())


def test_multiclass_uses_accuracy_of_the_argmax():
    memory = Memory(4, 4, 1, features=4)
    tasks = projected_multiclass_tasks(features=4, n_classes=3, n_tasks=3, n_train=30, n_valid=60)
    evaluator = ProgramEvaluator(memory, tasks)
    # Logits [0, 0, 2.5, 0]: class 2 for every example, whatever Learn does.
    constant = from_text("def Predict():\n    v1[2] = 2.5", memory)
    for d, fitness in enumerate(evaluator.evaluate(constant).per_task):
        assert fitness == pytest.approx((tasks.valid_y[d] == 2).mean())
    # Fingerprints hash predicted classes; the reference agrees.
    reference = ProgramEvaluator(memory, tasks, interpreter="numpy")
    assert reference.fingerprint(constant) == evaluator.fingerprint(constant)
    other = from_text("def Predict():\n    v1[1] = 2.5", memory)
    assert evaluator.fingerprint(other) != evaluator.fingerprint(constant)


def test_multiclass_needs_three_vectors():
    tasks = projected_multiclass_tasks(features=4, n_classes=3, n_tasks=1, n_train=5, n_valid=5)
    with pytest.raises(ValueError, match="3 vectors"):
        ProgramEvaluator(Memory(4, 2, 1, features=4), tasks)


def test_median_takes_upper_middle():
    assert combine([0.1, 0.2, 0.3, 0.4], "median") == 0.3
    assert combine([0.1, 0.2, 0.3], "mean") == pytest.approx(0.2)


def test_numpy_and_numba_evaluators_agree(evaluator):
    reference = ProgramEvaluator(MEMORY, evaluator.tasks, interpreter="numpy")
    assert reference.evaluate(program(SGD)).per_task == pytest.approx(
        evaluator.evaluate(program(SGD)).per_task, rel=1e-12
    )
    assert reference.fingerprint(program(SGD)) == evaluator.fingerprint(program(SGD))


def test_time_cap_stops_slow_evaluations(evaluator):
    capped = ProgramEvaluator(MEMORY, evaluator.tasks, time_cap_seconds=1e-9)
    result = capped.evaluate(program(SGD))
    assert result.fitness == 0.0 and "time cap" in result.error
    assert len(result.per_task) == 1  # stopped after the first task


def test_random_ops_draw_per_program_not_per_task(evaluator):
    # Weights drawn in Setup and never trained: the fitness depends only on
    # the draws. Two programs that differ in a dead constant draw differently
    # (no inherited luck), unless seeding by task alone is asked for.
    text = "def Setup():\n v1 = gaussian(0.0, 1.0)\n s2 = {}\ndef Predict():\n s1 = dot(v0, v1)"
    a, b = program(text.format(0.5)), program(text.format(0.25))
    assert evaluator.evaluate(a).fitness != evaluator.evaluate(b).fitness
    assert evaluator.evaluate(a).fitness == evaluator.evaluate(a).fitness  # reproducible
    by_task = ProgramEvaluator(MEMORY, evaluator.tasks, random_seeds="task")
    assert by_task.evaluate(a).fitness == by_task.evaluate(b).fitness
    assert evaluator.fingerprint(a) == evaluator.fingerprint(b)  # FEC keeps a fixed stream
    reference = ProgramEvaluator(MEMORY, evaluator.tasks, interpreter="numpy")
    assert reference.evaluate(a).fitness == evaluator.evaluate(a).fitness
