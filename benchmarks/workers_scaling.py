"""Evaluations per hour of any run config with one and with two worker
processes, measured in one invocation (the "both cores busy" figures).

Each setting runs the config on the processes backend for ``--individuals``
evaluations (its own ``max_cost``/``max_seconds`` lifted) and counts the rate
from the store's receive times after the first ``--warm-up`` evaluations, so
worker start-up and first-use costs are left out. Settings alternate over
``--rounds`` rounds so that a change in machine load hits both; a final
``summary`` line gives the medians and the 2-worker/1-worker ratio.

Usage:
    python benchmarks/workers_scaling.py configs/architectures/lse_digits.toml \\
        --individuals 24 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
from pathlib import Path

from evoforge.config import load_config
from evoforge.evolution.run import Run


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def rate_from_store(run_dir: Path, warm_up: int) -> dict:
    """Evaluations per hour and work units per second after ``warm_up`` rows."""
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        times = db.execute("SELECT created, cost FROM individuals ORDER BY created").fetchall()
    start = times[warm_up - 1][0]
    counted = times[warm_up:]
    seconds = counted[-1][0] - start
    cost = sum(c for _, c in counted)
    return {
        "evaluations": len(counted),
        "seconds": round(seconds, 2),
        "evaluations_per_hour": round(3600 * len(counted) / seconds),
        "cost_per_second": round(cost / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--individuals", type=int, default=24)
    parser.add_argument("--warm-up", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.individuals <= args.warm_up + 1:
        parser.error("--individuals must exceed --warm-up by at least 2")
    rates: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for workers in (1, 2):
                overrides = {
                    "run.backend": "processes",
                    "run.workers": workers,
                    "run.max_individuals": args.individuals,
                    "run.max_cost": 2**62,
                    "run.max_seconds": 1e9,
                }
                run_dir = Path(tmp) / f"r{r}w{workers}"
                Run.create(run_dir, load_config(args.config, overrides)).run()
                line = rate_from_store(run_dir, args.warm_up)
                rates[workers].append(line["evaluations_per_hour"])
                emit(figure="workers_scaling", config=str(args.config), round=r,
                     workers=workers, **line)  # fmt: skip
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    emit(figure="workers_scaling_summary", config=str(args.config),
         evaluations_per_hour_1_worker=one, evaluations_per_hour_2_workers=two,
         ratio_2_over_1=round(two / one, 3))  # fmt: skip


if __name__ == "__main__":
    main()
