"""Scores AutoML-Zero programs on a set of tasks (Figure 1 and Supplement S3).

Each task is trained and validated by the interpreter; task fitnesses are
combined by mean or median (the median of an even count takes the upper
middle value, as Google's implementation does). A behavioural fingerprint
(predictions after 10 training and 10 validation steps on fixed examples,
truncated to float32 and hashed) feeds the functional-equivalence cache.
Hurdles are checked after the first ``hurdle_tasks`` tasks. Degenerate
programs get the minimum fitness with the reason in ``error``; nothing a
program does raises out of `ProgramEvaluator.evaluate`.

Example:
    >>> from evoforge.automl_zero.evaluator import ProgramEvaluator
    >>> from evoforge.automl_zero.program import Memory, Program
    >>> from evoforge.data.regression import linear_tasks
    >>> tasks = linear_tasks(n_tasks=3, features=4, n_train=100, n_valid=100, seed=1)
    >>> evaluator = ProgramEvaluator(Memory(4, 3, 1, features=4), tasks)
    >>> result = evaluator.evaluate(Program.empty())
    >>> 0.0 < result.fitness < 0.5, result.cost
    (True, 300)
"""

from __future__ import annotations

import dataclasses
import math
import time

import numba
import numpy as np

from evoforge.automl_zero import interpreter_numpy
from evoforge.automl_zero.program import Memory, Program
from evoforge.evolution.space import MIN_FITNESS, NO_BUDGET, Budget, Evaluation

INTERPRETERS = ("numba", "numpy")
COMBINE_MODES = ("mean", "median")
RANDOM_SEEDS = ("program", "task")


_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)
_CANONICAL_NAN = np.uint32(0x7FC00000)


@numba.njit(cache=True, nogil=True)
def _hash_predictions(predictions: np.ndarray) -> int:
    """FNV-1a over the predictions truncated to float32, NaNs made one pattern."""
    as_float32 = np.empty(predictions.size, np.float32)
    flat = predictions.ravel()
    for i in range(flat.size):
        as_float32[i] = flat[i]  # overflow gives inf, which hashes like any value
    words = as_float32.view(np.uint32)
    h = _FNV_OFFSET
    for i in range(words.size):
        word = _CANONICAL_NAN if np.isnan(as_float32[i]) else words[i]
        h = (h ^ np.uint64(word)) * _FNV_PRIME
    return np.array([h]).view(np.int64)[0]


@numba.njit(cache=True, nogil=True)
def _program_seed(code: np.ndarray, data: np.ndarray) -> np.uint64:
    """FNV-1a over a program's arrays: a seed that changes with any change."""
    h = _FNV_OFFSET
    for word in code.ravel().view(np.uint64):
        h = (h ^ word) * _FNV_PRIME
    for word in data.ravel().view(np.uint64):
        h = (h ^ word) * _FNV_PRIME
    return h


def evaluation_seeds(program: Program, task_seeds: np.ndarray) -> np.ndarray:
    """The random-op seeds of a full evaluation: each task's seed mixed with the
    program's own hash.

    Google's implementation draws from one generator that advances across
    evaluations, so a child never inherits its parent's random draws. Seeding
    by task alone would let evolution tune a program's random numbers to the
    fixed search tasks (memorising them through ``gaussian``/``uniform``); mixing
    in the program keeps evaluations reproducible without that leak.
    """
    return task_seeds ^ _program_seed(program.code, program.data)


