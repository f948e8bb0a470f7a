"""Chapter 5's population-batched EA: speed, memory fit, and accuracy vs Adam.

Prints one JSON line per figure:

- ``ea_throughput``: networks scored per second, the whole population in one
  batched pass vs one member at a time, measured in the same run (chapter 5's
  MLP, 92,234 parameters), and population × parameters per second;
- ``ea_memory_fit``: the largest population of that MLP that fits a memory
  budget at a batch size (weights of two generations + activations);
- ``ea_train`` / ``adam_train``: test accuracy of the EA's best member and
  of Adam on the same network and data, per seed; ``ea_vs_adam``: the
  medians and the one-sided Mann–Whitney U p-value (alternative: Adam
  better), with median wall times;
- ``ea_ablation``: chapter 5's qualitative findings at small scale, each
  variant of the EA (smaller batch, α < 1, no crossover) against the base
  setting over the same seeds: medians and the one-sided Mann–Whitney U
  p-value for "the base is better".

``--done FILE`` reads rows an interrupted run already printed (its own
output, or several runs' concatenated) and skips those (variant, seed) pairs,
so a long run resumes and seeds can run in separate processes
(``--first-seed``) and be summarised once.

    .venv/bin/python benchmarks/weights_ea.py --figures throughput,fit
    .venv/bin/python benchmarks/weights_ea.py --figures train --seeds 5 \\
        --population 100 --batch 256 --generations 300
    .venv/bin/python benchmarks/weights_ea.py --figures train,ablations --dataset digits \\
        --hidden 32 --population 200 --batch 256 --sigma 0.01 --generations 2000 \\
        --adam-epochs 100 --seeds 5
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

# Chapter 5's findings, each as a change to the base setting (Table 5.1's
# test setting, or the command line's) that should not do better.
ABLATIONS: dict[str, dict[str, object]] = {
    "batch_32": {"batch_size": 32},  # accuracy rises with batch size
    "alpha_0.5": {"alpha": 0.5},  # fitness inheritance hurts or does nothing
    "no_crossover": {"crossover": "none"},  # any crossover beats none
}


def _net(dataset: str = "mnist", hidden: tuple[int, ...] = CHAPTER5_SIZES[1:-1]) -> PopulationMLP:
    if dataset == "digits":  # 8×8, no pooling
        return PopulationMLP((64, *hidden, 10))
    return PopulationMLP((196, *hidden, 10), pool=2, image_side=28)


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


def split(dataset: str, seed: int) -> tuple[torch.Tensor, ...]:
    """Train, validation and test tensors. MNIST: chapter 5's split, 45,000
    train / 5,000 validation from the 60,000 by ``seed``; its 10,000 test.
    Digits (one split of 1,797): the same 597 test images for every seed
    (the last of a fixed permutation), 1,000 train / 200 validation of the
    rest by ``seed``; pixels scaled to [0, 1] as MNIST's are."""
    X, y = read_dataset(dataset, "train")
    if dataset == "digits":
        X = X / 16.0
        fixed = np.random.default_rng(0).permutation(X.shape[0])
        rest, test = fixed[:1200], fixed[1200:]
        Xt, yt = X[test], y[test]
        order = rest[np.random.default_rng(seed).permutation(rest.shape[0])]
        tr, va = order[:1000], order[1000:]
    else:
        Xt, yt = read_dataset(dataset, "test")
        order = np.random.default_rng(seed).permutation(X.shape[0])
        tr, va = order[:45000], order[45000:50000]

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32) if a.dtype.kind == "f" else a)

    return t(X[tr]), t(y[tr]), t(X[va]), t(y[va]), t(Xt), t(yt)


def base_config(args: argparse.Namespace) -> dict[str, object]:
    return {
        "population": args.population,
        "batch_size": args.batch,
        "crossover_fraction": args.crossover_fraction,
        "elite_fraction": 0.05,
        "sigma": args.sigma,
    }


def train_ea(seed: int, args: argparse.Namespace, variant: str = "base") -> dict[str, object]:
    xtr, ytr, xva, yva, xte, yte = split(args.dataset, seed)
    cfg = EAConfig(**{**base_config(args), **ABLATIONS.get(variant, {})})  # type: ignore[arg-type]
    ea = PopulationEA(_net(args.dataset, args.hidden), cfg, seed=seed)
    t0 = time.perf_counter()
    ea.run(xtr, ytr, args.generations)
    wall = time.perf_counter() - t0
    best = ea.best()
    return {
        "figure": "ea_train",
        "dataset": args.dataset,
        "variant": variant,
        "seed": seed,
        "config": cfg.to_dict(),
        "generations": args.generations,
        "val_acc": round(ea.net.accuracy(best, xva, yva), 4),
        "test_acc": round(ea.net.accuracy(best, xte, yte), 4),
        "wall_s": round(wall, 1),
    }


