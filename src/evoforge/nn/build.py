"""Build a model by name from a small config dict, as search and experiment configs give it.

A model spec is a mapping with ``"name"`` (one of `MODEL_FIELDS`) and that
model's own fields; the input shape, number of classes, activation factory and
initialiser come from the caller. A misspelt or mistyped field raises a
ValueError naming the field and what was expected.

Fields per model (types in brackets; omitted fields take the model's default):

* ``"mlp"``: hidden [list of int], dropout [float];
* ``"allcnnc"``: width [float], input_dropout [float], dropout [float];
* ``"wrn"``: depth [int, 6n+4], widen_factor [int], dropout [float];
* ``"resnet"``: depth [int, 6n+2], version [1 or 2], width [int], batchnorm [bool].

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = build_model({"name": "resnet", "depth": 8, "width": 4}, in_shape=(1, 8, 8),
    ...                   num_classes=10, activation=nn.Tanh)
    >>> net(torch.randn(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    >>> build_model({"name": "resnet", "depht": 20}, in_shape=(1, 8, 8), num_classes=10)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: model 'resnet': unknown field 'depht'; expected one of depth, version, ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from evoforge.nn.models import (
    MLP,
    ActivationFactory,
    AllCNNC,
    InitHook,
    ResNet,
    WideResNet,
)

# Field -> (accepted Python types, description for error messages).
_INT = ((int,), "an int")
_FLOAT = ((int, float), "a number")
_BOOL = ((bool,), "true or false")
_INT_LIST = ((list, tuple), "a list of positive ints")
MODEL_FIELDS: dict[str, dict[str, tuple[tuple[type, ...], str]]] = {
    "mlp": {"hidden": _INT_LIST, "dropout": _FLOAT},
    "allcnnc": {"width": _FLOAT, "input_dropout": _FLOAT, "dropout": _FLOAT},
    "wrn": {"depth": _INT, "widen_factor": _INT, "dropout": _FLOAT},
    "resnet": {"depth": _INT, "version": _INT, "width": _INT, "batchnorm": _BOOL},
}


def _check_field(model: str, key: str, value: Any, types: tuple[type, ...], what: str) -> None:
    ok = isinstance(value, types) and (bool in types or not isinstance(value, bool))
    if ok and types == _INT_LIST[0]:
        ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    if not ok:
        raise ValueError(f"model {model!r}: field {key!r} must be {what}, got {value!r}")


def build_model(
    spec: Mapping[str, Any],
    *,
    in_shape: Sequence[int],
    num_classes: int,
    activation: ActivationFactory = nn.ReLU,
    init: InitHook | None = None,
    example_input: torch.Tensor | None = None,
    seed: int | None = None,
) -> nn.Module:
    """The model ``spec`` describes, for inputs of shape ``in_shape`` (C, H, W).

    ``seed``, when given, seeds PyTorch's default initialisation (and ``init``
    if it draws from the global RNG) without disturbing the caller's RNG, so
    the same spec and seed give the same weights. Convolutional models need
    square images ``(C, S, S)``; the MLP takes any shape and flattens it.

    Example:
        >>> a = build_model({"name": "mlp", "hidden": [8]}, in_shape=(1, 8, 8), num_classes=3, seed=1)
        >>> b = build_model({"name": "mlp", "hidden": [8]}, in_shape=(1, 8, 8), num_classes=3, seed=1)
        >>> all(p.equal(q) for p, q in zip(a.parameters(), b.parameters()))
        True
    """  # noqa: E501
    if not isinstance(spec, Mapping):
        raise ValueError(f"model spec must be a table/dict with a 'name', got {spec!r}")
    name = spec.get("name")
    if name not in MODEL_FIELDS:
        raise ValueError(f"model 'name' must be one of {', '.join(MODEL_FIELDS)}, got {name!r}")
    allowed = MODEL_FIELDS[name]
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "name":
            continue
        if key not in allowed:
            raise ValueError(
                f"model {name!r}: unknown field {key!r}; expected one of {', '.join(allowed)}"
            )
        _check_field(name, key, value, *allowed[key])
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    shape = tuple(in_shape)
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"in_shape must be positive ints, got {in_shape!r}")
    common = {"activation": activation, "init": init, "example_input": example_input}
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        if name == "mlp":
            return MLP(math.prod(shape), num_classes=num_classes, **kwargs, **common)
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"model {name!r} needs in_shape (C, S, S), got {shape}")
        images = {"in_channels": shape[0], "image_size": shape[1], "num_classes": num_classes}
        if name == "allcnnc":
            return AllCNNC(**images, **kwargs, **common)
        if name == "wrn":
            return WideResNet(**images, **kwargs, **common)
        return ResNet(**images, **kwargs, **common)
