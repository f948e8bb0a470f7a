"""PANGAEA's search space counted two ways, and the part the mutations reach.

For n = 1..7 operator nodes: Table 4.11's count (`counts.pangaea_count`:
ordered trees, x only under unary nodes, binary nodes nested at most 2 deep)
beside the space the search works in (`counts.searched_count`: every
canonical graph with shared nodes), with their shape counts; then, for small
``max_nodes``, how many shapes of up to ``max_nodes`` nodes the mutations reach
from the initial forms (`counts.reachable_shapes`, an exhaustive walk).
Prints one JSON line per figure.

Usage:
    python benchmarks/pangaea_space_counts.py --out benchmarks/results/dev-2core-2026-12-07-s7/pangaea_space_counts.jsonl
"""  # noqa: E501

from __future__ import annotations

import argparse
import time

from evoforge.activations import counts
from evoforge.init.experiments import emit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--max-nodes", type=int, default=7)
    parser.add_argument("--reach", type=int, nargs="*", default=[3, 4], help="max_nodes to walk")
    args = parser.parse_args(argv)
    for n in range(1, args.max_nodes + 1):
        emit(
            args.out,
            figure="pangaea_space",
            nodes=n,
            table_shapes=sum(r[3] for r in counts.pangaea_rows(n)),
            table_functions=counts.pangaea_count(n),
            searched_shapes=sum(r[3] for r in counts.searched_rows(n)),
            searched_functions=counts.searched_count(n),
        )
    emit(
        args.out,
        figure="pangaea_space_total",
        max_nodes=args.max_nodes,
        table_functions=counts.pangaea_total(args.max_nodes),
        searched_functions=sum(counts.searched_table(args.max_nodes).values()),
    )
    for max_nodes in args.reach:
        t0 = time.process_time()
        reached = counts.reachable_shapes(max_nodes)
        for n in range(1, max_nodes + 1):
            emit(
                args.out,
                figure="pangaea_reachable",
                max_nodes=max_nodes,
                nodes=n,
                reached_shapes=sum(g.n_nodes == n for g in reached),
                searched_shapes=sum(r[3] for r in counts.searched_rows(n)),
                cpu_s=round(time.process_time() - t0, 2),
            )


if __name__ == "__main__":
    main()
