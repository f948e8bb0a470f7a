"""AutoML-Zero linear demo: throughput, FEC hit rate and time to solution.

Prints one JSON line per figure:

- ``throughput``: individuals/s on one core (serial backend) for the linear
  demo, FEC on and off, over ``--individuals`` individuals after a warm-up
  (numba compilation is cached, the warm-up only fills caches);
- ``fec_hit_rate``: the share of FEC hits in the FEC-on throughput run;
- ``time_to_solution``: per seed, seconds and individuals until the best
  program's select fitness exceeds 0.9999, whether its Learn is SGD on a
  linear model (checked by behaviour: select fitness > 0.9999 on 100 random
  linear tasks cannot be reached without learning the weights, and the
  program's Learn must read the label s0), and the program itself;
- ``time_to_solution_summary``: solved count and median seconds;
- ``collector_ab`` (with ``--collector-pairs N``): N interleaved pairs of
  throughput runs (FEC on) with the search loops' garbage-collector pause as
  shipped and with the collector left on (in that arm's own process
  ``gc.disable`` is made a no-op, so the pause changes nothing), and each
  pair's ratio.

Usage:
    python benchmarks/automl_zero_speed.py --individuals 200000 --seeds 5 --jobs 2 --max-seconds 600
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sqlite3
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from evoforge.automl_zero.ops import OPS
from evoforge.config import load_config
from evoforge.evolution.run import Run

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "automl_zero" / "linear_demo.toml"


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def run(overrides: dict, workdir: Path, name: str):
    config = load_config(CONFIG, overrides)
    started = time.perf_counter()
    result = Run.create(workdir / name, config).run()
    return result, time.perf_counter() - started


def speed_run(individuals: int, fec: bool, workdir: Path, name: str):
    """A fixed-seed run of ``individuals`` that never stops early: speed only."""
    overrides = {
        "run.max_individuals": individuals,
        "run.stop_select_fitness": 1.0,  # never reached (needs an RMS error of exactly 0)
        "search.fec.enabled": fec,
        "run.seed": 123,
    }
    return run(overrides, workdir, name)


def warm_up(workdir: Path) -> None:
    """Fill caches (numba's compiled code is loaded from disk) before timing."""
    run({"run.max_individuals": 5000}, workdir, "warmup")


def _throughput_in_process(individuals: int, collector_on: bool) -> float:
    """Individuals/s of one FEC-on run in a fresh process (one arm of the A/B)."""
    import gc

    if collector_on:
        gc.disable = lambda: None  # this process only: the loops' pause does nothing
    with tempfile.TemporaryDirectory() as tmp:
        warm_up(Path(tmp))
        result, seconds = speed_run(individuals, True, Path(tmp), "measured")
        return result.n_individuals / seconds


def collector_ab(args) -> None:
    spawn = multiprocessing.get_context("spawn")
    for pair in range(args.collector_pairs):
        rates = {}
        for collector_on in (True, False):  # one process per run, one run at a time
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                rates[collector_on] = pool.submit(
                    _throughput_in_process, args.individuals, collector_on
                ).result()
        emit(figure="collector_ab", config="linear_demo", pair=pair, individuals=args.individuals,
             collector_on=round(rates[True]), paused=round(rates[False]),
             ratio=round(rates[False] / rates[True], 3))  # fmt: skip


def learn_reads_label(program) -> bool:
    start, stop = program.bounds(2)
    for op, in1, in2, _ in program.code[start:stop]:
        inputs = OPS[op].inputs
        if (inputs[:1] == ("s",) and in1 == 0) or (inputs[1:2] == ("s",) and in2 == 0):
            return True
    return False


def throughput(args, workdir: Path) -> None:
    warm_up(workdir)
    for fec in (True, False):
        result, seconds = speed_run(args.individuals, fec, workdir, f"throughput-fec-{fec}")
        emit(
            figure="throughput",
            config="linear_demo",
            fec=fec,
            individuals=result.n_individuals,
            seconds=round(seconds, 2),
            individuals_per_s=round(result.n_individuals / seconds),
        )
        if fec:
            with sqlite3.connect(result.run_dir / "run.sqlite") as db:
                hits = db.execute("select avg(fec_hit) from individuals").fetchone()[0]
            emit(figure="fec_hit_rate", config="linear_demo", hit_rate=round(hits, 4))


def solve(seed: int, max_seconds: float, workdir: Path) -> dict:
    """One search until solved or ``max_seconds``; runs in its own process."""
    overrides = {"run.seed": seed, "run.max_seconds": max_seconds}
    result, seconds = run(overrides, workdir, f"solve-{seed}")
    ok = result.stop_reason == "stop_select_fitness" and learn_reads_label(result.best.genome)
    text = (result.run_dir / "best.txt").read_text()
    # A run stores ~600 bytes per individual: free the disk now, or later seeds
    # slow down under the writeback of earlier seeds' gigabytes.
    shutil.rmtree(result.run_dir)
    return dict(
        figure="time_to_solution",
        config="linear_demo",
        seed=seed,
        solved=ok,
        seconds=round(seconds, 1),
        individuals=result.n_individuals,
        individuals_per_s=round(result.n_individuals / seconds),
        select_fitness=result.best_select,
        stop_reason=result.stop_reason,
        best_program=text[text.index("\ndef Setup") + 1 :],  # the code after the # header
    )


def time_to_solution(args, workdir: Path) -> None:
    # Each seed is a separate one-core process; --jobs runs several at once on
    # a machine with that many idle cores (the default, one at a time, leaves
    # each seed a core of its own, with no neighbour sharing its caches).
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            pool.submit(solve, seed, args.max_seconds, workdir)
            for seed in range(args.first_seed, args.first_seed + args.seeds)
        ]
        results = []
        for future in futures:  # each line as soon as its seed ends: long runs get cut off
            results.append(future.result())
            emit(**results[-1])
    times = [r["seconds"] if r["solved"] else float("inf") for r in results]
    solved = sum(r["solved"] for r in results)
    emit(
        figure="time_to_solution_summary",
        config="linear_demo",
        seeds=args.seeds,
        solved=solved,
        median_seconds=statistics.median(times),
        jobs=args.jobs,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--individuals", type=int, default=200_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--jobs", type=int, default=1, help="seeds searched at once")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-solution", action="store_true")
    parser.add_argument(
        "--collector-pairs",
        type=int,
        default=0,
        help="also run this many interleaved pairs: collector paused vs left on",
    )
    args = parser.parse_args()
    if args.collector_pairs:
        collector_ab(args)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_throughput:
            throughput(args, Path(tmp))
        if not args.skip_solution:
            time_to_solution(args, Path(tmp))


if __name__ == "__main__":
    main()
