"""Shared PyTorch pieces for the neural domains: data splits, small models, the training loop.

Example:
    >>> from torch import nn
    >>> from evoforge.nn import TrainConfig, build_model, load_image_data, train
    >>> data = load_image_data("digits", n_train=200, n_val=100, seed=0)
    >>> model = build_model({"name": "mlp", "hidden": [32]}, in_shape=data.in_shape,
    ...                     num_classes=data.num_classes, activation=nn.Tanh, seed=0)
    >>> result = train(model, data, TrainConfig(lr=0.05, batch_size=50, epochs=2), seed=0)
    >>> result.diverged, result.epochs_run
    (False, 2)
"""

from evoforge.nn.build import MODEL_FIELDS, build_model
from evoforge.nn.data import ImageData, load_image_data
from evoforge.nn.inits import glorot_uniform, he_normal
from evoforge.nn.models import MLP, AllCNNC, ResNet, WideResNet, finish_model
from evoforge.nn.train import (
    EpochRecord,
    TrainConfig,
    TrainResult,
    augment,
    evaluate,
    learning_rate,
    resolve_device,
    train,
)

__all__ = [
    "MLP",
    "MODEL_FIELDS",
    "AllCNNC",
    "EpochRecord",
    "ImageData",
    "ResNet",
    "TrainConfig",
    "TrainResult",
    "WideResNet",
    "augment",
    "build_model",
    "evaluate",
    "finish_model",
    "glorot_uniform",
    "he_normal",
    "learning_rate",
    "load_image_data",
    "resolve_device",
    "train",
]
