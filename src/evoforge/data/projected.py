"""Projected binary (AutoML-Zero §3.1, §4.2 and Supplement S4) and multiclass
(§4.3 and Supplement S5) classification tasks.

A task takes the examples of one pair of classes, multiplies their features by
a random Gaussian matrix (zero mean, unit variance) down to ``F`` dimensions and
standardizes the result. Each (class pair, projection) is a different task. The
class pairs are split once, with a fixed seed, into search pairs and held-out
selection pairs (36 and 9 of CIFAR-10's 45), so search and model selection
never share a pair.

The paper projects CIFAR-10 and MNIST; offline the default is scikit-learn's
bundled 8×8 digits (1,797 images, 10 classes, about 350-365 images per pair).
MNIST, Fashion-MNIST and CIFAR-10 are read from local files when present (see
`evoforge.data.datasets`); tasks use their training split. Any ``(X, y)``
arrays plug in the same way. ``project=False`` keeps the full dimensionality
(only standardizing); `final_evaluation_tasks` uses it, training on the
training split and validating on the held-out test split, as the paper's
final evaluation does.

Choices the paper leaves open, made here:

* Labels: of a pair, the class that sorts lower is 0.0 and the higher one 1.0.
* Train/valid: the pair's examples are shuffled with the task's seed, the first
  ``n_train`` become training examples, the next ``n_valid`` validation examples
  (no stratification; the rest are unused). With separate validation data
  (`final_evaluation_tasks`), each pool is shuffled by its own stream.
* Standardization uses the mean and population standard deviation of the
  task's *training* examples for both splits; a feature that is constant on
  them (possible only without projection, e.g. a blank corner pixel) is
  centred but not scaled.
* A task depends only on ``(seed, pair, projection index)`` and the shape
  arguments, not on which other pairs are drawn, so the same pair gives the
  same task in the "search" or "all" split.

`projected_multiclass_tasks` builds the §4.3 "multiple classes" tasks the
same way from the examples of the first ``n_classes`` classes (all ten by
default); each task is one projection, and its labels are class positions
0.0..n_classes-1 in sorted class order (``eval_type="multiclass"``).

Example:
    >>> from evoforge.data.projected import projected_binary_tasks
    >>> ts = projected_binary_tasks("digits", features=8, n_pairs=2, n_train=100, n_valid=50)
    >>> ts.eval_type, ts.train_x.shape
    ('accuracy', (2, 100, 8))
"""

from __future__ import annotations

from functools import cache
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.data.datasets import locate, read_dataset
from evoforge.data.tasks import (
    Task,
    TaskSet,
    epoch_orders,
    program_seed,
    require_positive_int,
    stream_rng,
    task_seed_sequence,
)

SPLITS = ("search", "select", "all")

# Keys under the caller's seed: one for drawing pairs, one prefix for the binary
# tasks, one for the multiclass tasks.
_PAIR_DRAW_KEY = 0
_TASK_KEY = 1
_MULTICLASS_KEY = 2


