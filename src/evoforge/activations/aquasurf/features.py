"""AQuaSurF's two features of an activation function, computed without training.

1. **FIM eigenvalues by K-FAC** (dissertation §6.2, after Grosse and Martens).
   For each layer with weights, one forward and backward pass over a data batch
   gives the Kronecker factors of its Fisher block:
   ``Ω = E[ā āᵀ]`` of the layer's inputs with a leading 1 for the bias and
   ``Γ = E[Ds Dsᵀ]`` of the loss gradients with respect to its outputs
   (pre-activations), one gradient per example. For a convolution the inputs
   are the unfolded patches: Ω sums over spatial positions and averages over
   examples, Γ averages over both (the chapter's eq. 6.14–6.15). The block's
   eigenvalues are the pairwise products of the factors' eigenvalues, taken
   as sums of logs. The network is initialised by AutoInit, as in the
   dissertation, and the loss is the cross-entropy with the batch's labels (the
   empirical Fisher the chapter writes down).
2. **Outputs** of the function on the 1,000 fixed samples
   (`evoforge.activations.equivalence.SAMPLES`, N(0, 1) truncated to [−5, 5]).

Per layer l with |θ_l| weights (bias included) the log-eigenvalues are binned
into ⌊|θ_l|/100⌋ (at least 1) equal bins on [−100, 100]; values outside are
clipped to the range, so every eigenvalue is counted (eigenvalues ≤ 0, which
rounding gives a singular factor, count as the smallest bin — an inference:
the chapter does not say). The histograms are concatenated. A function whose
loss, factors or outputs are not finite gets no features (``None``): the
chapter's filter.

`FeatureCache` keeps computed features in one ``.npz`` per space × network
(no pickle) so a search or a second benchmark does not recompute them.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    >>> x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    >>> [f.omega.shape for f in kfac_factors(net, x, y)]
    [torch.Size([4, 4]), torch.Size([5, 5])]
    >>> layers = kfac_factors(net, x, y)
    >>> [len(log_eigenvalues(f)) for f in layers] == [4 * 4, 5 * 2]
    True
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evoforge.activations.equivalence import outputs
from evoforge.activations.expr import Node
from evoforge.activations.formula import to_text

#: Log-eigenvalue histogram range (natural log), as in the chapter.
LOG_RANGE = (-100.0, 100.0)
#: Weights per histogram bin.
WEIGHTS_PER_BIN = 100


@dataclass(frozen=True)
class LayerFactors:
    """The K-FAC factors of one layer: ``omega`` (inputs, bias first) and ``gamma``
    (output gradients), float64; ``n_weights`` = |θ_l| = dim Ω · dim Γ."""

    name: str
    omega: torch.Tensor
    gamma: torch.Tensor

    @property
    def n_weights(self) -> int:
        return self.omega.shape[0] * self.gamma.shape[0]


def _patches(module: nn.Conv2d, a: torch.Tensor) -> torch.Tensor:
    """(M·T, J·|Δ|) rows of unfolded input patches."""
    cols = F.unfold(
        a, module.kernel_size, dilation=module.dilation, padding=module.padding,
        stride=module.stride,
    )  # fmt: skip
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def kfac_factors(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[LayerFactors]:
    """Ω and Γ of every `nn.Linear` and `nn.Conv2d` in ``model`` on the batch ``(x, y)``.

    Gradients are per example: the loss is the *summed* cross-entropy, so the
    gradient reaching a layer's output row i is example i's own gradient.
    Raises ``ValueError`` for grouped convolutions (not covered by the chapter's
    formulas here).
    """
    inputs: dict[str, torch.Tensor] = {}
    grads: dict[str, torch.Tensor] = {}
    outputs_of: dict[str, torch.Tensor] = {}
    handles = []
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    for name, module in layers:
        if isinstance(module, nn.Conv2d) and module.groups != 1:
            raise ValueError(f"{name}: grouped convolutions are not supported")

        def fwd(mod: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor, name=name):
            inputs[name] = args[0].detach()
            outputs_of[name] = out.detach().double()
            out.register_hook(lambda g, name=name: grads.__setitem__(name, g.detach()))

        handles.append(module.register_forward_hook(fwd))
    try:
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y, reduction="sum")
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    if not bool(torch.isfinite(loss)):
        raise FloatingPointError("the loss is not finite")
    out = []
    m = x.shape[0]
    for name, module in layers:
        a = inputs[name].double()
        # No gradient reaches a layer whose output the loss does not depend on
        # (a constant activation function after it): Γ is then 0.
        g = grads[name].double() if name in grads else torch.zeros_like(outputs_of[name])
        if isinstance(module, nn.Conv2d):
            rows = _patches(module, a)
            g = g.permute(0, 2, 3, 1).reshape(-1, g.shape[1])  # (M·T, I)
            t = g.shape[0] // m
        else:
            rows, t = a.reshape(-1, a.shape[-1]), 1
            g = g.reshape(-1, g.shape[-1])
        if module.bias is not None:
            rows = torch.cat([torch.ones(rows.shape[0], 1, dtype=rows.dtype), rows], dim=1)
        omega = rows.T @ rows / m
        gamma = g.T @ g / (m * t)
        out.append(LayerFactors(name, omega, gamma))
    return out


def log_eigenvalues(f: LayerFactors) -> np.ndarray:
    """log of the |θ_l| eigenvalues of Ω ⊗ Γ: all pairwise sums of the factors'
    log-eigenvalues (eigenvalues ≤ 0 become the smallest positive float)."""
    tiny = np.finfo(np.float64).tiny
    lo = np.log(np.maximum(torch.linalg.eigvalsh(f.omega).numpy(), tiny))
    lg = np.log(np.maximum(torch.linalg.eigvalsh(f.gamma).numpy(), tiny))
    return (lo[:, None] + lg[None, :]).ravel()


def n_bins(n_weights: int) -> int:
    """⌊|θ_l| / 100⌋ bins, at least one.

    Example:
        >>> n_bins(12608), n_bins(650), n_bins(40)
        (126, 6, 1)
    """
    return max(1, n_weights // WEIGHTS_PER_BIN)


def layer_histogram(log_eigs: np.ndarray, n_weights: int) -> np.ndarray:
    """Counts of ``log_eigs`` in `n_bins` equal bins on `LOG_RANGE` (clipped into it).

    Example:
        >>> layer_histogram(np.array([-500.0, 0.5, 99.0]), 200).tolist()
        [1.0, 2.0]
    """
    lo, hi = LOG_RANGE
    counts, _ = np.histogram(np.clip(log_eigs, lo, hi), bins=n_bins(n_weights), range=(lo, hi))
    return counts.astype(np.float64)


def fim_histograms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray | None:
    """The concatenated per-layer histograms, or None if anything is not finite."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layers = kfac_factors(model, x, y)
    except (FloatingPointError, RuntimeError):
        return None
    parts = []
    for f in layers:
        if not (bool(torch.isfinite(f.omega).all()) and bool(torch.isfinite(f.gamma).all())):
            return None
        eig = log_eigenvalues(f)
        if not np.isfinite(eig).all():
            return None
        parts.append(layer_histogram(eig, f.n_weights))
    return np.concatenate(parts)


