"""The image data an architecture evaluator trains on, loaded once per process.

Evaluators are pickled to every worker, so they hold only the data's
description (`DataSpec`); `load` reads and caches the tensors in the worker
the first time it needs them.

Example:
    >>> d = DataSpec("digits", n_train=200, n_val=100, n_test=50).load()
    >>> tuple(d.x_train.shape), d.x_val.shape[0], d.x_test.shape[0]
    ((200, 1, 8, 8), 100, 50)
"""

from __future__ import annotations

from dataclasses import dataclass

from evoforge.nn.data import ImageData, load_image_data

_CACHE: dict[DataSpec, ImageData] = {}


@dataclass(frozen=True)
class DataSpec:
    """Which images: a dataset name of `evoforge.nn.data.DATASETS`, split sizes
    (None: all that is left) and the seed of the split."""

    dataset: str = "digits"
    n_train: int | None = None
    n_val: int = 300
    n_test: int | None = 360
    seed: int = 0

    def load(self) -> ImageData:
        """The standardised splits, read once per process."""
        if self not in _CACHE:
            _CACHE[self] = load_image_data(
                self.dataset,
                n_train=self.n_train,
                n_val=self.n_val,
                n_test=self.n_test,
                seed=self.seed,
            )
        return _CACHE[self]
