"""`Activation`: a `torch.nn.Module` computing any activation-function genome.

Each parameter of the genome (an edge with ``param=True``) becomes a learnable
multiplicative weight initialised to 1:

* ``per_layer``: one scalar per parameter;
* ``per_channel`` (default): one value per channel, dimension 1 of the input
  (``(N, C)``, ``(N, C, L)``, ``(N, C, H, W)``, ...);
* ``per_neuron``: one value per element of an input sample (``input.shape[1:]``).

Per-channel and per-neuron weights are sized on the first forward call (like
torch's lazy modules: run one batch before building the optimiser), unless the
shape is given as ``channels`` / ``neuron_shape``.

Example:
    >>> import torch
    >>> act = Activation.from_formula("alpha*x * sigmoid(beta*x)")
    >>> y = act(torch.zeros(2, 3, 4))
    >>> [tuple(p.shape) for p in act.parameters()]
    [(3,), (3,)]
"""

from __future__ import annotations

import torch
from torch import nn

from evoforge.activations.expr import Node, evaluate
from evoforge.activations.formula import parse, to_text

MODES = ("per_channel", "per_layer", "per_neuron")


class Activation(nn.Module):
    """The function of ``genome`` (a tree or a formula) with learnable parameters.

    Example:
        >>> import torch
        >>> act = Activation("relu(x)", mode="per_layer")
        >>> act(torch.tensor([[-1.0, 2.0]])).tolist()
        [[0.0, 2.0]]
    """

    def __init__(
        self,
        genome: Node | str,
        mode: str = "per_channel",
        channels: int | None = None,
        neuron_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
        self.genome: Node = parse(genome) if isinstance(genome, str) else genome
        self.mode = mode
        self.weights = nn.ParameterList()
        self._n_params = self.genome.n_params
        if mode == "per_layer":
            self._build(())
        elif mode == "per_channel" and channels is not None:
            self._build((channels,))
        elif mode == "per_neuron" and neuron_shape is not None:
            self._build(tuple(neuron_shape))

    @classmethod
    def from_formula(cls, text: str, mode: str = "per_channel", **kwargs) -> Activation:
        """An `Activation` for a formula (see `evoforge.activations.formula`).

        Example:
            >>> Activation.from_formula("tanh(x)").formula
            'tanh(x)'
        """
        return cls(parse(text), mode, **kwargs)

    @property
    def formula(self) -> str:
        """The genome as text."""
        return to_text(self.genome)

    @property
    def built(self) -> bool:
        """Whether the parameters exist (always, once a forward call has run)."""
        return self._n_params == 0 or self._shape_set

    _shape_set = False

    def _build(self, shape: tuple[int, ...], like: torch.Tensor | None = None) -> None:
        kwargs = {} if like is None else {"dtype": like.dtype, "device": like.device}
        self.weights = nn.ParameterList(
            nn.Parameter(torch.ones(shape, **kwargs)) for _ in range(self._n_params)
        )
        self._shape_set = True

    def _scales(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not self._shape_set:
            if x.dim() < 2:
                raise ValueError(
                    f"{self.mode} parameters need an input with a batch and a channel "
                    f"dimension, got shape {tuple(x.shape)}"
                )
            self._build((x.shape[1],) if self.mode == "per_channel" else tuple(x.shape[1:]), x)
        if self.mode == "per_layer":
            return list(self.weights)
        if self.mode == "per_channel":
            view = (1, -1) + (1,) * (x.dim() - 2)
            return [w.view(view) for w in self.weights]
        return [w.unsqueeze(0) for w in self.weights]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return evaluate(self.genome, x, self._scales(x) if self._n_params else ())

    def extra_repr(self) -> str:
        return f"{self.formula!r}, mode={self.mode!r}"
