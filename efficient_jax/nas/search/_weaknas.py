"""WeakNAS: progressive weak predictors (Wu et al., "Stronger NAS with Weaker Predictors",
NeurIPS 2021; Wu thesis Ch. 3, Eqs. 3.3-3.4). Official code: ``VITA-Group/WeakNAS``.

Each iteration fits a fresh predictor on all queried architectures, ranks the pool, and queries
``M`` architectures sampled from the predicted Top-N (uniform, linear-decay or exponential-decay
in rank). :class:`WeakNAS` is the ask/tell searcher for any predictor; :func:`weaknas_batched`
runs ``R`` independent runs in lock-step with the JAX MLP vmapped over runs (the fast path).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from efficient_jax.nas.predictors import MLPPredictor, mlp_fit, mlp_predict
from efficient_jax.nas.search._base import Pool, Searcher, rng_from

SAMPLINGS = ("uniform", "linear", "exp")
META_SAMPLERS = ("topn", "local", "ei")


def rank_weights(n: int, sampling: str) -> np.ndarray:
    """In-Top-N sampling weights by rank (0 = best). The thesis gives no decay law; we use
    linear ``N - r`` and exponential ``exp(-5 r / N)``."""
    r = np.arange(n, dtype=np.float64)
    if sampling == "uniform":
        w = np.ones(n)
    elif sampling == "linear":
        w = n - r
    elif sampling == "exp":
        w = np.exp(-5.0 * r / max(n, 1))
    else:
        raise ValueError(f"Unknown sampling {sampling!r}; valid: {SAMPLINGS}.")
    return w / w.sum()


def expected_improvement(mean, std, best, xi: float = 0.0):
    """EI for maximisation: ``(μ − f* − ξ)Φ(z) + σφ(z)``, ``z = (μ − f* − ξ)/σ``."""
    std = jnp.maximum(std, 1e-9)
    imp = mean - best - xi
    z = imp / std
    return imp * norm.cdf(z) + std * norm.pdf(z)


def _check(m0, m, top_n, sampling, meta):
    if m0 < 1 or m < 1 or top_n < m:
        raise ValueError(f"Need m0 >= 1, m >= 1 and top_n >= m; got m0={m0}, m={m}, top_n={top_n}.")
    if sampling not in SAMPLINGS:
        raise ValueError(f"Unknown sampling {sampling!r}; valid: {SAMPLINGS}.")
    if meta not in META_SAMPLERS:
        raise ValueError(f"Unknown meta sampler {meta!r}; valid: {META_SAMPLERS}.")


class WeakNAS(Searcher):
    """Ask/tell WeakNAS.

    Args:
      pool: the candidate pool.
      predictor: any ``fit/predict`` predictor (default: the thesis' 4×1000 JAX MLP).
      m0: initial uniform samples. m: queries per iteration. top_n: N of the Top-N.
      sampling: ``uniform`` | ``linear`` | ``exp`` law inside the Top-N.
      top_over_all: the official code's variant: take the Top-N over the whole pool, then drop
        queried rows (fewer than N candidates); False ranks only unqueried rows (thesis Eq. 3.3).
      meta: ``topn`` (default), ``local`` (predictor-guided hill climbing from Top-N members) or
        ``ei`` (ensemble of ``ensemble`` predictors → expected improvement; the BO variant).
      ensemble: members for ``meta='ei'``.

    Example:
        >>> import jax, numpy as np
        >>> from efficient_jax.nas.search import Pool, run_search
        >>> enc = np.eye(20, dtype=np.float32); vals = np.arange(20.0)
        >>> class View:
        ...     maximize = True
        ...     def query(self, rows): return vals[rows]
        >>> s = WeakNAS(Pool.from_encodings(enc), predictor=MLPPredictor((8,), epochs=5),
        ...             m0=5, m=2, top_n=4)
        >>> len(run_search(s, View(), budget=9, key=jax.random.key(0))["trace"])
        9
    """

    def __init__(
        self,
        pool: Pool,
        *,
        predictor=None,
        m0: int = 100,
        m: int = 10,
        top_n: int = 100,
        sampling: str = "uniform",
        top_over_all: bool = False,
        meta: str = "topn",
        ensemble: int = 5,
    ):
        super().__init__(pool)
        _check(m0, m, top_n, sampling, meta)
        self.predictor = predictor if predictor is not None else MLPPredictor()
        if meta == "ei" and isinstance(self.predictor, MLPPredictor):
            self.predictor = MLPPredictor(**{**self.predictor.__dict__, "ensemble": ensemble})
        self.m0, self.m, self.top_n = m0, m, top_n
        self.sampling, self.top_over_all, self.meta = sampling, top_over_all, meta
        self.last_prediction: np.ndarray | None = None

    def ask(self, key):
        rng = rng_from(key)
        if len(self.rows) < self.m0:
            return self._random_free(rng, self.m0 - len(self.rows))
        k_fit, _ = jax.random.split(key)
        state = self.predictor.fit(
            self.pool.encodings[self.rows], np.asarray(self.values), key=k_fit
        )
        mean, std = self.predictor.predict(state, self.pool.encodings)
        self.last_prediction = mean
        if self.meta == "ei":
            score = np.asarray(expected_improvement(mean, std, max(self.values)))
            score = np.where(self.pool.allowed & ~self.queried, score, -np.inf)
            return _top(score, self.m)
        cand = self._top_n(mean)
        if self.meta == "local":
            return self._local(mean, cand, rng)
        w = rank_weights(len(cand), self.sampling)
        return rng.choice(cand, size=min(self.m, len(cand)), replace=False, p=w)

    def _top_n(self, mean):
        if self.top_over_all:
            top = _top(np.where(self.pool.allowed, mean, -np.inf), self.top_n)
            return top[~self.queried[top]]
        return _top(np.where(self.pool.allowed & ~self.queried, mean, -np.inf), self.top_n)

    def _local(self, mean, cand, rng):
        out: list[int] = []
        starts = list(rng.permutation(cand))
        while len(out) < self.m and starts:
            cur = int(starts.pop())
            while True:
                if not self.queried[cur] and cur not in out:
                    out.append(cur)
                    if len(out) == self.m:
                        break
                nb = [v for v in self.pool.neighbors[cur] if v >= 0 and self.pool.allowed[v]]
                nxt = max(nb, key=lambda v: mean[v], default=cur)
                if mean[nxt] <= mean[cur]:
                    break
                cur = int(nxt)
        return np.array(out, np.int64)

    def state_dict(self):
        pred = self.last_prediction
        return {
            **super().state_dict(),
            "last_prediction": None if pred is None else np.asarray(pred).tolist(),
        }

    def load_state_dict(self, state):
        super().load_state_dict(state)
        pred = state["last_prediction"]
        self.last_prediction = None if pred is None else np.asarray(pred)
        return self

    def predicted_best(self) -> int:
        """Argmax of the last predictor over allowed rows (the thesis' returned architecture)."""
        if self.last_prediction is None:
            return self.best()[0]
        return int(np.argmax(np.where(self.pool.allowed, self.last_prediction, -np.inf)))


def _top(score: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest finite scores, best first; ties broken by lower index."""
    n = min(n, int(np.isfinite(score).sum()))
    order = np.lexsort((np.arange(len(score)), -score))
    return order[:n]


@functools.partial(jax.jit, static_argnames=("top_n", "m", "sampling"))
def _select_batched(key, preds, queried, allowed, *, top_n, m, sampling):
    """Per run: Top-N of unqueried predictions, then M of them without replacement."""
    score = jnp.where(queried | ~allowed[None], -jnp.inf, preds)
    _, top = jax.lax.top_k(score, top_n)  # ties: lower index first
    w = jnp.asarray(rank_weights(top_n, sampling), jnp.float32)

    def pick(k, t):
        return t[jax.random.choice(k, top_n, (m,), replace=False, p=w)]

    return jax.vmap(pick)(jax.random.split(key, preds.shape[0]), top)


def weaknas_batched(
    key: jax.Array,
    encodings: np.ndarray,
    values: np.ndarray,
    *,
    runs: int,
    budget: int,
    m0: int = 100,
    m: int = 10,
    top_n: int = 100,
    sampling: str = "uniform",
    predictor: MLPPredictor | None = None,
    allowed: np.ndarray | None = None,
    stop_rows: np.ndarray | None = None,
    min_queries: int = 0,
    pad_to: int = 64,
    callback=None,
) -> np.ndarray:
    """``runs`` independent WeakNAS runs in lock-step, the MLP fit/predict vmapped over runs.

    Args:
      key: PRNG key. encodings: ``(n, d)``. values: ``(n,)`` search metric (maximised).
      runs, budget: number of runs and queries per run.
      m0, m, top_n, sampling: as :class:`WeakNAS` (meta sampler ``topn``, thesis ranking of X \\ S).
      predictor: an :class:`MLPPredictor` (its ``ensemble`` is ignored).
      allowed: rows that may be queried. stop_rows: stop once every run has queried one of these
        and ``min_queries`` were made (samples-to-optimum); the rest of the trace is then -1.
      pad_to: training sets are padded to a multiple of this to bound recompilations.
      callback: optional ``f(num_queries)`` called after each iteration (progress bars).

    Returns:
      ``(runs, budget)`` int array: row ids in query order (-1 after an early stop).

    Example:
        >>> import jax, numpy as np
        >>> enc = np.eye(30, dtype=np.float32); vals = np.arange(30.0)
        >>> t = weaknas_batched(jax.random.key(0), enc, vals, runs=2, budget=12, m0=4, m=4,
        ...                     top_n=8, predictor=MLPPredictor((8,), epochs=5))
        >>> t.shape, len(set(t[0].tolist()))
        ((2, 12), 12)
    """
    _check(m0, m, top_n, sampling, "topn")
    pred = predictor if predictor is not None else MLPPredictor()
    enc = jnp.asarray(encodings, jnp.float32)
    vals = np.asarray(values, np.float32)
    n = len(vals)
    allowed = np.ones(n, bool) if allowed is None else np.asarray(allowed, bool)
    allowed &= np.isfinite(vals)
    if m0 > allowed.sum() or budget > allowed.sum():
        raise ValueError(f"m0={m0} and budget={budget} must not exceed {allowed.sum()} rows.")
    k_init, k_loop = jax.random.split(key)
    first = np.stack(
        [
            rng_from(k).choice(np.flatnonzero(allowed), m0, replace=False)
            for k in jax.random.split(k_init, runs)
        ]
    )
    trace = -np.ones((runs, budget), np.int64)
    first = first[:, :budget]
    trace[:, : first.shape[1]] = first
    count = first.shape[1]
    queried = np.zeros((runs, n), bool)
    queried[np.arange(runs)[:, None], first] = True
    fit = jax.vmap(functools.partial(mlp_fit, **pred._kwargs()))
    predict = jax.jit(jax.vmap(mlp_predict, in_axes=(0, 0, 0, None)))
    stop = None if stop_rows is None else np.asarray(stop_rows, np.int64).reshape(-1)
    it = 0
    while count < budget:
        if stop is not None and count >= min_queries and queried[:, stop].any(1).all():
            break
        size = math.ceil(count / pad_to) * pad_to
        idx = np.zeros((runs, size), np.int64)
        idx[:, :count] = trace[:, :count]
        mask = np.zeros((runs, size), bool)
        mask[:, :count] = True
        k_fit, k_sel = jax.random.split(jax.random.fold_in(k_loop, it))
        params, mu, sd = fit(
            jax.random.split(k_fit, runs), enc[idx], jnp.asarray(vals[idx]), jnp.asarray(mask)
        )
        preds = predict(params, mu, sd, enc)
        step = min(m, budget - count)
        new = np.asarray(
            _select_batched(
                k_sel,
                preds,
                jnp.asarray(queried),
                jnp.asarray(allowed),
                top_n=min(top_n, int(allowed.sum()) - count),
                m=step,
                sampling=sampling,
            )
        )
        trace[:, count : count + step] = new
        queried[np.arange(runs)[:, None], new] = True
        count += step
        it += 1
        if callback is not None:
            callback(count)
    return trace
