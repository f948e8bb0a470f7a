"""Mean and variance propagation rules of AutoInit (Bingham & Miikkulainen, ch. 5).

Every rule maps the `Moments` (mean, variance over all elements) of a layer's
input(s) to those of its output, assuming, as the paper does, that the input
elements are independent and that different inputs are independent of each
other. `gaussian_expectations` integrates an arbitrary elementwise function
against a Gaussian by adaptive Gauss-Legendre quadrature, vectorised so that one
call of the function evaluates a whole refinement round.

Where evoforge is more exact than the paper it says so: dropout and zero padding
keep the ``mean**2`` terms that the paper's formulas drop (they are exact for
zero-mean inputs only), `weighted_output` evaluates the rule for a layer's
actual weights and padding, and `shared_variance` measures the per-channel
offsets that weight sharing creates.

Example:
    >>> import math, torch
    >>> relu = gaussian_moments(torch.relu, Moments(0.0, 1.0))
    >>> round(relu.second, 12), round(relu.mean, 6) == round(1 / math.sqrt(2 * math.pi), 6)
    (0.5, True)
    >>> weight_std(fan_in=100, moments=relu) == math.sqrt(2 / 100)  # He initialisation
    True
    >>> add([Moments(1.0, 2.0), Moments(0.5, 1.0)])
    Moments(mean=1.5, var=3.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "Moments",
    "add",
    "concatenate",
    "constant_pad",
    "dropout",
    "empirical",
    "gaussian_expectations",
    "gaussian_moments",
    "matmul",
    "multiply",
    "normalised",
    "per_channel_affine",
    "shared_variance",
    "subtract",
    "weight_std",
    "weighted_output",
]


@dataclass(frozen=True)
class Moments:
    """Mean and variance of a signal, taken over all its elements.

    Example:
        >>> Moments(1.0, 3.0).second
        4.0
    """

    mean: float
    var: float

    @property
    def second(self) -> float:
        """The raw second moment E[x²] = var + mean²."""
        return self.var + self.mean**2

    @property
    def finite(self) -> bool:
        """Whether both statistics are finite numbers."""
        return math.isfinite(self.mean) and math.isfinite(self.var)

    @classmethod
    def from_raw(cls, mean: float, second: float) -> Moments:
        """Moments from E[x] and E[x²]; round-off never makes the variance negative."""
        return cls(mean, max(second - mean**2, 0.0))


# --- weighted layers ---------------------------------------------------------


def weight_std(fan_in: float, moments: Moments, target_variance: float = 1.0) -> float:
    """Weight std that gives a zero-mean-weight layer output variance `target_variance`.

    ν_out = fan_in · Var(W) · (ν_in + μ_in²)  ⇒  std = √(target / (fan_in · E[x²])).
    `fan_in` may be fractional: a convolution with zero padding sees, on average,
    fewer real inputs than its kernel has taps.

    Example:
        >>> weight_std(50, Moments(0.0, 1.0), 2.0)
        0.2
    """
    return math.sqrt(target_variance / (fan_in * moments.second))


def weighted_output(
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    moments: Moments,
    shared: float = 0.0,
    taps: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[Moments, float]:
    """Output moments of ``y = W x + b`` for the layer's actual weights.

    `weight` is (outputs, input channels, kernel taps) — (out, in, 1) for a
    linear layer. `taps` describes zero padding as (patterns, frequencies): each
    row of `patterns` marks which taps fall on real input at some output
    positions, and `frequencies` says how often each pattern occurs. `shared`
    is the part of the input variance that is constant within a channel (see
    `shared_variance`). This is the paper's rule evaluated for fixed weights
    instead of in expectation over them: with S_oc the sum of channel c's valid
    weights, E[y_o] = μ·Σ_c S_oc + b_o and
    Var(y_o) = (ν - shared)·Σ W² + shared·Σ_c S_oc², averaged over outputs and
    positions. Returns the moments and the output's own shared variance.

    Example:
        >>> m, _ = weighted_output(torch.ones(2, 3, 1), torch.zeros(2), Moments(1.0, 1.0))
        >>> m
        Moments(mean=3.0, var=3.0)
    """
    w = weight.detach().double().cpu()
    if taps is None:
        patterns = torch.ones(1, w.shape[2], dtype=torch.float64)
        frequencies = torch.ones(1, dtype=torch.float64)
    else:
        patterns, frequencies = (t.double() for t in taps)
    sums = torch.einsum("oik,uk->oiu", w, patterns)  # valid weight sum per channel, pattern
    squares = torch.einsum("oik,uk->ou", w**2, patterns)
    means = moments.mean * sums.sum(1)
    if bias is not None:
        means = means + bias.detach().double().cpu()[:, None]
    within = (moments.var - shared) * squares + shared * sums.pow(2).sum(1)
    mean = float((means.mean(0) * frequencies).sum())
    second = float(((within + means**2).mean(0) * frequencies).sum())
    channel_means = (means * frequencies).sum(1)
    # Only what is constant across positions is shared: average over positions first.
    out_shared = channel_means.var(unbiased=False) + shared * (
        (sums * frequencies).sum(2).pow(2).sum(1).mean()
    )
    return Moments.from_raw(mean, second), float(out_shared)


# --- elementwise functions: adaptive quadrature --------------------------------

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(10)
_Z_MAX = 12.0  # N(0,1) puts 4e-33 of its mass beyond ±12σ
_MAX_PANELS = 4096


def gaussian_expectations(
    fn: Callable[[torch.Tensor], torch.Tensor],
    mean: float,
    var: float,
    *,
    scales: Sequence[float] | None = None,
    rtol: float = 1e-10,
    max_rounds: int = 30,
) -> tuple[float, float]:
    """(E[f(x)], E[f(x)²]) for x ~ N(mean, var) by adaptive Gauss-Legendre quadrature.

    `fn` maps a 1-D float64 tensor of points to a tensor of the same shape. The
    integral runs over z = (x - mean)/σ ∈ [-12, 12] with a break at x = 0 (where
    ReLU-like functions have their kink); each panel compares a 10-point rule on
    the whole panel with the same rule on its halves and is bisected until the two
    agree to `rtol` of the total. Non-finite function values give NaN.

    `scales` makes x an equal-weight mixture of N(mean, var·s) over s in
    `scales`: examples whose inputs are larger or smaller than average, whose
    spread an activation with a convex variance map (SiLU, GELU) amplifies.

    Example:
        >>> e, e2 = gaussian_expectations(torch.tanh, 0.0, 1.0)
        >>> abs(e) < 1e-12, round(e2, 6)
        (True, 0.394294)
        >>> round(gaussian_expectations(torch.relu, 0.0, 1.0, scales=[0.5, 1.5])[1], 9)
        0.5
    """
    if var <= 0.0:
        value = float(fn(torch.tensor([mean], dtype=torch.float64))[0])
        return value, value**2
    sds = math.sqrt(var) * np.sqrt(np.asarray([1.0] if scales is None else scales, dtype=float))
    edges = np.linspace(-_Z_MAX, _Z_MAX, 25)
    kinks = -mean / sds[sds > 0] if mean else np.zeros(1)
    edges = np.unique(np.concatenate([edges, kinks[np.abs(kinks) < _Z_MAX]]))
    lo, hi = edges[:-1], edges[1:]
    accepted = np.zeros(2)
    for round_ in range(max_rounds):
        whole, halves = _panel_integrals(fn, mean, sds, lo, hi)
        if not np.all(np.isfinite(halves)):
            return math.nan, math.nan
        total = np.abs(accepted + halves.sum(0))
        # E[f] may be 0 (odd f): measure its error against √E[f²], the scale of f.
        scale = np.array([max(total[0], math.sqrt(total[1])), total[1]])
        tol = rtol * scale * ((hi - lo) / (2 * _Z_MAX))[:, None] + 1e-300
        done = np.all(np.abs(halves - whole) <= tol, axis=1)
        if round_ == max_rounds - 1 or 2 * np.count_nonzero(~done) > _MAX_PANELS:
            done[:] = True
        accepted += halves[done].sum(0)
        lo, hi = lo[~done], hi[~done]
        if lo.size == 0:
            break
        mid = (lo + hi) / 2
        lo, hi = np.concatenate([lo, mid]), np.concatenate([mid, hi])
    return float(accepted[0]), float(accepted[1])


def _panel_integrals(
    fn: Callable[[torch.Tensor], torch.Tensor],
    mean: float,
    sds: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrals of f·φ and f²·φ per panel: one rule on the whole, one on each half."""
    mid = (lo + hi) / 2
    starts = np.stack([lo, lo, mid])  # whole panel, left half, right half
    ends = np.stack([hi, mid, hi])
    half_width = (ends - starts) / 2
    z = (starts + ends)[..., None] / 2 + half_width[..., None] * _GL_NODES
    x = mean + sds[:, None, None, None] * z  # one copy of the points per mixture component
    raw = fn(torch.from_numpy(x.ravel())).double().numpy().reshape(x.shape)
    values, values_sq = raw.mean(0), (raw**2).mean(0)
    density = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    weights = _GL_WEIGHTS * density * half_width[..., None]
    moments = np.stack([(values * weights).sum(-1), (values_sq * weights).sum(-1)], -1)
    return moments[0], moments[1] + moments[2]


