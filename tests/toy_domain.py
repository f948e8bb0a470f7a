"""OneMax on bit strings: a tiny domain that drives the whole engine in tests.

Genomes are strings of '0'/'1' (immutable, so the engine may share them). The
evaluator scores two "tasks" (the two halves), honours hurdles after the
first, and fingerprints the exact genome for the FEC. Test hooks: ``sleep``
slows evaluations (for kill tests), ``fail_prefix`` makes matching genomes
raise, ``interrupt_after`` raises KeyboardInterrupt on that call, and
``crash_once_file`` kills the evaluating process once (the first process to
create that file), as a segfault in compiled code would; ``hang_prefix``
makes matching genomes sleep for an hour (for time limits) and
``context_file`` gets one line per worker's `EvalContext` (``bind``).
``batched = true`` gives an evaluator with ``evaluate_batch`` (each call's
size appended to ``batch_log_file``) that scores exactly as the plain one.

``crossover = true`` gives the space a one-point ``crossover`` (two-parent
children); ``noise = sigma`` adds seeded Gaussian noise to every score (no
fingerprint: re-evaluations differ), for strategies that re-evaluate.
``lamarckian = true`` gives an evaluator that keeps an artefact per
individual (a counter inherited from the first parent, plus one).
``shift = c`` adds ``c`` to every fitness (and per-task score): with a
negative shift every valid fitness is negative, as game returns or negative
losses are, to check that failures (-inf) still lose every comparison.

Importing this module registers the domain as ``"toy"``; subprocesses get it
through ``run.plugins = ["toy_domain"]`` with ``tests/`` on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from evoforge.config import Section
from evoforge.domains import DomainSetup, register_domain
from evoforge.evolution.space import Budget, EvalContext, Evaluation, Job

NO_BUDGET = Budget()


class BitSpace:
    """Bit strings of a fixed length (at most 62 bits: drawn as one integer)."""

    def __init__(self, length: int) -> None:
        self.length = length
        self._format = f"0{length}b"

    def initial(self, rng: np.random.Generator) -> str:
        return format(int(rng.integers(0, 1 << self.length)), self._format)

    def mutate(self, genome: str, rng: np.random.Generator) -> tuple[str, str]:
        i = int(rng.integers(self.length))
        return genome[:i] + ("1" if genome[i] == "0" else "0") + genome[i + 1 :], "flip_bit"

    def to_text(self, genome: str) -> str:
        return genome

    def from_text(self, text: str) -> str:
        if len(text) != self.length or set(text) - {"0", "1"}:
            raise ValueError(f"expected {self.length} bits, got {text!r}")
        return text

    def to_json(self, genome: str) -> str:
        return genome

    def from_json(self, data: Any) -> str:
        return self.from_text(data)


class CrossoverBitSpace(BitSpace):
    """Bit strings with one-point crossover: ``a[:cut] + b[cut:]``."""

    def crossover(self, a: str, b: str, rng: np.random.Generator) -> str:
        cut = int(rng.integers(1, self.length))
        return a[:cut] + b[cut:]


class OneMax:
    """Fraction of ones, averaged over two halves ("tasks"); no fingerprint."""

    def __init__(
        self,
        length: int,
        sleep: float = 0.0,
        fail_prefix: str | None = None,
        interrupt_after: int | None = None,
        crash_once_file: str | None = None,
        hang_prefix: str | None = None,
        context_file: str | None = None,
        shift: float = 0.0,
    ) -> None:
        self.shift = shift
        self.half = length // 2
        self.rest = length - self.half
        self.sleep = sleep
        self.fail_prefix = fail_prefix
        self.interrupt_after = interrupt_after
        self.crash_once_file = crash_once_file
        self.hang_prefix = hang_prefix
        self.context_file = context_file
        self.calls = 0

    def bind(self, context: EvalContext) -> None:
        if self.context_file is not None:
            with open(self.context_file, "a") as f:
                f.write(f"{context.worker} {context.device} {os.getpid()}\n")

    def evaluate(self, genome: str, budget: Budget = NO_BUDGET) -> Evaluation:
        self.calls += 1
        if self.interrupt_after is not None and self.calls == self.interrupt_after:
            raise KeyboardInterrupt
        if self.sleep:
            time.sleep(self.sleep)
        if self.crash_once_file is not None:
            try:
                os.close(os.open(self.crash_once_file, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os._exit(1)
        if self.fail_prefix is not None and genome.startswith(self.fail_prefix):
            raise ValueError("toy failure")
        if self.hang_prefix is not None and genome.startswith(self.hang_prefix):
            time.sleep(3600)
        first = genome[: self.half].count("1") / self.half + self.shift
        if budget.hurdle is not None and first < budget.hurdle:
            return Evaluation(
                first / 2 + self.shift / 2, per_task=(first,), cost=self.half, early_stopped=True
            )
        second = genome[self.half :].count("1") / self.rest + self.shift
        return Evaluation((first + second) / 2, per_task=(first, second), cost=len(genome))


class FingerprintedOneMax(OneMax):
    """OneMax whose fingerprint is the genome itself, so exact repeats hit the FEC."""

    def fingerprint(self, genome: str) -> int:
        return int(genome, 2)


class BatchedOneMax(FingerprintedOneMax):
    """OneMax with ``evaluate_batch``: scores a list of genomes in one call
    (the same scores as ``evaluate``) and logs each call's size."""

    def __init__(self, length: int, batch_log_file: str | None = None, **hooks: Any) -> None:
        super().__init__(length, **hooks)
        self.batch_log_file = batch_log_file

    def evaluate_batch(self, genomes: list[str], budgets: list[Budget]) -> list[Evaluation]:
        if self.batch_log_file is not None:
            with open(self.batch_log_file, "a") as f:
                f.write(f"{len(genomes)}\n")
        return [self.evaluate(g, b) for g, b in zip(genomes, budgets, strict=True)]


