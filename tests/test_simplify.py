"""Dead-code removal: the simplified program predicts bit for bit what the raw one does."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evoforge.automl_zero import interpreter_numba, interpreter_numpy
from evoforge.automl_zero.evaluator import ProgramEvaluator
from evoforge.automl_zero.mutator import Mutator
from evoforge.automl_zero.ops import N_OPS
from evoforge.automl_zero.program import Memory
from evoforge.automl_zero.simplify import effective_instructions, simplify
from evoforge.automl_zero.text import from_text, to_text
from evoforge.data.projected import projected_binary_tasks
from evoforge.data.regression import linear_tasks

MEMORY = Memory(4, 3, 2, features=4)
ALL_OPS = list(range(N_OPS))
# With the smaller memory random instructions read each other's results more often.
MUTATORS = {
    memory: Mutator(memory, (ALL_OPS, ALL_OPS, ALL_OPS), (0, 0, 0), (20, 20, 20))
    for memory in (MEMORY, Memory(3, 2, 1, features=4))
}
MUTATOR = MUTATORS[MEMORY]
REGRESSION = linear_tasks(2, features=4, n_train=20, n_valid=10, epochs=2, seed=4)
CLASSIFICATION = projected_binary_tasks(
    features=4, n_pairs=2, n_train=20, n_valid=10, epochs=2, seed=5
)
TASKS = {"regression": REGRESSION, "classification": CLASSIFICATION}
EVALUATORS = {
    (memory, name): ProgramEvaluator(memory, tasks, random_seeds="task")
    for memory in MUTATORS
    for name, tasks in TASKS.items()
}


def source(setup=(), predict=(), learn=()) -> str:
    """Program text in `to_text`'s layout."""
    parts = (("Setup", setup), ("Predict", predict), ("Learn", learn))
    return "".join(
        f"def {name}():\n" + "".join(f"    {x}\n" for x in lines) for name, lines in parts
    )


def simplified(text: str) -> str:
    return to_text(simplify(from_text(text, MEMORY), MEMORY), MEMORY)


def same_predictions(run, a, b, memory, tasks) -> bool:
    pa = run(a, memory, tasks, record=True).predictions
    pb = run(b, memory, tasks, record=True).predictions
    return np.array_equal(pa, pb, equal_nan=True)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.tuples(st.integers(0, 12), st.integers(0, 20), st.integers(0, 20)),
    memory=st.sampled_from(list(MUTATORS)),
    task=st.sampled_from(sorted(TASKS)),
)
def test_simplified_random_programs_keep_fitness_and_fingerprint(seed, sizes, memory, task):
    program = MUTATORS[memory].random_program(sizes, np.random.default_rng(seed))
    simple = simplify(program, memory)
    evaluator = EVALUATORS[memory, task]
    assert evaluator.fingerprint(simple) == evaluator.fingerprint(program)
    assert evaluator.evaluate(simple).fitness == evaluator.evaluate(program).fitness
    assert same_predictions(interpreter_numba.run_tasks, program, simple, memory, TASKS[task])
    assert len(simple) == effective_instructions(program, memory) <= len(program)
    assert simplify(simple, memory) == simple


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.tuples(st.integers(0, 6), st.integers(0, 8), st.integers(0, 8)),
    memory=st.sampled_from(list(MUTATORS)),
    task=st.sampled_from(sorted(TASKS)),
)
def test_reference_interpreter_agrees(seed, sizes, memory, task):
    program = MUTATORS[memory].random_program(sizes, np.random.default_rng(seed))
    simple = simplify(program, memory)
    small = TASKS[task].subset([0]).head(8, 4)
    assert same_predictions(interpreter_numpy.run_tasks, program, simple, memory, small)


def test_random_programs_do_lose_and_keep_instructions():
    rng = np.random.default_rng(0)
    programs = [MUTATOR.random_program((8, 12, 12), rng) for _ in range(50)]
    counts = [effective_instructions(p, MEMORY) for p in programs]
    assert 0 < sum(counts) < 32 * len(programs)


