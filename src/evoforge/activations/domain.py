"""The ``[activations]`` config table: activation-function search (CAFE, PANGAEA, AQuaSurF).

Keys (defaults in brackets):

* ``representation``: ``"pangaea"`` (parametric computation graphs),
  ``"cafe_s1"`` (one core unit, 3,456 functions, enumerable), ``"cafe_s2"``
  (three core units) or ``"aquasurf"`` (a finite pool with FIM and output
  features, for ``search.strategy = "surrogate"``) [``"pangaea"``];
* PANGAEA only: ``max_nodes`` [7], ``max_params`` [3] (0: non-parametric
  evolution);
* AQuaSurF only, the ``aquasurf`` table (`evoforge.activations.aquasurf.pool`):
  ``space``: ``"benchmark"`` (binary(unary(x), unary(x)), 2,865 unique) or
  ``"four_node"`` (a sample of the 1,023,516-function space) [``"benchmark"``];
  ``pool_size``: a seeded sample of that many (0: the whole benchmark space)
  [0; required for ``four_node``]; ``pool_seed`` [the run seed];
  ``feature_batch``: training images the FIM is computed on [500];
  ``embed_seed``: seeds UMAP [the run seed]; ``start``: formulas evaluated
  first [``["relu(x)"]``]. Features are computed with the configured model,
  initialised by ``init`` (the chapter uses ``"autoinit"``), and cached in the
  run directory;
* ``param_mode``: ``"per_channel"``, ``"per_layer"`` or ``"per_neuron"``
  learnable parameters [``"per_channel"``];
* ``dataset`` [``"digits"``], ``data_dir``, ``n_train`` [1000], ``n_val`` [300],
  ``data_seed`` [the run seed]: the split (`evoforge.nn.load_image_data`);
* ``model``: a `evoforge.nn.build_model` table [All-CNN-C, width 1/6];
* ``train``: `evoforge.nn.TrainConfig` fields [defaults of `TrainConfig`];
* ``init``: ``"none"``, ``"autoinit"``, ``"autoinit++"``, ``"glorot"``, ``"he"``
  [``"none"``];
* ``fitness``: ``"accuracy"`` or ``"loss"`` (see
  `evoforge.activations.evaluator`) [``"accuracy"``];
* ``device``: ``"cpu"``, ``"cuda"``, ... [``"cpu"``];
* ``train_seed``: weights and batch order, the same for every candidate
  [the run seed].

The builder checks the model spec and training config and loads the data
once, so a bad table fails before the run starts. ``best.txt`` gets the
formula, its sympy form and the number of learnable parameters.

Example:
    >>> setup = build({"representation": "cafe_s1", "model": {"name": "mlp", "hidden": [8]},
    ...                "n_train": 100, "n_val": 50}, "activations", seed=0)
    >>> sum(1 for _ in setup.space.enumerate())
    3456
    >>> print(setup.describe(setup.space.from_text("tanh(x) * min_zero(x)")))
    tanh(x) * min_zero(x)
    sympy: tanh(x)*Min(0, x)
    learnable parameters: 0
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from evoforge.activations import cafe
from evoforge.activations.aquasurf.pool import POOLS, AquasurfSpace, pool_functions
from evoforge.activations.evaluator import (
    FITNESS,
    IMAGE_SHAPES,
    INITS,
    NUM_CLASSES,
    ActivationEvaluator,
)
from evoforge.activations.expr import Node
from evoforge.activations.formula import MAX_DEPTH, PARAM_NAMES, parse, to_sympy, to_text
from evoforge.activations.module import MODES
from evoforge.activations.pangaea import MAX_NODES, MAX_PARAMS
from evoforge.activations.space import CafeSpace, PangaeaSpace
from evoforge.config import ConfigError, Section, check_memory
from evoforge.data.datasets import DATASETS, DatasetError
from evoforge.domains import DomainSetup, register_domain
from evoforge.nn import build_model, resolve_device

REPRESENTATIONS = ("pangaea", "cafe_s1", "cafe_s2", "aquasurf")
DEFAULT_MODEL: dict[str, Any] = {"name": "allcnnc", "width": 1 / 6}
# A genome of each representation, to check that the model builds.
_PROBES = {
    "pangaea": "relu(x)",
    "cafe_s1": "relu(x) + zero(x)",
    "cafe_s2": "relu(relu(x) + zero(x)) + zero(relu(x) + zero(x))",
    "aquasurf": "relu(x)",
}


class EnumerableCafeSpace(CafeSpace):
    """`CafeSpace` over S1 that can list all its 3,456 genomes (for exhaustive search).

    Example:
        >>> next(iter(EnumerableCafeSpace().enumerate())).n_nodes
        3
    """

    def __init__(self) -> None:
        super().__init__("s1")

    def enumerate(self) -> Iterator[Node]:
        """Every S1 function, in `evoforge.activations.cafe.enumerate_s1` order."""
        return cafe.enumerate_s1()


def describe(genome: Node) -> str:
    """The formula, its sympy form and the learnable-parameter count.

    Example:
        >>> from evoforge.activations.formula import parse
        >>> print(describe(parse("alpha*x * sigmoid(x)")))
        alpha*x * sigmoid(x)
        sympy: alpha*x/(1 + exp(-x))
        learnable parameters: 1
    """
    try:
        sym = str(to_sympy(genome))
    except Exception as exc:  # sympy cannot express some operators
        sym = f"(unavailable: {type(exc).__name__})"
    return f"{to_text(genome)}\nsympy: {sym}\nlearnable parameters: {genome.n_params}"


# Caps far above the papers' settings (7 nodes, 3 parameters, 200 epochs):
# a graph deeper than the formula printer's bound could not be stored, and a
# typo such as epochs = 1e9 should fail here, not after days of training.
MAX_GRAPH_NODES = MAX_DEPTH // 2
MAX_TRAIN_EPOCHS = 100_000
# Bytes per model parameter in training: float32 weight, gradient, two optimiser moments.
_PARAM_TRAIN_BYTES = 16


def _check_finite(path: str, value: Any) -> None:
    """Refuse nan and inf anywhere in a raw table that another module validates."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(path, f"expected a finite number, got {value!r}")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_finite(f"{path}.{key}", item)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_finite(f"{path}[{i}]", item)


