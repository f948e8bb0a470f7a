"""AutoInit: analytic, signal-preserving weight initialisation for any PyTorch model.

AutoInit (Bingham & Miikkulainen, dissertation ch. 5) walks a network from its
inputs, propagating the mean and variance of the signal through every layer
with the rules in `evoforge.init.moments`, and draws each weighted layer's
weights so that its output has mean 0 and a target variance. Unlike He or Glorot
initialisation it adapts to any activation function (including evolved ones),
dropout rate, pooling, normalisation, residual sum or concatenation.

How the model is walked:

- The model is traced with `torch.fx` (a custom tracer keeps every elementwise
  module, such as an evolved activation, whole). When tracing fails, forward
  hooks on the leaf modules follow a real forward pass instead, in execution
  order; then operations written as functions in ``forward`` are invisible and
  the statistics after them are measured on the real tensors.
- Each node carries predicted moments and a few synthetic "draws" of its value:
  the example input itself, or Gaussian samples with the predicted moments
  after every weighted or batch-norm layer. Parameter-free operations are
  replayed on the draws, which is how pooling and other non-analytic layers are
  estimated by Monte Carlo.

Assumptions (the paper's, plus the refinements evoforge makes):

- A weighted layer's output is Gaussian, its weights are independent of its
  input, and the inputs of a sum, product or concatenation are independent
  unless they come from the same Gaussian through parameter-free operations;
  then they are treated jointly (by composing elementwise functions, or by
  Monte Carlo on the shared draws) instead of as independent.
- Elementwise functions of a Gaussian are integrated by adaptive quadrature;
  a chain of elementwise operations after a Gaussian is integrated as one
  composed function, so ``log(sigmoid(x)) * asinh(x)`` written inline is exact.
- Each example keeps its own scale: a weighted layer's output for one example
  has variance ∝ that example's input second moment. Activations whose
  variance map is convex (SiLU, GELU, most evolved functions) turn this spread
  into a larger mean variance, so the quadrature integrates over it.
- A convolution weighs each input position by how many kernel taps read it:
  zero padding and the weaker borders it causes shrink the variance by ~16 %
  per layer on 8×8 inputs if ignored, as the paper does. A signal with nonzero
  mean gives each output channel a constant offset (variance fan_in·Var(W)·μ²)
  that the draws carry, because pooling keeps it whole.
- Normalisation layers standardise (then apply their affine map); layer and
  group norm are replayed on the draws, batch norm in training mode starts a new
  Gaussian. Unknown layers pass the statistics through with an
  `AutoInitWarning`.

What no initialisation can remove: the predictions hold in expectation over the
weights. A layer of n units or channels fed a signal with mean μ realises
offsets W·μ whose total fluctuates by about √(2/n)·μ²/E[x²] (6 % for 64 ReLU
channels), and an activation whose variance map has slope > 1 at the target
(the evolved example above: 1.33) amplifies per-example differences with depth.
Batch norm, layer norm or ``centered=True`` (AutoInit++) remove the first;
only a per-example normalisation removes the second.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from evoforge.init import autoinit
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(
    ...     nn.Linear(32, 512), nn.Tanh(), nn.Linear(512, 512), nn.SELU(), nn.Linear(512, 256)
    ... )
    >>> net = autoinit(net, torch.randn(1024, 32))
    >>> round(net(torch.randn(4096, 32)).var().item(), 1)
    1.0
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import count
from typing import Any, Literal, TypeVar

import torch
import torch.nn.functional as F
from torch import fx, nn

from evoforge.init import moments as mom
from evoforge.init.moments import Moments

__all__ = [
    "AutoInitWarning",
    "CenteredActivation",
    "Rule",
    "RuleContext",
    "SignalRecord",
    "autoinit",
    "predict_signal",
    "register_rule",
]

ModelT = TypeVar("ModelT", bound=nn.Module)
Distribution = Literal["normal", "uniform", "truncated_normal"]

DEFAULT_MC_SAMPLES = 1 << 16
_MAX_DRAWS = 64  # caps the replays when the example batch is tiny
# Fewest examples the draws keep: per-example scales (see `_sample_scales`) are
# summarised from them, so they need a few dozen even when each is large.
_MIN_EXAMPLES = 64
# Calibration measures each layer's output on the examples themselves; a
# classifier's output has few elements per example, so it needs more of them
# (64 examples leave ~18 % noise in its variance, 256 about 9 %).
_MIN_EXAMPLES_CALIBRATED = 256
# A signal whose predicted second moment leaves [target/1e4, 1e4·target] is
# exploding or collapsing; examples whose second moments' deciles differ 100-fold are too.
_EXPLODE = 1e4
_SPREAD_LIMIT = 1e2
_TRUNC_STD = 0.8796256610342398  # std of N(0, 1) truncated to [-2, 2]


class AutoInitWarning(UserWarning):
    """Something AutoInit could not model exactly: an unknown layer, a fallback."""


class CenteredActivation(nn.Module):
    """AutoInit++: an activation shifted by its mean, so it has zero Gaussian mean.

    The wrapper is invisible in state_dicts: the wrapped activation's entries
    keep their names (``act.alpha``, not ``act.activation.alpha``) and the
    shift is not saved, so a checkpoint of a model initialised with AutoInit++
    loads into a freshly built model and the other way round. The shift is a
    function of the activation and of AutoInit's predicted input distribution:
    building the model again with AutoInit++ recomputes it (a plain model
    loading the checkpoint runs without it).

    Example:
        >>> act = CenteredActivation(nn.ReLU(), shift=0.5)
        >>> act(torch.tensor([-1.0, 2.0]))
        tensor([-0.5000,  1.5000])
        >>> list(CenteredActivation(nn.PReLU(), 0.1).state_dict())
        ['weight']
    """

    shift: torch.Tensor

    def __init__(self, activation: nn.Module, shift: float) -> None:
        super().__init__()
        self.activation = activation
        self.register_buffer("shift", torch.tensor(float(shift)), persistent=False)
        self._register_state_dict_hook(_unwrap_keys)
        self.register_load_state_dict_pre_hook(_wrap_keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x) - self.shift


def _unwrap_keys(module: nn.Module, state: dict[str, Any], prefix: str, _meta: Any) -> None:
    inner = prefix + "activation."
    for key in [k for k in state if k.startswith(inner)]:
        state[prefix + key[len(inner) :]] = state.pop(key)


def _wrap_keys(module: nn.Module, state: dict[str, Any], prefix: str, *_: Any) -> None:
    inner = prefix + "activation."
    # The wrapper saves nothing of its own: every entry under it is the activation's.
    for key in [k for k in state if k.startswith(prefix) and not k.startswith(inner)]:
        state[inner + key[len(prefix) :]] = state.pop(key)


@dataclass
class RuleContext:
    """What a registered rule sees: the module, its inputs' moments, and tools.

    A rule sets the module's parameters (when `initialise` is true; with
    `fill` so the user's distribution and generator apply) and may call
    `measure` to run the module on AutoInit's current draws and get the
    moments of its first float output — the Monte Carlo estimate the
    dissertation uses for layers without a closed form. After the rule
    AutoInit replays the module on the draws and measures every output.
    """

    module: nn.Module
    inputs: list[Moments]
    target: float
    initialise: bool
    fill: Callable[[torch.Tensor, float], None]
    measure: Callable[[], Moments]

    def scale_to_target(self, weight: torch.Tensor) -> None:
        """Rescale `weight` so the output variance is the target.

        Exact when the output is linear in `weight` (biases zero), as for
        transposed convolutions, bilinear layers and attention's output projection.
        """
        measured = self.measure()
        if measured.finite and measured.var > 0:
            with torch.no_grad():
                weight.mul_(math.sqrt(self.target / measured.var))


Rule = Callable[[RuleContext], None]
_RULES: dict[type[nn.Module], Rule] = {}


def register_rule(module_type: type[nn.Module], rule: Rule) -> None:
    """Teach AutoInit a module type: `rule(ctx)` sets its parameters (see `RuleContext`).

    Subclasses match too (the most specific registered type wins); a later
    registration replaces an earlier one, built-in rules included.

    Example:
        >>> class Scale(nn.Module):  # y = a·x with one learnable gain
        ...     def __init__(self) -> None:
        ...         super().__init__()
        ...         self.a = nn.Parameter(torch.tensor(3.0))
        ...     def forward(self, x: torch.Tensor) -> torch.Tensor:
        ...         return self.a * x
        >>> def gain_rule(ctx: RuleContext) -> None:
        ...     if ctx.initialise:  # a = √(target / E[x²])
        ...         ctx.module.a.data.fill_((ctx.target / ctx.inputs[0].second) ** 0.5)
        >>> register_rule(Scale, gain_rule)
        >>> net = autoinit(nn.Sequential(Scale()), 4 * torch.randn(4096, 8))
        >>> round(net[0].a.item(), 2)
        0.25
    """
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(f"module_type must be an nn.Module subclass, got {module_type!r}")
    if not callable(rule):
        raise TypeError(f"rule must be callable, got {rule!r}")
    _RULES[module_type] = rule


def _rule_for(module: nn.Module) -> Rule | None:
    for klass in type(module).__mro__:
        if klass in _RULES:
            return _RULES[klass]
    return None


def _zero(*biases: Any) -> None:
    for b in biases:
        if isinstance(b, torch.Tensor):
            b.data.zero_()


def _fan_in_rule(ctx: RuleContext) -> None:
    """ConvTranspose and Bilinear: N(0, 1/fan) weights, zero bias, then scaled by Monte Carlo."""
    if not ctx.initialise:
        return
    weight = ctx.module.weight
    ctx.fill(weight, 1 / math.sqrt(max(weight[0].numel(), 1)))
    _zero(getattr(ctx.module, "bias", None))
    ctx.scale_to_target(weight)


def _attention_rule(ctx: RuleContext) -> None:
    """MultiheadAttention: unit-variance q, k, v from the query's moments, then the
    output projection scaled by Monte Carlo (the output is linear in it)."""
    m = ctx.module
    assert isinstance(m, nn.MultiheadAttention)
    if not ctx.initialise:
        return
    for i, name in enumerate(("q_proj_weight", "k_proj_weight", "v_proj_weight")):
        w = getattr(m, name, None)
        if w is not None:
            second = ctx.inputs[min(i, len(ctx.inputs) - 1)].second
            ctx.fill(w, math.sqrt(1 / (w.shape[1] * max(second, 1e-12))))
    if m.in_proj_weight is not None:
        second = ctx.inputs[0].second
        ctx.fill(m.in_proj_weight, math.sqrt(1 / (m.embed_dim * max(second, 1e-12))))
    _zero(m.in_proj_bias, m.out_proj.bias, m.bias_k, m.bias_v)
    ctx.fill(m.out_proj.weight, 1 / math.sqrt(m.embed_dim))
    ctx.scale_to_target(m.out_proj.weight)


def _recurrent_rule(ctx: RuleContext) -> None:
    """RNN/LSTM/GRU: the first layer's input weights give unit-variance gate
    pre-activations from the input's moments; hidden-to-hidden and deeper layers
    read states bounded by 1 and get 1/√hidden. Output moments by Monte Carlo."""
    m = ctx.module
    assert isinstance(m, nn.RNNBase)
    if not ctx.initialise:
        return
    second = max(ctx.inputs[0].second, 1e-12)
    for name, p in m.named_parameters():
        if name.startswith("bias"):
            p.data.zero_()
        elif name.startswith("weight_ih_l0"):
            ctx.fill(p, math.sqrt(1 / (p.shape[1] * second)))
        else:
            ctx.fill(p, 1 / math.sqrt(p.shape[1]))


for _type in (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Bilinear):
    register_rule(_type, _fan_in_rule)
register_rule(nn.MultiheadAttention, _attention_rule)
register_rule(nn.RNNBase, _recurrent_rule)


@dataclass(frozen=True)
class SignalRecord:
    """Predicted output statistics of one layer or operation.

    `name` is the module's qualified name (or the graph node's name for a
    function), `op` the module class or function name, `weighted` whether the
    layer has weights that AutoInit sets.
    """

    name: str
    op: str
    moments: Moments
    weighted: bool = False


def autoinit(
    model: ModelT,
    example_input: torch.Tensor | tuple[Any, ...] | list[Any],
    target_variance: float = 1.0,
    *,
    centered: bool = False,
    mc_samples: int = DEFAULT_MC_SAMPLES,
    generator: torch.Generator | None = None,
    distribution: Distribution = "normal",
    calibrate: bool = False,
) -> ModelT:
    """Initialise `model` in place: every weighted layer outputs mean 0, variance `target_variance`.

    Linear, Conv1d/2d/3d (grouped and depthwise included; fan-in =
    in_channels/groups × kernel size, counting only taps on real input),
    Embedding and the functional forms ``F.linear``, ``F.conv*d`` and ``x @ W``
    on a parameter get weights from N(0, σ²) (or the uniform distribution with
    the same σ) with σ = √(target / (fan_in · E[x²])) and zero biases;
    normalisation layers get γ = √target and β = 0. A weight shared by several
    layers is set once, for its first use. With ``centered=True`` (AutoInit++)
    every activation module is wrapped in a `CenteredActivation` that subtracts
    its mean under its predicted input distribution (about N(0, 1) after a
    weighted layer, as in the paper), so activations do not shift the mean either.

    Args:
        model: any module; it is called as ``model(*example_input)``. Buffers
            (e.g. batch-norm running statistics) and the global RNG are left as
            they were.
        example_input: a batch of real inputs; its mean and variance (over
            every example) start the propagation. The replayed draws keep only
            the first max(64, ⌈mc_samples / elements per example⌉) examples, so
            a few hundred examples cost no more than 64 (ResNet-56 on 256
            CIFAR images: about 1.4 s of one CPU core).
        target_variance: variance of every weighted layer's output.
        centered: AutoInit++ — also centre activation modules.
        mc_samples: elements drawn for Monte-Carlo estimates (pooling, dropout
            followed by a nonlinearity, dependent inputs): the kept examples are
            replayed ⌈mc_samples / numel⌉ times (at most 64). Raise it when a
            global pool over few channels needs a tighter estimate.
        generator: source of the weights and the Monte-Carlo draws; by default
            the global torch RNG (so ``torch.manual_seed`` makes it repeatable).
        distribution: "normal", "uniform" (U(±√3·σ)) or "truncated_normal"
            weights: the normal truncated at ±2 before scaling, rescaled by
            1/0.8796 so its standard deviation is still σ (the dissertation's
            experiments use the truncated normal).
        calibrate: after drawing each weighted layer's weights, run the layer
            on the replayed draws (which then carry the real signal instead
            of fresh Gaussians) and rescale its weights so its output has
            exactly the target variance. The analytic rules hold in
            expectation over the weights; a layer of 16 channels realises
            per-channel offsets that miss it by ~35 %, and without
            normalisation a residual stream compounds those misses (ResNet-20
            v1 without batch norm: per-layer variance 0.65-1.96 analytic,
            within ±20 % calibrated; see tests/test_autoinit_deep.py). Costs
            one forward pass of the kept examples.

    Returns:
        The same model, initialised.

    Example:
        >>> net = nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 512))
        >>> g = torch.Generator().manual_seed(0)
        >>> _ = autoinit(net, torch.randn(1024, 64, generator=g), generator=g)
        >>> round(net[2].weight.std().item() / (2 / 512) ** 0.5, 2)  # He init for ReLU
        1.0
    """
    _check(target_variance, mc_samples, distribution)
    walker = _Walker(
        model,
        _as_args(example_input),
        initialise=True,
        target=float(target_variance),
        centered=centered,
        mc_samples=mc_samples,
        generator=generator,
        distribution=distribution,
        calibrate=calibrate,
    )
    walker.run()
    return model


def predict_signal(
    model: nn.Module,
    example_input: torch.Tensor | tuple[Any, ...] | list[Any],
    *,
    mc_samples: int = DEFAULT_MC_SAMPLES,
    generator: torch.Generator | None = None,
) -> list[SignalRecord]:
    """Predicted output moments of every layer under the model's current weights.

    Nothing in the model changes. Useful to see how a signal would vanish or
    explode (the paper's signal-propagation plots) before or after `autoinit`.

    Example:
        >>> net = nn.Sequential(nn.Linear(16, 16, bias=False), nn.ReLU())
        >>> with torch.no_grad():
        ...     _ = net[0].weight.fill_(0.25)  # Var(W x) = 16 · 0.25² · Var(x) = 1
        >>> x = torch.randn(4096, 16, generator=torch.Generator().manual_seed(0))
        >>> [(r.op, round(r.moments.var, 2)) for r in predict_signal(net, x)]
        [('input', 1.0), ('Linear', 1.0), ('ReLU', 0.34)]
    """
    _check(1.0, mc_samples, "normal")
    walker = _Walker(
        model,
        _as_args(example_input),
        initialise=False,
        target=1.0,
        centered=False,
        mc_samples=mc_samples,
        generator=generator,
        distribution="normal",
    )
    return walker.run()


def _check(target_variance: float, mc_samples: int, distribution: str) -> None:
    if not (math.isfinite(target_variance) and target_variance > 0):
        raise ValueError(f"target_variance must be a positive number, got {target_variance!r}")
    if mc_samples < 1:
        raise ValueError(f"mc_samples must be >= 1, got {mc_samples!r}")
    if distribution not in ("normal", "uniform", "truncated_normal"):
        raise ValueError(
            f"distribution must be 'normal', 'uniform' or 'truncated_normal', got {distribution!r}"
        )


def _as_args(example_input: Any) -> tuple[Any, ...]:
    return tuple(example_input) if isinstance(example_input, tuple | list) else (example_input,)


# --- layer classification ------------------------------------------------------------


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _each(*patterns: str) -> tuple[type[nn.Module], ...]:
    """The 1-, 2- and 3-d versions of torch.nn layers, e.g. "MaxPool{}d"."""
    return tuple(getattr(nn, p.format(d)) for p in patterns for d in (1, 2, 3))


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, *_each("InstanceNorm{}d"))
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_MONTE_CARLO = (
    *_each("MaxPool{}d", "AvgPool{}d", "AdaptiveAvgPool{}d", "AdaptiveMaxPool{}d", "LPPool{}d"),
    nn.FractionalMaxPool2d,
    nn.FractionalMaxPool3d,
    nn.Upsample,
    nn.Softmax,
    nn.Softmin,
    nn.LogSoftmax,
    nn.Softmax2d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)
_SHAPE_MODULES = (
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    nn.PixelShuffle,
    nn.PixelUnshuffle,
    nn.ChannelShuffle,
    *_each("ReflectionPad{}d", "ReplicationPad{}d", "CircularPad{}d"),
)
_CONSTANT_PADS = (nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d)  # zero pads included


# Activation modules that are the same function at every element: known without
# probing (exact types only, since a subclass may override forward). PReLU is not
# here: per-channel slopes make it elementwise but not uniform.
_UNIFORM_MODULES = frozenset(
    {
        nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
        nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.Softplus,
        nn.Softsign, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.LogSigmoid, nn.Threshold,
    }
)  # fmt: skip
# The same for functions of one tensor (and scalars), e.g. ``torch.relu(x)``.
_UNIFORM_FUNCTIONS = _names(
    """relu relu_ relu6 leaky_relu elu selu celu gelu silu mish tanh sigmoid hardtanh
    hardsigmoid hardswish softplus softsign logsigmoid exp expm1 log log1p abs neg sin cos
    sinh cosh asinh atan erf erfc square sqrt rsqrt reciprocal"""
)


_NOT_ELEMENTWISE = frozenset({"weighted", "embedding", "batchnorm", "norm", "mc"})


def _known_kind(module: nn.Module) -> str | None:
    if type(module) in _UNIFORM_MODULES:
        return "uniform"
    # AlphaDropout subclasses _DropoutNd, so Monte Carlo is checked before dropout.
    for kinds, kind in (
        ((nn.Linear, *_CONVS), "weighted"),
        ((nn.Embedding,), "embedding"),
        (_BATCH_NORMS, "batchnorm"),
        (_NORMS, "norm"),
        (_MONTE_CARLO, "mc"),
        (_DROPOUTS, "dropout"),
        (_SHAPE_MODULES, "shape"),
        (_CONSTANT_PADS, "pad"),
    ):
        if isinstance(module, kinds):
            return kind
    return None


def _probe(call: Callable[[torch.Tensor], Any], example: Any) -> str:
    """Classify an operation of one tensor: "uniform", "elementwise" or "other".

    Elementwise: same shape out, deterministic, and changing some inputs leaves
    the other outputs alone. Uniform: also the same function at every position
    (it commutes with a permutation of the elements), so it can be evaluated on
    any points — what quadrature needs. Per-channel parameters (PReLU with
    distinct slopes) make an operation elementwise but not uniform.
    """
    if not (
        isinstance(example, torch.Tensor) and example.is_floating_point() and example.numel() > 1
    ):
        return "other"
    g = torch.Generator().manual_seed(20240531)

    def normal() -> torch.Tensor:
        return torch.randn(example.shape, generator=g).to(example.dtype).to(example.device)

    def close(a: Any, b: Any) -> bool:
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.shape == b.shape
            and torch.allclose(a, b, rtol=1e-4, atol=1e-6, equal_nan=True)
        )

    x = normal()
    try:
        y = call(x.clone())
        if not (
            isinstance(y, torch.Tensor) and y.shape == x.shape and y.is_floating_point()
        ) or not close(call(x.clone()), y):
            return "other"
        keep = (torch.rand(x.shape, generator=g) < 0.5).to(x.device)
        if not close(call(torch.where(keep, x, normal()))[keep], y[keep]):
            return "other"
        perm = torch.randperm(x.numel(), generator=g).to(x.device)
        shuffled = call(x.reshape(-1)[perm].reshape(x.shape))
    except Exception:  # an operation that rejects a random input is not elementwise
        return "other"
    if close(y, x):
        return "shape"  # the identity (e.g. an identity shortcut): nothing to centre
    return "uniform" if close(shuffled.reshape(-1), y.reshape(-1)[perm]) else "elementwise"


# --- function names -------------------------------------------------------------------


_ADD = {"add", "add_", "iadd", "__add__", "__iadd__", "__radd__"}
_SUB = {"sub", "sub_", "isub", "subtract", "__sub__", "__isub__"}
_MUL = {"mul", "mul_", "imul", "multiply", "__mul__", "__imul__", "__rmul__"}
_DIV = {"truediv", "itruediv", "div", "div_", "divide", "true_divide", "__truediv__"}
_ELEMENTWISE_BINARY = (
    _ADD | _SUB | _MUL | _DIV | {"maximum", "minimum", "max", "min", "pow", "atan2", "hypot"}
)
_CONCAT = {"cat", "concat", "concatenate", "stack", "hstack", "vstack"}
_MATMUL = {"matmul", "mm", "bmm", "__matmul__"}
_CONVS_F = {"conv1d": 1, "conv2d": 2, "conv3d": 3}
_SHAPE = _names(
    """view view_as reshape reshape_as flatten unflatten permute transpose t contiguous
    squeeze unsqueeze expand expand_as repeat repeat_interleave tile flip roll rot90 narrow
    select chunk split tensor_split unbind clone detach movedim moveaxis swapaxes swapdims
    getitem to type float double half bfloat16 pixel_shuffle pixel_unshuffle
    channel_shuffle"""
)
_MC_FUNCTIONS = _names(
    """mean sum amax amin max min logsumexp norm softmax log_softmax softmin interpolate
    upsample alpha_dropout feature_alpha_dropout"""
) | {
    f"{kind}_pool{d}d"
    for kind in ("avg", "max", "lp", "adaptive_avg", "adaptive_max")
    for d in (1, 2, 3)
}
_DROPOUT_FUNCTIONS = {"dropout", "dropout1d", "dropout2d", "dropout3d", "feature_dropout"}
_NORM_FUNCTIONS = {"layer_norm", "group_norm", "instance_norm", "batch_norm", "rms_norm"}
# Elementwise arithmetic is not an activation: AutoInit++ does not report it as uncentred.
_ARITHMETIC = (
    _ELEMENTWISE_BINARY
    | _SHAPE
    | {"neg", "pos", "__neg__", "rsub", "radd", "rmul", "rtruediv", "clamp", "clip", "type_as"}
)


# --- signals ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pointwise:
    """A signal that is a uniform elementwise function `fn` of one Gaussian (the base).

    `fn` takes a tensor of base values laid out as (k, *sample_shape) — any layout
    works for elementwise operations, this one also satisfies modules that check
    their input's channel count. `scales` (draws × examples) holds each example's
    variance relative to the base's: a weighted layer passes on how much larger
    or smaller each example's input was than the average.
    """

    base_id: int
    base: Moments
    fn: Callable[[torch.Tensor], torch.Tensor]
    sample_shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device
    scales: torch.Tensor | None = None

    def then(self, op: Callable[[torch.Tensor], torch.Tensor]) -> _Pointwise:
        fn = self.fn
        return replace(self, fn=lambda t: op(fn(t)))

    def moments(self) -> Moments | None:
        """Quadrature of `fn` against the base; None when `fn` rejects the layout."""
        bins = None if self.scales is None else _mixture(self.scales)
        for dtype in dict.fromkeys((torch.float64, self.dtype)):  # float64 when allowed
            rtol = 10 * torch.finfo(dtype).eps if dtype != torch.float64 else 1e-10
            try:
                return mom.gaussian_moments(
                    lambda p, d=dtype: self._evaluate(p, d), self.base, bins, rtol
                )
            except Exception:  # e.g. float32 parameters refuse float64 input
                continue
        return None

    def _evaluate(self, points: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        per_sample = math.prod(self.sample_shape)
        rows = -(-points.numel() // per_sample)
        packed = torch.zeros(rows * per_sample, dtype=dtype, device=self.device)
        packed[: points.numel()] = points.to(dtype)
        out = self.fn(packed.view(rows, *self.sample_shape))
        if out.numel() != packed.numel():
            raise ValueError("not elementwise on this layout")
        return out.reshape(-1)[: points.numel()].detach().double().cpu()


@dataclass(frozen=True)
class _Signal:
    """What AutoInit knows about a float tensor: its moments and where it comes from.

    `roots` names the sources (inputs and Gaussian restarts) it depends on, so
    that combining two signals can tell whether they are independent.
    """

    moments: Moments
    roots: frozenset[int]
    pointwise: _Pointwise | None = None


@dataclass
class _Val:
    """A node's value: `draws` (one per replay) and `sig` (mirrors draw 0's structure)."""

    draws: list[Any]
    sig: Any


def _tree_map(fn: Callable[[Any], Any], obj: Any) -> Any:
    if isinstance(obj, tuple | list):
        mapped = [_tree_map(fn, o) for o in obj]
        return type(obj)(mapped) if not hasattr(obj, "_fields") else type(obj)(*mapped)
    if isinstance(obj, dict):
        return {k: _tree_map(fn, v) for k, v in obj.items()}
    if isinstance(obj, slice):
        return slice(_tree_map(fn, obj.start), _tree_map(fn, obj.stop), _tree_map(fn, obj.step))
    return fn(obj)


def _leaves(obj: Any) -> Iterator[Any]:
    if isinstance(obj, tuple | list):
        for o in obj:
            yield from _leaves(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _leaves(o)
    elif isinstance(obj, slice):
        yield from _leaves((obj.start, obj.stop, obj.step))
    else:
        yield obj


def _is_float_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and x.is_floating_point()


def _has_float_tensor(x: Any) -> bool:
    return any(_is_float_tensor(leaf) for leaf in _leaves(x))


@contextmanager
def _isolated(model: nn.Module, seed: int) -> Iterator[None]:
    """Run probes and replays without leaving a trace in buffers or the global RNG."""
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    cuda = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.no_grad(), torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)  # dropout replays draw from the global RNG
        try:
            yield
        finally:
            for buffer, copy in saved:
                buffer.copy_(copy)


class _Tracer(fx.Tracer):
    """Keeps known layers and elementwise modules (evolved activations) as leaves."""

    def __init__(self, leaves: set[int]) -> None:
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return id(m) in self.leaves or super().is_leaf_module(m, module_qualified_name)


# --- the walk --------------------------------------------------------------------------


class _Walker:
    def __init__(
        self,
        model: nn.Module,
        args: tuple[Any, ...],
        *,
        initialise: bool,
        target: float,
        centered: bool,
        mc_samples: int,
        generator: torch.Generator | None,
        distribution: Distribution,
        calibrate: bool = False,
    ) -> None:
        self.model = model
        self.calibrate = calibrate and initialise
        self.args = args
        self.initialise = initialise
        self.target = target
        self.centered = centered
        self.distribution = distribution
        self.seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        self.weights_rng = torch.Generator().manual_seed(self.seed)
        first = next((a for a in args if _is_float_tensor(a)), None)
        # The draws carry only as many examples as the Monte-Carlo estimates need:
        # all examples set the input moments, but replaying a few hundred full
        # feature maps through a deep network costs seconds and sharpens nothing
        # (each draw after a weighted layer is a fresh Gaussian anyway).
        self.draw_args = args
        if first is not None and first.dim() >= 2 and first.shape[0] > 1:
            per_example = max(first[0].numel(), 1)
            fewest = _MIN_EXAMPLES_CALIBRATED if calibrate else _MIN_EXAMPLES
            keep = max(fewest, -(-mc_samples // per_example))
            if keep < first.shape[0]:
                self.draw_args = _subset(args, first.shape[0], keep)
                first = next(a for a in self.draw_args if _is_float_tensor(a))
        numel = first.numel() if first is not None else mc_samples
        self.replays = min(max(1, -(-mc_samples // max(numel, 1))), _MAX_DRAWS)
        self.ids = count()
        self.records: list[SignalRecord] = []
        self.kinds: dict[int, str] = {}
        self.done: set[int] = set()  # parameters already set (shared weights are set once)
        self.shifts: dict[int, tuple[nn.Module, float]] = {}
        self.warned: set[str] = set()
        self.in_rule = False
        self.uncentred: list[str] = []  # functional activations AutoInit++ cannot shift

    def run(self) -> list[SignalRecord]:
        with _isolated(self.model, self.seed):
            self._classify_modules()
            graph = self._trace()
            if graph is not None:
                try:
                    self._walk_graph(graph)
                except Exception as error:  # e.g. an operation that rejects synthetic draws
                    self._warn(
                        "walk",
                        f"following the traced graph failed ({error!r}); "
                        "using forward hooks in execution order instead",
                    )
                    graph = None
            if graph is None:
                for partial in (self.records, self.done, self.shifts, self.uncentred):
                    partial.clear()
                self._walk_hooks()
        for module, shift in self.shifts.values():
            if shift:
                self._wrap(module, shift)
        if self.uncentred:
            self._warn(
                "centre",
                "AutoInit++ centres activation modules only; these functions are left as "
                f"they are: {', '.join(dict.fromkeys(self.uncentred))} (wrap them in an "
                "nn.Module to centre them)",
            )
        return self.records

    def _warn(self, key: str, message: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            warnings.warn(message, AutoInitWarning, stacklevel=4)

    # -- preparation

    def _classify_modules(self) -> None:
        """Record each module's first input in a real forward pass, then classify it."""
        first_inputs: dict[int, tuple[Any, ...]] = {}

        def record(module: nn.Module, args: tuple[Any, ...]) -> None:
            if id(module) not in first_inputs:
                first_inputs[id(module)] = _tree_map(
                    lambda a: a.detach().clone() if isinstance(a, torch.Tensor) else a, args
                )

        handles = [m.register_forward_pre_hook(record) for m in self.model.modules()]
        try:
            try:  # a few examples are enough to see each module's input shape
                self.model(*_head(self.args))
            except Exception:  # e.g. a reshape that hard-codes the batch size
                first_inputs.clear()
                self.model(*_tree_map(lambda a: a.clone() if torch.is_tensor(a) else a, self.args))
        except Exception as error:
            raise ValueError(
                f"example_input does not run through {type(self.model).__name__}: {error}"
            ) from error
        finally:
            for h in handles:
                h.remove()
        for module in self.model.modules():
            inputs = first_inputs.get(id(module))
            if module is self.model or inputs is None:
                continue
            kind = "ruled" if _rule_for(module) is not None else _known_kind(module)
            if kind is None and any(
                _known_kind(m) in _NOT_ELEMENTWISE for m in module.modules() if m is not module
            ):
                kind = "other"  # a block holding a layer with weights or batch statistics
            if kind is None:
                kind = _probe(module, _few(inputs[0])) if len(inputs) == 1 else "other"
            self.kinds[id(module)] = kind

    def _trace(self) -> fx.Graph | None:
        leaves = {i for i, kind in self.kinds.items() if kind != "other"}
        try:
            return _Tracer(leaves).trace(self.model)
        except Exception as error:
            self._warn(
                "trace",
                f"{type(self.model).__name__} is not symbolically traceable ({error}); "
                "following forward hooks in execution order instead",
            )
            return None

    # -- graph walk

    def _walk_graph(self, graph: fx.Graph) -> None:
        nodes = list(graph.nodes)
        last_use = {inp: i for i, node in enumerate(nodes) for inp in node.all_input_nodes}
        env: dict[fx.Node, _Val] = {}
        position = 0
        for i, node in enumerate(nodes):
            if node.op == "output":
                break
            if node.op == "placeholder":  # torch.fx's node kind for a graph input
                if position < len(self.args):
                    value, drawn = self.args[position], self.draw_args[position]
                else:
                    value = drawn = node.args[0]
                position += 1
                env[node] = self._input(node.name, value, drawn)
            elif node.op == "get_attr":
                env[node] = _Val([_fetch(self.model, node)] * self.replays, None)
            else:
                args = fx.node.map_arg(node.args, env.__getitem__)
                kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
                if node.op == "call_module":
                    module = self.model.get_submodule(str(node.target))
                    env[node] = self._module(str(node.target), module, args, kwargs)
                else:
                    env[node] = self._function(node, args, kwargs)
            for inp in node.all_input_nodes:
                if last_use[inp] == i:
                    del env[inp]

    def _input(self, name: str, value: Any, drawn: Any) -> _Val:
        """A graph input: moments from every example in `value`, draws from `drawn` (a subset)."""
        if not isinstance(drawn, torch.Tensor):
            return _Val([drawn] * self.replays, None)
        draws = [drawn.detach().clone() for _ in range(self.replays)]  # replays may be in place
        if not drawn.is_floating_point():
            return _Val(draws, None)
        moments = mom.empirical([value])
        self._record(name, "input", moments)
        return _Val(draws, _Signal(moments, frozenset({next(self.ids)})))

    def _record(self, name: str, op: str, moments: Moments, weighted: bool = False) -> None:
        self.records.append(SignalRecord(name, op, moments, weighted))
        second = moments.second
        if self.records and (
            not math.isfinite(second)
            or second > _EXPLODE * self.target
            or 0 < second < self.target / _EXPLODE
        ):
            trend = "explodes" if not math.isfinite(second) or second > self.target else "collapses"
            self._warn(
                "explode",
                f"the predicted signal {trend} along depth: {name!r} ({op}) has "
                f"E[x²] = {second:.3g} against the target {self.target:g}",
            )

    # -- replay helpers

    def _replay(self, call: Callable[..., Any], args: Any, kwargs: Any, first: Any) -> list[Any]:
        """`first` is draw 0's result (already computed: in-place ops must run once)."""
        return [first] + [
            call(*self._draw(args, r), **self._draw(kwargs, r)) for r in range(1, self.replays)
        ]

    @staticmethod
    def _draw(obj: Any, r: int) -> Any:
        return _tree_map(lambda v: v.draws[r] if isinstance(v, _Val) else v, obj)

    def _signal_of(self, val: _Val) -> _Signal:
        """A constant float tensor used as a signal: its own moments, no shared roots."""
        if isinstance(val.sig, _Signal):
            return val.sig
        return _Signal(mom.empirical(val.draws[:1]), frozenset())

    def _gaussian(
        self,
        like: Any,
        moments: Moments,
        shared: float = 0.0,
        axis: int = 1,
        scales: torch.Tensor | None = None,
        profile: torch.Tensor | None = None,
    ) -> tuple[list[Any], Any]:
        """Fresh Gaussian draws shaped like `like`, each float tensor a new base.

        `shared` is the variance of per-(example, channel) offsets constant across
        positions (see `moments.shared_variance`); `scales` (draws × examples)
        scales each example's variance, `profile` each position's (its trailing
        dimensions).
        """
        g = torch.Generator().manual_seed((self.seed + 7919 * next(self.ids)) % 2**63)
        shared = min(max(shared, 0.0), moments.var) if moments.finite else 0.0

        def one(t: Any, r: int) -> Any:
            if not _is_float_tensor(t):
                return t
            shape = t.shape
            # Built in place in float32: these tensors are the largest AutoInit makes.
            value = torch.randn(shape, generator=g).mul_(math.sqrt(moments.var - shared))
            if shared > 0.0 and len(shape) >= 3:
                offset_shape = [1] * len(shape)
                offset_shape[0], offset_shape[axis] = shape[0], shape[axis]
                offsets = torch.randn(offset_shape, generator=g).mul_(math.sqrt(shared))
                value.add_(offsets)
            factor: torch.Tensor | None = None
            if _fits(scales, t):
                assert scales is not None
                factor = scales[r].sqrt().float().view(-1, *[1] * (len(shape) - 1))
            if profile is not None and tuple(shape[-profile.dim() :]) == tuple(profile.shape):
                p = profile.sqrt().float()
                factor = p if factor is None else factor * p
            if factor is not None:
                value.mul_(factor)
            return value.add_(moments.mean).to(t.dtype).to(t.device)

        draws = [_tree_map(lambda t, r=r: one(t, r), like) for r in range(self.replays)]

        def signal(t: Any) -> Any:
            if not _is_float_tensor(t):
                return None
            identity = self._gaussian_root(moments, t, scales if _fits(scales, t) else None)
            return _Signal(moments, frozenset({identity.base_id}), identity)

        return draws, _tree_map(signal, like)

    # -- modules

    def _module(self, name: str, module: nn.Module, args: Any, kwargs: Any) -> _Val:
        vals = [v for v in _leaves((args, kwargs)) if isinstance(v, _Val)]
        op = type(module).__name__
        x = next((v for v in vals if _is_float_tensor(v.draws[0])), None)
        kind = self.kinds.get(id(module)) or _known_kind(module)
        if kind is None:
            kind = _probe(module, _few(x.draws[0])) if x is not None else "other"
            self.kinds[id(module)] = kind
        if kind in ("norm", "batchnorm"):
            self._reset_affine(module)  # before draw 0 is computed with the old affine map
        rule = _rule_for(module)
        if rule is not None and x is not None:
            return self._ruled(name, op, module, rule, args, kwargs)
        if kind == "weighted" and x is not None and not kwargs and len(vals) == 1:
            assert isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d)
            return self._weighted_module(name, module, x, _output_like(module, x.draws[0]))
        first = module(*self._draw(args, 0), **self._draw(kwargs, 0))
        if kind == "embedding":
            assert isinstance(module, nn.Embedding)
            return self._embedding(name, module, args, kwargs, first)
        if x is None or not _has_float_tensor(first):
            return _Val(self._replay(module, args, kwargs, first), None)
        if kind == "batchnorm":
            assert isinstance(module, nn.modules.batchnorm._BatchNorm)
            return self._batchnorm(name, module, x, args, kwargs, first)
        draws = self._replay(module, args, kwargs, first)
        xs = self._signal_of(x)
        if kind == "norm":
            moments = self._norm_moments(module, xs.moments)
            return self._emit(name, op, draws, moments, xs.roots)
        if kind == "dropout":
            p = float(getattr(module, "p", 0.0))
            return self._dropout(name, op, xs, draws, p if module.training else 0.0)
        if kind == "shape":
            return self._pass(name, op, xs, draws)
        if kind == "pad":
            return self._pad(name, op, xs, x, draws, float(getattr(module, "value", 0.0)))
        if kind == "mc":
            return self._measure(name, op, draws, xs.roots)
        if kind in ("uniform", "elementwise"):
            return self._elementwise(name, op, xs, draws, module, kind == "uniform", module)
        own = [n for n, _ in module.named_parameters()]
        self._warn(
            f"module:{name}",
            f"AutoInit has no rule for module {name!r} ({op}); its output statistics are "
            "estimated by Monte Carlo"
            + (f" and its parameters ({', '.join(own)}) are left as they are" if own else "")
            + " (evoforge.init.register_rule teaches it one)",
        )
        return self._measure(name, op, draws, xs.roots | {next(self.ids)})

    def _ruled(
        self, name: str, op: str, module: nn.Module, rule: Rule, args: Any, kwargs: Any
    ) -> _Val:
        """A registered rule sets the parameters; the outputs are measured by Monte Carlo."""
        vals = [v for v in _leaves((args, kwargs)) if isinstance(v, _Val)]
        inputs = [self._signal_of(v).moments for v in vals if _is_float_tensor(v.draws[0])]
        params = list(module.parameters())
        fresh = self.initialise and not any(id(p) in self.done for p in params)

        def measure() -> Moments:
            outs = [
                module(*self._draw(args, r), **self._draw(kwargs, r)) for r in range(self.replays)
            ]
            return mom.empirical([next(t for t in _leaves(o) if _is_float_tensor(t)) for o in outs])

        ctx = RuleContext(module, inputs, self.target, fresh, self._fill, measure)
        rule(ctx)
        if fresh:
            self.done.update(id(p) for p in params)
        first = module(*self._draw(args, 0), **self._draw(kwargs, 0))
        draws = self._replay(module, args, kwargs, first)
        roots = frozenset().union(*(self._signal_of(v).roots for v in vals if v.sig is not None))
        return self._measure(name, op, draws, roots | {next(self.ids)})

    def _weighted_module(
        self, name: str, module: nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d, x: _Val, first: Any
    ) -> _Val:
        weight, bias = module.weight, module.bias
        if isinstance(module, nn.Linear):
            return self._weighted(name, "Linear", weight, bias, x, first, axis=-1, call=module)
        zero_padded = module.padding_mode == "zeros"
        taps = _taps(
            x.draws,
            module.kernel_size,
            module.stride,
            module.padding if zero_padded else 0,
            module.dilation,
        )
        return self._weighted(
            name, type(module).__name__, weight, bias, x, first, taps=taps, call=module
        )

    def _weighted(
        self,
        name: str,
        op: str,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        x: _Val,
        first: torch.Tensor,
        *,
        taps: _Taps | None = None,
        axis: int = 1,
        rows: torch.Tensor | None = None,
        call: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> _Val:
        """Set (or read) a layer computing Σ W·x per output; `rows` is W as (out, in, taps).

        Channels lie along `axis` of the output (1 for convolutions, -1 for linear
        layers); `taps` describes how a convolution's kernel weighs its input.
        """
        if rows is None:
            rows = weight.reshape(weight.shape[0], weight.shape[1], -1)
        m_in = self._signal_of(x).moments
        scales = _sample_scales(x.draws)
        self._check_spread(name, scales)
        shared_in = mom.shared_variance(x.draws, axis)
        covered = 1.0 if taps is None else taps.covered
        fan_in = rows.shape[1] * rows.shape[2] * covered
        if self.initialise and id(weight) not in self.done:
            if m_in.finite and m_in.second > 0:
                std = mom.weight_std(fan_in, m_in, self.target)
                # Each output channel's offset Σ W·(μ + input offsets) is shared by its
                # positions, except where padding removes taps.
                shared = self.target * (m_in.mean**2 + shared_in) / m_in.second
                if taps is not None:
                    shared *= taps.shared_fraction
            else:
                self._warn(
                    f"degenerate:{name}",
                    f"input of {name!r} has mean {m_in.mean} and variance {m_in.var}; "
                    "its weights use std √(target/fan_in)",
                )
                std, shared = math.sqrt(self.target / fan_in), 0.0
            self._fill(weight, std)
            if bias is not None:
                bias.zero_()
                self.done.add(id(bias))
            self.done.add(id(weight))
            m_out = Moments(0.0, self.target)
            if self.calibrate and call is not None:
                return self._calibrated(name, op, weight, x, call)
        else:
            m_out, shared = mom.weighted_output(
                rows,
                bias,
                m_in,
                min(shared_in, m_in.var),
                None if taps is None else (taps.patterns, taps.frequencies),
            )
        self._record(name, op, m_out, weighted=True)
        draws, sig = self._gaussian(
            first,
            m_out,
            shared if first.dim() >= 3 else 0.0,
            axis,
            scales,
            None if taps is None else taps.profile,
        )
        return _Val(draws, sig)

    def _calibrated(
        self,
        name: str,
        op: str,
        weight: torch.Tensor,
        x: _Val,
        call: Callable[[torch.Tensor], torch.Tensor],
    ) -> _Val:
        """Run the freshly set layer on the draws and rescale it to the target variance.

        The draws then carry the realised signal (per-channel offsets, spatial
        structure) on to the next layers; it depends on every earlier layer, so
        it shares their roots and later sums and products are measured on it.
        """
        outs = [call(d) for d in x.draws]
        measured = mom.empirical(outs)
        if measured.finite and measured.var > 0:
            factor = math.sqrt(self.target / measured.var)
            weight.mul_(factor)  # the bias is zero, so the output scales with W
            outs = [o * factor for o in outs]
            measured = Moments(measured.mean * factor, self.target)
        self._record(name, op, measured, weighted=True)
        roots = self._signal_of(x).roots | {next(self.ids)}
        return _Val(outs, _Signal(measured, roots))

    def _check_spread(self, name: str, scales: torch.Tensor | None) -> None:
        """Warn when examples' second moments diverge (the signal explodes for some)."""
        if scales is None or scales.numel() < 10:
            return
        # Deciles, not extremes: the smallest of hundreds of examples is noisy.
        low, high = (
            float(q)
            for q in torch.quantile(
                scales.reshape(-1).double(), torch.tensor([0.1, 0.9], dtype=torch.float64)
            )
        )
        if not (low > 0 and math.isfinite(high)) or high / low > _SPREAD_LIMIT:
            ratio = high / low if low > 0 else math.inf
            self._warn(
                "spread",
                f"the input of {name!r}: examples' second moments (deciles) differ by a factor of "
                f"{ratio:.3g}: along depth the signal explodes for some inputs and "
                "collapses for others (an activation whose variance map has slope > 1 at "
                "the target does this); a per-example normalisation such as LayerNorm "
                "stops it",
            )

    def _fill(self, weight: torch.Tensor, std: float) -> None:
        if self.distribution == "normal":
            values = torch.randn(weight.shape, generator=self.weights_rng) * std
        elif self.distribution == "truncated_normal":
            # N(0, 1) truncated at ±2 has standard deviation 0.8796: divide it out.
            values = _truncated_normal(weight.shape, self.weights_rng) * (std / _TRUNC_STD)
        else:
            values = (torch.rand(weight.shape, generator=self.weights_rng) * 2 - 1) * (
                math.sqrt(3) * std
            )
        weight.copy_(values.to(weight.dtype))

    def _embedding(
        self, name: str, module: nn.Embedding, args: Any, kwargs: Any, first: torch.Tensor
    ) -> _Val:
        if self.initialise and id(module.weight) not in self.done:
            self._fill(module.weight, math.sqrt(self.target))
            if module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
            self.done.add(id(module.weight))
            moments = Moments(0.0, self.target)
            self._record(name, "Embedding", moments, weighted=True)
            draws, sig = self._gaussian(first, moments)
            return _Val(draws, sig)
        draws = self._replay(module, args, kwargs, first)
        moments = mom.empirical(draws)
        self._record(name, "Embedding", moments, weighted=True)
        return _Val(draws, _Signal(moments, frozenset({next(self.ids)})))

    def _reset_affine(self, module: nn.Module) -> None:
        """Normalisation layers: γ = √target, β = 0, so they output the target variance too."""
        if not self.initialise:
            return
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        if isinstance(weight, nn.Parameter) and id(weight) not in self.done:
            weight.fill_(math.sqrt(self.target))
            self.done.add(id(weight))
        if isinstance(bias, nn.Parameter) and id(bias) not in self.done:
            bias.zero_()
            self.done.add(id(bias))

    def _norm_moments(self, module: nn.Module, m_in: Moments) -> Moments:
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        if isinstance(module, nn.RMSNorm):
            # x / rms(x): the second moment becomes 1, the mean is not removed.
            gamma = torch.ones(1) if weight is None else weight.detach().double()
            scale = 1 / math.sqrt(m_in.second) if m_in.second > 0 else 0.0
            return Moments.from_raw(
                float(gamma.mean()) * m_in.mean * scale, float(gamma.pow(2).mean())
            )
        return mom.normalised(weight, bias)

    def _batchnorm(
        self,
        name: str,
        module: nn.modules.batchnorm._BatchNorm,
        x: _Val,
        args: Any,
        kwargs: Any,
        first: torch.Tensor,
    ) -> _Val:
        op = type(module).__name__
        xs = self._signal_of(x)
        uses_batch = module.training or module.running_mean is None
        if uses_batch:
            # Per-channel statistics over the batch remove channel offsets: a new Gaussian.
            moments = mom.normalised(module.weight, module.bias)
            shared = 0.0 if module.bias is None else float(module.bias.double().var(False))
            self._record(name, op, moments)
            scales = _sample_scales(x.draws, xs.moments.mean)
            profile = _relative(_position_map(x.draws, first.dim() - 2, xs.moments.mean))
            draws, sig = self._gaussian(first, moments, shared, 1, scales, profile)
            return _Val(draws, sig)
        assert module.running_var is not None
        gamma = torch.ones_like(module.running_var) if module.weight is None else module.weight
        beta = torch.zeros_like(module.running_mean) if module.bias is None else module.bias
        scale = gamma / torch.sqrt(module.running_var + module.eps)
        moments = mom.per_channel_affine(xs.moments, scale, beta - scale * module.running_mean)
        draws = self._replay(module, args, kwargs, first)
        return self._emit(name, op, draws, moments, xs.roots)

    # -- generic rules

    def _emit(
        self,
        name: str,
        op: str,
        draws: list[Any],
        moments: Moments,
        roots: frozenset[int],
        pointwise: _Pointwise | None = None,
    ) -> _Val:
        self._record(name, op, moments)
        return _Val(draws, _Signal(moments, roots, pointwise))

    def _pass(self, name: str, op: str, xs: _Signal, draws: list[Any]) -> _Val:
        """Shape-only operations: same moments; tuple outputs share them."""

        def signal(t: Any) -> Any:
            if not _is_float_tensor(t):
                return None
            pw = replace(xs.pointwise, sample_shape=tuple(t.shape[1:])) if xs.pointwise else None
            return _Signal(xs.moments, xs.roots, pw)

        self._record(name, op, xs.moments)
        return _Val(draws, _tree_map(signal, draws[0]))

    def _gaussian_root(self, moments: Moments, like: torch.Tensor, scales: Any) -> _Pointwise:
        """A new independent Gaussian signal shaped like ``like``: quadrature of
        later elementwise functions starts from it."""
        return _Pointwise(
            next(self.ids),
            moments,
            _identity,
            tuple(like.shape[1:]),
            like.dtype,
            like.device,
            scales,
        )

    def _measure(self, name: str, op: str, draws: list[Any], roots: frozenset[int]) -> _Val:
        """Monte Carlo: moments of the replayed draws, per float tensor of the output."""
        per_draw = [list(_leaves(d)) for d in draws]
        index = count()

        def signal(t: Any) -> Any:
            i = next(index)
            if not _is_float_tensor(t):
                return None
            moments = mom.empirical([leaves[i] for leaves in per_draw])
            self._record(name, op, moments)
            return _Signal(moments, roots)

        return _Val(draws, _tree_map(signal, draws[0]))

    def _dropout(self, name: str, op: str, xs: _Signal, draws: list[Any], p: float) -> _Val:
        if p == 0.0:
            return self._pass(name, op, xs, draws)
        return self._emit(name, op, draws, mom.dropout(xs.moments, p), xs.roots)

    def _pad(
        self, name: str, op: str, xs: _Signal, x: _Val, draws: list[Any], value: float
    ) -> _Val:
        fraction = 1.0 - x.draws[0].numel() / max(draws[0].numel(), 1)
        return self._emit(name, op, draws, mom.constant_pad(xs.moments, fraction, value), xs.roots)

    def _elementwise(
        self,
        name: str,
        op: str,
        xs: _Signal,
        draws: list[Any],
        call: Callable[[torch.Tensor], torch.Tensor],
        uniform: bool,
        module: nn.Module | None,
    ) -> _Val:
        """Quadrature when the input is a function of a Gaussian, else Monte Carlo."""
        pointwise = xs.pointwise.then(call) if uniform and xs.pointwise else None
        moments = pointwise.moments() if pointwise else None
        if moments is None:
            pointwise, moments = None, mom.empirical(draws)
        if self.centered and self.initialise and module is not None:
            shift = self._shift(module, moments)
            if shift:
                draws = [d - shift for d in draws]
                moments = Moments(moments.mean - shift, moments.var)
                pointwise = pointwise.then(lambda t: t - shift) if pointwise else None
        return self._emit(name, op, draws, moments, xs.roots, pointwise)

    def _shift(self, module: nn.Module, moments: Moments) -> float:
        """AutoInit++ shift of an activation module: its mean at its first use."""
        if isinstance(module, CenteredActivation) or not moments.finite:
            return 0.0
        if id(module) not in self.shifts:
            self.shifts[id(module)] = (module, moments.mean)
        return self.shifts[id(module)][1]

    def _wrap(self, module: nn.Module, shift: float) -> None:
        wrapper = CenteredActivation(module, shift)
        for parent in list(self.model.modules()):
            for child_name, child in list(parent.named_children()):
                if child is module:
                    setattr(parent, child_name, wrapper)

    # -- functions

    def _function(self, node: fx.Node, args: Any, kwargs: Any) -> _Val:
        target = node.target
        if node.op == "call_method":
            op = str(target)

            def call(*a: Any, **k: Any) -> Any:
                return getattr(a[0], op)(*a[1:], **k)

        else:
            assert callable(target)
            op, call = getattr(target, "__name__", repr(target)), target
        name = node.name
        first = call(*self._draw(args, 0), **self._draw(kwargs, 0))
        vals = [v for v in _leaves((args, kwargs)) if isinstance(v, _Val)]
        signals = [v for v in vals if isinstance(v.sig, _Signal)]
        if not signals or not _has_float_tensor(first):
            if op in ("getitem", "getattr") and isinstance(args[0], _Val):
                source = args[0].draws[0]
                if op == "getitem" and isinstance(source, tuple | list):
                    return self._select(args[0], args[1], first)
                if op == "getattr" and hasattr(source, "_fields"):  # e.g. torch.max(x, 1).values
                    return self._select(args[0], source._fields.index(args[1]), first)
            return _Val(self._replay(call, args, kwargs, first), None)
        weighted = self._weighted_function(name, op, args, kwargs, first, call)
        if weighted is not None:
            return weighted
        if op in _CONCAT:
            return self._concat(name, op, args, kwargs, call, first)
        if len(signals) > 1:
            return self._combine(name, op, args, kwargs, call, first, signals)
        x = signals[0]
        xs = x.sig
        draws = self._replay(call, args, kwargs, first)
        if op in _SHAPE:
            return self._pass(name, op, xs, draws)
        if op in _MC_FUNCTIONS:
            return self._measure(name, op, draws, xs.roots)
        if op in _DROPOUT_FUNCTIONS:
            p = _arg(args, kwargs, 1, "p", 0.5)
            return self._dropout(
                name, op, xs, draws, float(p) if _arg(args, kwargs, 2, "training", True) else 0.0
            )
        if op == "pad":
            if _arg(args, kwargs, 2, "mode", "constant") != "constant":
                return self._pass(name, op, xs, draws)
            value = _arg(args, kwargs, 3, "value", None) or 0.0
            return self._pad(name, op, xs, x, draws, float(value))
        if op in _NORM_FUNCTIONS:
            return self._emit(
                name, op, draws, self._norm_function_moments(op, args, kwargs, xs), xs.roots
            )

        def single(t: torch.Tensor) -> Any:
            return call(*_substitute(args, x, t), **_substitute(kwargs, x, t))

        scalars_only = sum(_is_float_tensor(v) for v in _leaves(self._draw((args, kwargs), 0))) == 1
        kind = (
            "uniform" if op in _UNIFORM_FUNCTIONS and scalars_only else _probe(single, x.draws[0])
        )
        if kind == "shape":
            return self._pass(name, op, xs, draws)
        if kind != "other":
            if self.centered and self.initialise and op not in _ARITHMETIC:
                self.uncentred.append(op)
            return self._elementwise(name, op, xs, draws, single, kind == "uniform", None)
        self._warn(
            f"function:{op}",
            f"AutoInit does not know the operation {op!r} (node {name!r}{_where(node)}); "
            "its output statistics are estimated by Monte Carlo",
        )
        return self._measure(name, op, draws, xs.roots | {next(self.ids)})

    @staticmethod
    def _select(source: _Val, index: Any, first: Any) -> _Val:
        """One output of a module or function that returns several."""
        sig = source.sig[index] if isinstance(source.sig, tuple | list) else None
        return _Val([first] + [d[index] for d in source.draws[1:]], sig)

    def _weighted_function(
        self,
        name: str,
        op: str,
        args: Any,
        kwargs: Any,
        first: torch.Tensor,
        call: Callable[..., Any],
    ) -> _Val | None:
        """F.linear, F.conv*d and x @ W where the weight W is a parameter."""
        x, weight = args[0] if args else None, _arg(args, kwargs, 1, "weight", None)
        if not (isinstance(x, _Val) and isinstance(weight, _Val)):
            return None

        def single(t: torch.Tensor) -> Any:
            return call(*_substitute(args, x, t), **_substitute(kwargs, x, t))

        w = weight.draws[0]
        if not isinstance(w, nn.Parameter) or not isinstance(first, torch.Tensor):
            return None
        bias_val = _arg(args, kwargs, 2, "bias", None)
        bias = bias_val.draws[0] if isinstance(bias_val, _Val) else None
        bias = bias if isinstance(bias, nn.Parameter) else None
        if op == "linear":
            return self._weighted(name, op, w, bias, x, first, axis=-1, call=single)
        if op in _CONVS_F and w.dim() == _CONVS_F[op] + 2:
            taps = _taps(
                x.draws,
                tuple(w.shape[2:]),
                _arg(args, kwargs, 3, "stride", 1),
                _arg(args, kwargs, 4, "padding", 0),
                _arg(args, kwargs, 5, "dilation", 1),
            )
            return self._weighted(name, op, w, bias, x, first, taps=taps, call=single)
        if op in _MATMUL and w.dim() == 2:
            rows = w.t().unsqueeze(-1)
            return self._weighted(name, op, w, None, x, first, axis=-1, rows=rows, call=single)
        return None

    def _norm_function_moments(self, op: str, args: Any, kwargs: Any, xs: _Signal) -> Moments:
        def param(position: int, key: str) -> torch.Tensor | None:
            val = _arg(args, kwargs, position, key, None)
            value = val.draws[0] if isinstance(val, _Val) else val
            return value if isinstance(value, torch.Tensor) else None

        positions = {"layer_norm": 2, "group_norm": 2, "rms_norm": 2, "instance_norm": 3}
        if op == "batch_norm":
            mean, var = param(1, "running_mean"), param(2, "running_var")
            weight, bias = param(3, "weight"), param(4, "bias")
            if (
                not _arg(args, kwargs, 5, "training", False)
                and mean is not None
                and var is not None
            ):
                eps = float(_arg(args, kwargs, 7, "eps", 1e-5))
                gamma = torch.ones_like(var) if weight is None else weight
                beta = torch.zeros_like(mean) if bias is None else bias
                scale = gamma / torch.sqrt(var + eps)
                return mom.per_channel_affine(xs.moments, scale, beta - scale * mean)
            return mom.normalised(weight, bias)
        weight = param(positions[op], "weight")
        bias = None if op == "rms_norm" else param(positions[op] + 1, "bias")
        return mom.normalised(weight, bias)

    def _concat(
        self, name: str, op: str, args: Any, kwargs: Any, call: Callable[..., Any], first: Any
    ) -> _Val:
        parts = [
            v for v in _leaves(args[0] if args else kwargs.get("tensors")) if isinstance(v, _Val)
        ]
        signals = [self._signal_of(v) for v in parts]
        roots = frozenset().union(*(s.roots for s in signals))
        draws = self._replay(call, args, kwargs, first)
        if not _independent(signals):
            return self._measure(name, op, draws, roots)
        sizes = [v.draws[0].numel() for v in parts]
        moments = mom.concatenate([s.moments for s in signals], sizes)
        return self._emit(name, op, draws, moments, roots)

    def _combine(
        self,
        name: str,
        op: str,
        args: Any,
        kwargs: Any,
        call: Callable[..., Any],
        first: Any,
        signals: list[_Val],
    ) -> _Val:
        """Binary (and n-ary) operations between signals."""
        draws = self._replay(call, args, kwargs, first)
        sigs: list[_Signal] = [v.sig for v in signals]
        roots = frozenset().union(*(s.roots for s in sigs))
        pointwise = [s.pointwise for s in sigs]
        same_shape = all(v.draws[0].shape == first.shape for v in signals)
        if (
            op in _ELEMENTWISE_BINARY
            and same_shape
            and all(p is not None for p in pointwise)
            and len({p.base_id for p in pointwise if p is not None}) == 1
        ):
            # Functions of the same Gaussian: integrate the combined function exactly.
            fns = {id(v): p.fn for v, p in zip(signals, pointwise, strict=True) if p is not None}
            base = pointwise[0]
            assert base is not None

            def joint(t: torch.Tensor) -> Any:
                values = {i: fn(t) for i, fn in fns.items()}
                subst = lambda v: values[id(v)] if id(v) in values else _draw0(v)  # noqa: E731
                return call(*_tree_map(subst, args), **_tree_map(subst, kwargs))

            composed = replace(base, fn=joint)
            moments = composed.moments()
            if moments is not None:
                return self._emit(name, op, draws, moments, roots, composed)
        if not _independent(sigs) or kwargs or len(signals) != 2:
            return self._measure(name, op, draws, roots)
        a, b = (s.moments for s in sigs)
        if op in _ADD or op in _SUB:
            moments = mom.add([a, b]) if op in _ADD else mom.subtract(a, b)
            gaussian = all(p is not None and p.fn is _identity for p in pointwise)
            if gaussian and isinstance(first, torch.Tensor):
                # A sum of independent Gaussians is a Gaussian: quadrature works after it.
                pw = self._gaussian_root(moments, first, _summed_scales(sigs, first))
                return self._emit(name, op, draws, moments, roots | {pw.base_id}, pw)
            return self._emit(name, op, draws, moments, roots)
        if op in _MUL:
            return self._emit(name, op, draws, mom.multiply([a, b]), roots)
        if op in _MATMUL and isinstance(signals[0].draws[0], torch.Tensor):
            inner = signals[0].draws[0].shape[-1]
            return self._emit(name, op, draws, mom.matmul(a, b, inner), roots)
        return self._measure(name, op, draws, roots)

    # -- hooks fallback

    def _walk_hooks(self) -> None:
        """Follow a real forward pass: each leaf module's input is taken as Gaussian."""
        known: dict[int, tuple[torch.Tensor, _Signal]] = {}
        pending: dict[int, list[_Val]] = {}
        names = {id(m): n for n, m in self.model.named_modules()}
        leaves = self._hook_leaves()

        def as_val(a: Any) -> Any:
            if not _is_float_tensor(a):
                return _Val([a] * self.replays, None)
            entry = known.get(id(a))
            if entry is not None and entry[0] is a:
                moments = entry[1].moments
            else:
                moments = mom.empirical([a])  # made by code the hooks cannot see: measure it
            real = [a.detach()] * self.replays
            shared = mom.shared_variance(real[:1], 1)
            draws, sig = self._gaussian(a, moments, shared, 1, _sample_scales(real))
            return _Val(draws, sig)

        def before(module: nn.Module, args: tuple[Any, ...]) -> None:
            if self.in_rule:
                return
            self.in_rule = True  # the rule calls the module itself: ignore those calls
            try:
                out = self._module(names[id(module)], module, _tree_map(as_val, args), {})
            finally:
                self.in_rule = False
            pending.setdefault(id(module), []).append(out)

        def after(module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
            if self.in_rule or not pending.get(id(module)):
                return None
            out = pending[id(module)].pop()
            shift = self.shifts.get(id(module), (None, 0.0))[1]
            if shift:
                output = _tree_map(lambda t: t - shift if _is_float_tensor(t) else t, output)
            for tensor, sig in zip(_leaves(output), _leaves(out.sig), strict=False):
                if isinstance(tensor, torch.Tensor) and isinstance(sig, _Signal):
                    known[id(tensor)] = (tensor, sig)
            return output if shift else None

        handles = []
        for module in leaves:
            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after))
        try:
            self.model(*_tree_map(lambda a: a.clone() if torch.is_tensor(a) else a, self.args))
        finally:
            for h in handles:
                h.remove()

    def _hook_leaves(self) -> list[nn.Module]:
        leaves: list[nn.Module] = []

        def visit(module: nn.Module) -> None:
            children = list(module.children())
            kind = self.kinds.get(id(module), "other")
            if module is not self.model and (kind != "other" or not children):
                leaves.append(module)
                return
            for child in children:
                visit(child)

        visit(self.model)
        return leaves


