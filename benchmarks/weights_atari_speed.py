"""Episodes per hour and emulator frames per second of the GA for Atari with
one and with two worker processes, measured in one invocation.

Each setting runs ``--episodes`` evaluations of one small generation
(``mu_lambda``, every episode a fresh offspring or re-evaluation) on
``--game`` with a ``--max-steps`` cap, processes backend; the rate is counted
from the store's receive times after the first ``--warm-up`` episodes (worker
start-up, ROM load and the first network build excluded). Settings alternate
over ``--rounds`` rounds so that a change in machine load hits both; a final
``summary`` line gives the medians and the 2-worker/1-worker ratio.

Usage:
    python benchmarks/weights_atari_speed.py --rounds 2 --episodes 40
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
from pathlib import Path

from evoforge.config import parse_config
from evoforge.evolution.run import Run


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def measure(workers: int, args: argparse.Namespace, run_dir: Path) -> dict:
    cfg = parse_config(
        {
            "run": {
                "domain": "rl_weights", "seed": args.seed, "backend": "processes",
                "workers": workers, "max_individuals": args.episodes, "chunk_size": 1,
            },
            "search": {
                "strategy": "mu_lambda", "population_size": 16, "parents": 8, "elites": 4,
                "max_evaluations": 20, "fec": {"enabled": False},
            },
            "rl_weights": {"env": args.game, "max_steps": args.max_steps},
        }
    )  # fmt: skip
    Run.create(run_dir, cfg).run()
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        times = db.execute("SELECT created, cost FROM individuals ORDER BY created").fetchall()
    start = times[args.warm_up - 1][0]
    counted = times[args.warm_up :]
    seconds = counted[-1][0] - start
    frames = sum(c for _, c in counted)
    return {
        "workers": workers,
        "episodes": len(counted),
        "seconds": round(seconds, 2),
        "episodes_per_hour": round(3600 * len(counted) / seconds),
        "frames_per_second": round(frames / seconds, 1),
        "mean_frames_per_episode": round(frames / len(counted), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="ALE/Frostbite-v5")
    parser.add_argument("--max-steps", type=int, default=150)
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--warm-up", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rates: dict[int, list[float]] = {1: [], 2: []}
    fps: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for workers in (1, 2):
                line = measure(workers, args, Path(tmp) / f"r{r}w{workers}")
                rates[workers].append(line["episodes_per_hour"])
                fps[workers].append(line["frames_per_second"])
                emit(figure="weights_atari_speed", round=r, game=args.game,
                     max_steps=args.max_steps, **line)  # fmt: skip
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    emit(
        figure="weights_atari_speed_summary",
        game=args.game,
        episodes_per_hour_1_worker=one,
        episodes_per_hour_2_workers=two,
        frames_per_second_1_worker=statistics.median(fps[1]),
        frames_per_second_2_workers=statistics.median(fps[2]),
        ratio_2_over_1=round(two / one, 3),
    )


if __name__ == "__main__":
    main()
