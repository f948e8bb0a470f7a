"""Run a network's backward pass with an evolved equation in place of back-propagation.

`apply_rule` hooks every ``nn.Linear`` and ``nn.Conv2d`` of a model (or the
layers given). In each forward pass the layers are numbered in the order they
run, 0 .. L; the last one is the output layer, whose signal b_L^p is the
loss gradient itself. Each layer's output h_i^p passes through a
``torch.autograd.Function`` that is the identity forwards and, backwards,
replaces the incoming gradient by b_i^p computed from the equation. Autograd
then derives that layer's weight and bias gradients and the signal to the
layer below from b_i^p as usual, so every part of the network the DSL does
not cover (pooling, normalisation, residual sums) keeps its standard gradient,
as in the paper's Appendix B.

Operands that name the layer above (W, b1, hp1, bW, fa) assume it follows
layer i through the declared ``activation`` only (and reshapes); ``g`` is
always autograd's exact gradient given the layer above's signal.

Example:
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    >>> with apply_rule(net, "mul(matmul(b1, W), dh)"):  # back-propagation as an equation
    ...     nn.functional.cross_entropy(net(x), y).backward()
    >>> rule = net[0].weight.grad.clone(); net.zero_grad()
    >>> nn.functional.cross_entropy(net(x), y).backward()
    >>> torch.allclose(rule, net[0].weight.grad, atol=1e-6)
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from evoforge.learning_rules.equation import Equation, evaluate, preset
from evoforge.learning_rules.functions import ConvOperator, RuntimeState, Value, apply_binary
from evoforge.learning_rules.operands import OperandRef

_EPS = 1e-8
_KINDS = {"R": 1, "S": 2, "RL": 3}


class _Replace(torch.autograd.Function):
    """Identity forwards; backwards, the layer's signal b_i^p from its site."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, site: _Site) -> torch.Tensor:  # type: ignore[override]
        ctx.site = site
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return ctx.site.backward(grad), None


class _Pass:
    """One forward pass: its layers in order and the signals they produced."""

    def __init__(self, handle: RuleHandle) -> None:
        self.handle = handle
        self.sites: list[_Site] = []
        self.signals: dict[int, torch.Tensor] = {}


class _Site:
    """Layer ``index`` of one pass: its module and its output h_i^p."""

    def __init__(self, p: _Pass, index: int, module: nn.Module, hp: torch.Tensor) -> None:
        self.p = p
        self.index = index
        self.module = module
        self.hp = hp

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        p, i = self.p, self.index
        last = len(p.sites) - 1
        if i == last:  # the output layer keeps the loss gradient: b_L^p
            p.signals[i] = grad
            return grad
        if i + 1 not in p.signals:
            raise RuntimeError(f"layer {i}: the layer above produced no signal")
        ops = _LayerOperands(self, grad)
        value = evaluate(p.handle.equation, ops.get, p.handle.state, ("u", i))
        if not isinstance(value, torch.Tensor) or value.shape != ops.flat_shape:
            shape = value.shape
            raise ValueError(
                f"layer {i}: the equation gives shape {tuple(shape)}, b_i^p needs "
                f"{tuple(ops.flat_shape)}"
            )
        b = value.reshape(grad.shape).to(grad.dtype)
        p.signals[i] = b
        return b


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


class _LayerOperands:
    """The operands of one layer's backward step, computed on first use."""

    def __init__(self, site: _Site, grad: torch.Tensor) -> None:
        self.site = site
        self.handle = site.p.handle
        self.above = site.p.sites[site.index + 1]
        self.grad = grad
        self.flat_shape = torch.Size((grad.shape[0], math.prod(grad.shape[1:])))
        self.cache: dict[str, Value] = {}

    def get(self, ref: OperandRef) -> Value:
        x = self.base(ref.name)
        if not ref.variant:
            return x
        key = ("op", self.site.index, ref.name)
        if isinstance(x, ConvOperator):
            return x.map(lambda k: self._variant(ref.variant, k, key))
        return self._variant(ref.variant, x, key)

    def _variant(self, variant: str, x: torch.Tensor, key: Any) -> torch.Tensor:
        mean, sq = self.handle.state.running(key, x)
        std = (sq - mean * mean).clamp_min(0).sqrt()
        if variant == "mhat":
            return mean
        if variant == "shat":
            return std
        return (x - mean) / (std + _EPS)

    def base(self, name: str) -> Value:
        if name not in self.cache:
            self.cache[name] = self._compute(name)
        return self.cache[name]

    def _compute(self, name: str) -> Value:
        site, above, handle = self.site, self.above, self.handle
        signals = site.p.signals
        match name:
            case "hp":
                return _flat(site.hp)
            case "h":
                return _flat(handle.activation(site.hp))
            case "dh":
                return _flat(handle.derivative(site.hp))
            case "hp1":
                return _flat(above.hp)
            case "b1":
                return _flat(signals[above.index])
            case "bL":
                return _flat(signals[len(site.p.sites) - 1])
            case "g":
                return _flat(self.grad)
            case "W":
                return self._weight(above.module.weight.detach())
            case "sgnW":
                return self._weight(above.module.weight.detach().sign())
            case "R" | "S":
                return self._weight(handle.feedback(site.index, name, above.module.weight))
            case "RL":
                shape = (self.base("bL").shape[1], self.flat_shape[1])  # type: ignore[union-attr]
                return handle.feedback(site.index, "RL", self.grad, shape)
            case "bW":
                return apply_binary("matmul", self.base("b1"), self.base("W"))
            case "fa":
                return apply_binary("matmul", self.base("b1"), self.base("R"))
            case "dfa":
                return apply_binary("matmul", self.base("bL"), self.base("RL"))
            case "fad" | "dfad":
                return self.base(name[:-1]) * self.base("dh")  # type: ignore[operator]
        raise ValueError(f"unknown operand {name!r}")

    def _weight(self, kernel: torch.Tensor) -> Value:
        module = self.above.module
        if isinstance(module, nn.Conv2d):
            conv = {
                "stride": module.stride,
                "padding": module.padding,
                "dilation": module.dilation,
                "groups": module.groups,
            }
            return ConvOperator(
                kernel, tuple(self.site.hp.shape[1:]), tuple(self.above.hp.shape[1:]), conv
            )
        return kernel


