"""The random generator behind the uniform/gaussian ops (59-64).

Both interpreters draw from this one compiled generator (SplitMix64 for
uniforms, Box-Muller for normals), so a program that samples gives the same
values under the numpy reference and the numba interpreter, and every task's
stream is fixed by the task's seed.

Example:
    >>> from evoforge.automl_zero.prng import new_state, uniform01
    >>> state = new_state(7)
    >>> 0.0 <= uniform01(state) < 1.0
    True
"""

from __future__ import annotations

import math

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_POW_MINUS_53 = 1.0 / 9007199254740992.0


def new_state(seed: int) -> np.ndarray:
    """A one-word generator state for ``seed``."""
    return np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)


@numba.njit(cache=True, nogil=True)
def uniform01(state: np.ndarray) -> float:
    """Next double in [0, 1), advancing ``state`` in place."""
    state[0] += _GOLDEN
    z = state[0]
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return float(z >> _S11) * _TWO_POW_MINUS_53


@numba.njit(cache=True, nogil=True)
def uniform(state: np.ndarray, low: float, high: float) -> float:
    return low + (high - low) * uniform01(state)


@numba.njit(cache=True, nogil=True)
def gaussian(state: np.ndarray, mean: float, std: float) -> float:
    # Box-Muller with 1 - u in (0, 1] so the log is finite.
    u1 = 1.0 - uniform01(state)
    u2 = uniform01(state)
    z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
    return mean + std * z
