"""Animal silhouettes (PyPI ``animal-mnist``): 10,000 28×28 grey images, 10 classes.

The package ships two gzipped pickles of numpy arrays,
``animal_data_version_3.gz`` (uint8 ``(10000, 28, 28)``) and
``animal_label_version_3.gz`` (int ``(10000,)``), sorted by class. They are
read with `evoforge.data.datasets`' restricted unpickler (numpy arrays only, a
crafted file raises `DatasetError`), from ``path`` (a folder holding both
files), ``$EVOFORGE_DATA/animal-mnist/`` or the installed package, in that order.
There is no official split: `load_animal_mnist` returns all images and callers
split them (evoforge's weight-sharing tasks draw disjoint train and test sets).

Example:
    >>> X, y = load_animal_mnist()  # doctest: +SKIP
    >>> X.shape, sorted(set(y.tolist()))[:3]  # doctest: +SKIP
    ((10000, 784), [0, 1, 2])
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from evoforge.data.datasets import DATA_ENV, DatasetError, _unpickle

DATA_FILE = "animal_data_version_3.gz"
LABEL_FILE = "animal_label_version_3.gz"
HOW_TO_GET = (
    f"pip install --no-deps animal-mnist, or put {DATA_FILE} and {LABEL_FILE} "
    f"in ${DATA_ENV}/animal-mnist/"
)


def locate_animal_mnist(path: str | Path | None = None) -> Path | None:
    """The folder holding both files, or None where none is found."""
    if path is not None:  # an explicit folder must hold the files: no fallback
        folder = Path(path).expanduser()
        if (folder / DATA_FILE).is_file() and (folder / LABEL_FILE).is_file():
            return folder
        raise DatasetError(f"{path}: expected {DATA_FILE} and {LABEL_FILE} there")
    folders = []
    if os.environ.get(DATA_ENV):
        folders.append(Path(os.environ[DATA_ENV]) / "animal-mnist")
    spec = importlib.util.find_spec("animal_mnist")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            folders.append(Path(root) / "data" / "Animal_MNIST")
    for folder in folders:
        if (folder / DATA_FILE).is_file() and (folder / LABEL_FILE).is_file():
            return folder
    return None


def load_animal_mnist(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``X`` float64 ``(n, 784)`` in [0, 1] and ``y`` int64 ``(n,)``."""
    folder = locate_animal_mnist(path)
    if folder is None:
        raise DatasetError(f"animal-mnist not found. To get it: {HOW_TO_GET}")
    images, labels = _unpickle(folder / DATA_FILE), _unpickle(folder / LABEL_FILE)
    if not (isinstance(images, np.ndarray) and images.ndim == 3 and images.shape[1:] == (28, 28)):
        shape = getattr(images, "shape", type(images).__name__)
        raise DatasetError(f"{folder / DATA_FILE}: expected an (n, 28, 28) array, got {shape}")
    if not (isinstance(labels, np.ndarray) and labels.shape == (images.shape[0],)):
        shape = getattr(labels, "shape", type(labels).__name__)
        raise DatasetError(
            f"{folder / LABEL_FILE}: expected ({images.shape[0]},) labels, got {shape}"
        )
    X = images.reshape(images.shape[0], -1).astype(np.float64) / 255.0
    return X, labels.astype(np.int64)
