"""Paper §4.1 / Figure 4: regularized evolution against random search at equal evaluations.

For each task type (``linear``, ``affine``: the "regressor" points of Figure
4, ``configs/automl_zero/<type>_regressor_{evolution,random_search}.toml``;
``linear_backprop``: Setup and Predict given, Learn searched,
``configs/automl_zero/linear_backprop_{evolution,random_search}.toml``, whose
reference is the config's own hand-designed program)
runs ``--experiments`` experiments of each search method, each a run with its
own seed (so its own search tasks) and ``--individuals`` evaluations. An
*acceptable* program is one whose search fitness (mean over the D=3 tasks of
the squashed RMS error) is at least the hand-designed reference's on the same
tasks, minus ``--tolerance``: ``linear_sgd`` / ``affine_sgd`` with the learning
rate tuned by ``--reference-trials`` random-search trials (noise-free labels
let a tuned SGD reach an RMS error near 1e-16, where the fitness saturates at
1.0, hence the tolerance). As in the paper, random search counts every
acceptable program and evolution at most one per experiment.

Prints JSON lines: ``fig4_experiment`` per run (best fitness, reference,
acceptable programs, evaluations until the first one) and ``fig4_summary`` per
task type (success rates per evaluation, their ratio, experiments succeeded).

Usage:
    python benchmarks/automl_zero_evolution_vs_random.py --experiments 10 \\
        --individuals 10000 --jobs 2 --out runs/fig4
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from evoforge.automl_zero.experiments import (
    acceptable_count,
    run_experiment,
    run_setup,
    success_rates,
    tuned_reference,
)

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "automl_zero"
# Task type -> hand-designed reference: a baseline whose learning rate is tuned
# on each run's tasks ("regressor" points), or None for the "backprop" points,
# whose reference is the config's own program (given Setup/Predict, SGD Learn).
TASK_TYPES = {"linear": "linear_sgd", "affine": "affine_sgd", "linear_backprop": None}
METHODS = {"evolution": "evolution", "random_search": "random_search"}


def experiment(
    task_type: str,
    method: str,
    seed: int,
    individuals: int,
    out: Path,
    reference_trials: int,
    tolerance: float,
    keep: bool = False,
) -> dict:
    """One run and its comparison with the tuned reference on its search tasks."""
    baseline = TASK_TYPES[task_type]
    name = f"{task_type}_regressor_{method}" if baseline else f"{task_type}_{method}"
    run_dir = out / f"{task_type}_{method}_seed{seed}"
    result = run_experiment(CONFIGS / f"{name}.toml", run_dir, seed, individuals=individuals)
    setup = run_setup(run_dir)
    if baseline is None:
        reference = setup.evaluator.evaluate(setup.space.initial_program).fitness
    else:
        _, _, reference = tuned_reference(
            baseline, setup.evaluator.tasks, reference_trials, seed=seed, learning_rate=0.01
        )
    threshold = reference - tolerance
    acceptable, first = acceptable_count(run_dir, threshold)
    if not keep:  # a 10k-individual run directory holds about 4 MB
        shutil.rmtree(run_dir)
    return dict(
        figure="fig4_experiment", task_type=task_type, method=method, seed=seed,
        evaluations=result.individuals, seconds=round(result.seconds, 2),
        best_fitness=result.best_fitness, reference_fitness=reference, threshold=threshold,
        acceptable=acceptable, evaluations_to_first_acceptable=first,
    )  # fmt: skip


def summarize(task_type: str, rows: list[dict]) -> dict:
    """``fig4_summary`` of one task type's experiment rows."""
    evo = [r for r in rows if r["method"] == "evolution"]
    rs = [r for r in rows if r["method"] == "random_search"]
    evo_succeeded = sum(r["acceptable"] > 0 for r in evo)
    if not evo or not rs:  # one method only: no comparison
        return dict(figure="fig4_summary", task_type=task_type, experiments=len(rows),
                    evaluations=sum(r["evaluations"] for r in rows),
                    experiments_succeeded=sum(r["acceptable"] > 0 for r in rows),
                    acceptable=sum(r["acceptable"] for r in rows))  # fmt: skip
    rates = success_rates(
        evolution_successes=evo_succeeded,
        evolution_evaluations=sum(r["evaluations"] for r in evo),
        random_acceptable=sum(r["acceptable"] for r in rs),
        random_evaluations=sum(r["evaluations"] for r in rs),
    )
    firsts = sorted(r["evaluations_to_first_acceptable"] for r in evo if r["acceptable"])
    return dict(
        figure="fig4_summary", task_type=task_type, experiments_per_method=len(evo),
        evaluations_per_method=sum(r["evaluations"] for r in evo),
        evolution_experiments_succeeded=evo_succeeded,
        random_search_experiments_succeeded=sum(r["acceptable"] > 0 for r in rs),
        random_search_acceptable=sum(r["acceptable"] for r in rs),
        evolution_evaluations_to_first_acceptable=firsts, **rates,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiments", type=int, default=10, help="runs per method and task")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seed of the first experiment (runs are seeded, so seeds 0-299 and 300-999 "
        "in two calls give the same rows as 0-999 in one)",
    )
    parser.add_argument("--individuals", type=int, default=10_000, help="evaluations per run")
    parser.add_argument("--task-types", default="linear,affine", help="comma-separated")
    parser.add_argument("--methods", default="evolution,random_search", help="comma-separated")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (one core each)")
    parser.add_argument("--reference-trials", type=int, default=200)
    parser.add_argument("--tolerance", type=float, default=1e-9)
    parser.add_argument(
        "--keep-runs",
        action="store_true",
        help="keep each run directory under --out (default: delete it once scored)",
    )
    parser.add_argument("--out", type=Path, help="where the run directories go (default: temp)")
    parser.add_argument(
        "--summarize",
        nargs="+",
        type=Path,
        metavar="JSONL",
        help="run nothing: summarize the fig4_experiment lines of earlier calls' output",
    )
    args = parser.parse_args(argv)
    if args.summarize:
        return print_summaries(read_experiments(args.summarize))
    task_types = args.task_types.split(",")
    for name in task_types:
        if name not in TASK_TYPES:
            parser.error(f"--task-types: expected names from {list(TASK_TYPES)}, got {name!r}")
    methods = args.methods.split(",")
    for name in methods:
        if name not in METHODS:
            parser.error(f"--methods: expected names from {list(METHODS)}, got {name!r}")
    if args.experiments < 1 or args.individuals < 1 or args.jobs < 1 or args.first_seed < 0:
        parser.error("--experiments, --individuals and --jobs must be >= 1, --first-seed >= 0")
    out = args.out or Path(tempfile.mkdtemp(prefix="fig4-"))
    jobs = [
        (t, m, seed, args.individuals, out, args.reference_trials, args.tolerance, args.keep_runs)
        # Methods interleaved: a run cut short still compares equal numbers.
        for t in task_types
        for seed in range(args.first_seed, args.first_seed + args.experiments)
        for m in methods
    ]  # fmt: skip
    rows: list[dict] = []
    if args.jobs == 1:
        results = (experiment(*job) for job in jobs)
    else:
        pool = ProcessPoolExecutor(args.jobs)
        results = pool.map(experiment, *zip(*jobs, strict=True))
    for row in results:
        print(json.dumps(row), flush=True)
        rows.append(row)
    return print_summaries(rows)


def read_experiments(paths: list[Path]) -> list[dict]:
    """The ``fig4_experiment`` rows of earlier output, one row per (task, method, seed)."""
    rows: dict[tuple, dict] = {}
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise SystemExit(f"{path}:{number}: not a JSON line ({error})") from None
            if row.get("figure") == "fig4_experiment":
                rows[row["task_type"], row["method"], row["seed"]] = row
    if not rows:
        raise SystemExit(f"no fig4_experiment lines in {', '.join(map(str, paths))}")
    return list(rows.values())


def print_summaries(rows: list[dict]) -> list[dict]:
    task_types = list(dict.fromkeys(r["task_type"] for r in rows))
    summaries = [summarize(t, [r for r in rows if r["task_type"] == t]) for t in task_types]
    for summary in summaries:
        print(json.dumps(summary), flush=True)
    return summaries


if __name__ == "__main__":
    main()
