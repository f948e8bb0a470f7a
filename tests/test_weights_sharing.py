"""Learned weight sharing and the categorical NES (issue 13, part 2)."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from evoforge.data.animal_mnist import load_animal_mnist
from evoforge.data.datasets import DatasetError
from evoforge.evolution.space import Evaluation, Individual
from evoforge.evolution.strategies import CategoricalNES, get_strategy
from evoforge.evolution.strategies.categorical_nes import nes_update, sample, uniform_probs
from evoforge.weights.sharing import POSITIONS, SharingConfig, TaskData, WeightSharing


def _tasks(n: int = 3) -> list[TaskData]:
    g = torch.Generator().manual_seed(0)
    return [
        TaskData(
            f"t{i}",
            torch.rand(24, 1, 16, 16, generator=g),
            torch.randint(4, (24,), generator=g),
            torch.rand(8, 1, 16, 16, generator=g),
            torch.randint(4, (8,), generator=g),
            classes=4,
        )
        for i in range(n)
    ]


SMALL = {"channels": 3, "hidden": 6, "batch_per_task": 4}


def test_nes_moves_probability_to_the_best_assignment() -> None:
    rng = np.random.default_rng(0)
    target = np.array([2, 0, 1, 1])
    probs = uniform_probs([3] * 4)
    for _ in range(150):
        draws = sample(probs, rng, 8)
        probs = nes_update(probs, draws, (draws == target).sum(axis=1), 0.1)
    assert (probs.argmax(axis=1) == target).all()
    assert probs.min() >= 0.001 - 1e-12 and np.allclose(probs.sum(axis=1), 1.0)
    assert probs[np.arange(4), target].min() > 0.95


def test_nes_clamps_and_keeps_unused_categories_at_zero() -> None:
    probs = uniform_probs([2, 3])
    assert probs[0, 2] == 0.0
    draws = np.array([[0, 2]] * 4 + [[1, 0]] * 4)
    new = nes_update(probs, draws, [1.0] * 4 + [0.0] * 4, learning_rate=100.0)
    # Clamped at 0.001 before renormalising (Algorithm 6's order), so never zero.
    # Tied scores rank by position: utilities -1, -5/7, -3/7, -1/7 for the four
    # [1, 0] draws, 1/7 .. 1 for the [0, 2] ones, so the step on variable 0 is +-2/7.
    high = 0.5 + 100.0 * 2 / 7
    assert new[0, 2] == 0.0 and new[0, 1] == pytest.approx(0.001 / (high + 0.001))
    assert np.allclose(new.sum(axis=1), 1.0)
    assert (sample(new, np.random.default_rng(1), 500)[:, 0] < 2).all()


def test_categorical_nes_strategy_state_round_trips() -> None:
    class Space:
        categories = (2, 3)

    assert get_strategy("categorical_nes") is CategoricalNES
    a = CategoricalNES(Space(), np.random.default_rng(0), population_size=4, learning_rate=0.5)
    told = [
        Individual(i + 1, c.genome, Evaluation(float(c.genome[1]))) for i, c in enumerate(a.ask(4))
    ]
    a.tell(told[:4])
    assert a.generation == 1 and a.probs[1, 2] > 1 / 3
    state = a.state_dict()
    b = CategoricalNES(Space(), np.random.default_rng(0), population_size=4)
    b.load_state_dict(state, {i.id: i for i in told})
    assert np.array_equal(b.probs, a.probs) and b.argmax() == a.argmax()


def test_assignment_ties_the_chosen_parameters() -> None:
    lws = WeightSharing(_tasks(), SharingConfig(**SMALL), seed=0)
    # Tasks 0 and 1 pick candidate 0 everywhere; task 2 picks candidate 2.
    lws.probs[:] = 0.001
    lws.probs[: 2 * POSITIONS, 0] = 0.998
    lws.probs[2 * POSITIONS :, 2] = 0.998
    assert lws.assignment() == (0,) * 8 + (2,) * 4
    assert lws.sharing() == [[[0, 1], [2]]] * POSITIONS
    batch = [(t.x_train[:4], t.y_train[:4]) for t in lws.tasks]
    lws.net.zero_grad()
    lws.loss(batch, lws.assignment()).backward()
    convs = [[block[0] for block in lws.net.positions[p]] for p in range(3)]
    assert all(convs[p][k].weight.grad is not None for p in range(3) for k in (0, 2))
    assert all(convs[p][1].weight.grad is None for p in range(3))
    # Changing candidate 2 changes task 2's output only.
    lws.net.eval()
    x = lws.tasks[0].x_test
    before = [lws.net(x, t, lws.assignment()[t * 4 : t * 4 + 4]) for t in range(3)]
    with torch.no_grad():
        lws.net.positions[3][2].weight.add_(1.0)
    after = [lws.net(x, t, lws.assignment()[t * 4 : t * 4 + 4]) for t in range(3)]
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])
    assert not torch.equal(before[2], after[2])


def test_grouped_losses_equal_one_forward_per_assignment() -> None:
    lws = WeightSharing(_tasks(), SharingConfig(**SMALL), seed=1)
    lws.net.eval()  # batch statistics are the grouping's only difference
    batch = [(t.x_train[:4], t.y_train[:4]) for t in lws.tasks]
    draws = sample(lws.probs, np.random.default_rng(2), 6)
    grouped = lws.losses(batch, draws)
    for i, a in enumerate(draws):
        single = torch.stack(
            [
                torch.nn.functional.cross_entropy(lws.net(x, t, a[t * 4 : t * 4 + 4]), y)
                for t, (x, y) in enumerate(batch)
            ]
        ).mean()
        assert torch.allclose(grouped[i], single, atol=1e-6)


def test_baselines_fix_the_sharing() -> None:
    full = WeightSharing(_tasks(), SharingConfig(mode="full", **SMALL), seed=0)
    none = WeightSharing(_tasks(), SharingConfig(mode="none", **SMALL), seed=0)
    assert len(full.net.positions[0]) == 1 and full.sharing() == [[[0, 1, 2]]] * POSITIONS
    assert len(none.net.positions[0]) == 3 and none.sharing() == [[[0], [1], [2]]] * POSITIONS
    before = none.probs.copy()
    none.iteration()
    assert np.array_equal(none.probs, before)


def test_learning_reduces_loss_and_state_resumes_exactly() -> None:
    cfg = SharingConfig(**SMALL, lr=1e-2, nes_lr=0.1)
    a = WeightSharing(_tasks(), cfg, seed=3)
    first = a.iteration()
    for _ in range(5):
        a.iteration()
    tensors, meta = a.state()
    b = WeightSharing(_tasks(), cfg, seed=99)
    b.load_state({k: v.clone() for k, v in tensors.items()}, dict(meta))
    for _ in range(3):
        sa, sb = a.iteration(), b.iteration()
        assert sa == sb
    assert np.array_equal(a.probs, b.probs) and not np.allclose(a.probs, 1 / 3)
    assert a.errors() == b.errors()
    assert sa.loss < first.loss


def test_animal_mnist_loader_reads_its_format(tmp_path) -> None:
    images = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    labels = np.array([4, 0, 9])
    with gzip.open(tmp_path / "animal_data_version_3.gz", "wb") as f:
        pickle.dump(images, f)
    with gzip.open(tmp_path / "animal_label_version_3.gz", "wb") as f:
        pickle.dump(labels, f)
    X, y = load_animal_mnist(tmp_path)
    assert X.shape == (3, 784) and y.tolist() == [4, 0, 9]
    assert X[0, 1] == pytest.approx(1 / 255)
    with gzip.open(tmp_path / "animal_label_version_3.gz", "wb") as f:
        pickle.dump(labels[:2], f)
    with pytest.raises(DatasetError, match=r"expected \(3,\) labels"):
        load_animal_mnist(tmp_path)
    with pytest.raises(DatasetError, match="expected animal_data"):
        load_animal_mnist(tmp_path / "nowhere")


def test_validation_images_leave_the_training_and_test_draws_unchanged() -> None:
    from evoforge.weights.sharing_tasks import three_tasks

    plain = three_tasks(300, 200, seed=3, names=("digits", "digits"))
    with_val = three_tasks(300, 200, seed=3, names=("digits", "digits"), n_val=100)
    for a, b in zip(plain, with_val, strict=True):
        assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
        assert a.x_val is None and b.x_val.shape == (100, 1, 8, 8)
    assert not torch.equal(with_val[0].x_train, with_val[1].x_train)
