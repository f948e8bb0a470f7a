"""Image classification data as tensors: train/validation/test splits for `evoforge.nn.train`.

`load_image_data` reads a dataset through `evoforge.data.datasets` (so the same
folders, ``$EVOFORGE_DATA`` and system installs are searched, and a missing
dataset raises the same `DatasetError` saying how to get it), reshapes the
images to ``(N, C, H, W)``, subsamples, and standardises every channel with the
mean and standard deviation of the training images.

How the splits are drawn (all by one seeded numpy generator, so a seed always
gives the same images):

* ``"digits"`` (scikit-learn's 1,797 8×8 images, one split): ``n_test`` images
  (default 360, about 20 %) are held out as the test split, the rest is the
  training pool.
* the others: the dataset's own test split is the test split (subsampled to
  ``n_test`` when given), its training split is the pool.
* the validation split is ``n_val`` images of the pool (an int is a count, a
  float a fraction of the pool), the training split ``n_train`` of the rest
  (all by default).

Example:
    >>> data = load_image_data("digits", n_train=500, n_val=200, seed=0)
    >>> tuple(data.x_train.shape), tuple(data.x_val.shape), tuple(data.x_test.shape)
    ((500, 1, 8, 8), (200, 1, 8, 8), (360, 1, 8, 8))
    >>> data.in_shape, data.num_classes
    ((1, 8, 8), 10)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from evoforge.data.datasets import DATASETS, DatasetError, read_dataset

# Image shape (C, H, W) of each dataset's flattened rows, in the files' order.
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}
NUM_CLASSES: dict[str, int] = {name: 10 for name in DATASETS}
DIGITS_TEST_SIZE = 360
_MIN_STD = 1e-8


@dataclass(frozen=True)
class ImageData:
    """Train, validation and (optionally) test splits as tensors.

    Inputs are float32 ``(N, ...)`` — ``(N, C, H, W)`` for images — and labels
    int64 ``(N,)`` class indices in ``[0, num_classes)``. ``mean`` and ``std``
    are the per-channel training statistics that were subtracted and divided
    (empty when the data were given already standardised).

    Example:
        >>> import torch
        >>> d = ImageData(torch.zeros(4, 1, 2, 2), torch.tensor([0, 1, 0, 1]),
        ...               torch.zeros(2, 1, 2, 2), torch.tensor([0, 1]), num_classes=2)
        >>> d.in_shape, d.has_test
        ((1, 2, 2), False)
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    num_classes: int = 10
    name: str = ""
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        pairs = [("train", self.x_train, self.y_train), ("val", self.x_val, self.y_val)]
        if (self.x_test is None) != (self.y_test is None):
            raise ValueError("x_test and y_test must be given together")
        if self.x_test is not None and self.y_test is not None:
            pairs.append(("test", self.x_test, self.y_test))
        for split, x, y in pairs:
            if x.shape[0] != y.shape[0] or y.ndim != 1:
                raise ValueError(
                    f"{split} split: expected x (N, ...) and y (N,), got {tuple(x.shape)} and "
                    f"{tuple(y.shape)}"
                )
            if x.shape[1:] != self.x_train.shape[1:]:
                raise ValueError(
                    f"{split} split: inputs have shape {tuple(x.shape[1:])}, training inputs "
                    f"{tuple(self.x_train.shape[1:])}"
                )
        if self.x_train.shape[0] == 0:
            raise ValueError("the training split is empty")

    @property
    def in_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. ``(1, 28, 28)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def has_test(self) -> bool:
        """Whether a test split is present."""
        return self.x_test is not None


def _count(field: str, value: int | float | None, pool: int, default: int) -> int:
    """``value`` as a number of images out of ``pool``: int count or float fraction."""
    if value is None:
        n = default
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field} must be an int count or a float fraction, got {value!r}")
    elif isinstance(value, float):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{field} as a fraction must be in [0, 1), got {value}")
        n = round(value * pool)
    else:
        n = value
    if not 0 <= n <= pool:
        raise ValueError(f"{field} = {n} is more than the {pool} images available (or negative)")
    return n


def _standardise(
    x_train: np.ndarray, others: list[np.ndarray]
) -> tuple[list[np.ndarray], tuple[float, ...], tuple[float, ...]]:
    """Subtract and divide by the per-channel mean and std of ``x_train`` (N, C, H, W)."""
    axes = (0, *range(2, x_train.ndim))
    mean = x_train.mean(axis=axes, dtype=np.float64)
    std = np.maximum(x_train.std(axis=axes, dtype=np.float64), _MIN_STD)
    shape = (1, -1) + (1,) * (x_train.ndim - 2)
    m, s = mean.reshape(shape), std.reshape(shape)
    out = [((x - m) / s).astype(np.float32) for x in [x_train, *others]]
    return out, tuple(float(v) for v in mean), tuple(float(v) for v in std)


