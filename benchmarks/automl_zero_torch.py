"""Batched PyTorch evaluator: linear-demo individuals per second on a device.

Programs are the linear demo's (``configs/automl_zero/linear_demo.toml``: 10
tasks of 100/100 examples, F=4, Setup/Predict/Learn 10/2/8 random instructions
over the six demo ops), a population of random programs plus chains of
mutations of them, as a search would evaluate. For each ``--chunk`` size the
`TorchProgramEvaluator` scores the same programs in chunks (one
``evaluate_batch`` call each, no FEC: every program is evaluated) and the
compiled per-program evaluator scores them one by one on the CPU as the
baseline. Prints one JSON line per (device, dtype, chunk), with evaluations/s,
the baseline's rate on this machine, and the largest fitness difference
between the two.

Usage:
    python benchmarks/automl_zero_torch.py --device cuda --chunks 1024 8192 65536 --dtype float32
    python benchmarks/automl_zero_torch.py --device cpu --chunks 256 1024 --programs 2048
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from evoforge.automl_zero.evaluator_torch import TorchProgramEvaluator
from evoforge.config import load_config
from evoforge.domains import build_domain
from evoforge.evolution.space import NO_BUDGET

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "automl_zero" / "linear_demo.toml"


def programs(n: int, seed: int = 0) -> list:
    """Random demo programs and mutants of them (each mutant of the previous one)."""
    setup = build_domain(load_config(CONFIG))
    rng = np.random.default_rng(seed)
    out = [setup.space.initial(rng) for _ in range(min(n, 1000))]
    while len(out) < n:
        out.append(setup.space.mutate(out[int(rng.integers(len(out)))], rng)[0])
    return out, setup.evaluator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    parser.add_argument("--chunks", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--programs", type=int, default=2048, help="programs per measurement")
    parser.add_argument("--baseline", type=int, default=1000, help="programs for the CPU baseline")
    args = parser.parse_args()
    torch.set_num_threads(1)
    population, compiled = programs(max(args.programs, args.baseline))
    population = population[: args.programs]
    started = time.perf_counter()
    expected = [compiled.evaluate(p).fitness for p in population[: args.baseline]]
    baseline_rate = args.baseline / (time.perf_counter() - started)
    evaluator = TorchProgramEvaluator(
        compiled.memory, compiled.tasks, device=args.device, dtype=args.dtype
    )
    device_name = (
        torch.cuda.get_device_name(torch.device(args.device))
        if args.device.startswith("cuda")
        else platform.processor() or platform.machine()
    )
    for chunk in args.chunks:
        evaluator.evaluate_batch(population[:chunk], [NO_BUDGET] * min(chunk, len(population)))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        got = []
        for lo in range(0, len(population), chunk):
            part = population[lo : lo + chunk]
            got += evaluator.evaluate_batch(part, [NO_BUDGET] * len(part))
        seconds = time.perf_counter() - started
        diff = max(abs(g.fitness - e) for g, e in zip(got, expected, strict=False))
        print(json.dumps({
            "figure": "torch_evaluator", "device": args.device, "device_name": device_name,
            "dtype": args.dtype, "chunk": chunk, "programs": len(population),
            "evaluations_per_s": round(len(population) / seconds, 1),
            "numba_cpu_evaluations_per_s": round(baseline_rate, 1),
            "max_fitness_difference": diff,
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
