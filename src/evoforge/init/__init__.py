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
    Rule,
    RuleContext,
    SignalRecord,
    autoinit,
    predict_signal,
    register_rule,
)
from evoforge.init.moments import Moments

__all__ = [
    "AutoInitWarning",
    "CenteredActivation",
    "Moments",
    "Rule",
    "RuleContext",
    "SignalRecord",
    "autoinit",
    "predict_signal",
    "register_rule",
]
