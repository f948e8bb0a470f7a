"""AutoML-Zero linear demo: the fused step against the readable loop (issue 21).

Prints one JSON line per figure:

- ``throughput_pair``: per pair, individuals per CPU-second of the loop and of
  the fused step (``run.engine = "fused"``), each in its own fresh process,
  run one after the other (interleaved pairs, so load from other work on the
  machine falls on both arms alike), FEC on, every individual stored; and the
  pair's ratio. CPU seconds are the process's user+system time over
  `Run.run` after a warm-up run in the same process (numba's cache loaded);
- ``throughput_summary``: the median ratio and per-arm medians;
- ``store_row``: what one compact row costs: bytes in the file and
  microseconds of CPU to buffer and commit it (``RunStore.add_chunk`` and the
  checkpoint), against a loop row (text genome, JSON per-task fitnesses);
- ``time_to_solution`` (with ``--solve-seeds``): fused runs of the demo until
  the select fitness exceeds 0.9999, seconds and individuals.

Usage:
    python benchmarks/automl_zero_fused.py --individuals 200000 --pairs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "automl_zero" / "linear_demo.toml"


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def arm(engine: str, individuals: int, seed: int) -> dict:
    """One timed run in this process (called in a child process)."""
    from evoforge.config import load_config
    from evoforge.evolution.run import Run

    def make(n: int, workdir: str):
        overrides = {
            "run.max_individuals": n,
            "run.stop_select_fitness": 1.0,  # never reached (rms 0): speed only
            "run.seed": seed,
            "run.engine": engine,
        }
        return Run.create(Path(workdir) / "run", load_config(CONFIG, overrides))

    with tempfile.TemporaryDirectory() as warm:
        make(3000, warm).run()  # loads numba's cache, fills the allocator
    with tempfile.TemporaryDirectory() as workdir:
        run = make(individuals, workdir)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = run.run()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        size = (Path(workdir) / "run" / "run.sqlite").stat().st_size
    return {"engine": engine, "individuals": result.n_individuals, "cpu_s": cpu, "wall_s": wall,
            "per_cpu_s": result.n_individuals / cpu, "store_bytes": size}  # fmt: skip


def child(engine: str, individuals: int, seed: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--arm", engine, "--individuals", str(individuals),
         "--seed", str(seed)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def store_row_cost(n: int = 100_000) -> None:
    """Buffer and commit ``n`` rows of each kind; CPU microseconds and bytes per row."""
    import numpy as np

    from evoforge.automl_zero.baselines import linear_sgd
    from evoforge.automl_zero.fused_codec import CODEC, encode_program
    from evoforge.automl_zero.program import Memory
    from evoforge.automl_zero.text import from_text
    from evoforge.evolution.space import Evaluation, Individual
    from evoforge.evolution.store import RunStore

    mem = Memory(4, 3, 1, features=4)
    program = from_text(linear_sgd(0.1), mem)
    text = "\n".join(
        ["def Setup():"]
        + ["    s3 = -0.123456789"] * 10
        + ["def Predict():"]
        + ["    s1 = dot(v0, v1)"] * 2
        + ["def Learn():"]
        + ["    s2 = s0 - s1"] * 8
    )
    blob = encode_program(program, 4)
    per_task = tuple(np.random.default_rng(0).random(10).tolist())
    with tempfile.TemporaryDirectory() as workdir:
        for kind in ("compact", "text"):
            store = RunStore.create(Path(workdir) / f"{kind}.sqlite")
            cpu0 = time.process_time()
            if kind == "compact":
                store.set_codec(CODEC)
                pt = np.array(per_task).tobytes()
                store.add_chunk({
                    "id": list(range(1, n + 1)), "parent_id": [1] * n,
                    "mutation": ["alter_argument"] * n, "genome_blob": [blob] * n,
                    "fitness": [0.5] * n, "per_task": [pt] * n, "cost": [1000] * n,
                    "fingerprint": list(range(n)), "fec_hit": [0] * n,
                    "early_stopped": [0] * n, "wall_time": [1e-5] * n,
                    "created": [time.time()] * n, "worker": [0] * n,
                })  # fmt: skip
            else:
                for i in range(1, n + 1):
                    ev = Evaluation(0.5, per_task, 1000, fingerprint=i)
                    store.add(Individual(i, None, ev, 1, "alter_argument"), text)
            store.checkpoint(n, {})
            cpu = time.process_time() - cpu0
            store.close()
            size = (Path(workdir) / f"{kind}.sqlite").stat().st_size
            genome = len(blob) if kind == "compact" else len(text)
            emit(figure="store_row", kind=kind, rows=n, us_per_row=1e6 * cpu / n,
                 bytes_per_row=size / n, genome_bytes=genome)  # fmt: skip


def time_to_solution(seeds: list[int], max_seconds: float) -> None:
    from evoforge.config import load_config
    from evoforge.evolution.run import Run

    for seed in seeds:
        with tempfile.TemporaryDirectory() as workdir:
            overrides = {"run.seed": seed, "run.engine": "fused", "run.max_seconds": max_seconds}
            run = Run.create(Path(workdir) / "run", load_config(CONFIG, overrides))
            cpu0, wall0 = time.process_time(), time.perf_counter()
            result = run.run()
            emit(figure="time_to_solution", engine="fused", seed=seed,
                 solved=result.stop_reason == "stop_select_fitness",
                 seconds=time.perf_counter() - wall0, cpu_s=time.process_time() - cpu0,
                 individuals=result.n_individuals, select_fitness=result.best_select)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--individuals", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--arm", choices=("loop", "fused"))
    parser.add_argument("--store-rows", type=int, default=100_000)
    parser.add_argument("--solve-seeds", type=int, nargs="*", default=[])
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(arm(args.arm, args.individuals, args.seed)))
        return
    ratios, arms = [], {"loop": [], "fused": []}
    for pair in range(args.pairs):
        loop = child("loop", args.individuals, args.seed)
        fused = child("fused", args.individuals, args.seed)
        ratio = fused["per_cpu_s"] / loop["per_cpu_s"]
        ratios.append(ratio)
        arms["loop"].append(loop["per_cpu_s"])
        arms["fused"].append(fused["per_cpu_s"])
        emit(figure="throughput_pair", pair=pair, loop=loop, fused=fused, ratio=ratio)
    emit(figure="throughput_summary", pairs=args.pairs, individuals=args.individuals,
         median_ratio=statistics.median(ratios),
         loop_median_per_cpu_s=statistics.median(arms["loop"]),
         fused_median_per_cpu_s=statistics.median(arms["fused"]))  # fmt: skip
    if args.store_rows:
        store_row_cost(args.store_rows)
    time_to_solution(args.solve_seeds, args.max_seconds)


if __name__ == "__main__":
    main()