# --- small helpers -----------------------------------------------------------------------


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _truncated_normal(shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    """N(0, 1) truncated to [-2, 2], by inverse-CDF sampling from `generator`."""
    low = 0.5 * (1 + math.erf(-2 / math.sqrt(2)))
    u = low + (1 - 2 * low) * torch.rand(shape, generator=generator, dtype=torch.float64)
    return (math.sqrt(2) * torch.erfinv(2 * u - 1)).clamp_(-2.0, 2.0).float()


def _output_like(
    module: nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d, x: torch.Tensor
) -> torch.Tensor:
    """A tensor shaped like the layer's output (only its shape is used): one example's, expanded."""
    dims = 1 if isinstance(module, nn.Linear) else len(module.kernel_size) + 1
    if x.dim() <= dims or x.shape[0] == 1:
        return module(x)
    one = module(x[:1])
    return one.expand(x.shape[0], *one.shape[1:])


def _few(example: Any, elements: int = 4096) -> Any:
    """A copy of the first few examples of a batch (at least two, for batch norm).

    Enough to see a module's input shape or to probe it, and cheaper than all.
    """
    if not isinstance(example, torch.Tensor) or example.dim() < 2:
        return example.clone() if isinstance(example, torch.Tensor) else example
    return example[: _examples(example, elements)].clone()


def _examples(batch: torch.Tensor, elements: int) -> int:
    return max(2, elements // max(1, batch[0].numel()))


def _head(args: tuple[Any, ...], elements: int = 1 << 14) -> tuple[Any, ...]:
    """Copies of the first few examples of every batched argument."""
    first = next((a for a in args if isinstance(a, torch.Tensor) and a.dim() >= 2), None)
    if first is None:
        return _tree_map(lambda a: a.clone() if isinstance(a, torch.Tensor) else a, args)
    batch, keep = first.shape[0], _examples(first, elements)
    return _tree_map(
        lambda a: (
            (a[:keep] if a.dim() and a.shape[0] == batch else a).clone()
            if isinstance(a, torch.Tensor)
            else a
        ),
        args,
    )


def _subset(args: tuple[Any, ...], batch: int, keep: int) -> tuple[Any, ...]:
    """The first `keep` examples of every argument batched like the first (size `batch`)."""
    return _tree_map(
        lambda a: (
            a[:keep] if isinstance(a, torch.Tensor) and a.dim() and a.shape[0] == batch else a
        ),
        args,
    )


def _fits(scales: torch.Tensor | None, t: torch.Tensor) -> bool:
    return scales is not None and t.dim() >= 1 and scales.shape[1] == t.shape[0]


def _sample_scales(draws: list[Any], about: float = 0.0) -> torch.Tensor | None:
    """Each example's second moment (about `about`) over the average, per draw.

    A weighted layer's output for one example has variance ∝ that example's
    input second moment, so examples keep their relative scales.
    """
    if not all(_is_float_tensor(d) and d.dim() >= 2 for d in draws):
        return None
    # float32 elementwise, float64 only for the per-example sums: a float32
    # mean over a few thousand elements is exact to ~1e-6, far below the spread.
    per_example = torch.stack(
        [
            _centred_square(d, about).reshape(d.shape[0], -1).sum(1, dtype=torch.float64)
            / max(d[0].numel(), 1)
            for d in draws
        ]
    )
    average = float(per_example.mean())
    return per_example.cpu() / average if math.isfinite(average) and average > 0 else None


def _summed_scales(signals: list[_Signal], out: torch.Tensor) -> torch.Tensor | None:
    """Per-example variance scales of a sum of independent Gaussians."""
    total = sum(s.moments.var for s in signals)
    if total <= 0:
        return None
    summed: torch.Tensor | float = 0.0
    for s in signals:
        scales = s.pointwise.scales if s.pointwise else None
        if scales is not None and not _fits(scales, out):
            return None
        summed = summed + s.moments.var * (1.0 if scales is None else scales)
    return summed / total if isinstance(summed, torch.Tensor) else None


def _mixture(scales: torch.Tensor, bins: int = 16) -> list[float]:
    """Summarise per-example variance scales as the means of equal-count bins."""
    ordered = scales.reshape(-1).sort().values
    return [float(chunk.mean()) for chunk in ordered.tensor_split(min(bins, ordered.numel()))]


def _independent(signals: list[_Signal]) -> bool:
    """No two signals share a source."""
    return sum(len(s.roots) for s in signals) == len(frozenset().union(*(s.roots for s in signals)))


def _draw0(v: Any) -> Any:
    return v.draws[0] if isinstance(v, _Val) else v


def _substitute(obj: Any, target: _Val, value: torch.Tensor) -> Any:
    return _tree_map(lambda v: value if v is target else _draw0(v), obj)


def _arg(args: Any, kwargs: Any, position: int, key: str, default: Any) -> Any:
    if key in kwargs:
        return kwargs[key]
    return args[position] if len(args) > position else default


def _fetch(model: nn.Module, node: fx.Node) -> Any:
    value: Any = model
    for part in str(node.target).split("."):
        value = getattr(value, part)
    return value


def _where(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return f" in module {path!r}" if path else ""


@dataclass(frozen=True)
class _Taps:
    """How a convolution's kernel taps weigh its input, averaged over output positions.

    Each row of `patterns` gives, for some output positions, every tap's input
    second moment relative to the input's average — 0 where the tap lands on
    zero padding — and `frequencies` how often the row occurs. Zero padding and
    the border positions it weakens matter on small images: an interior input
    is read by every tap, a corner input by a few, so the interior's larger
    values count more. `covered` is the mean weight of a tap (1 without
    padding on a uniform input), `shared_fraction` the part of a channel's
    offset that is the same at every position, `profile` each output
    position's variance relative to the average.
    """

    patterns: torch.Tensor
    frequencies: torch.Tensor
    covered: float
    shared_fraction: float
    profile: torch.Tensor


def _taps(
    draws: list[Any], kernel: tuple[int, ...] | int, stride: Any, padding: Any, dilation: Any
) -> _Taps | None:
    """Tap weights of a convolution from its input draws; None without spatial input.

    A convolution of the input's relative second-moment map with one-hot
    kernels gives every output position's tap weights.
    """
    kernel = tuple(kernel) if isinstance(kernel, tuple | list) else (kernel,)
    dims, size = len(kernel), math.prod(kernel)
    relative = _relative(_position_map(draws, dims))
    if relative is None:
        return None
    conv = (F.conv1d, F.conv2d, F.conv3d)[dims - 1]
    one_hot = torch.eye(size, dtype=torch.float64).view(size, 1, *kernel)
    weights = conv(relative[None, None], one_hot, stride=stride, padding=padding, dilation=dilation)
    rows = weights[0].reshape(size, -1).t()
    presence = rows.mean(0)
    # Rounding merges positions with nearly the same weights (few distinct rows remain).
    patterns, counts = torch.unique(rows.round(decimals=2), dim=0, return_counts=True)
    per_position = weights[0].sum(0)
    return _Taps(
        patterns,
        counts.double() / counts.sum(),
        float(rows.mean()),
        float(presence.pow(2).sum() / presence.sum()),
        per_position / per_position.mean(),
    )


def _position_map(draws: list[Any], dims: int, about: float = 0.0) -> torch.Tensor | None:
    """Second moment (about `about`) at each position of the trailing `dims` dimensions."""
    if dims < 1 or not all(_is_float_tensor(d) and d.dim() > dims for d in draws):
        return None
    total: torch.Tensor | None = None
    rows = 0
    for d in draws:
        squares = _centred_square(d, about).reshape(-1, *d.shape[-dims:])
        part = squares.sum(0, dtype=torch.float64)
        total = part if total is None else total + part
        rows += squares.shape[0]
    assert total is not None
    return (total / rows).cpu()


def _centred_square(d: torch.Tensor, about: float) -> torch.Tensor:
    """(d - about)² in the draw's own precision (float32 for float32 models)."""
    x = d.detach()
    return (x - about).square_() if about else x.square()


def _relative(profile: torch.Tensor | None) -> torch.Tensor | None:
    if profile is None or not float(profile.mean()) > 0:
        return None
    return profile / profile.mean()
