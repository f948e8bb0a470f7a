"""Activation's lazily sized parameters (issue 17, part 6): optimisers, state_dicts, TorchScript."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from evoforge.activations import Activation

torch.set_num_threads(1)


def net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), Activation("alpha*x * sigmoid(beta*x)"), nn.Flatten(), nn.Linear(16, 1)
    )


def test_an_optimiser_built_before_the_first_forward_trains_the_parameters() -> None:
    torch.manual_seed(0)
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)  # before any forward call
    x, y = torch.randn(32, 1, 4, 4), torch.randn(32, 1)
    for _ in range(5):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    alpha = model[1].weights[0]
    assert alpha.shape == (4,)
    assert not torch.allclose(alpha, torch.ones(4))  # moved by the optimiser


def test_a_state_dict_loads_into_a_fresh_unsized_model() -> None:
    torch.manual_seed(0)
    trained = net()
    x = torch.randn(8, 1, 4, 4)
    trained(x)
    with torch.no_grad():
        trained[1].weights[0].copy_(torch.tensor([0.5, 1.5, 2.0, -1.0]))
    fresh = net()
    assert not fresh[1].built
    fresh.load_state_dict(trained.state_dict())  # strict
    assert fresh[1].built and fresh[1].weights[0].tolist() == [0.5, 1.5, 2.0, -1.0]
    torch.testing.assert_close(fresh(x), trained(x))


def test_trace_works_and_script_is_refused_as_documented() -> None:
    act = Activation("alpha*x * sigmoid(beta*x)")
    x = torch.randn(4, 3, 5)
    act(x)
    traced = torch.jit.trace(act, x)
    torch.testing.assert_close(traced(x + 1), act(x + 1))
    with pytest.raises(Exception):  # noqa: B017 - any TorchScript compilation error
        torch.jit.script(act)


def test_autoinit_plus_plus_is_offered_to_the_search_and_centres_evolved_activations() -> None:
    from evoforge.activations.evaluator import INITS, init_hook
    from evoforge.init import CenteredActivation

    assert "autoinit++" in INITS
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), Activation("alpha*relu(x) + x"), nn.Linear(32, 4))
    hook = init_hook("autoinit++")
    assert hook is not None
    hook(model, torch.randn(256, 8))
    assert isinstance(model[1], CenteredActivation)
    with torch.no_grad():
        assert abs(model[:2](torch.randn(4096, 8)).mean().item()) < 0.05
