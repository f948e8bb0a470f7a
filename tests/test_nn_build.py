"""Tests for evoforge.nn.build_model: every name builds, bad specs name the field."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="evoforge.nn needs the [torch] extra")
from torch import nn  # noqa: E402

from evoforge.nn import MLP, MODEL_FIELDS, AllCNNC, ResNet, WideResNet, build_model  # noqa: E402

torch.set_num_threads(1)

SPECS = {
    "mlp": ({"name": "mlp", "hidden": [16, 8], "dropout": 0.1}, MLP),
    "allcnnc": ({"name": "allcnnc", "width": 0.1, "dropout": 0.0}, AllCNNC),
    "wrn": ({"name": "wrn", "depth": 10, "widen_factor": 1}, WideResNet),
    "resnet": ({"name": "resnet", "depth": 8, "version": 2, "width": 4}, ResNet),
}


def test_every_model_name_has_a_spec_here():
    assert set(SPECS) == set(MODEL_FIELDS)


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28)])
def test_build_each_model(name, shape):
    spec, cls = SPECS[name]
    model = build_model(spec, in_shape=shape, num_classes=7, activation=nn.ELU)
    assert isinstance(model, cls)
    assert model(torch.randn(2, *shape)).shape == (2, 7)
    assert any(isinstance(m, nn.ELU) for m in model.modules())


def test_spec_fields_reach_the_model():
    model = build_model(
        {"name": "resnet", "depth": 20, "version": 1, "batchnorm": False, "width": 2},
        in_shape=(1, 8, 8),
        num_classes=10,
    )
    assert (model.depth, model.version, model.batchnorm) == (20, 1, False)


def test_seed_fixes_the_weights_and_leaves_the_global_rng_alone():
    spec = SPECS["resnet"][0]
    state = torch.get_rng_state()
    a = build_model(spec, in_shape=(1, 8, 8), num_classes=10, seed=5)
    b = build_model(spec, in_shape=(1, 8, 8), num_classes=10, seed=5)
    c = build_model(spec, in_shape=(1, 8, 8), num_classes=10, seed=6)
    assert torch.get_rng_state().equal(state)
    assert all(p.equal(q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not all(p.equal(q) for p, q in zip(a.parameters(), c.parameters(), strict=True))


def test_init_hook_is_passed_on():
    seen = []
    build_model(
        {"name": "mlp"},
        in_shape=(1, 8, 8),
        num_classes=10,
        init=lambda model, x: seen.append(tuple(x.shape)),
    )
    assert seen == [(256, 64)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"depth": 20}, "model 'name' must be one of mlp, allcnnc, wrn, resnet, got None"),
        ({"name": "vgg"}, "model 'name' must be one of .*got 'vgg'"),
        ({"name": "resnet", "depht": 20}, "unknown field 'depht'; expected one of depth"),
        ({"name": "resnet", "depth": "20"}, "field 'depth' must be an int, got '20'"),
        ({"name": "resnet", "depth": 20.0}, "field 'depth' must be an int"),
        ({"name": "resnet", "batchnorm": 1}, "field 'batchnorm' must be true or false"),
        ({"name": "wrn", "widen_factor": True}, "field 'widen_factor' must be an int"),
        ({"name": "mlp", "hidden": [16, -1]}, "field 'hidden' must be a list of positive ints"),
        ({"name": "allcnnc", "width": "wide"}, "field 'width' must be a number"),
        ({"name": "resnet", "depth": 21}, "depth must be 6n\\+2"),
        ({"name": "wrn", "depth": 28 + 2}, "depth must be 6n\\+4"),
    ],
)
def test_bad_spec_names_the_field(spec, message):
    with pytest.raises(ValueError, match=message):
        build_model(spec, in_shape=(1, 8, 8), num_classes=10)


def test_bad_input_shape():
    with pytest.raises(ValueError, match="needs in_shape \\(C, S, S\\)"):
        build_model({"name": "resnet"}, in_shape=(64,), num_classes=10)
    with pytest.raises(ValueError, match="in_shape must be positive ints"):
        build_model({"name": "mlp"}, in_shape=(1, 0, 8), num_classes=10)
    with pytest.raises(ValueError, match="table/dict"):
        build_model(["resnet"], in_shape=(1, 8, 8), num_classes=10)
