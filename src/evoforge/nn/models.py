"""Small image classifiers with a pluggable activation function and initialiser.

Every model takes:

* ``activation``: a zero-argument factory returning an ``nn.Module`` (default
  ``nn.ReLU``). It is called once per activation site, so an activation with
  learnable (possibly lazily sized) parameters gets its own parameters at
  every site.
* ``init``: an optional hook ``init(model, example_input) -> Any`` run once
  the model is built, e.g. `evoforge.init.autoinit`; None keeps PyTorch's
  default initialisation.
* ``example_input``: the batch given to ``init`` (and used to materialise lazy
  parameters); by default 256 standard-normal inputs, which is what
  standardised data look like. Drawn from a private generator, so building a
  model consumes the global torch RNG only for PyTorch's default weights.

Models: `MLP`, `AllCNNC`, `WideResNet` (WRN-d-k) and `ResNet` (CIFAR-style,
v1 post-activation or v2 pre-activation, with or without batch norm). Every
downsampling is a stride-2 3×3 convolution with padding 1, which maps a size s
to ⌈s/2⌉, so 8×8 digits, 28×28 MNIST and 32×32 CIFAR inputs all work.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = ResNet(8, in_channels=1, image_size=8, activation=nn.SiLU, width=4)
    >>> net(torch.randn(2, 1, 8, 8)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

ActivationFactory = Callable[[], nn.Module]
InitHook = Callable[[nn.Module, torch.Tensor], Any]
EXAMPLE_BATCH = 256


def _example_input(shape: Sequence[int], example_input: torch.Tensor | None) -> torch.Tensor:
    if example_input is not None:
        return example_input
    generator = torch.Generator().manual_seed(0)
    return torch.randn(EXAMPLE_BATCH, *shape, generator=generator)


def finish_model(
    model: nn.Module,
    in_shape: Sequence[int],
    init: InitHook | None,
    example_input: torch.Tensor | None = None,
) -> None:
    """Materialise lazy parameters with a forward pass, then run the ``init`` hook.

    The dry run is done in eval mode without gradients, so batch-norm running
    statistics are left untouched; the model's training mode is restored.

    Example:
        >>> net = nn.Sequential(nn.LazyLinear(3))
        >>> finish_model(net, (5,), init=None)
        >>> net[0].weight.shape
        torch.Size([3, 5])
    """
    x = _example_input(in_shape, example_input)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(x[:2])
    model.train(was_training)
    if init is not None:
        init(model, x)


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class MLP(nn.Module):
    """A fully connected classifier: flatten, then Linear-activation per hidden layer, Linear.

    Example:
        >>> import torch
        >>> net = MLP(64, (32, 16), num_classes=10)
        >>> net(torch.randn(5, 1, 8, 8)).shape
        torch.Size([5, 10])
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (128,),
        num_classes: int = 10,
        *,
        activation: ActivationFactory = nn.ReLU,
        dropout: float = 0.0,
        init: InitHook | None = None,
        example_input: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        _check_positive("in_features", in_features)
        _check_positive("num_classes", num_classes)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for i, size in enumerate(hidden):
            _check_positive(f"hidden[{i}]", size)
            layers += [nn.Linear(width, size), activation()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)
        finish_model(self, (in_features,), init, example_input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _conv(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, padding: int = 1, bias=False):
    return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias)


