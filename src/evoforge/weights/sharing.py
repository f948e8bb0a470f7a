"""Learned weight sharing for multi-task learning (Prellberg, chapter 8, Algorithm 6).

Every task runs its own copy of a base network, but each shareable layer
position holds K candidate layers; an assignment ``a`` picks one candidate per
task and position (two tasks picking the same candidate share its weights).
The last layer is always the task's own. Which assignment is good is learnt by
a categorical NES (`evoforge.evolution.strategies.categorical_nes`), in
alternation with Adam steps on the weights, each step on its own fresh batch
(``batch_per_task`` images of every task, concatenated):

- NES step: sample λ_π assignments, each one's loss on the batch, rank
  utilities, π ← π + η_π·mean(u·(onehot − π)), clamp ≥ 0.001, renormalise;
- Adam step: sample λ_θ assignments and average their gradients.

Inference uses the most probable assignment (argmax π). The baselines are the
same network with one candidate per position that all tasks use
(``mode = "full"``) and one candidate per task (``mode = "none"``).

The network is chapter 8's DKL-MNIST ConvNet: three blocks conv 3×3 (32
channels) → BatchNorm → ReLU → 2×2 max-pool, a dense layer of 128 with ReLU
(the four shareable positions), then each task's output layer; He-uniform
initialisation, zero biases. A candidate block owns its BatchNorm (and so its
running statistics, which every task using it updates).

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> tasks = [TaskData(f"t{i}", torch.rand(20, 1, 28, 28, generator=g),
    ...          torch.randint(3, (20,), generator=g), torch.rand(6, 1, 28, 28, generator=g),
    ...          torch.randint(3, (6,), generator=g), classes=3) for i in range(2)]
    >>> lws = WeightSharing(tasks, SharingConfig(channels=4, hidden=8, batch_per_task=4), seed=0)
    >>> for _ in range(3): _ = lws.iteration()
    >>> lws.probs.shape, len(lws.assignment())
    ((8, 3), 8)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from evoforge.evolution.strategies.categorical_nes import nes_update, sample, uniform_probs

MODES = ("learned", "full", "none")
#: The shareable positions: three conv blocks and the hidden dense layer.
POSITIONS = 4


@dataclass(frozen=True)
class SharingConfig:
    """Algorithm 6's settings; defaults are chapter 8's DKL-MNIST ones
    (K = 3, λ_π = λ_θ = 8, η_π = 1e-2, η_θ = 1e-3, 16 images per task)."""

    mode: str = "learned"
    candidates: int = 3
    channels: int = 32
    hidden: int = 128
    batch_per_task: int = 16
    nes_samples: int = 8
    sgd_samples: int = 8
    nes_lr: float = 0.01
    lr: float = 1e-3
    min_prob: float = 0.001

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for key in ("candidates", "channels", "hidden", "batch_per_task"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.nes_samples < 2 or self.sgd_samples < 1:
            raise ValueError("nes_samples must be >= 2 and sgd_samples >= 1")
        if not (self.nes_lr >= 0 and self.lr > 0 and 0 <= self.min_prob < 0.5):
            raise ValueError("nes_lr >= 0, lr > 0 and min_prob in [0, 0.5) expected")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class TaskData(NamedTuple):
    """One task: images ``(n, 1, side, side)`` and labels, training and test
    (and optionally validation, for choosing among stages without the test set)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: int = 10
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)
    )


