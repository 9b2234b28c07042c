"""k-means in JAX: k-means++ / linear / density / random initialisation and Lloyd iterations.

Everything is jittable and ``vmap``-able (many same-shaped layers at once: :func:`kmeans_batched`).
Lloyd iterations run in :func:`jax.lax.while_loop` until the squared centroid shift is at most
``tol · mean(var(x))`` (scikit-learn's relative tolerance) or ``max_iter`` is reached. Empty
clusters are repaired as in scikit-learn: each one takes the point farthest from its centroid.
Points may carry weights (k-means++ samples by ``w · D²``, centroids are weighted means, inertia is
weighted). The ``N × K`` distance matrix is never materialised.

Initialisations (TFMOT's ``CentroidInitialization`` names, extended to vectors):

- ``"kmeans++"``: greedy k-means++ (Arthur & Vassilvitskii 2007) with ``2 + ⌊ln K⌋`` local trials,
  as scikit-learn;
- ``"linear"``: ``K`` points evenly spaced on the segment between the per-dimension min and max;
- ``"density"``: per-dimension quantiles at ``(j + ½)/K`` (TFMOT's density-based init is the
  scalar case);
- ``"random"``: ``K`` distinct data points.

Example:
    >>> import jax, jax.numpy as jnp
    >>> x = jnp.array([[0.0], [0.1], [5.0], [5.2]])
    >>> res = kmeans(x, 2, key=jax.random.key(0))
    >>> sorted(round(float(c), 2) for c in res.centroids[:, 0])
    [0.05, 5.1]

References:
    Lloyd, "Least squares quantization in PCM", 1982; Arthur & Vassilvitskii, "k-means++", 2007.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

INITS = ("kmeans++", "linear", "density", "random")


class KMeansResult(NamedTuple):
    """Output of :func:`kmeans`.

    Attributes:
      centroids: ``(K, d)`` cluster centres.
      assignments: ``(N,)`` int32 index of each point's nearest centroid.
      inertia: weighted sum of squared distances to the assigned centroids.
      n_iter: Lloyd iterations run.
    """

    centroids: jax.Array
    assignments: jax.Array
    inertia: jax.Array
    n_iter: jax.Array


def check_kmeans_input(x: jax.Array, k: int, name: str = "kmeans") -> None:
    """Raises ValueError for a non-2-D ``x``, ``k`` outside ``1..N`` or NaN/inf points."""
    if x.ndim != 2:
        raise ValueError(f"{name}: points must be a 2-D (N, d) array; got shape {x.shape}.")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= x.shape[0]:
        raise ValueError(
            f"{name}: the number of clusters K must be an int in 1..N = {x.shape[0]} (the number "
            f"of rows); got K={k!r}."
        )
    if not isinstance(x, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError(f"{name}: points contain NaN or inf; k-means needs finite weights.")


def _assign(xt: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Nearest centroid (first on ties) and squared distance for every column of ``xt: (d, N)``.

    A loop over the K centroids with vector operations over the N points: XLA:CPU's row-wise
    ``argmin`` over an ``N × K`` matrix is several times slower than this streaming form, and the
    loop never holds more than a few length-N vectors.
    """
    c2 = jnp.sum(c * c, axis=1)
    d = xt.shape[0]

    def body(k, carry):
        m, idx = carry
        if d <= 8:
            dot = sum(c[k, j] * xt[j] for j in range(d))
        else:
            dot = c[k] @ xt
        dk = c2[k] - 2.0 * dot
        better = dk < m
        return jnp.where(better, dk, m), jnp.where(better, k, idx)

    n = xt.shape[1]
    init = (jnp.full((n,), jnp.inf, xt.dtype), jnp.zeros((n,), jnp.int32))
    m, idx = jax.lax.fori_loop(0, c.shape[0], body, init, unroll=min(4, c.shape[0]))
    return idx, jnp.maximum(m + jnp.sum(xt * xt, axis=0), 0.0)


