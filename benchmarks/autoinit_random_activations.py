"""AutoInit experiment 2: random PANGAEA activation functions on a small All-CNN-C.

The dissertation (ch. 5) trains 200 random PANGAEA-style activation functions
in All-CNN-C under the default initialisation, AutoInit and AutoInit++ and
counts how many fail (149 / 130 / 117) and how many beat ReLU (22 / 26 / 50).
This script repeats the count at a small scale: ``--functions`` distinct
random functions (`evoforge.init.experiments.random_activations`, seeded by
``--function-seed``), each put in every activation site of an All-CNN-C
(``width`` 1/6: 16/32 channels) and trained briefly on digits under each
initialisation, with the same recipe for all (SGD, momentum 0.9, cosine).

Initialisations: ``glorot`` (the Keras default the dissertation calls
"default"), ``torch`` (PyTorch's default), ``autoinit`` and ``autoinit++``
(AutoInit with every activation shifted by its Gaussian mean,
``autoinit(..., centered=True)``).

A run *fails* when training diverges (non-finite loss or a loss above 10× the
first batch's), when the initialisation raises (``error``), or when the final
validation accuracy is ≤ chance + ``--margin`` (default 0.05, i.e. ≤ 15 % on
10 classes). With several seeds a function's outcome is "ok" when most of its
runs are ok. A function *beats ReLU* under an initialisation when it did not
fail and its mean validation accuracy (over seeds) is above ReLU's trained with the same
initialisation and seeds (``beat_relu``), and separately above ReLU under
``glorot`` (``beat_relu_glorot``).

Recipe note: the All-CNN-C here has dropout 0.2 after each stride-2 stage and
no input dropout (flags change it). With the original dropout (0.2 input, 0.5
inside) the brief schedule leaves even ReLU near chance under Glorot, so every
function would "fail" for want of training time.

Prints JSON lines (also appended to ``--out``): ``config``; ``relu_run`` and
``activation_run`` per (function, init, seed); ``activation_summary`` per
init (outcome counts, beat-ReLU counts, ReLU's accuracy); ``examples`` (the
first few formulas with their accuracies); ``timing``.

Usage (reduced, the defaults; 514 s measured on 1 shared CPU core):
    python benchmarks/autoinit_random_activations.py --functions 50 --epochs 6 --n-train 1000

Full scale (one H200 + 16 cores, ~5 min estimated):
    python benchmarks/autoinit_random_activations.py --device cuda --functions 200 \
        --epochs 10 --n-train 0 --jobs 14 --out activations_full.jsonl
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from typing import Any

import torch
from torch import nn

from evoforge.activations import Activation, parse, to_text
from evoforge.init.experiments import (
    add_common_arguments,
    cached_data,
    classify,
    count_outcomes,
    emit,
    init_hook,
    overall_outcome,
    random_activations,
    run_all,
    summary,
)
from evoforge.nn import TrainConfig, build_model, train

DEFAULT_INITS = ("glorot", "torch", "autoinit", "autoinit++")
EXAMPLE_BATCH = 512
RELU = "relu(x)"


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The one recipe every function and initialisation is trained with."""
    return TrainConfig(
        optimizer="sgd",
        lr=args.lr,
        momentum=0.9,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        epochs=args.epochs,
        schedule="cosine",
        divergence_factor=10.0,
        val_every=0,
    )


def run_one(args: argparse.Namespace, index: int, formula: str, init: str, seed: int) -> dict:
    """Build and train All-CNN-C with one activation and initialisation; the run record.

    ``index`` is the function's position in the random list (-1 for ReLU).
    """
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # AutoInit's notes on its estimates are not results
    started = time.perf_counter()
    data = cached_data(args.dataset, args.n_train, args.n_val, seed)
    example = data.x_train[:EXAMPLE_BATCH]
    genome = parse(formula)
    spec = {
        "name": "allcnnc",
        "width": args.width,
        "input_dropout": args.input_dropout,
        "dropout": args.dropout,
    }
    record: dict[str, Any] = {
        "figure": "relu_run" if index < 0 else "activation_run",
        "index": index,
        "formula": formula,
        "init": init,
        "seed": seed,
    }
    try:
        model = build_model(
            spec,
            in_shape=data.in_shape,
            num_classes=data.num_classes,
            activation=nn.ReLU if formula == RELU else (lambda: Activation(genome)),
            init=init_hook(init, example),
            example_input=example,
            seed=seed,
        )
    except Exception as exc:  # the initialisation could not handle this function
        return record | {
            "outcome": "error",
            "error": f"{type(exc).__name__}: {exc}"[:300],
            "val_accuracy": math.nan,
            "test_accuracy": math.nan,
            "seconds": round(time.perf_counter() - started, 2),
        }
    init_seconds = time.perf_counter() - started
    result = train(model, data, train_config(args), seed=seed, device=args.device)
    return record | {
        "outcome": classify(result, data.num_classes, args.margin),
        "divergence": result.divergence,
        "val_accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy,
        "steps": result.steps,
        "init_seconds": round(init_seconds, 2),
        "train_seconds": round(result.wall_seconds, 2),
        "device": result.device,
    }