class NoisyOneMax(OneMax):
    """OneMax plus N(0, noise²) per evaluation, from a generator seeded with the
    run's seed (each process's copy draws the same sequence); no fingerprint."""

    def __init__(self, length: int, noise: float, seed: int, **hooks: Any) -> None:
        super().__init__(length, **hooks)
        self.noise = noise
        self.rng = np.random.default_rng(seed)

    def evaluate(self, genome: str, budget: Budget = NO_BUDGET) -> Evaluation:
        ev = super().evaluate(genome, budget)
        noisy = ev.fitness + self.noise * float(self.rng.standard_normal())
        return Evaluation(noisy, ev.per_task, ev.cost, early_stopped=ev.early_stopped)


class InheritingOneMax(OneMax):
    """Lamarckian OneMax: each evaluation reads its first parent's
    ``count.txt`` artefact and writes the count plus one, so an individual's
    count is its lineage depth plus one exactly when every parent's files were
    there for its children. Errors if a parent that should have files has none."""

    def evaluate_job(self, job: Job, budget: Budget = NO_BUDGET) -> Evaluation:
        inherited = 0
        if job.parent_ids:
            if job.parents[0] is None:
                raise FileNotFoundError(f"parent {job.parent_ids[0]} has no artefacts")
            inherited = int((job.parents[0] / "count.txt").read_text())
        (job.output / "count.txt").write_text(f"{inherited + 1}\n")
        return self.evaluate(job.genome, budget)


def odd_bits(genome: str) -> float:
    """The "select" fitness: fraction of ones at odd positions."""
    odd = genome[1::2]
    return odd.count("1") / len(odd)


def build_toy(table: Mapping[str, Any], path: str, seed: int) -> DomainSetup:
    s = Section(table, path)
    length = s.get_int("length", 32, min=2, max=62)
    fingerprint = s.get_bool("fingerprint", True)
    selector = s.get_bool("selector", False)
    crossover = s.get_bool("crossover", False)
    noise = s.get_float("noise", 0.0, min=0.0)
    batched = s.get_bool("batched", False)
    batch_log_file = s.get_str("batch_log_file", None)
    lamarckian = s.get_bool("lamarckian", False)
    params = {
        "sleep": s.get_float("sleep", 0.0, min=0.0),
        "fail_prefix": s.get_str("fail_prefix", None),
        "interrupt_after": s.get_int("interrupt_after", None, min=1),
        "crash_once_file": s.get_str("crash_once_file", None),
        "hang_prefix": s.get_str("hang_prefix", None),
        "context_file": s.get_str("context_file", None),
        "shift": s.get_float("shift", 0.0),
    }
    resolved = s.finish()
    if batched:
        evaluator: OneMax = BatchedOneMax(length, batch_log_file, **params)
    else:
        evaluator = (FingerprintedOneMax if fingerprint else OneMax)(length, **params)
    if noise:
        evaluator = NoisyOneMax(length, noise, seed, **params)
    if lamarckian:
        evaluator = InheritingOneMax(length, **params)
    return DomainSetup(
        space=(CrossoverBitSpace if crossover else BitSpace)(length),
        evaluator=evaluator,
        selector=odd_bits if selector else None,
        describe=lambda genome: f"{genome.count('1')} ones",
        resolved_config=resolved,
    )


register_domain("toy", build_toy)
