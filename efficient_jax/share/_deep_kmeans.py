"""Deep k-Means: a k-means regulariser during re-training, then row-wise weight sharing.

Re-training objective for every shared conv layer (Wu et al. 2018, eq. 2.4), with ``W`` the
``s × N`` matrix of the layer's rows and ``F`` a normalised cluster indicator (``FᵀF = I``)::

    E(W) + (λ/2) [Tr(WᵀW) − Tr(Fᵀ WᵀW F)],    gradient  ∇E(W) + λ W (I − F Fᵀ)

``F`` is updated lazily (every ``update_every`` steps; the thesis: every 5 epochs) and held fixed
in between. Two modes:

- ``"hard_kmeans"`` (default): ``F`` is the hard indicator of a k-means assignment. The penalty is
  then exactly the within-cluster SSE ``Σ_i ‖w_i − μ_c(i)‖²`` about the current cluster means
  (``W F Fᵀ`` = the matrix of assigned means) and the gradient is ``λ (W − assigned means)``.
- ``"spectral_svd"``: the thesis' relaxation, ``F`` = the top-K right singular vectors of ``W``.
  Since ``rank(W) ≤ s``, the penalty and its gradient are identically zero for ``K ≥ s`` (every
  practical K for 3×3 rows); a warning says so. Kept for fidelity.

The regulariser is an optax wrapper, :func:`deep_kmeans`, with the assignments (or singular
vectors) in its state, so they checkpoint and shard with ``opt_state``. The penalty is added to the
gradients *before* the inner optimizer (the same as adding it to the loss). After re-training,
:func:`share_params` runs k-means once per layer and replaces the kernels by :class:`Codebook` s;
"WR" (without re-training) is :func:`share_params` applied to the original weights.

Layouts (see :mod:`efficient_jax.share._codebook`): ``"row"`` (the thesis; also ``"filter"``,
``"kernel"``) for 4-D conv kernels, ``"scalar"`` (per-weight, TFMOT ``cluster_weights``) for
kernels of any shape. Every function here takes ``layout=``.

Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> params = {"conv": {"kernel": jax.random.normal(jax.random.key(0), (3, 3, 4, 8))}}
    >>> tx = deep_kmeans(optax.sgd(0.1), [(r"kernel$", 8)], key=jax.random.key(1))
    >>> state = tx.init(params)
    >>> updates, state = tx.update(jax.tree.map(jnp.zeros_like, params), state, params)
    >>> shared = share_params(params, [(r"kernel$", 8)], key=jax.random.key(2))
    >>> shared["conv"]["kernel"].k
    8

References:
    Wu, Wang, Gong & Wang, "Deep k-Means: Re-Training and Parameter Sharing with Harder Cluster
    Assignments for Compressing Deep Convolutions", ICML 2018.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from efficient_jax.core import path_strings
from efficient_jax.share._clusters import (  # noqa: F401 (Clusters etc.: used by _compressors)
    Clusters,
    clusters_for_ratio,
    layer_ratio,
    resolve_clusters,
)
from efficient_jax.share._codebook import (
    Codebook,
    check_layout,
    cluster_rows,
    kernel_from_rows,
    num_rows,
    rows_from_kernel,
)
from efficient_jax.share._kmeans import kmeans_batched, lloyd
from efficient_jax.types import Params, PyTree

MODES = ("hard_kmeans", "spectral_svd")


# ----------------------------------------------------------------------------- penalties


def kmeans_penalty(
    rows: jax.Array, assignments: jax.Array, k: int, zero_cluster: bool = False
) -> jax.Array:
    """``‖W‖² − ‖W F‖²`` for the hard indicator ``F`` of ``assignments`` = within-cluster SSE.

    The cluster means are those of the current ``rows``; with ``zero_cluster`` cluster 0's centre
    is held at zero (the sparsity-promoting variant).
    """
    means = _cluster_means(rows, assignments, k, zero_cluster)
    return jnp.sum((rows - means[assignments]) ** 2)


def _cluster_means(rows, assignments, k, zero_cluster):
    sums = jax.ops.segment_sum(rows, assignments, num_segments=k)
    counts = jax.ops.segment_sum(jnp.ones(rows.shape[0], rows.dtype), assignments, num_segments=k)
    means = sums / jnp.maximum(counts, 1.0)[:, None]
    return means.at[0].set(0.0) if zero_cluster else means


def spectral_basis(rows: jax.Array, k: int) -> jax.Array:
    """``F``: the top-``min(K, s)`` right singular vectors of ``W = rowsᵀ``, an ``(N, r)`` array."""
    u, _, _ = jnp.linalg.svd(rows, full_matrices=False)
    return jax.lax.stop_gradient(u[:, : min(k, rows.shape[1])])


def spectral_penalty(rows: jax.Array, basis: jax.Array) -> jax.Array:
    """``Tr(WᵀW) − Tr(Fᵀ WᵀW F)`` (thesis eq. 2.4); zero whenever ``F`` spans W's row space."""
    return jnp.sum(rows * rows) - jnp.sum((basis.T @ rows) ** 2)


