"""Datasets and batch iterators: one entry point, :func:`load`, for every registered dataset.

``data.load(name)`` returns a :class:`Dataset`: its splits (dicts of NumPy arrays) plus a
:class:`DatasetInfo` (input shape, classes, normalisation statistics, the split results are
reported on). Datasets are registered in ``data/_registry.py`` (:data:`DATASETS`): scikit-learn
digits, MNIST (the 10,000-image test set, split by a seed), CIFAR-10 JPEGs, GLUE + WordPiece, a
Gaussian mixture, and ``"tfds:<name>"``. :func:`batch_at` / :func:`iterate_batches` /
:func:`eval_batches` batch any split deterministically and place batches on a mesh.

Example:
    >>> from efficient_jax import data
    >>> ds = data.load("digits")
    >>> batch = data.batch_at(ds[ds.info.train_split], step=0, batch_size=32, seed=0)
    >>> batch["image"].shape, ds.info.num_classes
    ((32, 8, 8, 1), 10)
"""

from efficient_jax.data._augment import augment_cifar, normalize, normalize_images
from efficient_jax.data._batches import batch_at, eval_batches, iterate_batches, steps_per_epoch
from efficient_jax.data._cifar import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, load_cifar10
from efficient_jax.data._digits import load_digits
from efficient_jax.data._glue import (
    GLUE_LABELS,
    GLUE_METRICS,
    GLUE_TASKS,
    load_glue,
    read_glue_tsv,
)
from efficient_jax.data._info import Dataset, DatasetInfo, LazySplits, random_split
from efficient_jax.data._mnist import MNIST_MEAN, MNIST_STD, load_mnist, read_idx
from efficient_jax.data._paths import DataNotFoundError, require_file, resolve_data_dir
from efficient_jax.data._registry import (
    DATASET_NAMES,
    DATASETS,
    available_datasets,
    dataset_options,
    get_dataset,
    load,
)
from efficient_jax.data._synthetic import make_gaussian_mixture, make_noise_images
from efficient_jax.data._tfds import load_tfds
from efficient_jax.data._tokenizer import WordPieceTokenizer

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DATASETS",
    "DATASET_NAMES",
    "GLUE_LABELS",
    "GLUE_METRICS",
    "GLUE_TASKS",
    "MNIST_MEAN",
    "MNIST_STD",
    "DataNotFoundError",
    "Dataset",
    "DatasetInfo",
    "LazySplits",
    "WordPieceTokenizer",
    "augment_cifar",
    "available_datasets",
    "batch_at",
    "dataset_options",
    "eval_batches",
    "get_dataset",
    "iterate_batches",
    "load",
    "load_cifar10",
    "load_digits",
    "load_glue",
    "load_mnist",
    "load_tfds",
    "make_gaussian_mixture",
    "make_noise_images",
    "normalize",
    "normalize_images",
    "random_split",
    "read_glue_tsv",
    "read_idx",
    "require_file",
    "resolve_data_dir",
    "steps_per_epoch",
]
