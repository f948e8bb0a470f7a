"""The task records that interpreters and evaluators consume, and the seeding they share.

A `Task` is one dataset: training and validation examples, the order in which
each training epoch visits the examples, and the seed of the program's own
random generator (AutoML-Zero's ``uniform``/``gaussian`` ops). A `TaskSet`
stacks ``D`` tasks of equal shape into ``(D, ...)`` arrays so a compiled
interpreter can loop over them without Python objects.

All arrays are float64 (int64 for orders, uint64 for seeds), C-contiguous and
read-only: task sets are shared by many evaluations, and an interpreter that
wrote into one would silently change every later fitness.

Seeding: every task owns a `numpy.random.SeedSequence` derived from the
generator's seed and the task's key, and each part of a task (teacher weights,
training inputs, validation inputs, epoch orders, program seed) draws from its
own child stream. Changing one argument therefore changes only what it must:
more epochs keep the earlier epochs' orders, more tasks keep the earlier tasks,
more training examples keep the validation set.

Example:
    >>> import numpy as np
    >>> from evoforge.data.tasks import Task, TaskSet
    >>> x = np.zeros((4, 2))
    >>> t = Task(x, np.zeros(4), x[:3], np.zeros(3), np.arange(4)[None], 7, "rms", "zeros")
    >>> ts = TaskSet.from_tasks([t, t])
    >>> (ts.D, ts.N, ts.M, ts.F, ts.epochs)
    (2, 4, 3, 2, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

EVAL_TYPES = ("rms", "accuracy", "multiclass")

# Child streams of a task's SeedSequence, by position in this tuple.
STREAMS = ("model", "train", "valid", "order", "program")


def require_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int, or raise ValueError naming ``name`` if it is not >= 1.

    Example:
        >>> require_positive_int("n_tasks", 3)
        3
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def task_seed_sequence(seed: int | np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    """The SeedSequence of the task identified by ``key`` under ``seed``.

    Built directly from ``seed``'s entropy and spawn key rather than with
    ``spawn()``, so a caller's SeedSequence is never advanced and the same
    arguments always give the same stream.

    Example:
        >>> task_seed_sequence(5, 2).spawn_key
        (2,)
    """
    if isinstance(seed, np.random.SeedSequence):
        root = seed
    elif isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or a SeedSequence, got {seed!r}")
    else:
        root = np.random.SeedSequence(int(seed))
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, *key))


def _child(task_ss: np.random.SeedSequence, stream: str) -> np.random.SeedSequence:
    return np.random.SeedSequence(
        task_ss.entropy, spawn_key=(*task_ss.spawn_key, STREAMS.index(stream))
    )


def stream_rng(task_ss: np.random.SeedSequence, stream: str) -> np.random.Generator:
    """The generator of one named part (see `STREAMS`) of a task.

    Example:
        >>> ss = task_seed_sequence(0, 1)
        >>> bool(stream_rng(ss, "train").random() == stream_rng(ss, "train").random())
        True
    """
    return np.random.default_rng(_child(task_ss, stream))


def program_seed(task_ss: np.random.SeedSequence) -> int:
    """The seed of the task's in-program random generator, a uint64 value.

    Example:
        >>> 0 <= program_seed(task_seed_sequence(0, 1)) < 2**64
        True
    """
    return int(_child(task_ss, "program").generate_state(1, np.uint64)[0])


def epoch_orders(rng: np.random.Generator, n: int, epochs: int) -> np.ndarray:
    """Example order per epoch, shape ``(epochs, n)``: epoch 0 is ``arange(n)``, later
    epochs are permutations drawn from ``rng`` (AutoML-Zero trains its first epoch in
    the stored order).

    Example:
        >>> epoch_orders(np.random.default_rng(0), 4, 2)[0]
        array([0, 1, 2, 3])
    """
    orders = np.empty((epochs, n), dtype=np.int64)
    orders[0] = np.arange(n)
    for e in range(1, epochs):
        orders[e] = rng.permutation(n)
    return orders


def _frozen(name: str, value: Any, kind: str, ndim: int) -> np.ndarray:
    """``value`` as a read-only C-contiguous array of ``kind`` ("float", "int", "uint").

    A read-only *view* is returned, so the caller's own array stays writable.
    """
    arr = np.asarray(value)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if kind == "float":
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite (found NaN or inf)")
    else:
        if arr.dtype.kind not in "iu":
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
        if kind == "uint" and arr.size and arr.min() < 0:
            raise ValueError(f"{name} must be non-negative")
        arr = np.ascontiguousarray(arr, dtype=np.int64 if kind == "int" else np.uint64)
    view = arr.view()
    view.flags.writeable = False
    return view


def _check_batch(
    train_x: np.ndarray,
    train_y: np.ndarray,
    valid_x: np.ndarray,
    valid_y: np.ndarray,
    orders: np.ndarray,
    eval_type: str,
    n_classes: Any,
) -> None:
    """Check the shapes and contents of stacked ``(D, ...)`` task arrays."""
    d, n, f = train_x.shape
    m = valid_x.shape[1]
    if min(d, n, f, m, orders.shape[1]) < 1:
        raise ValueError(
            "a task set needs at least one task, training example, validation example, "
            f"feature and epoch; got train_x {train_x.shape}, valid_x {valid_x.shape}, "
            f"orders {orders.shape}"
        )
    expected = {
        "train_y": (train_y, (d, n)),
        "valid_x": (valid_x, (d, m, f)),
        "valid_y": (valid_y, (d, m)),
        "orders": (orders, (d, orders.shape[1], n)),
    }
    for name, (arr, shape) in expected.items():
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape} to match train_x, got {arr.shape}")
    # The compiled interpreter indexes with these without bounds checks.
    if orders.min() < 0 or orders.max() >= n:
        raise ValueError(f"orders must index training examples, i.e. lie in [0, {n})")
    if eval_type not in EVAL_TYPES:
        raise ValueError(f"eval_type must be one of {EVAL_TYPES}, got {eval_type!r}")
    if eval_type == "accuracy":
        for name, y in (("train_y", train_y), ("valid_y", valid_y)):
            if not np.isin(y, (0.0, 1.0)).all():
                raise ValueError(f"{name} must hold 0.0/1.0 labels for eval_type 'accuracy'")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer):
        raise ValueError(f"n_classes must be an integer, got {n_classes!r}")
    if eval_type != "multiclass":
        if n_classes != 2:
            raise ValueError(f"n_classes must be 2 for eval_type {eval_type!r}, got {n_classes}")
        return
    # The logits and the one-hot label fill entries 0..n_classes-1 of a feature-sized vector.
    if not 2 <= n_classes <= f:
        raise ValueError(
            f"n_classes must lie in [2, F={f}] for eval_type 'multiclass', got {n_classes}"
        )
    for name, y in (("train_y", train_y), ("valid_y", valid_y)):
        # The compiled interpreter writes the one-hot label at index y without bounds checks.
        if not np.isin(y, np.arange(n_classes)).all():
            raise ValueError(
                f"{name} must hold class indices 0.0..{n_classes - 1}.0 for eval_type "
                f"'multiclass' with n_classes={n_classes}"
            )


# Per-task arrays: element kind and dimensions in a `Task` (a `TaskSet` adds the task axis).
_ARRAYS = {
    "train_x": ("float", 2),
    "train_y": ("float", 1),
    "valid_x": ("float", 2),
    "valid_y": ("float", 1),
    "orders": ("int", 2),
}


@dataclass(frozen=True, eq=False, repr=False)
class Task:
    """One task: ``train_x (N, F)``, ``train_y (N,)``, ``valid_x (M, F)``, ``valid_y (M,)``,
    ``orders (E, N)`` (example order per epoch), the in-program generator's ``seed``,
    ``eval_type`` (one of `EVAL_TYPES`), a readable ``name`` and ``n_classes``: the
    number of classes K of a ``"multiclass"`` task, whose labels are class indices
    0.0..K-1 (2 <= K <= F); 2 for the other types.

    Example:
        >>> t = Task(np.ones((2, 3)), np.zeros(2), np.ones((1, 3)), np.zeros(1),
        ...          np.arange(2)[None], 1, "rms", "ones")
        >>> t
        Task('ones', N=2, M=1, F=3, epochs=1, eval_type='rms')
        >>> Task(np.ones((2, 3)), np.array([2.0, 0.0]), np.ones((1, 3)), np.ones(1),
        ...      np.arange(2)[None], 1, "multiclass", "three", n_classes=3)
        Task('three', N=2, M=1, F=3, epochs=1, eval_type='multiclass', n_classes=3)
    """

    train_x: np.ndarray
    train_y: np.ndarray
    valid_x: np.ndarray
    valid_y: np.ndarray
    orders: np.ndarray
    seed: int
    eval_type: str
    name: str
    n_classes: int = 2

    def __post_init__(self) -> None:
        for name, (kind, ndim) in _ARRAYS.items():
            object.__setattr__(self, name, _frozen(name, getattr(self, name), kind, ndim))
        _check_batch(
            *(getattr(self, name)[None] for name in _ARRAYS), self.eval_type, self.n_classes
        )
        object.__setattr__(self, "n_classes", int(self.n_classes))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if not 0 <= self.seed < 2**64:
            raise ValueError(f"seed must lie in [0, 2**64), got {self.seed}")
        object.__setattr__(self, "seed", int(self.seed))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Rebuild through __init__ so an unpickled copy is validated and read-only again.
        return (type(self), tuple(getattr(self, f.name) for f in fields(self)))

    def __repr__(self) -> str:
        n, f = self.train_x.shape
        return (
            f"Task({self.name!r}, N={n}, M={self.valid_x.shape[0]}, F={f}, "
            f"epochs={self.orders.shape[0]}, {_eval_text(self.eval_type, self.n_classes)})"
        )


def _eval_text(eval_type: str, n_classes: int) -> str:
    classes = f", n_classes={n_classes}" if eval_type == "multiclass" else ""
    return f"eval_type={eval_type!r}{classes}"


@dataclass(frozen=True, eq=False, repr=False)
class TaskSet:
    """D tasks of equal shape stacked for a compiled interpreter.

    ``train_x (D, N, F)``, ``train_y (D, N)``, ``valid_x (D, M, F)``, ``valid_y (D, M)``
    are float64 (binary classification labels are 0.0/1.0, multiclass labels the class
    indices 0.0..n_classes-1); ``orders (D, E, N)`` int64 is the example order per
    epoch (epoch 0 is ``arange(N)``); ``seeds (D,)`` uint64 seeds each task's
    in-program random generator. ``eval_type`` and ``n_classes`` are as in `Task`.

    Example:
        >>> from evoforge.data import linear_tasks
        >>> ts = linear_tasks(3, features=4, n_train=10, n_valid=5, seed=0)
        >>> ts.subset([0, 2]).names
        ('linear[0]', 'linear[2]')
        >>> ts.head(2, 1).train_x.shape
        (3, 2, 4)
    """

    train_x: np.ndarray
    train_y: np.ndarray
    valid_x: np.ndarray
    valid_y: np.ndarray
    orders: np.ndarray
    seeds: np.ndarray
    eval_type: str
    names: tuple[str, ...]
    n_classes: int = 2

    def __post_init__(self) -> None:
        for name, (kind, ndim) in _ARRAYS.items():
            object.__setattr__(self, name, _frozen(name, getattr(self, name), kind, ndim + 1))
        _check_batch(*(getattr(self, name) for name in _ARRAYS), self.eval_type, self.n_classes)
        object.__setattr__(self, "n_classes", int(self.n_classes))
        seeds = _frozen("seeds", self.seeds, "uint", 1)
        if seeds.shape != (self.D,):
            raise ValueError(f"seeds must have shape ({self.D},), got {seeds.shape}")
        object.__setattr__(self, "seeds", seeds)
        names = tuple(self.names)
        if len(names) != self.D or not all(isinstance(s, str) for s in names):
            raise ValueError(f"names must be {self.D} strings, got {self.names!r}")
        object.__setattr__(self, "names", names)

    @classmethod
    def from_tasks(cls, tasks: Sequence[Task]) -> TaskSet:
        """Stack tasks of equal shape and evaluation type.

        Example:
            >>> from evoforge.data import linear_tasks
            >>> ts = linear_tasks(2, features=3, n_train=4, n_valid=2)
            >>> TaskSet.from_tasks([ts.task(1), ts.task(0)]).names
            ('linear[1]', 'linear[0]')
        """
        tasks = list(tasks)
        if not tasks:
            raise ValueError("tasks must contain at least one Task")
        shapes = {tuple(getattr(t, name).shape for name in _ARRAYS) for t in tasks}
        types = {(t.eval_type, t.n_classes) for t in tasks}
        if len(shapes) > 1 or len(types) > 1:
            raise ValueError(
                "tasks must share array shapes, eval_type and n_classes to be stacked, "
                f"got shapes {sorted(shapes)} and (eval_type, n_classes) {sorted(types)}"
            )
        stacked = {name: np.stack([getattr(t, name) for t in tasks]) for name in _ARRAYS}
        return cls(
            **stacked,
            seeds=np.array([t.seed for t in tasks], dtype=np.uint64),
            eval_type=tasks[0].eval_type,
            names=tuple(t.name for t in tasks),
            n_classes=tasks[0].n_classes,
        )

    @property
    def D(self) -> int:
        """Number of tasks (the paper's D)."""
        return self.train_x.shape[0]

    @property
    def N(self) -> int:
        """Training examples per task."""
        return self.train_x.shape[1]

    @property
    def M(self) -> int:
        """Validation examples per task."""
        return self.valid_x.shape[1]

    @property
    def F(self) -> int:
        """Feature size."""
        return self.train_x.shape[2]

    @property
    def epochs(self) -> int:
        """Training epochs (E)."""
        return self.orders.shape[1]

    def __len__(self) -> int:
        return self.D

    def task(self, i: int) -> Task:
        """Task ``i`` as a `Task` record (views, no copies).

        Example:
            >>> from evoforge.data import affine_tasks
            >>> affine_tasks(2, features=3, n_train=4, n_valid=2).task(1).name
            'affine[1]'
        """
        if isinstance(i, bool) or not isinstance(i, int | np.integer):
            raise ValueError(f"i must be an integer task position, got {i!r}")
        (i,) = self._indices(i)
        return Task(
            *(getattr(self, name)[i] for name in _ARRAYS),
            seed=int(self.seeds[i]),
            eval_type=self.eval_type,
            name=self.names[i],
            n_classes=self.n_classes,
        )

    def subset(self, idx: int | slice | Sequence[int] | np.ndarray) -> TaskSet:
        """The tasks selected by ``idx`` (an int, a slice, indices or a boolean mask),
        in that order.

        Example:
            >>> from evoforge.data import linear_tasks
            >>> linear_tasks(4, features=2, n_train=3, n_valid=1).subset(slice(1, 3)).names
            ('linear[1]', 'linear[2]')
        """
        sel = self._indices(idx)
        return TaskSet(
            *(getattr(self, name)[sel] for name in _ARRAYS),
            seeds=self.seeds[sel],
            eval_type=self.eval_type,
            names=tuple(self.names[i] for i in sel),
            n_classes=self.n_classes,
        )

    def head(self, n_train: int, n_valid: int) -> TaskSet:
        """The first ``n_train`` training and ``n_valid`` validation examples of every
        task, one epoch in natural order (the fixed examples behind fingerprints).

        Example:
            >>> from evoforge.data import linear_tasks
            >>> h = linear_tasks(2, features=2, n_train=30, n_valid=10, epochs=3).head(10, 5)
            >>> (h.N, h.M, h.epochs)
            (10, 5, 1)
        """
        n_train = require_positive_int("n_train", n_train)
        n_valid = require_positive_int("n_valid", n_valid)
        if n_train > self.N:
            raise ValueError(f"n_train must be at most N={self.N}, got {n_train}")
        if n_valid > self.M:
            raise ValueError(f"n_valid must be at most M={self.M}, got {n_valid}")
        return TaskSet(
            train_x=self.train_x[:, :n_train],
            train_y=self.train_y[:, :n_train],
            valid_x=self.valid_x[:, :n_valid],
            valid_y=self.valid_y[:, :n_valid],
            orders=np.broadcast_to(np.arange(n_train), (self.D, 1, n_train)),
            seeds=self.seeds,
            eval_type=self.eval_type,
            names=self.names,
            n_classes=self.n_classes,
        )

    def _indices(self, idx: int | slice | Sequence[int] | np.ndarray) -> np.ndarray:
        """``idx`` as a non-empty int64 array of task positions."""
        try:
            sel = np.atleast_1d(np.arange(self.D)[idx])
        except (IndexError, TypeError) as exc:
            raise ValueError(f"idx must select tasks among D={self.D}, got {idx!r}") from exc
        if sel.ndim != 1 or sel.size == 0:
            raise ValueError(f"idx must select at least one task along one axis, got {idx!r}")
        return sel

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Rebuild through __init__ so an unpickled copy is validated and read-only again.
        return (type(self), tuple(getattr(self, f.name) for f in fields(self)))

    def __repr__(self) -> str:
        names = self.names if self.D <= 3 else (*self.names[:2], "...", self.names[-1])
        return (
            f"TaskSet(D={self.D}, N={self.N}, M={self.M}, F={self.F}, epochs={self.epochs}, "
            f"{_eval_text(self.eval_type, self.n_classes)}, names={names})"
        )