def _model_bytes(s: Section, model: Mapping[str, Any], dataset: str) -> int:
    """Training memory of the model, counted on PyTorch's meta device (no
    storage), refused before the real model is allocated if it cannot fit."""
    try:
        with torch.device("meta"):
            net = build_model(
                model, in_shape=IMAGE_SHAPES[dataset], num_classes=NUM_CLASSES[dataset]
            )
    except Exception:  # an estimate only: the real build reports a bad spec in its own words
        return 0
    n = sum(p.numel() for p in net.parameters())
    estimate = n * _PARAM_TRAIN_BYTES
    check_memory(s.field_path("model"), estimate, f"training the model ({n:,} parameters)")
    return estimate


def build(table: Mapping[str, Any], path: str, seed: int) -> DomainSetup:
    """Validate ``[activations]`` and build the space and the evaluator."""
    s = Section(table, path)
    representation = s.get_str("representation", "pangaea", choices=REPRESENTATIONS)
    if representation == "pangaea":
        max_nodes = s.get_int("max_nodes", MAX_NODES, min=1, max=MAX_GRAPH_NODES)
        max_params = s.get_int("max_params", MAX_PARAMS, min=0, max=len(PARAM_NAMES))
        space: CafeSpace | PangaeaSpace | AquasurfSpace = PangaeaSpace(
            max_nodes=max_nodes, max_params=max_params
        )
    else:
        for key in ("max_nodes", "max_params"):
            if key in s.data:
                raise s.error(
                    key, f"only used with representation = 'pangaea', not {representation!r}"
                )
        if representation.startswith("cafe"):
            space = EnumerableCafeSpace() if representation == "cafe_s1" else CafeSpace("s2")
    pool = s.get_section("aquasurf") if representation == "aquasurf" else None
    param_mode = s.get_str("param_mode", "per_channel", choices=MODES)
    dataset = s.get_str("dataset", "digits", choices=DATASETS)
    data_dir = s.get_str("data_dir", None)
    n_train = s.get_int("n_train", 1000, min=1)
    n_val = s.get_int("n_val", 300, min=1)
    data_seed = s.get_int("data_seed", seed, min=0)
    train_seed = s.get_int("train_seed", seed, min=0)
    init = s.get_str("init", "none", choices=INITS)
    fitness = s.get_str("fitness", "accuracy", choices=FITNESS)
    device = s.get_str("device", "cpu")
    model = s.get_table("model") or dict(DEFAULT_MODEL)
    s.resolved["model"] = model
    train = s.get_table("train")
    s.resolved["train"] = train
    _check_finite(s.field_path("model"), model)
    _check_finite(s.field_path("train"), train)
    epochs = train.get("epochs")
    if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs > MAX_TRAIN_EPOCHS:
        raise ConfigError(
            f"{s.field_path('train')}.epochs",
            f"expected an integer <= {MAX_TRAIN_EPOCHS:,}, got {epochs}",
        )
    model_bytes = _model_bytes(s, model, dataset)
    try:
        evaluator = ActivationEvaluator(
            model,
            train,
            dataset=dataset,
            n_train=n_train,
            n_val=n_val,
            data_dir=data_dir,
            data_seed=data_seed,
            seed=train_seed,
            init=init,
            param_mode=param_mode,
            fitness=fitness,
            device=device,
        )
    except ValueError as exc:
        raise s.error("train", str(exc)) from None
    try:
        resolve_device(device)
    except ValueError as exc:
        raise s.error("device", str(exc)) from None
    try:
        evaluator.build(parse(_PROBES[representation]))
    except ValueError as exc:
        raise s.error("model", str(exc)) from None
    try:
        _ = evaluator.data
    except (DatasetError, ValueError) as exc:
        raise s.error("dataset", str(exc)) from None
    if pool is not None:
        space = _aquasurf_space(pool, evaluator, seed)
    resolved = s.finish()
    return DomainSetup(
        space,
        evaluator,
        describe=describe,
        resolved_config=resolved,
        worker_bytes=model_bytes,
        worker_key=s.field_path("model"),
        use_run_dir=space.use_run_dir if isinstance(space, AquasurfSpace) else None,
    )


