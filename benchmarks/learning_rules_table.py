"""Backprop Evolution's Table 1 analogue: equations re-run 5x, short and long training.

Prints one JSON line per (setting, optimiser, equation): test accuracy mean
and std over ``--repeats`` training seeds, with the network and budget. The
equations are BP, FA and DFA as equations, the paper's rules that did well
in every setting (g/||g||_fro, g/||g||_2^elem, g/||g||_fro + 0.5 g), and any
``--extra`` (e.g. the best of a search run).

    .venv/bin/python benchmarks/learning_rules_table.py --epochs 2 --long-epochs 20
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from evoforge.learning_rules.evaluator import RuleEvaluator

EQUATIONS = {
    "bp": "bp",
    "fa": "fa",
    "dfa": "dfa",
    "g/fro": "left(norm_fro(g), g)",
    "g/elem2": "left(norm_elem2(g), g)",
    "g/fro + 0.5g": "add(norm_fro(g), scale[0.5](g))",
}
OPTIMISERS = {"sgd": {"momentum": 0.0, "lr": 0.05}, "momentum": {"momentum": 0.9, "lr": 0.01}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--long-epochs", type=int, default=0, help="also train this long (A3)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--extra", action="append", default=[], help="more equations (text)")
    ap.add_argument("--hidden", default="64,64")
    ap.add_argument("--optimisers", default="sgd,momentum")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = {"name": "mlp", "hidden": [int(h) for h in args.hidden.split(",")]}
    equations = dict(EQUATIONS)
    for i, text in enumerate(args.extra):
        equations[f"extra{i}"] = text
    settings = [("A1", args.epochs)] + ([("A3", args.long_epochs)] if args.long_epochs else [])
    for setting, epochs in settings:
        for opt in args.optimisers.split(","):
            train = {
                "optimizer": "sgd",
                "weight_decay": 0.0,
                "batch_size": 32,
                "epochs": epochs,
                "schedule": "constant",
                **OPTIMISERS[opt],
            }
            ev = RuleEvaluator(model, train, dataset=args.dataset, n_train=args.n_train, n_val=300)
            for name, text in equations.items():
                started = time.perf_counter()
                r = ev.rerun(text, repeats=args.repeats)
                line = {
                    "benchmark": "learning_rules_table",
                    "setting": setting,
                    "optimiser": opt,
                    "name": name,
                    "equation": r.equation,
                    "test_mean": round(r.mean, 4),
                    "test_std": round(r.std, 4),
                    "accuracies": [round(a, 4) for a in r.accuracies],
                    "dataset": args.dataset,
                    "n_train": args.n_train,
                    "model": model,
                    "train": train,
                    "seconds": round(time.perf_counter() - started, 1),
                    "machine": platform.node(),
                }
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
