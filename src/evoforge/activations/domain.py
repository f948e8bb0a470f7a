"""The ``[activations]`` config table: activation-function search (CAFE, PANGAEA).

Keys (defaults in brackets):

* ``representation``: ``"pangaea"`` (parametric computation graphs),
  ``"cafe_s1"`` (one core unit, 3,456 functions, enumerable) or ``"cafe_s2"``
  (three core units) [``"pangaea"``];
* PANGAEA only: ``max_nodes`` [7], ``max_params`` [3] (0: non-parametric
  evolution);
* ``param_mode``: ``"per_channel"``, ``"per_layer"`` or ``"per_neuron"``
  learnable parameters [``"per_channel"``];
* ``dataset`` [``"digits"``], ``data_dir``, ``n_train`` [1000], ``n_val`` [300],
  ``data_seed`` [the run seed]: the split (`evoforge.nn.load_image_data`);
* ``model``: a `evoforge.nn.build_model` table [All-CNN-C, width 1/6];
* ``train``: `evoforge.nn.TrainConfig` fields [defaults of `TrainConfig`];
* ``init``: ``"none"``, ``"autoinit"``, ``"glorot"``, ``"he"`` [``"none"``];
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

from collections.abc import Iterator, Mapping
from typing import Any

from evoforge.activations import cafe
from evoforge.activations.evaluator import FITNESS, INITS, ActivationEvaluator
from evoforge.activations.expr import Node
from evoforge.activations.formula import to_sympy, to_text
from evoforge.activations.module import MODES
from evoforge.activations.pangaea import MAX_NODES, MAX_PARAMS
from evoforge.activations.space import CafeSpace, PangaeaSpace
from evoforge.config import Section
from evoforge.data.datasets import DATASETS, DatasetError
from evoforge.domains import DomainSetup, register_domain
from evoforge.nn import resolve_device

REPRESENTATIONS = ("pangaea", "cafe_s1", "cafe_s2")
DEFAULT_MODEL: dict[str, Any] = {"name": "allcnnc", "width": 1 / 6}
# A genome of each representation, to check that the model builds.
_PROBES = {
    "pangaea": "relu(x)",
    "cafe_s1": "relu(x) + zero(x)",
    "cafe_s2": "relu(relu(x) + zero(x)) + zero(relu(x) + zero(x))",
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


def build(table: Mapping[str, Any], path: str, seed: int) -> DomainSetup:
    """Validate ``[activations]`` and build the space and the evaluator."""
    s = Section(table, path)
    representation = s.get_str("representation", "pangaea", choices=REPRESENTATIONS)
    if representation == "pangaea":
        max_nodes = s.get_int("max_nodes", MAX_NODES, min=1)
        max_params = s.get_int("max_params", MAX_PARAMS, min=0)
        space: CafeSpace | PangaeaSpace = PangaeaSpace(max_nodes=max_nodes, max_params=max_params)
    else:
        for key in ("max_nodes", "max_params"):
            if key in s.data:
                raise s.error(
                    key, f"only used with representation = 'pangaea', not {representation!r}"
                )
        space = EnumerableCafeSpace() if representation == "cafe_s1" else CafeSpace("s2")
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
        evaluator.build(space.from_text(_PROBES[representation]))
    except ValueError as exc:
        raise s.error("model", str(exc)) from None
    try:
        _ = evaluator.data
    except (DatasetError, ValueError) as exc:
        raise s.error("dataset", str(exc)) from None
    resolved = s.finish()
    return DomainSetup(space, evaluator, describe=describe, resolved_config=resolved)


register_domain("activations", build)
