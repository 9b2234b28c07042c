"""What :func:`~efficient_jax.data.load` returns: a :class:`Dataset` of splits plus its
:class:`DatasetInfo`; seeded random splits.

Example:
    >>> import numpy as np
    >>> info = DatasetInfo("toy", "image", (2, 2, 1), 2, (0.5,), (0.25,), eval_split="test")
    >>> arrays = {"image": np.full((4, 2, 2, 1), 255, np.uint8), "label": np.arange(4) % 2}
    >>> ds = Dataset({"train": arrays, "test": arrays}, info)
    >>> ds.eval_data["image"].shape, ds.info.mean
    ((4, 2, 2, 1), (0.5,))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

KINDS = ("image", "text", "vector")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Metadata of a dataset: what one example looks like and how results are reported.

    Attributes:
      name: the registry name (``"cifar10"``, ``"glue/rte"``, ...).
      kind: ``"image"``, ``"text"`` (token ids) or ``"vector"`` (feature vectors).
      input_shape: shape of one example's input, e.g. ``(32, 32, 3)`` or ``(max_length,)``.
      num_classes: number of classes (1 for a regression target such as STS-B).
      mean: per-channel mean of the pixels in [0, 1] units, used by :func:`normalize`; ``None``
        when the inputs are used as they are (float images, text, vectors).
      std: per-channel standard deviation matching ``mean``; ``None`` together with it.
      eval_split: the split results are reported on (``"test"``, GLUE: ``"validation"``).
      train_split: the split models are trained on.

    Raises:
      ValueError: for an unknown ``kind``, a bad ``num_classes``, or ``mean``/``std`` that are
        not both ``None`` or both of equal length with positive ``std``.

    Example:
        >>> DatasetInfo("d", "vector", (4,), 3, None, None, eval_split="test").train_split
        'train'
    """

    name: str
    kind: str
    input_shape: tuple[int, ...]
    num_classes: int
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    eval_split: str
    train_split: str = "train"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"DatasetInfo.kind must be one of {list(KINDS)}; got {self.kind!r}.")
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError(f"num_classes must be a positive int; got {self.num_classes!r}.")
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        if (self.mean is None) != (self.std is None):
            raise ValueError(
                f"mean and std must both be None or both set; got {self.mean}, {self.std}"
            )
        if self.mean is not None:
            mean, std = tuple(map(float, self.mean)), tuple(map(float, self.std))
            if len(mean) != len(std) or not mean or min(std) <= 0:
                raise ValueError(
                    f"mean and std must have equal, non-zero length and std > 0; got {mean}, {std}."
                )
            object.__setattr__(self, "mean", mean)
            object.__setattr__(self, "std", std)


class LazySplits(Mapping):
    """A read-only ``{split: arrays}`` mapping whose splits are loaded on first access, once.

    Args:
      loaders: ``{split: () -> dict of arrays}``, in the order the splits are listed.

    Example:
        >>> import numpy as np
        >>> calls = []
        >>> splits = LazySplits({"a": lambda: calls.append(1) or {"x": np.zeros(2)}})
        >>> list(splits), calls
        (['a'], [])
        >>> _ = splits["a"], splits["a"]
        >>> calls
        [1]
    """

    def __init__(self, loaders: Mapping[str, Callable[[], dict[str, np.ndarray]]]):
        self._loaders = dict(loaders)
        self._loaded: dict[str, dict[str, np.ndarray]] = {}

    def __getitem__(self, split: str) -> dict[str, np.ndarray]:
        if split not in self._loaded:
            self._loaded[split] = self._loaders[split]()
        return self._loaded[split]

    def __contains__(self, split: object) -> bool:  # without loading (Mapping's would)
        return split in self._loaders

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)

    def __repr__(self) -> str:
        return f"LazySplits({list(self._loaders)}, loaded={list(self._loaded)})"