def combine(fitnesses: list[float], mode: str) -> float:
    """Combine per-task fitnesses by ``"mean"`` or ``"median"`` (upper middle)."""
    if mode == "mean":
        return math.fsum(fitnesses) / len(fitnesses)
    return sorted(fitnesses)[len(fitnesses) // 2]


class _CompiledRunner:
    """Runs the compiled kernel on one `TaskSet`, reusing memory banks and
    output buffers: at tens of thousands of calls per second, allocating and
    wrapping results would cost more than a fingerprint's whole run."""

    def __init__(
        self, memory: Memory, tasks, max_abs_error: float, record: bool, per_program_seeds: bool
    ):
        from evoforge.automl_zero.interpreter_numba import eval_arguments, kernel_for

        F = tasks.F
        self.kernel = kernel_for(F, tasks.eval_type == "multiclass")
        self.banks = (
            np.zeros(memory.n_scalars),
            np.zeros((memory.n_vectors, F)),
            np.zeros((memory.n_matrices, F, F)),
        )
        self.arrays = (tasks.train_x, tasks.train_y, tasks.valid_x, tasks.valid_y, tasks.orders)
        self.seeds = tasks.seeds
        self.per_program_seeds = per_program_seeds
        self.eval_code, self.n_classes = eval_arguments(tasks)
        self.max_abs_error = max_abs_error
        self.fitness = np.zeros(tasks.D)
        self.steps = np.zeros(tasks.D, dtype=np.int64)
        shape = (tasks.D, tasks.epochs * (tasks.N + tasks.M)) if record else (0, 0)
        self.predictions = np.zeros(shape)
        # Compile (or load from numba's cache) now, on no tasks, so that the
        # first real evaluation is not charged for it against the time cap.
        self(Program.empty(), 0, 0)

    def __call__(self, program: Program, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-task fitnesses and training steps on tasks ``start..stop`` (views
        of the runner's buffers, valid until the next call)."""
        if start == 0 and stop == len(self.fitness):
            fitness, steps = self.fitness, self.steps
        else:
            fitness, steps = self.fitness[start:stop], self.steps[start:stop]
        s, v, m = self.banks
        seeds = evaluation_seeds(program, self.seeds) if self.per_program_seeds else self.seeds
        train_x, train_y, valid_x, valid_y, orders = self.arrays
        self.kernel(program.code, program.data, program.sizes[0], program.sizes[1],
                    program.sizes[2], s, v, m, train_x, train_y, valid_x, valid_y, orders,
                    seeds, start, stop, self.eval_code, self.n_classes,
                    self.max_abs_error, fitness, steps, self.predictions)  # fmt: skip
        return fitness, steps


class ProgramEvaluator:
    """`Evaluator` and `Fingerprinter` for programs on a `TaskSet`.

    Parameters mirror the paper's settings: ``max_abs_error`` is e_max (100),
    ``fec_examples`` the (train, valid) examples of a fingerprint (10, 10),
    ``hurdle_tasks`` how many tasks run before the hurdle is checked,
    ``time_cap_seconds`` the per-evaluation time limit (checked between
    tasks), ``interpreter`` ``"numba"`` (default) or ``"numpy"`` (reference).
    ``random_seeds`` seeds the uniform/gaussian ops of a full evaluation by
    ``"program"`` (each task's seed mixed with the program's hash, the
    default; see `evaluation_seeds`) or by ``"task"`` alone. Fingerprints
    always use the tasks' fixed seeds, as the reference's FEC does.
    """

    def __init__(
        self,
        memory: Memory,
        tasks,
        *,
        combine: str = "mean",
        max_abs_error: float = interpreter_numpy.DEFAULT_MAX_ABS_ERROR,
        fec_examples: tuple[int, int] = (10, 10),
        hurdle_tasks: int | None = None,
        time_cap_seconds: float | None = None,
        interpreter: str = "numba",
        random_seeds: str = "program",
    ):
        if random_seeds not in RANDOM_SEEDS:
            raise ValueError(f"random_seeds: expected one of {RANDOM_SEEDS}, got {random_seeds!r}")
        if combine not in COMBINE_MODES:
            raise ValueError(f"combine: expected one of {COMBINE_MODES}, got {combine!r}")
        if interpreter not in INTERPRETERS:
            raise ValueError(f"interpreter: expected one of {INTERPRETERS}, got {interpreter!r}")
        if memory.features != tasks.F:
            raise ValueError(
                f"tasks have {tasks.F} features but the memory expects {memory.features}"
            )
        if tasks.eval_type == "multiclass" and memory.n_vectors < 3:
            raise ValueError(interpreter_numpy.MULTICLASS_MEMORY_ERROR)
        if hurdle_tasks is not None and not 1 <= hurdle_tasks <= tasks.D:
            raise ValueError(f"hurdle_tasks: expected 1..{tasks.D}, got {hurdle_tasks}")
        self.memory = memory
        self.tasks = tasks
        self.combine = combine
        self.max_abs_error = float(max_abs_error)
        self.hurdle_tasks = hurdle_tasks
        self.time_cap_seconds = time_cap_seconds
        self.interpreter = interpreter
        self.random_seeds = random_seeds
        n_train, n_valid = fec_examples
        self.fec_tasks = tasks.subset([0]).head(min(n_train, tasks.N), min(n_valid, tasks.M))
        self._runners: dict[str, _CompiledRunner] = {}

    def __getstate__(self) -> dict:
        # Compiled kernels and buffers are rebuilt in each worker process.
        return {**self.__dict__, "_runners": {}}

    def _runner(self, which: str) -> _CompiledRunner:
        runner = self._runners.get(which)
        if runner is None:
            tasks = self.fec_tasks if which == "fec" else self.tasks
            fec = which == "fec"
            per_program = not fec and self.random_seeds == "program"
            runner = _CompiledRunner(self.memory, tasks, self.max_abs_error, fec, per_program)
            self._runners[which] = runner
        return runner

    def _run(self, program: Program, start: int, stop: int) -> tuple[list[float], int]:
        if self.interpreter == "numpy":
            tasks = self.tasks
            if self.random_seeds == "program":
                tasks = dataclasses.replace(tasks, seeds=evaluation_seeds(program, tasks.seeds))
            result = interpreter_numpy.run_tasks(
                program, self.memory, tasks, start, stop, self.max_abs_error
            )
            fitness, steps = result.fitness, result.steps
        else:
            fitness, steps = self._runner("search")(program, start, stop)
        return fitness.tolist(), sum(steps.tolist())

    def fingerprint(self, program: Program) -> int:
        """A 64-bit hash of the program's predictions on the fixed FEC examples."""
        if self.interpreter == "numpy":
            predictions = interpreter_numpy.run_tasks(
                program, self.memory, self.fec_tasks, max_abs_error=self.max_abs_error, record=True
            ).predictions
        else:
            runner = self._runner("fec")
            runner(program, 0, 1)
            predictions = runner.predictions
        return int(_hash_predictions(predictions))

    def _chunks(self, budget: Budget) -> list[tuple[int, int]]:
        D = self.tasks.D
        if self.time_cap_seconds is not None:
            return [(d, d + 1) for d in range(D)]
        if budget.hurdle is not None and self.hurdle_tasks is not None and self.hurdle_tasks < D:
            return [(0, self.hurdle_tasks), (self.hurdle_tasks, D)]
        return [(0, D)]

    def evaluate(self, program: Program, budget: Budget = NO_BUDGET) -> Evaluation:
        """Train and validate on every task (or stop at the hurdle)."""
        if self.interpreter == "numba":
            self._runner("search")  # compiling is not the program's time
        started = time.perf_counter()
        fitness: list[float] = []
        cost = 0
        try:
            for lo, hi in self._chunks(budget):
                task_fitness, steps = self._run(program, lo, hi)
                fitness.extend(task_fitness)
                cost += steps
                elapsed = time.perf_counter() - started
                if (
                    self.time_cap_seconds is not None
                    and elapsed > self.time_cap_seconds
                    and hi < self.tasks.D
                ):
                    return Evaluation(MIN_FITNESS, tuple(fitness), cost, early_stopped=True,
                                      error=f"time cap of {self.time_cap_seconds} s exceeded",
                                      wall_time=elapsed)  # fmt: skip
                if (
                    budget.hurdle is not None
                    and self.hurdle_tasks is not None
                    and len(fitness) == self.hurdle_tasks < self.tasks.D
                ):
                    partial = combine(fitness, self.combine)
                    if partial < budget.hurdle:
                        return Evaluation(
                            partial, tuple(fitness), cost, early_stopped=True, wall_time=elapsed
                        )
        except ValueError as error:  # a program that does not fit the memory
            return Evaluation(
                MIN_FITNESS, (), cost, error=str(error), wall_time=time.perf_counter() - started
            )
        return Evaluation(
            combine(fitness, self.combine),
            tuple(fitness),
            cost,
            wall_time=time.perf_counter() - started,
        )
