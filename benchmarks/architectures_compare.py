"""Compare architecture-search configs over seeds: one JSON line per run and per comparison.

Each run (config x seed, resumable: an existing run directory is resumed)
reports the test accuracy of the best individual by validation accuracy,
total FLOPs (sum of ``per_task[2]``), total cost (the budget unit: FLOPs for
Large-Scale Evolution, epochs for Lamarckian NAS), wall time and evaluations
per hour; ``--final-epochs N`` also trains the best block network N more epochs
with the final schedule (Prellberg: 30) and reports its test accuracy (kept
in the run directory, so a second invocation over finished runs only
summarises them: configs may run in separate processes first). Each
config after the first is compared with the first by a one-sided
Mann-Whitney U test on those accuracies. ``--plot`` saves accuracy vs FLOPs
(best-so-far validation accuracy) per run. ``--flops-budget X`` reads each
run only up to X FLOPs (the individual that crosses X included, as the
engine's budget stops), for runs that had to be stopped short of their
``run.max_cost``: they compare at the compute all of them reached
(``--no-run`` summarises the run directories without resuming them).

    python benchmarks/architectures_compare.py configs/architectures/lse_digits.toml \
        configs/architectures/lse_digits_random.toml --seeds 0 1 2 --out runs/lse
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import time
from pathlib import Path

import torch

from evoforge.config import load_config
from evoforge.evolution.run import Run


def run_dir_of(config_path: Path, seed: int, out: Path) -> Path:
    return out / f"{config_path.stem}-s{seed}"


def run_one(config_path: Path, seed: int, out: Path) -> Path:
    run_dir = run_dir_of(config_path, seed, out)
    if (run_dir / "run.sqlite").exists():
        Run.resume(run_dir).run()
    else:
        # The only change: one config, several seeds.
        Run.create(run_dir, load_config(config_path, {"run.seed": seed})).run()
    return run_dir


def summarise(run_dir: Path, final_epochs: int, flops_budget: float = math.inf) -> dict:
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        rows = db.execute(
            "SELECT id, fitness, per_task, cost, created, error FROM individuals ORDER BY id"
        ).fetchall()
    flops = 0.0
    curve, best = [], None
    for n, (i, fitness, per_task, _cost, _created, error) in enumerate(rows):
        if flops >= flops_budget:  # as the engine stops: the row crossing it counts
            rows = rows[:n]
            break
        if error is None and per_task:
            _val, test, f = json.loads(per_task)
            flops += f
            if best is None or fitness > best[1]:
                best = (i, fitness, test)
        curve.append((flops, best[1] if best else math.nan))
    created = [r[4] for r in rows]
    wall = max(created) - min(created) if len(created) > 1 else 0.0
    line = {
        "run": run_dir.name,
        **({"flops_budget": flops_budget} if math.isfinite(flops_budget) else {}),
        "individuals": len(rows),
        "errors": sum(r[5] is not None for r in rows),
        "best_id": best[0] if best else None,
        "best_val_accuracy": best[1] if best else None,
        "best_test_accuracy": best[2] if best else None,
        "flops": flops,
        "cost": sum(r[3] or 0 for r in rows),
        "wall_s": round(wall, 1),
        "evaluations_per_hour": round(3600 * (len(rows) - 1) / wall, 1) if wall else None,
    }
    if final_epochs and best is not None:
        line |= final_result(run_dir, best[0], final_epochs)
    return line | {"curve": curve}


def final_result(run_dir: Path, best_id: int, epochs: int) -> dict:
    """The best block network's final training, kept in the run directory so
    that a later invocation over the same runs (e.g. one comparing configs run
    in separate processes) does not train it again."""
    saved = run_dir / f"final-{best_id}-{epochs}.json"
    if saved.exists():
        return json.loads(saved.read_text())
    from evoforge.architectures.domain import build_architectures
    from evoforge.architectures.lamarckian.evaluator import final_training, load_individual

    config = load_config(run_dir / "config.toml")
    data = build_architectures(dict(config.domain), "architectures", 0).evaluator.data.load()
    genome, weights = load_individual(run_dir / "artefacts" / str(best_id))
    started = time.perf_counter()
    _, result = final_training(genome, weights, data, epochs=epochs)
    out = {"final_epochs": epochs, "final_test_accuracy": result.test_accuracy,
           "final_train_s": round(time.perf_counter() - started, 1)}  # fmt: skip
    saved.write_text(json.dumps(out))
    return out


def plot(lines: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for line in lines:
        xs, ys = zip(*line["curve"], strict=True)
        ax.plot(xs, ys, label=line["run"], lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("cumulative FLOPs")
    ax.set_ylabel("best validation accuracy so far")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/architectures"))
    parser.add_argument("--final-epochs", type=int, default=0)
    parser.add_argument("--plot", type=Path)
    parser.add_argument(
        "--flops-budget",
        type=float,
        default=math.inf,
        help="summarise each run only up to this many FLOPs (runs stopped short of "
        "their run.max_cost compared at the compute they all reached)",
    )
    parser.add_argument(
        "--no-run", action="store_true", help="summarise the run directories as they are"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    key = "final_test_accuracy" if args.final_epochs else "best_test_accuracy"
    results: dict[str, list[float]] = {}
    lines = []
    for config in args.configs:
        for seed in args.seeds:
            started = time.perf_counter()
            run = run_dir_of if args.no_run else run_one
            run_dir = run(config, seed, args.out)
            line = summarise(run_dir, args.final_epochs, args.flops_budget)
            line |= {"config": str(config), "seed": seed,
                     "session_s": round(time.perf_counter() - started, 1)}  # fmt: skip
            lines.append(line)
            results.setdefault(config.stem, []).append(line[key])
            print(json.dumps({k: v for k, v in line.items() if k != "curve"}), flush=True)
    from scipy.stats import mannwhitneyu

    names = list(results)
    for other in names[1:]:
        a, b = results[names[0]], results[other]
        test = mannwhitneyu(a, b, alternative="greater")
        line = {"compare": f"{names[0]} > {other}", "metric": key, "mean_a": sum(a) / len(a),
                "mean_b": sum(b) / len(b), "U": float(test.statistic),
                "p_one_sided": float(test.pvalue)}  # fmt: skip
        print(json.dumps(line))
    if args.plot:
        plot(lines, args.plot)


if __name__ == "__main__":
    main()
