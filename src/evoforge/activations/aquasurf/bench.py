"""A mini Act-Bench: every unique benchmark function trained on a small task.

Act-Bench (dissertation ch. 6) trained each of 2,913 functions on All-CNN-C,
ResNet-56 and MobileViTv2; none of that is available offline or fits a 2-core
machine. The mini benchmark keeps the method and shrinks the task:
Fashion-MNIST downsampled to 14×14 (2×2 average pooling), 2,000 training,
1,000 validation and 1,000 test images, an MLP 196-32-32-10 with the candidate
activation after both hidden layers, AutoInit (as in the chapter), SGD with
momentum 0.9, learning rate 0.05, batch 64, 3 epochs (96 steps).

A run *diverges* when a training loss is not finite or the final outputs are
not; its accuracies are then recorded as chance (0.1), as failed runs sit at
chance in the chapter's Figure 6.1. Every run is seeded (initial weights and
batch order by ``seed``; the data split is fixed), so a row can be rebuilt.

`build_table` trains function after function and appends one CSV row per
(function, seed) as it goes, so an interrupted build resumes where it stopped;
`compress_table` writes the finished (or partial) table as gzipped CSV with a
fixed header and no timestamp, and `load_table` reads it back.

Example:
    >>> from evoforge.activations.formula import parse
    >>> cfg = BenchConfig(n_train=128, n_val=64, n_test=64, epochs=1, dataset="digits")
    >>> data = load_bench_data(cfg)
    >>> r = train_function(parse("relu(x)"), data, cfg, seed=0)
    >>> 0.0 <= r.val_acc <= 1.0, r.diverged
    (True, False)
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evoforge.activations.expr import Node
from evoforge.activations.formula import parse, to_text
from evoforge.activations.module import Activation
from evoforge.nn import load_image_data

COLUMNS = ("index", "function", "seed", "val_acc", "test_acc", "val_loss", "diverged", "seconds")


@dataclass(frozen=True)
class BenchConfig:
    """The mini benchmark's task and training schedule (defaults: the committed table)."""

    dataset: str = "fashion_mnist"
    n_train: int = 2000
    n_val: int = 1000
    n_test: int = 1000
    data_seed: int = 0
    pool: int = 2
    hidden: tuple[int, ...] = (32, 32)
    epochs: int = 3
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    init_batch: int = 500


@dataclass(frozen=True)
class BenchData:
    """Flattened float32 splits (inputs already pooled)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int


def load_bench_data(cfg: BenchConfig) -> BenchData:
    """The configured split, average-pooled by ``cfg.pool`` and flattened."""
    d = load_image_data(
        cfg.dataset, n_train=cfg.n_train, n_val=cfg.n_val, n_test=cfg.n_test, seed=cfg.data_seed
    )
    assert d.x_test is not None and d.y_test is not None

    def flat(x: torch.Tensor) -> torch.Tensor:
        if cfg.pool > 1 and x.shape[-1] >= 2 * cfg.pool:
            x = F.avg_pool2d(x, cfg.pool)
        return x.flatten(1).contiguous()

    return BenchData(
        flat(d.x_train), d.y_train, flat(d.x_val), d.y_val, flat(d.x_test), d.y_test,
        d.num_classes,
    )  # fmt: skip


def bench_model(
    genome: Node, in_features: int, cfg: BenchConfig, num_classes: int
) -> nn.Sequential:
    """The benchmark MLP with ``genome`` after every hidden layer (not initialised).

    Example:
        >>> from evoforge.activations.formula import parse
        >>> m = bench_model(parse("tanh(x)"), 196, BenchConfig(), 10)
        >>> [type(l).__name__ for l in m]
        ['Linear', 'Activation', 'Linear', 'Activation', 'Linear']
    """
    layers: list[nn.Module] = []
    width = in_features
    for h in cfg.hidden:
        layers += [nn.Linear(width, h), Activation(genome)]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def init_model(model: nn.Module, example: torch.Tensor, seed: int) -> nn.Module:
    """AutoInit ``model`` on ``example`` with a generator seeded by ``seed``."""
    from evoforge.init import autoinit  # torch.fx: imported only when used

    autoinit(model, example, generator=torch.Generator().manual_seed(seed))
    return model


@dataclass(frozen=True)
class BenchResult:
    """One training run's outcome."""

    val_acc: float
    test_acc: float
    val_loss: float
    diverged: bool
    seconds: float


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, bool]:
    with torch.no_grad():
        out = model(x)
    if not bool(torch.isfinite(out).all()):
        return 0.0, math.inf, False
    return float((out.argmax(1) == y).float().mean()), float(F.cross_entropy(out, y)), True


