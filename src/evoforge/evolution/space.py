"""The seams every domain plugs into: search space, evaluator, evaluation record.

A domain (AutoML-Zero programs, activation functions, architectures, ...) is a
`SearchSpace` that makes and mutates genomes plus an `Evaluator` that scores
them. The engine (strategies, store, run driver, backends) only sees these
protocols, so it never imports a domain.

Example:
    >>> import numpy as np
    >>> from evoforge.evolution.space import Evaluation
    >>> Evaluation(fitness=0.5, per_task=(0.4, 0.6)).fitness
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: The fitness the engine gives an evaluation that failed (an exception, a
#: non-finite score, a time limit, a dead worker): below every real fitness
#: whatever its sign, so a failure loses every comparison, never enters a
#: population against a valid individual and never becomes the best, and a
#: domain whose fitness is negative (game returns, negative losses) needs no
#: shifting. The `Evaluation.error` field is what marks a failure.
FAILED_FITNESS = -math.inf
#: The floor of domains whose fitness lies in [0, 1] (AutoML-Zero's kMinFitness,
#: the activation searches): they may return it with an ``error`` of their own.
#: A domain's floor must be no higher than its valid fitnesses; the engine's
#: failures use `FAILED_FITNESS`.
MIN_FITNESS = 0.0

#: The ``mutation`` of a re-evaluation: the row scores individual ``parent_id``'s
#: genome again (for noisy fitness), and the strategy aggregates the results.
REEVALUATE = "reevaluate"


@dataclass(frozen=True)
class Budget:
    """What an evaluation may spend.

    ``hurdle``: if set, the evaluator scores a first part of its work (for
    AutoML-Zero, the first tasks) and stops early when that partial fitness
    is below the hurdle.
    """

    hurdle: float | None = None


NO_BUDGET = Budget()


@dataclass(frozen=True)
class Evaluation:
    """The result of scoring one genome.

    ``cost`` is counted in work units (for AutoML-Zero: training steps), so
    budgets do not depend on the machine. ``fingerprint`` identifies the
    genome's behaviour for the functional-equivalence cache; ``error`` names
    why a degenerate candidate failed (the engine then gives it
    `FAILED_FITNESS`; a domain may give its own floor instead).
    """

    fitness: float
    per_task: tuple[float, ...] = ()
    cost: int = 0
    fingerprint: int | None = None
    early_stopped: bool = False
    error: str | None = None
    fec_hit: bool = False
    wall_time: float = 0.0


@dataclass
class Individual:
    """A genome with its place in the run: id, parent, the mutation that made it
    and its evaluation.

    ``parent2_id`` is the second parent of a crossover child. A re-evaluation
    (``mutation == REEVALUATE``) is its own individual whose ``parent_id`` is
    the individual it scores again.
    """

    id: int
    genome: Any
    evaluation: Evaluation
    parent_id: int | None = None
    mutation: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Where and when it was scored: the backend's worker index and the Unix
    # time at which the driver received the result (both stored, never used
    # for search decisions).
    worker: int = 0
    created: float = 0.0
    parent2_id: int | None = None

    @property
    def fitness(self) -> float:
        return self.evaluation.fitness

    @property
    def reevaluates(self) -> int | None:
        """The id this row re-evaluates, or None for a new genome."""
        return self.parent_id if self.mutation == REEVALUATE else None


@runtime_checkable
class SearchSpace(Protocol):
    """Makes, mutates and (de)serialises genomes."""

    def initial(self, rng: np.random.Generator) -> Any:
        """A genome for the initial population."""
        ...

    def mutate(self, genome: Any, rng: np.random.Generator) -> tuple[Any, str]:
        """A mutated copy of ``genome`` and the name of the mutation applied."""
        ...

    def to_text(self, genome: Any) -> str:
        """A readable form that `from_text` parses back to an equal genome."""
        ...

    def from_text(self, text: str) -> Any: ...

    def to_json(self, genome: Any) -> Any:
        """A JSON-serialisable, exact form of the genome."""
        ...

    def from_json(self, data: Any) -> Any: ...


@runtime_checkable
class Evaluator(Protocol):
    """Scores genomes. Must be picklable and free of side effects, so any
    backend may run it in any process."""

    def evaluate(self, genome: Any, budget: Budget = NO_BUDGET) -> Evaluation: ...


@runtime_checkable
class Fingerprinter(Protocol):
    """Optional evaluator capability: a cheap behavioural fingerprint used by
    the functional-equivalence cache (`evoforge.evolution.fec`)."""

    def fingerprint(self, genome: Any) -> int: ...


@dataclass(frozen=True)
class EvalContext:
    """Where an evaluation runs: the backend's worker index and the device
    assigned to that worker (``run.devices``, dealt round-robin to workers).

    Frozen and keyword-built: new fields (the individual's id, its parent's
    artefacts) get defaults, so evaluators written against these two keep
    working.

    Example:
        >>> EvalContext(worker=1, device="cuda:1").device
        'cuda:1'
    """

    worker: int = 0
    device: str = "cpu"


@runtime_checkable
class ContextualEvaluator(Protocol):
    """Optional evaluator capability: ``bind(context)`` is called in each
    worker (and in the driver for the serial backend) before its first
    evaluation, and again whenever that worker's context changes.

    Why a hook rather than an ``evaluate(genome, budget, context)`` variant:
    worker and device are fixed for a worker's life, so an evaluator moves its
    data or model to the device once (not per genome); the same hook serves
    ``evaluate`` and ``evaluate_batch`` without a second signature for each;
    and evaluators without it cost nothing per evaluation (the hot path).

    Example:
        >>> class OnDevice:
        ...     def bind(self, context): self.device = context.device
        ...     def evaluate(self, genome, budget=NO_BUDGET): return Evaluation(0.0)
        >>> isinstance(OnDevice(), ContextualEvaluator)
        True
    """

    def bind(self, context: EvalContext) -> None: ...


@runtime_checkable
class BatchEvaluator(Protocol):
    """Optional evaluator capability: score several genomes in one call (a
    population on a GPU, vectorised numpy). Returns one `Evaluation` per
    genome, in order; ``budgets[i]`` applies to ``genomes[i]``. Backends hand
    it chunks (see `evoforge.evolution.backends`); the FEC answers its hits
    itself and forwards only the misses.

    Example:
        >>> class Halves:
        ...     def evaluate(self, genome, budget=NO_BUDGET): return Evaluation(genome / 2)
        ...     def evaluate_batch(self, genomes, budgets):
        ...         return [Evaluation(g / 2) for g in genomes]
        >>> [e.fitness for e in Halves().evaluate_batch([2, 4], [NO_BUDGET] * 2)]
        [1.0, 2.0]
    """

    def evaluate(self, genome: Any, budget: Budget = NO_BUDGET) -> Evaluation: ...

    def evaluate_batch(
        self, genomes: Sequence[Any], budgets: Sequence[Budget]
    ) -> list[Evaluation]: ...


@dataclass(frozen=True)
class Job:
    """One evaluation together with the files it may read and write: what an
    `ArtefactEvaluator` receives instead of a bare genome.

    ``output`` is an empty directory the evaluation writes its artefacts into
    (trained weights as safetensors or ``.npz``, pictures, logs); the engine
    gives it to the individual's id when the row is stored (ids follow
    completion order, which is what keeps them contiguous after a crash).
    ``parents`` holds each parent's artefact directory, None where a parent
    left none, aligned with ``parent_ids``; ``mutation`` names what made the
    child, so an evaluator can map the parent's weights onto the child's
    architecture (weight inheritance, Lamarckian evolution).

    Example:
        >>> from pathlib import Path
        >>> job = Job("0110", Path("/tmp/out"), (None,), (3,), "flip_bit")
        >>> job.parent_ids, job.mutation
        ((3,), 'flip_bit')
    """

    genome: Any
    output: Path
    parents: tuple[Path | None, ...] = ()
    parent_ids: tuple[int, ...] = ()
    mutation: str | None = None


@runtime_checkable
class ArtefactEvaluator(Protocol):
    """Optional evaluator capability: an evaluator with ``evaluate_job`` keeps
    files per individual in the run's artefact store
    (`evoforge.evolution.artefacts`) and reads its parents' files. The engine
    then calls it instead of ``evaluate`` during a run (``evaluate`` stays the
    plain scoring used by export and tests), and turns the FEC off: a cache
    hit would leave the child without files.

    Example:
        >>> class Counter:
        ...     def evaluate(self, genome, budget=NO_BUDGET): return Evaluation(0.0)
        ...     def evaluate_job(self, job, budget=NO_BUDGET): return Evaluation(1.0)
        >>> isinstance(Counter(), ArtefactEvaluator)
        True
    """

    def evaluate(self, genome: Any, budget: Budget = NO_BUDGET) -> Evaluation: ...

    def evaluate_job(self, job: Job, budget: Budget = NO_BUDGET) -> Evaluation: ...


@dataclass
class DomainSetup:
    """What a domain builder returns.

    - ``space``, ``evaluator``: the seams the engine drives.
    - ``selector``: optional ``genome -> float``, e.g. fitness on held-out
      "select" tasks, called whenever the best search fitness improves.
    - ``describe``: optional ``genome -> str``, a short human summary written
      into ``best.txt``'s header (e.g. "12 instructions, 5 effective").
    - ``resolved_config``: the domain table with every default filled in,
      saved in the run's ``config.toml`` (``Section.finish()`` returns it).
    - ``fitness_range``: optional (low, high) that every search and select
      fitness lies in; `evoforge.domains.build_domain` refuses ``stop_fitness`` and
      ``stop_select_fitness`` outside it, which could never stop a run.
    - ``worker_bytes``: estimated memory of one copy of the evaluator (and
      selector), held by every worker; ``genome_bytes``: of one genome at its
      largest, held by every population member. With them `evoforge.domains.build_domain`
      refuses a run that cannot fit in memory before anything is written;
      each is paired with the config key to name (``*_key``).
    - ``use_run_dir``: optional, called with the run directory when the run's
      parts are built (before any evaluation; it must write nothing then): where
      a space keeps run-scoped caches, such as AQuaSurF's features.
    - ``for_experiment``: optional, offered by a domain that can redraw its
      tasks: ``k -> DomainSetup`` whose ``evaluator`` and ``selector`` score
      experiment ``k`` of a restarting run (``run.randomize_task_seeds``)
      on tasks drawn from the run's seed and ``k``, so a resumed run rebuilds
      the same ones; everything else (the space above all) is this setup's.
      It may raise `ConfigError` for a config that fixes what it would redraw.

    Example:
        >>> from evoforge.evolution.space import Evaluation
        >>> class Tasks:  # scores a genome against experiment k's target
        ...     def __init__(self, k): self.k = k
        ...     def evaluate(self, g, budget=None): return Evaluation(-abs(g - self.k))
        >>> def setup(k): return DomainSetup(None, Tasks(k), for_experiment=setup)
        >>> setup(0).for_experiment(3).evaluator.evaluate(1).fitness
        -2
    """

    space: SearchSpace
    evaluator: Evaluator
    selector: Callable[[Any], float] | None = None
    describe: Callable[[Any], str] | None = None
    resolved_config: Mapping[str, Any] | None = None
    fitness_range: tuple[float, float] | None = None
    worker_bytes: int = 0
    worker_key: str = ""
    genome_bytes: int = 0
    genome_key: str = ""
    use_run_dir: Callable[[Path], None] | None = None
    for_experiment: Callable[[int], DomainSetup] | None = None
