"""Synthetic datasets generated from a seed: a Gaussian mixture and pure-noise images.

Example:
    >>> train, test = make_gaussian_mixture(100, 50, seed=0, num_classes=3, dim=8)
    >>> train["image"].shape, test["label"].dtype
    ((100, 8), dtype('int32'))
"""

from __future__ import annotations

import os

import numpy as np

from efficient_jax.data._info import Dataset, DatasetInfo


def _check_count(name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def make_gaussian_mixture(
    num_train: int,
    num_test: int,
    *,
    seed: int = 0,
    num_classes: int = 20,
    dim: int = 64,
    clusters_per_class: int = 4,
    spread: float = 0.45,
    label_noise: float = 0.05,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Overlapping Gaussian clusters, several per class: a cheap CPU classification task.

    The cascades spec's cheap task (Wang 2022, thesis Ch. 5, spec §4.5). Each class owns
    ``clusters_per_class`` clusters whose centres are drawn from ``N(0, spread² I)``; a point is
    its cluster's centre plus ``N(0, I)`` noise; a fraction ``label_noise`` of labels (train and
    test) is replaced by uniform random labels. Everything is drawn from one
    ``np.random.default_rng(seed)``: the centres, then the train points, then the test points.

    Args:
      num_train: number of training points.
      num_test: number of test points.
      seed: the generator's seed.
      num_classes: number of classes.
      dim: dimension of a point.
      clusters_per_class: clusters per class.
      spread: standard deviation of the cluster centres.
      label_noise: probability that a label is replaced by a uniform random one, in [0, 1].

    Returns:
      ``(train, test)``, each ``{"image": float32 [N, dim], "label": int32 [N]}``.

    Raises:
      ValueError: for non-positive counts or sizes, a negative ``spread`` or ``label_noise``
        outside [0, 1].

    Example:
        >>> a, _ = make_gaussian_mixture(10, 10, seed=1)
        >>> b, _ = make_gaussian_mixture(10, 10, seed=1)
        >>> bool((a["image"] == b["image"]).all()), int(a["label"].max()) < 20
        (True, True)
    """
    num_train, num_test = _check_count("num_train", num_train), _check_count("num_test", num_test)
    num_classes, dim = _check_count("num_classes", num_classes), _check_count("dim", dim)
    clusters_per_class = _check_count("clusters_per_class", clusters_per_class)
    if not spread >= 0:
        raise ValueError(f"spread must be >= 0; got {spread!r}.")
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must be in [0, 1]; got {label_noise!r}.")
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, spread, (num_classes * clusters_per_class, dim)).astype(np.float32)

    def draw(n):
        cluster = rng.integers(0, len(centres), n)
        x = centres[cluster] + rng.normal(0.0, 1.0, (n, dim)).astype(np.float32)
        y = (cluster // clusters_per_class).astype(np.int32)
        noisy = rng.random(n) < label_noise
        y[noisy] = rng.integers(0, num_classes, int(noisy.sum()))
        return {"image": x.astype(np.float32), "label": y}

    return draw(num_train), draw(num_test)


def make_noise_images(
    num: int, image_size: int, *, seed: int, num_classes: int = 10, channels: int = 3
) -> dict[str, np.ndarray]:
    """Pure-noise images with random labels (a shape-only stand-in for an image dataset).

    Draws, from one ``np.random.default_rng(seed)``, the images ``N(0, 1)`` of shape
    ``(num, image_size, image_size, channels)`` and then the labels uniformly from
    ``[0, num_classes)``. The images are already "normalised": feed them to a model directly.

    Args:
      num: number of images.
      image_size: height and width.
      seed: the generator's seed.
      num_classes: number of label values.
      channels: channels per pixel.

    Returns:
      ``{"image": float32 (num, image_size, image_size, channels), "label": int32 (num,)}``.

    Raises:
      ValueError: for a non-positive ``num``, ``image_size``, ``num_classes`` or ``channels``.

    Example:
        >>> ds = make_noise_images(4, 8, seed=0)
        >>> ds["image"].shape, ds["label"].dtype
        ((4, 8, 8, 3), dtype('int32'))
    """
    num, image_size = _check_count("num", num), _check_count("image_size", image_size)
    num_classes = _check_count("num_classes", num_classes)
    channels = _check_count("channels", channels)
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(num, image_size, image_size, channels)).astype(np.float32)
    labels = rng.integers(0, num_classes, num).astype(np.int32)
    return {"image": images, "label": labels}


def gaussian_mixture_dataset(
    data_dir: str | os.PathLike | None = None,
    *,
    num_train: int = 20_000,
    num_test: int = 15_000,
    seed: int = 0,
    num_classes: int = 20,
    dim: int = 64,
    clusters_per_class: int = 4,
    spread: float = 0.45,
    label_noise: float = 0.05,
) -> Dataset:
    """The ``"gaussian_mixture"`` dataset: :func:`make_gaussian_mixture` as splits train/test.

    ``data_dir`` is unused (the data is generated). Reported on ``"test"``; the points are used
    as they are (no normalisation statistics).

    Example:
        >>> ds = gaussian_mixture_dataset(num_train=8, num_test=4, dim=3)
        >>> ds.info.input_shape, ds.info.kind, len(ds["test"]["label"])
        ((3,), 'vector', 4)
    """
    del data_dir
    train, test = make_gaussian_mixture(
        num_train,
        num_test,
        seed=seed,
        num_classes=num_classes,
        dim=dim,
        clusters_per_class=clusters_per_class,
        spread=spread,
        label_noise=label_noise,
    )
    info = DatasetInfo(
        "gaussian_mixture", "vector", (int(dim),), int(num_classes), None, None, eval_split="test"
    )
    return Dataset({"train": train, "test": test}, info)
