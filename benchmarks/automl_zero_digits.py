"""AutoML-Zero §4.2-style search on projected binary digits, 10 minutes on 2 cores.

Runs ``configs/automl_zero/digits_binary.toml`` (empty initial programs,
2 worker processes, ``run.max_seconds`` = 600 unless overridden) and prints
JSON lines:

- ``digits_search``: individuals, individuals/s, FEC hit rate, early stops;
- ``digits_select``: the best program's accuracy on the held-out select
  tasks (class pairs never searched on) beside the best constant predictor's
  accuracy on the same tasks (always predicting each task's majority class),
  and the best program, simplified;
- ``digits_heldout``: the paper's selection step (S7): among the programs
  that were the best so far during the search, the one with the highest
  select accuracy, and both it and the search-best program scored on 36
  fresh tasks (new projections of the select pairs, never used to choose),
  beside the constant predictor there.

Usage:
    python benchmarks/automl_zero_digits.py --seconds 600 --out runs/digits_bench
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path

import numpy as np

from evoforge.automl_zero.evaluator import ProgramEvaluator
from evoforge.automl_zero.simplify import simplify
from evoforge.cli import SetOption
from evoforge.config import load_config
from evoforge.data.projected import projected_binary_tasks
from evoforge.domains import build_domain
from evoforge.evolution.run import Run

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "automl_zero" / "digits_binary.toml"


def majority_accuracy(tasks) -> float:
    """Mean over tasks of the validation accuracy of always predicting the
    majority class (the best constant predictor, knowing the labels)."""
    positive = tasks.valid_y.mean(axis=1)
    return float(np.mean(np.maximum(positive, 1.0 - positive)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--evaluate-only", action="store_true", help="score an existing --out run")
    parser.add_argument(
        "--set", dest="overrides", action=SetOption, default={}, metavar="KEY=TOML",
        help="config override, e.g. --set 'automl_zero.random_seeds=\"task\"'",
    )  # fmt: skip
    args = parser.parse_args()
    if not args.evaluate_only:
        search(args)
    held_out(args.out)


def search(args: argparse.Namespace) -> None:
    overrides = {"run.max_seconds": args.seconds, "run.seed": args.seed, **args.overrides}
    config = load_config(CONFIG, overrides)
    started = time.perf_counter()
    result = Run.create(args.out, config).run()
    seconds = time.perf_counter() - started
    with sqlite3.connect(args.out / "run.sqlite") as db:
        hits, stops = db.execute(
            "select avg(fec_hit), avg(early_stopped) from individuals"
        ).fetchone()
    print(json.dumps(dict(
        figure="digits_search", seconds=round(seconds, 1), workers=config.run.workers,
        individuals=result.n_individuals, individuals_per_s=round(result.n_individuals / seconds),
        fec_hit_rate=round(hits, 4), early_stopped=round(stops, 4),
        best_search_fitness=result.best.fitness,
    )), flush=True)  # fmt: skip

    setup = build_domain(load_config(args.out / "config.toml"))
    select = setup.selector.evaluator
    best = result.best.genome
    print(json.dumps(dict(
        figure="digits_select",
        select_tasks=select.tasks.D,
        best_program_select_accuracy=select.evaluate(best).fitness,
        constant_predictor_accuracy=majority_accuracy(select.tasks),
        best_program_simplified=setup.space.to_text(simplify(best, setup.space.memory)),
    )), flush=True)  # fmt: skip


def held_out(run_dir: Path) -> None:
    setup = build_domain(load_config(run_dir / "config.toml"))
    space = setup.space
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        bests = [
            json.loads(p) for (p,) in db.execute("select payload from events where kind='new_best'")
        ]
        chosen = max(bests, key=lambda b: b.get("select_fitness") or 0.0)
        search_best = max(bests, key=lambda b: b["fitness"])
        texts = dict(db.execute(
            "select id, genome_text from individuals where id in (?, ?)",
            (chosen["id"], search_best["id"]),
        ).fetchall())  # fmt: skip
    fresh = projected_binary_tasks(
        "digits", features=space.memory.features, split="select", projections_per_pair=4,
        n_train=250, n_valid=100, seed=2_026_112_6,
    )  # fmt: skip
    evaluator = ProgramEvaluator(space.memory, fresh)
    chosen_program = space.from_text(texts[chosen["id"]])
    print(json.dumps(dict(
        figure="digits_heldout",
        candidates=len(bests),
        chosen_id=chosen["id"],
        chosen_select_accuracy=chosen["select_fitness"],
        fresh_tasks=fresh.D,
        chosen_fresh_accuracy=evaluator.evaluate(chosen_program).fitness,
        search_best_fresh_accuracy=evaluator.evaluate(space.from_text(texts[search_best["id"]])).fitness,
        constant_predictor_fresh_accuracy=majority_accuracy(fresh),
        chosen_program_simplified=space.to_text(simplify(chosen_program, space.memory)),
    )), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
