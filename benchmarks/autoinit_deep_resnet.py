"""AutoInit experiment 1: a deep ResNet without normalisation, AutoInit vs classic initialisations.

The dissertation (ch. 5) reports that deep ResNets without batch norm train
with AutoInit and fail with the default initialisation. This script builds a
CIFAR-style ResNet (default ResNet-56 v1, ``batchnorm=False``) once per
initialisation and seed, measures the output variance of the stem, of every
residual block and of the classifier at initialisation (forward hooks, on a
batch of real training images), then trains every network with the same
recipe (SGD, momentum 0.9, weight decay 5e-4, batch 64, cosine schedule, no
warm-up, no gradient clipping) at each peak learning rate of ``--lrs`` (default
0.01 and 0.1, the usual ResNet rate) and records whether it diverged and its
final validation and test accuracy.

Initialisations (`evoforge.init.experiments.init_hook`): ``autoinit``,
``glorot`` (Glorot uniform, the Keras default the dissertation calls
"default"), ``he`` (He normal) and ``torch`` (PyTorch's own default).

Prints JSON lines (also appended to ``--out``):

- ``resnet_run``: one per (depth, lr, init, seed): variances at init
  (``block_var``: stem, blocks, classifier, in order; ``max_var``,
  ``final_var``), ``diverged``/``divergence``, ``outcome`` (see
  `evoforge.init.experiments.classify`), accuracies, seconds;
- ``resnet_summary``: per (depth, lr, init): outcome counts, mean/min/max
  validation and test accuracy, median log10 of the classifier's output
  variance at init;
- ``timing``: total wall time.

Usage (reduced, the defaults; 183 s measured on 1 shared CPU core):
    python benchmarks/autoinit_deep_resnet.py --seeds 2 --epochs 8 --n-train 1000

Full scale (one H200 + 16 cores, ~3 min estimated):
    python benchmarks/autoinit_deep_resnet.py --device cuda --depths 56,110 --seeds 5 \
        --epochs 30 --n-train 0 --jobs 12 --out resnet_full.jsonl
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from typing import Any

import torch

from evoforge.init.experiments import (
    add_common_arguments,
    cached_data,
    classify,
    count_outcomes,
    emit,
    init_hook,
    layer_variances,
    run_all,
    summary,
)
from evoforge.nn import TrainConfig, build_model, train

DEFAULT_INITS = ("autoinit", "glorot", "he", "torch")
PROBE_BATCH = 512


def train_config(args: argparse.Namespace, lr: float) -> TrainConfig:
    """The one recipe every initialisation is trained with, at peak learning rate ``lr``."""
    return TrainConfig(
        optimizer="sgd",
        lr=lr,
        momentum=0.9,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        epochs=args.epochs,
        schedule="cosine",
        divergence_factor=10.0,
        val_every=0,
    )


def run_one(
    args: argparse.Namespace, depth: int, lr: float, init: str, seed: int
) -> dict[str, Any]:
    """Build, probe and train one network; the ``resnet_run`` record."""
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # AutoInit's notes on its estimates are not results
    started = time.perf_counter()
    data = cached_data(args.dataset, args.n_train, args.n_val, seed)
    example = data.x_train[:PROBE_BATCH]
    spec = {
        "name": "resnet",
        "depth": depth,
        "version": args.version,
        "width": args.width,
        "batchnorm": False,
    }
    model = build_model(
        spec,
        in_shape=data.in_shape,
        num_classes=data.num_classes,
        init=init_hook(init, example),
        example_input=example,
        seed=seed,
    )
    init_seconds = time.perf_counter() - started
    variances = layer_variances(model, example)
    result = train(model, data, train_config(args, lr), seed=seed, device=args.device)
    block_var = [v.var for v in variances]
    finite = [v for v in block_var if math.isfinite(v)]
    return {
        "figure": "resnet_run",
        "depth": depth,
        "version": args.version,
        "lr": lr,
        "init": init,
        "seed": seed,
        "input_var": float(example.var()),
        "block_var": [float(f"{v:.4g}") for v in block_var],
        "max_var": max(finite) if finite else math.inf,
        "final_var": block_var[-1],
        "diverged": result.diverged,
        "divergence": result.divergence,
        "outcome": classify(result, data.num_classes, args.margin),
        "initial_loss": result.initial_loss,
        "val_accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy,
        "epochs_run": result.epochs_run,
        "steps": result.steps,
        "init_seconds": round(init_seconds, 2),
        "train_seconds": round(result.wall_seconds, 2),
        "device": result.device,
    }


def log10(value: float) -> float | None:
    """log10 of a positive finite value, else None (for JSON)."""
    return round(math.log10(value), 3) if math.isfinite(value) and value > 0 else None


def summarise(records: list[dict[str, Any]], depth: int, lr: float, init: str) -> dict[str, Any]:
    """The ``resnet_summary`` record of one (depth, lr, init)."""
    mine = [r for r in records if (r["depth"], r["lr"], r["init"]) == (depth, lr, init)]
    logs = [log10(r["final_var"]) for r in mine]
    finite_logs = [v for v in logs if v is not None]
    max_logs = [v for v in (log10(r["max_var"]) for r in mine) if v is not None]
    return {
        "figure": "resnet_summary",
        "depth": depth,
        "lr": lr,
        "init": init,
        **count_outcomes(r["outcome"] for r in mine),
        "val_accuracy": summary([r["val_accuracy"] for r in mine]),
        "test_accuracy": summary([r["test_accuracy"] for r in mine]),
        "median_log10_final_var": statistics.median(finite_logs) if finite_logs else None,
        "median_log10_max_var": statistics.median(max_logs) if max_logs else None,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--depths", default="56", help="comma-separated ResNet depths (6n+2)")
    p.add_argument("--version", type=int, default=1, choices=(1, 2))
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--inits", default=",".join(DEFAULT_INITS))
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--lrs", default="0.01,0.1", help="comma-separated peak learning rates")
    add_common_arguments(p, batch_size=64)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    depths = [int(d) for d in args.depths.split(",")]
    inits = args.inits.split(",")
    lrs = [float(v) for v in args.lrs.split(",")]
    for name in inits:
        init_hook(name)  # fail fast on a misspelt name
    emit(
        args.out,
        figure="config",
        script=os.path.basename(__file__),
        argv=sys.argv[1:] if argv is None else argv,
        recipe=train_config(args, lrs[0]).to_dict(),
        lrs=lrs,
        depths=depths,
        inits=inits,
        seeds=args.seeds,
        dataset=args.dataset,
        n_train=args.n_train,
        width=args.width,
        version=args.version,
    )
    tasks = [(d, lr, i, s) for d in depths for lr in lrs for s in range(args.seeds) for i in inits]
    records = []
    for record in run_all(run_one, args, tasks, args.jobs):
        records.append(record)
        emit(args.out, **record)
    for depth in depths:
        for lr in lrs:
            for init in inits:
                emit(args.out, **summarise(records, depth, lr, init))
    emit(
        args.out, figure="timing", seconds=round(time.perf_counter() - started, 1), runs=len(tasks)
    )


if __name__ == "__main__":
    main()
