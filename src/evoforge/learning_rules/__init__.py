"""Backprop Evolution (Alber et al. 2018): evolve the equation that replaces back-propagation.

`apply_rule` trains any PyTorch network with an equation; `parse` reads one;
the ``learning_rules`` domain searches for them.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
    >>> with apply_rule(net, "add(norm_fro(g), scale[0.5](g))"):  # Table 1, A1 momentum
    ...     loss = nn.functional.cross_entropy(net(torch.randn(6, 4)), torch.arange(6) % 3)
    ...     loss.backward()
    ...     opt.step()
    >>> str(parse(PRESETS["fa"]))
    'mul(matmul(b1, R), dh)'
"""

from evoforge.learning_rules.backward import RuleHandle, apply_rule
from evoforge.learning_rules.equation import (
    PRESETS,
    Block,
    Equation,
    EquationSyntaxError,
    infer_shape,
    is_feasible,
    parse,
    preset,
)
from evoforge.learning_rules.space import EquationSpace

__all__ = [
    "PRESETS",
    "Block",
    "Equation",
    "EquationSpace",
    "EquationSyntaxError",
    "RuleHandle",
    "apply_rule",
    "infer_shape",
    "is_feasible",
    "parse",
    "preset",
]
