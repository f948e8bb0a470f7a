"""Building blocks of the paper's experiments, shared by the benchmark scripts.

* `run_experiment`: one search experiment = one run of a config with its own
  seed and size (``run.max_individuals`` / ``run.max_seconds``), in its own
  run directory.
* `tuned_reference`: a hand-designed baseline (`evoforge.automl_zero.baselines`)
  with its constants tuned by random search on given tasks.
* `acceptable_count`, `best_so_far`: what a finished run's ``run.sqlite``
  says: how many evaluated programs reached a fitness threshold (and when the
  first one did), and the programs that were the best so far with their
  select-task fitness (Supplement S7's candidates).
* `success_rates`: §4.1's success rates of evolution and random search at
  equal evaluations.

Example:
    >>> from evoforge.automl_zero.experiments import success_rates
    >>> success_rates(evolution_successes=3, evolution_evaluations=30_000,
    ...               random_acceptable=1, random_evaluations=30_000)["ratio"]
    3.0
"""

from __future__ import annotations

import json
import math
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.automl_zero.baselines import baseline_program
from evoforge.automl_zero.evaluator import ProgramEvaluator
from evoforge.automl_zero.program import Memory, Program
from evoforge.automl_zero.tune import tune_constants
from evoforge.config import load_config
from evoforge.domains import DomainSetup, build_domain
from evoforge.evolution.store import connect

STORE_FILE = "run.sqlite"
CONFIG_FILE = "config.toml"


@dataclass(frozen=True)
class Experiment:
    """How one experiment (run) ended."""

    run_dir: Path
    seed: int
    individuals: int
    seconds: float
    best_fitness: float
    stop_reason: str


def run_experiment(
    config: str | Path,
    run_dir: str | Path,
    seed: int,
    *,
    individuals: int | None = None,
    seconds: float | None = None,
    overrides: dict[str, Any] | None = None,
) -> Experiment:
    """Run ``config`` with ``run.seed = seed`` in ``run_dir`` (absent or empty).

    ``individuals`` and ``seconds`` override ``run.max_individuals`` and
    ``run.max_seconds`` when given; ``overrides`` maps other dotted config keys
    to values. Raises `evoforge.config.ConfigError` for a bad config or value.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> cfg = Path("configs/automl_zero/linear_regressor_random_search.toml")
        >>> e = run_experiment(cfg, Path(tempfile.mkdtemp()) / "r", 3, individuals=50)
        >>> e.individuals, e.seed, 0.0 <= e.best_fitness <= 1.0
        (50, 3, True)
    """
    from evoforge.evolution.run import Run  # the engine, only when a run is made

    values = dict(overrides or {})
    values["run.seed"] = int(seed)
    if individuals is not None:
        values["run.max_individuals"] = int(individuals)
    if seconds is not None:
        values["run.max_seconds"] = float(seconds)
    result = Run.create(Path(run_dir), load_config(config, values)).run()
    best = result.best.fitness if result.best is not None else 0.0
    return Experiment(
        Path(run_dir), int(seed), result.n_individuals, result.elapsed, best, result.stop_reason
    )


def run_setup(run_dir: str | Path) -> DomainSetup:
    """The domain of a run directory, rebuilt from its resolved config
    (the same search and select tasks as the run)."""
    return build_domain(load_config(Path(run_dir) / CONFIG_FILE))


def tuned_reference(
    name: str,
    tasks,
    trials: int,
    seed: int = 0,
    **constants: float,
) -> tuple[Program, Memory, float]:
    """Baseline ``name`` with constants tuned by `tune_constants` (``trials``
    random-search trials, seeded) on ``tasks``; returns ``(program, memory,
    fitness)`` with the fitness on ``tasks``.

    Example:
        >>> from evoforge.data.regression import linear_tasks
        >>> ts = linear_tasks(3, 8, 1000, 100, seed=0)
        >>> _, _, fitness = tuned_reference("linear_sgd", ts, 20, learning_rate=0.001)
        >>> fitness > 0.999
        True
    """
    program, memory = baseline_program(name, tasks.F, **constants)
    evaluator = ProgramEvaluator(memory, tasks)
    best, fitness, _ = tune_constants(
        program, memory, evaluator, trials, np.random.default_rng(seed)
    )
    return best, memory, fitness


def acceptable_count(run_dir: str | Path, threshold: float) -> tuple[int, int | None]:
    """``(number of evaluated individuals with fitness >= threshold, how many
    individuals had been evaluated when the first one was)``; ``None`` for
    the second when there is none. FEC hits count, with their cached fitness."""
    with closing(connect(Path(run_dir) / STORE_FILE)) as db:
        count, first = db.execute(
            "select count(*), min(id) from individuals where fitness >= ?", (float(threshold),)
        ).fetchone()
        (lowest,) = db.execute("select min(id) from individuals").fetchone()
    return int(count), None if first is None else int(first) - int(lowest) + 1


