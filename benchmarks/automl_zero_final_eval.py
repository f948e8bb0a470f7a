"""Supplement S7/S8: final evaluation of a run's program against tuned baselines on held-out data.

Takes a run directory of a binary classification search (e.g. from
``configs/automl_zero/digits_binary.toml`` or ``s10_restricted.toml``):

1. selects its program as S7 does (among the best-so-far programs, the one
   with the highest select-task accuracy), simplifies it (S8) and moves it to
   the dataset's full dimensionality (64 for digits);
2. tunes its constants with ``--evolved-trials`` evaluations on full-size
   tuning tasks drawn from the training part only;
3. tunes `logistic_regression` and `two_layer_nn` the same way with as many
   evaluations as evolving plus tuning the evolved program took (the run's
   individuals + the evolved program's trials), capped at
   ``--max-baseline-trials`` (both numbers are printed);
4. trains each tuned program on the training part and measures its accuracy
   on the held-out test part, for 5 seeds (``--seeds``): mean, standard
   deviation and per seed.

Prints one ``final_eval`` JSON line per program. Digits have no test split: a
fixed quarter of the images is held out (`evoforge.data.projected.train_test_arrays`).

Usage:
    python benchmarks/automl_zero_final_eval.py runs/digits_bench --max-baseline-trials 2000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from evoforge.automl_zero.baselines import baseline_program
from evoforge.automl_zero.experiments import best_so_far, individual_count, run_setup, selected
from evoforge.automl_zero.final_eval import resized, tune_and_evaluate
from evoforge.automl_zero.simplify import simplify
from evoforge.data.projected import train_test_arrays

BASELINE_START = {
    "logistic_regression": {"learning_rate": 0.01},
    "two_layer_nn": {"learning_rate": 0.01, "init_scale": 0.1},
}


def final_eval(
    run_dir: Path,
    *,
    dataset: str = "digits",
    evolved_trials: int = 300,
    max_baseline_trials: int | None = 1000,
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    tune_pairs: int | None = 10,
    final_pairs: int | None = None,
    seed: int = 0,
) -> list[dict]:
    """The ``final_eval`` rows: the evolved program, then the two baselines."""
    setup = run_setup(run_dir)
    if setup.evaluator.tasks.eval_type != "accuracy":
        raise ValueError(
            f"{run_dir}: expected a binary classification run (accuracy tasks), got "
            f"{setup.evaluator.tasks.eval_type!r} tasks"
        )
    choice = selected(best_so_far(run_dir))
    space = setup.space
    program = simplify(space.from_text(choice["text"]), space.memory)
    features = train_test_arrays(dataset)[0][0].shape[1]
    memory = resized(space.memory, features)
    individuals = individual_count(run_dir)
    rng = np.random.default_rng(seed)
    options = dict(dataset=dataset, tune_pairs=tune_pairs, final_pairs=final_pairs, seeds=seeds)
    evolved = tune_and_evaluate(program, memory, evolved_trials + 1, rng, **options)
    rows = [dict(
        figure="final_eval", program="evolved", run_dir=str(run_dir), individual=choice["id"],
        select_fitness=choice["select_fitness"], features=features,
        program_text=space.to_text(program), **evolved,
    )]  # fmt: skip
    equal = individuals + evolved["tuning_trials"]
    budget = equal if max_baseline_trials is None else min(equal, max_baseline_trials)
    for name, start in BASELINE_START.items():
        base, base_memory = baseline_program(name, features, **start)
        result = tune_and_evaluate(base, base_memory, budget, rng, **options)
        rows.append(dict(
            figure="final_eval", program=name, features=features,
            equal_compute_evaluations=equal, **result,
        ))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--evolved-trials", type=int, default=300)
    parser.add_argument("--max-baseline-trials", type=int, default=1000,
                        help="cap on the equal-compute budget; 0 for no cap")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=5, help="final-evaluation seeds 0..n-1")
    parser.add_argument("--tune-pairs", type=int, default=10, help="class pairs of tuning tasks")
    parser.add_argument("--final-pairs", type=int, default=0, help="0 for all 45 pairs")
    args = parser.parse_args(argv)
    if not (args.run_dir / "run.sqlite").is_file():
        parser.error(f"run_dir: {args.run_dir} is not a run directory (no run.sqlite)")
    if args.evolved_trials < 0 or args.max_baseline_trials < 0 or args.seeds < 1:
        parser.error("--evolved-trials and --max-baseline-trials must be >= 0, --seeds >= 1")
    rows = final_eval(
        args.run_dir, dataset=args.dataset, evolved_trials=args.evolved_trials,
        max_baseline_trials=args.max_baseline_trials or None, seeds=tuple(range(args.seeds)),
        tune_pairs=args.tune_pairs, final_pairs=args.final_pairs or None,
    )  # fmt: skip
    for row in rows:
        print(json.dumps(row), flush=True)
    return rows


if __name__ == "__main__":
    main()