class SharedConvNet(nn.Module):
    """K candidates per shareable position and one output layer per task.

    ``forward(x, task, path)``: ``path`` names the candidate used at each of
    the four positions for this task; without it, ``paths[task]`` (the fixed
    assignment of an exported network). ``candidates`` is K for every
    position, or one count per position.

    Example:
        >>> net = SharedConvNet(tasks=2, classes=(10, 5), candidates=2, channels=4, hidden=8)
        >>> net(torch.zeros(3, 1, 28, 28), task=1, path=(0, 1, 1, 0)).shape
        torch.Size([3, 5])
    """

    def __init__(
        self,
        tasks: int,
        classes: Sequence[int],
        candidates: int | Sequence[int],
        channels: int = 32,
        hidden: int = 128,
        side: int = 28,
        paths: Sequence[Sequence[int]] | None = None,
    ) -> None:
        super().__init__()
        k = [candidates] * 4 if isinstance(candidates, int) else list(candidates)
        flat = channels * (side // 8) ** 2  # three 2×2 pools, rounding down
        self.positions = nn.ModuleList(
            [
                nn.ModuleList(_block(1, channels) for _ in range(k[0])),
                nn.ModuleList(_block(channels, channels) for _ in range(k[1])),
                nn.ModuleList(_block(channels, channels) for _ in range(k[2])),
                nn.ModuleList(nn.Linear(flat, hidden) for _ in range(k[3])),
            ]
        )
        self.heads = nn.ModuleList(nn.Linear(hidden, c) for c in classes)
        self.paths = [list(p) for p in paths] if paths is not None else None
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")  # He-uniform
                nn.init.zeros_(module.bias)

    def forward(
        self, x: torch.Tensor, task: int, path: Sequence[int] | None = None
    ) -> torch.Tensor:
        if path is None:
            if self.paths is None:
                raise ValueError("no path given and the network has no fixed paths")
            path = self.paths[task]
        conv1, conv2, conv3, dense = self.positions
        h = conv3[path[2]](conv2[path[1]](conv1[path[0]](x)))
        h = torch.relu(dense[path[3]](h.flatten(1)))
        return self.heads[task](h)


class IterationStats(NamedTuple):
    """One iteration's training loss (mean over the Adam step's samples) and the
    NES step's best sampled loss (NaN without NES)."""

    iteration: int
    loss: float
    nes_best_loss: float


class WeightSharing:
    """Algorithm 6 (``mode="learned"``) or a fixed-sharing baseline on ``tasks``."""

    def __init__(
        self,
        tasks: Sequence[TaskData],
        config: SharingConfig,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        if not tasks:
            raise ValueError("at least one task is needed")
        self.tasks = list(tasks)
        self.config = config
        self.device = torch.device(device)
        torch.manual_seed(seed)  # the module initialisers draw from the global generator
        n_tasks = len(self.tasks)
        k = {"learned": config.candidates, "full": 1, "none": n_tasks}[config.mode]
        self.net = SharedConvNet(
            n_tasks,
            [t.classes for t in self.tasks],
            k,
            config.channels,
            config.hidden,
            side=int(self.tasks[0].x_train.shape[-1]),
        ).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        # One categorical distribution per task and position, task-major.
        self.probs = uniform_probs([k] * (n_tasks * POSITIONS))
        if config.mode == "none":  # task t always uses candidate t
            self.probs = np.zeros_like(self.probs)
            self.probs[
                np.arange(n_tasks * POSITIONS), np.arange(n_tasks * POSITIONS) // POSITIONS
            ] = 1
        self.iterations = 0

    def assignment(self) -> tuple[int, ...]:
        """The most probable assignment (task-major: task 0's four positions first)."""
        return tuple(int(i) for i in self.probs.argmax(axis=1))

    def sharing(self) -> list[list[list[int]]]:
        """Per position, the groups of tasks that share a candidate under `assignment`."""
        a = np.array(self.assignment()).reshape(len(self.tasks), POSITIONS)
        out = []
        for pos in range(POSITIONS):
            groups: dict[int, list[int]] = {}
            for t in range(len(self.tasks)):
                groups.setdefault(int(a[t, pos]), []).append(t)
            out.append(sorted(groups.values()))
        return out

    def _batch(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        b = self.config.batch_per_task
        out = []
        for t in self.tasks:
            idx = torch.randint(t.x_train.shape[0], (b,), generator=self.generator)
            out.append((t.x_train[idx].to(self.device), t.y_train[idx].to(self.device)))
        return out

    def loss(
        self, batch: list[tuple[torch.Tensor, torch.Tensor]], a: Sequence[int]
    ) -> torch.Tensor:
        """Mean over tasks of the cross-entropy of assignment ``a`` on ``batch``."""
        return self.losses(batch, np.asarray([a]))[0]

    def losses(
        self, batch: list[tuple[torch.Tensor, torch.Tensor]], draws: np.ndarray
    ) -> torch.Tensor:
        """``(len(draws),)`` losses of several assignments on one batch, computed
        together: a (task, path prefix) that several assignments share is
        computed once, and at each position every input routed to the same
        candidate goes through it in one call. (So a candidate's BatchNorm
        sees the batch statistics of all inputs routed to it, as a shared
        layer sees every sharing task's images in Algorithm 6's concatenated
        batch.) Much faster on a CPU than one forward per assignment.
        """
        n_tasks = len(batch)
        acts: dict[tuple[int, ...], torch.Tensor] = {(t,): x for t, (x, _) in enumerate(batch)}
        for pos, candidates in enumerate(self.net.positions):
            # The distinct (task, candidates up to pos) prefixes, by their last candidate.
            by_candidate: dict[int, dict[tuple[int, ...], None]] = {}
            for a in draws:
                for t in range(n_tasks):
                    key = (t, *(int(v) for v in a[t * POSITIONS : t * POSITIONS + pos + 1]))
                    by_candidate.setdefault(key[-1], {})[key] = None
            for k, group in by_candidate.items():
                inputs = [acts[key[:-1]] for key in group]
                h = torch.cat(inputs)
                if pos == POSITIONS - 1:
                    h = torch.relu(candidates[k](h.flatten(1)))
                else:
                    h = candidates[k](h)
                for key, out in zip(group, h.split([x.shape[0] for x in inputs]), strict=True):
                    acts[key] = out
        per_task: dict[tuple[int, ...], torch.Tensor] = {}
        out = []
        for a in draws:
            task_losses = []
            for t, (_, y) in enumerate(batch):
                key = (t, *(int(v) for v in a[t * POSITIONS : (t + 1) * POSITIONS]))
                if key not in per_task:
                    per_task[key] = F.cross_entropy(self.net.heads[t](acts[key]), y)
                task_losses.append(per_task[key])
            out.append(torch.stack(task_losses).mean())
        return torch.stack(out)

    def _samples(self, n: int) -> np.ndarray:
        if self.config.mode != "learned":  # fixed sharing: every sample is the same
            return np.array([self.assignment()])
        return sample(self.probs, self.rng, n)

    def nes_step(self) -> float:
        """One NES step on a fresh batch; returns the best sampled loss."""
        c = self.config
        batch = self._batch()
        draws = sample(self.probs, self.rng, c.nes_samples)
        with torch.no_grad():
            losses = self.losses(batch, draws).tolist()
        scores = [-v if math.isfinite(v) else -math.inf for v in losses]
        self.probs = nes_update(self.probs, draws, scores, c.nes_lr, c.min_prob)
        return min(losses)

    def sgd_step(self) -> float:
        """One Adam step on a fresh batch, gradients averaged over sampled assignments."""
        batch = self._batch()
        draws = self._samples(self.config.sgd_samples)
        self.optimizer.zero_grad(set_to_none=True)
        total = self.losses(batch, draws).mean()
        total.backward()
        self.optimizer.step()
        return float(total.detach())

    def iteration(self) -> IterationStats:
        """NES step (learned sharing only) then Adam step, each on its own batch."""
        self.net.train()
        nes = self.nes_step() if self.config.mode == "learned" else math.nan
        loss = self.sgd_step()
        self.iterations += 1
        return IterationStats(self.iterations, loss, nes)

    def errors(self, split: str = "test") -> list[float]:
        """Per-task error of the argmax assignment on ``split`` ("test" or
        "val"; BatchNorm in eval mode)."""
        if split not in ("test", "val"):
            raise ValueError(f"split must be 'test' or 'val', got {split!r}")
        self.net.eval()
        a = self.assignment()
        errors = []
        with torch.no_grad():
            for t, task in enumerate(self.tasks):
                xs, ys = (task.x_test, task.y_test) if split == "test" else (task.x_val, task.y_val)
                if xs is None or ys is None:
                    raise ValueError(f"task {task.name!r} has no validation images")
                wrong = 0
                for s in range(0, xs.shape[0], 1000):
                    x = xs[s : s + 1000].to(self.device)
                    pred = self.net(x, t, a[t * POSITIONS : (t + 1) * POSITIONS]).argmax(1)
                    wrong += int((pred.cpu() != ys[s : s + 1000]).sum())
                errors.append(wrong / max(1, xs.shape[0]))
        self.net.train()
        return errors

    def network(self) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
        """The argmax network alone: only the candidates some task uses, its
        state dict and the `SharedConvNet` arguments (with ``paths``) that
        rebuild it. Its output per task equals this trainer's in eval mode."""
        a = np.array(self.assignment()).reshape(len(self.tasks), POSITIONS)
        used = [sorted(set(a[:, pos].tolist())) for pos in range(POSITIONS)]
        paths = [[used[pos].index(int(v)) for pos, v in enumerate(row)] for row in a]
        tensors: dict[str, torch.Tensor] = {}
        for pos, candidates in enumerate(used):
            for j, k in enumerate(candidates):
                for name, v in self.net.positions[pos][k].state_dict().items():
                    tensors[f"positions.{pos}.{j}.{name}"] = v.detach().cpu().clone()
        for name, v in self.net.heads.state_dict().items():
            tensors[f"heads.{name}"] = v.detach().cpu().clone()
        kwargs: dict[str, object] = {
            "tasks": len(self.tasks),
            "classes": [t.classes for t in self.tasks],
            "candidates": [len(c) for c in used],
            "channels": self.config.channels,
            "hidden": self.config.hidden,
            "side": int(self.tasks[0].x_train.shape[-1]),
            "paths": paths,
        }
        return tensors, kwargs

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """Tensors (weights, Adam moments, π, generator) and JSON metadata
        (iteration, numpy rng) that continue the run exactly; safetensors-ready."""
        tensors = {f"model.{k}": v.detach().cpu() for k, v in self.net.state_dict().items()}
        for i, p in enumerate(self.net.parameters()):
            st = self.optimizer.state.get(p)
            if st:
                tensors[f"adam.{i}.exp_avg"] = st["exp_avg"].cpu()
                tensors[f"adam.{i}.exp_avg_sq"] = st["exp_avg_sq"].cpu()
                tensors[f"adam.{i}.step"] = torch.as_tensor(st["step"]).reshape(1).cpu()
        tensors["probs"] = torch.from_numpy(self.probs.copy())
        tensors["generator"] = self.generator.get_state()
        meta = {
            "iterations": str(self.iterations),
            "rng": json.dumps(self.rng.bit_generator.state),
            "config": json.dumps(self.config.to_dict()),
            "assignment": json.dumps(self.assignment()),
        }
        return {k: v.contiguous() for k, v in tensors.items()}, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
        """Restore a `state`."""
        model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        self.net.load_state_dict(model)
        for i, p in enumerate(self.net.parameters()):
            if f"adam.{i}.exp_avg" in tensors:
                self.optimizer.state[p] = {
                    "exp_avg": tensors[f"adam.{i}.exp_avg"].to(self.device),
                    "exp_avg_sq": tensors[f"adam.{i}.exp_avg_sq"].to(self.device),
                    "step": tensors[f"adam.{i}.step"].reshape(()).float(),
                }
        self.probs = tensors["probs"].numpy().astype(float)
        self.generator.set_state(tensors["generator"])
        self.rng.bit_generator.state = json.loads(meta["rng"])
        self.iterations = int(meta["iterations"])