def gaussian_moments(
    fn: Callable[[torch.Tensor], torch.Tensor],
    moments: Moments,
    scales: Sequence[float] | None = None,
    rtol: float = 1e-10,
) -> Moments:
    """Output moments of an elementwise `fn` applied to a Gaussian with `moments`.

    `scales` and `rtol`: see `gaussian_expectations`; a function computed in
    float32 cannot be integrated more finely than about 1e-6.

    Example:
        >>> m = gaussian_moments(lambda x: 2 * x + 1, Moments(0.0, 1.0))
        >>> round(m.mean, 9), round(m.var, 9)
        (1.0, 4.0)
    """
    mean, second = gaussian_expectations(fn, moments.mean, moments.var, scales=scales, rtol=rtol)
    if not (math.isfinite(mean) and math.isfinite(second)):
        return Moments(math.nan, math.nan)
    return Moments.from_raw(mean, second)


# --- normalisation and dropout --------------------------------------------------


def normalised(weight: torch.Tensor | None, bias: torch.Tensor | None) -> Moments:
    """Output of a normalisation layer: a standardised signal, then its affine map.

    The affine parameters act per channel (or per element), so the output is a
    mixture: mean = mean(β), E[y²] = mean(γ²) + mean(β²).

    Example:
        >>> normalised(torch.full((4,), 2.0), torch.zeros(4))
        Moments(mean=0.0, var=4.0)
    """
    gamma_sq = 1.0 if weight is None else float(weight.detach().double().pow(2).mean())
    if bias is None:
        return Moments(0.0, gamma_sq)
    beta = bias.detach().double()
    return Moments.from_raw(float(beta.mean()), gamma_sq + float(beta.pow(2).mean()))