def train_function(genome: Node, data: BenchData, cfg: BenchConfig, seed: int) -> BenchResult:
    """Train the benchmark model with ``genome`` once; never raises for a bad function."""
    start = time.perf_counter()
    chance = 1.0 / data.num_classes
    failed = BenchResult(chance, chance, math.inf, True, 0.0)
    g = torch.Generator().manual_seed(seed)
    try:
        model = bench_model(genome, data.x_train.shape[1], cfg, data.num_classes)
        init_model(model, data.x_train[: cfg.init_batch], seed)
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
        n = data.x_train.shape[0]
        for _ in range(cfg.epochs):
            perm = torch.randperm(n, generator=g)
            for i in range(0, n, cfg.batch_size):
                idx = perm[i : i + cfg.batch_size]
                loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
                if not bool(torch.isfinite(loss)):
                    return _timed(failed, start)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        val_acc, val_loss, ok_val = _accuracy(model, data.x_val, data.y_val)
        test_acc, _, ok_test = _accuracy(model, data.x_test, data.y_test)
    except (RuntimeError, ValueError, ArithmeticError):
        # AutoInit's quadrature or a shape error on a degenerate function.
        return _timed(failed, start)
    if not (ok_val and ok_test):
        return _timed(failed, start)
    return BenchResult(val_acc, test_acc, val_loss, False, time.perf_counter() - start)


def _timed(r: BenchResult, start: float) -> BenchResult:
    return BenchResult(r.val_acc, r.test_acc, r.val_loss, r.diverged, time.perf_counter() - start)


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as fh:  # type: ignore[operator]
        lines = fh.read().splitlines()
    if not lines:
        return []
    if tuple(lines[0].split(",")) != COLUMNS:
        raise ValueError(f"{path}: expected the header {','.join(COLUMNS)}, got {lines[0]!r}")
    rows = []
    for line in csv.DictReader(lines):
        if None in line.values():  # a row cut short by an interrupted write
            break
        rows.append(line)
    return rows


@dataclass
class BuildProgress:
    """How far a build got: runs done (of ``total``) and the CPU-seconds they took."""

    done: int
    total: int
    seconds: float
    functions_complete: int = 0
    extra: dict[str, float] = field(default_factory=dict)


