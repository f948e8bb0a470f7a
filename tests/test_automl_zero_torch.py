"""The batched PyTorch interpreter and evaluator against the compiled interpreter.

Random programs draw from all 65 ops with random addresses and constants, so
most of them hit NaN, infinities or huge values: early stops (in training, in
validation, in a later epoch) get as much exercise as the arithmetic.
"""

from __future__ import annotations

import dataclasses
import sqlite3

import numpy as np
import pytest
import torch

from evoforge.automl_zero import interpreter_numba
from evoforge.automl_zero.baselines import baseline_program
from evoforge.automl_zero.evaluator import ProgramEvaluator
from evoforge.automl_zero.evaluator_torch import TorchProgramEvaluator
from evoforge.automl_zero.interpreter_torch import _uniform01, run_batch
from evoforge.automl_zero.mutator import Mutator
from evoforge.automl_zero.ops import N_OPS
from evoforge.automl_zero.prng import new_state, uniform01
from evoforge.automl_zero.program import Memory, Program
from evoforge.cli import main
from evoforge.data.projected import projected_binary_tasks
from evoforge.data.regression import linear_tasks
from evoforge.evolution.fec import CachedEvaluator
from evoforge.evolution.space import NO_BUDGET, Budget

MEMORY = Memory(6, 6, 3, features=4)
ALL_OPS = Mutator(MEMORY, (range(N_OPS),) * 3, (0, 0, 0), (8, 8, 8))


def random_programs(n: int, seed: int, sizes=(4, 4, 4)) -> list[Program]:
    rng = np.random.default_rng(seed)
    return [ALL_OPS.random_program(sizes, rng) for _ in range(n)]


def reference(programs, memory, tasks, **kw):
    runs = [interpreter_numba.run_tasks(p, memory, tasks, **kw) for p in programs]
    return np.array([r.fitness for r in runs]), np.array([r.steps for r in runs])


TASKS = {
    "rms": linear_tasks(2, features=4, n_train=12, n_valid=6, epochs=2, seed=3),
    "accuracy": projected_binary_tasks(
        "digits", features=4, n_pairs=2, n_train=12, n_valid=6, epochs=2, seed=5
    ),
}


def test_generator_matches_the_compiled_splitmix64():
    seeds = [0, 7, 2**63 + 5, 2**64 - 1]
    words = [new_state(s) for s in seeds]
    state = torch.tensor(np.array(seeds, dtype=np.uint64).view(np.int64))
    for _ in range(5):
        state, draws = _uniform01(state)
        assert draws.tolist() == [uniform01(w) for w in words]


@pytest.mark.parametrize("eval_type", ["rms", "accuracy"])
@pytest.mark.parametrize("max_abs_error", [100.0, 3.0])
def test_random_programs_over_all_ops_agree_in_float64(eval_type, max_abs_error):
    tasks = TASKS[eval_type]
    programs = random_programs(120, seed=len(eval_type) * 1000 + int(max_abs_error))
    used = {int(op) for p in programs for op in p.code[:, 0]}
    assert used == set(range(N_OPS))  # every op is exercised
    expected, expected_steps = reference(programs, MEMORY, tasks, max_abs_error=max_abs_error)
    fitness, steps = run_batch(programs, MEMORY, tasks, max_abs_error=max_abs_error)
    np.testing.assert_array_equal(steps, expected_steps)
    np.testing.assert_allclose(fitness, expected, rtol=1e-9, atol=1e-12)
    full = tasks.epochs * tasks.N
    assert (expected_steps < full).any()  # early stops
    assert (expected_steps == full).any()
    assert len(np.unique(expected)) > 3


def test_each_op_alone_in_every_component():
    # One instruction per component, the same op: isolates each op's kernel.
    rng = np.random.default_rng(11)
    programs = []
    for op in range(N_OPS):
        m = Mutator(MEMORY, ([op],) * 3, (0, 0, 0), (3, 3, 3))
        programs += [m.random_program((2, 1, 2), rng) for _ in range(3)]
    for tasks in TASKS.values():
        expected, expected_steps = reference(programs, MEMORY, tasks)
        fitness, steps = run_batch(programs, MEMORY, tasks)
        np.testing.assert_array_equal(steps, expected_steps)
        np.testing.assert_allclose(fitness, expected, rtol=1e-9, atol=1e-12)


