"""Tests for the AutoML-Zero task generators and the Task/TaskSet records."""

from __future__ import annotations

import doctest
import pickle
from itertools import combinations

import numpy as np
import pytest

import evoforge.data
import evoforge.data.projected
import evoforge.data.regression
import evoforge.data.tasks
from evoforge.data import (
    Task,
    TaskSet,
    affine_tasks,
    linear_tasks,
    load_dataset,
    pair_split,
    projected_binary_tasks,
    teacher_tasks,
)
from evoforge.data.tasks import stream_rng, task_seed_sequence

ARRAYS = ("train_x", "train_y", "valid_x", "valid_y", "orders", "seeds")
REGRESSION = (linear_tasks, affine_tasks, teacher_tasks)


def small_projected(**kw):
    args = dict(features=8, n_pairs=3, projections_per_pair=2, n_train=120, n_valid=40, epochs=3)
    return projected_binary_tasks("digits", **{**args, **kw})


def assert_same(a: TaskSet, b: TaskSet) -> None:
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.names == b.names and a.eval_type == b.eval_type


@pytest.mark.parametrize(
    "module",
    [evoforge.data, evoforge.data.tasks, evoforge.data.regression, evoforge.data.projected],
)
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("make", REGRESSION)
def test_regression_shapes_dtypes_and_layout(make):
    ts = make(4, features=5, n_train=30, n_valid=7, epochs=2, seed=1)
    assert (ts.D, ts.N, ts.M, ts.F, ts.epochs, len(ts)) == (4, 30, 7, 5, 2, 4)
    assert ts.train_x.shape == (4, 30, 5) and ts.valid_x.shape == (4, 7, 5)
    assert ts.train_y.shape == (4, 30) and ts.valid_y.shape == (4, 7)
    assert ts.orders.shape == (4, 2, 30) and ts.seeds.shape == (4,)
    for name in ARRAYS:
        arr = getattr(ts, name)
        assert arr.flags.c_contiguous and not arr.flags.writeable, name
    assert ts.train_x.dtype == np.float64 and ts.orders.dtype == np.int64
    assert ts.seeds.dtype == np.uint64 and len(set(ts.seeds.tolist())) == 4
    assert ts.eval_type == "rms"


@pytest.mark.parametrize("make", REGRESSION)
def test_regression_is_deterministic_and_seed_dependent(make):
    assert_same(make(3, 4, 20, 5, 2, seed=7), make(3, 4, 20, 5, 2, seed=7))
    other = make(3, 4, 20, 5, 2, seed=8)
    for name in ARRAYS:
        assert not np.array_equal(getattr(other, name), getattr(make(3, 4, 20, 5, 2, seed=7), name))


def test_seed_sequence_seed_is_not_consumed():
    ss = np.random.SeedSequence(11)
    assert_same(linear_tasks(2, 3, 10, 4, seed=ss), linear_tasks(2, 3, 10, 4, seed=ss))
    assert ss.n_children_spawned == 0


def test_tasks_are_stable_under_more_tasks_epochs_and_examples():
    base = linear_tasks(2, 3, 10, 4, epochs=2, seed=5)
    assert_same(base, linear_tasks(5, 3, 10, 4, epochs=2, seed=5).subset([0, 1]))
    longer = linear_tasks(2, 3, 10, 4, epochs=4, seed=5)
    np.testing.assert_array_equal(longer.orders[:, :2], base.orders)
    more = linear_tasks(2, 3, 25, 4, epochs=2, seed=5)
    np.testing.assert_array_equal(more.valid_x, base.valid_x)
    np.testing.assert_array_equal(more.train_x[:, :10], base.train_x)


def test_linear_labels_are_exactly_linear():
    ts = linear_tasks(3, features=6, n_train=40, n_valid=10, seed=2)
    for d in range(ts.D):
        u, residual, *_ = np.linalg.lstsq(ts.train_x[d], ts.train_y[d], rcond=None)
        assert residual[0] < 1e-20
        np.testing.assert_allclose(ts.valid_x[d] @ u, ts.valid_y[d], atol=1e-12)