def build_table(
    path: str | Path,
    functions: Sequence[Node],
    seeds: Sequence[int],
    cfg: BenchConfig = BenchConfig(),
    *,
    max_runs: int | None = None,
    order: Sequence[int] | None = None,
    data: BenchData | None = None,
    progress: Callable[[BuildProgress], None] | None = None,
) -> BuildProgress:
    """Train every (function, seed) not yet in the CSV at ``path``, appending rows.

    Rows already there (from an interrupted build) are kept and skipped; a row
    cut short by a crash is dropped and redone. ``max_runs`` stops after that
    many new runs. Functions are trained in ``order`` (indices into
    ``functions``; default their order), all seeds of one before the next, so a
    partial table holds complete functions plus at most one partial; a seeded
    permutation makes a partial table a uniform sample of the space.

    Example:
        >>> import tempfile
        >>> from evoforge.activations.formula import parse
        >>> cfg = BenchConfig(n_train=64, n_val=32, n_test=32, epochs=1, dataset="digits")
        >>> out = Path(tempfile.mkdtemp()) / "t.csv"
        >>> fs = [parse("relu(x)"), parse("tanh(x)")]
        >>> build_table(out, fs, [0], cfg, max_runs=1).done
        1
        >>> build_table(out, fs, [0], cfg).done, len(load_table(out))
        (2, 2)
    """
    path = Path(path)
    torch.set_num_threads(1)  # the project's rule: one thread per process on small models
    rows = _read_rows(path)
    done = {(int(r["index"]), int(r["seed"])) for r in rows}
    if rows and max(i for i, _ in done) >= len(functions):
        raise ValueError(f"{path}: rows index functions beyond the {len(functions)} given")
    for r in rows:
        if r["function"] != to_text(functions[int(r["index"])]):
            raise ValueError(f"{path}: row {r['index']} is {r['function']!r}, a different space")
    # Rewrite what was read (drops a torn last line), then append.
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow([r[c] for c in COLUMNS])
    data = data if data is not None else load_bench_data(cfg)
    seconds = sum(float(r["seconds"]) for r in rows)
    total = len(functions) * len(seeds)
    new = 0
    state = BuildProgress(len(done), total, seconds)
    with open(path, "a", newline="") as fh:
        w = csv.writer(fh)
        for i in range(len(functions)) if order is None else order:
            genome = functions[i]
            for seed in seeds:
                if (i, seed) in done:
                    continue
                if max_runs is not None and new >= max_runs:
                    return _finish(state, done, seeds, len(functions))
                r = train_function(genome, data, cfg, seed)
                w.writerow(
                    [i, to_text(genome), seed, f"{r.val_acc:.4f}", f"{r.test_acc:.4f}",
                     f"{r.val_loss:.5g}", int(r.diverged), f"{r.seconds:.3f}"]
                )  # fmt: skip
                fh.flush()
                done.add((i, seed))
                new += 1
                state.done += 1
                state.seconds += r.seconds
                if progress is not None:
                    progress(state)
    return _finish(state, done, seeds, len(functions))


def _finish(
    state: BuildProgress, done: set[tuple[int, int]], seeds: Sequence[int], n: int
) -> BuildProgress:
    state.functions_complete = sum(all((i, s) in done for s in seeds) for i in range(n))
    return state


def compress_table(src: str | Path, dst: str | Path) -> int:
    """Write the CSV at ``src`` to ``dst`` gzipped (rows sorted, no timestamp, so
    the same table gives the same bytes); returns the number of rows."""
    rows = _read_rows(Path(src))
    rows.sort(key=lambda r: (int(r["index"]), int(r["seed"])))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r[c] for c in COLUMNS])
    with open(dst, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue().encode())
    return len(rows)


@dataclass(frozen=True)
class BenchTable:
    """Per-function results averaged over the seeds each function has."""

    functions: tuple[str, ...]
    val_acc: np.ndarray
    test_acc: np.ndarray
    diverged: np.ndarray  # fraction of seeds that diverged
    seeds: np.ndarray  # seeds per function

    def __len__(self) -> int:
        return len(self.functions)

    def index(self) -> dict[str, int]:
        """function text -> row."""
        return {f: i for i, f in enumerate(self.functions)}


def load_table(path: str | Path, complete_only: bool = True) -> BenchTable:
    """The table at ``path`` (CSV or CSV.gz), one entry per function; with
    ``complete_only`` a function with fewer seeds than the most any has is left out."""
    rows = _read_rows(Path(path))
    by: dict[int, list[dict[str, str]]] = {}
    for r in rows:
        by.setdefault(int(r["index"]), []).append(r)
    most = max((len(v) for v in by.values()), default=0)
    keep = [i for i in sorted(by) if not complete_only or len(by[i]) == most]

    def mean(col: str) -> np.ndarray:
        return np.array([np.mean([float(r[col]) for r in by[i]]) for i in keep])

    return BenchTable(
        tuple(by[i][0]["function"] for i in keep), mean("val_acc"), mean("test_acc"),
        mean("diverged"), np.array([len(by[i]) for i in keep]),
    )  # fmt: skip


def config_dict(cfg: BenchConfig) -> dict[str, object]:
    """``cfg`` as plain JSON values (for results files)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


def parse_function(text: str) -> Node:
    """The genome of a table row's function text."""
    return parse(text)
