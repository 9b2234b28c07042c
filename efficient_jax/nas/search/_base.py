"""The ask/tell protocol over a finite pool of architectures, and three classic searchers.

A :class:`Pool` holds the encodings of every candidate row of a benchmark table and a neighbour
table; searchers propose *row ids* (``ask(key) -> rows``), receive the search metric of the rows
that were queried (``tell(rows, values)``; larger is better) and return their answer with
``best() -> (row, score)``. :func:`run_search` drives one searcher against a
:class:`~efficient_jax.nas.benchmarks.SearchView` for a query budget.

References: Real et al. 2019 (regularized evolution); White et al. 2021 (local search).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

from efficient_jax.nas.spaces import nb201_neighbor_table


def rng_from(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded from a JAX key (host-side sampling without global state)."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())


@dataclasses.dataclass(frozen=True, eq=False)
class Pool:
    """Candidate rows: ``encodings (n, d)``, ``neighbors (n, k)`` row ids (-1 = none), ``allowed``.

    Example:
        >>> import numpy as np
        >>> pool = Pool.from_encodings(np.eye(4, dtype=np.float32), k=2)
        >>> len(pool), pool.neighbors.shape
        (4, (4, 2))
    """

    encodings: np.ndarray
    neighbors: np.ndarray
    allowed: np.ndarray

    def __len__(self) -> int:
        return len(self.encodings)

    @classmethod
    def from_encodings(
        cls, encodings: np.ndarray, *, k: int = 10, neighbors: np.ndarray | None = None
    ) -> Pool:
        """Neighbours default to the ``k`` rows nearest in L1 distance of the encodings."""
        enc = np.asarray(encodings, np.float32)
        if enc.ndim != 2 or len(enc) < 2:
            raise ValueError(f"encodings must be (n >= 2, d), got shape {enc.shape}.")
        if neighbors is None:
            dist = np.abs(enc[:, None] - enc[None]).sum(-1)
            np.fill_diagonal(dist, np.inf)
            neighbors = np.argsort(dist, axis=1, kind="stable")[:, : min(k, len(enc) - 1)]
        return cls(enc, np.asarray(neighbors, np.int64), np.ones(len(enc), bool))

    @classmethod
    def from_nb201_ordinals(cls, ordinals: np.ndarray, encodings: np.ndarray) -> Pool:
        """A pool over NB201 rows; neighbours (one op changed) are mapped from ordinals to rows."""
        ordinals = np.asarray(ordinals, np.int64)
        row_of = -np.ones(5**6, np.int64)
        row_of[ordinals] = np.arange(len(ordinals))
        return cls.from_encodings(encodings, neighbors=row_of[nb201_neighbor_table()[ordinals]])

    def constrain(self, costs: np.ndarray, budget: float) -> Pool:
        """Only rows with ``cost <= budget`` may be proposed (NaN cost = not allowed)."""
        costs = np.asarray(costs, np.float64)
        if costs.shape != (len(self),):
            raise ValueError(f"costs must have shape ({len(self)},), got {costs.shape}.")
        allowed = self.allowed & (np.nan_to_num(costs, nan=np.inf) <= budget)
        if not allowed.any():
            raise ValueError(f"No architecture satisfies cost <= {budget}.")
        return dataclasses.replace(self, allowed=allowed)

    def restrict(self, mask: np.ndarray) -> Pool:
        """Only rows where ``mask`` is True may be proposed (e.g. rows with a search value)."""
        allowed = self.allowed & np.asarray(mask, bool)
        if not allowed.any():
            raise ValueError("restrict() left no allowed architecture.")
        return dataclasses.replace(self, allowed=allowed)

    def neighborhood(self, row: int, distance: int = 1) -> np.ndarray:
        """Rows within ``distance`` neighbour hops of ``row``, including ``row`` itself."""
        seen, frontier = {int(row)}, [int(row)]
        for _ in range(distance):
            nxt = []
            for r in frontier:
                for v in self.neighbors[r]:
                    if v >= 0 and int(v) not in seen:
                        seen.add(int(v))
                        nxt.append(int(v))
            frontier = nxt
        return np.array(sorted(seen), np.int64)


class Searcher:
    """Base of the ask/tell searchers: remembers told rows/values; ``best()`` is the best told.

    Resume: :meth:`state_dict` is what a searcher remembers, as JSON-compatible values, and
    :meth:`load_state_dict` restores it into a fresh searcher built with the same pool and options;
    asked with the same keys, it then proposes what the uninterrupted searcher would have.

    Example:
        >>> import jax, numpy as np
        >>> pool = Pool.from_encodings(np.eye(6, dtype=np.float32))
        >>> s = RandomSearch(pool)
        >>> s.tell(s.ask(jax.random.key(0)), [1.0])
        >>> t = RandomSearch(pool).load_state_dict(s.state_dict())
        >>> t.rows == s.rows and bool((t.ask(jax.random.key(1)) == s.ask(jax.random.key(1))).all())
        True
    """

    def __init__(self, pool: Pool):
        self.pool = pool
        self.rows: list[int] = []
        self.values: list[float] = []
        self.queried = np.zeros(len(pool), bool)

    def state_dict(self) -> dict:
        """The told history plus what ``ask`` remembers (subclasses add it), JSON-compatible."""
        return {
            "searcher": type(self).__name__,
            "rows": list(self.rows),
            "values": list(self.values),
        }

    def load_state_dict(self, state: dict) -> Searcher:
        """Restores :meth:`state_dict` into this fresh searcher and returns it.

        The told history is replayed through :meth:`tell`, which rebuilds everything derived from
        it; subclasses then restore what ``ask`` remembers.

        Raises:
          ValueError: if this searcher was already told something, or ``state`` is from another
            searcher class or does not fit the pool.
        """
        if self.rows:
            raise ValueError(f"load_state_dict needs a fresh searcher; {len(self.rows)} rows told.")
        if state.get("searcher") != type(self).__name__:
            raise ValueError(
                f"State of searcher {state.get('searcher')!r} given to {type(self).__name__}."
            )
        rows = np.asarray(state["rows"], np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self.pool)):
            raise ValueError(f"State rows must lie in [0, {len(self.pool)}) for this pool.")
        if rows.size:
            self.tell(rows, state["values"])
        return self

    def ask(self, key: jax.Array) -> np.ndarray:
        raise NotImplementedError

    def tell(self, rows: Sequence[int], values: Sequence[float]) -> None:
        rows = np.asarray(rows, np.int64).reshape(-1)
        values = np.asarray(values, np.float64).reshape(-1)
        if rows.shape != values.shape:
            raise ValueError(f"tell needs one value per row; got {rows.shape} and {values.shape}.")
        self.rows.extend(rows.tolist())
        self.values.extend(values.tolist())
        self.queried[rows] = True

    def best(self) -> tuple[int, float]:
        if not self.rows:
            raise ValueError("best() before any tell().")
        i = int(np.argmax(self.values))
        return self.rows[i], self.values[i]

    def _free(self) -> np.ndarray:
        return np.flatnonzero(self.pool.allowed & ~self.queried)

    def _random_free(self, rng: np.random.Generator, n: int) -> np.ndarray:
        free = self._free()
        return rng.choice(free, size=min(n, len(free)), replace=False) if len(free) else free


class RandomSearch(Searcher):
    """Uniform sampling without replacement, ``batch`` rows per ask."""

    def __init__(self, pool: Pool, *, batch: int = 1):
        super().__init__(pool)
        self.batch = batch

    def ask(self, key):
        return self._random_free(rng_from(key), self.batch)


class RegularizedEvolution(Searcher):
    """Aging evolution (Real et al. 2019): tournament of ``sample`` from a ``population`` queue,
    mutate the winner to a random unqueried neighbour, drop the oldest member."""

    def __init__(self, pool: Pool, *, population: int = 10, sample: int = 3):
        super().__init__(pool)
        if not 1 <= sample <= population:
            raise ValueError(f"Need 1 <= sample <= population, got {sample}, {population}.")
        self.population, self.sample = population, sample
        self._pop: list[tuple[int, float]] = []

    def ask(self, key):
        rng = rng_from(key)
        if len(self._pop) < self.population:
            return self._random_free(rng, 1)
        idx = rng.choice(len(self._pop), self.sample, replace=False)
        parent = max((self._pop[i] for i in idx), key=lambda rv: rv[1])[0]
        nbrs = [v for v in rng.permutation(self.pool.neighbors[parent]) if v >= 0]
        for v in nbrs:
            if self.pool.allowed[v] and not self.queried[v]:
                return np.array([v])
        return self._random_free(rng, 1)

    def tell(self, rows, values):
        super().tell(rows, values)
        for r, v in zip(np.asarray(rows).reshape(-1), np.asarray(values).reshape(-1)):
            self._pop.append((int(r), float(v)))
        self._pop = self._pop[-self.population :]


class LocalSearch(Searcher):
    """Best-improvement hill climbing with random restarts (White et al. 2021)."""

    def __init__(self, pool: Pool):
        super().__init__(pool)
        self._center: int | None = None
        self._value = {}

    def ask(self, key):
        rng = rng_from(key)
        while True:
            if self._center is None:
                out = self._random_free(rng, 1)
                if len(out):
                    self._center = int(out[0])
                return out
            nbrs = [v for v in self.pool.neighbors[self._center] if v >= 0 and self.pool.allowed[v]]
            new = [v for v in nbrs if not self.queried[v]]
            if new:
                return np.array(new)
            best = max(nbrs, key=lambda v: self._value.get(v, -np.inf), default=None)
            if best is not None and self._value[best] > self._value.get(self._center, -np.inf):
                self._center = int(best)
            else:
                self._center = None

    def tell(self, rows, values):
        super().tell(rows, values)
        self._value.update(zip(np.asarray(rows).reshape(-1).tolist(), np.ravel(values).tolist()))

    def state_dict(self):
        return {**super().state_dict(), "center": self._center}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self._center = state["center"]
        return self


def run_search(
    searcher: Searcher,
    view,
    *,
    budget: int,
    key: jax.Array,
    stop_rows: Sequence[int] | None = None,
    min_queries: int = 0,
    record_at: Sequence[int] = (),
) -> dict:
    """Runs ``searcher`` against ``view`` for ``budget`` unique queries.

    With ``stop_rows`` it stops early once one of them is queried and at least ``min_queries``
    were made (samples-to-optimum experiments).

    Values are negated for minimisation so that searchers always maximise.

    Returns:
      ``{"trace": rows in query order, "returned": {budget: best()[0] at that budget}}``.
    """
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}.")
    sign = 1.0 if getattr(view, "maximize", True) else -1.0
    trace: list[int] = []
    seen = np.zeros(len(searcher.pool), bool)
    returned, marks = {}, sorted(set(int(b) for b in record_at))
    empty = 0
    step = 0
    while len(trace) < budget:
        rows = np.asarray(searcher.ask(jax.random.fold_in(key, step)), np.int64).reshape(-1)
        step += 1
        rows = rows[~seen[rows]] if rows.size else rows
        rows = _dedupe(rows)
        rows = rows[: budget - len(trace)]
        if rows.size == 0:
            empty += 1
            if empty > 100 or not (searcher.pool.allowed & ~seen).any():
                break
            continue
        searcher.tell(rows, sign * view.query(rows))
        seen[rows] = True
        trace.extend(rows.tolist())
        while marks and len(trace) >= marks[0]:
            returned[marks.pop(0)] = searcher.best()[0]
        if stop_rows is not None and len(trace) >= min_queries and seen[list(stop_rows)].any():
            break
    return {"trace": np.array(trace, np.int64), "returned": returned}


def _dedupe(rows: np.ndarray) -> np.ndarray:
    _, first = np.unique(rows, return_index=True)
    return rows[np.sort(first)]


def pareto_front(values: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Rows not dominated when maximising ``values`` and minimising ``costs``, by increasing cost.

    Example:
        >>> pareto_front(np.array([1., 2., 1.5, 3.]), np.array([1., 2., 3., 4.])).tolist()
        [0, 1, 3]
    """
    values, costs = np.asarray(values, np.float64), np.asarray(costs, np.float64)
    order = np.lexsort((-values, costs))
    front, best = [], -np.inf
    for i in order:
        if values[i] > best:
            front.append(int(i))
            best = values[i]
    return np.array(front, np.int64)
