"""evoforge's linear demo beside Google's C++ AutoML-Zero (``run_search_experiment``).

Both sides run the demo of ``automl_zero/run_demo.sh`` (10 linear tasks, F=4,
the six ops, P=1000, T=10, FEC on; evoforge: ``configs/automl_zero/linear_demo.toml``),
each as a child process pinned to one core (``os.sched_setaffinity``), one
after the other, never at once. Prints one JSON line per figure:

- ``throughput_pair`` (``--pairs``, default 3): one C++ and one evoforge run of
  ``--individuals`` individuals each (the order alternates per pair, so drift
  in the machine's load hits both sides alike); individuals per CPU-second
  from each side's own counters (C++: the binary's user+sys time from
  ``/proc`` at its last progress line; evoforge: the child's process time
  around the search loop, imports excluded) and their ratio evoforge/C++.
  CPU-seconds keep the ratio meaningful on a shared machine, where wall time
  depends on the other work.
- ``throughput_summary``: median rates and median of the per-pair ratios.
- ``time_to_solution`` (``--seeds``, default 20, per side; seeds 1..N,
  alternating sides): solved or not within ``--max-seconds``, wall and CPU
  seconds, individuals. C++: until its "Final evaluation" line (the demo's stop
  rule, select fitness > 0.9999 checked when an experiment ends); evoforge:
  until the best program's select fitness exceeds 0.9999. With
  ``--experiment-individuals N`` (default 920,000) evoforge restarts as the
  reference does (``run.experiment_individuals``): a fresh population every N
  individuals, the stop rule checked when an experiment ends. The reference
  caps an experiment at 2e8 training steps, which FEC hits do not spend; in
  its demo runs that came to a median of about 920,000 individuals.
- ``time_to_solution_summary``: per side, solved count and median wall/CPU
  seconds over the solved seeds.

The C++ binary is not part of evoforge: build it from Google's public sources
(e.g. with the recipe in the project's shared tools) and pass its path; it
must be compiled with the demo's ``MAX_SCALAR_ADDRESSES=4
MAX_VECTOR_ADDRESSES=3 MAX_MATRIX_ADDRESSES=1``.

``--randomize-task-seeds`` / ``--no-randomize-task-seeds`` say whether each
experiment searches and selects on freshly drawn tasks, on both sides: the
reference's ``--randomize_task_seeds`` (in all its runs) and evoforge's
``run.randomize_task_seeds`` (in its time-to-solution runs, which restart with
``--experiment-individuals``; its throughput runs do not restart). Left out,
the sides run as before: the reference with the demo's
``--randomize_task_seeds``, evoforge on fixed tasks. Every figure line records
the setting.

``--engine`` picks evoforge's side: ``fused`` (default; the whole
regularized-evolution step compiled, ``run.engine = "fused"``) or ``loop``
(the readable per-individual driver).

Usage:
    python benchmarks/automl_zero_vs_reference.py --reference-binary PATH \\
        [--engine fused] [--pairs 3] [--individuals 300000] [--seeds 20] \\
        [--max-seconds 1800] [--experiment-individuals 920000] [--cores 0 1] \\
        [--randomize-task-seeds | --no-randomize-task-seeds]
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

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "automl_zero" / "linear_demo.toml"

_DEMO_OPS = (
    "[SCALAR_CONST_SET_OP, VECTOR_INNER_PRODUCT_OP, SCALAR_DIFF_OP, SCALAR_PRODUCT_OP, "
    "SCALAR_VECTOR_PRODUCT_OP, VECTOR_SUM_OP]"
)
_DEMO_MUTATIONS = (
    "[ALTER_PARAM_MUTATION_TYPE, RANDOMIZE_INSTRUCTION_MUTATION_TYPE, "
    "RANDOMIZE_COMPONENT_FUNCTION_MUTATION_TYPE]"
)
# run_demo.sh's flags (google-research automl_zero, commit 1d49f2c0d), unchanged.
SEARCH_SPEC = f"""
  search_tasks {{
    tasks {{
      scalar_linear_regression_task {{}}
      features_size: 4
      num_train_examples: 100
      num_valid_examples: 100
      num_tasks: 10
      eval_type: RMS_ERROR
    }}
  }}
  setup_ops: {_DEMO_OPS}
  predict_ops: {_DEMO_OPS}
  learn_ops: {_DEMO_OPS}
  learn_size_init: 8
  setup_size_init: 10
  predict_size_init: 2
  fec {{num_train_examples: 10 num_valid_examples: 10}}
  fitness_combination_mode: MEAN_FITNESS_COMBINATION
  population_size: 1000
  tournament_size: 10
  initial_population: RANDOM_ALGORITHM
  max_train_steps: 200000000
  allowed_mutation_types {{
    mutation_types: {_DEMO_MUTATIONS}
  }}
  mutate_prob: 0.9
  progress_every: 10000
