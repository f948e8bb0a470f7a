"""Functional equivalence: the same outputs on fixed sample points.

`SAMPLES` are 1,000 draws from N(0, 1) truncated to [-5, 5] (rejection
sampling with ``numpy.random.default_rng(SEED)``), in float64. A genome is
evaluated there in float64 with every learnable parameter at its initial value
1. Two genomes are equivalent when their outputs agree: NaN in the same places,
±inf of the same sign in the same places, and finite values within
``|a - b| <= ATOL + RTOL * |b|``.

`signature` is a hashable digest for deduplication: each finite output is
rounded to ``SIG_BITS`` bits of mantissa (about 5 significant digits) with
values below ``ATOL`` set to 0, NaNs are made one canonical NaN, and the
bytes are hashed. Equal signatures imply equivalence within the rounding;
two outputs that straddle a rounding boundary can (rarely) get different
signatures, so `equivalent` is the exact test and `signature` the fast one.

Example:
    >>> from evoforge.activations.formula import parse
    >>> equivalent(parse("x * x"), parse("square(x)"))
    True
    >>> signature(parse("relu(x)")) == signature(parse("max(x, zero(x))"))
    True
    >>> equivalent(parse("tanh(x)"), parse("arctan(x)"))
    False
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import torch

from evoforge.activations.expr import Node
from evoforge.activations.graph import Graph, evaluate

SEED = 20240404
N_SAMPLES = 1000
BOUND = 5.0
RTOL = 1e-6
ATOL = 1e-9
SIG_BITS = 16


def _truncated_normal(n: int, bound: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out: list[float] = []
    while len(out) < n:
        draw = rng.standard_normal(n)
        out.extend(draw[np.abs(draw) <= bound][: n - len(out)].tolist())
    return np.asarray(out, dtype=np.float64)


SAMPLES: np.ndarray = _truncated_normal(N_SAMPLES, BOUND, SEED)
SAMPLES.setflags(write=False)


def outputs(genome: Graph | Node, points: np.ndarray | None = None) -> np.ndarray:
    """The genome's float64 outputs at ``points`` (default `SAMPLES`), parameters at 1.

    Example:
        >>> from evoforge.activations.formula import parse
        >>> outputs(parse("abs(x)"), np.array([-2.0, 3.0])).tolist()
        [2.0, 3.0]
    """
    pts = SAMPLES if points is None else np.asarray(points, dtype=np.float64)
    x = torch.from_numpy(pts.copy())
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = evaluate(genome, x)
    return np.broadcast_to(y.numpy().astype(np.float64), pts.shape).copy()


def same_outputs(a: np.ndarray, b: np.ndarray, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Whether two output vectors agree (NaN/inf positions and signs exactly, the rest
    within tolerance).

    Example:
        >>> same_outputs(np.array([1.0, np.nan]), np.array([1.0 + 1e-12, np.nan]))
        True
    """
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        return False
    inf_a, inf_b = np.isinf(a), np.isinf(b)
    if not np.array_equal(inf_a, inf_b) or not np.array_equal(a[inf_a], b[inf_b]):
        return False
    fin = ~(nan_a | inf_a)
    return bool(np.all(np.abs(a[fin] - b[fin]) <= atol + rtol * np.abs(b[fin])))


def equivalent(a: Graph | Node, b: Graph | Node) -> bool:
    """Whether two genomes compute the same function on `SAMPLES` (see the module docs).

    Example:
        >>> from evoforge.activations.formula import parse
        >>> equivalent(parse("x - x"), parse("zero(x)"))
        True
    """
    return same_outputs(outputs(a), outputs(b))


def canonical(values: np.ndarray) -> np.ndarray:
    """Outputs rounded for hashing: mantissas to `SIG_BITS` bits, |v| < `ATOL` to 0,
    one canonical NaN.

    Example:
        >>> canonical(np.array([1.0 + 1e-9, -1e-12])).tolist()
        [1.0, 0.0]
    """
    v = np.asarray(values, dtype=np.float64).copy()
    fin = np.isfinite(v)
    v[fin & (np.abs(v) < ATOL)] = 0.0
    mant, expo = np.frexp(v[fin])
    v[fin] = np.ldexp(np.round(mant * 2.0**SIG_BITS) / 2.0**SIG_BITS, expo)
    v[np.isnan(v)] = np.nan
    return v + 0.0  # turns -0.0 into 0.0


def signature(genome: Graph | Node) -> bytes:
    """A hashable 16-byte digest of the genome's rounded outputs on `SAMPLES`.

    Example:
        >>> from evoforge.activations.formula import parse
        >>> len(signature(parse("tanh(x)")))
        16
    """
    return signature_of_outputs(outputs(genome))


def signature_of_outputs(values: np.ndarray) -> bytes:
    """`signature` of already computed outputs.

    Example:
        >>> signature_of_outputs(np.zeros(3)) == signature_of_outputs(-np.zeros(3))
        True
    """
    v = canonical(values)
    v[np.isnan(v)] = np.float64("nan")  # one NaN bit pattern
    return hashlib.blake2b(v.tobytes(), digest_size=16).digest()


def fingerprint(genome: Graph | Node) -> int:
    """`signature` as a 64-bit int, for `evoforge.evolution.fec`'s fingerprints.

    Example:
        >>> from evoforge.activations.formula import parse
        >>> fingerprint(parse("x")) == fingerprint(parse("identity(x)"))
        True
    """
    return int.from_bytes(signature(genome)[:8], "little")
