"""Island-model scaling on the AutoML-Zero linear demo: individuals/s with 1
and with W worker processes (one island each), and their ratio.

Each run evolves the linear demo (FEC on, migration every 10,000 evaluations
per island) for ``--seconds``; the rate is measured from the stored rows'
creation times after the first ``--warmup`` seconds, so worker start-up and
numba's cache loading do not count. Runs of different W are interleaved
``--repeats`` times, so background load hits both alike. One JSON line per
run, then one summary line with the mean rates and the ratio.

Usage:
    python benchmarks/islands_scaling.py --workers 1 2 --seconds 30 --repeats 2
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

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "automl_zero" / "linear_demo.toml"


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def steady_rate(run_dir: Path, warmup: float) -> tuple[float, int]:
    """Individuals per second over the rows created after ``warmup`` seconds."""
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        times = [t for (t,) in db.execute("SELECT created FROM individuals ORDER BY created")]
    start = times[0] + warmup
    kept = [t for t in times if t >= start]
    if len(kept) < 2:
        raise RuntimeError(f"{run_dir}: too few individuals after the warm-up")
    return (len(kept) - 1) / (kept[-1] - kept[0]), len(times)


def measure(workers: int, seconds: float, warmup: float, seed: int, workdir: Path) -> float:
    overrides = {
        "run.seed": seed,
        "run.max_individuals": 10**9,
        "run.max_seconds": seconds,
        "run.stop_select_fitness": 1.0,  # never stop early (needs an exact fit): measure speed only
        "run.workers": workers,
        "run.backend": "processes",
        "search.islands.count": workers,
        "search.islands.migrate_every": 10_000,
    }
    run_dir = workdir / f"w{workers}-s{seed}"
    Run.create(run_dir, load_config(CONFIG, overrides)).run()
    rate, total = steady_rate(run_dir, warmup)
    emit(figure="island_run", workers=workers, seed=seed, individuals=total,
         individuals_per_s=round(rate))  # fmt: skip
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rates: dict[int, list[float]] = {w: [] for w in args.workers}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for workers in args.workers:
                rates[workers].append(
                    measure(workers, args.seconds, args.warmup, 100 + repeat, Path(tmp))
                )
    means = {w: statistics.mean(r) for w, r in rates.items()}
    base = means[args.workers[0]]
    emit(
        figure="island_scaling",
        config="linear_demo",
        individuals_per_s={str(w): round(m) for w, m in means.items()},
        ratio_to_first={str(w): round(m / base, 3) for w, m in means.items()},
    )


if __name__ == "__main__":
    main()