def load_image_data(
    name: str,
    n_train: int | None = None,
    n_val: int | float = 0.1,
    n_test: int | None = None,
    seed: int = 0,
    path: str | Path | None = None,
) -> ImageData:
    """Standardised ``(N, C, H, W)`` float32 train/val/test tensors of a dataset in `DATASETS`.

    Args:
        name: ``"digits"``, ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
        n_train: training images kept after the validation split (None: all).
        n_val: validation images taken from the training pool: an int count or
            a float fraction of the pool (default 0.1, e.g. CIFAR-10's 45k/5k).
        n_test: test images kept (None: the whole test split; for digits,
            where the test split is carved out of the one split, 360).
        seed: seeds every split and subsample.
        path: the dataset's folder, as for `evoforge.data.datasets.read_dataset`.

    Raises:
        DatasetError: unknown name, or the dataset's files are missing or
            malformed (the message says how to get them).
        ValueError: a size that is negative or larger than what is available.

    Example:
        >>> d = load_image_data("digits", n_val=0.25, seed=1)
        >>> d.x_train.shape[0] + d.x_val.shape[0] + d.x_test.shape[0]
        1797
        >>> abs(d.x_train.mean().item()) < 1e-5, round(d.x_train.std().item(), 2)
        (True, 1.0)
    """
    if name not in DATASETS:
        raise DatasetError(f"dataset must be one of {list(DATASETS)}, got {name!r}")
    rng = np.random.default_rng(seed)
    x_pool, y_pool = read_dataset(name, "train", path)
    if name == "digits":
        n_held = _count("n_test", n_test, x_pool.shape[0], DIGITS_TEST_SIZE)
        order = rng.permutation(x_pool.shape[0])
        test_idx, pool_idx = order[:n_held], order[n_held:]
        x_test, y_test = x_pool[test_idx], y_pool[test_idx]
        x_pool, y_pool = x_pool[pool_idx], y_pool[pool_idx]
    else:
        x_test, y_test = read_dataset(name, "test", path)
        n_held = _count("n_test", n_test, x_test.shape[0], x_test.shape[0])
        if n_held < x_test.shape[0]:
            keep = np.sort(rng.choice(x_test.shape[0], n_held, replace=False))
            x_test, y_test = x_test[keep], y_test[keep]
    pool = x_pool.shape[0]
    val = _count("n_val", n_val, pool, 0)
    order = rng.permutation(pool)
    val_idx, rest = order[:val], order[val:]
    train = _count("n_train", n_train, rest.size, rest.size)
    if train == 0:
        raise ValueError(f"n_train: no training images left for {name} (n_val = {val})")
    train_idx = rest[:train]
    shape = (-1, *IMAGE_SHAPES[name])
    # Index before converting: MNIST's training split alone is 376 MB as float64.
    (x_tr, x_va, x_te), mean, std = _standardise(
        x_pool[train_idx].reshape(shape),
        [x_pool[val_idx].reshape(shape), x_test.reshape(shape)],
    )
    return ImageData(
        x_train=torch.from_numpy(x_tr),
        y_train=torch.from_numpy(y_pool[train_idx].astype(np.int64)),
        x_val=torch.from_numpy(x_va),
        y_val=torch.from_numpy(y_pool[val_idx].astype(np.int64)),
        x_test=torch.from_numpy(x_te),
        y_test=torch.from_numpy(y_test.astype(np.int64)),
        num_classes=NUM_CLASSES[name],
        name=name,
        mean=mean,
        std=std,
    )


class LazyImageData:
    """Mixin for evaluators that train on `load_image_data` splits described by
    their ``dataset``, ``n_train``, ``n_val``, ``n_test``, ``data_seed`` and
    ``data_dir`` attributes: `data` loads the splits on first use in each
    process, and pickling (to a worker) leaves the tensors behind.

    Example:
        >>> class Ev(LazyImageData):
        ...     dataset, n_train, n_val, n_test, data_seed, data_dir = "digits", 50, 20, 30, 0, None
        >>> ev = Ev()
        >>> ev.data.x_train.shape[0], ev.__getstate__()["_data"] is None
        (50, True)
    """

    dataset: str
    n_train: int | None
    n_val: int | float
    n_test: int | None
    data_seed: int
    data_dir: str | Path | None
    _data: ImageData | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_data": None}  # each process loads its own copy

    @property
    def data(self) -> ImageData:
        """The dataset splits (loaded on first use in this process)."""
        if self._data is None:
            self._data = load_image_data(
                self.dataset,
                n_train=self.n_train,
                n_val=self.n_val,
                n_test=self.n_test,
                seed=self.data_seed,
                path=self.data_dir,
            )
        return self._data
