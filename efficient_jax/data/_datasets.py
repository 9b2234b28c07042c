"""One entry point, ``get_dataset(name, split)``, for the dataset names configs use.

Names: ``"digits"``, ``"cifar10"``, ``"sst2"`` or ``"glue/<task>"`` (any of :data:`GLUE_TASKS`), and
``"tfds:<tfds name>"`` for the TensorFlow Datasets catalog.

Example:
    >>> ds = get_dataset("digits", "test")
    >>> ds["image"].shape
    (360, 8, 8, 1)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from efficient_jax.data._cifar import load_cifar10
from efficient_jax.data._digits import load_digits
from efficient_jax.data._glue import GLUE_TASKS, load_glue
from efficient_jax.data._tfds import load_tfds

DATASET_NAMES = ("digits", "cifar10", "sst2", *(f"glue/{t}" for t in GLUE_TASKS), "tfds:<name>")


def get_dataset(
    name: str, split: str, data_dir: str | os.PathLike | None = None, **kw: Any
) -> dict[str, np.ndarray]:
    """Loads split ``split`` of dataset ``name`` as a dict of arrays.

    Args:
      name: ``"digits"`` (splits ``train``/``test``; ``kw``: ``seed``, ``test_fraction``),
        ``"cifar10"`` (``kw``: ``cache_dir``, ``limit``), ``"sst2"`` or ``"glue/<task>"``
        (``kw``: ``vocab_path``, ``max_length``, ``limit``), ``"tfds:<name>"`` (``kw``: ``limit``;
        ``data_dir`` is then TFDS's data folder).
      split: the split name of that dataset.
      data_dir: the data folder (see :func:`resolve_data_dir`); unused by ``digits``.
      **kw: passed to the loader.

    Returns:
      The loader's dict of arrays (``image``/``label``, or ``input_ids``/``attention_mask``/
      ``token_type_ids``/``label``).

    Raises:
      ValueError: for an unknown name (the message lists the valid ones) or split.

    Example:
        >>> sorted(get_dataset("digits", "train", seed=1))
        ['image', 'label']
    """
    if not isinstance(name, str):
        raise ValueError(f"Dataset name must be a string; got {name!r}.")
    key = name.strip().lower()
    if key == "digits":
        if split not in ("train", "test"):
            raise ValueError(f"Unknown digits split {split!r}; valid: ['train', 'test'].")
        return load_digits(**kw)[split]
    if key == "cifar10":
        return load_cifar10(split, data_dir, **kw)
    if key == "sst2":
        return load_glue("sst2", split, data_dir, **kw)
    if key.startswith("glue/"):
        return load_glue(key.removeprefix("glue/"), split, data_dir, **kw)
    if key.startswith("tfds:") and key.removeprefix("tfds:"):
        return load_tfds(name.strip()[len("tfds:") :], split, data_dir=data_dir, **kw)
    raise ValueError(f"Unknown dataset {name!r}; valid: {list(DATASET_NAMES)}.")
