"""Tabular NAS benchmarks: a CSV table, a query-counting oracle, a searcher-side view.

The table schema is the one of ``shared/data/nb201/*.csv``: ``index, arch_str`` and one column per
metric; empty cells are missing values (NaN), never 0. Extra per-architecture columns (params,
FLOPs, latency measured on a device) are joined from another CSV keyed by ``index``.

The :class:`TabularOracle` holds both the *search* metric (what a searcher may see, e.g.
``valid_acc_200ep``) and the *report* metric (``test_acc_200ep``). Searchers only get a
:class:`SearchView`, which answers queries on the search metric, counts them, and refuses any read
of the report metric.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Mapping, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Table:
    """Benchmark rows: ``index`` (int), ``arch`` (strings), float ``columns`` (NaN = missing)."""

    index: np.ndarray
    arch: tuple[str, ...]
    columns: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.index)

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise ValueError(f"Unknown column {name!r}; available: {sorted(self.columns)}.")
        return self.columns[name]

    def row_of(self, index: int) -> int:
        """The row holding benchmark ``index``."""
        pos = np.flatnonzero(self.index == int(index))
        if pos.size == 0:
            raise ValueError(f"Benchmark index {index} is not in the table.")
        return int(pos[0])


def columns_with_values(table: Table) -> list[str]:
    """The columns of ``table`` with at least one value (not all cells empty).

    Example:
        >>> t = Table(np.arange(2), ("a", "b"), {"x": np.array([1.0, np.nan]),
        ...                                      "y": np.array([np.nan, np.nan])})
        >>> columns_with_values(t)
        ['x']
    """
    return sorted(k for k, v in table.columns.items() if np.isfinite(v).any())


def _parse_float(text: str, where: str) -> float:
    text = text.strip()
    if text == "" or text.lower() in ("nan", "na", "none"):
        return float("nan")
    try:
        return float(text)
    except ValueError as e:
        raise ValueError(f"Non-numeric value {text!r} in {where}.") from e


def read_table(
    path: str | os.PathLike,
    *,
    arch_column: str = "arch_str",
    required: Sequence[str] = (),
    index_column: str = "index",
) -> Table:
    """Reads a benchmark CSV. Non-numeric columns other than ``arch_column`` are skipped.

    Args:
      path: the CSV file.
      arch_column: column with the architecture string (``arch_str`` for NB201).
      required: metric columns that must be present.
      index_column: integer key column; when absent the row number is used.

    Raises:
      ValueError: if a required column is missing (names the file, what is missing and what is
        there) or a metric cell is not a number.
    """
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in (arch_column, *required) if c not in header]
        if missing:
            raise ValueError(
                f"{os.fspath(path)} lacks required column(s) {missing}; it has {header}."
            )
        rows = list(reader)
    if not rows:
        raise ValueError(f"{os.fspath(path)} has no rows.")
    index = (
        np.array([int(r[index_column]) for r in rows], np.int64)
        if index_column in header
        else np.arange(len(rows), dtype=np.int64)
    )
    columns = {}
    for name in header:
        if name in (arch_column, index_column):
            continue
        try:
            columns[name] = np.array(
                [_parse_float(r[name], f"{os.fspath(path)} column {name!r}") for r in rows],
                np.float64,
            )
        except ValueError:
            if name in required:
                raise
    return Table(index=index, arch=tuple(r[arch_column] for r in rows), columns=columns)


def join_columns(
    table: Table,
    path: str | os.PathLike,
    columns: Sequence[str],
    *,
    key: str = "index",
    complete: bool = False,
) -> Table:
    """Adds ``columns`` from another CSV keyed by ``index`` or ``arch_str`` (cost columns: params,
    FLOPs, latency).

    Args:
      table: the benchmark table.
      path: the CSV with the extra columns and a key column.
      columns: the columns to add.
      key: ``"index"`` (the benchmark index) or ``"arch"`` (the CSV's ``arch_str`` column).
      complete: require a value for every row of ``table``; else rows without one get NaN.

    Raises:
      ValueError: if ``key`` is unknown, the CSV lacks the key or one of ``columns``, a value is
        not numeric, or (``complete``) rows lack a value (the first few are listed).

    Example:
        >>> import tempfile
        >>> t = Table(np.arange(2), ("a", "b"), {"acc": np.array([1.0, 2.0])})
        >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        ...     _ = f.write("arch_str,latency_ms\\nb,2.5\\na,1.5\\n")
        >>> join_columns(t, f.name, ["latency_ms"], key="arch").column("latency_ms").tolist()
        [1.5, 2.5]
    """
    if key not in ("index", "arch"):
        raise ValueError(f"Unknown join key {key!r}; valid: 'index', 'arch'.")
    key_col = "index" if key == "index" else "arch_str"
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in (key_col, *columns) if c not in header]
        if missing:
            raise ValueError(
                f"{os.fspath(path)} lacks required column(s) {missing}; it has {header}."
            )
        if key == "index":
            extra = {int(r["index"]): r for r in reader}
        else:
            extra = {r["arch_str"].strip(): r for r in reader}
    keys = table.index.tolist() if key == "index" else list(table.arch)
    new = dict(table.columns)
    for name in columns:
        where = f"{os.fspath(path)} column {name!r}"
        new[name] = np.array(
            [_parse_float(extra[i][name], where) if i in extra else np.nan for i in keys],
            np.float64,
        )
        lacking = [k for k, v in zip(keys, new[name]) if np.isnan(v)]
        if complete and lacking:
            raise ValueError(
                f"{os.fspath(path)} has no value of {name!r} for {len(lacking)} of {len(keys)} "
                f"architectures (by {key}); the first: {lacking[:5]}. Every architecture needs one."
            )
    return dataclasses.replace(table, columns=new)


class TabularOracle:
    """Query-counting oracle over a :class:`Table`.

    Args:
      table: the benchmark table.
      search_metric: the column searchers optimise (e.g. ``valid_acc_200ep``, ``valid_acc_12ep``).
      report_metric: the column used only to score the result (e.g. ``test_acc_200ep``).
      maximize: whether larger is better (accuracies); False for errors/latencies.
      cost_columns: extra columns searchers may read (params, FLOPs, latency).

    Rows where the search metric is missing are excluded from the searchable pool.

    Example:
        >>> import numpy as np
        >>> t = Table(np.arange(3), ("a", "b", "c"), {"val": np.array([1., 3., 2.]),
        ...                                            "test": np.array([1., 2., 3.])})
        >>> o = TabularOracle(t, "val", "test")
        >>> view = o.view()
        >>> view.query([1, 2]).tolist(), view.num_queries
        ([3.0, 2.0], 2)
    """

    def __init__(
        self,
        table: Table,
        search_metric: str,
        report_metric: str,
        *,
        maximize: bool = True,
        cost_columns: Sequence[str] = (),
    ):
        self.table = table
        self.search_metric = search_metric
        self.report_metric = report_metric
        self.maximize = maximize
        self._search = table.column(search_metric)
        self._report = table.column(report_metric)
        for name, values in ((search_metric, self._search), (report_metric, self._report)):
            if not np.isfinite(values).any():
                raise ValueError(
                    f"Column {name!r} has no value (all cells empty); columns with values: "
                    f"{columns_with_values(table)}."
                )
        self.cost_columns = tuple(cost_columns)
        for c in self.cost_columns:
            if c == report_metric:
                raise ValueError("The report metric cannot be a cost column visible to searchers.")
            table.column(c)
        self.num_queries = 0

    @property
    def search_values(self) -> np.ndarray:
        """Search metric of every row (for experiment bookkeeping, not for searchers)."""
        return self._search

    @property
    def report_values(self) -> np.ndarray:
        """Report metric of every row (for scoring only)."""
        return self._report

    def query(self, rows) -> np.ndarray:
        rows = np.asarray(rows, np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self.table)):
            raise ValueError(f"Row ids must be in [0, {len(self.table)}).")
        self.num_queries += int(rows.size)
        return self._search[rows]

    def view(self) -> SearchView:
        """A fresh searcher-side view with its own query counter."""
        return SearchView(self)


class SearchView:
    """What a searcher may see: search-metric queries (counted) and cost columns, nothing else."""

    def __init__(self, oracle: TabularOracle):
        self.__oracle = oracle
        self.num_queries = 0
        self.search_metric = oracle.search_metric
        self.maximize = oracle.maximize

    def __len__(self) -> int:
        return len(self.__oracle.table)

    def query(self, rows) -> np.ndarray:
        values = self.__oracle.query(rows)
        self.num_queries += int(np.asarray(rows).size)
        return values

    def column(self, name: str) -> np.ndarray:
        """A cost column; the report metric and the search metric (query it instead) are refused."""
        if name == self.__oracle.report_metric:
            raise PermissionError(
                f"Searchers may not read the report metric {name!r}; query the search metric "
                f"{self.search_metric!r} instead."
            )
        if name not in self.__oracle.cost_columns:
            raise ValueError(
                f"Column {name!r} is not visible to searchers; "
                f"allowed: {self.__oracle.cost_columns}."
            )
        return self.__oracle.table.column(name)

    def __getattr__(self, name):
        if "report" in name:
            raise PermissionError("Searchers may not read the report metric.")
        raise AttributeError(name)