def test_affine_has_an_intercept_and_shares_u_with_linear():
    aff = affine_tasks(2, features=6, n_train=40, n_valid=10, seed=2)
    lin = linear_tasks(2, features=6, n_train=40, n_valid=10, seed=2)
    ones = np.ones((40, 1))
    for d in range(2):
        _, no_intercept, *_ = np.linalg.lstsq(aff.train_x[d], aff.train_y[d], rcond=None)
        coef, with_intercept, *_ = np.linalg.lstsq(
            np.hstack([aff.train_x[d], ones]), aff.train_y[d], rcond=None
        )
        assert with_intercept[0] < 1e-20 < no_intercept[0]
        intercept = coef[-1]
        assert intercept != 0.0
        np.testing.assert_allclose(aff.train_y[d] - intercept, lin.train_y[d], atol=1e-12)


def test_teacher_labels_are_nonlinear_and_scaled_as_documented():
    ts = teacher_tasks(1, features=8, n_train=4000, n_valid=10, seed=4)
    x, y = ts.train_x[0], ts.train_y[0]
    fit = np.hstack([x, np.ones((len(x), 1))])
    _, residual, *_ = np.linalg.lstsq(fit, y, rcond=None)
    assert residual[0] / len(y) > 0.01 * y.var()
    assert teacher_tasks(1, features=3, hidden=7, n_train=5, n_valid=2).F == 3


def test_orders_are_permutations_with_natural_first_epoch():
    for ts in (linear_tasks(2, 3, 15, 4, epochs=4, seed=0), small_projected()):
        for d in range(ts.D):
            np.testing.assert_array_equal(ts.orders[d, 0], np.arange(ts.N))
            for e in range(ts.epochs):
                np.testing.assert_array_equal(np.sort(ts.orders[d, e]), np.arange(ts.N))
            assert not np.array_equal(ts.orders[d, 1], ts.orders[d, 2])


def test_subset_and_head():
    ts = linear_tasks(4, 3, 20, 6, epochs=3, seed=9)
    sub = ts.subset([3, 1])
    assert sub.names == ("linear[3]", "linear[1]")
    np.testing.assert_array_equal(sub.train_x[0], ts.train_x[3])
    np.testing.assert_array_equal(sub.seeds, ts.seeds[[3, 1]])
    assert ts.subset(2).D == 1 and ts.subset(np.array([True, False, True, False])).D == 2
    head = ts.head(5, 2)
    assert (head.D, head.N, head.M, head.epochs) == (4, 5, 2, 1)
    np.testing.assert_array_equal(head.train_x, ts.train_x[:, :5])
    np.testing.assert_array_equal(head.valid_y, ts.valid_y[:, :2])
    np.testing.assert_array_equal(head.orders, np.broadcast_to(np.arange(5), (4, 1, 5)))
    np.testing.assert_array_equal(head.seeds, ts.seeds)
    assert head.train_x.flags.c_contiguous


def test_task_round_trip_and_pickle():
    ts = small_projected()
    assert_same(TaskSet.from_tasks([ts.task(d) for d in range(ts.D)]), ts)
    back = pickle.loads(pickle.dumps(ts))
    assert_same(back, ts)
    assert not back.train_x.flags.writeable
    task = pickle.loads(pickle.dumps(ts.task(1)))
    assert task.name == ts.names[1] and task.seed == int(ts.seeds[1])
    assert "D=6" in repr(ts) and "N=120" in repr(task)


def test_records_copy_nothing_of_the_callers_and_stay_writable_for_them():
    x = np.zeros((3, 2))
    task = Task(x, np.zeros(3), x, np.zeros(3), np.arange(3)[None], 0, "rms", "t")
    assert x.flags.writeable and not task.train_x.flags.writeable


def test_pair_split_is_disjoint_and_covers_all_pairs():
    search, select = pair_split(10)
    assert len(search) == 36 and len(select) == 9
    assert set(search).isdisjoint(select)
    assert set(search) | set(select) == set(combinations(range(10), 2))
    assert pair_split(10) == (search, select)
    assert pair_split(10, pair_seed=1) != (search, select)


