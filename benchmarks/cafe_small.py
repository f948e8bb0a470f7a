"""CAFE at small scale: loss-based evolution vs random search, then top-3 retraining.

Steps (dissertation ch. 3, scaled down; see configs/activations/cafe_*.toml):

1. Loss-based evolution in S2 (``cafe_evolution.toml``, generational softmax GA)
   and the random-search baseline (``cafe_random_search.toml``), each for
   ``--evaluations`` candidates through evoforge's engine.
2. Top-3 retraining: the ``--top`` best distinct functions of each search are
   retrained ``--runs`` times (default 5) with ``--retrain-factor`` times the
   search's epochs (the paper: 50 -> 200, factor 4), and reported by the
   median test accuracy, as Table 3.1 reports; ReLU and Swish get the same.

Every result is one JSON line on standard output (and in ``OUT/results.jsonl``).

Example (a smoke run)::

    PYTHONPATH=src python benchmarks/cafe_small.py --evaluations 20 --runs 2 --out runs/cafe_smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import torch

from evoforge.activations.evaluator import ActivationEvaluator
from evoforge.activations.selection import retrain, top_distinct
from evoforge.config import load_config
from evoforge.domains import build_domain
from evoforge.evolution.run import Run
from evoforge.init.experiments import emit as emit_line

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "activations"
SEARCHES = {"evolution": "cafe_evolution.toml", "random_search": "cafe_random_search.toml"}
BASELINES = {"relu": "relu(x)", "swish": "swish(x)"}


def emit(out: Path, record: dict[str, Any]) -> None:
    emit_line(str(out / "results.jsonl"), **record)


def search(name: str, run_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    overrides = {"run.max_individuals": args.evaluations, "run.seed": args.seed}
    cfg = load_config(CONFIGS / SEARCHES[name], overrides)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    result = Run.create(run_dir, cfg).run()
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        (trained,) = db.execute("SELECT SUM(NOT fec_hit) FROM individuals").fetchone()
    return {
        "step": "search",
        "search": name,
        "evaluations": result.n_individuals,
        "trained": trained,
        "best_fitness": None if result.best is None else result.best.fitness,
        "elapsed_s": round(result.elapsed, 2),
        "candidates_per_hour": round(result.n_individuals * 3600 / result.elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=455, help="candidates per search")
    parser.add_argument("--top", type=int, default=3, help="functions retrained per search")
    parser.add_argument("--runs", type=int, default=5, help="retrainings per function")
    parser.add_argument("--retrain-factor", type=float, default=4.0, help="epochs multiplier")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/cafe_small"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.jsonl").write_text("")
    for name in SEARCHES:
        emit(args.out, search(name, args.out / name, args))

    evaluator = build_domain(load_config(CONFIGS / SEARCHES["evolution"])).evaluator
    assert isinstance(evaluator, ActivationEvaluator)
    base = evaluator.train_config
    epochs = max(1, round(base.epochs * args.retrain_factor))
    full = dataclasses.replace(base, epochs=epochs)
    candidates = [(label, text, None) for label, text in BASELINES.items()]
    for name in SEARCHES:
        for rank, (text, fitness) in enumerate(top_distinct(args.out / name, args.top), 1):
            candidates.append((f"{name}_{rank}", text, fitness))
    for label, text, fitness in candidates:
        t0 = time.perf_counter()
        r = retrain(evaluator, text, args.runs, full, first_seed=1000)
        emit(args.out, {
            "step": "retrain", "label": label, "function": text, "search_fitness": fitness,
            "epochs": epochs, "runs": args.runs, "test_accuracy": r.test_accuracy,
            "median_test": r.median_test, "median_val": r.median_val,
            "seconds_per_run": round((time.perf_counter() - t0) / args.runs, 3),
        })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
