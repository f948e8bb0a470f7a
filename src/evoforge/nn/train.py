"""The training loop shared by the neural domains: seeded, budgeted in epochs, divergence-aware.

`train` fits a classifier on an `ImageData` with the optimiser and learning-rate
schedule of a `TrainConfig` and returns a `TrainResult`: validation (and test)
accuracy and loss, per-epoch history, wall time, and whether training
diverged. A diverged run (non-finite loss, or a loss above
``divergence_factor`` times the first batch's loss) stops early without
raising, so a search can give the candidate the minimum fitness.

The learning rate is set before every step from the fraction of training done,
``progress = step / total_steps``, by `learning_rate`:

* ``"constant"``: ``lr``;
* ``"step"``: ``lr · gamma^k`` where k counts the ``milestones`` (fractions
  of training) already reached;
* ``"cosine"``: ``lr · (1 + cos(π · progress)) / 2``;

each optionally after ``warmup`` (a fraction of training) of linear increase
from 0. Because the schedule is a function of progress, ``compress = c`` runs
the same shape in ``epochs / c`` epochs: PANGAEA scores candidates with such a
compressed schedule.

Example:
    >>> import torch
    >>> from evoforge.nn import MLP, load_image_data
    >>> data = load_image_data("digits", n_train=300, n_val=200, seed=0)
    >>> _ = torch.manual_seed(0)
    >>> model = MLP(64, (32,))
    >>> config = TrainConfig(optimizer="adam", lr=0.01, batch_size=50, epochs=5, weight_decay=0)
    >>> result = train(model, data, config, seed=0)
    >>> result.val_accuracy > 0.8, result.diverged, len(result.history)
    (True, False, 5)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parameter import is_lazy

from evoforge.nn.data import ImageData

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "step", "cosine")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, learning-rate schedule, budget, regularisation, augmentation.

    Attributes:
        optimizer: ``"sgd"`` (with ``momentum``, optionally ``nesterov``) or ``"adam"``.
        lr: peak learning rate.
        momentum: SGD momentum (ignored by Adam).
        nesterov: Nesterov momentum for SGD (needs momentum > 0).
        weight_decay: L2 penalty given to the optimiser (all parameters).
        batch_size: examples per step; the last batch of an epoch may be smaller.
        epochs: length of the full schedule, in epochs.
        compress: run the schedule in ``max(1, round(epochs / compress))``
            epochs with the same shape (1 = uncompressed).
        schedule: ``"constant"``, ``"step"`` or ``"cosine"`` (see `learning_rate`).
        milestones: for ``"step"``: fractions of training where the rate is
            multiplied by ``gamma``.
        gamma: the step schedule's factor.
        warmup: fraction of training with a linear ramp from 0 to the schedule.
        label_smoothing: cross-entropy label smoothing in [0, 1).
        grad_clip: clip the global gradient norm to this (None: no clipping).
        divergence_factor: training stops as diverged when a batch loss
            exceeds this multiple of the first batch's loss (None: only
            non-finite losses count).
        crop_padding: random-crop augmentation: pad by this many zero pixels
            and crop back at a random offset (0: off).
        hflip: random horizontal flips (not for digits or other
            orientation-sensitive images).
        eval_batch_size: examples per forward pass when evaluating.
        val_every: validate after every this many epochs (the last epoch is
            always validated; 0: only at the end).

    Example:
        >>> TrainConfig(epochs=200, compress=4).run_epochs
        50
        >>> TrainConfig(optimizer="rmsprop")
        Traceback (most recent call last):
        ...
        ValueError: TrainConfig.optimizer must be one of ('sgd', 'adam'), got 'rmsprop'
    """

    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    batch_size: int = 128
    epochs: int = 10
    compress: float = 1.0
    schedule: Literal["constant", "step", "cosine"] = "cosine"
    milestones: tuple[float, ...] = (0.5, 0.75)
    gamma: float = 0.1
    warmup: float = 0.0
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    divergence_factor: float | None = 10.0
    crop_padding: int = 0
    hflip: bool = False
    eval_batch_size: int = 1024
    val_every: int = 1

    def __post_init__(self) -> None:
        def bad(name: str, expected: str) -> ValueError:
            return ValueError(f"TrainConfig.{name} must be {expected}, got {getattr(self, name)!r}")

        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", f"one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise bad("schedule", f"one of {SCHEDULES}")
        for name in ("batch_size", "epochs", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(name, "a positive int")
        for name in ("val_every", "crop_padding"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad(name, "an int >= 0")
        if not (_is_number(self.lr) and math.isfinite(self.lr) and self.lr > 0):
            raise bad("lr", "a positive finite number")
        for name in ("weight_decay", "momentum", "gamma"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and value >= 0):
                raise bad(name, "a finite number >= 0")
        for name in ("nesterov", "hflip"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, "true or false")
        if self.nesterov and self.optimizer == "sgd" and self.momentum <= 0:
            raise bad("nesterov", "False when momentum is 0 (Nesterov needs momentum)")
        if not (_is_number(self.compress) and self.compress >= 1):
            raise bad("compress", "a number >= 1")
        if not (_is_number(self.warmup) and 0 <= self.warmup < 1):
            raise bad("warmup", "a fraction in [0, 1)")
        if not (_is_number(self.label_smoothing) and 0 <= self.label_smoothing < 1):
            raise bad("label_smoothing", "in [0, 1)")
        if not isinstance(self.milestones, tuple) or not all(
            _is_number(m) and 0 < m < 1 for m in self.milestones
        ):
            raise bad("milestones", "a tuple of fractions of training in (0, 1)")
        if list(self.milestones) != sorted(self.milestones):
            raise bad("milestones", "in increasing order")
        if self.grad_clip is not None and not (_is_number(self.grad_clip) and self.grad_clip > 0):
            raise bad("grad_clip", "None or a positive number")
        if self.divergence_factor is not None and not (
            _is_number(self.divergence_factor) and self.divergence_factor > 1
        ):
            raise bad("divergence_factor", "None or a number > 1")

    @property
    def run_epochs(self) -> int:
        """Epochs actually run: ``epochs`` shortened by ``compress``."""
        return max(1, round(self.epochs / self.compress))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from a plain dict (e.g. a TOML table); unknown keys are an error.

        Example:
            >>> TrainConfig.from_dict({"lr": 0.05, "milestones": [0.3, 0.6]}).milestones
            (0.3, 0.6)
            >>> TrainConfig.from_dict({"learning_rate": 0.05})
            Traceback (most recent call last):
            ...
            ValueError: TrainConfig: unknown field 'learning_rate'; expected one of optimizer, lr, momentum, nesterov, weight_decay, batch_size, epochs, compress, schedule, milestones, gamma, warmup, label_smoothing, grad_clip, divergence_factor, crop_padding, hflip, eval_batch_size, val_every
        """  # noqa: E501
        names = [f.name for f in fields(cls)]
        for key in values:
            if key not in names:
                raise ValueError(
                    f"TrainConfig: unknown field {key!r}; expected one of {', '.join(names)}"
                )
        values = dict(values)
        if "milestones" in values:
            values["milestones"] = tuple(values["milestones"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain dict (milestones as a list), the inverse of `from_dict`."""
        out = asdict(self)
        out["milestones"] = list(self.milestones)
        return out


def learning_rate(config: TrainConfig, progress: float) -> float:
    """The learning rate after a fraction ``progress`` in [0, 1] of training.

    Example:
        >>> step = TrainConfig(lr=0.1, schedule="step", milestones=(0.5, 0.75), gamma=0.1)
        >>> [round(learning_rate(step, p), 6) for p in (0.0, 0.49, 0.5, 0.8)]
        [0.1, 0.1, 0.01, 0.001]
        >>> cos = TrainConfig(lr=0.1, schedule="cosine")
        >>> [round(learning_rate(cos, p), 6) for p in (0.0, 0.5, 1.0)]
        [0.1, 0.05, 0.0]
        >>> warm = TrainConfig(lr=0.1, schedule="constant", warmup=0.1)
        >>> [round(learning_rate(warm, p), 6) for p in (0.0, 0.05, 0.1, 0.9)]
        [0.0, 0.05, 0.1, 0.1]
    """
    progress = min(max(progress, 0.0), 1.0)
    if config.schedule == "constant":
        lr = config.lr
    elif config.schedule == "step":
        lr = config.lr * config.gamma ** sum(progress >= m for m in config.milestones)
    else:
        lr = config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    if config.warmup > 0 and progress < config.warmup:
        lr *= progress / config.warmup
    return lr


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch did. ``val_*`` are None for epochs that were not validated."""

    epoch: int
    lr: float
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """The outcome of `train`.

    ``val_*`` and ``test_*`` are measured on the final model (also after a
    divergence; non-finite outputs count as wrong). ``diverged`` is True when
    training stopped early because a loss was non-finite or exceeded
    ``divergence_factor`` times ``initial_loss``, or the final validation loss
    was non-finite; ``divergence`` then says which. ``steps`` counts the
    optimiser steps taken, ``epochs_run`` the epochs begun.
    """

    val_accuracy: float
    val_loss: float
    test_accuracy: float | None
    test_loss: float | None
    history: list[EpochRecord]
    epochs_run: int
    steps: int
    initial_loss: float
    wall_seconds: float
    diverged: bool
    divergence: str | None = None
    device: str = "cpu"


def resolve_device(device: str | torch.device) -> torch.device:
    """The torch device for ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"``).

    ``"auto"`` picks CUDA when available. Asking for CUDA where there is none
    raises ValueError.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}"
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
    return resolved


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def augment(
    x: torch.Tensor, crop_padding: int, hflip: bool, generator: torch.Generator
) -> torch.Tensor:
    """Random crops (after zero padding) and horizontal flips of a batch ``(N, C, H, W)``.

    Random numbers come from ``generator`` (on the CPU), so runs repeat.

    Example:
        >>> import torch
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> g = torch.Generator().manual_seed(0)
        >>> augment(x, 0, False, g).equal(x), augment(x, 1, True, g).shape
        (True, torch.Size([1, 1, 4, 4]))
    """
    n, _, h, w = x.shape
    if crop_padding > 0:
        p = crop_padding
        padded = F.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, channel, rows, cols]
    if hflip:
        flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy loss)`` of ``model`` in eval mode on ``x``, ``y``.

    Rows whose outputs are not all finite count as wrong. The model's training
    mode is restored afterwards.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Linear(2, 2)
        >>> acc, loss = evaluate(net, torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]))
        >>> 0.0 <= acc <= 1.0
        True
    """
    if x.shape[0] == 0:
        return math.nan, math.nan
    was_training = model.training
    model.eval()
    correct, total_loss = 0, 0.0
    device = next((p.device for p in model.parameters()), x.device)
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size].to(device)
        yb = y[start : start + batch_size].to(device)
        out = model(xb)
        finite = torch.isfinite(out).all(dim=1)
        correct += int(((out.argmax(dim=1) == yb) & finite).sum())
        total_loss += float(F.cross_entropy(out.float(), yb, reduction="sum"))
    model.train(was_training)
    return correct / x.shape[0], total_loss / x.shape[0]


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )


def train(
    model: nn.Module,
    data: ImageData,
    config: TrainConfig | None = None,
    seed: int = 0,
    *,
    device: str | torch.device = "cpu",
    threads: int | None = 1,
) -> TrainResult:
    """Train ``model`` in place on ``data`` and measure it; see the module docstring.

    Args:
        model: a classifier mapping ``(N, *data.in_shape)`` to ``(N, num_classes)``
            logits. It is moved to ``device``. Lazy parameters are
            materialised by a forward pass before the optimiser is built.
        data: the splits; the whole training set is moved to ``device``.
        config: optimiser, schedule and budget (default `TrainConfig()`).
        seed: seeds shuffling, augmentation and dropout (the global torch RNG
            is forked, so the caller's RNG state is left as it was). The same
            model weights, data, config and seed give the same result on the CPU.
        device: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        threads: torch intra-op threads while training (default 1: evaluation
            workers share the machine); None leaves the setting alone. The
            previous setting is restored afterwards.

    Returns:
        A `TrainResult`. Divergence never raises: it sets ``diverged``.
    """
    config = config or TrainConfig()
    target = resolve_device(device)
    started = time.perf_counter()
    fork_devices = [target.index or 0] if target.type == "cuda" else []
    with _threads(threads), torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        model.to(target)
        x_train, y_train = data.x_train.to(target), data.y_train.to(target)
        if any(is_lazy(p) for p in model.parameters()):
            with torch.no_grad():
                model.eval()
                model(x_train[:2])
            model.to(target)
        model.train()
        optimizer = _make_optimizer(model, config)
        n = x_train.shape[0]
        steps_per_epoch = math.ceil(n / config.batch_size)
        total_steps = steps_per_epoch * config.run_epochs
        history: list[EpochRecord] = []
        divergence: str | None = None
        initial_loss = math.nan
        step = 0
        epochs_run = 0
        lr = learning_rate(config, 0.0)
        for epoch in range(config.run_epochs):
            epochs_run += 1
            epoch_start = time.perf_counter()
            order = torch.randperm(n, generator=generator).to(target)
            loss_sum, correct, seen = 0.0, 0, 0
            for start in range(0, n, config.batch_size):
                idx = order[start : start + config.batch_size]
                xb, yb = x_train[idx], y_train[idx]
                if config.crop_padding or config.hflip:
                    xb = augment(xb, config.crop_padding, config.hflip, generator)
                lr = learning_rate(config, step / total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                out = model(xb)
                loss = F.cross_entropy(out.float(), yb, label_smoothing=config.label_smoothing)
                value = float(loss.detach())
                if step == 0:
                    initial_loss = value
                if not math.isfinite(value):
                    divergence = f"non-finite loss {value} at step {step}"
                elif (
                    config.divergence_factor is not None
                    and math.isfinite(initial_loss)
                    and value > config.divergence_factor * initial_loss
                ):
                    divergence = (
                        f"loss {value:.4g} at step {step} exceeds {config.divergence_factor:g} "
                        f"x the initial loss {initial_loss:.4g}"
                    )
                if divergence is not None:
                    break
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                step += 1
                loss_sum += value * yb.shape[0]
                correct += int((out.argmax(dim=1) == yb).sum())
                seen += yb.shape[0]
            last = epoch == config.run_epochs - 1 or divergence is not None
            validate = last or (config.val_every > 0 and (epoch + 1) % config.val_every == 0)
            val_acc = val_loss = None
            if validate and divergence is None:
                val_acc, val_loss = evaluate(model, data.x_val, data.y_val, config.eval_batch_size)
            history.append(
                EpochRecord(
                    epoch=epoch,
                    lr=lr,
                    train_loss=loss_sum / seen if seen else math.nan,
                    train_accuracy=correct / seen if seen else math.nan,
                    val_loss=val_loss,
                    val_accuracy=val_acc,
                    seconds=time.perf_counter() - epoch_start,
                )
            )
            if divergence is not None:
                break
        if history and history[-1].val_accuracy is not None and history[-1].val_loss is not None:
            val_accuracy, val_loss_final = history[-1].val_accuracy, history[-1].val_loss
        else:
            val_accuracy, val_loss_final = evaluate(
                model, data.x_val, data.y_val, config.eval_batch_size
            )
        has_val = data.x_val.shape[0] > 0
        if divergence is None and has_val and not math.isfinite(val_loss_final):
            divergence = f"non-finite validation loss {val_loss_final}"
        test_accuracy = test_loss = None
        if data.x_test is not None and data.y_test is not None:
            test_accuracy, test_loss = evaluate(
                model, data.x_test, data.y_test, config.eval_batch_size
            )
    return TrainResult(
        val_accuracy=val_accuracy,
        val_loss=val_loss_final,
        test_accuracy=test_accuracy,
        test_loss=test_loss,
        history=history,
        epochs_run=epochs_run,
        steps=step,
        initial_loss=initial_loss,
        wall_seconds=time.perf_counter() - started,
        diverged=divergence is not None,
        divergence=divergence,
        device=str(target),
    )