"""
_TASKS_1000 = """
  tasks {
    scalar_linear_regression_task {}
    features_size: 4
    num_train_examples: 1000
    num_valid_examples: 100
    num_tasks: 100
    eval_type: RMS_ERROR%s
  }
"""
FINAL_TASKS = _TASKS_1000 % "\n    data_seeds: [1000000]\n    param_seeds: [2000000]"
SELECT_TASKS = _TASKS_1000 % ""


def reference_command(binary: str, seed: int, randomize_task_seeds: bool = True) -> list[str]:
    """The C++ demo's command line with ``--random_seed=seed``; the demo
    randomizes the task seeds, ``randomize_task_seeds=False`` keeps them fixed.

    Example:
        >>> "--randomize_task_seeds" in reference_command("run_search_experiment", 1)
        True
        >>> reference_command("run_search_experiment", 1, randomize_task_seeds=False)[4]
        '--randomize_task_seeds=false'
    """
    return [
        binary,
        f"--search_experiment_spec={SEARCH_SPEC}",
        f"--final_tasks={FINAL_TASKS}",
        "--max_experiments=0",
        "--randomize_task_seeds" if randomize_task_seeds else "--randomize_task_seeds=false",
        f"--select_tasks={SELECT_TASKS}",
        "--sufficient_fitness=0.9999",
        f"--random_seed={seed}",
    ]


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def _cpu_seconds(pid: int) -> float | None:
    # utime + stime of a live process, in seconds (fields 14 and 15 of /proc/PID/stat).
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pin(core: int):
    return lambda: os.sched_setaffinity(0, {core})


def run_reference(
    binary: str,
    seed: int,
    core: int,
    stop_after: int | None,
    max_seconds: float,
    randomize_task_seeds: bool = True,
) -> dict:
    """Run the C++ demo; count individuals from its progress lines (every
    10,000; a finished experiment's unprinted tail of < 10,000 is not counted)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        reference_command(binary, seed, randomize_task_seeds), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, preexec_fn=_pin(core),
    )  # fmt: skip
    done, current, experiments = 0, 0, 0
    cpu = wall = 0.0
    solved_wall = solved_cpu = None
    fitness = None
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter() - started
        if line.startswith("Running evolution experiment"):
            experiments += 1
            done, current = done + current, 0
        elif line.startswith("indivs="):
            current = int(line.split("=", 1)[1].split(",", 1)[0])
            cpu, wall = _cpu_seconds(proc.pid) or cpu, now
        elif line.startswith("Final evaluation of best algorithm"):
            solved_wall, solved_cpu = now, _cpu_seconds(proc.pid)
        elif "Final evaluation fitness (on unseen data)" in line:
            fitness = float(line.rsplit("=", 1)[1])
        if stop_after is not None and done + current >= stop_after:
            break
        if now > max_seconds:
            break
    proc.kill()
    proc.wait()
    individuals = done + current
    return {
        "individuals": individuals,
        "experiments": experiments,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "individuals_per_cpu_s": round(individuals / cpu, 1) if cpu else None,
        "solved": solved_wall is not None,
        "time_to_solution_s": None if solved_wall is None else round(solved_wall, 3),
        "time_to_solution_cpu_s": None if solved_cpu is None else round(solved_cpu, 3),
        "final_fitness": fitness,
    }


