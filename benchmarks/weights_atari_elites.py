"""Table 6.2 in miniature: the GA's baseline vs the proposal (re-evaluated,
averaged elites) on Atari games at a frame budget that fits a small machine.

For each game, setting and seed: a run of ``configs/weights/atari_<setting>_small.toml``
(its episodes and budget unless overridden), then the run's final elite (the
best parent of Algorithm 3's last generation, by the mean of its evaluations)
played on ``--final-episodes`` fixed episodes. One JSON line per run: the
frames it used, the elite's search mean and evaluations, the best single
episode of the run, the fraction of re-evaluated individuals whose mean fell
below their first score, and the final mean ± std.

Usage:
    python benchmarks/weights_atari_elites.py --games ALE/Frostbite-v5 ALE/Seaquest-v5 \\
        --seeds 1 2 3 --final-episodes 100 --out runs/atari_elites
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from pathlib import Path

import numpy as np

from evoforge.config import parse_config
from evoforge.evolution.run import Run
from evoforge.weights.atari import build_policy, final_evaluation, robust_summary

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "weights"


def one_run(game: str, setting: str, seed: int, args: argparse.Namespace) -> dict:
    path = CONFIGS / f"atari_{setting}_small.toml"
    data = tomllib.loads(path.read_text())
    data["run"]["seed"] = seed
    data["rl_weights"]["env"] = game
    if args.episodes:
        data["run"]["max_individuals"] = args.episodes
    if args.max_steps:
        data["rl_weights"]["max_steps"] = args.max_steps
    run_dir = args.out / f"{game.split('/')[-1]}-{setting}-s{seed}"
    start = time.time()
    Run.create(run_dir, parse_config(data, str(path))).run()
    search_s = time.time() - start
    s = robust_summary(run_dir)
    spec, policy, _ = build_policy(data["rl_weights"])
    returns = final_evaluation(
        spec, policy, s.elite_seeds, args.final_episodes, workers=data["run"]["workers"]
    )
    return {
        "figure": "weights_atari_elites",
        "game": game,
        "setting": setting,
        "seed": seed,
        "episodes": data["run"]["max_individuals"],
        "max_steps": spec.max_steps,
        "frames": s.frames,
        "generations": s.generations,
        "elite_id": s.elite_id,
        "elite_search_mean": s.elite_mean,
        "elite_evaluations": s.elite_evaluations,
        "best_single_episode": s.best_single,
        "reevaluated": s.reevaluated,
        "overestimated_fraction": None if s.reevaluated == 0 else round(s.overestimated, 3),
        "final_episodes": len(returns),
        "final_mean": float(np.mean(returns)),
        "final_std": float(np.std(returns)),
        "search_seconds": round(search_s, 1),
        "final_seconds": round(time.time() - start - search_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", default=["ALE/Frostbite-v5", "ALE/Seaquest-v5"])
    parser.add_argument("--settings", nargs="+", default=["baseline", "proposal"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--episodes", type=int, help="override run.max_individuals")
    parser.add_argument("--max-steps", type=int, help="override rl_weights.max_steps")
    parser.add_argument("--final-episodes", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("runs/atari_elites"))
    args = parser.parse_args()
    for seed in args.seeds:  # seeds outermost: a cut-short sweep still compares settings
        for game in args.games:
            for setting in args.settings:
                print(json.dumps(one_run(game, setting, seed, args)), flush=True)


if __name__ == "__main__":
    main()
