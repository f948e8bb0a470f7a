"""Classic initialisers as ``init`` hooks, the baselines AutoInit is compared with.

Each hook has the signature the models take, ``hook(model, example_input)``
(the example input is ignored: these rules look only at layer shapes), and
re-draws the weight of every ``nn.Linear`` and ``nn.Conv*d`` from the global
torch RNG, setting biases to zero. Normalisation layers keep their defaults.

* `glorot_uniform`: U(±√(6 / (fan_in + fan_out))), Keras's default, which the
  AutoInit experiments call the "default" initialisation.
* `he_normal`: N(0, 2 / fan_in), the ReLU-preserving rule (Kaiming normal,
  fan-in mode).

PyTorch's own default (``init=None``) draws U(±1/√fan_in), variance
1/(3·fan_in): it shrinks the signal of every layer, so the residual branches of
a normalisation-free ResNet start close to zero.

Example:
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Linear(1000, 1000)
    >>> he_normal(net, torch.zeros(1, 1000))
    >>> round(net.weight.var().item() * 1000, 1), net.bias.abs().max().item()
    (2.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _apply(model: nn.Module, draw: Callable[[torch.Tensor], object]) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _WEIGHTED):
                draw(module.weight)
                if module.bias is not None:
                    module.bias.zero_()


def glorot_uniform(model: nn.Module, example_input: torch.Tensor | None = None) -> None:
    """Glorot/Xavier uniform weights and zero biases for every linear and convolution layer.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Conv2d(4, 8, 3)
        >>> glorot_uniform(net)
        >>> bound = (6 / (4 * 9 + 8 * 9)) ** 0.5
        >>> bool(net.weight.abs().max() <= bound)
        True
    """
    _apply(model, nn.init.xavier_uniform_)


def he_normal(model: nn.Module, example_input: torch.Tensor | None = None) -> None:
    """He/Kaiming normal weights, N(0, 2/fan_in), and zero biases for linear and conv layers.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Linear(3, 2)
        >>> he_normal(net)
        >>> net.bias.tolist()
        [0.0, 0.0]
    """
    _apply(model, lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"))
