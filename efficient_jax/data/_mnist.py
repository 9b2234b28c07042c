"""MNIST from the 10,000-image test set IDX files, split into train/validation/test by a seed.

Only the standard test set (``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, under
``<data_dir>/mnist/``) is used; the 60,000 training images are not needed. Its 10,000 images are
split by :func:`~efficient_jax.data.random_split` (one seeded permutation): by default 8,000
train, 1,000 validation and 1,000 test images.

Example:
    >>> ds = load_mnist(seed=0)  # doctest: +SKIP
    >>> {k: v["image"].shape for k, v in ds.items()}  # doctest: +SKIP
    {'train': (8000, 28, 28, 1), 'validation': (1000, 28, 28, 1), 'test': (1000, 28, 28, 1)}
"""

from __future__ import annotations

import gzip
import os
import pathlib

import numpy as np

from efficient_jax.data._info import Dataset, DatasetInfo, random_split
from efficient_jax.data._paths import require_file, resolve_data_dir

# The usual MNIST normalisation: mean and std of the 60,000 training images' pixels in [0, 1].
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
MNIST_NUM_IMAGES = 10_000

_FILES = {"image": "t10k-images-idx3-ubyte.gz", "label": "t10k-labels-idx1-ubyte.gz"}
_HOW_TO = (
    "Download the MNIST test set IDX files (t10k-images-idx3-ubyte.gz, "
    "t10k-labels-idx1-ubyte.gz, from the LeCun/Cortes MNIST page or a mirror) into "
    "<data_dir>/mnist/."
)
_IDX_DTYPES = {0x08: np.uint8}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (optionally gzip-compressed) of unsigned bytes into a NumPy array.

    The IDX header is big-endian: two zero bytes, a type byte (``0x08``: unsigned byte), the
    number of dimensions ``d``, then ``d`` 32-bit sizes; the data follows in C order.

    Args:
      path: the ``.idx*`` file, or its ``.gz``.

    Returns:
      uint8 array of the header's shape.

    Raises:
      ValueError: for a bad magic number, an unsupported type or a size that does not match the
        header.
      DataNotFoundError: if the file does not exist.

    Example:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.idx1"
        >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
        >>> read_idx(p).tolist()
        [7, 8, 9]
    """
    path = require_file(path, "IDX file", _HOW_TO)
    opener = gzip.open if pathlib.Path(path).suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path} is not an IDX file of unsigned bytes (magic {raw[:4].hex()}; expected "
            "00 00 08 <ndim>)."
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise ValueError(
            f"{path}: header shape {shape} needs {int(np.prod(shape))} bytes of data, found "
            f"{len(raw) - header}."
        )
    return np.frombuffer(raw, _IDX_DTYPES[raw[2]], offset=header).reshape(shape).copy()


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    num_validation: int = 1000,
    num_test: int = 1000,
) -> dict[str, dict[str, np.ndarray]]:
    """Loads the MNIST test set and splits it into train, validation and test parts.

    The split: ``perm = np.random.default_rng(seed).permutation(10000)`` over the file order;
    ``train = perm[:N_train]``, ``validation`` the next ``num_validation`` and ``test`` the last
    ``num_test`` (in permutation order), with ``N_train = 10000 - num_validation - num_test``
    (8,000 by default). It depends only on ``seed`` (not stratified; every class has 892-1135
    images in the file, so each part is close to balanced).

    Args:
      data_dir: the data folder (see :func:`resolve_data_dir`); ``mnist/`` lies inside it.
      seed: the split's seed.
      num_validation: validation images (may be 0).
      num_test: test images, at least 1.

    Returns:
      ``{"train", "validation", "test"}``, each ``{"image": uint8 (N, 28, 28, 1) pixels in
      [0, 255], "label": int32 (N,)}``. Normalise with :func:`normalize` and the dataset info
      (the standard MNIST mean 0.1307 and std 0.3081).

    Raises:
      ValueError: if the split sizes leave no training image, or the files disagree.
      DataNotFoundError: if either IDX file is missing.

    Example:
        >>> ds = load_mnist(seed=1, num_validation=0, num_test=2000)  # doctest: +SKIP
        >>> len(ds["train"]["label"]), len(ds["test"]["label"])  # doctest: +SKIP
        (8000, 2000)
    """
    for name, value, minimum in (("num_validation", num_validation, 0), ("num_test", num_test, 1)):
        if not isinstance(value, int | np.integer) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    if num_validation + num_test >= MNIST_NUM_IMAGES:
        raise ValueError(
            f"num_validation + num_test = {num_validation + num_test} must be below the "
            f"{MNIST_NUM_IMAGES} MNIST test-set images, leaving some for training."
        )
    root = resolve_data_dir(data_dir) / "mnist"
    images = read_idx(require_file(root / _FILES["image"], "MNIST test images", _HOW_TO))
    labels = read_idx(require_file(root / _FILES["label"], "MNIST test labels", _HOW_TO))
    if images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise ValueError(
            f"MNIST files disagree: images {images.shape} (need (N, 28, 28)), labels "
            f"{labels.shape} (need ({images.shape[0]},))."
        )
    arrays = {"image": images[..., None], "label": labels.astype(np.int32)}
    train, validation, test = random_split(arrays, (None, num_validation, num_test), seed=seed)
    return {"train": train, "validation": validation, "test": test}


def mnist_dataset(
    data_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    num_validation: int = 1000,
    num_test: int = 1000,
) -> Dataset:
    """The ``"mnist"`` dataset: :func:`load_mnist`'s splits, reported on ``"test"``.

    Info: image ``(28, 28, 1)`` uint8, 10 classes, mean 0.1307 and std 0.3081 (the standard
    statistics of the full MNIST training set).

    Example:
        >>> ds = mnist_dataset()  # doctest: +SKIP
        >>> ds.info.eval_split, len(ds.train_data["label"])  # doctest: +SKIP
        ('test', 8000)
    """
    splits = load_mnist(data_dir, seed=seed, num_validation=num_validation, num_test=num_test)
    info = DatasetInfo("mnist", "image", (28, 28, 1), 10, MNIST_MEAN, MNIST_STD, eval_split="test")
    return Dataset(splits, info)
