"""Every dataset by name, registered in this one file; :func:`load` is the one way to get one.

A dataset is a *builder* ``fn(data_dir=None, *, **options) -> Dataset`` (its splits plus a
:class:`DatasetInfo`). The built-ins are the lines of :data:`_BUILTIN`; ``"tfds:<name>"`` loads
any TensorFlow Datasets catalog entry. Adding a dataset is one module with a builder plus one line
in :data:`_BUILTIN` (see ``docs/CONTRIBUTING.md``); user code may also call
``DATASETS.register(name)(builder)``.

Example:
    >>> available_datasets()[:3]
    ['digits', 'mnist', 'cifar10']
    >>> ds = load("digits", seed=0)
    >>> ds.info.eval_split, ds["train"]["image"].shape
    ('test', (1437, 8, 8, 1))
    >>> load("imagenet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Unknown dataset 'imagenet'; valid: [...] or 'tfds:<name>'.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from efficient_jax.core import Registry
from efficient_jax.data._cifar import cifar10_dataset
from efficient_jax.data._digits import digits_dataset
from efficient_jax.data._glue import GLUE_SPLIT_FILES, GLUE_TASKS, glue_dataset
from efficient_jax.data._info import Dataset
from efficient_jax.data._mnist import mnist_dataset
from efficient_jax.data._synthetic import gaussian_mixture_dataset
from efficient_jax.data._tfds import load_tfds, tfds_dataset

Builder = Callable[..., Dataset]

DATASETS = Registry("dataset")

_BUILTIN: tuple[tuple[str, Builder], ...] = (
    ("digits", digits_dataset),
    ("mnist", mnist_dataset),
    ("cifar10", cifar10_dataset),
    ("sst2", functools.partial(glue_dataset, "sst2")),
    *((f"glue/{task}", functools.partial(glue_dataset, task)) for task in GLUE_TASKS),
    ("gaussian_mixture", gaussian_mixture_dataset),
)

for _name, _builder in _BUILTIN:
    DATASETS.register(_name)(_builder)

# Names with a prefix load from an external catalog: "tfds:mnist", "tfds:glue/sst2", ...
TFDS_PREFIX = "tfds:"
# The built-in names plus the TFDS pattern (a snapshot; ``available_datasets()`` is live).
DATASET_NAMES = (*DATASETS.names(), f"{TFDS_PREFIX}<name>")
_GLUE_FILE_SPLITS = {f: s for s, f in GLUE_SPLIT_FILES.items()}


def available_datasets() -> list[str]:
    """Registered dataset names, in registration order (``"tfds:<name>"`` works as well).

    Example:
        >>> {"digits", "mnist", "cifar10", "sst2", "glue/rte", "gaussian_mixture"} <= set(
        ...     available_datasets()
        ... )
        True
    """
    return DATASETS.names()


def _resolve(name: str) -> tuple[str, Builder]:
    if not isinstance(name, str):
        raise ValueError(f"Dataset name must be a string; got {name!r}.")
    if name in DATASETS:
        return name, DATASETS.get(name)
    key = name.strip().lower()
    if key.startswith(TFDS_PREFIX) and key.removeprefix(TFDS_PREFIX):
        tfds_name = name.strip()[len(TFDS_PREFIX) :]
        return f"{TFDS_PREFIX}{tfds_name}", functools.partial(tfds_dataset, tfds_name)
    if key not in DATASETS:
        raise ValueError(
            f"Unknown dataset {name!r}; valid: {available_datasets()} or '{TFDS_PREFIX}<name>'."
        )
    return key, DATASETS.get(key)


def dataset_options(name: str) -> tuple[str, ...] | None:
    """The keyword options ``load(name, **options)`` accepts (``None``: the builder takes any).

    Raises:
      ValueError: for an unknown name.

    Example:
        >>> dataset_options("digits")
        ('seed', 'test_fraction')
        >>> dataset_options("sst2")
        ('vocab_path', 'max_length', 'limit')
    """
    params = inspect.signature(_resolve(name)[1]).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def load(name: str, *, data_dir: str | os.PathLike | None = None, **options: Any) -> Dataset:
    """Loads dataset ``name``: its splits and its :class:`DatasetInfo`.

    Large splits (CIFAR-10, GLUE, TFDS) are read when first indexed; small or generated datasets
    at once. ``ds[ds.info.train_split]`` is the training split and ``ds[ds.info.eval_split]`` the
    one results are reported on (``ds.train_data`` / ``ds.eval_data``).

    Args:
      name: a name of :func:`available_datasets` (case and surrounding spaces ignored) or
        ``"tfds:<TFDS name>"``.
      data_dir: the data folder (see :func:`resolve_data_dir`; TFDS: its data folder); unused by
        generated and bundled datasets.
      **options: the dataset's options (:func:`dataset_options`): ``digits``: ``seed``,
        ``test_fraction``; ``mnist``: ``seed``, ``num_validation``, ``num_test``; ``cifar10``:
        ``cache_dir``, ``limit``; ``sst2``/``glue/<task>``: ``vocab_path``, ``max_length``,
        ``limit``; ``gaussian_mixture``: ``num_train``, ``num_test``, ``seed`` and the mixture's
        parameters; ``tfds:<name>``: ``limit``.

    Returns:
      A :class:`Dataset` whose ``info.name`` is the resolved name.

    Raises:
      ValueError: for an unknown name (the message lists the valid ones) or option.
      DataNotFoundError: if the data folder or a file is missing.

    Example:
        >>> ds = load("gaussian_mixture", num_train=64, num_test=32, dim=4)
        >>> ds.info.kind, ds.info.input_shape, list(ds.splits)
        ('vector', (4,), ['train', 'test'])
    """
    key, builder = _resolve(name)
    allowed = dataset_options(name)
    unknown = sorted(set(options) - set(allowed)) if allowed is not None else []
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} for dataset {key!r}; valid: {list(allowed)}")
    ds = builder(data_dir, **options)
    if not isinstance(ds, Dataset):
        raise ValueError(f"Dataset {key!r}'s builder returned {type(ds).__name__}, not a Dataset.")
    if ds.info.name != key:
        ds = Dataset(ds.splits, dataclasses.replace(ds.info, name=key))
    return ds


def get_dataset(
    name: str, split: str, data_dir: str | os.PathLike | None = None, **kw: Any
) -> dict[str, np.ndarray]:
    """Loads split ``split`` of dataset ``name`` as a dict of arrays: ``load(name, ...)[split]``.

    GLUE splits may also be named as their files are (``"dev"`` for ``"validation"``, MNLI's
    ``"dev_matched"``, ...); ``"tfds:<name>"`` reads only that split.

    Args:
      name: as for :func:`load`.
      split: a split of that dataset.
      data_dir: the data folder (see :func:`resolve_data_dir`).
      **kw: the dataset's options, as for :func:`load`.

    Returns:
      The split's dict of arrays (``image``/``label``, or ``input_ids``/``attention_mask``/
      ``token_type_ids``/``label``).

    Raises:
      ValueError: for an unknown name (the message lists the valid ones), option or split.

    Example:
        >>> sorted(get_dataset("digits", "train", seed=1))
        ['image', 'label']
    """
    key, _ = _resolve(name)
    if key.startswith(TFDS_PREFIX):
        return load_tfds(key.removeprefix(TFDS_PREFIX), split, data_dir=data_dir, **kw)
    ds = load(name, data_dir=data_dir, **kw)
    if (key == "sst2" or key.startswith("glue/")) and split in _GLUE_FILE_SPLITS:
        split = _GLUE_FILE_SPLITS[split]
    return ds[split]
