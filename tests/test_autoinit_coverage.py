"""AutoInit coverage (issue 17, part 3): Monte Carlo for layers without a closed form,
registered rules, truncated normal, and AutoInit++ checkpoints that load anywhere."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch", reason="AutoInit needs the [torch] extra")
from torch import nn  # noqa: E402

from evoforge.init import (  # noqa: E402
    AutoInitWarning,
    CenteredActivation,
    RuleContext,
    autoinit,
    predict_signal,
    register_rule,
)
from evoforge.nn.models import ResNet  # noqa: E402

torch.set_num_threads(1)


class Seq(nn.Module):
    """An LSTM over (batch, time, features), then its outputs through a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(16, 32, num_layers=2, batch_first=True)
        self.out = nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(x)[0])


class Attend(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


class Pair(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bilinear = nn.Bilinear(16, 24, 32)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.bilinear(a, b)


def _output_var(net: nn.Module, *inputs: torch.Tensor) -> float:
    with torch.no_grad():
        return net(*inputs).var().item()


@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (lambda: Attend(), (128, 10, 32)),
        (lambda: nn.Sequential(nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1)), (64, 8, 8, 8)),
        (lambda: nn.Sequential(nn.ConvTranspose1d(8, 16, 3, stride=3)), (64, 8, 20)),
    ],
    ids=["attention", "conv_transpose2d", "conv_transpose1d"],
)
def test_layers_without_closed_form_get_the_target_variance_by_monte_carlo(build, shape) -> None:
    torch.manual_seed(0)
    net = build()
    x = 3 * torch.randn(shape) + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutoInitWarning)  # covered, so no "no rule" warning
        autoinit(net, x)
    assert _output_var(net, 3 * torch.randn(shape) + 1) == pytest.approx(1.0, rel=0.1)


def test_bilinear_layer_of_two_inputs_gets_the_target_variance() -> None:
    torch.manual_seed(0)
    a, b = 2 * torch.randn(2048, 16), torch.randn(2048, 24) - 1
    net = autoinit(Pair(), (a, b))
    assert _output_var(net, 2 * torch.randn(2048, 16), torch.randn(2048, 24) - 1) == (
        pytest.approx(1.0, rel=0.1)
    )


def test_recurrent_layers_are_initialised_and_their_output_measured() -> None:
    torch.manual_seed(0)
    net, x = Seq(), 5 * torch.randn(128, 12, 16)

    def rnn_output(records: list) -> float:  # the first of output, h_n, c_n
        return next(r.moments.var for r in records if r.name == "rnn")

    before = rnn_output(predict_signal(net, x))
    autoinit(net, x)
    # gates see unit-variance pre-activations from the first layer's input scale
    assert net.rnn.weight_ih_l0.std().item() == pytest.approx((1 / (16 * 25)) ** 0.5, rel=0.1)
    after = rnn_output(predict_signal(net, x))
    with torch.no_grad():
        hidden = net.rnn(x)[0]
    assert after == pytest.approx(hidden.var().item(), rel=0.1)  # measured, not passed through
    assert after != pytest.approx(25.0, rel=0.5) and before != after
    assert _output_var(net, x) == pytest.approx(1.0, rel=0.15)


class Gain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(5.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * torch.cumsum(x, dim=-1)


def test_a_registered_rule_initialises_a_new_module_type() -> None:
    def rule(ctx: RuleContext) -> None:
        if ctx.initialise:
            ctx.module.a.data.fill_(1.0)
            ctx.scale_to_target(ctx.module.a)  # output is linear in a

    net, x = nn.Sequential(nn.Linear(8, 32), Gain()), torch.randn(512, 8)
    with pytest.warns(AutoInitWarning, match="'cumsum'.*Monte Carlo"):
        autoinit(net, x)  # traced through: the gain is a plain multiplication
    assert net[1].a.item() == 5.0  # left alone
    register_rule(Gain, rule)
    autoinit(net, x)
    assert _output_var(net, torch.randn(4096, 8)) == pytest.approx(1.0, rel=0.1)
    with pytest.raises(TypeError, match="module_type"):
        register_rule(int, rule)  # type: ignore[arg-type]


def test_autoinit_plus_plus_keeps_state_dict_keys_and_loads_into_a_fresh_model() -> None:
    def build() -> nn.Module:
        torch.manual_seed(0)
        return ResNet(8, version=1, batchnorm=False, activation=nn.PReLU, image_size=8)

    net, fresh = build(), build()
    keys = list(net.state_dict())
    autoinit(net, torch.randn(64, 3, 8, 8), centered=True)
    wrapped = [m for m in net.modules() if isinstance(m, CenteredActivation)]
    assert wrapped and all(isinstance(m.activation, nn.PReLU) for m in wrapped)  # not Identity
    assert list(net.state_dict()) == keys
    fresh.load_state_dict(net.state_dict())  # strict: no missing or unexpected keys
    assert torch.equal(fresh.fc.weight, net.fc.weight)
    again = build()
    autoinit(again, torch.randn(64, 3, 8, 8), centered=True)
    again.load_state_dict(fresh.state_dict())  # and back into a wrapped model
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(again(x), net(x), atol=1e-3)  # shifts agree: same function