def _aquasurf_space(s: Section, evaluator: ActivationEvaluator, seed: int) -> AquasurfSpace:
    """The ``aquasurf`` table's pool, its features computed with ``evaluator``'s network."""
    which = s.get_str("space", "benchmark", choices=POOLS)
    pool_size = s.get_int("pool_size", 0 if which == "benchmark" else None, min=0)
    if which == "four_node" and not pool_size:
        raise s.error("pool_size", "expected an integer >= 1 (the four-node space is sampled)")
    pool_seed = s.get_int("pool_seed", seed, min=0)
    batch = s.get_int("feature_batch", 500, min=1)
    embed_seed = s.get_int("embed_seed", seed, min=0)
    start = s.get_list("start", ["relu(x)"])
    for i, formula in enumerate(start):
        try:
            parse(formula)
        except ValueError as exc:
            raise ConfigError(f"{s.field_path('start')}[{i}]", str(exc)) from None
    describe_net = {
        "space": which, "pool_size": pool_size, "pool_seed": pool_seed, "batch": batch,
        "model": evaluator.model, "dataset": evaluator.dataset, "n_train": evaluator.n_train,
        "data_seed": evaluator.data_seed, "seed": evaluator.seed, "init": evaluator.init,
        "param_mode": evaluator.param_mode,
    }  # fmt: skip

    def first_batch() -> tuple[torch.Tensor, torch.Tensor]:
        d = evaluator.data
        return d.x_train[:batch], d.y_train[:batch]

    return AquasurfSpace(
        lambda: pool_functions(which, pool_size, pool_seed, start),
        evaluator.build, first_batch, describe_net, start, embed_seed,
    )  # fmt: skip


register_domain("activations", build)
