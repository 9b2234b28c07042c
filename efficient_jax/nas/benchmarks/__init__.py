"""Tabular NAS benchmarks: CSV tables, query-counting oracles, searcher views, loaders.

Example:
    >>> import jax
    >>> from efficient_jax.nas import benchmarks
    >>> oracle = benchmarks.TabularOracle(
    ...     benchmarks.synthetic_nb201_table(jax.random.key(0)), "valid_acc", "test_acc")
    >>> oracle.view().query([0, 1]).shape
    (2,)
"""

from efficient_jax.nas.benchmarks._loaders import (
    NB201_DATASETS,
    NB201_DEFAULT_METRICS,
    load_nb101_sample,
    load_nb201,
    nb101_cells,
    nb201_dataset,
    nb201_encodings,
    nb201_metrics,
    nb201_ordinals,
    synthetic_nb201_table,
)
from efficient_jax.nas.benchmarks._tabular import (
    SearchView,
    Table,
    TabularOracle,
    columns_with_values,
    join_columns,
    read_table,
)

__all__ = [
    "NB201_DATASETS",
    "NB201_DEFAULT_METRICS",
    "SearchView",
    "Table",
    "TabularOracle",
    "columns_with_values",
    "join_columns",
    "load_nb101_sample",
    "load_nb201",
    "nb101_cells",
    "nb201_dataset",
    "nb201_encodings",
    "nb201_metrics",
    "nb201_ordinals",
    "read_table",
    "synthetic_nb201_table",
]
