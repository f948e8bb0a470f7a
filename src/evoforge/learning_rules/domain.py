"""The ``learning_rules`` domain: evolve the equation that replaces back-propagation.

Config table ``[learning_rules]`` (defaults in brackets):

* ``dataset`` ["digits"], ``data_dir``, ``n_train`` [1000], ``n_val`` [300],
  ``n_test``, ``data_seed`` [the run seed]: the split;
* ``model``: an `evoforge.nn.build_model` table [MLP, hidden 64, 64];
* ``train``: `evoforge.nn.TrainConfig` fields [SGD, lr 0.05, 3 epochs];
* ``train_seed`` [the run seed], ``activation`` ["relu"], ``device`` ["cpu"];
* ``min_blocks`` [1], ``max_blocks`` [3]: binary functions per equation;
* ``initial`` ["random"] or "seeded" with ``seeds`` [["bp", "fa", "dfa"]];
* ``operands``, ``unary``, ``binary``: subsets of the DSL to search [all];
  operands as text such as "g" or "bn(dh)", unary functions as "clip[0.1]".

Example:
    >>> setup = build({"n_train": 100, "n_val": 50, "train": {"epochs": 1}}, "learning_rules", 0)
    >>> setup.resolved_config["initial"], str(setup.space.seeds[0])
    ('random', 'mul(matmul(b1, W), dh)')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from evoforge.config import ConfigError, Section
from evoforge.data.datasets import DATASETS, DatasetError
from evoforge.domains import DomainSetup, register_domain
from evoforge.learning_rules.equation import MAX_BLOCKS, EquationSyntaxError, parse, preset
from evoforge.learning_rules.evaluator import ACTIVATIONS, RuleEvaluator, describe
from evoforge.learning_rules.functions import BINARY, UNARY_CHOICES, Unary
from evoforge.learning_rules.operands import OPERAND_CHOICES
from evoforge.learning_rules.space import EquationSpace

DEFAULT_MODEL = {"name": "mlp", "hidden": [64, 64]}
DEFAULT_TRAIN = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.0, "epochs": 3, "batch_size": 32}


def _operand(text: str) -> Any:
    # An operand is parsed as the left argument of a one-block equation.
    return parse(f"left({text}, g)").blocks[0].op1


def _unary(text: str) -> Unary:
    name, _, rest = text.partition("[")
    return Unary(name, float(rest.rstrip("]")) if rest else None)


def build(table: Mapping[str, Any], path: str, seed: int) -> DomainSetup:
    """Validate ``[learning_rules]`` and build the space and evaluator."""
    s = Section(table, path)
    dataset = s.get_str("dataset", "digits", choices=DATASETS)
    data_dir = s.get_str("data_dir", None)
    n_train = s.get_int("n_train", 1000, min=1)
    n_val = s.get_int("n_val", 300, min=1)
    n_test = s.get_int("n_test", None, min=1)
    data_seed = s.get_int("data_seed", seed, min=0)
    train_seed = s.get_int("train_seed", seed, min=0)
    activation = s.get_str("activation", "relu", choices=tuple(ACTIVATIONS))
    device = s.get_str("device", "cpu")
    model = s.get_table("model") or dict(DEFAULT_MODEL)
    s.resolved["model"] = model
    train = {**DEFAULT_TRAIN, **s.get_table("train")}
    s.resolved["train"] = train
    min_blocks = s.get_int("min_blocks", 1, min=1, max=MAX_BLOCKS)
    max_blocks = s.get_int("max_blocks", MAX_BLOCKS, min=min_blocks, max=MAX_BLOCKS)
    initial = s.get_str("initial", "random", choices=("random", "seeded"))
    seeds = s.get_list("seeds", ["bp", "fa", "dfa"], min_len=1)
    subsets: dict[str, list[Any]] = {}
    for key, default, convert in (
        ("operands", [str(o) for o in OPERAND_CHOICES], _operand),
        ("unary", [str(u) for u in UNARY_CHOICES], _unary),
        ("binary", list(BINARY), str),
    ):
        texts = s.get_list(key, default, min_len=1)
        items = []
        for i, text in enumerate(texts):
            try:
                item = convert(text)
                if key == "binary" and item not in BINARY:
                    raise ValueError(f"expected one of {', '.join(BINARY)}")
            except ValueError as exc:
                raise ConfigError(f"{s.field_path(key)}[{i}]", str(exc)) from None
            items.append(item)
        subsets[key] = items
    for i, text in enumerate(seeds):
        try:
            preset(text)
        except EquationSyntaxError as exc:
            raise ConfigError(f"{s.field_path('seeds')}[{i}]", str(exc)) from None
    for key, value in train.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{s.field_path('train')}.{key}", "expected a finite number")
    try:
        evaluator = RuleEvaluator(
            model,
            train,
            dataset=dataset,
            n_train=n_train,
            n_val=n_val,
            n_test=n_test,
            data_dir=data_dir,
            data_seed=data_seed,
            seed=train_seed,
            activation=activation,
            device=device,
        )
    except ValueError as exc:
        raise s.error("train", str(exc)) from None
    try:
        net = evaluator.build(train_seed)
    except (DatasetError, ValueError) as exc:
        key = "dataset" if isinstance(exc, DatasetError) else "model"
        raise s.error(key, str(exc)) from None
    conv = any(type(m).__name__ == "Conv2d" for m in net.modules())
    try:
        space = EquationSpace(
            min_blocks=min_blocks,
            max_blocks=max_blocks,
            operands=subsets["operands"],
            unary=subsets["unary"],
            binary=subsets["binary"],
            conv=conv,
            initial=initial,
            seeds=seeds,
        )
    except ValueError as exc:
        raise s.error("seeds", str(exc)) from None
    resolved = s.finish()
    n_params = sum(p.numel() for p in net.parameters())
    return DomainSetup(
        space,
        evaluator,
        describe=describe,
        resolved_config=resolved,
        fitness_range=(0.0, 1.0),
        # Weights, gradients and optimiser state, plus the data, per worker.
        worker_bytes=16 * n_params + evaluator.data.x_train.numel() * 4 * 3,
        worker_key=s.field_path("model"),
    )


register_domain("learning_rules", build)