# The evoforge side, run in a pinned child: imports are not charged to the search.
_CHILD = """
import json, shutil, sys, time
from pathlib import Path
from evoforge.config import load_config
from evoforge.evolution.run import Run
config, out, overrides = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
# Warm-up (numba's code compiled or loaded from its cache, first-use costs) outside
# the timing, with the measured run's settings (its engine above all).
warm = {**overrides, "run.max_individuals": 2000, "run.stop_select_fitness": 1.0,
        "run.seed": 999}
Run.create(out.with_name("warm"), load_config(config, warm)).run()
cfg = load_config(config, overrides)
wall, cpu = time.perf_counter(), time.process_time()
result = Run.create(out, cfg).run()
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
shutil.rmtree(out.parent)  # ~600 bytes per individual stored: free the disk now
print(json.dumps({"individuals": result.n_individuals, "cpu_s": cpu, "wall_s": wall,
                  "stop_reason": result.stop_reason, "select": result.best_select}))
"""


def run_evoforge(overrides: dict, core: int, workdir: Path, timeout: float) -> dict:
    out = Path(tempfile.mkdtemp(dir=workdir)) / "run"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(CONFIG), str(out), json.dumps(overrides)],
        capture_output=True, text=True, preexec_fn=_pin(core), timeout=timeout,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"evoforge run failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def throughput(args, workdir: Path) -> None:
    rates: dict[str, list[float]] = {"reference": [], "evoforge": []}
    ratios = []
    overrides = {
        "run.max_individuals": args.individuals,
        "run.stop_select_fitness": 1.0,
        "run.engine": args.engine,
    }
    for pair in range(args.pairs):
        order = ("reference", "evoforge") if pair % 2 == 0 else ("evoforge", "reference")
        got = {}
        for side in order:
            if side == "reference":
                r = run_reference(args.reference_binary, pair + 1, args.cores[0],
                                  args.individuals, args.max_seconds,
                                  args.task_seeds["reference"])  # fmt: skip
                got[side] = r["individuals_per_cpu_s"]
            else:
                r = run_evoforge({**overrides, "run.seed": pair + 1}, args.cores[0], workdir,
                                 args.max_seconds)  # fmt: skip
                got[side] = round(r["individuals"] / r["cpu_s"], 1)
        for side, rate in got.items():
            rates[side].append(rate)
        ratios.append(got["evoforge"] / got["reference"])
        emit(figure="throughput_pair", pair=pair, order=order, individuals=args.individuals,
             engine=args.engine, randomize_task_seeds=args.task_seeds,
             reference_per_cpu_s=got["reference"], evoforge_per_cpu_s=got["evoforge"],
             ratio=round(ratios[-1], 3))  # fmt: skip
    emit(figure="throughput_summary", pairs=args.pairs, engine=args.engine,
         reference_median_per_cpu_s=statistics.median(rates["reference"]),
         evoforge_median_per_cpu_s=statistics.median(rates["evoforge"]),
         median_ratio=round(statistics.median(ratios), 3),
         ratios=[round(r, 3) for r in ratios])  # fmt: skip


