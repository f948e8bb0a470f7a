"""Engine overhead per individual: a full serial run (strategy, FEC, store,
checkpoints, progress bookkeeping) on a near-free domain, so that nearly all
the time measured is the engine's. Prints one JSON line per configuration.

Run: ``.venv/bin/python benchmarks/engine_overhead.py [N]``
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from evoforge.config import parse_config
from evoforge.domains import DomainSetup
from evoforge.evolution.run import Run
from evoforge.evolution.space import Budget, Evaluation

_TABLE = tuple(Evaluation(i / 256, per_task=(i / 256, i / 256), cost=10) for i in range(256))


NO_BUDGET = Budget()


class FreeSpace:
    """Genomes are ints; mutation adds a constant (no randomness, ~0.1 us)."""

    def initial(self, rng: np.random.Generator) -> int:
        return 0

    def mutate(self, genome: int, rng: np.random.Generator) -> tuple[int, str]:
        return genome + 7, "add"

    def to_text(self, genome: int) -> str:
        return str(genome)

    def from_text(self, text: str) -> int:
        return int(text)

    def to_json(self, genome: int) -> int:
        return genome

    def from_json(self, data: int) -> int:
        return data


class FreeEvaluator:
    """Precomputed evaluations; fingerprints repeat so the FEC sees hits."""

    def evaluate(self, genome: int, budget: Budget = NO_BUDGET) -> Evaluation:
        return _TABLE[genome % 251 % 256]

    def fingerprint(self, genome: int) -> int:
        return genome % 1009


def measure(n: int, search: dict) -> dict:
    config = parse_config({"run": {"domain": "free", "max_individuals": n}, "search": search})
    setup = DomainSetup(FreeSpace(), FreeEvaluator())
    run = Run.create(Path(tempfile.mkdtemp()) / "run", config, setup=setup)
    wall, cpu = time.perf_counter(), time.process_time()
    run.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "figure": "engine_overhead_us_per_individual",
        "search": search,
        "individuals": n,
        "cpu_us": round(cpu / n * 1e6, 2),
        "wall_us": round(wall / n * 1e6, 2),
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    base = {"population_size": 1000, "tournament_size": 10, "mutation_prob": 0.9}
    for search in (
        base,
        {**base, "fec": {"enabled": False}},
        {**base, "hurdle": {"enabled": True}},
    ):
        print(json.dumps(measure(n, search)), flush=True)
