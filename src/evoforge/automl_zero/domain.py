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

import dataclasses
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
from evoforge.automl_zero.ops import OPS, op_by_name
from evoforge.automl_zero.program import COMPONENTS, Memory, Program
from evoforge.automl_zero.simplify import simplify
from evoforge.automl_zero.space import ProgramSpace
from evoforge.automl_zero.text import ProgramSyntaxError, from_text, instruction_text
from evoforge.config import ConfigError, Section, check_memory
from evoforge.data.datasets import PROJECTABLE_DATASETS, DatasetError
from evoforge.data.projected import projected_binary_tasks, projected_multiclass_tasks
from evoforge.data.regression import affine_tasks, linear_tasks, teacher_tasks
from evoforge.domains import DomainSetup, register_domain

TASK_TYPES = ("linear", "affine", "teacher", "projected_binary", "projected_multiclass")
OUTSIDE_SPACE = ("refuse", "allow")
# "interpreter": one program per call (the `interpreter` key); "torch": chunks on a device.
EVALUATORS = ("interpreter", "torch")

# Hard caps on sizes, far above the paper's (memory 10/16/4, components of
# at most 45 instructions, F <= 784): a typo such as 1e9 fails here with the
# key's name, not as a MemoryError or an endless run. Whatever passes the caps
# is also checked against the memory available (`_check_task_memory`, and the
# run's total in `evoforge.domains.check_setup`).
MAX_ADDRESSES = 10_000
MAX_COMPONENT_SIZE = 100_000
MAX_FEATURES = 100_000
MAX_TASKS = 1_000_000
MAX_EXAMPLES = 100_000_000
MAX_EPOCHS = 1_000_000
# Bytes per instruction a population member holds: code (4 x int64), data
# (3 x float64) and its cached text line.
_INSTRUCTION_BYTES = 32 + 24 + 100


def _check_task_memory(section: Section, n_built: int, sizes: dict[str, int]) -> int:
    """Refuse task sets too large for this machine before drawing them; return
    their estimated bytes. ``sizes`` has n_train, n_valid, features, epochs
    (and hidden for teacher tasks); ``n_built`` is the number of tasks drawn.

    Per task: inputs (N + M) x F and labels N + M as float64, epoch orders
    E x N as int64; a teacher network hidden x (F + 1) and its N x hidden
    activations. Tasks are stacked into one array, so the peak holds two copies.
    """
    n, m, f, e = sizes["n_train"], sizes["n_valid"], sizes["features"], sizes["epochs"]
    hidden = sizes.get("hidden", 0)
    per_task = (n + m) * (f + 1) + e * n + hidden * (f + 1) + n * hidden
    estimate = 2 * 8 * n_built * per_task
    given = {"n_tasks": n_built, **sizes}
    # Name the largest factor: the likeliest typo among the keys involved.
    key = max(given, key=lambda k: given[k])
    shown = ", ".join(f"{k} = {v:,}" for k, v in given.items())
    check_memory(section.field_path(key), estimate, f"the tasks ({shown})")
    return estimate // 2


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
    cap = MAX_COMPONENT_SIZE
    size = section.get_int("size", None, min=0, max=cap)
    if size is not None:
        return ops, size, size, size
    min_size = section.get_int("min_size", 0, min=0, max=cap)
    max_size = section.get_int("max_size", 100, min=0, max=cap)
    init_size = section.get_int("init_size", min_size, min=0, max=cap)
    if not min_size <= init_size <= max_size:
        raise section.error(
            "init_size",
            f"expected min_size <= init_size <= max_size, "
            f"got {min_size} <= {init_size} <= {max_size}",
        )
    return ops, init_size, min_size, max_size