def test_sgd_is_already_minimal():
    sgd = source(
        setup=["s3 = 0.1"],
        predict=["s1 = dot(v0, v1)"],
        learn=["s2 = s0 - s1", "s2 = s2 * s3", "v2 = s2 * v0", "v1 = v1 + v2"],
    )
    assert simplified(sgd) == sgd


def test_learn_reaches_predict_through_memory_and_setup_reaches_both():
    chain = source(setup=["s3 = 0.5"], predict=["s1 = s2 * s3"], learn=["s2 = s0 + s2"])
    assert simplified(chain) == chain


def test_reset_features_and_label_kill_earlier_writes():
    got = simplified(
        source(
            setup=["v0 = bcast(s3)", "s0 = 1.0", "s3 = 2.0"],
            predict=["s1 = dot(v0, v0)", "s1 = s1 + s0"],
            learn=["s0 = 3.0", "v0 = bcast(s3)"],
        )
    )
    assert got == source(predict=["s1 = dot(v0, v0)", "s1 = s1 + s0"])


def test_prediction_is_live_at_the_end_of_predict_only():
    # s1 written by Learn is overwritten by Predict before anyone reads it...
    got = simplified(source(predict=["s1 = s2 + s2"], learn=["s1 = 4.0"]))
    assert got == source(predict=["s1 = s2 + s2"])
    # ...but it is live when Predict reads it (as is the sigmoid's input).
    kept = source(predict=["s1 = s1 * s1"], learn=["s1 = 4.0"])
    assert simplified(kept) == kept


def test_element_writes_kill_only_their_element():
    # v1[0] is overwritten before it is read, v1[1] is not; a full write kills all of v2.
    got = simplified(
        source(
            setup=["v1[0] = 1.0", "v1[1] = 2.0", "v2[3] = 5.0", "v2 = bcast(s2)", "v1[0] = 3.0"],
            predict=["s1 = dot(v1, v2)"],
        )
    )
    assert got == source(
        setup=["v1[1] = 2.0", "v2 = bcast(s2)", "v1[0] = 3.0"], predict=["s1 = dot(v1, v2)"]
    )
    matrix = source(setup=["m1[1, 2] = 1.0", "m1[2, 1] = 2.0"], predict=["s1 = mean(m1)"])
    assert simplified(matrix) == matrix


def test_dead_random_ops_stay_only_when_a_live_random_op_follows():
    got = simplified(
        source(
            setup=["v2 = gaussian(0.7, 0.4)", "s2 = uniform(-1.0, 1.0)", "s3 = uniform(0.0, 1.0)"],
            predict=["s1 = s2 * s2"],
        )
    )
    # s2's draw follows the dead v2 draw, so v2 stays; the dead s3 draw is last and goes.
    assert got == source(
        setup=["v2 = gaussian(0.7, 0.4)", "s2 = uniform(-1.0, 1.0)"], predict=["s1 = s2 * s2"]
    )
    # Predict and Learn repeat: a dead draw in Learn precedes the next Predict's live one.
    looped = source(predict=["s1 = gaussian(0.0, 1.0)"], learn=["s2 = uniform(0.0, 1.0)"])
    assert simplified(looped) == looped
    alone = source(predict=["s1 = 1.0"], learn=["s2 = uniform(0.0, 1.0)"])
    assert simplified(alone) == source(predict=["s1 = 1.0"])


def test_program_that_does_not_fit_the_memory_is_rejected():
    big = Memory(8, 3, 2, features=4)
    program = from_text("def Predict():\n    s1 = s7 + s7", big)
    with pytest.raises(ValueError, match="s7"):
        simplify(program, MEMORY)


def test_multiclass_programs_keep_the_logits():
    from evoforge.automl_zero.text import from_text

    memory = Memory(4, 4, 2, features=4)
    text = """
def Setup():
    m1 = gaussian(0.0, 0.1)
def Predict():
    v1 = dot(m1, v0)
    s2 = dot(v0, v0)
def Learn():
    v3 = v2 - v1
    m0 = outer(v3, v0)
    m1 = m1 + m0
"""
    program = from_text(text, memory)
    assert simplify(program, memory, multiclass=True).sizes == (1, 1, 3)
    assert simplify(program, memory).sizes == (0, 0, 0)  # nothing writes s1