def per_channel_affine(moments: Moments, scale: torch.Tensor, shift: torch.Tensor) -> Moments:
    """Moments of ``y = a_c x + b_c`` (e.g. batch norm in eval mode), mixed over channels c.

    Example:
        >>> per_channel_affine(Moments(0.0, 1.0), torch.tensor([1.0, 3.0]), torch.zeros(2))
        Moments(mean=0.0, var=5.0)
    """
    a, b = scale.detach().double(), shift.detach().double()
    means = a * moments.mean + b
    return Moments.from_raw(float(means.mean()), float((a**2 * moments.var + means**2).mean()))


def dropout(moments: Moments, p: float) -> Moments:
    """Inverted dropout (PyTorch scales kept units by 1/(1-p)): E[y] = μ, E[y²] = E[x²]/(1-p).

    The paper's ν/(1-p) is the μ = 0 case of this.

    Example:
        >>> dropout(Moments(0.0, 1.0), 0.5)
        Moments(mean=0.0, var=2.0)
    """
    if p >= 1.0:
        return Moments(0.0, 0.0)
    return Moments.from_raw(moments.mean, moments.second / (1.0 - p))


# --- combining signals ----------------------------------------------------------


def add(inputs: Sequence[Moments]) -> Moments:
    """Sum of independent signals: means add, variances add."""
    return Moments(sum(m.mean for m in inputs), sum(m.var for m in inputs))


def subtract(a: Moments, b: Moments) -> Moments:
    """Difference of independent signals.

    Example:
        >>> subtract(Moments(1.0, 1.0), Moments(1.0, 2.0))
        Moments(mean=0.0, var=3.0)
    """
    return Moments(a.mean - b.mean, a.var + b.var)


