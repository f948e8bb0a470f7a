"""Chapter 5's population-batched EA: speed, memory fit, and accuracy vs Adam.

Prints one JSON line per figure:

- ``ea_throughput``: networks scored per second, the whole population in one
  batched pass vs one member at a time, measured in the same run (chapter 5's
  MLP, 92,234 parameters), and population × parameters per second;
- ``ea_memory_fit``: the largest population of that MLP that fits a memory
  budget at a batch size (weights of two generations + activations);
- ``ea_train`` / ``adam_train``: MNIST test accuracy of the EA's best member
  and of Adam on the same network and data, per seed; ``ea_vs_adam``: the
  medians and the Mann–Whitney U p-value.

    .venv/bin/python benchmarks/weights_ea.py --figures throughput,fit
    .venv/bin/python benchmarks/weights_ea.py --figures train --seeds 5 \\
        --population 100 --batch 256 --generations 300
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from evoforge.data.datasets import read_dataset
from evoforge.weights.batched import CHAPTER5_SIZES, PopulationMLP
from evoforge.weights.population_ea import EAConfig, PopulationEA


def _net() -> PopulationMLP:
    return PopulationMLP(CHAPTER5_SIZES, pool=2, image_side=28)


def throughput(population: int, batch: int, device: str) -> dict[str, object]:
    net = _net()
    pop = net.init(population, torch.Generator().manual_seed(0), device)
    x = torch.rand(batch, 784, device=device)
    y = torch.randint(10, (batch,), device=device)
    with torch.no_grad():
        net.losses(pop[:2], x, y)  # warm-up
        t0 = time.perf_counter()
        net.losses(pop, x, y)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        batched = time.perf_counter() - t0
        n_one = min(population, 50)
        t0 = time.perf_counter()
        for i in range(n_one):
            torch.nn.functional.cross_entropy(net.logits_one(pop[i], x), y)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        one = (time.perf_counter() - t0) / n_one
    return {
        "figure": "ea_throughput",
        "device": device,
        "threads": torch.get_num_threads(),
        "population": population,
        "batch": batch,
        "params": net.n_params,
        "batched_nets_per_s": round(population / batched, 1),
        "one_at_a_time_nets_per_s": round(1 / one, 1),
        "ratio": round((population / batched) * one, 2),
        "pop_x_params_per_s": round(population * net.n_params / batched),
    }


def memory_fit(budget_gib: float, batch: int) -> dict[str, object]:
    net = _net()
    per = net.bytes_per_member(batch)
    return {
        "figure": "ea_memory_fit",
        "budget_gib": budget_gib,
        "batch": batch,
        "params": net.n_params,
        "bytes_per_member": per,
        "max_population": int(budget_gib * 2**30 // per),
    }


def mnist(seed: int) -> tuple[torch.Tensor, ...]:
    """Chapter 5's split: 45,000 train / 5,000 validation from MNIST's 60,000; 10,000 test."""
    X, y = read_dataset("mnist", "train")
    Xt, yt = read_dataset("mnist", "test")
    order = np.random.default_rng(seed).permutation(X.shape[0])
    tr, va = order[:45000], order[45000:50000]

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32) if a.dtype.kind == "f" else a)

    return t(X[tr]), t(y[tr]), t(X[va]), t(y[va]), t(Xt), t(yt)


def train_ea(seed: int, args: argparse.Namespace) -> dict[str, object]:
    xtr, ytr, xva, yva, xte, yte = mnist(seed)
    cfg = EAConfig(
        population=args.population,
        batch_size=args.batch,
        crossover_fraction=args.crossover_fraction,
        elite_fraction=0.05,
        sigma=args.sigma,
    )
    ea = PopulationEA(_net(), cfg, seed=seed)
    t0 = time.perf_counter()
    ea.run(xtr, ytr, args.generations)
    wall = time.perf_counter() - t0
    best = ea.best()
    return {
        "figure": "ea_train",
        "seed": seed,
        "config": cfg.to_dict(),
        "generations": args.generations,
        "val_acc": round(ea.net.accuracy(best, xva, yva), 4),
        "test_acc": round(ea.net.accuracy(best, xte, yte), 4),
        "wall_s": round(wall, 1),
    }


def train_adam(seed: int, args: argparse.Namespace) -> dict[str, object]:
    xtr, ytr, xva, yva, xte, yte = mnist(seed)
    net = _net()
    params = net.init(1, torch.Generator().manual_seed(seed))[0]
    module = net.to_module(params)
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(args.adam_epochs):
        for idx in torch.randperm(xtr.shape[0], generator=g).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(module(xtr[idx]), ytr[idx]).backward()
            opt.step()
    wall = time.perf_counter() - t0
    with torch.no_grad():
        test = float((module(xte).argmax(1) == yte).float().mean())
        val = float((module(xva).argmax(1) == yva).float().mean())
    return {
        "figure": "adam_train",
        "seed": seed,
        "epochs": args.adam_epochs,
        "batch": 64,
        "val_acc": round(val, 4),
        "test_acc": round(test, 4),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figures", default="throughput,fit")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--generations", type=int, default=300)
    ap.add_argument("--crossover-fraction", type=float, default=0.75)
    ap.add_argument("--sigma", type=float, default=0.001)
    ap.add_argument("--adam-epochs", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    figures = args.figures.split(",")
    if "throughput" in figures:
        for population in (100, 400):
            print(json.dumps(throughput(population, 512, args.device)), flush=True)
    if "fit" in figures:
        for budget in (16.0, 4.0):
            for batch in (64, 1024):
                print(json.dumps(memory_fit(budget, batch)), flush=True)
    if "train" in figures:
        ea_acc, adam_acc = [], []
        for seed in range(args.seeds):
            row = train_ea(seed, args)
            ea_acc.append(row["test_acc"])
            print(json.dumps(row), flush=True)
            row = train_adam(seed, args)
            adam_acc.append(row["test_acc"])
            print(json.dumps(row), flush=True)
        from scipy.stats import mannwhitneyu

        p = float(mannwhitneyu(ea_acc, adam_acc).pvalue) if len(ea_acc) > 1 else float("nan")
        print(
            json.dumps(
                {
                    "figure": "ea_vs_adam",
                    "seeds": args.seeds,
                    "ea_median_test_acc": statistics.median(ea_acc),
                    "adam_median_test_acc": statistics.median(adam_acc),
                    "mann_whitney_p": round(p, 4),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
