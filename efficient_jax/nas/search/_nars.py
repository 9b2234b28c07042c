"""Neighbourhood-aware random search, NA-RS (Wang thesis Ch. 3, Algorithm 2).

Each step samples a reference architecture α uniformly, evaluates it and ``n_nbr - 1`` distinct
architectures drawn uniformly from its distance-``d`` neighbourhood, and keeps the α whose
aggregated neighbourhood score ``g(f(N(α)))`` is best (flat minima in architecture space).
"""

from __future__ import annotations

import numpy as np

from efficient_jax.nas.search._base import Pool, Searcher, rng_from

AGGREGATIONS = ("mean", "median", "max", "min", "variance")


def aggregate(values: np.ndarray, how: str, *, lam: float = 1.0) -> float:
    """g over a neighbourhood's values (maximised). ``variance`` is ``f(α) − λ·σ`` with α first.

    (The thesis minimises errors with ``max`` as the pessimistic criterion; for accuracies that is
    ``min``.)
    """
    values = np.asarray(values, np.float64)
    if how == "mean":
        return float(values.mean())
    if how == "median":
        return float(np.median(values))
    if how == "max":
        return float(values.max())
    if how == "min":
        return float(values.min())
    if how == "variance":
        return float(values[0] - lam * values.std())
    raise ValueError(f"Unknown aggregation {how!r}; valid: {AGGREGATIONS}.")


class NARS(Searcher):
    """NA-RS searcher. ``best()`` returns the reference α with the best aggregated score.

    Args:
      pool: candidate pool. n_nbr: architectures evaluated per step (α included; default 10).
      distance: neighbourhood radius d (default 1). aggregation: g (default ``mean``).

    Example:
        >>> import jax, numpy as np
        >>> from efficient_jax.nas.search import Pool
        >>> s = NARS(Pool.from_encodings(np.eye(12, dtype=np.float32), k=4), n_nbr=3)
        >>> rows = s.ask(jax.random.key(0)); s.tell(rows, np.ones(len(rows)))
        >>> s.best()[1]
        1.0
    """

    def __init__(
        self, pool: Pool, *, n_nbr: int = 10, distance: int = 1, aggregation: str = "mean"
    ):
        super().__init__(pool)
        if n_nbr < 1 or distance < 0:
            raise ValueError(f"Need n_nbr >= 1 and distance >= 0; got {n_nbr}, {distance}.")
        aggregate(np.zeros(1), aggregation)
        self.n_nbr, self.distance, self.aggregation = n_nbr, distance, aggregation
        self._cache: dict[int, float] = {}
        self._pending: np.ndarray | None = None
        self._best: tuple[int, float] | None = None

    def ask(self, key):
        rng = rng_from(key)
        free = np.flatnonzero(self.pool.allowed)
        alpha = int(rng.choice(free))
        nbh = self.pool.neighborhood(alpha, self.distance)
        nbh = nbh[(nbh != alpha) & self.pool.allowed[nbh]]
        others = rng.choice(nbh, size=min(self.n_nbr - 1, len(nbh)), replace=False)
        group = np.concatenate([[alpha], others]).astype(np.int64)
        self._pending = group
        known = np.array([int(r) in self._cache for r in group])
        if known.all():
            self._score(group)
        return group[~known]

    def tell(self, rows, values):
        super().tell(rows, values)
        self._cache.update(zip(np.ravel(rows).tolist(), np.ravel(values).tolist()))
        if self._pending is not None and all(int(r) in self._cache for r in self._pending):
            self._score(self._pending)

    def state_dict(self):
        pending = None if self._pending is None else self._pending.tolist()
        best = None if self._best is None else list(self._best)
        return {**super().state_dict(), "pending": pending, "best": best}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        pending, best = state["pending"], state["best"]
        self._pending = None if pending is None else np.asarray(pending, np.int64)
        self._best = None if best is None else (int(best[0]), float(best[1]))
        return self

    def _score(self, group):
        g = aggregate([self._cache[int(r)] for r in group], self.aggregation)
        if self._best is None or g > self._best[1]:
            self._best = (int(group[0]), g)
        self._pending = None

    def best(self):
        if self._best is None:
            return super().best()
        return self._best
