"""Any TensorFlow Datasets catalog entry as NumPy arrays (needs the optional ``[tfds]`` extra).

Example:
    >>> ds = load_tfds("mnist", "test", limit=16)  # doctest: +SKIP
    >>> ds["image"].shape, ds["label"].dtype  # doctest: +SKIP
    ((16, 28, 28, 1), dtype('int32'))
"""

from __future__ import annotations

import os

import numpy as np

from efficient_jax.data._info import Dataset, DatasetInfo, LazySplits

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


def tfds_dataset(
    name: str, data_dir: str | os.PathLike | None = None, *, limit: int | None = None
) -> Dataset:
    """A TFDS catalog entry as a :class:`Dataset` (``data.load("tfds:<name>")``).

    Split names and the info come from the TFDS builder's metadata (no data is read until a split
    is indexed, through :func:`load_tfds`): kind ``"image"`` when there is an ``image`` feature
    (else ``"text"``), ``input_shape`` that feature's shape, ``num_classes`` the ``label``
    feature's class count (1 if unknown), no normalisation statistics (:func:`normalize` then
    only scales uint8 pixels to [0, 1]); reported on ``"test"``, else ``"validation"``.

    Raises:
      ImportError: if ``tensorflow_datasets`` is not installed.
      ValueError: for a non-positive ``limit``.

    Example:
        >>> ds = tfds_dataset("mnist")  # doctest: +SKIP
        >>> ds.info.input_shape, ds.info.eval_split  # doctest: +SKIP
        ((28, 28, 1), 'test')
    """
    if limit is not None and (not isinstance(limit, int | np.integer) or limit <= 0):
        raise ValueError(f"limit must be a positive integer or None; got {limit!r}.")
    tfds = _import_tfds()
    meta = tfds.builder(name, data_dir=None if data_dir is None else os.fspath(data_dir)).info
    names = list(meta.splits.keys()) or ["train", "test"]
    splits = LazySplits(
        {s: (lambda s=s: load_tfds(name, s, data_dir=data_dir, limit=limit)) for s in names}
    )
    features = dict(meta.features.items()) if hasattr(meta.features, "items") else {}
    image, label = features.get("image"), features.get("label")
    eval_split = next((s for s in ("test", "validation") if s in splits), names[-1])
    info = DatasetInfo(
        f"tfds:{name}",
        "image" if image is not None else "text",
        tuple(getattr(image, "shape", ()) or ()),
        int(getattr(label, "num_classes", 0) or 1),
        None,
        None,
        eval_split=eval_split,
        train_split="train" if "train" in splits else names[0],
    )
    return Dataset(splits, info)
