"""`Activation`: a `torch.nn.Module` computing any activation-function genome.

Each parameter of the genome (an edge with ``param=True``) becomes a learnable
multiplicative weight initialised to 1:

* ``per_layer``: one scalar per parameter;
* ``per_channel`` (default): one value per channel, dimension 1 of the input
  (``(N, C)``, ``(N, C, L)``, ``(N, C, H, W)``, ...);
* ``per_neuron``: one value per element of an input sample (``input.shape[1:]``).

Per-channel and per-neuron weights whose shape is not given (``channels`` /
``neuron_shape``) start as `torch.nn.UninitializedParameter` objects and are
materialised in place (filled with 1) by the first forward call, as torch's
lazy modules do. They are the same objects before and after, so an optimiser
built before the first forward trains them, and a state_dict loads into a
fresh, unsized module (the loaded shapes size it).

TorchScript: ``torch.jit.script`` cannot compile the module, because the
genome is evaluated by a walk over the nodes of a Python dataclass (a
`evoforge.activations.graph.Graph`, which TorchScript has no type for);
``torch.jit.trace`` works once the parameters are sized (the trace unrolls
the genome into tensor operations), and
``evoforge export`` writes a standalone, scriptable module for a found function.

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

from evoforge.activations.expr import Node
from evoforge.activations.graph import Graph, as_graph, evaluate, parse, to_text

MODES = ("per_channel", "per_layer", "per_neuron")


class Activation(nn.Module):
    """The function of ``genome`` (a graph, a tree or its text) with learnable parameters.

    Example:
        >>> import torch
        >>> act = Activation("relu(x)", mode="per_layer")
        >>> act(torch.tensor([[-1.0, 2.0]])).tolist()
        [[0.0, 2.0]]
    """

    def __init__(
        self,
        genome: Graph | Node | str,
        mode: str = "per_channel",
        channels: int | None = None,
        neuron_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
        self.genome: Graph = parse(genome) if isinstance(genome, str) else as_graph(genome)
        self.mode = mode
        self._n_params = self.genome.n_params
        if mode == "per_layer":
            self._build(())
        elif mode == "per_channel" and channels is not None:
            self._build((channels,))
        elif mode == "per_neuron" and neuron_shape is not None:
            self._build(tuple(neuron_shape))
        else:
            self.weights = nn.ParameterList(
                nn.UninitializedParameter() for _ in range(self._n_params)
            )
        self.register_load_state_dict_pre_hook(_size_from_state)

    @classmethod
    def from_formula(cls, text: str, mode: str = "per_channel", **kwargs) -> Activation:
        """An `Activation` for a formula (see `evoforge.activations.graph`).

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
        """Whether the parameters are sized (always, once a forward call has run)."""
        return not any(isinstance(w, nn.UninitializedParameter) for w in self.weights)

    def _build(self, shape: tuple[int, ...]) -> None:
        self.weights = nn.ParameterList(
            nn.Parameter(torch.ones(shape)) for _ in range(self._n_params)
        )

    def _materialise(self, shape: tuple[int, ...], like: torch.Tensor) -> None:
        """Size the lazy parameters in place: optimisers holding them keep working."""
        with torch.no_grad():
            for w in self.weights:
                if isinstance(w, nn.UninitializedParameter):
                    w.materialize(shape, dtype=like.dtype, device=like.device)
                    w.fill_(1.0)

    def _scales(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not self.built:
            if x.dim() < 2:
                raise ValueError(
                    f"{self.mode} parameters need an input with a batch and a channel "
                    f"dimension, got shape {tuple(x.shape)}"
                )
            self._materialise(
                (x.shape[1],) if self.mode == "per_channel" else tuple(x.shape[1:]), x
            )
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


def _size_from_state(module: nn.Module, state: dict, prefix: str, *_: object) -> None:
    """Load-time hook: lazy parameters take the shapes of the state being loaded."""
    assert isinstance(module, Activation)
    for i, w in enumerate(module.weights):
        key = f"{prefix}weights.{i}"
        if isinstance(w, nn.UninitializedParameter) and key in state:
            module._materialise(tuple(state[key].shape), state[key])
