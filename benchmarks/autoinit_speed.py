"""AutoInit speed: CPU seconds to initialise ResNet-56 and WRN-16-2 on CIFAR-shaped inputs.

Issue 17 asks for ≤ 2 s of CPU per model at 256 example inputs. For each model
and each example batch size of ``--batches`` (default 16, 64, 256) the script
builds the model once, runs `evoforge.init.autoinit` ``--repeats`` times on
fresh weights and reports the fastest and the median CPU time
(``time.process_time``: all threads of this process, so it does not count
waiting for the other jobs on a shared machine) and the wall time. One torch
thread, as evoforge's workers use.

Models: ResNet-56 v1 with batch norm (the CIFAR default), ResNet-56 v1 without
normalisation (AutoInit's own case), WRN-16-2 (batch norm), all 3×32×32.

Prints one JSON line per (model, batch) — ``autoinit_speed`` — and appends it
to ``--out`` when given.

Usage (measured 2026-12-07 on the shared 2-core dev machine: see docs/results.md):
    python benchmarks/autoinit_speed.py --out benchmarks/results/dev-2core-2026-12-07/autoinit_speed.jsonl
"""  # noqa: E501

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from evoforge.init import autoinit
from evoforge.init.experiments import emit
from evoforge.nn.models import ResNet, WideResNet

MODELS: dict[str, Callable[[], nn.Module]] = {
    "resnet56_v1_bn": lambda: ResNet(56, version=1),
    "resnet56_v1_nonorm": lambda: ResNet(56, version=1, batchnorm=False),
    "wrn16_2": lambda: WideResNet(16, 2),
}


def measure(build: Callable[[], nn.Module], batch: int, repeats: int) -> dict[str, float]:
    """CPU and wall seconds of `autoinit` on a batch of `batch` CIFAR-shaped inputs."""
    net = build()
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
    cpu, wall = [], []
    for r in range(repeats):
        g = torch.Generator().manual_seed(r)
        t0, w0 = time.process_time(), time.perf_counter()
        autoinit(net, x, generator=g)
        cpu.append(time.process_time() - t0)
        wall.append(time.perf_counter() - w0)
    return {
        "cpu_s_min": round(min(cpu), 3),
        "cpu_s_median": round(statistics.median(cpu), 3),
        "wall_s_min": round(min(wall), 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batches", default="16,64,256")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for name in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            result = measure(MODELS[name], batch, args.repeats)
            emit(args.out, figure="autoinit_speed", model=name, batch=batch, **result)


if __name__ == "__main__":
    main()