def multiply(inputs: Sequence[Moments]) -> Moments:
    """Product of independent signals: Πμ and Π(ν + μ²) - Πμ².

    Example:
        >>> multiply([Moments(1.0, 1.0), Moments(2.0, 1.0)])
        Moments(mean=2.0, var=6.0)
    """
    mean = math.prod(m.mean for m in inputs)
    return Moments.from_raw(mean, math.prod(m.second for m in inputs))


def concatenate(inputs: Sequence[Moments], sizes: Sequence[int]) -> Moments:
    """Concatenation of signals with `sizes` elements each: a size-weighted mixture.

    Example:
        >>> concatenate([Moments(0.0, 1.0), Moments(2.0, 1.0)], [1, 1])
        Moments(mean=1.0, var=2.0)
    """
    total = sum(sizes)
    mean = sum(n * m.mean for m, n in zip(inputs, sizes, strict=True)) / total
    second = sum(n * m.second for m, n in zip(inputs, sizes, strict=True)) / total
    return Moments.from_raw(mean, second)


def constant_pad(moments: Moments, fraction: float, value: float = 0.0) -> Moments:
    """Padding that makes `fraction` of the output equal to `value` (zero padding: 0).

    The paper scales mean and variance by (1 - z); the exact mixture also moves
    the squared mean into the variance.

    Example:
        >>> constant_pad(Moments(0.0, 1.0), 0.25)
        Moments(mean=0.0, var=0.75)
    """
    mean = (1 - fraction) * moments.mean + fraction * value
    return Moments.from_raw(mean, (1 - fraction) * moments.second + fraction * value**2)


def matmul(a: Moments, b: Moments, inner: int) -> Moments:
    """Product of independent random matrices with inner dimension `inner`.

    Example:
        >>> matmul(Moments(0.0, 1.0), Moments(0.0, 2.0), 8)
        Moments(mean=0.0, var=16.0)
    """
    return Moments(inner * a.mean * b.mean, inner * (a.second * b.second - (a.mean * b.mean) ** 2))


# --- measurement ------------------------------------------------------------------


def empirical(samples: Sequence[torch.Tensor]) -> Moments:
    """Mean and (population) variance over all elements of `samples`.

    Example:
        >>> empirical([torch.tensor([0.0, 2.0]), torch.tensor([4.0])])
        Moments(mean=2.0, var=2.6666666666666665)
    """
    flat = torch.cat([s.detach().reshape(-1).double() for s in samples])
    if flat.numel() == 0:
        return Moments(0.0, 0.0)
    return Moments(float(flat.mean()), float(flat.var(unbiased=False)))


def shared_variance(samples: Sequence[torch.Tensor], axis: int) -> float:
    """Variance of the part of a signal that is constant across positions, per channel.

    A convolution's weights are the same at every position, so a nonzero input
    mean gives each output channel a constant offset of variance
    fan_in·Var(W)·μ². Offsets survive pooling (an average over positions keeps
    them whole), which the paper's independence assumption misses. Channels lie
    along `axis` (1 for convolutions, -1 for linear layers) and positions are
    all other non-batch dimensions. The estimate is the variance of per-channel
    means across (sample, channel) groups minus the within-group noise left in
    those means; 0 when there are no positions.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = 2 * torch.randn(4000, 3, 1, generator=g) + torch.randn(4000, 3, 50, generator=g)
        >>> round(shared_variance([x], axis=1), 1)
        4.0
    """
    means, variances = [], []
    for s in samples:
        if s.dim() < 3:
            return 0.0
        moved = s.detach().movedim(axis, 1)
        groups = moved.reshape(moved.shape[0] * moved.shape[1], -1)
        if groups.shape[1] < 2:
            return 0.0
        # One float32 pass per group (the groups are the large part); their
        # few per-group results are combined in float64.
        var, mean = torch.var_mean(groups, dim=1, unbiased=True)
        means.append(mean.double())
        variances.append(var.double())
    positions = samples[0].movedim(axis, 1)[0, 0].numel()
    mean_of_groups, within_var = torch.cat(means), torch.cat(variances)
    within = within_var.mean()
    estimate = float(mean_of_groups.var(unbiased=False) - within / positions)
    # Total variance = spread of the group means + the average within-group variance.
    total = mean_of_groups.var(unbiased=False) + within * (positions - 1) / positions
    return min(max(estimate, 0.0), float(total))
