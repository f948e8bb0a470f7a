"""Build (or resume) the mini Act-Bench table: every unique benchmark function trained.

Trains each of the 2,865 unique ``binary(unary(x), unary(x))`` functions with
each seed on the mini benchmark task (`evoforge.activations.aquasurf.bench`),
appending rows to a working CSV so that an interrupted build resumes; then
writes the gzipped table that the search benchmarks replay. Prints a JSON line
every ``--report-every`` runs and a final one with how far the build got.

Example::

    PYTHONPATH=src python benchmarks/aquasurf_build_bench.py --seeds 0 1 --max-runs 100
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from evoforge.activations.aquasurf.bench import (
    BenchConfig,
    build_table,
    compress_table,
    config_dict,
)
from evoforge.activations.aquasurf.replay import equivalent_name
from evoforge.activations.aquasurf.spaces import unique_benchmark
from evoforge.activations.formula import to_text

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "runs" / "aquasurf_minibench.csv"
TABLE = ROOT / "benchmarks" / "data" / "aquasurf_minibench.csv.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--max-runs", type=int, default=None, help="stop after this many new runs")
    ap.add_argument("--work", type=Path, default=WORK, help="working CSV (resumable)")
    ap.add_argument("--table", type=Path, default=TABLE, help="gzipped table to write")
    ap.add_argument("--report-every", type=int, default=200)
    ap.add_argument("--order-seed", type=int, default=0, help="seeds the visiting order")
    args = ap.parse_args()
    args.work.parent.mkdir(parents=True, exist_ok=True)
    functions = unique_benchmark()
    cfg = BenchConfig()
    start = time.time()

    def report(p) -> None:  # type: ignore[no-untyped-def]
        if p.done % args.report_every == 0:
            print(json.dumps({"bench": "aquasurf_build", "done": p.done, "total": p.total,
                              "cpu_s": round(p.seconds, 1)}), flush=True)  # fmt: skip

    # A seeded random order: a partial table is then a uniform sample of the space.
    order = np.random.default_rng(args.order_seed).permutation(len(functions)).tolist()
    # ReLU first: every search starts from it, so even a partial table has it.
    relu = equivalent_name([to_text(g) for g in functions])
    relu_index = [to_text(g) for g in functions].index(relu)
    order.remove(relu_index)
    order.insert(0, relu_index)
    p = build_table(
        args.work, functions, args.seeds, cfg, max_runs=args.max_runs, order=order, progress=report
    )
    rows = compress_table(args.work, args.table)
    print(json.dumps({
        "bench": "aquasurf_build", "final": True, "functions": len(functions),
        "functions_complete": p.functions_complete, "seeds": args.seeds, "rows": rows,
        "runs_done": p.done, "runs_total": p.total, "train_seconds_total": round(p.seconds, 1),
        "order_seed": args.order_seed, "seconds_per_run": round(p.seconds / max(p.done, 1), 3),
        "wall_seconds_this_call": round(time.time() - start, 1), "config": config_dict(cfg),
        "table": str(args.table.relative_to(ROOT)),
    }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
