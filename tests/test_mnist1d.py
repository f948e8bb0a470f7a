"""MNIST-1D: generated locally by the ``mnist1d`` package, used for projected tasks."""

from __future__ import annotations

import random

import numpy as np
import pytest

from evoforge.data.datasets import DatasetError, locate, read_dataset
from evoforge.data.mnist1d import load_mnist1d
from evoforge.data.projected import final_evaluation_tasks, projected_binary_tasks

pytest.importorskip("mnist1d")


def test_generated_arrays_have_the_published_shape_and_are_reproducible():
    X, y = load_mnist1d("train", num_samples=300, seed=1)
    Xt, yt = load_mnist1d("test", num_samples=300, seed=1)
    assert X.shape == (240, 40) and Xt.shape == (60, 40)
    assert np.bincount(np.concatenate([y, yt])).tolist() == [30] * 10
    # Standardised over the whole dataset by the package.
    both = np.concatenate([X, Xt])
    assert abs(both.mean()) < 1e-9 and abs(both.std() - 1.0) < 1e-9
    from evoforge.data.mnist1d import _generate

    _generate.cache_clear()
    again, _ = load_mnist1d("train", num_samples=300, seed=1)
    np.testing.assert_array_equal(again, X)
    other, _ = load_mnist1d("train", num_samples=300, seed=2)
    assert not np.array_equal(other, X)
    assert not X.flags.writeable


def test_generation_leaves_the_global_generators_alone():
    from evoforge.data.mnist1d import _generate

    _generate.cache_clear()
    np.random.seed(5)
    random.seed(5)
    expected = (np.random.random(), random.random())
    np.random.seed(5)
    random.seed(5)
    load_mnist1d("train", num_samples=100, seed=9)
    assert (np.random.random(), random.random()) == expected


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="split"):
        load_mnist1d("valid")
    with pytest.raises(ValueError, match="num_samples"):
        load_mnist1d(num_samples=3)
    with pytest.raises(DatasetError, match="generated locally and takes no path"):
        locate("mnist1d", "/tmp")


def test_projected_binary_and_full_dimension_tasks():
    X, _ = read_dataset("mnist1d", "train")
    assert X.shape == (4000, 40)  # the package's defaults: the published dataset
    tasks = projected_binary_tasks(
        "mnist1d", features=16, n_pairs=3, n_train=200, n_valid=100, seed=0
    )
    assert tasks.eval_type == "accuracy" and tasks.train_x.shape == (3, 200, 16)
    final = final_evaluation_tasks("mnist1d", split="all", n_pairs=2, n_train=500, n_valid=150)
    assert final.F == 40 and final.M == 150


def test_config_accepts_mnist1d_tasks():
    from evoforge.automl_zero.domain import build

    setup = build(
        {
            "predict": {"ops": ["OP27"], "size": 1},
            "search_tasks": {"type": "projected_binary", "dataset": "mnist1d", "n_tasks": 3,
                             "features": 8, "n_train": 100, "n_valid": 50},
        },
        "automl_zero",
        seed=0,
    )  # fmt: skip
    assert setup.evaluator.tasks.F == 8 and setup.evaluator.tasks.D == 3
