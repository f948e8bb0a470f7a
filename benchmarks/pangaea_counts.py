"""Unique functions of the 5,103-function benchmark space under each convention.

The dissertation (ch. 6) reports 2,913 functions with distinct outputs on
1,000 truncated-normal samples. `evoforge.activations.counts.aquasurf_unique_count`
counts them under every combination of comparison (exact / 5-digit
signature), division by zero (safe: 0 / IEEE: ±inf, NaN), power (safe / IEEE)
and precision (float64 / float32). Prints one JSON line per combination.

Usage:
    python benchmarks/pangaea_counts.py --out benchmarks/results/dev-2core-2026-12-07/pangaea_counts.jsonl
"""  # noqa: E501

from __future__ import annotations

import argparse
import itertools
import time

from evoforge.activations.counts import aquasurf_unique_count
from evoforge.init.experiments import emit

DISSERTATION = 2913


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    for compare, division, power, dtype in itertools.product(
        ("exact", "signature"), ("safe", "ieee"), ("safe", "ieee"), ("float64", "float32")
    ):
        t0 = time.process_time()
        count = aquasurf_unique_count(compare, division, power, dtype)
        emit(
            args.out,
            figure="aquasurf_unique_count",
            compare=compare,
            division=division,
            power=power,
            dtype=dtype,
            unique=count,
            dissertation=DISSERTATION,
            cpu_s=round(time.process_time() - t0, 2),
        )


if __name__ == "__main__":
    main()