def individual_count(run_dir: str | Path) -> int:
    """How many individuals a run evaluated."""
    with closing(connect(Path(run_dir) / STORE_FILE)) as db:
        return int(db.execute("select count(*) from individuals").fetchone()[0])


def best_so_far(run_dir: str | Path) -> list[dict[str, Any]]:
    """The run's best-so-far programs in order: dicts with ``id``,
    ``fitness`` (search), ``select_fitness`` (None without select tasks) and
    ``text`` (the program)."""
    with closing(connect(Path(run_dir) / STORE_FILE)) as db:
        events = [
            json.loads(p) for (p,) in db.execute("select payload from events where kind='new_best'")
        ]
        texts = {}
        for event in events:
            row = db.execute(
                "select genome_text from individuals_text where id = ?", (event["id"],)
            ).fetchone()
            texts[event["id"]] = row[0]
    return [
        {
            "id": e["id"],
            "fitness": e["fitness"],
            "select_fitness": e.get("select_fitness"),
            "text": texts[e["id"]],
        }
        for e in events
    ]


def selected(candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """Supplement S7's choice: the candidate with the highest select fitness
    (the earliest on ties; the highest search fitness when none has one).

    Example:
        >>> selected([{"id": 1, "fitness": 0.5, "select_fitness": 0.7},
        ...           {"id": 2, "fitness": 0.6, "select_fitness": 0.6}])["id"]
        1
    """
    if not candidates:
        raise ValueError("candidates: expected at least one best-so-far program, got none")
    if all(c["select_fitness"] is None for c in candidates):
        return max(candidates, key=lambda c: c["fitness"])
    return max(
        candidates, key=lambda c: -1.0 if c["select_fitness"] is None else c["select_fitness"]
    )


def _binomial_tail(k: int, n: int, q: float) -> float:
    """P(X >= k) for X ~ Binomial(n, q), summed in log space (n may be large)."""
    if k <= 0:
        return 1.0
    if q <= 0.0 or k > n:
        return 0.0
    if q >= 1.0:
        return 1.0
    log_q, log_1q = math.log(q), math.log1p(-q)
    log_n = math.lgamma(n + 1)

    def log_pmf(i: int) -> float:
        return log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_q + (n - i) * log_1q

    return min(1.0, math.fsum(math.exp(log_pmf(i)) for i in range(k, n + 1)))


def _solve_increasing(f, target: float) -> float:
    """The q in [0, 1] where the increasing ``f(q)`` crosses ``target`` (bisection)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return (lo + hi) / 2


def success_rates(
    *,
    evolution_successes: int,
    evolution_evaluations: int,
    random_acceptable: int,
    random_evaluations: int,
    target_ratio: float = 3.0,
) -> dict[str, float | list[float | None] | None]:
    """§4.1's success rates: acceptable algorithms per evaluation.

    Random search counts every acceptable program it evaluated; evolution
    counts at most one per experiment (the paper's choice, which biases the
    comparison against evolution). ``ratio`` is evolution's rate over random
    search's (None when random search found none). Treating both counts as
    Poisson, given their sum the evolution count is binomial with a share set
    by the ratio (the conditional test for a ratio of rates). From it:
    ``p_ratio_at_most_target``, the one-sided p-value of "evolution's rate is
    at most ``target_ratio`` times random search's" (small: the ratio exceeds
    the target, even when random search found nothing), and ``ratio_95``, the
    exact (Clopper-Pearson) 95 % interval of the ratio (None for an unbounded end).

    Example:
        >>> r = success_rates(evolution_successes=12, evolution_evaluations=10**6,
        ...                   random_acceptable=0, random_evaluations=10**6)
        >>> r["ratio"], round(r["p_ratio_at_most_target"], 4), round(r["ratio_95"][0], 2)
        (None, 0.0317, 2.78)
    """
    if evolution_evaluations < 1 or random_evaluations < 1:
        raise ValueError(
            f"evaluations: expected >= 1 for both, got {evolution_evaluations} and "
            f"{random_evaluations}"
        )
    k, total = evolution_successes, evolution_successes + random_acceptable
    evo = k / evolution_evaluations
    rs = random_acceptable / random_evaluations

    def ratio_of_share(share: float) -> float | None:
        if share >= 1.0:
            return None
        return share / (1 - share) * random_evaluations / evolution_evaluations

    # A success is evolution's with probability share = r*n_evo / (r*n_evo + n_rs).
    share = target_ratio * evolution_evaluations
    share /= share + random_evaluations
    low = 0.0 if k == 0 else _solve_increasing(lambda q: _binomial_tail(k, total, q), 0.025)
    high = (
        1.0 if k == total else _solve_increasing(lambda q: _binomial_tail(k + 1, total, q), 0.975)
    )
    return {
        "evolution_rate": evo,
        "random_search_rate": rs,
        "ratio": evo / rs if rs > 0 else None,
        "ratio_95": [ratio_of_share(low), ratio_of_share(high)],
        "target_ratio": target_ratio,
        "p_ratio_at_most_target": _binomial_tail(k, total, share),
    }
