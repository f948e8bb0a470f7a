"""MNIST-1D (Greydanus & Steinbach): ten classes of 40-sample 1-D signals, made locally.

The PyPI package ``mnist1d`` builds the dataset procedurally from ten 12-point
templates (padding, dilation, scaling, translation, correlated and i.i.d.
noise, shear, resampling to 40 points). evoforge calls its generator
(``mnist1d.data.make_dataset``) and never its ``get_dataset``, which would
download a pickle or write one to the working directory. With the package's
default arguments (5,000 signals, seed 42, 80 % train) this is the published
dataset: 4,000 training and 1,000 test signals.

The generator seeds numpy's and Python's global generators; `load_mnist1d`
restores both afterwards, so loading data never changes a caller's random
stream. Results are cached per (split, num_samples, seed) in the process.

It is far from linearly separable, unlike digits or Fashion-MNIST class
pairs: that leaves an evolved learner room to beat logistic regression.

Example:
    >>> X, y = load_mnist1d("train", num_samples=200, seed=3)
    >>> X.shape, X.dtype, y.dtype, sorted(set(y.tolist())) == list(range(10))
    ((160, 40), dtype('float64'), dtype('int64'), True)
"""

from __future__ import annotations

import random
from functools import cache

import numpy as np

SPLITS = ("train", "test")
HOW_TO_GET = "pip install mnist1d (evoforge generates the data locally; nothing is downloaded)"
DEFAULT_SAMPLES = 5000
DEFAULT_SEED = 42


@cache
def _generate(num_samples: int, seed: int) -> tuple[np.ndarray, ...]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as error:
        from evoforge.data.datasets import DatasetError

        raise DatasetError(f"mnist1d is not installed. To get it: {HOW_TO_GET}") from error
    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    arrays = []
    for key, kind in (
        ("x", np.float64),
        ("y", np.int64),
        ("x_test", np.float64),
        ("y_test", np.int64),
    ):
        array = np.ascontiguousarray(data[key], dtype=kind)
        array.flags.writeable = False
        arrays.append(array)
    return tuple(arrays)


def load_mnist1d(
    split: str = "train", *, num_samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """``X`` float64 ``(n, 40)`` (standardised over the whole dataset, as the package
    does) and ``y`` int64 ``(n,)`` of the ``"train"`` or ``"test"`` split. The
    arrays are read-only and shared between calls."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not isinstance(num_samples, int) or num_samples < 10:
        raise ValueError(f"num_samples must be an int >= 10 (one per class), got {num_samples!r}")
    x, y, x_test, y_test = _generate(num_samples, int(seed))
    return (x, y) if split == "train" else (x_test, y_test)