@dataclasses.dataclass(frozen=True)
class Dataset:
    """The splits of a dataset (each a dict of equal-length arrays) and its :class:`DatasetInfo`.

    ``splits`` may be a :class:`LazySplits`: :func:`~efficient_jax.data.load` reads a split
    (e.g. decodes or tokenises it) only when it is first indexed.

    Raises:
      ValueError: if ``info.train_split`` or ``info.eval_split`` is not one of ``splits``.

    Example:
        >>> import numpy as np
        >>> info = DatasetInfo("toy", "vector", (1,), 2, None, None, eval_split="test")
        >>> ds = Dataset({"train": {"x": np.zeros(3)}, "test": {"x": np.ones(2)}}, info)
        >>> ds.eval_data["x"].tolist()
        [1.0, 1.0]
        >>> ds["validation"]
        Traceback (most recent call last):
        ...
        ValueError: Unknown split 'validation' of dataset 'toy'; valid: ['train', 'test'].
    """

    splits: Mapping[str, dict[str, np.ndarray]]
    info: DatasetInfo

    def __post_init__(self):
        for field in ("train_split", "eval_split"):
            if getattr(self.info, field) not in self.splits:
                raise ValueError(
                    f"info.{field}={getattr(self.info, field)!r} is not a split of dataset "
                    f"{self.info.name!r}; splits: {list(self.splits)}."
                )

    def __getitem__(self, split: str) -> dict[str, np.ndarray]:
        if not isinstance(split, str) or split not in self.splits:
            raise ValueError(
                f"Unknown split {split!r} of dataset {self.info.name!r}; "
                f"valid: {list(self.splits)}."
            )
        return self.splits[split]

    @property
    def train_data(self) -> dict[str, np.ndarray]:
        """The ``info.train_split`` arrays."""
        return self[self.info.train_split]

    @property
    def eval_data(self) -> dict[str, np.ndarray]:
        """The ``info.eval_split`` arrays (the split results are reported on)."""
        return self[self.info.eval_split]


def random_split(
    arrays: Mapping[str, Any],
    sizes: Sequence[int | None],
    *,
    seed: int,
    sort: bool = False,
) -> list[dict[str, np.ndarray]]:
    """Splits examples into consecutive pieces of one seeded random permutation.

    With ``perm = np.random.default_rng(seed).permutation(N)``, piece ``i`` holds the examples
    ``perm[lo_i:lo_i + sizes[i]]`` (in that order, or in original order with ``sort=True``).
    One size may be ``None``: that piece takes every example the others leave. Otherwise examples
    past ``sum(sizes)`` are left out.

    Args:
      arrays: dict of arrays sharing the leading length ``N``.
      sizes: non-negative piece sizes (at most one ``None``), summing to at most ``N``.
      seed: the permutation's seed.
      sort: keep each piece in the original example order.

    Returns:
      One dict per piece, with the keys of ``arrays``.

    Raises:
      ValueError: for negative sizes, more than one ``None``, sizes summing past ``N``, or arrays
        of different leading lengths.

    Example:
        >>> import numpy as np
        >>> a, b = random_split({"x": np.arange(10)}, (3, None), seed=0)
        >>> len(a["x"]), len(b["x"]), sorted([*a["x"], *b["x"]]) == list(range(10))
        (3, 7, True)
    """
    lengths = {k: len(v) for k, v in arrays.items()}
    if not lengths or len(set(lengths.values())) != 1:
        raise ValueError(f"arrays must be a non-empty dict of equal-length arrays; got {lengths}.")
    n = next(iter(lengths.values()))
    sizes = list(sizes)
    if sizes.count(None) > 1 or any(s is not None and (int(s) != s or s < 0) for s in sizes):
        raise ValueError(f"sizes must be non-negative ints with at most one None; got {sizes}.")
    fixed = sum(int(s) for s in sizes if s is not None)
    if fixed > n:
        raise ValueError(f"sizes {sizes} add up to {fixed}, more than the {n} examples.")
    sizes = [n - fixed if s is None else int(s) for s in sizes]
    perm = np.random.default_rng(seed).permutation(n)
    out, lo = [], 0
    for size in sizes:
        idx = perm[lo : lo + size]
        idx = np.sort(idx) if sort else idx
        out.append({k: np.asarray(v)[idx] for k, v in arrays.items()})
        lo += size
    return out
