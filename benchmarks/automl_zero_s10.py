"""Supplement S10 / Table S5: the restricted-space baseline, repeated.

Runs ``--config`` (default ``configs/automl_zero/s10_restricted.toml``)
``--repeats`` times (seeds 0, 1, ...), each for ``--seconds`` or
``--individuals``; ``--full`` adds FEC and hurdles (the paper's "Full" method;
default "Basic", unless the config turns both on itself, as
``s10_mnist1d.toml`` does); ``--dataset`` picks the images the search and
select tasks project (digits, ``mnist1d``, or e.g. ``fashion_mnist`` where
installed: see ``evoforge datasets``). For each repeat,
*best accuracy* is the highest accuracy on the run's 100 unseen select tasks
(held-out class pairs) among its best-so-far programs, as Table S5 reports.

The references are the hand-designed `logistic_regression` and
`two_layer_nn` programs, their constants tuned (``--baseline-trials``
random-search trials, `evoforge.automl_zero.tune.tune_constants`) on
select-style tasks that are not evaluation tasks (other projections of the
select pairs), then evaluated on each repeat's select tasks. A repeat
succeeds against a reference when its best accuracy is above the reference's
on the same tasks.

Prints JSON lines: ``s10_baselines`` (tuned constants' fitness on the tuning
tasks), ``s10_repeat`` per run and ``s10_summary`` (mean best accuracy ± 2 SEM,
success fractions ± 2σ as in Table S5).

Run directories are deleted once scored unless ``--keep-runs`` (keep them to
pass one to ``benchmarks/automl_zero_final_eval.py``; about 14 MB per 30 s).

Usage:
    python benchmarks/automl_zero_s10.py --repeats 100 --seconds 600 --jobs 2 --out runs/s10
    python benchmarks/automl_zero_s10.py --full --dataset fashion_mnist --repeats 10 --seconds 300
    python benchmarks/automl_zero_s10.py --config configs/automl_zero/s10_mnist1d.toml \
        --dataset mnist1d --repeats 5 --seconds 300 --keep-runs --out runs/s10_mnist1d
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from evoforge.automl_zero.evaluator import ProgramEvaluator
from evoforge.automl_zero.experiments import best_so_far, run_experiment, run_setup, tuned_reference
from evoforge.config import load_config
from evoforge.data.projected import projected_binary_tasks

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "automl_zero" / "s10_restricted.toml"
FULL = {
    "search.fec.enabled": True,
    "search.hurdle.enabled": True,
    "search.hurdle.percentile": 75.0,
    "automl_zero.hurdle_tasks": 3,
}
BASELINE_START = {
    "logistic_regression": {"learning_rate": 0.01},
    "two_layer_nn": {"learning_rate": 0.01, "init_scale": 0.1},
}
TUNING_SEED = 77_777


def tune_baselines(trials: int, dataset: str = "digits", n_tasks: int = 20) -> dict[str, tuple]:
    """Each baseline tuned on ``n_tasks`` select-pair tasks with projections of
    their own seed: ``{name: (program, memory, tuning fitness)}``."""
    per_pair = -(-n_tasks // 9)
    tasks = projected_binary_tasks(
        dataset, split="select", projections_per_pair=per_pair, seed=TUNING_SEED
    ).subset(range(n_tasks))
    return {
        name: tuned_reference(name, tasks, trials, seed=1, **start)
        for name, start in BASELINE_START.items()
    }


def is_full(config: Path) -> bool:
    """Whether ``config`` itself turns on both FEC and hurdles (Table S5's "Full")."""
    search = load_config(config).search
    return search.fec.enabled and search.hurdle.enabled


def repeat(seed: int, *, seconds: float | None, individuals: int | None, full: bool, out: Path,
           baselines: dict[str, tuple], keep: bool = False, dataset: str = "digits",
           config: Path = CONFIG) -> dict:  # fmt: skip
    """One run and its best accuracy on its select tasks, against the baselines there."""
    run_dir = out / f"s10_{'full' if full else 'basic'}_seed{seed}"
    overrides = {
        f"automl_zero.{tasks}.dataset": dataset for tasks in ("search_tasks", "select_tasks")
    }
    result = run_experiment(
        config, run_dir, seed, seconds=seconds, individuals=individuals,
        overrides={**(FULL if full else {}), **overrides},
    )  # fmt: skip
    select = run_setup(run_dir).selector.evaluator.tasks
    candidates = best_so_far(run_dir)
    best = max((c["select_fitness"] or 0.0) for c in candidates) if candidates else 0.0
    if not keep:  # about 14 MB per 30 s of search
        shutil.rmtree(run_dir)
    references = {
        name: ProgramEvaluator(memory, select).evaluate(program).fitness
        for name, (program, memory, _) in baselines.items()
    }
    return dict(
        figure="s10_repeat", seed=seed, method="full" if full else "basic", dataset=dataset,
        individuals=result.individuals, seconds=round(result.seconds, 1),
        best_search_fitness=result.best_fitness, best_accuracy=best,
        logistic_regression_accuracy=references["logistic_regression"],
        two_layer_nn_accuracy=references["two_layer_nn"],
        beats_logistic_regression=best > references["logistic_regression"],
        beats_two_layer_nn=best > references["two_layer_nn"],
    )  # fmt: skip


def summarize(rows: list[dict]) -> dict:
    """Table S5's columns: mean best accuracy ± 2 SEM, success fractions ± 2σ
    (binomial standard deviation of the fraction)."""
    n = len(rows)
    best = np.array([r["best_accuracy"] for r in rows])
    sem = float(best.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0

    def fraction(key: str) -> tuple[float, float]:
        p = sum(r[key] for r in rows) / n
        return p, 2 * math.sqrt(p * (1 - p) / n)

    lin, lin_err = fraction("beats_logistic_regression")
    nn, nn_err = fraction("beats_two_layer_nn")
    return dict(
        figure="s10_summary", repeats=n, method=rows[0]["method"], dataset=rows[0]["dataset"],
        mean_individuals=float(np.mean([r["individuals"] for r in rows])),
        best_accuracy=float(best.mean()), best_accuracy_2sem=2 * sem,
        linear_success_fraction=lin, linear_success_2sigma=lin_err,
        nn_success_fraction=nn, nn_success_2sigma=nn_err,
        logistic_regression_accuracy=float(np.mean(
            [r["logistic_regression_accuracy"] for r in rows])),
        two_layer_nn_accuracy=float(np.mean([r["two_layer_nn_accuracy"] for r in rows])),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=CONFIG, help="the search's config")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seconds", type=float, help="stop each run after this long")
    parser.add_argument("--individuals", type=int, help="stop each run after this many")
    parser.add_argument("--full", action="store_true", help="FEC and hurdles on")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (one core each)")
    parser.add_argument("--baseline-trials", type=int, default=300)
    parser.add_argument("--dataset", default="digits", help="images the tasks project")
    parser.add_argument(
        "--keep-runs",
        action="store_true",
        help="keep each run directory under --out (default: delete it once scored)",
    )
    parser.add_argument("--out", type=Path, help="where the run directories go (default: temp)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.jobs < 1 or args.baseline_trials < 0:
        parser.error("--repeats and --jobs must be >= 1, --baseline-trials >= 0")
    if args.seconds is None and args.individuals is None:
        parser.error("give --seconds or --individuals (or both) to stop each run")
    baselines = tune_baselines(args.baseline_trials, args.dataset)
    print(json.dumps(dict(
        figure="s10_baselines", trials=args.baseline_trials, dataset=args.dataset,
        **{f"{name}_tuning_accuracy": fit for name, (_, _, fit) in baselines.items()},
    )), flush=True)  # fmt: skip
    out = args.out or Path(tempfile.mkdtemp(prefix="s10-"))
    one_repeat = partial(
        repeat, seconds=args.seconds, individuals=args.individuals,
        full=args.full or is_full(args.config), out=out, baselines=baselines,
        keep=args.keep_runs, dataset=args.dataset, config=args.config,
    )  # fmt: skip
    seeds = range(args.repeats)
    if args.jobs == 1:
        results = map(one_repeat, seeds)
    else:
        results = ProcessPoolExecutor(args.jobs).map(one_repeat, seeds)
    rows = []
    for row in results:
        print(json.dumps(row), flush=True)
        rows.append(row)
    summary = summarize(rows)
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
