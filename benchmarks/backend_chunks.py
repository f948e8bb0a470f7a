"""Process workers with and without chunks on the AutoML-Zero linear demo.

Prints one JSON line per run and setting:

- ``serial``: one worker, the driver evaluates (the baseline);
- ``processes_unchunked``: 2 worker processes, one evaluation per message
  (``run.chunk_size = 1``, what ``--workers 2`` did before chunks);
- ``processes_chunked``: 2 worker processes, ``run.chunk_size = "auto"``.

Each run searches for ``--seconds`` with the same seed; individuals/s is
counted from the store's receive times after ``--warm-up`` seconds (worker
start-up and numba's cache load excluded). Settings are interleaved over
``--rounds`` rounds so that a change in machine load hits all of them; a
final ``summary`` line gives each setting's median and the chunked/serial
ratio.

Usage:
    python benchmarks/backend_chunks.py --rounds 2 --seconds 8
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import tomllib
from pathlib import Path

from evoforge.config import parse_config, set_dotted
from evoforge.evolution.run import Run

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "automl_zero" / "linear_demo.toml"

SETTINGS = {
    "serial": {"run.backend": "serial", "run.workers": 1},
    "processes_unchunked": {"run.backend": "processes", "run.workers": 2, "run.chunk_size": 1},
    "processes_chunked": {"run.backend": "processes", "run.workers": 2, "run.chunk_size": "auto"},
}


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def measure(setting: str, seconds: float, warm_up: float, seed: int, run_dir: Path) -> dict:
    data = tomllib.loads(CONFIG.read_text())
    del data["run"]["stop_select_fitness"]  # speed only: never stop on solving
    overrides = {**SETTINGS[setting], "run.seed": seed, "run.max_seconds": seconds}
    for key, value in overrides.items():
        set_dotted(data, key, value)
    result = Run.create(run_dir, parse_config(data, str(CONFIG))).run()
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        (first,) = db.execute("SELECT min(created) FROM individuals").fetchone()
        start = first + warm_up
        n, end = db.execute(
            "SELECT count(*), max(created) FROM individuals WHERE created >= ?", (start,)
        ).fetchone()
        hits = db.execute("SELECT avg(fec_hit) FROM individuals").fetchone()[0]
    rate = n / (end - start) if n and end > start else 0.0
    return dict(
        setting=setting,
        individuals=result.n_individuals,
        individuals_per_s=round(rate),
        fec_hit_rate=round(hits, 4),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0, help="per run")
    parser.add_argument("--warm-up", type=float, default=2.0, help="seconds not counted")
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for setting in SETTINGS:
                line = measure(
                    setting,
                    args.seconds,
                    args.warm_up,
                    args.seed,
                    Path(tmp) / f"{setting}-{round_}",
                )
                rates[setting].append(line["individuals_per_s"])
                emit(figure="backend_chunks", config="linear_demo", round=round_, **line)
    medians = {name: statistics.median(r) for name, r in rates.items()}
    emit(
        figure="backend_chunks_summary",
        config="linear_demo",
        rounds=args.rounds,
        median_individuals_per_s={k: round(v) for k, v in medians.items()},
        chunked_over_serial=round(medians["processes_chunked"] / medians["serial"], 3),
        unchunked_over_serial=round(medians["processes_unchunked"] / medians["serial"], 3),
    )


if __name__ == "__main__":
    main()