def mean_accuracy(runs: list[dict]) -> float:
    """Mean validation accuracy of runs (a run without one counts as 0)."""
    values = [r["val_accuracy"] for r in runs]
    values = [v if isinstance(v, float) and math.isfinite(v) else 0.0 for v in values]
    return sum(values) / len(values) if values else math.nan


def summarise(records: list[dict], init: str, n_functions: int) -> dict[str, Any]:
    """The ``activation_summary`` record of one initialisation."""
    relu = mean_accuracy([r for r in records if r["index"] < 0 and r["init"] == init])
    relu_glorot = mean_accuracy([r for r in records if r["index"] < 0 and r["init"] == "glorot"])
    outcomes, accs = [], []
    beat, beat_glorot = 0, 0
    for i in range(n_functions):
        runs = [r for r in records if r["index"] == i and r["init"] == init]
        outcome = overall_outcome([r["outcome"] for r in runs])
        outcomes.append(outcome)
        acc = mean_accuracy(runs)
        accs.append(acc)
        beat += outcome == "ok" and acc > relu
        beat_glorot += outcome == "ok" and math.isfinite(relu_glorot) and acc > relu_glorot
    counts = count_outcomes(outcomes)
    return {
        "figure": "activation_summary",
        "init": init,
        "functions": n_functions,
        **counts,
        "beat_relu": beat,
        "beat_relu_glorot": beat_glorot if math.isfinite(relu_glorot) else None,
        "relu_val_accuracy": relu,
        "relu_glorot_val_accuracy": relu_glorot if math.isfinite(relu_glorot) else None,
        "val_accuracy": summary(accs),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--functions", type=int, default=50)
    p.add_argument("--function-seed", type=int, default=0)
    p.add_argument("--inits", default=",".join(DEFAULT_INITS))
    p.add_argument("--seeds", type=int, default=1, help="training seeds per function")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--width", type=float, default=1 / 6)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--input-dropout", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--show", type=int, default=8, help="formulas printed in 'examples'")
    add_common_arguments(p, batch_size=32)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    inits = args.inits.split(",")
    for name in inits:
        init_hook(name)  # fail fast on a misspelt name
    formulas = [to_text(g) for g in random_activations(args.functions, args.function_seed)]
    emit(
        args.out,
        figure="config",
        script=os.path.basename(__file__),
        argv=sys.argv[1:] if argv is None else argv,
        recipe=train_config(args).to_dict(),
        model={
            "name": "allcnnc",
            "width": args.width,
            "dropout": args.dropout,
            "input_dropout": args.input_dropout,
        },
        inits=inits,
        seeds=args.seeds,
        functions=args.functions,
        function_seed=args.function_seed,
        dataset=args.dataset,
        n_train=args.n_train,
        failure=f"diverged, init error, or val accuracy <= chance + {args.margin}",
    )
    tasks = [(-1, RELU, init, s) for init in inits for s in range(args.seeds)]
    tasks += [
        (i, f, init, s) for i, f in enumerate(formulas) for init in inits for s in range(args.seeds)
    ]
    records = []
    for record in run_all(run_one, args, tasks, args.jobs):
        records.append(record)
        emit(args.out, **record)
    for init in inits:
        emit(args.out, **summarise(records, init, len(formulas)))
    shown = []
    for i, formula in enumerate(formulas[: args.show]):
        accs = {
            init: round(
                mean_accuracy([r for r in records if r["index"] == i and r["init"] == init]), 3
            )
            for init in inits
        }
        shown.append({"formula": formula, "val_accuracy": accs})
    emit(args.out, figure="examples", functions=shown)
    emit(
        args.out, figure="timing", seconds=round(time.perf_counter() - started, 1), runs=len(tasks)
    )


if __name__ == "__main__":
    main()