def test_projected_search_and_select_tasks_use_their_own_pairs():
    search, select = pair_split(10)

    def pairs_of(ts):
        return {tuple(int(c) for c in name.split()[1].split("v")) for name in ts.names}

    for seed in range(3):
        assert pairs_of(small_projected(split="search", seed=seed)) <= set(search)
        assert pairs_of(small_projected(split="select", seed=seed)) <= set(select)
    every = projected_binary_tasks(features=4, split="select", n_train=20, n_valid=5)
    assert pairs_of(every) == set(select) and every.D == 9


def test_projected_shapes_labels_and_standardization():
    ts = small_projected(seed=3)
    assert (ts.D, ts.N, ts.M, ts.F, ts.epochs) == (6, 120, 40, 8, 3)
    assert ts.eval_type == "accuracy" and ts.names[1].endswith("proj#1")
    for y in (ts.train_y, ts.valid_y):
        assert set(np.unique(y).tolist()) == {0.0, 1.0}
    np.testing.assert_allclose(ts.train_x.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(ts.train_x.std(axis=1), 1.0, atol=1e-12)
    # Two projections of the same pair are different tasks.
    assert ts.names[0].split()[1] == ts.names[1].split()[1]
    assert not np.allclose(ts.train_x[0], ts.train_x[1])


def test_projected_labels_follow_class_order():
    x = np.arange(40.0).reshape(20, 2)
    y = np.repeat([7, 2], 10)
    ts = projected_binary_tasks((x, y), features=2, split="all", n_train=15, n_valid=5, name="toy")
    assert ts.names == ("toy 2v7 proj#0",)
    assert np.concatenate([ts.train_y[0], ts.valid_y[0]]).sum() == 10.0
    raw = projected_binary_tasks((x, y), split="all", project=False, n_train=15, n_valid=5)
    assert raw.F == 2 and raw.names == ("data 2v7 full#0",)
    # Standardizing keeps the order of a feature, and class 7 (label 1.0, the higher
    # class) holds the examples with the smallest features.
    feature = np.concatenate([raw.train_x[0, :, 0], raw.valid_x[0, :, 0]])
    label = np.concatenate([raw.train_y[0], raw.valid_y[0]])
    assert feature[label == 1.0].max() < feature[label == 0.0].min()


def test_projected_is_deterministic_and_seed_dependent():
    assert_same(small_projected(seed=4), small_projected(seed=4))
    assert not np.array_equal(small_projected(seed=4).train_x, small_projected(seed=5).train_x)


def test_full_dimensional_tasks_standardize_without_projection():
    ts = projected_binary_tasks(split="all", n_pairs=2, project=False, n_train=100, n_valid=20)
    assert ts.F == 64 and ts.names[0].endswith("full#0")
    std = ts.train_x.std(axis=1)
    # Blank pixels stay 0; every other pixel is standardized.
    assert np.all(np.isclose(std, 1.0) | np.isclose(std, 0.0)) and np.isclose(std, 1.0).any()


def test_load_dataset_digits():
    x, y = load_dataset("digits")
    assert x.shape == (1797, 64) and x.dtype == np.float64 and y.shape == (1797,)
    assert not x.flags.writeable


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: linear_tasks(0), "n_tasks"),
        (lambda: linear_tasks(1, features=2.5), "features"),
        (lambda: affine_tasks(1, n_train=-1), "n_train"),
        (lambda: affine_tasks(1, n_valid=True), "n_valid"),
        (lambda: teacher_tasks(1, hidden=0), "hidden"),
        (lambda: teacher_tasks(1, epochs=0), "epochs"),
        (lambda: linear_tasks(1, seed=-3), "seed"),
        (lambda: projected_binary_tasks("cifar"), "dataset"),
        (lambda: projected_binary_tasks(split="test"), "split"),
        (lambda: projected_binary_tasks(features=0), "features"),
        (lambda: projected_binary_tasks(project=False, features=16), "features"),
        (lambda: projected_binary_tasks(n_pairs=37), "n_pairs"),
        (lambda: projected_binary_tasks(projections_per_pair=0), "projections_per_pair"),
        (lambda: projected_binary_tasks(n_train=300, n_valid=100), "n_train + n_valid"),
        (lambda: projected_binary_tasks(select_pairs=45), "select_pairs"),
        (lambda: projected_binary_tasks((np.zeros((3, 2)), np.zeros(4))), "dataset y"),
        (lambda: pair_split(10, pair_seed=-1), "pair_seed"),
        (lambda: linear_tasks(2, 2, 5, 2).subset([5]), "idx"),
        (lambda: linear_tasks(2, 2, 5, 2).subset([]), "idx"),
        (lambda: linear_tasks(2, 2, 5, 2).head(6, 1), "n_train"),
        (lambda: linear_tasks(2, 2, 5, 2).head(1, 0), "n_valid"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument.replace("+", r"\+")):
        call()


