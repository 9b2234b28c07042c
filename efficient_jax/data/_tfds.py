"""Any TensorFlow Datasets catalog entry as NumPy arrays (needs the optional ``[tfds]`` extra).

Example:
    >>> ds = load_tfds("mnist", "test", limit=16)  # doctest: +SKIP
    >>> ds["image"].shape, ds["label"].dtype  # doctest: +SKIP
    ((16, 28, 28, 1), dtype('int32'))
"""

from __future__ import annotations

import os

import numpy as np

_INSTALL_HINT = (
    "tensorflow_datasets is not installed; install the optional extra with "
    'pip install "efficient_jax[tfds]" (or pip install tensorflow-datasets). '
    "The built-in loaders (digits, cifar10, glue) need no TFDS."
)


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    return tfds


def load_tfds(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
) -> dict[str, np.ndarray]:
    """Loads a whole TFDS split into memory with ``tfds.load(..., batch_size=-1)``.

    Args:
      name: TFDS name, e.g. ``"mnist"``, ``"cifar10"``, ``"glue/sst2"``.
      split: TFDS split, e.g. ``"train"``, ``"test"``, ``"validation"``.
      data_dir: TFDS data folder (TFDS's own default when ``None``).
      limit: keep the first ``limit`` examples (``split[:limit]``).

    Returns:
      One NumPy array per feature: ``image``/``label`` for image datasets, ``sentence``/``label``
      (plus ``idx``) for ``glue/sst2``. Text features are decoded to ``str`` (object arrays), labels
      are int32.

    Raises:
      ImportError: if ``tensorflow_datasets`` is not installed (says how to install it).
      ValueError: for a non-positive ``limit``.

    Example:
        >>> ds = load_tfds("glue/sst2", "validation")  # doctest: +SKIP
        >>> sorted(ds)  # doctest: +SKIP
        ['idx', 'label', 'sentence']
    """
    if limit is not None and (not isinstance(limit, int | np.integer) or limit <= 0):
        raise ValueError(f"limit must be a positive integer or None; got {limit!r}.")
    tfds = _import_tfds()
    tf_split = split if limit is None else f"{split}[:{int(limit)}]"
    data = tfds.as_numpy(
        tfds.load(
            name,
            split=tf_split,
            data_dir=None if data_dir is None else os.fspath(data_dir),
            batch_size=-1,
        )
    )
    if not isinstance(data, dict):
        raise ValueError(f"TFDS {name!r} does not yield a feature dict; got {type(data).__name__}.")
    out = {}
    for key, value in data.items():
        arr = np.asarray(value)
        if arr.dtype.kind == "O" or arr.dtype.kind == "S":
            arr = np.array(
                [v.decode("utf-8") if isinstance(v, bytes) else v for v in arr.ravel()], object
            ).reshape(arr.shape)
        elif key == "label" and arr.dtype.kind in "iu":
            arr = arr.astype(np.int32)
        out[key] = arr
    return out