# ----------------------------------------------------------------------------- optax wrapper


class DeepKMeansState(NamedTuple):
    """State of :func:`deep_kmeans`.

    Attributes:
      inner: the wrapped optimizer's state.
      count: update steps so far.
      assignments: per shared leaf, ``(N,)`` int32 cluster of each row (``None`` elsewhere).
      centroids: per shared leaf, ``(K, s)`` centroids of the last lazy update.
      basis: per shared leaf, the ``(N, r)`` singular vectors (``spectral_svd``), else ``None``.
    """

    inner: optax.OptState
    count: jax.Array
    assignments: PyTree
    centroids: PyTree
    basis: PyTree


def _leaf_k(params: Params, counts: dict[str, int]) -> PyTree:
    paths = path_strings(params)
    return jax.tree.unflatten(jax.tree.structure(params), [counts.get(p) for p in paths])


def deep_kmeans(
    inner: optax.GradientTransformation,
    clusters: Clusters,
    *,
    key: jax.Array,
    strength: float = 1e-4,
    mode: str = "hard_kmeans",
    update_every: int = 100,
    layout: str = "row",
    zero_fraction: float = 0.0,
    kmeans_iters: int = 30,
) -> optax.GradientTransformation:
    """Wraps ``inner`` so that the Deep k-Means regulariser's gradient is added to the updates.

    Args:
      inner: any optax transformation (the thesis uses SGD).
      clusters: which kernels and how many clusters (see :func:`resolve_clusters`).
      key: PRNG key of the initial k-means (k-means++).
      strength: λ (thesis default 1e-4; "1e-4 to 1e-3 work almost equally well").
      mode: ``"hard_kmeans"`` or ``"spectral_svd"`` (see the module docstring).
      update_every: steps between lazy updates of F (the thesis: 5 epochs).
      layout: ``"row"`` (default), ``"filter"``, ``"kernel"`` or ``"scalar"`` (per-weight; the
        penalty then pulls every weight towards its cluster's mean).
      zero_fraction: sparsity-promoting variant: the ``⌊p·N⌋`` smallest-norm rows are pulled to 0.
      kmeans_iters: Lloyd iterations of each lazy update (warm-started from the last centroids).

    Raises:
      ValueError: for an unknown mode, ``strength < 0``, ``update_every < 1`` or bad clusters
        (checked at ``init``).
    """
    check_layout(layout)
    if mode not in MODES:
        raise ValueError(f"Unknown Deep k-Means mode {mode!r}; allowed: {', '.join(MODES)}.")
    if strength < 0 or update_every < 1:
        raise ValueError(
            f"strength must be >= 0 and update_every >= 1; got {strength}, {update_every}."
        )
    zero = zero_fraction > 0

    def refresh(rows, k, old_centroids):
        if mode == "spectral_svd":
            return None, None, spectral_basis(rows, k)
        n = rows.shape[0]
        w = jnp.ones(n, jnp.float32)
        if zero:
            norms = jnp.sum(rows * rows, axis=1)
            w = w.at[jnp.argsort(norms)[: int(zero_fraction * n)]].set(0.0)
            res = lloyd(rows, w, old_centroids[1:], max_iter=kmeans_iters, tol=0.0)
            idx = jnp.where(w > 0, res.assignments + 1, 0).astype(jnp.int32)
            return idx, jnp.concatenate([jnp.zeros_like(old_centroids[:1]), res.centroids]), None
        res = lloyd(rows, w, old_centroids, max_iter=kmeans_iters, tol=0.0)
        return res.assignments, res.centroids, None

    def init_fn(params):
        counts = resolve_clusters(params, clusters, layout)
        ks = _leaf_k(params, counts)
        if mode == "spectral_svd":
            for path, k in counts.items():
                leaf = dict(zip(path_strings(params), jax.tree.leaves(params), strict=True))[path]
                s = num_rows(tuple(leaf.shape), layout)[1]
                if k >= s:
                    warnings.warn(
                        f"spectral_svd Deep k-Means penalty of {path!r} is identically zero: "
                        f"K={k} >= s={s} >= rank(W). Use mode='hard_kmeans'.",
                        stacklevel=2,
                    )
        leaves_p, treedef = jax.tree.flatten(params)
        leaves_k = treedef.flatten_up_to(ks)
        keys = jax.random.split(key, len(leaves_p))
        a, c, b = [], [], []
        for leaf, k, sub in zip(leaves_p, leaves_k, keys, strict=True):
            if k is None:
                a.append(None), c.append(None), b.append(None)
                continue
            rows = rows_from_kernel(leaf, layout)
            if mode == "spectral_svd":
                a.append(None), c.append(None), b.append(spectral_basis(rows, k))
                continue
            idx, cent = cluster_rows(rows, k, key=sub, zero_fraction=zero_fraction, max_iter=50)
            a.append(idx), c.append(cent), b.append(None)
        unflat = lambda xs: jax.tree.unflatten(treedef, xs)  # noqa: E731
        return DeepKMeansState(
            inner.init(params), jnp.zeros([], jnp.int32), unflat(a), unflat(c), unflat(b)
        )

    def leaf_regulariser(rows, a, c, b, do_refresh):
        """New (assignments, centroids, basis) and ``W − W F Fᵀ`` for one layer's rows."""
        if mode == "spectral_svd":
            r = b.shape[1]
            b = jax.lax.cond(do_refresh, lambda x, b: spectral_basis(x, r), lambda x, b: b, rows, b)
            return a, c, b, rows - b @ (b.T @ rows)
        k = c.shape[0]
        a, c = jax.lax.cond(
            do_refresh, lambda x, a, c: refresh(x, k, c)[:2], lambda x, a, c: (a, c), rows, a, c
        )
        return a, c, b, rows - _cluster_means(rows, a, k, zero)[a]

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("deep_kmeans needs params: call tx.update(grads, state, params).")
        do_refresh = (state.count > 0) & (state.count % update_every == 0)
        leaves_p, treedef = jax.tree.flatten(params)
        flat = lambda t: treedef.flatten_up_to(t)  # noqa: E731
        new_u, new_a, new_c, new_b = [], [], [], []
        for g, p, a, c, b in zip(
            flat(updates),
            leaves_p,
            flat(state.assignments),
            flat(state.centroids),
            flat(state.basis),
            strict=True,
        ):
            if a is None and b is None:
                new_u.append(g), new_a.append(a), new_c.append(c), new_b.append(b)
                continue
            rows = jax.lax.stop_gradient(rows_from_kernel(p, layout))
            a, c, b, reg = leaf_regulariser(rows, a, c, b, do_refresh)
            g = g + strength * kernel_from_rows(reg, p.shape, layout).astype(g.dtype)
            new_u.append(g), new_a.append(a), new_c.append(c), new_b.append(b)
        unflat = lambda xs: jax.tree.unflatten(treedef, xs)  # noqa: E731
        out, inner_state = inner.update(unflat(new_u), state.inner, params)
        return out, DeepKMeansState(
            inner_state, state.count + 1, unflat(new_a), unflat(new_c), unflat(new_b)
        )

    return optax.GradientTransformation(init_fn, update_fn)


