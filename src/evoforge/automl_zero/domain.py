"""The ``[automl_zero]`` config table: builds the program space, the search
evaluator and the select-task selector for a run.

Example:
    >>> from evoforge.automl_zero.domain import build
    >>> setup = build({
    ...     "memory": {"scalars": 4, "vectors": 3, "matrices": 1},
    ...     "setup": {"ops": ["SCALAR_CONST_SET"], "size": 1},
    ...     "predict": {"ops": ["VECTOR_INNER_PRODUCT"], "size": 1},
    ...     "learn": {"ops": ["OP2", "OP3", "OP18", "OP23"], "size": 4},
    ...     "search_tasks": {"type": "linear", "n_tasks": 2, "features": 4,
    ...                      "n_train": 50, "n_valid": 20},
    ... }, "automl_zero", seed=0)
    >>> setup.space.memory.features, setup.evaluator.tasks.D
    (4, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.automl_zero.evaluator import (
    COMBINE_MODES,
    INTERPRETERS,
    RANDOM_SEEDS,
    ProgramEvaluator,
)
from evoforge.automl_zero.mutator import MUTATIONS, Mutator
from evoforge.automl_zero.ops import op_by_name
from evoforge.automl_zero.program import COMPONENTS, Memory, Program
from evoforge.automl_zero.simplify import simplify
from evoforge.automl_zero.space import ProgramSpace
from evoforge.automl_zero.text import ProgramSyntaxError, from_text
from evoforge.config import ConfigError, Section
from evoforge.data.datasets import DATASETS, DatasetError
from evoforge.data.projected import projected_binary_tasks, projected_multiclass_tasks
from evoforge.data.regression import affine_tasks, linear_tasks, teacher_tasks
from evoforge.domains import DomainSetup, register_domain

TASK_TYPES = ("linear", "affine", "teacher", "projected_binary", "projected_multiclass")


def _ops(section: Section) -> list[int]:
    names = section.get_list("ops", [], item=str)
    ids = []
    for i, name in enumerate(names):
        try:
            ids.append(op_by_name(name).id)
        except KeyError as error:
            raise ConfigError(f"{section.field_path('ops')}[{i}]", error.args[0]) from None
    return ids


def _component(section: Section) -> tuple[list[int], int, int, int]:
    """(ops, init size, min size, max size); ``size`` fixes all three."""
    ops = _ops(section)
    size = section.get_int("size", None, min=0)
    if size is not None:
        return ops, size, size, size
    min_size = section.get_int("min_size", 0, min=0)
    max_size = section.get_int("max_size", 100, min=0)
    init_size = section.get_int("init_size", min_size, min=0)
    if not min_size <= init_size <= max_size:
        raise section.error(
            "init_size",
            f"expected min_size <= init_size <= max_size, "
            f"got {min_size} <= {init_size} <= {max_size}",
        )
    return ops, init_size, min_size, max_size


def _tasks(section: Section, seed: int, split: str, n_tasks_default: int):
    kind = section.get_str("type", choices=TASK_TYPES)
    n_tasks = section.get_int("n_tasks", n_tasks_default, min=1)
    epochs = section.get_int("epochs", 1, min=1)
    task_seed = section.get_int("seed", seed, min=0)
    if kind == "projected_binary":
        features = section.get_int("features", 16, min=1)
        dataset = section.get_str("dataset", "digits", choices=DATASETS)
        data_dir = section.get_str("data_dir", None)
        n_train = section.get_int("n_train", 250, min=1)
        n_valid = section.get_int("n_valid", 100, min=1)
        pairs = 36 if split == "search" else 9  # of the 45 class pairs (Supplement S4)
        per_pair = section.get_int("projections_per_pair", -(-n_tasks // pairs), min=1)
        try:
            tasks = projected_binary_tasks(
                dataset, features=features, projections_per_pair=per_pair, split=split,
                n_train=n_train, n_valid=n_valid, epochs=epochs, seed=task_seed, data_dir=data_dir,
            )  # fmt: skip
        except (DatasetError, ValueError) as error:  # missing files, too few examples
            raise section.error("dataset", str(error)) from None
        if n_tasks > tasks.D:
            raise section.error(
                "n_tasks", f"only {tasks.D} tasks for {per_pair} projections per pair"
            )
        # A seeded sample across all pairs, not the first pairs in sorted order.
        chosen = np.random.default_rng(task_seed).choice(tasks.D, n_tasks, replace=False)
        return tasks.subset(sorted(chosen.tolist()))
    if kind == "projected_multiclass":
        # Search and select tasks differ by seed, i.e. by projection (Supplement S5).
        features = section.get_int("features", 16, min=2)
        n_classes = section.get_int("n_classes", 10, min=2, max=features)
        dataset = section.get_str("dataset", "digits", choices=DATASETS)
        data_dir = section.get_str("data_dir", None)
        n_train = section.get_int("n_train", 1000, min=1)
        n_valid = section.get_int("n_valid", 500, min=1)
        try:
            return projected_multiclass_tasks(
                dataset, features=features, n_classes=n_classes, n_tasks=n_tasks,
                n_train=n_train, n_valid=n_valid, epochs=epochs, seed=task_seed, data_dir=data_dir,
            )  # fmt: skip
        except (DatasetError, ValueError) as error:  # missing files, too few examples
            raise section.error("dataset", str(error)) from None
    features = section.get_int("features", 8, min=1)
    n_train = section.get_int("n_train", 1000, min=1)
    n_valid = section.get_int("n_valid", 100, min=1)
    make = {"linear": linear_tasks, "affine": affine_tasks, "teacher": teacher_tasks}[kind]
    extra = {"hidden": section.get_int("hidden", features, min=1)} if kind == "teacher" else {}
    return make(n_tasks, features, n_train, n_valid, epochs, seed=task_seed, **extra)


def _initial(table: Section, memory: Memory) -> str | Program:
    initial = table.get_str("initial", "random", choices=("empty", "random", "program"))
    text = table.get_str("initial_program", None)
    if initial != "program":
        if text is not None:
            raise table.error("initial_program", "only used with initial = 'program'")
        return initial
    if text is None:
        raise table.error("initial_program", "missing; expected program text or a file path")
    if "def " not in text:
        path = Path(text)
        if not path.is_file():
            raise table.error("initial_program", f"no such file: {text}")
        text = path.read_text()
    try:
        return from_text(text, memory)
    except ProgramSyntaxError as error:
        raise table.error("initial_program", str(error)) from None


def build(table: Mapping[str, Any], path: str, seed: int) -> DomainSetup:
    """Validate ``[automl_zero]`` and build the run's space, evaluator and selector."""
    s = Section(table, path)
    mem = s.get_section("memory")
    search_section = s.get_section("search_tasks")
    search_tasks = _tasks(
        search_section, int(np.random.SeedSequence([seed, 0]).generate_state(1)[0]), "search", 10
    )
    # Multiclass tasks reserve v1 (logits) and v2 (label) besides v0 (features).
    multiclass = search_tasks.eval_type == "multiclass"
    memory = Memory(
        n_scalars=mem.get_int("scalars", 4, min=2),
        n_vectors=mem.get_int("vectors", 3, min=3 if multiclass else 1),
        n_matrices=mem.get_int("matrices", 1, min=1),
        features=search_tasks.F,
    )
    components = [_component(s.get_section(name)) for name in COMPONENTS]
    if not any(c[0] for c in components):
        raise s.error("setup", "no component function has allowed ops (setup/predict/learn.ops)")
    mutations = s.get_list("mutations", ["insert_remove", "randomize_component", "alter_argument"],
                           item=str, min_len=1, choices=MUTATIONS)  # fmt: skip
    mutator = Mutator(
        memory,
        tuple(c[0] for c in components),
        tuple(c[2] for c in components),
        tuple(c[3] for c in components),
        mutations,
    )
    initial = _initial(s, memory)
    randomize = s.get_list("randomize", [], item=str, choices=COMPONENTS)
    if randomize and not isinstance(initial, Program):
        raise s.error("randomize", "only used with initial = 'program'")
    for name in randomize:
        if not components[COMPONENTS.index(name)][0]:
            raise s.error("randomize", f"{name!r} has no allowed ops ({name}.ops) to draw from")
    space = ProgramSpace(
        mutator,
        tuple(c[1] for c in components),
        initial,
        tuple(COMPONENTS.index(name) for name in randomize),
    )
    evaluator_options = {
        "combine": s.get_str("combine", "mean", choices=COMBINE_MODES),
        "max_abs_error": s.get_float("max_abs_error", 100.0, min=0.0, min_exclusive=True),
        "interpreter": s.get_str("interpreter", "numba", choices=INTERPRETERS),
        "random_seeds": s.get_str("random_seeds", "program", choices=RANDOM_SEEDS),
    }
    fec = s.get_section("fec")
    fec_examples = (
        fec.get_int("train_examples", 10, min=1),
        fec.get_int("valid_examples", 10, min=1),
    )
    hurdle_tasks = s.get_int("hurdle_tasks", None, min=1, max=search_tasks.D)
    evaluator = ProgramEvaluator(
        memory,
        search_tasks,
        fec_examples=fec_examples,
        hurdle_tasks=hurdle_tasks,
        time_cap_seconds=s.get_float("time_cap_seconds", None, min=0.0, min_exclusive=True),
        **evaluator_options,
    )
    selector = None
    if "select_tasks" in s.data:
        select_section = s.get_section("select_tasks")
        select_seed = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
        select_tasks = _tasks(select_section, select_seed, "select", 100)
        if memory.features != select_tasks.F:
            raise select_section.error("features", f"expected {memory.features} like search_tasks")
        if select_tasks.eval_type != search_tasks.eval_type:
            raise select_section.error(
                "type", f"expected {search_tasks.eval_type!r} tasks like search_tasks"
            )
        select_evaluator = ProgramEvaluator(memory, select_tasks, **evaluator_options)
        selector = _Selector(select_evaluator)
    return DomainSetup(
        space,
        evaluator,
        selector,
        _Describer(space, search_tasks.eval_type == "multiclass"),
        s.finish(),
    )


class _Selector:
    """Fitness on the held-out select tasks (picklable, unlike a lambda)."""

    def __init__(self, evaluator: ProgramEvaluator):
        self.evaluator = evaluator

    def __call__(self, program: Program) -> float:
        return self.evaluator.evaluate(program).fitness


class _Describer:
    """Sizes and the simplified program (dead code removed, Supplement S8),
    for the header of ``best.txt``."""

    def __init__(self, space: ProgramSpace, multiclass: bool):
        self.space = space
        self.multiclass = multiclass

    def __call__(self, program: Program) -> str:
        setup, predict, learn = program.sizes
        simplified = simplify(program, self.space.memory, self.multiclass)
        return "\n".join(
            [
                f"{len(program)} instructions (Setup {setup}, Predict {predict}, Learn {learn}), "
                f"{len(simplified)} of them can affect a prediction:",
                *self.space.to_text(simplified).splitlines(),
            ]
        )


register_domain("automl_zero", build)
