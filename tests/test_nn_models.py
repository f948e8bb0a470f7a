"""Tests for evoforge.nn.models: shapes on digits/MNIST/CIFAR inputs, one activation per site,
depth counts, the normalisation-free ResNet and the init hook."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="evoforge.nn needs the [torch] extra")
from torch import nn  # noqa: E402
from torch.nn.modules.lazy import LazyModuleMixin  # noqa: E402
from torch.nn.parameter import is_lazy  # noqa: E402

from evoforge.init import autoinit  # noqa: E402
from evoforge.nn import MLP, AllCNNC, ResNet, WideResNet  # noqa: E402

torch.set_num_threads(1)

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


class LazySwish(LazyModuleMixin, nn.Module):
    """x·σ(αx) with a per-channel α sized on first use, like an evolved parametric activation."""

    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.UninitializedParameter()

    def initialize_parameters(self, x: torch.Tensor) -> None:
        if self.has_uninitialized_params():
            with torch.no_grad():
                self.alpha.materialize((x.shape[1],))
                self.alpha.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha.view(1, -1, *([1] * (x.ndim - 2)))
        return x * torch.sigmoid(alpha * x)


def small_models(shape: tuple[int, int, int]) -> dict[str, nn.Module]:
    c, s, _ = shape
    act = LazySwish
    return {
        "mlp": MLP(c * s * s, (16, 8), activation=act),
        "allcnnc": AllCNNC(c, s, width=0.05, activation=act),
        "wrn": WideResNet(10, 1, c, s, activation=act),
        "resnet_v1": ResNet(8, 1, c, s, width=4, activation=act),
        "resnet_v2": ResNet(8, 2, c, s, width=4, activation=act),
        "resnet_nobn": ResNet(8, 1, c, s, width=4, batchnorm=False, activation=act),
    }


@pytest.mark.parametrize("shape", SHAPES)
def test_every_model_gives_logits_for_each_input_shape(shape):
    torch.manual_seed(0)
    for name, model in small_models(shape).items():
        out = model(torch.randn(3, *shape))
        assert out.shape == (3, 10), name
        assert torch.isfinite(out).all(), name
        assert not any(is_lazy(p) for p in model.parameters()), f"{name} kept lazy parameters"


def test_num_classes_is_respected():
    for model in [
        MLP(64, (8,), num_classes=3),
        AllCNNC(1, 8, 3, width=0.05),
        WideResNet(10, 1, 1, 8, 3),
        ResNet(8, 2, 1, 8, 3, width=4),
    ]:
        assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_activation_factory_is_called_once_per_site():
    models = small_models((1, 8, 8))
    # ResNet-8: n = 1 block per stage, 2 activations per block, plus the stem's (v1) or the
    # head's (v2). WRN-10-1: n = 1, 2 per block, plus the head's. MLP: one per hidden layer.
    # All-CNN-C: every convolution but the last (8).
    expected = {"mlp": 2, "allcnnc": 8, "wrn": 7, "resnet_v1": 7, "resnet_v2": 7, "resnet_nobn": 7}
    for name, model in models.items():
        acts = [m for m in model.modules() if isinstance(m, LazySwish)]
        assert len(acts) == expected[name], name
        assert len({id(a.alpha) for a in acts}) == len(acts), name


def n_layers(model: nn.Module) -> int:
    """3×3 convolutions plus linear layers: what a ResNet's depth counts."""
    convs = sum(isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in model.modules())
    return convs + count(model, nn.Linear)


@pytest.mark.parametrize("depth", [8, 20, 56])
@pytest.mark.parametrize("version", [1, 2])
def test_resnet_depth_counts_its_weighted_layers(depth, version):
    model = ResNet(depth, version, 1, 8, width=2)
    assert n_layers(model) == depth
    assert count(model, nn.Linear) == 1
    # Two 1×1 projection shortcuts, where the stages change width.
    assert sum(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) for m in model.modules()) == 2


def test_wide_resnet_depth_and_width():
    model = WideResNet(16, 2, 1, 8)  # n = 2
    assert n_layers(model) == 6 * 2 + 2
    assert model.fc.in_features == 64 * 2
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert max(m.out_channels for m in convs) == 128


def test_resnet_without_batchnorm_has_no_normalisation():
    model = ResNet(56, 1, 1, 8, width=2, batchnorm=False)
    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    assert not any(isinstance(m, norms) for m in model.modules())
    assert all(m.bias is not None for m in model.modules() if isinstance(m, nn.Conv2d))
    assert n_layers(model) == 56
    with_bn = ResNet(56, 1, 1, 8, width=2)
    assert count(with_bn, nn.BatchNorm2d) == 1 + 54 + 2  # stem, two per block, two shortcuts


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: ResNet(21), "6n\\+2"),
        (lambda: ResNet(20, version=3), "version"),
        (lambda: WideResNet(28 + 1, 10), "6n\\+4"),
        (lambda: WideResNet(16, 0), "widen_factor"),
        (lambda: AllCNNC(width=0), "width"),
        (lambda: MLP(64, (16, 0)), "hidden\\[1\\]"),
    ],
)
def test_bad_model_arguments_name_the_field(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_init_hook_receives_model_and_example_input():
    calls = []

    def hook(model: nn.Module, example: torch.Tensor) -> None:
        calls.append((model, tuple(example.shape)))

    net = ResNet(8, 1, 1, 28, width=4, init=hook)
    assert calls == [(net, (256, 1, 28, 28))]
    given = torch.randn(10, 1, 28, 28)
    calls.clear()
    AllCNNC(1, 28, width=0.05, init=hook, example_input=given)
    assert calls[0][1] == (10, 1, 28, 28)


def test_autoinit_hook_initialises_a_deep_resnet_without_batchnorm():
    torch.manual_seed(0)
    x = torch.randn(256, 1, 8, 8)
    default = ResNet(56, 1, 1, 8, width=8, batchnorm=False)
    torch.manual_seed(0)
    auto = ResNet(56, 1, 1, 8, width=8, batchnorm=False, init=autoinit, example_input=x)
    with torch.no_grad():
        # AutoInit gives every weighted layer unit output variance; PyTorch's default
        # (Var(W) = 1/(3 fan_in)) gives about 1/3 on standardised input.
        assert 0.7 < auto.stem[0](x).var().item() < 1.4
        assert default.stem[0](x).var().item() < 0.5
        assert torch.isfinite(auto(x)).all()


def test_building_leaves_batchnorm_statistics_untouched():
    net = ResNet(8, 2, 1, 8, width=4)
    bn = next(m for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    assert bn.running_mean.abs().max() == 0 and int(bn.num_batches_tracked) == 0
    assert net.training