def _tasks(section: Section, seed: int, split: str, n_tasks_default: int) -> tuple[Any, int]:
    """(task set of one ``*_tasks`` table, its estimated bytes), the bytes for
    the run's memory check."""
    kind = section.get_str("type", choices=TASK_TYPES)
    n_tasks = section.get_int("n_tasks", n_tasks_default, min=1, max=MAX_TASKS)
    epochs = section.get_int("epochs", 1, min=1, max=MAX_EPOCHS)
    task_seed = section.get_int("seed", seed, min=0)
    if kind == "projected_binary":
        features = section.get_int("features", 16, min=1, max=MAX_FEATURES)
        dataset = section.get_str("dataset", "digits", choices=PROJECTABLE_DATASETS)
        data_dir = section.get_str("data_dir", None)
        n_train = section.get_int("n_train", 250, min=1, max=MAX_EXAMPLES)
        n_valid = section.get_int("n_valid", 100, min=1, max=MAX_EXAMPLES)
        pairs = 36 if split == "search" else 9  # of the 45 class pairs (Supplement S4)
        per_pair = section.get_int(
            "projections_per_pair", -(-n_tasks // pairs), min=1, max=MAX_TASKS
        )
        # Every pair's projections are drawn before the sample of n_tasks.
        nbytes = _check_task_memory(
            section, pairs * per_pair,
            {"n_train": n_train, "n_valid": n_valid, "features": features, "epochs": epochs},
        )  # fmt: skip
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
        return tasks.subset(sorted(chosen.tolist())), nbytes
    if kind == "projected_multiclass":
        # Search and select tasks differ by seed, i.e. by projection (Supplement S5).
        features = section.get_int("features", 16, min=2, max=MAX_FEATURES)
        n_classes = section.get_int("n_classes", 10, min=2, max=features)
        dataset = section.get_str("dataset", "digits", choices=PROJECTABLE_DATASETS)
        data_dir = section.get_str("data_dir", None)
        n_train = section.get_int("n_train", 1000, min=1, max=MAX_EXAMPLES)
        n_valid = section.get_int("n_valid", 500, min=1, max=MAX_EXAMPLES)
        nbytes = _check_task_memory(
            section, n_tasks,
            {"n_train": n_train, "n_valid": n_valid, "features": features, "epochs": epochs},
        )  # fmt: skip
        try:
            tasks = projected_multiclass_tasks(
                dataset, features=features, n_classes=n_classes, n_tasks=n_tasks,
                n_train=n_train, n_valid=n_valid, epochs=epochs, seed=task_seed, data_dir=data_dir,
            )  # fmt: skip
            return tasks, nbytes
        except (DatasetError, ValueError) as error:  # missing files, too few examples
            raise section.error("dataset", str(error)) from None
    features = section.get_int("features", 8, min=1, max=MAX_FEATURES)
    n_train = section.get_int("n_train", 1000, min=1, max=MAX_EXAMPLES)
    n_valid = section.get_int("n_valid", 100, min=1, max=MAX_EXAMPLES)
    make = {"linear": linear_tasks, "affine": affine_tasks, "teacher": teacher_tasks}[kind]
    extra = {}
    if kind == "teacher":
        extra = {"hidden": section.get_int("hidden", features, min=1, max=MAX_FEATURES)}
    scales = {}
    if kind == "teacher":  # 1.0 is Google's generator; smaller inputs suit Figure 5's rate
        scales = {
            key: section.get_float(key, 1.0, min=0.0, max=1e6, min_exclusive=True)
            for key in ("input_scale", "weight_scale")
        }
    nbytes = _check_task_memory(
        section, n_tasks,
        {"n_train": n_train, "n_valid": n_valid, "features": features, "epochs": epochs, **extra},
    )  # fmt: skip
    tasks = make(n_tasks, features, n_train, n_valid, epochs, seed=task_seed, **extra, **scales)
    return tasks, nbytes


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


def _check_in_space(
    s: Section,
    program: Program,
    components: list[tuple[list[int], int, int, int]],
    randomize: list[str],
    features: int,
) -> None:
    """Refuse an initial program that evolution could never have produced:
    an op outside its component's ``ops`` or a component size outside
    ``[min_size, max_size]`` (mutations keep sizes in range, so a program
    outside would stay outside for the whole run). A component with no ops
    is not searched and is kept as given; a randomized one is redrawn."""
    allow = 'set initial_program_outside_space = "allow" to start outside the configured space'
    for k, name in enumerate(COMPONENTS):
        if name in randomize:
            continue
        ops, _, min_size, max_size = components[k]
        rows = program.rows(k)
        if not min_size <= len(rows) <= max_size:
            bounds = str(min_size) if min_size == max_size else f"{min_size}..{max_size}"
            raise s.error(
                "initial_program",
                f"{name.capitalize()} has {len(rows)} instructions but {name} sizes are "
                f"{bounds} ({name}.size / min_size / max_size); {allow}",
            )
        if not ops:
            continue
        allowed = set(ops)
        for line, row in enumerate(rows, 1):
            if row[0] not in allowed:
                spec = OPS[row[0]]
                text = instruction_text(spec, row, features)
                raise s.error(
                    "initial_program",
                    f"{name.capitalize()} instruction {line} `{text}` uses {spec.name} "
                    f"(OP{spec.id}), which is not in {name}.ops; {allow}",
                )


def build(table: Mapping[str, Any], path: str, seed: int) -> DomainSetup:
    """Validate ``[automl_zero]`` and build the run's space, evaluator and
    selector; its ``for_experiment`` redraws the tasks per experiment
    (`ExperimentTasks`)."""
    setup = _build(table, path, _task_seed(seed, 0), _task_seed(seed, 1))
    setup.for_experiment = ExperimentTasks(table, path, seed, setup)
    return setup


def _task_seed(*words: int) -> int:
    """A task seed from a `SeedSequence` over ``words`` (run seed, role, ...)."""
    return int(np.random.SeedSequence(list(words)).generate_state(1)[0])


class ExperimentTasks:
    """``DomainSetup.for_experiment`` of AutoML-Zero: experiment ``k``'s
    search and select tasks, redrawn (as the reference's
    ``--randomize_task_seeds``) from seeds derived from the run's seed and
    ``k``, so a resumed run rebuilds the tasks of the experiment in progress.
    An explicit ``search_tasks.seed`` or ``select_tasks.seed`` is refused
    (the reference ignores it silently), unless it is the seed the fixed tasks
    would use: a run's ``config.toml`` records that one, and resume reads it back.

    Example:
        >>> table = {"setup": {"ops": ["SCALAR_CONST_SET"], "size": 1},
        ...          "search_tasks": {"type": "linear", "n_tasks": 1, "features": 2,
        ...                           "n_train": 5, "n_valid": 5}}
        >>> setup = build(table, "automl_zero", seed=3)
        >>> x0, x1, again = (setup.for_experiment(k).evaluator.tasks.train_x for k in (0, 1, 0))
        >>> bool((x0 == x1).all()), bool((x0 == again).all())
        (False, True)
    """

    def __init__(self, table: Mapping[str, Any], path: str, seed: int, base: DomainSetup):
        self.table, self.path, self.seed, self.base = table, path, seed, base

    def __call__(self, experiment: int) -> DomainSetup:
        table = dict(self.table)
        for role, name in enumerate(("search_tasks", "select_tasks")):
            if name not in table:
                continue
            tasks = table[name] = dict(table[name])
            given = tasks.pop("seed", None)  # else it would override the drawn one
            if given is not None and given != _task_seed(self.seed, role):
                raise ConfigError(
                    f"{self.path}.{name}.seed",
                    "run.randomize_task_seeds draws each experiment's tasks from the run's"
                    f" seed, so this seed ({given}) would be ignored: remove it, or set"
                    " run.randomize_task_seeds = false",
                )
        # Roles 2 and 3, not 0 and 1 with k appended: a SeedSequence pads its
        # entropy with zeros, so [seed, 0, 0] would repeat the fixed tasks' [seed, 0].
        search, select = (_task_seed(self.seed, role, experiment) for role in (2, 3))
        redrawn = _build(table, self.path, search, select)
        # Only the tasks change: the space (and what holds it) stays the run's.
        return dataclasses.replace(
            self.base, evaluator=redrawn.evaluator, selector=redrawn.selector
        )


def _build(table: Mapping[str, Any], path: str, search_seed: int, select_seed: int) -> DomainSetup:
    s = Section(table, path)
    mem = s.get_section("memory")
    search_section = s.get_section("search_tasks")
    search_tasks, search_bytes = _tasks(search_section, search_seed, "search", 10)
    # Multiclass tasks reserve v1 (logits) and v2 (label) besides v0 (features).
    multiclass = search_tasks.eval_type == "multiclass"
    memory = Memory(
        n_scalars=mem.get_int("scalars", 4, min=2, max=MAX_ADDRESSES),
        n_vectors=mem.get_int("vectors", 3, min=3 if multiclass else 1, max=MAX_ADDRESSES),
        n_matrices=mem.get_int("matrices", 1, min=1, max=MAX_ADDRESSES),
        features=search_tasks.F,
    )
    F = memory.features
    # Each interpreter run (search, fingerprint, select) keeps its own banks.
    terms = {
        "scalars": memory.n_scalars,
        "vectors": memory.n_vectors * F,
        "matrices": memory.n_matrices * F * F,
    }
    bank_bytes = 3 * 8 * sum(terms.values())
    biggest = max(terms, key=lambda k: terms[k])
    bank_key = mem.field_path(biggest)
    if biggest != "scalars" and memory.size(biggest[0]) < F:
        bank_key = search_section.field_path("features")
    check_memory(
        bank_key,
        bank_bytes,
        f"the memory banks ({memory.n_scalars} scalars, {memory.n_vectors} vectors of "
        f"{F} and {memory.n_matrices} matrices of {F} x {F}, per interpreter)",
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
    if isinstance(initial, Program):
        # Read only here, so that the resolved config of other runs omits it.
        outside = s.get_str("initial_program_outside_space", "refuse", choices=OUTSIDE_SPACE)
        if outside == "refuse":
            _check_in_space(s, initial, components, randomize, memory.features)
    elif "initial_program_outside_space" in s.data:
        raise s.error("initial_program_outside_space", "only used with initial = 'program'")
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
        fec.get_int("train_examples", 10, min=1, max=MAX_EXAMPLES),
        fec.get_int("valid_examples", 10, min=1, max=MAX_EXAMPLES),
    )
    hurdle_tasks = s.get_int("hurdle_tasks", None, min=1, max=search_tasks.D)
    time_cap = s.get_float("time_cap_seconds", None, min=0.0, min_exclusive=True)
    evaluator = _torch_evaluator(s, memory, search_tasks, fec_examples, hurdle_tasks, time_cap,
                                 evaluator_options)  # fmt: skip
    if evaluator is None:
        evaluator = ProgramEvaluator(
            memory,
            search_tasks,
            fec_examples=fec_examples,
            hurdle_tasks=hurdle_tasks,
            time_cap_seconds=time_cap,
            **evaluator_options,
        )
    worker_bytes = bank_bytes + search_bytes
    selector = None
    if "select_tasks" in s.data:
        select_section = s.get_section("select_tasks")
        select_tasks, select_bytes = _tasks(select_section, select_seed, "select", 100)
        if memory.features != select_tasks.F:
            raise select_section.error("features", f"expected {memory.features} like search_tasks")
        if select_tasks.eval_type != search_tasks.eval_type:
            raise select_section.error(
                "type", f"expected {search_tasks.eval_type!r} tasks like search_tasks"
            )
        select_evaluator = ProgramEvaluator(memory, select_tasks, **evaluator_options)
        selector = _Selector(select_evaluator)
        worker_bytes += select_bytes
    max_sizes = [c[3] for c in components]
    if isinstance(initial, Program):
        max_sizes = [max(m, n) for m, n in zip(max_sizes, initial.sizes, strict=True)]
    longest = COMPONENTS[max(range(3), key=lambda k: max_sizes[k])]
    size_key = "size" if "size" in s.data.get(longest, {}) else "max_size"
    return DomainSetup(
        space,
        evaluator,
        selector,
        _Describer(space, search_tasks.eval_type == "multiclass"),
        s.finish(),
        fitness_range=(0.0, 1.0),  # FlipAndSquash of an error, or an accuracy
        worker_bytes=worker_bytes,
        worker_key=search_section.path,
        genome_bytes=sum(max_sizes) * _INSTRUCTION_BYTES,
        genome_key=f"{path}.{longest}.{size_key}",
    )


def _torch_evaluator(
    s: Section, memory: Memory, tasks, fec_examples, hurdle_tasks, time_cap, options
) -> Any:
    """``evaluator = "torch"``: the batched PyTorch evaluator on ``device`` (default:
    the worker's, from ``run.devices``) in ``dtype``; None for the per-program one.
    Read only when given, so other runs' resolved configs omit these keys."""
    choice = s.get_str("evaluator", None, choices=EVALUATORS) if "evaluator" in s.data else None
    if choice != "torch":
        for key in ("device", "dtype"):
            if key in s.data:
                raise s.error(key, 'only used with evaluator = "torch"')
        return None
    device = s.get_str("device", None)
    dtype = s.get_str("dtype", "float64", choices=("float64", "float32"))
    if tasks.eval_type not in ("rms", "accuracy"):
        raise s.error("evaluator", f"'torch' runs rms and accuracy tasks, not {tasks.eval_type}")
    if time_cap is not None:
        raise s.error("time_cap_seconds", 'not supported with evaluator = "torch"')
    if options["interpreter"] != "numba":
        raise s.error("interpreter", 'evaluator = "torch" fingerprints with "numba"')
    from evoforge.automl_zero.evaluator_torch import TorchProgramEvaluator  # imports torch

    return TorchProgramEvaluator(
        memory, tasks, fec_examples=fec_examples, hurdle_tasks=hurdle_tasks, device=device,
        dtype=dtype, combine=options["combine"], max_abs_error=options["max_abs_error"],
        random_seeds=options["random_seeds"],
    )  # fmt: skip


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
