"""Bayesian optimisation over a pool: a GP with an RBF kernel on encodings + expected improvement.

Reference: Wang thesis Ch. 2 §1 (BO for NAS); Snoek et al. 2012.
"""

from __future__ import annotations

import numpy as np

from efficient_jax.nas.predictors import GPPredictor
from efficient_jax.nas.search._base import Pool, Searcher, rng_from
from efficient_jax.nas.search._weaknas import expected_improvement


class BayesOpt(Searcher):
    """GP-EI: ``n_init`` random rows, then the ``batch`` unqueried rows with the highest EI.

    Args:
      pool: candidate pool. predictor: any ``fit/predict`` predictor with a std (default
        :class:`GPPredictor`). n_init, batch: initial design and batch size. xi: EI margin.

    Example:
        >>> import jax, numpy as np
        >>> from efficient_jax.nas.search import Pool
        >>> s = BayesOpt(Pool.from_encodings(np.eye(8, dtype=np.float32)), n_init=2)
        >>> rows = s.ask(jax.random.key(0)); s.tell(rows, [0.0, 1.0])
        >>> len(s.ask(jax.random.key(1)))
        1
    """

    def __init__(
        self, pool: Pool, *, predictor=None, n_init: int = 10, batch: int = 1, xi: float = 0.0
    ):
        super().__init__(pool)
        if n_init < 1 or batch < 1:
            raise ValueError(f"Need n_init >= 1 and batch >= 1; got {n_init}, {batch}.")
        self.predictor = predictor if predictor is not None else GPPredictor()
        self.n_init, self.batch, self.xi = n_init, batch, xi

    def ask(self, key):
        if len(self.rows) < self.n_init:
            return self._random_free(rng_from(key), self.n_init - len(self.rows))
        state = self.predictor.fit(self.pool.encodings[self.rows], np.asarray(self.values), key=key)
        free = self._free()
        mean, std = self.predictor.predict(state, self.pool.encodings)  # fixed shape: one jit
        ei = np.asarray(expected_improvement(mean, std, max(self.values), self.xi))[free]
        order = np.lexsort((free, -ei))
        return free[order[: self.batch]]