def layer_sizes(model: nn.Module) -> list[int]:
    """|θ_l| of each layer `kfac_factors` covers, in order.

    Example:
        >>> layer_sizes(nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2, bias=False)))
        [16, 8]
    """
    out = []
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Conv2d):
            out.append(m.weight.numel() + (0 if m.bias is None else m.bias.numel()))
    return out


def function_outputs(genome: Node) -> np.ndarray | None:
    """Outputs on the fixed samples, or None if any is not finite."""
    out = outputs(genome)
    return out if np.isfinite(out).all() else None


@dataclass
class Features:
    """Features of a list of functions: ``valid[i]`` is False for a filtered one
    (its rows of ``fim`` and ``outputs`` are zeros). ``seconds`` is the CPU
    time spent computing them."""

    functions: list[str]
    fim: np.ndarray  # (N, total bins)
    outputs: np.ndarray  # (N, 1000)
    valid: np.ndarray  # (N,) bool
    sizes: list[int]  # |θ_l| per layer
    seconds: float = 0.0

    def save(self, path: str | Path) -> None:
        """One ``.npz`` (strings as a unicode array, loaded without pickle)."""
        np.savez_compressed(
            path, functions=np.array(self.functions, dtype=str), fim=self.fim.astype(np.float32),
            outputs=self.outputs, valid=self.valid, sizes=np.array(self.sizes),
            seconds=np.array(self.seconds),
        )  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> Features:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                z["functions"].tolist(), z["fim"].astype(np.float64), z["outputs"], z["valid"],
                z["sizes"].tolist(), float(z["seconds"]),
            )  # fmt: skip

    def then(self, more: Features) -> Features:
        """These functions' features followed by ``more``'s. A part in which no
        network could be built has no layer sizes (and zero-width FIM rows);
        its rows are widened with zeros.

        Example:
            >>> a = Features(["x"], np.ones((1, 2)), np.ones((1, 3)), np.array([True]), [100, 100])
            >>> b = Features(["y"], np.zeros((1, 0)), np.zeros((1, 3)), np.array([False]), [])
            >>> both = a.then(b)
            >>> both.functions, both.fim.shape, both.sizes
            (['x', 'y'], (2, 2), [100, 100])
        """
        if not self.functions:
            return more
        sizes = self.sizes or more.sizes
        width = sum(n_bins(s) for s in sizes)

        def widened(fim: np.ndarray) -> np.ndarray:
            return fim if fim.shape[1] == width else np.zeros((len(fim), width))

        return Features(
            self.functions + more.functions,
            np.concatenate([widened(self.fim), widened(more.fim)]),
            np.concatenate([self.outputs, more.outputs]),
            np.concatenate([self.valid, more.valid]),
            sizes,
            self.seconds + more.seconds,
        )