def test_task_range_and_seeds_follow_the_compiled_interpreter():
    tasks = linear_tasks(4, features=4, n_train=10, n_valid=5, seed=9)
    # Random ops only, so the seeds decide every value.
    m = Mutator(MEMORY, ([59, 60, 61, 62, 63, 64],) * 3, (0, 0, 0), (4, 4, 4))
    rng = np.random.default_rng(2)
    programs = [m.random_program((3, 2, 3), rng) for _ in range(10)]
    seeds = rng.integers(0, 2**64, size=(10, 2), dtype=np.uint64)
    fitness, _ = run_batch(programs, MEMORY, tasks, 1, 3, seeds=seeds)
    for p, row, seed in zip(programs, fitness, seeds, strict=True):
        full_seeds = np.concatenate([tasks.seeds[:1], seed, tasks.seeds[3:]])
        reseeded = dataclasses.replace(tasks, seeds=full_seeds)
        expected = interpreter_numba.run_tasks(p, MEMORY, reseeded, 1, 3).fitness
        np.testing.assert_allclose(row, expected, rtol=1e-9, atol=1e-12)


def test_classification_normalises_the_prediction_in_memory():
    # Learn copies s1 (the probability after normalisation) into s2 and Predict
    # outputs s2, so validation scores sigmoid(previous probability): a program
    # that would score differently if s1 held the logit.
    tasks = TASKS["accuracy"]
    text_memory = Memory(4, 3, 1, features=4)
    rows = (
        [],
        [(27, 0, 0, 1, 0.0, 0.0, 0.0), (2, 1, 2, 1, 0.0, 0.0, 0.0)],  # s1 = dot(v0,v0) - s2
        [(1, 1, 3, 2, 0.0, 0.0, 0.0)],  # s2 = s1 + s3 (s3 = 0)
    )
    program = Program.from_components(rows)
    expected, steps = reference([program], text_memory, tasks)
    fitness, got_steps = run_batch([program], text_memory, tasks)
    np.testing.assert_array_equal(fitness, expected)
    np.testing.assert_array_equal(got_steps, steps)


def test_baselines_agree_in_float32_within_its_tolerance():
    tasks32 = projected_binary_tasks("digits", features=8, n_pairs=4, n_train=200, n_valid=100)
    for name, tasks in (("linear_sgd", None), ("logistic_regression", tasks32)):
        program, memory = baseline_program(name, 8)
        if tasks is None:
            tasks = linear_tasks(4, features=8, n_train=200, n_valid=100, seed=1)
        expected, _ = reference([program], memory, tasks)
        f32, _ = run_batch([program], memory, tasks, dtype=torch.float32)
        f64, _ = run_batch([program], memory, tasks)
        np.testing.assert_allclose(f64, expected, rtol=1e-9)
        # Accuracy moves in steps of 1/M: allow one example's flip; RMS within 1e-5.
        np.testing.assert_allclose(
            f32, expected, atol=1.5 / tasks.M if name != "linear_sgd" else 1e-5
        )


def test_random_demo_programs_mostly_agree_in_float32():
    memory = Memory(4, 3, 1, features=4)
    demo_ops = [56, 27, 2, 3, 18, 23]
    m = Mutator(memory, (demo_ops,) * 3, (0, 0, 0), (10, 10, 10))
    rng = np.random.default_rng(4)
    programs = [m.random_program((10, 2, 8), rng) for _ in range(200)]
    tasks = linear_tasks(3, features=4, n_train=50, n_valid=50, seed=2)
    expected, _ = reference(programs, memory, tasks)
    f32, _ = run_batch(programs, memory, tasks, dtype=torch.float32)
    close = np.isclose(f32, expected, rtol=1e-4, atol=1e-5)
    assert close.mean() > 0.95, close.mean()


def test_program_outside_the_memory_fails_alone():
    tasks = linear_tasks(3, features=4, n_train=20, n_valid=10, seed=0)
    evaluator = TorchProgramEvaluator(Memory(4, 3, 1, features=4), tasks)
    bad = Program.from_components(([(1, 0, 9, 2, 0.0, 0.0, 0.0)], [], []))
    ok, failed = evaluator.evaluate_batch([Program.empty(), bad], [NO_BUDGET] * 2)
    assert failed.error == "program has an address outside the memory" and failed.fitness == 0.0
    assert ok.error is None and ok.cost == 60