class RuleHandle:
    """The hooks `apply_rule` installed; `remove` (or leaving a ``with``
    block) restores plain back-propagation. Holds the rule's state: running
    statistics, noise generator and the fixed random feedback matrices
    (`feedback`), so these persist across training steps."""

    def __init__(
        self,
        model: nn.Module,
        equation: Equation,
        activation: Callable[[torch.Tensor], torch.Tensor],
        seed: int,
        layers: Iterable[nn.Module] | None,
    ) -> None:
        self.equation = equation
        self.activation = activation
        self.seed = seed
        self.state = RuntimeState(seed)
        self._random: dict[tuple[int, str], torch.Tensor] = {}
        self._pass: _Pass | None = None
        if layers is None:
            layers = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("the model has no nn.Linear or nn.Conv2d layer to apply a rule to")
        self._hooks = [model.register_forward_pre_hook(self._start)]
        self._hooks += [m.register_forward_hook(self._after) for m in self.layers]

    def _start(self, module: nn.Module, args: Any) -> None:
        self._pass = _Pass(self) if torch.is_grad_enabled() else None

    def _after(self, module: nn.Module, args: Any, output: torch.Tensor) -> Any:
        p = self._pass
        if p is None or not isinstance(output, torch.Tensor) or not output.requires_grad:
            return None
        site = _Site(p, len(p.sites), module, output.detach())
        p.sites.append(site)
        return _Replace.apply(output, site)

    def derivative(self, hp: torch.Tensor) -> torch.Tensor:
        """∂h/∂h^p of the declared activation at ``hp`` (element-wise)."""
        with torch.enable_grad():
            x = hp.detach().requires_grad_(True)
            (d,) = torch.autograd.grad(self.activation(x).sum(), x)
        return d

    def feedback(
        self,
        index: int,
        kind: str,
        like: torch.Tensor,
        shape: tuple[int, ...] | None = None,
    ) -> torch.Tensor:
        """Layer ``index``'s fixed random matrix ``kind`` ("R", "S" or "RL"),
        drawn once from the rule's seed and kept for every later step.

        R is Gaussian with the standard deviation of the weight it stands
        for (when first drawn), S is Bernoulli(0.5) in {0, 1}, and R_L is
        Gaussian with standard deviation 1/sqrt(rows)."""
        shape = tuple(like.shape) if shape is None else tuple(shape)
        key = (index, kind)
        m = self._random.get(key)
        if m is None or tuple(m.shape) != shape:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + index * 31 + _KINDS[kind])
            if kind == "S":
                m = (torch.rand(shape, generator=gen) < 0.5).float()
            elif kind == "R":
                m = torch.randn(shape, generator=gen) * float(like.detach().std())
            else:
                m = torch.randn(shape, generator=gen) / math.sqrt(shape[0])
            m = m.to(device=like.device, dtype=like.dtype)
            self._random[key] = m
        return m

    def remove(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def __enter__(self) -> RuleHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def apply_rule(
    model: nn.Module,
    equation: Equation | str,
    *,
    activation: Callable[[torch.Tensor], torch.Tensor] | None = None,
    seed: int = 0,
    layers: Iterable[nn.Module] | None = None,
) -> RuleHandle:
    """Train ``model`` with ``equation`` instead of back-propagation.

    Args:
        model: any module; its ``nn.Linear`` and ``nn.Conv2d`` layers (or
            ``layers``) get the rule, in the order they run in each forward
            pass; the last to run is the output layer.
        equation: an `Equation`, its text, or a preset name ("bp", "fa",
            "dfa", see `PRESETS`).
        activation: the element-wise activation that follows each layer,
            for the operands h, dh and the ones derived from them (default ReLU).
        seed: seeds the fixed random feedback matrices, noise and dropout.

    Returns:
        A `RuleHandle`; call ``remove()`` or use it as a context manager.
        The rule acts in every forward pass run with gradients enabled.
    """
    eq = preset(equation) if isinstance(equation, str) else equation
    return RuleHandle(model, eq, activation or torch.relu, seed, layers)
