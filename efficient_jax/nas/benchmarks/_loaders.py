"""Loaders of the shared NAS benchmark tables (``nb201/``, ``nb101/``) and a synthetic table.

Example:
    >>> import jax
    >>> t = synthetic_nb201_table(jax.random.key(0))
    >>> len(t), sorted(t.columns)
    (15625, ['test_acc', 'valid_acc'])
"""

from __future__ import annotations

import csv
import os

import jax
import numpy as np

from efficient_jax.data import require_file, resolve_data_dir
from efficient_jax.nas.benchmarks._tabular import Table, columns_with_values, read_table
from efficient_jax.nas.spaces import NB201_SIZE, NB101Cell, NB201Cell, nb201_all_cells

NB201_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
_HOW = "It ships in shared/data/nb201 (see docs/DATA.md)."
# Usual spellings, compared after lower-casing and dropping "-", "_", " " and ".".
_NB201_ALIASES = {
    "cifar10": "cifar10",
    "cifar10valid": "cifar10",  # NB201's name of the CIFAR-10 train/valid split
    "cifar100": "cifar100",
    "imagenet16120": "ImageNet16-120",
    "imagenet16": "ImageNet16-120",
    "imagenet": "ImageNet16-120",
}
# Search / report metrics to try, in order: the first with any value in the dataset's table is the
# default (some datasets publish no 200-epoch validation accuracy).
NB201_DEFAULT_METRICS = {
    d: (("valid_acc_200ep", "valid_acc_12ep"), ("test_acc_200ep", "test_acc_12ep"))
    for d in NB201_DATASETS
}


def _squash(name: str) -> str:
    return "".join(c for c in name.lower() if c not in "-_ .")


def nb201_dataset(name: str) -> str:
    """The canonical NB201 dataset name of a usual spelling (case, ``-``/``_`` do not matter).

    Raises:
      ValueError: for an unknown name, listing the spelling tried and the valid names.

    Example:
        >>> [nb201_dataset(n) for n in ("imagenet16_120", "CIFAR-100", "cifar10-valid")]
        ['ImageNet16-120', 'cifar100', 'cifar10']
    """
    key = _squash(str(name))
    if key not in _NB201_ALIASES:
        raise ValueError(
            f"Unknown NB201 dataset {name!r} (tried {key!r} after lower-casing and dropping "
            f"'-', '_', ' ', '.'); valid: {NB201_DATASETS} (aliases: {sorted(_NB201_ALIASES)})."
        )
    return _NB201_ALIASES[key]


def load_nb201(dataset: str = "cifar10", data_dir: str | os.PathLike | None = None) -> Table:
    """The NAS-Bench-201 table ``nb201/nb201_<dataset>.csv`` (15,625 rows).

    ``dataset`` may be any usual spelling (:func:`nb201_dataset`); the file is looked for under the
    canonical name, then lower-case with ``-`` or ``_``.
    """
    canon = nb201_dataset(dataset)
    folder = resolve_data_dir(data_dir) / "nb201"
    names = dict.fromkeys(
        f"nb201_{n}.csv" for n in (canon, canon.lower(), canon.lower().replace("-", "_"))
    )
    found = [folder / n for n in names if (folder / n).exists()]
    what = f"NB201 {canon} (tried {list(names)})"
    path = require_file(found[0] if found else folder / next(iter(names)), what, _HOW)
    return read_table(path, required=("valid_acc_200ep", "test_acc_200ep"))


def nb201_metrics(
    table: Table, dataset: str, search_metric: str = "", report_metric: str = ""
) -> tuple[str, str]:
    """The search and report metrics for an NB201 ``dataset``; ``""`` picks the dataset default.

    Args:
      table: the dataset's table (:func:`load_nb201`).
      dataset: its name (any usual spelling).
      search_metric: a column, or ``""`` for the first of ``NB201_DEFAULT_METRICS`` with values.
      report_metric: likewise.

    Raises:
      ValueError: if a named column is missing or empty, naming the column, the dataset and the
        columns that have values.

    Example:
        >>> t = Table(np.arange(2), ("a", "b"), {"valid_acc_200ep": np.array([np.nan, np.nan]),
        ...     "valid_acc_12ep": np.array([1.0, 2.0]), "test_acc_200ep": np.array([3.0, 4.0])})
        >>> nb201_metrics(t, "cifar100")
        ('valid_acc_12ep', 'test_acc_200ep')
    """
    canon = nb201_dataset(dataset)
    have = columns_with_values(table)
    out = []
    for name, defaults, role in zip(
        (search_metric, report_metric), NB201_DEFAULT_METRICS[canon], ("search", "report")
    ):
        if not name:
            name = next((d for d in defaults if d in have), defaults[0])
        if name not in have:
            state = "is empty" if name in table.columns else "does not exist"
            raise ValueError(
                f"The {role} metric {name!r} {state} for NB201 {canon}; columns with values: "
                f"{have}. Set --config.{role}_metric to one of them."
            )
        out.append(name)
    return out[0], out[1]


def load_nb101_sample(data_dir: str | os.PathLike | None = None) -> Table:
    """The 500-cell NAS-Bench-101 sample; ``arch`` holds ``"<adjacency bits>;<ops>"``."""
    path = require_file(
        resolve_data_dir(data_dir) / "nb101" / "nb101_sample500.csv",
        "NB101 500-cell sample",
        "It ships in shared/data/nb101.",
    )
    t = read_table(path, arch_column="ops", required=("val_accuracy",))
    with open(path, newline="") as f:
        adj = [r["adjacency_7x7_rowmajor"] for r in csv.DictReader(f)]
    cols = {k: v for k, v in t.columns.items() if k != "adjacency_7x7_rowmajor"}
    return Table(t.index, tuple(f"{a};{o}" for a, o in zip(adj, t.arch)), cols)


def nb101_cells(table: Table) -> list[NB101Cell]:
    return [NB101Cell.from_strings(*a.split(";")) for a in table.arch]


def nb201_encodings(table: Table, kind: str = "onehot") -> np.ndarray:
    """``(rows, dim)`` float32 encodings of an NB201 table's cells."""
    return np.stack([NB201Cell.from_str(a).encode(kind) for a in table.arch])


def nb201_ordinals(table: Table) -> np.ndarray:
    return np.array([NB201Cell.from_str(a).ordinal for a in table.arch], np.int64)


def synthetic_nb201_table(
    key: jax.Array, *, pair_scale: float = 0.3, noise: float = 0.5, size: int = NB201_SIZE
) -> Table:
    """A structured NB201-like table (Wu spec §3.10): additive per-(edge, op) effects, pairwise
    interactions, a 'none' penalty; ``valid_acc`` = ``test_acc`` + noise. ``size`` < 15625 keeps the
    first ``size`` ordinals (for fast tests)."""
    k1, k2, k3 = jax.random.split(key, 3)
    unary = np.array(jax.random.normal(k1, (6, 5)))
    unary[:, 0] -= 1.0
    pair = pair_scale * np.asarray(jax.random.normal(k2, (6, 6, 5, 5)))
    ops = np.array([c.ops for c in nb201_all_cells()[:size]])
    score = unary[np.arange(6), ops].sum(1)
    for i in range(6):
        for j in range(i + 1, 6):
            score += pair[i, j, ops[:, i], ops[:, j]]
    test = 90.0 + 2.0 * (score - score.mean()) / score.std()
    valid = test + noise * np.asarray(jax.random.normal(k3, (size,)))
    arch = tuple(c.to_str() for c in nb201_all_cells()[:size])
    return Table(np.arange(size), arch, {"valid_acc": valid, "test_acc": test})
