"""Tests for evoforge.nn.train: learning, reproducibility, divergence, schedules, options."""

from __future__ import annotations

import math
import time

import pytest

torch = pytest.importorskip("torch", reason="evoforge.nn needs the [torch] extra")
from torch import nn  # noqa: E402

from evoforge.init import autoinit  # noqa: E402
from evoforge.nn import (  # noqa: E402
    ImageData,
    TrainConfig,
    augment,
    build_model,
    evaluate,
    he_normal,
    learning_rate,
    load_image_data,
    resolve_device,
    train,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_image_data("digits", n_train=600, n_val=300, seed=0)


def cnn(data: ImageData, seed: int = 0, activation=nn.ReLU, init=autoinit) -> nn.Module:
    """All-CNN-C with 8/16 channels. With PyTorch's default init this deep plain CNN hardly
    learns in a few epochs (val accuracy below 0.2 after 3 epochs); with AutoInit it does."""
    spec = {"name": "allcnnc", "width": 1 / 12, "input_dropout": 0.0, "dropout": 0.0}
    return build_model(
        spec, in_shape=data.in_shape, num_classes=10, activation=activation, init=init, seed=seed
    )


FAST = TrainConfig(optimizer="adam", lr=0.01, weight_decay=0.0, batch_size=64, epochs=4)


def test_small_cnn_learns_digits_quickly(digits):
    start = time.perf_counter()
    result = train(cnn(digits), digits, FAST, seed=0)
    seconds = time.perf_counter() - start
    assert not result.diverged and result.divergence is None
    assert result.val_accuracy > 0.6  # chance is 0.1
    assert result.test_accuracy is not None and result.test_accuracy > 0.6
    assert result.val_loss < math.log(10)
    assert [r.epoch for r in result.history] == [0, 1, 2, 3]
    assert result.history[-1].val_accuracy == result.val_accuracy
    assert result.steps == 4 * math.ceil(600 / 64) and result.epochs_run == 4
    assert 0 < result.wall_seconds <= seconds < 60  # ~0.5 s alone on one thread


def test_sgd_nesterov_with_step_schedule_learns(digits):
    config = TrainConfig(
        lr=0.05, nesterov=True, schedule="step", milestones=(0.5,), batch_size=32, epochs=2
    )
    model = build_model({"name": "mlp", "hidden": [64]}, in_shape=(1, 8, 8), num_classes=10)
    assert train(model, digits, config, seed=0).val_accuracy > 0.8


def test_same_seed_same_result_and_different_seed_differs(digits):
    config = TrainConfig(lr=0.05, batch_size=64, epochs=1, crop_padding=1, label_smoothing=0.1)
    spec = {"name": "mlp", "hidden": [32], "dropout": 0.2}

    def run(seed: int):
        model = build_model(spec, in_shape=(1, 8, 8), num_classes=10, seed=0)
        result = train(model, digits, config, seed=seed)
        return result, [p.detach().clone() for p in model.parameters()]

    (a, wa), (b, wb), (c, _) = run(3), run(3), run(4)
    assert a.history[0].train_loss == b.history[0].train_loss
    assert (a.val_loss, a.val_accuracy, a.test_loss) == (b.val_loss, b.val_accuracy, b.test_loss)
    assert all(p.equal(q) for p, q in zip(wa, wb, strict=True))
    assert a.val_loss != c.val_loss


def test_train_leaves_global_rng_and_thread_count_alone(digits):
    torch.set_num_threads(1)
    model = build_model({"name": "mlp", "hidden": [8]}, in_shape=(1, 8, 8), num_classes=10)
    state = torch.get_rng_state()
    train(model, digits, TrainConfig(epochs=1, batch_size=200), seed=0, threads=2)
    assert torch.get_rng_state().equal(state)
    assert torch.get_num_threads() == 1


def test_absurd_learning_rate_is_reported_as_divergence(digits):
    config = TrainConfig(optimizer="sgd", lr=1e4, momentum=0.9, batch_size=32, epochs=3)
    result = train(cnn(digits), digits, config, seed=0)
    assert result.diverged
    assert "loss" in result.divergence
    assert result.steps < 3 * math.ceil(600 / 32)  # stopped early
    assert len(result.history) == result.epochs_run
    assert math.isfinite(result.initial_loss)


class NaNActivation(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("nan")


def test_activation_producing_nan_diverges_at_the_first_step(digits):
    result = train(cnn(digits, activation=NaNActivation, init=None), digits, FAST, seed=0)
    assert result.diverged and result.steps == 0
    assert result.divergence.startswith("non-finite loss")
    assert result.val_accuracy == 0.0  # non-finite outputs count as wrong


def test_deep_resnet_without_batchnorm_diverges_with_he_init_but_not_with_autoinit(digits):
    # He init doubles the signal's variance in every residual block of a BN-free ResNet-56
    # (output variance ~1e5 here); AutoInit accounts for the residual sums.
    spec = {"name": "resnet", "depth": 56, "width": 8, "batchnorm": False}
    config = TrainConfig(lr=0.01, batch_size=100, epochs=1)
    x = digits.x_train[:256]
    results = {}
    for name, init in (("he", he_normal), ("autoinit", autoinit)):
        model = build_model(
            spec, in_shape=(1, 8, 8), num_classes=10, init=init, example_input=x, seed=0
        )
        results[name] = train(model, digits, config, seed=0)
    assert results["he"].diverged and results["he"].steps < 6
    assert not results["autoinit"].diverged and results["autoinit"].steps == 6
    assert results["autoinit"].initial_loss < 5 < results["he"].initial_loss


def test_divergence_factor_threshold_is_configurable(digits):
    # Loss that merely doubles: diverged with a factor of 1.5, not with the check disabled.
    config = TrainConfig(optimizer="sgd", lr=3.0, momentum=0.0, batch_size=32, epochs=1)
    spec = {"name": "mlp", "hidden": [32]}
    tight = train(
        build_model(spec, in_shape=(1, 8, 8), num_classes=10, seed=0),
        digits,
        TrainConfig(**{**config.to_dict(), "milestones": (0.5, 0.75), "divergence_factor": 1.5}),
        seed=0,
    )
    assert tight.diverged and "exceeds 1.5 x the initial loss" in tight.divergence
    off = TrainConfig(**{**config.to_dict(), "milestones": (0.5,), "divergence_factor": None})
    loose = train(build_model(spec, in_shape=(1, 8, 8), num_classes=10, seed=0), digits, off, 0)
    assert not loose.diverged or loose.divergence.startswith("non-finite")


def test_schedules_give_the_documented_rates():
    step = TrainConfig(lr=0.2, schedule="step", milestones=(0.3, 0.6, 0.8), gamma=0.2)
    assert [learning_rate(step, p) for p in (0.0, 0.29, 0.3, 0.6, 0.99)] == pytest.approx(
        [0.2, 0.2, 0.04, 0.008, 0.0016]
    )
    cosine = TrainConfig(lr=1.0, schedule="cosine")
    assert learning_rate(cosine, 0.25) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    assert learning_rate(cosine, 1.0) == pytest.approx(0.0)
    assert learning_rate(TrainConfig(lr=0.3, schedule="constant"), 0.7) == 0.3
    warm = TrainConfig(lr=1.0, schedule="cosine", warmup=0.2)
    assert learning_rate(warm, 0.1) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.1)) / 2)