def deep_kmeans_penalty(
    params: Params, state: DeepKMeansState, layout: str = "row", zero_cluster: bool = False
) -> jax.Array:
    """The summed penalty ``Σ_l [Tr(WᵀW) − Tr(FᵀWᵀWF)]`` of ``state`` (multiply by λ/2 yourself).

    ``zero_cluster``: the state comes from the sparsity-promoting variant (``zero_fraction > 0``).
    """
    total = jnp.zeros([], jnp.float32)
    treedef = jax.tree.structure(params)
    for p, a, c, b in zip(
        jax.tree.leaves(params),
        treedef.flatten_up_to(state.assignments),
        treedef.flatten_up_to(state.centroids),
        treedef.flatten_up_to(state.basis),
        strict=True,
    ):
        if b is not None:
            total += spectral_penalty(rows_from_kernel(p, layout), b)
        elif a is not None:
            total += kmeans_penalty(rows_from_kernel(p, layout), a, c.shape[0], zero_cluster)
    return total


# ----------------------------------------------------------------------------- final sharing


def share_params(
    params: Params,
    clusters: Clusters,
    *,
    key: jax.Array,
    layout: str = "row",
    init: str = "kmeans++",
    max_iter: int = 300,
    zero_fraction: float = 0.0,
    batched: bool = False,
) -> PyTree:
    """Replaces each selected kernel by a :class:`Codebook` (k-means of its rows or weights).

    ``layout="row"`` (default; also ``"filter"``, ``"kernel"``) clusters the rows of 4-D conv
    kernels (Deep k-Means); ``layout="scalar"`` clusters every weight of a kernel of any shape
    (TFMOT ``cluster_weights``), so ``K`` is the number of distinct values per layer.

    Layer ``i`` (in flatten order) uses ``jax.random.fold_in(key, i)``. With ``batched=True``
    layers of equal shape and K are clustered together in one ``vmap``-ed program
    (:func:`kmeans_batched`, keyed by ``fold_in(key, i)`` of the group's first layer): one
    compilation per group instead of per layer; results differ from the unbatched ones only
    through the keys.

    Raises:
      ValueError: see :func:`resolve_clusters` and :meth:`Codebook.share`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> params = {"fc": {"kernel": jax.random.normal(jax.random.key(0), (32, 8))}}
        >>> tree = share_params(params, [(r"kernel$", 4)], key=jax.random.key(1), layout="scalar")
        >>> int(jnp.unique(expand_params(tree)["fc"]["kernel"]).size)
        4
    """
    counts = resolve_clusters(params, clusters, layout)
    paths = path_strings(params)
    out = list(jax.tree.leaves(params))
    groups: dict[tuple, list[int]] = {}
    for i, path in enumerate(paths):
        if path in counts:
            shape = tuple(out[i].shape)
            group = (shape, counts[path]) if batched and zero_fraction == 0 else (i,)
            groups.setdefault(group, []).append(i)
    for members in groups.values():
        k = counts[paths[members[0]]]
        sub = jax.random.fold_in(key, members[0])
        if len(members) == 1:
            out[members[0]] = Codebook.share(
                out[members[0]],
                k,
                key=sub,
                layout=layout,
                init=init,
                max_iter=max_iter,
                zero_fraction=zero_fraction,
            )
            continue
        rows = jnp.stack([rows_from_kernel(out[i], layout) for i in members])
        res = kmeans_batched(rows, k, key=sub, init=init, max_iter=max_iter)
        for j, i in enumerate(members):
            out[i] = Codebook(
                res.assignments[j], res.centroids[j].astype(rows.dtype), out[i].shape, layout
            )
    return jax.tree.unflatten(jax.tree.structure(params), out)


def expand_params(tree: PyTree) -> Params:
    """Replaces every :class:`Codebook` leaf by its shared kernel (plain arrays again)."""
    return jax.tree.map(
        lambda x: x.expand() if isinstance(x, Codebook) else x,
        tree,
        is_leaf=lambda x: isinstance(x, Codebook),
    )


def unique_weights(tree: PyTree) -> dict[str, int]:
    """``{kernel path: number of stored weights}`` (``K·s`` for a codebook, else its size)."""
    paths = path_strings(jax.tree.map(lambda _: 0, tree, is_leaf=lambda x: isinstance(x, Codebook)))
    leaves = jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, Codebook))
    return {
        p: (int(x.centroids.size) if isinstance(x, Codebook) else math.prod(x.shape))
        for p, x in zip(paths, leaves, strict=True)
    }