@pytest.mark.parametrize("random_seeds", ["program", "task"])
def test_evaluator_matches_program_evaluator_with_hurdles(random_seeds):
    tasks = linear_tasks(5, features=4, n_train=20, n_valid=10, seed=6)
    memory = Memory(4, 3, 1, features=4)
    options = {"hurdle_tasks": 2, "random_seeds": random_seeds, "combine": "median"}
    ops = [56, 27, 2, 3, 18, 23, 62, 63]
    m = Mutator(memory, (ops,) * 3, (0, 0, 0), (6, 6, 6))
    rng = np.random.default_rng(8)
    programs = [m.random_program((4, 2, 4), rng) for _ in range(60)]
    programs.append(baseline_program("linear_sgd", 4)[0])
    budgets = [Budget(hurdle=[None, 0.2, 0.6][i % 3]) for i in range(len(programs))]
    compiled = ProgramEvaluator(memory, tasks, **options)
    batched = TorchProgramEvaluator(memory, tasks, **options)
    got = batched.evaluate_batch(programs, budgets)
    assert any(e.early_stopped for e in got) and not all(e.early_stopped for e in got)
    for program, budget, result in zip(programs, budgets, got, strict=True):
        want = compiled.evaluate(program, budget)
        assert result.early_stopped == want.early_stopped
        assert result.cost == want.cost
        np.testing.assert_allclose(result.per_task, want.per_task, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(result.fitness, want.fitness, rtol=1e-9, atol=1e-12)


def test_fec_in_front_of_the_batched_evaluator():
    tasks = linear_tasks(3, features=4, n_train=20, n_valid=10, seed=0)
    memory = Memory(4, 3, 1, features=4)
    cached = CachedEvaluator(TorchProgramEvaluator(memory, tasks))
    sgd = baseline_program("linear_sgd", 4)[0]
    results = cached.evaluate_batch([sgd, Program.empty(), sgd], [NO_BUDGET] * 3)
    assert [r.fec_hit for r in results] == [False, False, True]
    assert results[0].fingerprint == ProgramEvaluator(memory, tasks).fingerprint(sgd)
    want = ProgramEvaluator(memory, tasks).evaluate(sgd).fitness
    assert results[2].fitness == results[0].fitness == pytest.approx(want, rel=1e-9)


CONFIG = """
[run]
domain = "automl_zero"
seed = 5
max_individuals = 300
chunk_size = 16

[search]
population_size = 40
tournament_size = 5
mutation_prob = 0.9

[search.hurdle]
enabled = true

[automl_zero]
initial = "random"
hurdle_tasks = 2
mutations = ["alter_argument", "randomize_instruction", "randomize_component"]
{evaluator}

[automl_zero.setup]
ops = ["OP56", "OP57", "OP63"]
size = 3

[automl_zero.predict]
ops = ["OP27", "OP1", "OP18"]
size = 2

[automl_zero.learn]
ops = ["OP2", "OP3", "OP18", "OP23"]
size = 4

[automl_zero.search_tasks]
type = "linear"
n_tasks = 4
features = 4
n_train = 30
n_valid = 20
"""


def test_a_run_with_the_torch_evaluator_repeats_the_numba_run(tmp_path):
    rows = {}
    for name, line in (("numba", ""), ("torch", 'evaluator = "torch"\ndevice = "cpu"')):
        config = tmp_path / f"{name}.toml"
        config.write_text(CONFIG.format(evaluator=line))
        assert main(["run", str(config), "--out", str(tmp_path / name)]) == 0
        with sqlite3.connect(tmp_path / name / "run.sqlite") as db:
            rows[name] = db.execute(
                "SELECT id, parent_id, mutation, fitness, fec_hit, early_stopped "
                "FROM individuals ORDER BY id"
            ).fetchall()
    assert len(rows["torch"]) == 300
    assert [r[:3] + r[4:] for r in rows["torch"]] == [r[:3] + r[4:] for r in rows["numba"]]
    np.testing.assert_allclose([r[3] for r in rows["torch"]], [r[3] for r in rows["numba"]],
                               rtol=1e-9)  # fmt: skip


def test_config_refuses_device_without_the_torch_evaluator(tmp_path):
    from evoforge.automl_zero.domain import build
    from evoforge.config import ConfigError

    table = {
        "predict": {"ops": ["OP27"], "size": 1},
        "search_tasks": {"type": "linear", "n_tasks": 2, "features": 4},
        "device": "cuda",
    }
    with pytest.raises(ConfigError, match="device"):
        build(table, "automl_zero", seed=0)
    table.pop("device")
    setup = build({**table, "evaluator": "torch", "dtype": "float32"}, "automl_zero", seed=0)
    assert isinstance(setup.evaluator, TorchProgramEvaluator)
    assert setup.evaluator.dtype == "float32"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_agrees_with_the_compiled_interpreter():
    for tasks in TASKS.values():
        programs = random_programs(200, seed=21)
        expected, expected_steps = reference(programs, MEMORY, tasks)
        fitness, steps = run_batch(programs, MEMORY, tasks, device="cuda")
        np.testing.assert_array_equal(steps, expected_steps)
        # CUDA's libdevice transcendentals differ from libm in the last bits.
        close = np.isclose(fitness, expected, rtol=1e-9, atol=1e-12)
        assert close.mean() > 0.98