class AllCNNC(nn.Module):
    """All-CNN-C (Springenberg et al. 2015): convolutions only, no pooling but a global average.

    Layout, with channels ``96·width`` (a) and ``192·width`` (b): input dropout,
    3×3 a, 3×3 a, 3×3 a stride 2, dropout, 3×3 b, 3×3 b, 3×3 b stride 2,
    dropout, 3×3 b (unpadded when the feature map is at least 3×3, else padded),
    1×1 b, 1×1 ``num_classes``, global average pooling. An activation follows
    every convolution except the last, whose outputs are the logits (the
    original also rectified those class scores). ``width=1`` is the original size;
    ``width=1/6`` (16/32 channels) suits digits.

    Example:
        >>> import torch
        >>> net = AllCNNC(in_channels=1, image_size=28, width=0.125)
        >>> net(torch.randn(3, 1, 28, 28)).shape
        torch.Size([3, 10])
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 32,
        num_classes: int = 10,
        *,
        width: float = 1.0,
        activation: ActivationFactory = nn.ReLU,
        input_dropout: float = 0.2,
        dropout: float = 0.5,
        init: InitHook | None = None,
        example_input: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        _check_positive("in_channels", in_channels)
        _check_positive("image_size", image_size)
        _check_positive("num_classes", num_classes)
        if not width > 0:
            raise ValueError(f"width must be positive, got {width!r}")
        a, b = _scaled(96, width), _scaled(192, width)
        size = math.ceil(math.ceil(image_size / 2) / 2)
        last_padding = 0 if size >= 3 else 1
        layers: list[nn.Module] = []
        if input_dropout > 0:
            layers.append(nn.Dropout(input_dropout))
        plan = [
            (in_channels, a, 3, 1, 1),
            (a, a, 3, 1, 1),
            (a, a, 3, 2, 1),
            None,
            (a, b, 3, 1, 1),
            (b, b, 3, 1, 1),
            (b, b, 3, 2, 1),
            None,
            (b, b, 3, 1, last_padding),
            (b, b, 1, 1, 0),
        ]
        for step in plan:
            if step is None:
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
                continue
            c_in, c_out, kernel, stride, padding = step
            layers += [_conv(c_in, c_out, kernel, stride, padding, bias=True), activation()]
        layers += [
            _conv(b, num_classes, 1, 1, 0, bias=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ]
        self.layers = nn.Sequential(*layers)
        finish_model(self, (in_channels, image_size, image_size), init, example_input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _norm(channels: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()


class _Shortcut(nn.Module):
    """Identity, or a 1×1 strided projection (plus norm) when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: nn.Module | None) -> None:
        super().__init__()
        self.project: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            layers: list[nn.Module] = [_conv(c_in, c_out, 1, stride, 0, bias=norm is None)]
            if norm is not None:
                layers.append(norm)
            self.project = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.project is None else self.project(x)


class PostActBlock(nn.Module):
    """ResNet v1 basic block: conv-norm-act-conv-norm, add the shortcut, act."""

    def __init__(
        self, c_in: int, c_out: int, stride: int, activation: ActivationFactory, batchnorm: bool
    ) -> None:
        super().__init__()
        bias = not batchnorm
        self.conv1 = _conv(c_in, c_out, 3, stride, 1, bias)
        self.norm1 = _norm(c_out, batchnorm)
        self.act1 = activation()
        self.conv2 = _conv(c_out, c_out, 3, 1, 1, bias)
        self.norm2 = _norm(c_out, batchnorm)
        norm = nn.BatchNorm2d(c_out) if batchnorm else None
        self.shortcut = _Shortcut(c_in, c_out, stride, norm)
        self.act2 = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm2(self.conv2(self.act1(self.norm1(self.conv1(x)))))
        return self.act2(out + self.shortcut(x))