def test_compressed_schedule_has_the_same_shape_in_fewer_epochs(digits):
    full = TrainConfig(lr=0.1, schedule="step", milestones=(0.5,), epochs=8, batch_size=300)
    short = TrainConfig(**{**full.to_dict(), "milestones": (0.5,), "compress": 4})
    assert (full.run_epochs, short.run_epochs) == (8, 2)
    model = build_model({"name": "mlp", "hidden": [8]}, in_shape=(1, 8, 8), num_classes=10)
    result = train(model, digits, short, seed=0)
    assert result.epochs_run == 2 and result.steps == 4
    # The rate drops at half of training: after epoch 0 of 2, as after epoch 3 of 8.
    assert [r.lr for r in result.history] == pytest.approx([0.1, 0.01])


def test_val_every_zero_validates_only_the_last_epoch(digits):
    model = build_model({"name": "mlp", "hidden": [8]}, in_shape=(1, 8, 8), num_classes=10)
    config = TrainConfig(epochs=3, batch_size=300, val_every=0)
    history = train(model, digits, config, seed=0).history
    assert [r.val_accuracy is None for r in history] == [True, True, False]


def test_without_test_split_test_metrics_are_none(digits):
    data = ImageData(digits.x_train, digits.y_train, digits.x_val, digits.y_val)
    model = build_model({"name": "mlp", "hidden": [8]}, in_shape=(1, 8, 8), num_classes=10)
    result = train(model, data, TrainConfig(epochs=1, batch_size=300), seed=0)
    assert result.test_accuracy is None and result.test_loss is None


