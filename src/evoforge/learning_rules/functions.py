"""The unary and binary functions of the Backprop Evolution DSL (Appendix A).

Every function works on 2-D matrices (activations are ``(batch, features)``;
convolutional activations are first joined to ``(batch, C·H·W)``) and on
`ConvOperator` values, the convolution weights that stand for the layer's
dense-equivalent matrix. A unary function keeps its argument's shape except
the transpose; binary element-wise functions need equal shapes, and matrix
multiplication needs matching inner dimensions (`binary_shape`).

Parameterised unary functions are separate choices, one per value, so a
mutation that swaps "a unary function for another" may also change a value:
``scale[a]`` (a·x), ``shift[b]`` (x + b), ``addnoise[g]``, ``mulnoise[g]``
(g ∈ {0.01, 0.1, 0.5, 1.0}), ``drop[d]`` (d ∈ {0.01, 0.1, 0.3}) and
``clip[c]`` (c ∈ {0.01, 0.1, 0.5, 1.0}). The values of ``a`` and ``b`` are
not listed in the paper; we use the constants its Table 1 shows.

Example:
    >>> import torch
    >>> x = torch.tensor([[3.0, -4.0]])
    >>> apply_unary(Unary("norm_fro"), x, RuntimeState(0), ("k",)).round(decimals=3).tolist()
    [[0.6000000238418579, -0.800000011920929]]
    >>> apply_binary("matmul", torch.ones(2, 3), torch.ones(3, 4)).shape
    torch.Size([2, 4])
    >>> binary_shape("add", (5, 7), (7, 5)) is None
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

#: Running-average factor of the running statistics (Appendix A: r = 0.9).
RUNNING_FACTOR = 0.9
# Guards a division by a norm that is exactly zero (an all-zero signal), which
# would otherwise turn a harmless zero update into NaN.
_NORM_EPS = 1e-12

NOISE_SCALES = (0.01, 0.1, 0.5, 1.0)
DROP_RATES = (0.01, 0.1, 0.3)
CLIP_VALUES = (0.01, 0.1, 0.5, 1.0)
SCALES = (0.01, 0.1, 0.5, 2.0, 10.0)
SHIFTS = (-10.0, -1.0, -0.5, -0.1, -0.01, 0.01, 0.1, 0.5, 1.0, 2.0, 10.0)
NORM_ORDERS = ("0", "1", "2", "-inf", "inf")

# name -> parameter values (empty: no parameter).
UNARY_PARAMS: dict[str, tuple[float, ...]] = {
    "id": (),
    "T": (),
    "inv": (),
    "abs": (),
    "neg": (),
    "ind": (),  # 1 if x > 0 else 0
    "relu": (),
    "sgn": (),
    "sqrt_abs": (),
    "ssqrt": (),  # sgn(x) sqrt|x|
    "sq": (),
    "ssq": (),  # sgn(x) x^2
    "cube": (),
    "scale": SCALES,
    "shift": SHIFTS,
    "addnoise": NOISE_SCALES,
    "mulnoise": NOISE_SCALES,
    "drop": DROP_RATES,
    "clip": CLIP_VALUES,
    **{f"norm_elem{o}": () for o in NORM_ORDERS},
    **{f"norm_col{o}": () for o in NORM_ORDERS},
    **{f"norm_row{o}": () for o in NORM_ORDERS},
    "norm_fro": (),
    "norm_mat1": (),
    "norm_mat-inf": (),
    "norm_matinf": (),
    "runnorm": (),  # (x - m̂(x)) / sqrt(ŝ(x²)), running averages with r = 0.9
}

#: The binary functions f(x, y).
BINARY: tuple[str, ...] = ("add", "sub", "mul", "div", "matmul", "left", "min", "max")


@dataclass(frozen=True, order=True)
class Unary:
    """A unary function choice: its name and, for parameterised ones, the value."""

    name: str
    param: float | None = None

    def __post_init__(self) -> None:
        if self.name not in UNARY_PARAMS:
            raise ValueError(f"unknown unary function {self.name!r}")
        values = UNARY_PARAMS[self.name]
        if values and self.param not in values:
            raise ValueError(f"{self.name} takes a value in {values}, got {self.param!r}")
        if not values and self.param is not None:
            raise ValueError(f"{self.name} takes no value, got {self.param!r}")

    def __str__(self) -> str:
        return self.name if self.param is None else f"{self.name}[{self.param:g}]"


#: Every unary choice, one per parameter value (what a mutation draws from).
UNARY_CHOICES: tuple[Unary, ...] = tuple(
    Unary(name, p) for name, values in UNARY_PARAMS.items() for p in (values or (None,))
)


class ConvOperator:
    """A convolution weight standing for its layer's dense-equivalent matrix.

    ``shape`` is ``(out_flat, in_flat)`` = ``(C'·H'·W', C·H·W)``, so shape
    inference treats it as the matrix of the convolution; ``x · W`` (x of
    shape ``(batch, out_flat)``) maps to the convolution's input gradient (a
    transposed convolution) and ``x · Wᵀ`` to the convolution itself, as
    Appendix A maps matrix multiplications to convolution operations.
    Element-wise functions act on the kernel.
    """

    def __init__(
        self,
        kernel: torch.Tensor,
        in_shape: tuple[int, ...],
        out_shape: tuple[int, ...],
        conv: dict[str, Any],
        transposed: bool = False,
    ) -> None:
        self.kernel = kernel
        self.in_shape = tuple(in_shape)
        self.out_shape = tuple(out_shape)
        self.conv = conv
        self.transposed = transposed

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = math.prod(self.out_shape), math.prod(self.in_shape)
        return (cols, rows) if self.transposed else (rows, cols)

    def with_kernel(self, kernel: torch.Tensor) -> ConvOperator:
        return ConvOperator(kernel, self.in_shape, self.out_shape, self.conv, self.transposed)

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> ConvOperator:
        """Apply a matrix function to the kernel viewed as ``(C_out, C_in·k·k)``."""
        k = self.kernel
        return self.with_kernel(fn(k.reshape(k.shape[0], -1)).reshape(k.shape))

    def T(self) -> ConvOperator:
        return ConvOperator(
            self.kernel, self.in_shape, self.out_shape, self.conv, not self.transposed
        )

    def left_multiply(self, x: torch.Tensor) -> torch.Tensor:
        """``x · self`` for ``x`` of shape ``(batch, self.shape[0])``."""
        if x.ndim != 2 or x.shape[1] != self.shape[0]:
            raise ValueError(f"shape mismatch: {tuple(x.shape)} · conv{self.shape}")
        if self.transposed:  # x lives at the layer's input: run the convolution
            out = F.conv2d(x.reshape(-1, *self.in_shape), self.kernel, **self.conv)
            return out.reshape(x.shape[0], -1)
        grad = torch.nn.grad.conv2d_input(
            (x.shape[0], *self.in_shape), self.kernel, x.reshape(-1, *self.out_shape), **self.conv
        )
        return grad.reshape(x.shape[0], -1)


Value = torch.Tensor | ConvOperator


@dataclass
class RuntimeState:
    """What an equation keeps between training steps: running statistics and
    the generator of its noise and dropout (seeded, so runs repeat)."""

    seed: int
    stats: dict[Hashable, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    generator: torch.Generator | None = None

    def gen(self) -> torch.Generator:
        if self.generator is None:
            self.generator = torch.Generator().manual_seed(self.seed)
        return self.generator

    def running(self, key: Hashable, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Update and return the running mean m̂ and mean square of ``x``,
        per column (averaged over rows: per feature over the batch for
        activations), broadcast back to ``x``'s shape."""
        x = x.detach()
        col_mean = x.mean(dim=0, keepdim=True)
        col_sq = x.pow(2).mean(dim=0, keepdim=True)
        old = self.stats.get(key)
        if old is None or old[0].shape != col_mean.shape:
            mean, sq = col_mean, col_sq  # first step: no history to average
        else:
            r = RUNNING_FACTOR
            mean, sq = r * old[0] + (1 - r) * col_mean, r * old[1] + (1 - r) * col_sq
        self.stats[key] = (mean, sq)
        return mean.expand_as(x), sq.expand_as(x)


