"""Shared pieces of the AutoInit experiments (dissertation ch. 5) run by ``benchmarks/autoinit_*``.

* `init_hook`: the initialisations compared, by name — ``"autoinit"``,
  ``"autoinit++"`` (AutoInit with centred activations), ``"glorot"`` (Glorot
  uniform, Keras's default, which the dissertation calls "default"), ``"he"``
  (He normal) and ``"torch"`` (PyTorch's own default, no hook).
* `layer_variances`: the output variance of chosen layers on a batch, measured
  by forward hooks at initialisation — how a signal explodes or vanishes with
  depth.
* `classify`: whether a training run failed (diverged, or ended no better than
  chance plus a margin) and `count_outcomes` to tally many runs.
* `random_activations`: distinct random PANGAEA functions from a seed.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from evoforge.nn import build_model
    >>> x = torch.randn(256, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    >>> net = build_model({"name": "resnet", "depth": 8, "width": 4, "batchnorm": False},
    ...                   in_shape=(1, 8, 8), num_classes=10, init=init_hook("he", x), seed=0)
    >>> [v.name for v in layer_variances(net, x)][:3]
    ['stem.0', 'stages.0', 'stages.1']
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from typing import Any

import numpy as np
import torch
from torch import nn

from evoforge.activations.expr import Node
from evoforge.activations.graph import to_text
from evoforge.activations.space import PangaeaSpace
from evoforge.init.autoinit import autoinit
from evoforge.nn.data import ImageData, load_image_data
from evoforge.nn.inits import glorot_uniform, he_normal
from evoforge.nn.models import InitHook
from evoforge.nn.train import TrainResult

__all__ = [
    "INITS",
    "OUTCOMES",
    "LayerVariance",
    "Outcome",
    "cached_data",
    "classify",
    "count_outcomes",
    "emit",
    "init_hook",
    "is_block",
    "json_safe",
    "layer_variances",
    "overall_outcome",
    "random_activations",
    "summary",
    "weighted",
]

#: Initialisation names `init_hook` accepts.
INITS: tuple[str, ...] = ("autoinit", "autoinit++", "glorot", "he", "torch")
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def init_hook(name: str, example_input: torch.Tensor | None = None) -> InitHook | None:
    """The ``init`` hook for the models of `evoforge.nn` that initialisation ``name`` stands for.

    ``"torch"`` gives None (keep PyTorch's default weights). The AutoInit hooks
    use ``example_input`` (a batch of real training inputs) when given, else
    the batch the model passes (standard-normal inputs); weights come from the
    global torch RNG, which `evoforge.nn.build_model` seeds.

    Example:
        >>> init_hook("torch") is None, init_hook("glorot").__name__
        (True, 'glorot_uniform')
        >>> init_hook("lecun")
        Traceback (most recent call last):
        ...
        ValueError: unknown initialisation 'lecun'; expected one of autoinit, autoinit++, glorot, he, torch
    """  # noqa: E501
    if name == "torch":
        return None
    if name == "glorot":
        return glorot_uniform
    if name == "he":
        return he_normal
    if name in ("autoinit", "autoinit++"):
        centered = name == "autoinit++"

        def hook(model: nn.Module, x: torch.Tensor) -> None:
            autoinit(model, x if example_input is None else example_input, centered=centered)

        hook.__name__ = name
        return hook
    raise ValueError(f"unknown initialisation {name!r}; expected one of {', '.join(INITS)}")


@dataclass(frozen=True)
class LayerVariance:
    """The measured output mean and variance of one module (over every element of the batch)."""

    name: str
    op: str
    mean: float
    var: float


def is_block(name: str, module: nn.Module) -> bool:
    """Default probe selection: weighted layers outside residual blocks, and whole blocks.

    A module counts as a residual block when its class name ends in ``Block``
    (the `evoforge.nn` ResNets' blocks); weighted layers inside a block are
    skipped, so a ResNet gives stem, one entry per block, and the classifier.

    Example:
        >>> is_block("fc", nn.Linear(2, 2)), is_block("stages.0.conv1", nn.Conv2d(1, 1, 3))
        (True, False)
    """
    if type(module).__name__.endswith("Block"):
        return True
    parts = name.split(".")
    inside_block = len(parts) >= 3 and parts[0] == "stages"
    return isinstance(module, _WEIGHTED) and not inside_block


def weighted(name: str, module: nn.Module) -> bool:
    """Probe selection: every linear and convolution layer.

    Example:
        >>> weighted("x", nn.Conv2d(1, 1, 1)), weighted("y", nn.ReLU())
        (True, False)
    """
    return isinstance(module, _WEIGHTED)


@torch.no_grad()
def layer_variances(
    model: nn.Module,
    x: torch.Tensor,
    select: Callable[[str, nn.Module], bool] = is_block,
    *,
    training: bool = False,
) -> list[LayerVariance]:
    """Output mean and variance of every module ``select`` picks, in the order they run on ``x``.

    The model runs once on ``x`` in eval mode (``training=False``: dropout off)
    without gradients; its mode is restored. A module that runs more than once
    is reported each time; a non-finite output gives ``inf`` or ``nan``.

    Example:
        >>> net = nn.Sequential(nn.Linear(100, 100, bias=False), nn.ReLU())
        >>> with torch.no_grad():
        ...     _ = net[0].weight.fill_(0.1)  # every output = 10 · mean(x)
        >>> x = torch.randn(4096, 100, generator=torch.Generator().manual_seed(0))
        >>> [(v.name, round(v.var, 1)) for v in layer_variances(net, x, weighted)]
        [('0', 1.0)]
    """
    records: list[LayerVariance] = []
    handles = []

    def hook_for(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor):
                out = output.detach().double()
                records.append(
                    LayerVariance(name, type(module).__name__, float(out.mean()), float(out.var()))
                )

        return hook

    for name, module in model.named_modules():
        if name and select(name, module):
            handles.append(module.register_forward_hook(hook_for(name)))
    was_training = model.training
    model.train(training)
    try:
        device = next((p.device for p in model.parameters()), x.device)
        model(x.to(device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return records


#: Outcome labels of `classify`.
Outcome = str
#: ``"error"`` is for a run that could not start (e.g. the initialisation raised).
OUTCOMES: tuple[str, ...] = ("diverged", "chance", "error", "ok")


def classify(result: TrainResult, num_classes: int, margin: float = 0.05) -> Outcome:
    """``"diverged"``, ``"chance"`` (validation accuracy ≤ 1/num_classes + margin) or ``"ok"``.

    A run *fails* when it is not ``"ok"``: training stopped as diverged (a
    non-finite loss, or a loss far above the first one), or the network ends no
    better than guessing. A non-finite accuracy counts as chance.

    Example:
        >>> from evoforge.nn.train import TrainResult
        >>> r = TrainResult(0.12, 2.3, None, None, [], 3, 30, 2.3, 1.0, False)
        >>> classify(r, 10), classify(r, 10, margin=0.01)
        ('chance', 'ok')
    """
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")
    if result.diverged:
        return "diverged"
    acc = result.val_accuracy
    if not math.isfinite(acc) or acc <= 1.0 / num_classes + margin:
        return "chance"
    return "ok"


def count_outcomes(outcomes: Iterable[Outcome]) -> dict[str, int]:
    """Tally outcome labels: each of `OUTCOMES`, ``failed`` (all but ok) and ``total``.

    Example:
        >>> count_outcomes(["ok", "diverged", "chance", "ok"])
        {'diverged': 1, 'chance': 1, 'error': 0, 'ok': 2, 'failed': 2, 'total': 4}
    """
    counts = dict.fromkeys(OUTCOMES, 0)
    for outcome in outcomes:
        if outcome not in counts:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {OUTCOMES}")
        counts[outcome] += 1
    counts["failed"] = counts["diverged"] + counts["chance"] + counts["error"]
    counts["total"] = sum(counts[o] for o in OUTCOMES)
    return counts


def overall_outcome(outcomes: Sequence[Outcome]) -> Outcome:
    """One label for several runs (seeds) of the same setting: ``"ok"`` when more than half
    are ok, else the most frequent failure (ties broken in `OUTCOMES` order).

    Example:
        >>> overall_outcome(["ok", "chance", "ok"]), overall_outcome(["ok", "diverged"])
        ('ok', 'diverged')
    """
    if not outcomes:
        raise ValueError("no outcomes")
    counts = count_outcomes(outcomes)
    if counts["ok"] * 2 > counts["total"]:
        return "ok"
    failures = [o for o in OUTCOMES if o != "ok"]
    return max(failures, key=lambda o: (counts[o], -failures.index(o)))


def random_activations(
    n: int, seed: int, space: PangaeaSpace | None = None, max_tries: int = 100
) -> list[Node]:
    """``n`` random PANGAEA initial functions with distinct formulas, drawn from ``seed``.

    Each is ``unary(unary(x))`` or ``binary(unary(x), unary(x))`` with 0-3
    learnable parameters (`PangaeaSpace.initial`); a formula already drawn is
    drawn again (up to ``max_tries`` times per function).

    Example:
        >>> fs = random_activations(5, seed=0)
        >>> len({to_text(f) for f in fs}), random_activations(5, seed=0) == fs
        (5, True)
    """
    space = space or PangaeaSpace()
    rng = np.random.default_rng(seed)
    chosen: list[Node] = []
    seen: set[str] = set()
    for _ in range(n):
        for _ in range(max_tries):
            genome = space.initial(rng)
            text = to_text(genome)
            if text not in seen:
                break
        else:
            raise ValueError(f"could not draw {n} distinct functions in {max_tries} tries each")
        seen.add(text)
        chosen.append(genome)
    return chosen


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (in lists, tuples and dicts too) replaced by None.

    Standard JSON has no NaN or infinity; exploding variances and failed runs produce them.

    Example:
        >>> json_safe({"var": [1.5, float("inf")], "acc": float("nan"), "n": 3})
        {'var': [1.5, None], 'acc': None, 'n': 3}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def summary(values: Sequence[float]) -> dict[str, float | None]:
    """Mean, min and max of the finite values (None when there are none).

    Example:
        >>> summary([0.5, 0.7, float("nan")])
        {'mean': 0.6, 'min': 0.5, 'max': 0.7, 'n': 2}
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "min": None, "max": None, "n": 0}
    return {
        "mean": round(sum(finite) / len(finite), 6),
        "min": min(finite),
        "max": max(finite),
        "n": len(finite),
    }


def run_all(
    run_one: Callable[..., dict[str, Any]], args: Any, tasks: Sequence[tuple[Any, ...]], jobs: int
) -> Iterator[dict[str, Any]]:
    """``run_one(args, *task)`` for every task, in order: in this process, or
    in ``jobs`` spawned worker processes (spawn, so CUDA works in them).

    Example:
        >>> list(run_all(lambda args, a, b: {"sum": a + b}, None, [(1, 2), (3, 4)], jobs=1))
        [{'sum': 3}, {'sum': 7}]
    """
    if jobs <= 1:
        for task in tasks:
            yield run_one(args, *task)
        return
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_one, args, *task) for task in tasks]
        for future in futures:
            yield future.result()


