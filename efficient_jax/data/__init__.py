"""Datasets and batch iterators: digits, CIFAR-10 JPEGs, GLUE + WordPiece, TFDS; mesh placement.

Example:
    >>> from efficient_jax import data
    >>> ds = data.load_digits()["train"]
    >>> batch = data.batch_at(ds, step=0, batch_size=32, seed=0)
    >>> batch["image"].shape
    (32, 8, 8, 1)
"""

from efficient_jax.data._augment import augment_cifar, normalize_images
from efficient_jax.data._batches import batch_at, eval_batches, iterate_batches, steps_per_epoch
from efficient_jax.data._cifar import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, load_cifar10
from efficient_jax.data._datasets import DATASET_NAMES, get_dataset
from efficient_jax.data._digits import load_digits
from efficient_jax.data._glue import GLUE_LABELS, GLUE_TASKS, load_glue, read_glue_tsv
from efficient_jax.data._paths import DataNotFoundError, require_file, resolve_data_dir
from efficient_jax.data._tfds import load_tfds
from efficient_jax.data._tokenizer import WordPieceTokenizer

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DATASET_NAMES",
    "GLUE_LABELS",
    "GLUE_TASKS",
    "DataNotFoundError",
    "WordPieceTokenizer",
    "augment_cifar",
    "batch_at",
    "eval_batches",
    "get_dataset",
    "iterate_batches",
    "load_cifar10",
    "load_digits",
    "load_glue",
    "load_tfds",
    "normalize_images",
    "read_glue_tsv",
    "require_file",
    "resolve_data_dir",
    "steps_per_epoch",
]