def train_adam(seed: int, args: argparse.Namespace) -> dict[str, object]:
    xtr, ytr, xva, yva, xte, yte = split(args.dataset, seed)
    net = _net(args.dataset, args.hidden)
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
        "dataset": args.dataset,
        "variant": "adam",
        "seed": seed,
        "epochs": args.adam_epochs,
        "batch": 64,
        "val_acc": round(val, 4),
        "test_acc": round(test, 4),
        "wall_s": round(wall, 1),
    }


def mannwhitney_greater(a: list[float], b: list[float]) -> float:
    """One-sided Mann–Whitney U p-value for "``a`` tends to be larger than ``b``"."""
    from scipy.stats import mannwhitneyu

    if len(a) < 2 or len(b) < 2:
        return float("nan")
    return round(float(mannwhitneyu(a, b, alternative="greater").pvalue), 4)


def read_done(
    path: str | None, figures: tuple[str, ...], key: str
) -> dict[tuple[str, int], dict[str, object]]:
    """The rows of ``figures`` an earlier run printed to ``path``, by (row[key], seed)."""
    done: dict[tuple[str, int], dict[str, object]] = {}
    if path:
        with open(path) as f:
            for line in f:
                if line.startswith("{"):
                    row = json.loads(line)
                    if row.get("figure") in figures:
                        done[(str(row[key]), int(row["seed"]))] = row
    return done


def train_rows(args: argparse.Namespace, variants: list[str]) -> dict[str, list[dict[str, object]]]:
    """Every (variant, seed) row, run now unless ``--done`` has it; printed as run."""
    done = read_done(args.done, ("ea_train", "adam_train"), "variant")
    rows: dict[str, list[dict[str, object]]] = {v: [] for v in variants}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for variant in variants:
            row = done.get((variant, seed))
            if row is None:
                row = train_adam(seed, args) if variant == "adam" else train_ea(seed, args, variant)
                print(json.dumps(row), flush=True)
            rows[variant].append(row)
    return rows


def _median(rows: list[dict[str, object]], key: str) -> float:
    return statistics.median(float(r[key]) for r in rows)  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figures", default="throughput,fit")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dataset", default="mnist", choices=("mnist", "fashion_mnist", "digits"))
    ap.add_argument("--hidden", default="256,128,64", help="hidden widths, comma-separated")
    ap.add_argument("--seeds", type=int, default=5, help="how many seeds")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--generations", type=int, default=300)
    ap.add_argument("--crossover-fraction", type=float, default=0.75)
    ap.add_argument("--sigma", type=float, default=0.001)
    ap.add_argument("--adam-epochs", type=int, default=1)
    ap.add_argument("--done", help="an earlier run's output: skip the rows it has")
    ap.add_argument("--only", help="run only these variants (comma-separated: base, adam, ...)")
    args = ap.parse_args()
    args.hidden = tuple(int(h) for h in args.hidden.split(","))
    torch.set_num_threads(args.threads)
    figures = args.figures.split(",")
    if "throughput" in figures:
        for population in (100, 400):
            print(json.dumps(throughput(population, 512, args.device)), flush=True)
    if "fit" in figures:
        for budget in (16.0, 4.0):
            for batch in (64, 1024):
                print(json.dumps(memory_fit(budget, batch)), flush=True)
    variants = ["base"] + ["adam"] * ("train" in figures)
    variants += list(ABLATIONS) if "ablations" in figures else []
    if args.only:  # e.g. one ablation per process; the summary comes from --done
        variants = [v for v in variants if v in args.only.split(",")]
    if "train" not in figures and "ablations" not in figures:
        return
    rows = train_rows(args, variants)
    acc = {v: [float(r["test_acc"]) for r in rs] for v, rs in rows.items()}  # type: ignore[arg-type]
    common = {"dataset": args.dataset, "seeds": args.seeds, "generations": args.generations}
    if {"base", "adam"} <= acc.keys():
        summary = {
            "figure": "ea_vs_adam",
            **common,
            "ea_median_test_acc": statistics.median(acc["base"]),
            "adam_median_test_acc": statistics.median(acc["adam"]),
            "mann_whitney_p_adam_better": mannwhitney_greater(acc["adam"], acc["base"]),
            "ea_median_wall_s": _median(rows["base"], "wall_s"),
            "adam_median_wall_s": _median(rows["adam"], "wall_s"),
        }
        print(json.dumps(summary), flush=True)
    for variant, change in ABLATIONS.items():
        if variant in acc and "base" in acc:
            summary = {
                "figure": "ea_ablation",
                **common,
                "variant": variant,
                "change": change,
                "base_median_test_acc": statistics.median(acc["base"]),
                "variant_median_test_acc": statistics.median(acc[variant]),
                "mann_whitney_p_base_better": mannwhitney_greater(acc["base"], acc[variant]),
            }
            print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