@cache
def _read_cached(name: str, split: str, location: Path | None) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_dataset(name, split, location)
    x = np.ascontiguousarray(x, dtype=np.float64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def load_dataset(
    name: str, split: str = "train", data_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``X (n, F_in)`` float64 and class labels ``y (n,)`` of a named dataset.

    Names: ``"digits"`` (bundled; one split, ``"train"``), ``"mnist"``,
    ``"fashion_mnist"`` and ``"cifar10"`` (``"train"`` or ``"test"``, read from
    ``data_dir`` or found as described in `evoforge.data.datasets`), and
    ``"mnist1d"`` (generated locally, `evoforge.data.mnist1d`: 4,000/1,000 signals
    of 40 samples; no ``data_dir``). The arrays
    are cached per file location and read-only.

    Example:
        >>> X, y = load_dataset("digits")
        >>> X.shape, sorted(set(y.tolist())) == list(range(10))
        ((1797, 64), True)
    """
    # Locate before the cache lookup, so a changed $EVOFORGE_DATA is honoured.
    return _read_cached(name, split, locate(name, data_dir))


def pair_split(
    n_classes: int, select_pairs: int = 9, pair_seed: int = 0
) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """Split the ``n_classes·(n_classes-1)/2`` class pairs into (search, select) pairs.

    Pairs are ``(i, j)`` with ``i < j`` positions in the sorted class list, each
    group in ascending order. The split depends only on ``pair_seed``, never on a
    task seed, so search and select tasks drawn with different seeds stay disjoint.

    Example:
        >>> search, select = pair_split(10)
        >>> len(search), len(select), set(search).isdisjoint(select)
        (36, 9, True)
    """
    n_classes = require_positive_int("n_classes", n_classes)
    pairs = list(combinations(range(n_classes), 2))
    if isinstance(select_pairs, bool) or not isinstance(select_pairs, int | np.integer):
        raise ValueError(f"select_pairs must be an integer, got {select_pairs!r}")
    if not 0 < select_pairs < len(pairs):
        raise ValueError(
            f"select_pairs must lie in [1, {len(pairs) - 1}] for {n_classes} classes "
            f"({len(pairs)} pairs), got {select_pairs}"
        )
    if isinstance(pair_seed, bool) or not isinstance(pair_seed, int | np.integer) or pair_seed < 0:
        raise ValueError(f"pair_seed must be a non-negative integer, got {pair_seed!r}")
    perm = np.random.default_rng(np.random.SeedSequence(int(pair_seed))).permutation(len(pairs))
    select = sorted(perm[:select_pairs].tolist())
    search = sorted(perm[select_pairs:].tolist())
    return tuple(pairs[k] for k in search), tuple(pairs[k] for k in select)


def _check_arrays(data: Any, argument: str, expected: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise ValueError(f"{argument} must be {expected}, got {type(data)}")
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if x.ndim != 2 or x.dtype.kind not in "biuf" or not np.isfinite(x).all():
        raise ValueError(
            f"{argument} X must be a finite real array of shape (n, F_in), got {x.dtype} {x.shape}"
        )
    if y.shape != (x.shape[0],):
        raise ValueError(f"{argument} y must have shape ({x.shape[0]},) to match X, got {y.shape}")
    return x.astype(np.float64), y


def _resolve_dataset(
    dataset: str | tuple[np.ndarray, np.ndarray], name: str | None, data_dir: str | Path | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """``(X, y, name prefix)`` for a dataset name (its train split) or checked ``(X, y)`` arrays."""
    if isinstance(dataset, str):
        x, y = load_dataset(dataset, "train", data_dir)
        return x, y, dataset if name is None else name
    if data_dir is not None:
        raise ValueError("data_dir only applies when dataset is a name, not arrays")
    x, y = _check_arrays(dataset, "dataset", "a dataset name or an (X, y) pair")
    return x, y, "data" if name is None else name


def _pair_members(
    y: np.ndarray, low: Any, high: Any, needed: int, what: str, got: str
) -> np.ndarray:
    idx = np.flatnonzero((y == low) | (y == high))
    if idx.size < needed:
        raise ValueError(
            f"{what} must be at most {idx.size}, the examples of class pair {low}v{high}; got {got}"
        )
    return idx


def _standardize(train: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0.0] = 1.0
    return (train - mean) / std, (valid - mean) / std


def _classification_task(
    ss: np.random.SeedSequence,
    features: np.ndarray,
    labels: np.ndarray,
    n_train: int,
    epochs: int,
    name: str,
    eval_type: str = "accuracy",
    n_classes: int = 2,
) -> Task:
    """A classification task from its examples (training first), standardised
    on the training part."""
    train_x, valid_x = _standardize(features[:n_train], features[n_train:])
    return Task(
        train_x=train_x,
        train_y=labels[:n_train],
        valid_x=valid_x,
        valid_y=labels[n_train:],
        orders=epoch_orders(stream_rng(ss, "order"), n_train, epochs),
        seed=program_seed(ss),
        eval_type=eval_type,
        name=name,
        n_classes=n_classes,
    )


def projected_binary_tasks(
    dataset: str | tuple[np.ndarray, np.ndarray] = "digits",
    *,
    features: int | None = None,
    n_pairs: int | None = None,
    projections_per_pair: int = 1,
    split: str = "search",
    n_train: int = 250,
    n_valid: int = 100,
    epochs: int = 1,
    seed: int | np.random.SeedSequence = 0,
    project: bool = True,
    select_pairs: int = 9,
    pair_seed: int = 0,
    name: str | None = None,
    data_dir: str | Path | None = None,
    valid_data: tuple[np.ndarray, np.ndarray] | None = None,
) -> TaskSet:
    """Binary classification tasks from class pairs of ``dataset``, randomly projected.

    ``dataset`` is a name (see `load_dataset`; its training split, read from
    ``data_dir`` if given) or ``(X, y)`` arrays with ``X (n, F_in)`` and any
    sortable class labels ``y (n,)``. Validation examples are drawn from the
    same data, disjoint from the training ones, unless ``valid_data`` gives
    other ``(X, y)`` arrays with the same features (a test split). ``split`` picks the
    search pairs, the held-out select pairs (see `pair_split`) or all pairs;
    ``n_pairs`` draws that many of them (with ``seed``; all of them, in order,
    when None). Each pair gives ``projections_per_pair`` tasks, pair by pair.
    ``features`` is the projected size (default 16); with ``project=False``
    the features are only standardized and keep their size ``F_in``. Names read
    like ``"digits 3v8 proj#17"`` (``full#j`` without projection); ``name``
    replaces the ``digits`` prefix.

    Example:
        >>> ts = projected_binary_tasks(n_pairs=3, projections_per_pair=2, seed=1)
        >>> ts.D, ts.F, ts.N, ts.M
        (6, 16, 250, 100)
        >>> full = projected_binary_tasks(split="all", n_pairs=1, project=False)
        >>> full.F, full.names[0].endswith("full#0")
        (64, True)
    """
    x, y, prefix = _resolve_dataset(dataset, name, data_dir)
    if valid_data is not None:
        pool_x, pool_y = _check_arrays(valid_data, "valid_data", "an (X, y) pair")
        if pool_x.shape[1] != x.shape[1]:
            raise ValueError(
                f"valid_data X must have {x.shape[1]} features like the dataset, "
                f"got {pool_x.shape[1]}"
            )
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not isinstance(project, bool):
        raise ValueError(f"project must be True or False, got {project!r}")
    if project:
        out_features = 16 if features is None else require_positive_int("features", features)
    elif features not in (None, x.shape[1]):
        raise ValueError(
            f"features must be None or {x.shape[1]} (the dataset's size) with project=False, "
            f"got {features!r}"
        )
    projections_per_pair = require_positive_int("projections_per_pair", projections_per_pair)
    n_train = require_positive_int("n_train", n_train)
    n_valid = require_positive_int("n_valid", n_valid)
    epochs = require_positive_int("epochs", epochs)

    classes = np.unique(y)
    if classes.size < 2:
        raise ValueError(f"dataset must have at least 2 classes, got {classes.size}")
    all_pairs = list(combinations(range(classes.size), 2))
    if split == "all":
        pairs = all_pairs
    else:
        search, select = pair_split(classes.size, select_pairs, pair_seed)
        pairs = list(search if split == "search" else select)
    if n_pairs is not None:
        n_pairs = require_positive_int("n_pairs", n_pairs)
        if n_pairs > len(pairs):
            raise ValueError(
                f"n_pairs must be at most {len(pairs)} (pairs in split {split!r}), got {n_pairs}"
            )
        draw = np.random.default_rng(task_seed_sequence(seed, _PAIR_DRAW_KEY))
        pairs = [pairs[k] for k in sorted(draw.choice(len(pairs), n_pairs, replace=False))]

    # Check every pair's size before generating anything.
    members, valid_members = {}, {}
    for pair in pairs:
        low, high = classes[pair[0]], classes[pair[1]]
        if valid_data is None:
            members[pair] = _pair_members(
                y, low, high, n_train + n_valid, "n_train + n_valid", f"{n_train} + {n_valid}"
            )
        else:
            members[pair] = _pair_members(y, low, high, n_train, "n_train", str(n_train))
            valid_members[pair] = _pair_members(
                pool_y, low, high, n_valid, "n_valid (examples from valid_data)", str(n_valid)
            )

    tasks = []
    for pair in pairs:
        low, high = classes[pair[0]], classes[pair[1]]
        for j in range(projections_per_pair):
            ss = task_seed_sequence(seed, _TASK_KEY, all_pairs.index(pair), j)
            if valid_data is None:
                chosen = stream_rng(ss, "train").permutation(members[pair])[: n_train + n_valid]
                feats, classes_of = x[chosen], y[chosen]
            else:
                train = stream_rng(ss, "train").permutation(members[pair])[:n_train]
                valid = stream_rng(ss, "valid").permutation(valid_members[pair])[:n_valid]
                feats = np.concatenate([x[train], pool_x[valid]])
                classes_of = np.concatenate([y[train], pool_y[valid]])
            if project:
                feats = feats @ stream_rng(ss, "model").standard_normal((x.shape[1], out_features))
            labels = (classes_of == high).astype(np.float64)
            name = f"{prefix} {low}v{high} {'proj' if project else 'full'}#{j}"
            tasks.append(_classification_task(ss, feats, labels, n_train, epochs, name))
    return TaskSet.from_tasks(tasks)


def projected_multiclass_tasks(
    dataset: str | tuple[np.ndarray, np.ndarray] = "digits",
    *,
    features: int = 16,
    n_classes: int = 10,
    n_tasks: int = 10,
    n_train: int = 1000,
    n_valid: int = 500,
    epochs: int = 1,
    seed: int | np.random.SeedSequence = 0,
    name: str | None = None,
    data_dir: str | Path | None = None,
) -> TaskSet:
    """Multiclass tasks: the first ``n_classes`` classes of ``dataset``, each task
    a different random projection to ``features`` dimensions (§4.3, Supplement S5).

    ``dataset`` is as in `projected_binary_tasks`. Task ``j`` shuffles the
    examples of those classes with its own seed (no stratification), takes the
    first ``n_train`` for training and the next ``n_valid`` for validation,
    multiplies their features by a Gaussian matrix (zero mean, unit variance) and
    standardizes them with the training statistics. Labels are class positions
    0.0..n_classes-1; ``n_classes`` can be at most ``features``, since the logits
    and the one-hot label fill entries of feature-sized vectors. Task ``j``
    depends only on ``(seed, j)`` and the other arguments, so more tasks keep the
    earlier ones. Names read like ``"digits 10-class proj#3"``.

    Example:
        >>> ts = projected_multiclass_tasks(n_tasks=2, n_train=500, n_valid=200)
        >>> ts.eval_type, ts.n_classes, ts.train_x.shape
        ('multiclass', 10, (2, 500, 16))
        >>> sorted(set(ts.train_y[0].tolist())) == list(range(10))
        True
    """
    x, y, prefix = _resolve_dataset(dataset, name, data_dir)
    features = require_positive_int("features", features)
    n_classes = require_positive_int("n_classes", n_classes)
    n_tasks = require_positive_int("n_tasks", n_tasks)
    n_train = require_positive_int("n_train", n_train)
    n_valid = require_positive_int("n_valid", n_valid)
    epochs = require_positive_int("epochs", epochs)
    classes = np.unique(y)
    most = min(classes.size, features)
    if not 2 <= n_classes <= most:
        raise ValueError(
            f"n_classes must lie in [2, {most}] ({classes.size} classes in the dataset, "
            f"features={features}), got {n_classes}"
        )
    members = np.flatnonzero(np.isin(y, classes[:n_classes]))
    if members.size < n_train + n_valid:
        raise ValueError(
            f"n_train + n_valid must be at most {members.size}, the examples of the first "
            f"{n_classes} classes; got {n_train} + {n_valid}"
        )
    tasks = []
    for j in range(n_tasks):
        ss = task_seed_sequence(seed, _MULTICLASS_KEY, j)
        chosen = stream_rng(ss, "train").permutation(members)[: n_train + n_valid]
        feats = x[chosen] @ stream_rng(ss, "model").standard_normal((x.shape[1], features))
        labels = np.searchsorted(classes, y[chosen]).astype(np.float64)
        name = f"{prefix} {n_classes}-class proj#{j}"
        tasks.append(
            _classification_task(ss, feats, labels, n_train, epochs, name, "multiclass", n_classes)
        )
    return TaskSet.from_tasks(tasks)


HOLDOUT_FRACTION = 0.25
# Fixed, so a dataset's held-out examples never change between runs.
_HOLDOUT_SEED = 20_200_709


def train_test_arrays(
    dataset: str, data_dir: str | Path | None = None, test_fraction: float = HOLDOUT_FRACTION
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((X_train, y_train), (X_test, y_test))`` for the final evaluation (Supplement S7).

    A dataset with a test split (MNIST, Fashion-MNIST, CIFAR-10) returns its
    two splits and ignores ``test_fraction``. Digits have a single split: a
    fixed, stratified ``test_fraction`` of each class (``floor(count *
    test_fraction)`` images, chosen with a seed that never changes) is held out
    as the test split and the rest is the training split. Note that the
    projected search and select tasks of a digits run draw from all 1,797
    images, so there the held-out images are unseen by the final training and
    tuning, not by the search.

    Example:
        >>> (xtr, ytr), (xte, yte) = train_test_arrays("digits")
        >>> xtr.shape, xte.shape
        ((1352, 64), (445, 64))
        >>> train_test_arrays("digits", test_fraction=1.0)
        Traceback (most recent call last):
        ...
        ValueError: test_fraction must lie in (0, 1), got 1.0
    """
    if not isinstance(test_fraction, float | int) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    x, y = load_dataset(dataset, "train", data_dir)
    if dataset != "digits":
        return (x, y), load_dataset(dataset, "test", data_dir)
    rng = np.random.default_rng(_HOLDOUT_SEED)
    test = np.concatenate(
        [
            rng.permutation(np.flatnonzero(y == c))[: int(np.sum(y == c) * test_fraction)]
            for c in np.unique(y)
        ]
    )
    is_test = np.zeros(y.size, bool)
    is_test[test] = True
    return (x[~is_test], y[~is_test]), (x[is_test], y[is_test])


def final_evaluation_tasks(
    dataset: str, *, data_dir: str | Path | None = None, **options: Any
) -> TaskSet:
    """Unprojected tasks for the final evaluation: train split to train, test split to validate.

    As in the paper (Supplement S4), the selected algorithm finally trains on
    examples of the training split at full dimensionality (784 for
    Fashion-MNIST, 3,072 for CIFAR-10) and is measured on the held-out test
    split (8,000 and 2,000 examples per pair there). ``options`` are
    `projected_binary_tasks`'s other keywords (``split``, ``n_pairs``,
    ``n_train``, ``n_valid``, ``seed``, ...); ``project`` is always False.
    Digits have no test split; `heldout_tasks` gives them a fixed one.

    Example:
        >>> ts = final_evaluation_tasks(  # doctest: +SKIP
        ...     "fashion_mnist", split="all", n_pairs=1, n_train=8000, n_valid=2000)
        >>> ts.F, ts.N, ts.M  # doctest: +SKIP
        (784, 8000, 2000)
    """
    test = load_dataset(dataset, "test", data_dir)
    return projected_binary_tasks(
        dataset, data_dir=data_dir, project=False, valid_data=test, **options
    )


def heldout_tasks(
    dataset: str, *, data_dir: str | Path | None = None, test: bool = True, **options: Any
) -> TaskSet:
    """Unprojected binary tasks on the two parts of `train_test_arrays`.

    With ``test=True`` (the final evaluation) tasks train on the training part
    and validate on the held-out test part, like `final_evaluation_tasks` but
    for digits too. With ``test=False`` (tuning, Supplement S7: "all
    hyperparameter-tuning trials use ... the training set") both their
    training and validation examples come from the training part, and the
    test part is never touched. ``options`` are `projected_binary_tasks`'s
    keywords; ``project`` is always False and names start with ``dataset``.
    For digits the held-out part has 43-45 images per class, so ``n_valid``
    can be at most 87 with ``test=True``.

    Example:
        >>> ts = heldout_tasks("digits", split="all", n_pairs=2, n_train=200, n_valid=80)
        >>> ts.F, ts.N, ts.M, ts.names[0].startswith("digits")
        (64, 200, 80, True)
        >>> heldout_tasks("digits", test=False, n_pairs=1, n_train=180, n_valid=70).M
        70
    """
    train, held_out = train_test_arrays(dataset, data_dir)
    options.setdefault("name", dataset)
    valid = held_out if test else None
    return projected_binary_tasks(train, project=False, valid_data=valid, **options)
