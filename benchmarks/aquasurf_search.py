"""AQuaSurF on the mini Act-Bench: features, embedding, and replayed searches.

Steps (dissertation ch. 6, on the committed mini benchmark table):

1. FIM eigenvalue histograms (K-FAC, AutoInit-initialised benchmark MLP, one
   batch of 500 training images) and outputs of every function in the table,
   cached under ``--cache``; prints the feature cost per 1,000 functions.
2. UMAP embeddings: FIM only, outputs only, and their union (seed 0).
3. Replayed searches, no training: k-NN (k = 3), random forest and SVR on each
   embedding, and random search, ``--repeats`` seeds each with ``--budget``
   evaluations; per method the evaluations needed to reach a top-1 % function
   (by mean validation accuracy over the table's seeds): median and IQR. The
   random forest refits every step; ``--rf-trees`` sets its trees (fewer than
   scikit-learn's 100 keeps 100 repeats affordable on a small machine).
4. Pictures: mean best-so-far curves, and the embeddings coloured by accuracy.

Every figure is one JSON line on stdout and in ``OUT/aquasurf_search.jsonl``.

Example::

    PYTHONPATH=src python benchmarks/aquasurf_search.py --repeats 100 --rf-trees 25
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evoforge.activations.aquasurf.bench import (
    BenchConfig,
    bench_model,
    config_dict,
    init_model,
    load_bench_data,
    load_table,
)
from evoforge.activations.aquasurf.embedding import FEATURE_SETS, embed
from evoforge.activations.aquasurf.features import FeatureCache, seconds_per_1000
from evoforge.activations.aquasurf.replay import (
    TablePool,
    best_so_far,
    equivalent_name,
    evaluations_to_reach,
    replay_names,
    top_fraction_threshold,
)
from evoforge.activations.formula import parse

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "benchmarks" / "data" / "aquasurf_minibench.csv.gz"
OUT = ROOT / "benchmarks" / "results" / "dev-2core-2026-12-07-s7"


def emit(out: Path, record: dict[str, Any]) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    with (out / "aquasurf_search.jsonl").open("a") as f:
        f.write(line + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "aquasurf")
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--rf-repeats", type=int, default=None, help="default: --repeats")
    ap.add_argument(
        "--rf-trees", type=int, default=100, help="trees per forest (scikit-learn's default: 100)"
    )
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--surrogates", nargs="+", default=["knn", "svr", "rf"])
    ap.add_argument("--feature-batch", type=int, default=500)
    ap.add_argument("--jobs", type=int, default=1, help="methods replayed in parallel processes")
    ap.add_argument(
        "--reuse-embedding", action="store_true",
        help="read OUT/aquasurf_embedding.npz when it holds the same functions (UMAP is seeded)",
    )  # fmt: skip
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)

    table = load_table(args.table)
    names = list(table.functions)
    acc = dict(zip(names, table.val_acc.tolist(), strict=True))
    test = dict(zip(names, table.test_acc.tolist(), strict=True))
    target = top_fraction_threshold(table.val_acc.tolist(), 0.01)
    relu = equivalent_name(names)
    emit(
        args.out,
        {
            "bench": "aquasurf_table",
            "functions": len(names),
            "seeds": int(table.seeds.max()),
            "diverged_fraction": round(float((table.diverged > 0).mean()), 4),
            "val_acc_max": float(table.val_acc.max()),
            "val_acc_median": float(np.median(table.val_acc)),
            "relu": relu,
            "relu_val_acc": acc.get(relu) if relu else None,
            "top1pct_threshold": target,
            "config": config_dict(BenchConfig()),
        },
    )

    # 1. features
    cfg = BenchConfig()
    data = load_bench_data(cfg)
    x, y = data.x_train[: args.feature_batch], data.y_train[: args.feature_batch]

    def make_model(g):  # type: ignore[no-untyped-def]
        m = bench_model(g, x.shape[1], cfg, data.num_classes)
        return init_model(m, data.x_train[: cfg.init_batch], 0)

    cache = FeatureCache(
        args.cache,
        {
            "space": "aquasurf_minibench",
            "functions": names,
            "net": config_dict(cfg),
            "batch": args.feature_batch,
        },
    )
    t0 = time.time()
    feats = cache.get([parse(n) for n in names], make_model, x, y)
    emit(
        args.out,
        {
            "bench": "aquasurf_features",
            "functions": len(names),
            "valid": int(feats.valid.sum()),
            "fim_dims": int(feats.fim.shape[1]),
            "layers": feats.sizes,
            "cpu_seconds_per_1000": round(seconds_per_1000(feats), 1),
            "wall_seconds_this_call": round(time.time() - t0, 1),
            "filtered_mean_val_acc": float(np.mean(table.val_acc[~feats.valid]))
            if (~feats.valid).any()
            else None,
            "kept_mean_val_acc": float(np.mean(table.val_acc[feats.valid])),
        },
    )

    # 2. embeddings
    coords = _saved_embedding(args.out, names, feats.valid) if args.reuse_embedding else None
    if coords is not None:
        emit(
            args.out,
            {"bench": "aquasurf_embedding", "reused": True, "points": int(feats.valid.sum())},
        )
    else:
        coords = {}
        for which in FEATURE_SETS:
            t0 = time.time()
            coords[which] = embed(feats, which, seed=0)
            emit(
                args.out,
                {
                    "bench": "aquasurf_embedding",
                    "features": which,
                    "points": int(coords[which].shape[0]),
                    "wall_seconds": round(time.time() - t0, 1),
                },
            )
        np.savez_compressed(
            args.out / "aquasurf_embedding.npz",
            functions=np.array(names, dtype=str),
            valid=feats.valid,
            **coords,
        )
    pool = TablePool(names, coords, feats.valid, start=[relu] if relu else [])
    _umap_picture(args.out, coords, pool, acc, relu)

    # 3. replays
    curves: dict[str, np.ndarray] = {}
    methods = [("random", "none")] + [(s, f) for s in args.surrogates for f in FEATURE_SETS]
    rf_repeats = args.rf_repeats or args.repeats
    jobs = [(s, w, rf_repeats if s == "rf" else args.repeats) for s, w in methods]
    _REPLAY.update(pool=pool, acc=acc, budget=args.budget, trees=args.rf_trees)
    # Forked workers inherit the pool. The slowest (rf) start first, and each
    # method is reported as it finishes, so a stopped run keeps what finished.
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("fork")) as ex:
        futures = {
            ex.submit(_replay_method, job): job for job in sorted(jobs, key=lambda j: j[0] != "rf")
        }
        for future in as_completed(futures):
            surrogate, which, repeats = futures[future]
            chosen, seconds = future.result()
            runs = [[acc[n] for n in c] for c in chosen]
            hits = [evaluations_to_reach(c, target) for c in runs]
            reached = np.array([h for h in hits if h is not None], dtype=float)
            # Runs that never reach the target count as budget + 1 for the quantiles.
            padded = np.array([h if h is not None else args.budget + 1 for h in hits], dtype=float)
            best = np.array([best_so_far(c) for c in runs])
            curves[f"{surrogate}/{which}"] = best.mean(axis=0)
            curves = {f"{s}/{w}": curves[f"{s}/{w}"] for s, w in methods if f"{s}/{w}" in curves}
            # Test accuracy of each run's best function by validation accuracy.
            best_test = [test[max(c, key=lambda n: acc[n])] for c in chosen]
            emit(
                args.out,
                {
                    "bench": "aquasurf_replay",
                    "surrogate": surrogate,
                    "features": which,
                    "repeats": repeats,
                    "budget": args.budget,
                    **({"trees": args.rf_trees} if surrogate == "rf" else {}),
                    "target_top1pct": target,
                    "evals_to_top1pct_median": float(np.median(padded)),
                    "evals_to_top1pct_iqr": [
                        float(np.percentile(padded, 25)),
                        float(np.percentile(padded, 75)),
                    ],
                    "reached_fraction": round(len(reached) / repeats, 3),
                    "mean_best_val_at": {
                        str(k): round(float(best[:, k - 1].mean()), 4)
                        for k in (8, 10, 25, 50, 100)
                        if k <= best.shape[1]
                    },
                    "mean_test_of_best": round(float(np.mean(best_test)), 4),
                    "cpu_seconds": round(seconds, 1),
                },
            )
            # Redrawn after every method, so a stopped run still has its picture;
            # the mean curves as data too, to redraw it without replaying.
            named = {k.replace("/", "_"): v for k, v in curves.items()}
            np.savez_compressed(args.out / "aquasurf_curves.npz", **named)
            _curves_picture(args.out, curves, acc, target, relu)


#: What forked replay workers read (set before the pool forks).
_REPLAY: dict[str, Any] = {}


def _replay_method(job: tuple[str, str, int]) -> tuple[list[list[str]], float]:
    """Every repeat of one method: the functions each evaluates, and the CPU seconds."""
    surrogate, which, repeats = job
    t0 = time.process_time()
    r = _REPLAY
    chosen = [
        replay_names(r["pool"], r["acc"], surrogate, which, r["budget"], seed=k, trees=r["trees"])
        for k in range(repeats)
    ]
    return chosen, time.process_time() - t0


def _saved_embedding(
    out: Path, names: list[str], valid: np.ndarray
) -> dict[str, np.ndarray] | None:
    """The coordinates saved by an earlier call, if it embedded the same functions."""
    path = out / "aquasurf_embedding.npz"
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        same = z["functions"].tolist() == names and bool((z["valid"] == valid).all())
        return {w: z[w] for w in FEATURE_SETS} if same else None


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves_picture(
    out: Path, curves: dict[str, np.ndarray], acc: dict[str, float], target: float,
    relu: str | None,
) -> None:  # fmt: skip
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, c in curves.items():
        ax.plot(
            np.arange(1, len(c) + 1),
            c,
            label=key,
            lw=2.2 if key.startswith("knn/both") else 1.2,
            ls="--" if key.startswith("random") else "-",
        )
    ax.axhline(target, color="k", lw=0.8, ls=":", label="top-1 % threshold")
    if relu is not None:
        ax.axhline(acc[relu], color="grey", lw=0.8, ls="-.", label="ReLU")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("best validation accuracy so far (mean of repeats)")
    ax.set_title(f"AQuaSurF replayed on the mini Act-Bench ({len(acc):,} functions)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "aquasurf_search_curves.png", dpi=120)
    plt.close(fig)


def _umap_picture(
    out: Path, coords: dict[str, np.ndarray], pool: TablePool, acc: dict[str, float],
    relu: str | None,
) -> None:  # fmt: skip
    plt = _pyplot()
    names = pool.pool_genomes("")
    colour = np.array([acc[n] for n in names])
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, which in zip(axes, ("fim", "outputs", "both"), strict=True):
        xy = coords[which]
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=colour, s=6, cmap="viridis")
        if relu in names:
            i = names.index(relu)
            ax.scatter([xy[i, 0]], [xy[i, 1]], marker="^", c="red", s=60, label="ReLU")
            ax.legend(fontsize=7)
        ax.set_title(f"UMAP: {which}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=axes, label="validation accuracy")
    fig.savefig(out / "aquasurf_umap.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
