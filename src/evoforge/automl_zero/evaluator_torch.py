"""`TorchProgramEvaluator`: scores a chunk of programs per call with the batched
PyTorch interpreter (`evoforge.automl_zero.interpreter_torch`), on CPU or CUDA.

It is a `BatchEvaluator`: the serial backend hands it the driver's queue
(``run.chunk_size`` programs) in one ``evaluate_batch`` call. Results follow
`ProgramEvaluator`'s rules: per-task fitness combined by mean or median,
hurdles after the first ``hurdle_tasks`` tasks (all programs run those tasks
together; only those that pass, or have no hurdle, run the rest), a program
that does not fit the memory gets fitness 0.0 with the reason in ``error``,
and random ops are seeded per program (``random_seeds = "program"``) or per
task. Fingerprints for the functional-equivalence cache are the compiled
interpreter's (`ProgramEvaluator.fingerprint`), so cache hits are the same
as with ``evaluator = "numba"``.

The device is ``device`` if given, else the worker's (`bind`, from
``run.devices``), else the CPU.

Example:
    >>> from evoforge.automl_zero.evaluator_torch import TorchProgramEvaluator
    >>> from evoforge.automl_zero.program import Memory, Program
    >>> from evoforge.data.regression import linear_tasks
    >>> tasks = linear_tasks(n_tasks=3, features=4, n_train=100, n_valid=100, seed=1)
    >>> evaluator = TorchProgramEvaluator(Memory(4, 3, 1, features=4), tasks)
    >>> [e.cost for e in evaluator.evaluate_batch([Program.empty()] * 2, [NO_BUDGET] * 2)]
    [300, 300]
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from evoforge.automl_zero import interpreter_numpy
from evoforge.automl_zero.evaluator import ProgramEvaluator, combine
from evoforge.automl_zero.program import Memory, Program
from evoforge.evolution.space import MIN_FITNESS, NO_BUDGET, Budget, EvalContext, Evaluation

DTYPES = ("float64", "float32")


class TorchProgramEvaluator:
    """`Evaluator`, `BatchEvaluator`, `Fingerprinter` and `ContextualEvaluator`
    for programs on a `TaskSet` of ``"rms"`` or ``"accuracy"`` tasks.

    Parameters are `ProgramEvaluator`'s (no time cap: a batch has no
    per-program time) plus ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``; None
    follows `bind`) and ``dtype`` (``"float64"``, matching the compiled
    interpreter to ~1e-9, or ``"float32"``). ``max_lanes`` caps program x task
    pairs per interpreter pass (memory: a lane holds its banks), splitting a
    large chunk into several passes.
    """

    batched = True

    def __init__(
        self,
        memory: Memory,
        tasks,
        *,
        combine: str = "mean",
        max_abs_error: float = interpreter_numpy.DEFAULT_MAX_ABS_ERROR,
        fec_examples: tuple[int, int] = (10, 10),
        hurdle_tasks: int | None = None,
        random_seeds: str = "program",
        device: str | None = None,
        dtype: str = "float64",
        max_lanes: int = 1 << 20,
    ):
        if tasks.eval_type not in ("rms", "accuracy"):
            raise ValueError(
                f"the torch evaluator runs 'rms' and 'accuracy' tasks, not {tasks.eval_type!r}"
            )
        if dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {DTYPES}, got {dtype!r}")
        if max_lanes < 1:
            raise ValueError(f"max_lanes: expected >= 1, got {max_lanes}")
        # The compiled evaluator checks the shared arguments and makes fingerprints.
        self.reference = ProgramEvaluator(
            memory, tasks, combine=combine, max_abs_error=max_abs_error,
            fec_examples=fec_examples, hurdle_tasks=hurdle_tasks, random_seeds=random_seeds,
        )  # fmt: skip
        self.memory = memory
        self.tasks = tasks
        self.combine = combine
        self.max_abs_error = float(max_abs_error)
        self.hurdle_tasks = hurdle_tasks
        self.random_seeds = random_seeds
        self.device = device
        self.dtype = dtype
        self.max_lanes = max_lanes
        self._context_device = "cpu"

    def bind(self, context: EvalContext) -> None:
        """Use the worker's device unless ``device`` was given."""
        self._context_device = context.device

    @property
    def active_device(self) -> str:
        return self.device or self._context_device

    def fingerprint(self, program: Program) -> int:
        """The compiled interpreter's fingerprint (same FEC hits as ``"numba"``)."""
        return self.reference.fingerprint(program)

    def evaluate(self, program: Program, budget: Budget = NO_BUDGET) -> Evaluation:
        return self.evaluate_batch([program], [budget])[0]

    def _run(self, programs: list[Program], start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from evoforge.automl_zero.evaluator import evaluation_seeds
        from evoforge.automl_zero.interpreter_torch import run_batch

        task_seeds = self.tasks.seeds[start:stop]
        dtype = torch.float64 if self.dtype == "float64" else torch.float32
        per_pass = max(1, self.max_lanes // max(stop - start, 1))
        fitness, steps = [], []
        for lo in range(0, len(programs), per_pass):
            part = programs[lo : lo + per_pass]
            if self.random_seeds == "program":
                seeds = np.stack([evaluation_seeds(p, task_seeds) for p in part])
            else:
                seeds = np.broadcast_to(task_seeds, (len(part), stop - start))
            f, s = run_batch(part, self.memory, self.tasks, start, stop, seeds=seeds,
                             max_abs_error=self.max_abs_error, device=self.active_device,
                             dtype=dtype)  # fmt: skip
            fitness.append(f)
            steps.append(s)
        return np.concatenate(fitness), np.concatenate(steps)

    def evaluate_batch(
        self, genomes: Sequence[Program], budgets: Sequence[Budget]
    ) -> list[Evaluation]:
        """One `Evaluation` per program, in order (see the module docstring)."""
        from evoforge.automl_zero.interpreter_torch import check_program

        started = time.perf_counter()
        D = self.tasks.D
        results: list[Evaluation | None] = [None] * len(genomes)
        good = []
        for i, p in enumerate(genomes):
            problem = check_program(p.code, p.data, p.sizes, self.memory)
            if problem is None:
                good.append(i)
            else:
                results[i] = Evaluation(MIN_FITNESS, (), 0, error=problem)
        h = self.hurdle_tasks
        split = h is not None and h < D and any(budgets[i].hurdle is not None for i in good)
        first = h if split else D
        fitness = np.zeros((len(genomes), D))
        steps = np.zeros((len(genomes), D), dtype=np.int64)
        if good:
            f, s = self._run([genomes[i] for i in good], 0, first)
            fitness[good, :first], steps[good, :first] = f, s
        rest, stopped = [], set()
        for i in good:
            hurdle = budgets[i].hurdle
            partial = combine(fitness[i, :first].tolist(), self.combine)
            if split and hurdle is not None and partial < hurdle:
                stopped.add(i)
                continue
            if first < D:
                rest.append(i)
        if rest:
            f, s = self._run([genomes[i] for i in rest], first, D)
            fitness[rest, first:], steps[rest, first:] = f, s
        # Wall time is the batch's, shared evenly: per program it is not observable.
        share = (time.perf_counter() - started) / max(len(genomes), 1)
        for i in good:
            n = first if i in stopped else D
            per_task = fitness[i, :n].tolist()
            results[i] = Evaluation(
                combine(per_task, self.combine),
                tuple(per_task),
                int(steps[i, :n].sum()),
                early_stopped=i in stopped,
                wall_time=share,
            )
        return results  # type: ignore[return-value]