def _vector_norm(x: torch.Tensor, order: str, dim: int | None) -> torch.Tensor:
    a = x.abs()
    if order == "0":
        n = (a > 0).to(x.dtype)
        return n.sum() if dim is None else n.sum(dim=dim, keepdim=True)
    if order == "inf":
        return a.max() if dim is None else a.amax(dim=dim, keepdim=True)
    if order == "-inf":
        return a.min() if dim is None else a.amin(dim=dim, keepdim=True)
    p = float(order)
    return torch.linalg.vector_norm(x, p, dim=dim, keepdim=dim is not None)


def _matrix(x: torch.Tensor, name: str, state: RuntimeState, key: Hashable) -> torch.Tensor:
    """A unary function (other than the transpose) on a plain matrix."""
    p = None
    match name:
        case "id":
            return x
        case "inv":
            return 1.0 / x
        case "abs":
            return x.abs()
        case "neg":
            return -x
        case "ind":
            return (x > 0).to(x.dtype)
        case "relu":
            return x.clamp_min(0)
        case "sgn":
            return x.sign()
        case "sqrt_abs":
            return x.abs().sqrt()
        case "ssqrt":
            return x.sign() * x.abs().sqrt()
        case "sq":
            return x * x
        case "ssq":
            return x.sign() * x * x
        case "cube":
            return x * x * x
        case "runnorm":
            mean, sq = state.running(key, x)
            return (x - mean) / sq.sqrt().clamp_min(_NORM_EPS)
        case "norm_fro":
            p = torch.linalg.matrix_norm(x, "fro")
        case "norm_mat1":  # largest absolute column sum
            p = x.abs().sum(dim=0).max()
        case "norm_matinf":  # largest absolute row sum
            p = x.abs().sum(dim=1).max()
        case "norm_mat-inf":  # smallest absolute row sum
            p = x.abs().sum(dim=1).min()
    if p is None and name.startswith("norm_"):
        for prefix, dim in (("norm_elem", None), ("norm_col", 0), ("norm_row", 1)):
            if name.startswith(prefix):
                p = _vector_norm(x, name[len(prefix) :], dim)
                break
    if p is None:
        raise ValueError(f"unknown unary function {name!r}")
    return x / (p + _NORM_EPS)