class PreActBlock(nn.Module):
    """Pre-activation basic block (ResNet v2, WRN): norm-act-conv-norm-act-conv plus shortcut.

    When the shape changes the projection shortcut reads the pre-activated
    input, as in He et al. (2016b). ``dropout`` sits between the two
    convolutions (as in WRN).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        activation: ActivationFactory,
        batchnorm: bool,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        bias = not batchnorm
        self.norm1 = _norm(c_in, batchnorm)
        self.act1 = activation()
        self.conv1 = _conv(c_in, c_out, 3, stride, 1, bias)
        self.norm2 = _norm(c_out, batchnorm)
        self.act2 = activation()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = _conv(c_out, c_out, 3, 1, 1, bias)
        self.shortcut = _Shortcut(c_in, c_out, stride, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.norm1(x))
        out = self.conv2(self.dropout(self.act2(self.norm2(self.conv1(pre)))))
        skip = x if self.shortcut.project is None else self.shortcut(pre)
        return out + skip


class _ResidualNet(nn.Module):
    """Stem convolution, three stages of blocks (strides 1, 2, 2), head."""

    def __init__(
        self,
        stem: nn.Module,
        stages: nn.Sequential,
        head_norm: nn.Module,
        channels: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.stem = stem
        self.stages = stages
        self.head_norm = head_norm
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head_norm(self.stages(self.stem(x)))
        return self.fc(self.flatten(self.pool(x)))


def _blocks_per_stage(depth: int, extra: int, name: str) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 6 + extra:
        raise ValueError(f"depth must be an int 6n+{extra} with n >= 1, got {depth!r}")
    if (depth - extra) % 6:
        raise ValueError(f"{name} depth must be 6n+{extra} (e.g. {6 * 3 + extra}), got {depth}")
    return (depth - extra) // 6


class ResNet(_ResidualNet):
    """CIFAR-style ResNet with basic blocks, depth 6n+2 (20, 32, 44, 56, 110, ...).

    Three stages of n blocks with ``width``, 2·width, 4·width channels (16, 32,
    64 in the papers). ``version=1``: post-activation blocks (He et al. 2016a)
    after a conv-norm-act stem; ``version=2``: pre-activation blocks (He et al.
    2016b) after a plain conv stem, with a final norm-act. The depth counts the
    stem, the 6n 3×3 convolutions in the blocks and the final linear layer
    (not the 1×1 projection shortcuts). ``batchnorm=False`` builds the same
    network with no normalisation at all (convolutions then have biases), the
    setting where AutoInit matters.

    Example:
        >>> import torch
        >>> net = ResNet(20, version=2, in_channels=1, image_size=28, width=4)
        >>> net(torch.randn(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        depth: int = 20,
        version: int = 1,
        in_channels: int = 3,
        image_size: int = 32,
        num_classes: int = 10,
        *,
        width: int = 16,
        batchnorm: bool = True,
        activation: ActivationFactory = nn.ReLU,
        init: InitHook | None = None,
        example_input: torch.Tensor | None = None,
    ) -> None:
        n = _blocks_per_stage(depth, 2, "ResNet")
        if version not in (1, 2):
            raise ValueError(
                f"version must be 1 (post-activation) or 2 (pre-activation), got {version!r}"
            )
        for name, value in [("in_channels", in_channels), ("image_size", image_size)]:
            _check_positive(name, value)
        _check_positive("num_classes", num_classes)
        _check_positive("width", width)
        bias = not batchnorm
        if version == 1:
            stem: nn.Module = nn.Sequential(
                _conv(in_channels, width, 3, 1, 1, bias), _norm(width, batchnorm), activation()
            )
            head: nn.Module = nn.Identity()
        else:
            stem = _conv(in_channels, width, 3, 1, 1, bias)
            head = nn.Sequential(_norm(4 * width, batchnorm), activation())
        blocks: list[nn.Module] = []
        c_in = width
        for stage in range(3):
            c_out = width * 2**stage
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                if version == 1:
                    blocks.append(PostActBlock(c_in, c_out, stride, activation, batchnorm))
                else:
                    blocks.append(PreActBlock(c_in, c_out, stride, activation, batchnorm))
                c_in = c_out
        super().__init__(stem, nn.Sequential(*blocks), head, c_in, num_classes)
        self.depth, self.version, self.batchnorm = depth, version, batchnorm
        finish_model(self, (in_channels, image_size, image_size), init, example_input)


class WideResNet(_ResidualNet):
    """Wide residual network WRN-d-k (Zagoruyko & Komodakis 2016), depth d = 6n+4.

    A 3×3 stem with 16 channels, then three stages of n pre-activation blocks
    with 16k, 32k and 64k channels (strides 1, 2, 2), a final BN-activation,
    global average pooling and a linear layer. ``dropout`` is applied between
    the two convolutions of each block.

    Example:
        >>> import torch
        >>> net = WideResNet(10, 1, in_channels=1, image_size=8)
        >>> net(torch.randn(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        depth: int = 28,
        widen_factor: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        num_classes: int = 10,
        *,
        dropout: float = 0.0,
        activation: ActivationFactory = nn.ReLU,
        init: InitHook | None = None,
        example_input: torch.Tensor | None = None,
    ) -> None:
        n = _blocks_per_stage(depth, 4, "WideResNet")
        _check_positive("widen_factor", widen_factor)
        for name, value in [("in_channels", in_channels), ("image_size", image_size)]:
            _check_positive(name, value)
        _check_positive("num_classes", num_classes)
        widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        stem = _conv(in_channels, 16, 3, 1, 1)
        blocks: list[nn.Module] = []
        c_in = 16
        for stage, c_out in enumerate(widths):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(PreActBlock(c_in, c_out, stride, activation, True, dropout))
                c_in = c_out
        head = nn.Sequential(nn.BatchNorm2d(c_in), activation())
        super().__init__(stem, nn.Sequential(*blocks), head, c_in, num_classes)
        self.depth, self.widen_factor = depth, widen_factor
        finish_model(self, (in_channels, image_size, image_size), init, example_input)
