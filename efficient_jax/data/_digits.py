"""scikit-learn's 8×8 handwritten digits (1,797 images, bundled, no download) with a fixed split.

Example:
    >>> ds = load_digits(seed=0)
    >>> ds["train"]["image"].shape, ds["test"]["image"].shape
    ((1437, 8, 8, 1), (360, 8, 8, 1))
"""

from __future__ import annotations

import os

import numpy as np

from efficient_jax.data._info import Dataset, DatasetInfo

# Pixel values in sklearn's digits are integer counts in [0, 16].
_DIGITS_MAX = 16.0


def load_digits(seed: int = 0, test_fraction: float = 0.2) -> dict[str, dict[str, np.ndarray]]:
    """Loads the digits dataset with a stratified train/test split that depends only on ``seed``.

    Args:
      seed: ``random_state`` of :func:`sklearn.model_selection.train_test_split`.
      test_fraction: share of examples in the test split, strictly between 0 and 1.

    Returns:
      ``{"train": {...}, "test": {...}}``, each ``{"image": float32 (N, 8, 8, 1) in [0, 1],
      "label": int32 (N,)}``. Both splits keep the class proportions of the full set.

    Raises:
      ValueError: if ``test_fraction`` is not in (0, 1).

    Example:
        >>> ds = load_digits()
        >>> float(ds["train"]["image"].max()), ds["train"]["label"].dtype
        (1.0, dtype('int32'))
    """
    test_fraction = float(test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1; got {test_fraction}.")
    from sklearn import datasets, model_selection  # Deferred: sklearn import costs ~1 s.

    raw = datasets.load_digits()
    images = (raw.images.astype(np.float32) / _DIGITS_MAX)[..., None]
    labels = raw.target.astype(np.int32)
    x_tr, x_te, y_tr, y_te = model_selection.train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed
    )
    return {
        "train": {"image": np.ascontiguousarray(x_tr), "label": y_tr},
        "test": {"image": np.ascontiguousarray(x_te), "label": y_te},
    }


def digits_dataset(
    data_dir: str | os.PathLike | None = None, *, seed: int = 0, test_fraction: float = 0.2
) -> Dataset:
    """The ``"digits"`` dataset: :func:`load_digits`'s train/test splits, reported on ``"test"``.

    ``data_dir`` is unused (the data ships with scikit-learn). Images are float32 in [0, 1] and
    used as they are (no normalisation statistics).

    Example:
        >>> ds = digits_dataset(seed=0)
        >>> ds.info.input_shape, ds.info.num_classes, ds.eval_data["image"].shape
        ((8, 8, 1), 10, (360, 8, 8, 1))
    """
    del data_dir
    info = DatasetInfo("digits", "image", (8, 8, 1), 10, None, None, eval_split="test")
    return Dataset(load_digits(seed=seed, test_fraction=test_fraction), info)