def _update(x, w, idx, dmin, c_old):
    """Weighted means of the clusters; empty clusters take the farthest points (sklearn)."""
    k = c_old.shape[0]
    sums = jax.ops.segment_sum(x * w[:, None], idx, num_segments=k)
    counts = jax.ops.segment_sum(w, idx, num_segments=k)
    empty = counts <= 0
    c = sums / jnp.where(empty, 1.0, counts)[:, None]
    n_far = min(k, x.shape[0])
    far = jax.lax.top_k(jnp.where(w > 0, dmin, -1.0), n_far)[1]
    rank = jnp.clip(jnp.cumsum(empty) - 1, 0, n_far - 1)
    return jnp.where(empty[:, None], x[far[rank]], c)


def _init_kmeanspp(key, x, w, k):
    n = x.shape[0]
    trials = 2 + int(math.log(k))
    p0 = w / jnp.sum(w)
    key, sub = jax.random.split(key)
    first = jax.random.choice(sub, n, p=p0)
    c = jnp.zeros((k, x.shape[1]), x.dtype).at[0].set(x[first])
    d = jnp.sum((x - x[first]) ** 2, axis=1)

    def body(j, carry):
        c, d, key = carry
        key, sub = jax.random.split(key)
        pot = w * d
        cdf = jnp.cumsum(pot)
        u = jax.random.uniform(sub, (trials,)) * cdf[-1]
        cand = jnp.clip(jnp.searchsorted(cdf, u), 0, n - 1)
        dc = jnp.minimum(d[None, :], jnp.sum((x[None, :, :] - x[cand][:, None, :]) ** 2, axis=2))
        best = jnp.argmin(jnp.sum(w[None, :] * dc, axis=1))
        return c.at[j].set(x[cand[best]]), dc[best], key

    return jax.lax.fori_loop(1, k, body, (c, d, key))[0]


def init_centroids(
    x: jax.Array, k: int, *, key: jax.Array, init: str = "kmeans++", weights=None
) -> jax.Array:
    """Initial ``(K, d)`` centroids for :func:`kmeans` (see the module docstring for ``init``)."""
    x = jnp.asarray(x, jnp.float32)
    check_kmeans_input(x, k, "init_centroids")
    if init not in INITS:
        raise ValueError(f"Unknown k-means init {init!r}; allowed: {', '.join(INITS)}.")
    w = jnp.ones(x.shape[0], x.dtype) if weights is None else jnp.asarray(weights, x.dtype)
    return _init(x, w, key, k=k, init=init)


@functools.partial(jax.jit, static_argnames=("k", "init"))
def _init(x, w, key, *, k, init):
    if init == "kmeans++":
        return _init_kmeanspp(key, x, w, k)
    t = (jnp.arange(k, dtype=x.dtype) + 0.5) / k
    if init == "linear":
        lo, hi = jnp.min(x, axis=0), jnp.max(x, axis=0)
        return lo + (jnp.arange(k, dtype=x.dtype) / max(k - 1, 1))[:, None] * (hi - lo)
    if init == "density":
        return jnp.quantile(x, t, axis=0)
    p = w / jnp.sum(w)  # "random"
    return x[jax.random.choice(key, x.shape[0], (k,), replace=False, p=p)]


@functools.partial(jax.jit, static_argnames=("max_iter",))
def lloyd(x, weights, centroids, *, max_iter: int = 300, tol: float = 1e-4) -> KMeansResult:
    """Lloyd iterations from ``centroids`` (jitted; no validation: call :func:`kmeans`)."""
    x = x.astype(jnp.float32)
    xt = x.T
    w = weights.astype(jnp.float32)
    tol_abs = tol * jnp.mean(jnp.var(x, axis=0))

    def cond(carry):
        _, shift, it = carry
        return (it < max_iter) & (shift > tol_abs)

    def body(carry):
        c, _, it = carry
        idx, dmin = _assign(xt, c)
        c_new = _update(x, w, idx, dmin, c)
        return c_new, jnp.sum((c_new - c) ** 2), it + 1

    c, _, it = jax.lax.while_loop(cond, body, (centroids.astype(jnp.float32), jnp.inf, 0))
    idx, dmin = _assign(xt, c)
    return KMeansResult(c, idx, jnp.sum(w * dmin), it)


