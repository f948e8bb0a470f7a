"""AQuaSurF on a new task: search the four-node space, then test the best against ReLU and Swish.

Steps (dissertation ch. 6, "new tasks", scaled to this machine):

1. ``evoforge run`` of ``--config`` (default
   ``configs/activations/aquasurf_four_node_fashion.toml``: a 250-function
   sample of the 1,023,516-function space, ResNet-8 on Fashion-MNIST), resumed
   if ``--run`` already holds it; prints the feature and search costs.
2. The ``--top`` best distinct functions of the search (by its validation
   accuracy, one training seed), ReLU and Swish are each retrained with
   ``--seeds`` new seeds (1, 2, ...; ``--jobs`` trainings at a time) on the
   config's schedule and measured on the held-out test split (Fashion-MNIST's
   10,000 test images); mean ± std
   and Welch's t-test p-values (one-tailed, as Table 4.2, and two-sided)
   against ReLU and against Swish.

Every result is one JSON line on stdout (and appended to ``--out``).

Example (a tiny smoke run)::

    PYTHONPATH=src python benchmarks/aquasurf_new_task.py --evaluations 10 --seeds 2 --top 1 \\
        --run runs/aquasurf_new_task_smoke --out /tmp/aquasurf_new_task.jsonl
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from evoforge.activations.aquasurf.features import seconds_per_1000
from evoforge.activations.selection import Retrained, one_tailed_welch, retrain, top_distinct
from evoforge.config import load_config
from evoforge.domains import build_domain
from evoforge.evolution.run import Run

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "activations" / "aquasurf_four_node_fashion.toml"
OUT = ROOT / "benchmarks" / "results" / "dev-2core-2026-12-07-s7" / "aquasurf_new_task.jsonl"
BASELINES = {"relu": "relu(x)", "swish": "swish(x)"}


def emit(out: Path, record: dict[str, Any]) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    with out.open("a") as f:
        f.write(line + "\n")


#: The evaluator forked retraining workers use (set before the pool forks).
_EVALUATOR: list[Any] = []


def _retrain_once(job: tuple[str, int]) -> tuple[Retrained, float]:
    """One training of ``job = (formula, seed)`` with the evaluator's schedule, and its CPU s."""
    formula, seed = job
    t0 = time.process_time()
    ev = _EVALUATOR[0]
    return retrain(ev, formula, 1, ev.train_config, first_seed=seed), time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "aquasurf_new_task")
    ap.add_argument("--evaluations", type=int, default=None, help="default: the config's")
    ap.add_argument("--top", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=1, help="retrainings in parallel processes")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--accept-config-changes", action="store_true",
        help="resume after run.workers/run.backend were edited in the run's config.toml",
    )  # fmt: skip
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    overrides = {} if args.evaluations is None else {"run.max_individuals": args.evaluations}

    t0, c0 = time.time(), time.process_time()
    if (args.run / "run.sqlite").exists():
        result = Run.resume(
            args.run, max_individuals=args.evaluations,
            accept_config_changes=args.accept_config_changes,
        ).run()  # fmt: skip
    else:
        result = Run.create(args.run, load_config(args.config, overrides)).run()
    cfg = load_config(args.run / "config.toml")
    setup = build_domain(cfg)
    setup.use_run_dir(args.run.resolve())  # type: ignore[misc]
    feats = setup.space.features()  # type: ignore[attr-defined]
    top = top_distinct(args.run, args.top)
    emit(args.out, {
        "bench": "aquasurf_new_task_search", "config": str(args.config.relative_to(ROOT)),
        "pool": len(feats.functions), "valid_features": int(feats.valid.sum()),
        "feature_cpu_seconds_per_1000": round(seconds_per_1000(feats), 1),
        "evaluations": result.n_individuals, "wall_seconds_this_call": round(time.time() - t0, 1),
        "cpu_seconds_this_call": round(time.process_time() - c0, 1),
        "top": [{"function": f, "search_val_acc": v} for f, v in top],
    })  # fmt: skip

    tested = {f"search#{i + 1}": f for i, (f, _) in enumerate(top)} | BASELINES
    seeds = list(range(1, args.seeds + 1))
    _EVALUATOR.append(setup.evaluator)
    jobs = [(f, seed) for f in tested.values() for seed in seeds]
    # One training per (function, seed), in forked processes that share the loaded data.
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("fork")) as ex:
        done = dict(zip(jobs, ex.map(_retrain_once, jobs), strict=True))
    test: dict[str, list[float]] = {}
    for name, formula in tested.items():
        runs = [done[(formula, seed)] for seed in seeds]
        test[name] = [r.test_accuracy[0] for r, _ in runs]
        emit(args.out, {
            "bench": "aquasurf_new_task_test", "name": name, "function": formula, "seeds": seeds,
            "test_acc": test[name], "val_acc": [r.val_accuracy[0] for r, _ in runs],
            "test_mean": round(statistics.mean(test[name]), 4),
            "test_std": round(statistics.stdev(test[name]), 4) if len(seeds) > 1 else None,
            "cpu_seconds": round(sum(c for _, c in runs), 1),
        })  # fmt: skip
    for name in tested:
        if name in BASELINES:
            continue
        emit(args.out, {
            "bench": "aquasurf_new_task_welch", "name": name, "function": tested[name],
            "p_greater_than_relu": one_tailed_welch(test[name], test["relu"]),
            "p_greater_than_swish": one_tailed_welch(test[name], test["swish"]),
            "p_two_sided_vs_relu": float(
                stats.ttest_ind(test[name], test["relu"], equal_var=False).pvalue
            ),
            "p_two_sided_vs_swish": float(
                stats.ttest_ind(test[name], test["swish"], equal_var=False).pvalue
            ),
            "diff_vs_relu": round(float(np.mean(test[name]) - np.mean(test["relu"])), 4),
            "diff_vs_swish": round(float(np.mean(test[name]) - np.mean(test["swish"])), 4),
        })  # fmt: skip


if __name__ == "__main__":
    main()
