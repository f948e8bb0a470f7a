"""The Activation module: parameters per mode, training, pickling."""

import pickle

import pytest
import torch

from evoforge.activations import Activation, parse
from evoforge.activations.equivalence import outputs

torch.set_num_threads(1)


@pytest.mark.parametrize(
    ("mode", "shape"), [("per_channel", (3,)), ("per_layer", ()), ("per_neuron", (3, 4, 5))]
)
def test_parameter_shapes_and_gradients(mode, shape):
    act = Activation.from_formula("log_sigmoid(alpha*x) * beta*arcsinh(x)", mode=mode)
    x = torch.randn(8, 3, 4, 5)
    y = act(x)
    assert y.shape == x.shape
    params = list(act.parameters())
    assert [tuple(p.shape) for p in params] == [shape, shape]
    y.square().mean().backward()
    for p in params:
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_module_trains_its_parameters():
    torch.manual_seed(0)
    act = Activation("alpha*x", mode="per_channel")
    x = torch.randn(64, 2)
    act(x)  # sizes the parameters
    opt = torch.optim.SGD(act.parameters(), lr=0.1)
    target = x * torch.tensor([2.0, -1.0])
    for _ in range(200):
        opt.zero_grad()
        loss = (act(x) - target).square().mean()
        loss.backward()
        opt.step()
    torch.testing.assert_close(
        act.weights[0].detach(), torch.tensor([2.0, -1.0]), atol=1e-3, rtol=0
    )


def test_matches_the_genome_at_initial_parameters():
    g = parse("alpha*max(tanh(x), beta*x) - swish(gamma*x)")
    act = Activation(g, mode="per_layer").double()
    x = torch.linspace(-4, 4, 50, dtype=torch.float64).reshape(5, 10)
    y = act(x).detach().numpy().ravel()
    torch.testing.assert_close(torch.from_numpy(y), torch.from_numpy(outputs(g, x.numpy().ravel())))


def test_pickles_before_and_after_sizing():
    act = Activation("alpha*x * sigmoid(beta*x)")
    clone = pickle.loads(pickle.dumps(act))
    assert clone.formula == act.formula and not clone.built
    x = torch.randn(2, 3)
    act(x)
    with torch.no_grad():
        act.weights[0].fill_(2.0)
    clone = pickle.loads(pickle.dumps(act))
    torch.testing.assert_close(clone(x), act(x))


def test_no_parameters_and_bad_input():
    act = Activation("relu(x)")
    assert list(act.parameters()) == [] and act(torch.tensor([-1.0, 1.0])).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="mode: expected one of"):
        Activation("relu(x)", mode="per_pixel")
    with pytest.raises(ValueError, match="batch and a channel"):
        Activation("alpha*x")(torch.ones(3))
    eager = Activation("alpha*x", channels=4)
    assert [tuple(p.shape) for p in eager.parameters()] == [(4,)]