def kmeans(
    x: jax.typing.ArrayLike,
    k: int,
    *,
    key: jax.Array,
    init: str | jax.Array = "kmeans++",
    weights: jax.typing.ArrayLike | None = None,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> KMeansResult:
    """Weighted k-means of the rows of ``x``.

    Args:
      x: ``(N, d)`` points.
      k: number of clusters, ``1 <= k <= N``.
      key: PRNG key for the initialisation.
      init: ``"kmeans++"``, ``"linear"``, ``"density"``, ``"random"`` or a ``(K, d)`` array.
      weights: optional ``(N,)`` non-negative point weights (``0`` = ignored point).
      max_iter: maximum Lloyd iterations.
      tol: relative tolerance on the squared centroid shift (scikit-learn's definition).

    Returns:
      A :class:`KMeansResult`.

    Raises:
      ValueError: for ``k`` outside ``1..N``, NaN/inf points, a bad ``init`` or negative weights.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> res = kmeans(jnp.array([[0.0, 0.0], [0.0, 1.0], [9.0, 9.0]]), 2, key=jax.random.key(1))
        >>> float(res.inertia)
        0.5
    """
    x = jnp.asarray(x, jnp.float32)
    check_kmeans_input(x, k)
    if max_iter < 0 or tol < 0:
        raise ValueError(f"max_iter and tol must be non-negative; got {max_iter}, {tol}.")
    w = jnp.ones(x.shape[0], jnp.float32) if weights is None else jnp.asarray(weights, jnp.float32)
    if w.shape != (x.shape[0],):
        raise ValueError(f"weights must have shape ({x.shape[0]},); got {w.shape}.")
    if not isinstance(w, jax.core.Tracer) and bool(jnp.any(w < 0)):
        raise ValueError("k-means point weights must be non-negative.")
    if isinstance(init, str):
        c0 = init_centroids(x, k, key=key, init=init, weights=w)
    else:
        c0 = jnp.asarray(init, jnp.float32)
        if c0.shape != (k, x.shape[1]):
            raise ValueError(f"init centroids must have shape {(k, x.shape[1])}; got {c0.shape}.")
    return lloyd(x, w, c0, max_iter=max_iter, tol=tol)


def kmeans_batched(
    x: jax.typing.ArrayLike,
    k: int,
    *,
    key: jax.Array,
    init: str = "kmeans++",
    max_iter: int = 300,
    tol: float = 1e-4,
) -> KMeansResult:
    """k-means of ``B`` same-shaped point sets ``x: (B, N, d)`` at once (``vmap``, one program).

    Example:
        >>> import jax
        >>> x = jax.random.normal(jax.random.key(0), (3, 50, 2))
        >>> kmeans_batched(x, 4, key=jax.random.key(1)).centroids.shape
        (3, 4, 2)
    """
    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 3:
        raise ValueError(f"kmeans_batched needs (B, N, d) points; got shape {x.shape}.")
    for i in range(x.shape[0]):
        check_kmeans_input(x[i], k, f"kmeans_batched[{i}]")
    keys = jax.random.split(key, x.shape[0])
    w = jnp.ones(x.shape[:2], jnp.float32)

    @jax.vmap
    def one(xi, wi, ki):
        c0 = init_centroids(xi, k, key=ki, init=init, weights=wi)
        return lloyd(xi, wi, c0, max_iter=max_iter, tol=tol)

    return one(x, w, keys)
