"""Weight initialisation: AutoInit, analytic signal-preserving initialisation for PyTorch.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from evoforge.init import autoinit
    >>> net = autoinit(nn.Sequential(nn.Linear(8, 64), nn.GELU()), torch.randn(256, 8))
"""

from evoforge.init.autoinit import (
    AutoInitWarning,
    CenteredActivation,
    SignalRecord,
    autoinit,
    predict_signal,
)
from evoforge.init.moments import Moments

__all__ = [
    "AutoInitWarning",
    "CenteredActivation",
    "Moments",
    "SignalRecord",
    "autoinit",
    "predict_signal",
]
