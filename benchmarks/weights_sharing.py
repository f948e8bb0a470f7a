"""Learned weight sharing vs full and no sharing on the offline three-task setting.

Chapter 8, Table 8.1 (DKL-MNIST ConvNet test error: full 14.16 ± 0.37, none
12.80 ± 0.16, learned 11.83 ± 0.51; 5,000 iterations). Prints one JSON line per
(mode, seed) and one summary line per mode (mean ± std of the mean test error
over tasks, in %). ``--done FILE`` (an earlier run's output, or several
runs' concatenated) skips the (mode, seed) rows it holds and counts them in
the summary, so seeds can run in separate processes and be summarised once.

    .venv/bin/python benchmarks/weights_sharing.py --iterations 400 --seeds 5 --channels 16
    .venv/bin/python benchmarks/weights_sharing.py --iterations 1000 --channels 8 \\
        --first-seed 3 --seeds 2  # seeds 3 and 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from evoforge.weights.sharing import SharingConfig, WeightSharing
from evoforge.weights.sharing_tasks import three_tasks
from weights_ea import read_done  # benchmarks/ is the script's directory


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=5000)
    ap.add_argument("--seeds", type=int, default=5, help="how many seeds")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--done", help="earlier output: skip and summarise the rows it has")
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--modes", default="full,none,learned")
    args = ap.parse_args()
    torch.set_num_threads(1)
    done = read_done(args.done, ("lws_test_error",), "mode")
    summary: dict[str, list[float]] = {}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        todo = [m for m in args.modes.split(",") if (m, seed) not in done]
        tasks = three_tasks(500, args.n_test, seed) if todo else []
        for mode in args.modes.split(","):
            if mode not in todo:
                row = done[(mode, seed)]
                summary.setdefault(mode, []).append(float(row["test_error_pct"]))
                continue
            lws = WeightSharing(tasks, SharingConfig(mode=mode, channels=args.channels), seed)
            t0 = time.perf_counter()
            for _ in range(args.iterations):
                lws.iteration()
            errors = lws.errors()
            mean = 100 * sum(errors) / len(errors)
            summary.setdefault(mode, []).append(mean)
            row = {
                "figure": "lws_test_error",
                "mode": mode,
                "seed": seed,
                "iterations": args.iterations,
                "channels": args.channels,
                "test_error_pct": round(mean, 2),
                "per_task_pct": [round(100 * e, 2) for e in errors],
                "sharing": lws.sharing() if mode == "learned" else None,
                "wall_s": round(time.perf_counter() - t0, 1),
            }
            print(json.dumps(row), flush=True)
    for mode, values in summary.items():
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        row = {
            "figure": "lws_summary",
            "mode": mode,
            "seeds": len(values),
            "iterations": args.iterations,
            "channels": args.channels,
            "mean_pct": round(statistics.mean(values), 2),
            "std_pct": round(std, 2),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