def _count_or_all(text: str) -> int | None:
    return int(text) or None


def add_common_arguments(parser: argparse.ArgumentParser, *, batch_size: int) -> None:
    """The options both AutoInit benchmarks take: data (``--n-train 0`` means
    all images), batch size, weight decay, failure margin, device, worker
    processes and the JSON-lines output file.

    Example:
        >>> p = argparse.ArgumentParser()
        >>> add_common_arguments(p, batch_size=32)
        >>> args = p.parse_args(["--n-train", "0"])
        >>> args.n_train, args.batch_size, args.margin
        (None, 32, 0.05)
    """
    parser.add_argument(
        "--n-train", type=_count_or_all, default=1000, help="training images (0: all)"
    )
    parser.add_argument("--n-val", type=int, default=300)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument(
        "--margin", type=float, default=0.05, help="failure: val acc <= chance+margin"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--out", default=None, help="append the JSON lines to this file")


def emit(out: str | None, **fields: Any) -> None:
    """Print ``fields`` as one strict JSON line (non-finite numbers as null) and
    append it to the file ``out`` when given.

    Example:
        >>> emit(None, figure="demo", value=float("nan"))
        {"figure": "demo", "value": null}
    """
    line = json.dumps(json_safe(fields), allow_nan=False)
    print(line, flush=True)
    if out:
        with open(out, "a") as fh:
            fh.write(line + "\n")


@lru_cache(maxsize=4)
def cached_data(name: str, n_train: int | None, n_val: int, seed: int) -> ImageData:
    """`load_image_data` for one split, cached per process (workers reuse it across runs)."""
    return load_image_data(name, n_train=n_train, n_val=n_val, seed=seed)