def compute_features(
    functions: Sequence[Node],
    make_model: Callable[[Node], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    progress: Callable[[int], None] | None = None,
) -> Features:
    """FIM histograms and outputs of every function; ``make_model(genome)``
    returns the initialised network (e.g. with AutoInit, seeded)."""
    torch.set_num_threads(1)
    start = time.process_time()
    n = len(functions)
    fims: list[np.ndarray | None] = []
    outs: list[np.ndarray | None] = []
    sizes: list[int] = []
    for i, g in enumerate(functions):
        out = function_outputs(g)
        hist = None
        if out is not None:
            try:
                model = make_model(g)
            except (RuntimeError, ValueError, ArithmeticError):
                model = None
            if model is not None:
                sizes = sizes or layer_sizes(model)
                hist = fim_histograms(model, x, y)
        fims.append(hist)
        outs.append(out)
        if progress is not None:
            progress(i + 1)
    width = sum(n_bins(s) for s in sizes)
    fim = np.zeros((n, width))
    out_arr = np.zeros((n, len(outputs(functions[0])) if n else 0))
    valid = np.zeros(n, dtype=bool)
    for i, (h, o) in enumerate(zip(fims, outs, strict=True)):
        if h is not None and o is not None:
            fim[i], out_arr[i], valid[i] = h, o, True
    return Features(
        [to_text(g) for g in functions], fim, out_arr, valid, sizes, time.process_time() - start
    )


class FeatureCache:
    """Features of one space × network, kept as ``<dir>/features-<key>.npz``.

    ``key`` hashes a JSON description (space name, network, data batch), so a
    different network never reads another's features. They are computed in
    blocks of ``block`` functions, each saved as it ends
    (``features-<key>.part.npz``), so a stopped computation resumes after the
    last saved block.

    Example:
        >>> import tempfile
        >>> from evoforge.activations.formula import parse
        >>> net = lambda g: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        >>> _ = torch.manual_seed(0)
        >>> x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
        >>> cache = FeatureCache(tempfile.mkdtemp(), {"space": "demo"})
        >>> f = cache.get([parse("relu(x)"), parse("exp(exp(exp(x)))")], net, x, y)
        >>> f.valid.tolist(), cache.path.exists()
        ([True, False], True)
    """

    def __init__(
        self, directory: str | Path, describe: dict[str, object], block: int = 256
    ) -> None:
        blob = json.dumps(describe, sort_keys=True).encode()
        self.key = hashlib.sha256(blob).hexdigest()[:16]
        self.path = Path(directory) / f"features-{self.key}.npz"
        self.part_path = self.path.with_suffix(".part.npz")
        self.describe = describe
        self.block = block

    def get(
        self,
        functions: Sequence[Node],
        make_model: Callable[[Node], nn.Module],
        x: torch.Tensor,
        y: torch.Tensor,
        progress: Callable[[int], None] | None = None,
    ) -> Features:
        """Cached features if they cover exactly ``functions``; else compute the
        rest (after a saved part that starts the list) and save."""
        names = [to_text(g) for g in functions]
        if self.path.exists():
            feats = Features.load(self.path)
            if feats.functions == names:
                return feats
        done = self._saved_part(names)
        while len(done.functions) < len(functions):
            start = len(done.functions)
            offset = None if progress is None else (lambda i, s=start: progress(s + i))
            block = functions[start : start + self.block]
            done = done.then(compute_features(block, make_model, x, y, offset))
            if len(done.functions) < len(functions):
                self._write(done, self.part_path)
        self._write(done, self.path)
        self.part_path.unlink(missing_ok=True)
        return done

    def _saved_part(self, names: list[str]) -> Features:
        """The saved part if it starts ``names`` (else nothing computed yet)."""
        if self.part_path.exists():
            part = Features.load(self.part_path)
            if part.functions == names[: len(part.functions)]:
                return part
        return Features([], np.zeros((0, 0)), np.zeros((0, 0)), np.zeros(0, dtype=bool), [])

    def _write(self, feats: Features, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        feats.save(tmp)
        tmp.replace(path)  # never a half-written file


def seconds_per_1000(feats: Features) -> float:
    """CPU seconds per 1,000 functions for ``feats``."""
    return 1000.0 * feats.seconds / max(len(feats.functions), 1) if feats.functions else math.nan
