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
from efficient_jax.nas.benchmarks._tabular import Table, read_table
from efficient_jax.nas.spaces import NB201_SIZE, NB101Cell, NB201Cell, nb201_all_cells

NB201_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
_HOW = "It ships in shared/data/nb201 (see shared/data/README.md)."


def load_nb201(dataset: str = "cifar10", data_dir: str | os.PathLike | None = None) -> Table:
    """The NAS-Bench-201 table ``nb201/nb201_<dataset>.csv`` (15,625 rows)."""
    if dataset not in NB201_DATASETS:
        raise ValueError(f"Unknown NB201 dataset {dataset!r}; valid: {NB201_DATASETS}.")
    path = require_file(
        resolve_data_dir(data_dir) / "nb201" / f"nb201_{dataset}.csv", f"NB201 {dataset}", _HOW
    )
    return read_table(path, required=("valid_acc_200ep", "test_acc_200ep"))


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