def apply_unary(u: Unary, x: Value, state: RuntimeState, key: Hashable) -> Value:
    """``u(x)``; ``key`` names this use's running statistics in ``state``."""
    if u.name == "T":
        return x.T() if isinstance(x, ConvOperator) else x.T
    if isinstance(x, ConvOperator):
        return x.map(lambda k: apply_unary(u, k, state, key))  # type: ignore[arg-type,return-value]
    v = u.param
    match u.name:
        case "scale":
            return v * x
        case "shift":
            return x + v
        case "clip":
            return x.clamp(-v, v)
        case "addnoise":
            return x + v * torch.randn(x.shape, generator=state.gen()).to(x)
        case "mulnoise":
            return x * (1 + v * torch.randn(x.shape, generator=state.gen()).to(x))
        case "drop":
            keep = torch.rand(x.shape, generator=state.gen()).to(x.device) >= v
            return x * keep.to(x.dtype) / (1 - v)
    return _matrix(x, u.name, state, key)


def unary_shape(u: Unary, shape: tuple[int, int]) -> tuple[int, int]:
    """The shape of ``u(x)`` for ``x`` of ``shape``."""
    return (shape[1], shape[0]) if u.name == "T" else shape


def binary_shape(f: str, a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    """The shape of ``f(x, y)``, or None when the shapes do not fit."""
    if f == "left":
        return a
    if f == "matmul":
        return (a[0], b[1]) if a[1] == b[0] else None
    return a if a == b else None


def apply_binary(f: str, x: Value, y: Value) -> Value:
    """``f(x, y)``; raises ValueError for shapes that do not fit."""
    if f == "left":
        return x
    if f == "matmul":
        if isinstance(y, ConvOperator) and isinstance(x, torch.Tensor):
            return y.left_multiply(x)
        if isinstance(x, ConvOperator) or isinstance(y, ConvOperator):
            raise ValueError("a convolution weight can only be the right factor of x · y")
        if x.shape[1] != y.shape[0]:
            raise ValueError(f"shape mismatch: {tuple(x.shape)} · {tuple(y.shape)}")
        return x @ y
    if isinstance(x, ConvOperator) and isinstance(y, ConvOperator):
        if x.kernel.shape != y.kernel.shape or x.transposed != y.transposed:
            raise ValueError(f"shape mismatch: conv{x.shape} {f} conv{y.shape}")
        return x.with_kernel(_elementwise(f, x.kernel, y.kernel))
    if isinstance(x, ConvOperator) or isinstance(y, ConvOperator):
        raise ValueError(f"{f}: a convolution weight and an activation do not combine")
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: {tuple(x.shape)} {f} {tuple(y.shape)}")
    return _elementwise(f, x, y)


def _elementwise(f: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    match f:
        case "add":
            return x + y
        case "sub":
            return x - y
        case "mul":
            return x * y
        case "div":
            return x / y
        case "min":
            return torch.minimum(x, y)
        case "max":
            return torch.maximum(x, y)
    raise ValueError(f"unknown binary function {f!r}")