def test_bad_records_are_rejected():
    x, y, order = np.zeros((4, 2)), np.zeros(4), np.arange(4)[None]
    with pytest.raises(ValueError, match="eval_type"):
        Task(x, y, x, y, order, 0, "mse", "t")
    with pytest.raises(ValueError, match="train_y"):
        Task(x, y + 0.5, x, y, order, 0, "accuracy", "t")
    with pytest.raises(ValueError, match="orders"):
        Task(x, y, x, y, order + 1, 0, "rms", "t")
    with pytest.raises(ValueError, match="valid_x"):
        Task(x, y, x[:, :1], y, order, 0, "rms", "t")
    with pytest.raises(ValueError, match="train_x"):
        Task(x * np.nan, y, x, y, order, 0, "rms", "t")
    with pytest.raises(ValueError, match="seed"):
        Task(x, y, x, y, order, -1, "rms", "t")
    ts = linear_tasks(2, 2, 5, 2)
    with pytest.raises(ValueError, match="tasks"):
        TaskSet.from_tasks([ts.task(0), teacher_tasks(1, 2, n_train=6, n_valid=2).task(0)])
    with pytest.raises(ValueError, match="seeds"):
        TaskSet(ts.train_x, ts.train_y, ts.valid_x, ts.valid_y, ts.orders, [1, -1], "rms", ts.names)
    with pytest.raises(ValueError, match="names"):
        TaskSet(ts.train_x, ts.train_y, ts.valid_x, ts.valid_y, ts.orders, ts.seeds, "rms", ("a",))


def test_teacher_tasks_follow_the_reference_generator():
    # Google's Scalar2LayerNnRegressionTaskCreator: x, M (F x F) and u standard
    # Gaussian, hidden units 0 and 2 zeroed, y = u . ReLU(M x).
    ts = teacher_tasks(3, features=8, n_train=50, n_valid=20, seed=11)
    for d in range(3):
        rng = stream_rng(task_seed_sequence(11, d), "model")
        m, u = rng.standard_normal((8, 8)), rng.standard_normal(8)
        m[[0, 2]], u[[0, 2]] = 0.0, 0.0
        for x, y in ((ts.train_x[d], ts.train_y[d]), (ts.valid_x[d], ts.valid_y[d])):
            np.testing.assert_allclose(y, np.maximum(x @ m.T, 0.0) @ u, rtol=1e-12)
    many = teacher_tasks(200, features=8, n_train=200, n_valid=1, seed=0)
    assert 4.0 < many.train_y.std() < 6.0  # sqrt((F - 2) * F / 2) = 4.9 per task, about


def test_teacher_input_and_weight_scales():
    base = teacher_tasks(2, features=6, n_train=30, n_valid=5, seed=3)
    scaled = teacher_tasks(
        2, features=6, n_train=30, n_valid=5, seed=3, input_scale=0.02, weight_scale=3.0
    )
    np.testing.assert_allclose(scaled.train_x, 0.02 * base.train_x, rtol=1e-15)
    # ReLU is positively homogeneous: labels scale by input_scale * weight_scale**2.
    np.testing.assert_allclose(scaled.valid_y, 0.02 * 9.0 * base.valid_y, rtol=1e-12)
    for bad in (0.0, -1.0, float("inf"), True):
        with pytest.raises(ValueError, match="input_scale"):
            teacher_tasks(1, input_scale=bad)
