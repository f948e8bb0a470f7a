"""PANGAEA at small scale: search, rerank, and test the best functions against ReLU and Swish.

Steps (dissertation ch. 4, scaled down; see configs/activations/pangaea_small.toml):

1. PANGAEA (regularized evolution with the quality gate) for ``--evaluations``
   candidates, and the random-search baseline (by default the same config
   with its ``[search]`` table replaced by the paper's P = 1, S = 1, V = 0
   random walk, as ``pangaea_random_search.toml`` is for the digits config)
   for the same number of evaluations, both through evoforge's engine.
2. Reranking, a step of the PANGAEA run (`evoforge.activations.steps.rerank`,
   as ``evoforge rerank``): the ``--rerank`` best distinct functions are
   rescored by the mean validation accuracy of ``--rerank-runs`` trainings
   with the full (uncompressed) schedule, on the search model and every
   ``--model`` (general-function selection).
3. Final test (`evoforge.activations.steps.final_test`, as ``evoforge
   final-test``): the top ``--final`` reranked functions, the general one,
   ReLU and Swish, each trained with ``--seeds`` seeds on the full schedule
   and measured on the held-out test split; mean ± std and the one-tailed
   Welch p-values against ReLU and Swish; learned parameters recorded and plotted.

``--workers`` processes train in the searches and in both steps. Both steps are
stored in the run's ``run.sqlite`` (``evoforge show OUT/pangaea``) and resume
where they stopped: ``--steps-only`` reruns them on the existing run, and
``--resume`` continues stopped searches from their checkpoints.
Every result is one JSON line on standard output (and in ``OUT/results.jsonl``);
the search lines include candidates evaluated per hour.

Example (a tiny smoke run)::

    PYTHONPATH=src python benchmarks/pangaea_small.py --evaluations 20 --seeds 2 \\
        --rerank 3 --rerank-runs 1 --final 2 --out runs/pangaea_smoke
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sqlite3
import sys
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
import torch

from evoforge.activations import steps
from evoforge.cli import SetOption
from evoforge.config import load_config
from evoforge.evolution.run import Run
from evoforge.evolution.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "activations"


def emit(out: Path, record: dict[str, Any]) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    with (out / "results.jsonl").open("a") as f:
        f.write(line + "\n")


def search(name: str, config: Path, run_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run one search through the engine; returns its summary record."""
    overrides = {
        "run.workers": args.workers,
        "run.backend": "serial" if args.workers == 1 else "processes",
        "activations.device": args.device,
    }
    if args.seed is not None:
        overrides["run.seed"] = args.seed
    if args.evaluations is not None:
        overrides["run.max_individuals"] = args.evaluations
    overrides.update(args.overrides)
    if args.resume and run_dir.exists():
        result = Run.resume(run_dir, max_individuals=args.evaluations).run()
    else:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        result = Run.create(run_dir, load_config(config, overrides)).run()
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        trained, hits, errors, wall = db.execute(
            "SELECT SUM(NOT fec_hit), SUM(fec_hit), SUM(error IS NOT NULL),"
            " SUM(CASE WHEN fec_hit THEN 0 ELSE wall_time END) FROM individuals"
        ).fetchone()
    hours = result.elapsed / 3600
    return {
        "step": "search",
        "search": name,
        "evaluations": result.n_individuals,
        "trained": trained,
        "fec_hits": hits,
        "errors": errors,
        "best": None if result.best is None else genome_text(run_dir, result.best.id),
        "best_fitness": None if result.best is None else result.best.fitness,
        "elapsed_s": round(result.elapsed, 2),
        "seconds_per_trained_candidate": round(wall / trained, 3) if trained else None,
        "candidates_per_hour": round(result.n_individuals / hours, 1) if hours else None,
        "device": args.device,
        "workers": args.workers,
    }


def random_walk_config(config: Path, out: Path) -> Path:
    """``config`` with its search replaced by PANGAEA's random-search baseline
    (P = 1, S = 1, V = 0: each candidate a mutation of the previous one), so
    that data, network, training and budget stay equal; written into ``out``."""
    table = tomllib.loads(config.read_text())
    table["search"] = {"strategy": "random_walk"}
    path = out / f"{config.stem}_random_walk.toml"
    path.write_text(tomli_w.dumps(table))
    return path


def genome_text(run_dir: Path, ident: int) -> str:
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        (text,) = db.execute(
            "SELECT genome_text FROM individuals WHERE id = ?", (ident,)
        ).fetchone()
    return text


def models_all(run_dir: Path) -> list[dict[str, Any]]:
    """The rerank's architectures, the search model first."""
    store = RunStore.open(run_dir / "run.sqlite")
    try:
        return store.events("rerank_plan")[0]["models"]
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=CONFIGS / "pangaea_small.toml")
    parser.add_argument(
        "--baseline", type=Path, default=None,
        help="the random search's config (default: --config with a random-walk [search])",
    )  # fmt: skip
    parser.add_argument(
        "--evaluations", type=int, default=None,
        help="candidates per search (default: the config's run.max_individuals)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, default=5, help="final runs per function")
    parser.add_argument("--rerank", type=int, default=10, help="functions to rerank")
    parser.add_argument("--rerank-runs", type=int, default=2, help="full runs per reranked one")
    parser.add_argument("--final", type=int, default=3, help="evolved functions to test")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    parser.add_argument("--seed", type=int, default=None, help="override run.seed")
    parser.add_argument(
        "--set", dest="overrides", action=SetOption, default={}, metavar="KEY=VALUE",
        help="a config override for both searches, e.g. --set activations.n_train=5000",
    )  # fmt: skip
    parser.add_argument("--no-baseline", action="store_true", help="skip the random search")
    parser.add_argument(
        "--model", dest="models", action="append", default=[], metavar="TOML",
        help="another architecture for the rerank (a TOML inline table); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--steps-only", action="store_true", help="skip the searches: rerank and test OUT/pangaea"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the searches in OUT where they stopped"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/pangaea_small"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.steps_only:
        if not args.resume:
            (args.out / "results.jsonl").write_text("")
        emit(args.out, search("pangaea", args.config, args.out / "pangaea", args))
        if not args.no_baseline:
            baseline = args.baseline or random_walk_config(args.config, args.out)
            emit(args.out, search("random_search", baseline, args.out / "random", args))

    run_dir = args.out / "pangaea"
    models = [steps.parse_model(text) for text in args.models]
    echo = functools.partial(emit, args.out)
    steps.rerank(run_dir, args.rerank, args.rerank_runs, models, echo=echo, workers=args.workers)
    rows = steps.final_test(run_dir, args.final, args.seeds, echo=echo, workers=args.workers)
    for row in rows:
        emit(args.out, {
            "step": "final_summary", "label": row.label, "function": row.function,
            "model": models_all(run_dir)[row.model], "seeds": len(row.test_accuracy),
            "test_accuracy": list(row.test_accuracy), "mean": row.mean, "std": row.std,
            # one-tailed (mean > the baseline's), as Table 4.2 reports against ReLU
            "welch_p_vs_relu": row.p_vs_relu, "welch_p_vs_swish": row.p_vs_swish,
        })  # fmt: skip
    for path in steps.write_parameter_figures(run_dir):
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