def time_to_solution(args, workdir: Path) -> None:
    results: dict[str, list[dict]] = {"reference": [], "evoforge": []}
    for seed in range(1, args.seeds + 1):
        order = ("reference", "evoforge") if seed % 2 else ("evoforge", "reference")
        for side in order:
            if side == "reference":
                r = run_reference(args.reference_binary, seed, args.cores[-1], None,
                                  args.max_seconds, args.task_seeds["reference"])  # fmt: skip
                row = {k: r[k] for k in ("solved", "time_to_solution_s", "time_to_solution_cpu_s",
                                         "individuals", "experiments")}  # fmt: skip
            else:
                overrides = {
                    "run.seed": seed,
                    # Like the reference (--max_experiments=0), only the wall-clock cap stops it.
                    "run.max_individuals": 10**12,
                    "run.max_seconds": args.max_seconds,
                    "run.engine": args.engine,
                }
                if args.experiment_individuals:
                    overrides["run.experiment_individuals"] = args.experiment_individuals
                if args.task_seeds["evoforge"]:
                    overrides["run.randomize_task_seeds"] = True
                r = run_evoforge(overrides, args.cores[-1], workdir, args.max_seconds + 300)
                solved = r["stop_reason"] == "stop_select_fitness"
                row = {"solved": solved, "individuals": r["individuals"],
                       "time_to_solution_s": round(r["wall_s"], 3) if solved else None,
                       "time_to_solution_cpu_s": round(r["cpu_s"], 3) if solved else None,
                       "select_fitness": r["select"]}  # fmt: skip
            results[side].append(row)
            emit(figure="time_to_solution", side=side, seed=seed, max_seconds=args.max_seconds,
                 engine=args.engine, experiment_individuals=args.experiment_individuals,
                 randomize_task_seeds=args.task_seeds[side],
                 **row)  # fmt: skip
    for side, rows in results.items():
        solved = [r for r in rows if r["solved"]]
        emit(figure="time_to_solution_summary", side=side, seeds=len(rows), solved=len(solved),
             max_seconds=args.max_seconds, randomize_task_seeds=args.task_seeds[side],
             median_s=statistics.median(r["time_to_solution_s"] for r in solved)
             if solved else None,
             median_cpu_s=statistics.median(r["time_to_solution_cpu_s"] for r in solved)
             if solved else None,
             median_individuals=statistics.median(r["individuals"] for r in solved)
             if solved else None)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-binary", required=True, help="path to run_search_experiment")
    parser.add_argument(
        "--engine",
        choices=("fused", "loop"),
        default="fused",
        help="evoforge's engine: the fused numba step, or the readable per-individual loop",
    )
    parser.add_argument(
        "--pairs", type=int, default=3, help="interleaved throughput pairs (0: none)"
    )
    parser.add_argument("--individuals", type=int, default=300_000, help="per throughput run")
    parser.add_argument("--seeds", type=int, default=20, help="time-to-solution seeds per side")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="cap per run (wall)")
    parser.add_argument(
        "--experiment-individuals",
        type=int,
        default=920_000,
        help="evoforge restarts every N individuals in time to solution, as the reference "
        "does (0: one population to the end)",
    )
    parser.add_argument(
        "--cores",
        type=int,
        nargs="+",
        default=[0],
        help="core(s) to pin to: throughput uses the first, seeds the last",
    )
    parser.add_argument(
        "--randomize-task-seeds",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fresh search and select tasks every experiment on both sides (the reference's "
        "--randomize_task_seeds, evoforge's run.randomize_task_seeds; needs "
        "--experiment-individuals), or fixed tasks on both with --no-...; left out: the "
        "reference randomizes as its demo does, evoforge keeps fixed tasks",
    )
    args = parser.parse_args()
    if args.randomize_task_seeds and not args.experiment_individuals:
        parser.error("--randomize-task-seeds redraws tasks per experiment: needs "
                     "--experiment-individuals > 0")  # fmt: skip
    # Left out, each side runs as before: the reference as its demo, evoforge on fixed tasks.
    args.task_seeds = {
        "reference": args.randomize_task_seeds is not False,
        "evoforge": bool(args.randomize_task_seeds),
    }
    if not os.access(args.reference_binary, os.X_OK):
        parser.error(f"--reference-binary {args.reference_binary}: not an executable file")
    if args.pairs < 0 or args.seeds < 0:
        parser.error("--pairs and --seeds must be >= 0")
    with tempfile.TemporaryDirectory(prefix="az-vs-ref-") as tmp:
        if args.pairs:
            throughput(args, Path(tmp))
        if args.seeds:
            time_to_solution(args, Path(tmp))


if __name__ == "__main__":
    main()