def test_lazy_model_built_elsewhere_is_materialised_before_the_optimizer(digits):
    model = nn.Sequential(nn.Flatten(), nn.LazyLinear(10))
    result = train(model, digits, TrainConfig(epochs=1, batch_size=100), seed=0)
    assert model[1].weight.shape == (10, 64) and result.steps == 6


def test_augment_crops_and_flips():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(1, 17, dtype=torch.float32).reshape(1, 1, 4, 4).repeat(64, 1, 1, 1)
    cropped = augment(x, 1, False, g)
    assert cropped.shape == x.shape
    values = set(torch.unique(cropped).tolist())
    assert values <= set(range(17))  # original pixels or zero padding
    shifted = (cropped != x).flatten(1).any(dim=1)
    assert 0 < int(shifted.sum()) < 64  # 8 of 9 offsets move the image
    flipped = augment(x, 0, True, g)
    is_flip = (flipped == x.flip(-1)).flatten(1).all(dim=1)
    is_same = (flipped == x).flatten(1).all(dim=1)
    assert bool((is_flip | is_same).all()) and 10 < int(is_flip.sum()) < 54


def test_evaluate_counts_accuracy_and_loss():
    net = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    acc, loss = evaluate(net, x, torch.tensor([0, 1, 1, 1]), batch_size=3)
    assert acc == 0.75
    good, bad = math.log(1 + math.exp(-1)), math.log(1 + math.exp(1))
    assert loss == pytest.approx((3 * good + bad) / 4)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("optimizer", "rmsprop", "optimizer must be one of"),
        ("schedule", "linear", "schedule must be one of"),
        ("lr", -1.0, "lr must be a positive"),
        ("lr", True, "lr must be a positive"),
        ("nesterov", "yes", "nesterov must be true or false"),
        ("milestones", [0.5], "milestones must be a tuple of fractions"),
        ("batch_size", 0, "batch_size must be a positive int"),
        ("epochs", 2.5, "epochs must be a positive int"),
        ("compress", 0.5, "compress must be a number >= 1"),
        ("milestones", (0.8, 0.2), "milestones must be in increasing order"),
        ("milestones", (1.5,), "milestones must be a tuple of fractions"),
        ("label_smoothing", 1.0, "label_smoothing"),
        ("divergence_factor", 0.5, "divergence_factor"),
    ],
)
def test_bad_train_config_names_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_nesterov_needs_momentum_and_unknown_keys_are_refused():
    with pytest.raises(ValueError, match="nesterov"):
        TrainConfig(nesterov=True, momentum=0.0)
    with pytest.raises(ValueError, match="unknown field 'epoch'"):
        TrainConfig.from_dict({"epoch": 3})
    config = TrainConfig(milestones=(0.25, 0.5))
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_device_selection():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda(digits):
    result = train(cnn(digits), digits, FAST, seed=0, device="cuda")
    assert result.device.startswith("cuda") and result.val_accuracy > 0.6
