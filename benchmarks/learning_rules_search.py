"""A short Backprop Evolution search: equations/hour and the best-so-far curve.

Runs a ``configs/learning_rules`` config through the engine, then prints one
JSON line (individuals, wall time, equations per hour, best equation and
fitness, BP's fitness in the same run if seeded) and saves the best-so-far
validation accuracy per individual as a PNG beside the run.

    .venv/bin/python benchmarks/learning_rules_search.py configs/learning_rules/digits_a1_sgd.toml \
        --out /tmp/lr_search --workers 2 --max-individuals 150
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path

from evoforge.config import load_config
from evoforge.evolution.run import Run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("config")
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-individuals", type=int, default=None)
    ap.add_argument("--png", default=None, help="where to save the curve (default: in --out)")
    args = ap.parse_args()
    overrides: dict[str, object] = {"run.workers": args.workers}
    if args.max_individuals:
        overrides["run.max_individuals"] = args.max_individuals
    config = load_config(args.config, overrides)
    started = time.perf_counter()
    result = Run.create(Path(args.out), config).run()
    wall = time.perf_counter() - started
    with sqlite3.connect(Path(args.out) / "run.sqlite") as db:
        rows = db.execute(
            "SELECT id, fitness, genome_text, error FROM individuals ORDER BY id"
        ).fetchall()
    best, curve = -1.0, []
    for _, fitness, _, _ in rows:
        best = max(best, fitness)
        curve.append(best)
    top = max(rows, key=lambda r: r[1])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, len(curve) + 1), curve)
    ax.set_xlabel("equations evaluated")
    ax.set_ylabel("best validation accuracy")
    ax.set_title(Path(args.config).stem)
    fig.tight_layout()
    png = Path(args.png) if args.png else Path(args.out) / "best_so_far.png"
    fig.savefig(png, dpi=100)
    line = {
        "benchmark": "learning_rules_search",
        "config": args.config,
        "workers": args.workers,
        "individuals": result.n_individuals,
        "failed": sum(1 for r in rows if r[3]),
        "wall_s": round(wall, 1),
        "equations_per_hour": round(3600 * len(rows) / wall),
        "best_fitness": round(top[1], 4),
        "best_equation": top[2],
        "curve_every_10": [round(c, 4) for c in curve[9::10]],
        "png": str(png),
    }
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
