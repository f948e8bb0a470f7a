"""Tasks and datasets shared by all domains.

AutoML-Zero's task generators live here: synthetic regression (linear, affine,
teacher network; paper §4.1) and projected binary classification from class
pairs of an image dataset (paper §4.2, Supplement S4). Each returns a
`TaskSet`, the stacked, read-only record the interpreters consume. Image
datasets beyond the bundled digits (MNIST, Fashion-MNIST, CIFAR-10) are read
from local files by `evoforge.data.datasets`; nothing is downloaded.

Example:
    >>> from evoforge.data import affine_tasks, projected_binary_tasks
    >>> affine_tasks(3, features=8, n_train=100, n_valid=10, seed=0).names[-1]
    'affine[2]'
    >>> projected_binary_tasks("digits", features=8, n_pairs=1, seed=0).eval_type
    'accuracy'
"""

from evoforge.data.datasets import DatasetError, DatasetInfo, available_datasets
from evoforge.data.projected import (
    SPLITS,
    final_evaluation_tasks,
    load_dataset,
    pair_split,
    projected_binary_tasks,
    projected_multiclass_tasks,
)
from evoforge.data.regression import affine_tasks, linear_tasks, teacher_tasks
from evoforge.data.tasks import EVAL_TYPES, Task, TaskSet

__all__ = [
    "EVAL_TYPES",
    "SPLITS",
    "DatasetError",
    "DatasetInfo",
    "Task",
    "TaskSet",
    "affine_tasks",
    "available_datasets",
    "final_evaluation_tasks",
    "linear_tasks",
    "load_dataset",
    "pair_split",
    "projected_binary_tasks",
    "projected_multiclass_tasks",
    "teacher_tasks",
]
