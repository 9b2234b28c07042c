"""Layouts of a kernel as k-means points, and the ``Codebook(indices, centroids)`` pytree.

Deep k-Means (Wu et al., ICML 2018) cuts an ``s × s`` conv kernel into length-``s`` *rows* and
shares them through a codebook of ``K`` centroids. For a Flax HWIO kernel ``(kh, kw, cin, cout)``
one row is ``kernel[i, :, ci, co]`` (the ``kw`` taps), so there are ``N = kh·cin·cout`` rows. Two
alternatives from the thesis: ``"filter"`` (each 2-D ``kh × kw`` slice is one point of length
``kh·kw``, ``cin·cout`` points) and ``"kernel"`` (each output filter ``kh·kw·cin`` is one point,
``cout`` points). These three *row layouts* need 4-D conv kernels.

``"scalar"`` is the per-weight layout of TFMOT's ``cluster_weights`` (and of Deep Compression,
Han et al. 2016): every weight is one point (``s = 1``, ``N`` = the kernel's size), so ``K``
clusters leave at most ``K`` distinct values per layer. It accepts a kernel of any shape (conv
and dense alike) and stores ``N·⌈log2 K⌉`` index bits plus ``K`` float centroids. Which to use:
without re-training, scalar sharing (16 clusters per layer, linear init) keeps the pretrained
ResNet-20 within about 2 pt of float while 16 shared rows per layer drop it to ~16% top-1
(``launch/eval_kmeans_layouts.py``); a row codebook approximates ``N`` rows by ``K`` points of
``R^s``, far coarser at the same K, and is the thesis' method, meant to be combined with the Deep
k-Means re-training (it compresses more: ``N`` indices instead of ``N·s``).

Reconstruction invariant: ``codebook.expand() == kernel_from_rows(centroids[indices], shape,
layout)`` exactly, and ``kernel_from_rows(rows_from_kernel(w, layout), w.shape, layout) == w``.

Example:
    >>> import jax, jax.numpy as jnp
    >>> w = jax.random.normal(jax.random.key(0), (3, 3, 4, 8))
    >>> rows = rows_from_kernel(w)
    >>> rows.shape, bool(jnp.all(kernel_from_rows(rows, w.shape) == w))
    ((96, 3), True)
    >>> cb = Codebook.share(w, 16, key=jax.random.key(1))
    >>> cb.expand().shape, jnp.unique(rows_from_kernel(cb.expand()), axis=0).shape[0]
    ((3, 3, 4, 8), 16)
    >>> dense = jax.random.normal(jax.random.key(2), (64, 10))
    >>> cb = Codebook.share(dense, 16, key=jax.random.key(1), layout="scalar")
    >>> cb.indices.shape, cb.centroids.shape, jnp.unique(cb.expand()).size
    ((640,), (16, 1), 16)

References:
    Wu, Wang, Gong & Wang, "Deep k-Means: Re-Training and Parameter Sharing with Harder Cluster
    Assignments for Compressing Deep Convolutions", ICML 2018, §3.1. Han, Mao & Dally, "Deep
    Compression", ICLR 2016; TFMOT ``tfmot.clustering.keras.cluster_weights``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

from efficient_jax.share._kmeans import kmeans

LAYOUTS = ("row", "filter", "kernel", "scalar")
ROW_LAYOUTS = ("row", "filter", "kernel")  # the layouts that need a 4-D HWIO conv kernel


def check_layout(layout: str) -> None:
    """Raises ValueError for a ``layout`` not in :data:`LAYOUTS`."""
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown sharing layout {layout!r}; allowed: {', '.join(LAYOUTS)}.")


def _check_kernel(kernel: Any, layout: str, name: str = "kernel") -> None:
    check_layout(layout)
    shape = tuple(kernel.shape)
    if layout == "scalar":
        if not shape or math.prod(shape) == 0:
            raise ValueError(
                f"{name} must have at least one dimension and one weight for scalar sharing; "
                f"got shape {shape}."
            )
        return
    if len(shape) != 4:
        raise ValueError(
            f"{name} of shape {shape} is not a 4-D HWIO conv kernel (kh, kw, cin, cout), which "
            f"the {layout!r} layout needs. Select only conv kernels with a narrower rule "
            "(e.g. [(r'conv.*kernel$', K)]) or use layout='scalar' (every weight is one point; "
            "any kernel shape)."
        )


def rows_from_kernel(kernel: jax.typing.ArrayLike, layout: str = "row") -> jax.Array:
    """``(N, s)`` points of a kernel in ``layout`` (see the module docstring).

    ``"row"`` (s = kw), ``"filter"`` and ``"kernel"`` need a 4-D HWIO kernel; ``"scalar"`` takes
    any shape and gives ``(size, 1)``.
    """
    kernel = jnp.asarray(kernel)
    _check_kernel(kernel, layout)
    if layout == "scalar":
        return kernel.reshape(-1, 1)
    kh, kw, cin, cout = kernel.shape
    if layout == "row":
        return jnp.transpose(kernel, (0, 2, 3, 1)).reshape(-1, kw)
    if layout == "filter":
        return jnp.transpose(kernel, (2, 3, 0, 1)).reshape(-1, kh * kw)
    return jnp.transpose(kernel, (3, 0, 1, 2)).reshape(cout, -1)


def kernel_from_rows(
    rows: jax.typing.ArrayLike, shape: tuple[int, ...], layout: str = "row"
) -> jax.Array:
    """Inverse of :func:`rows_from_kernel`."""
    rows = jnp.asarray(rows)
    _check_kernel(jax.ShapeDtypeStruct(tuple(shape), rows.dtype), layout, "shape")
    if layout == "scalar":
        return rows.reshape(shape)
    kh, kw, cin, cout = shape
    if layout == "row":
        return rows.reshape(kh, cin, cout, kw).transpose(0, 3, 1, 2)
    if layout == "filter":
        return rows.reshape(cin, cout, kh, kw).transpose(2, 3, 0, 1)
    return rows.reshape(cout, kh, kw, cin).transpose(1, 2, 3, 0)


def num_rows(shape: tuple[int, ...], layout: str = "row") -> tuple[int, int]:
    """``(N, s)``: number and length of the points of a kernel of ``shape``."""
    _check_kernel(jax.ShapeDtypeStruct(tuple(shape), jnp.float32), layout, "shape")
    if layout == "scalar":
        return math.prod(shape), 1
    kh, kw, cin, cout = shape
    return {"row": (kh * cin * cout, kw), "filter": (cin * cout, kh * kw)}.get(
        layout, (cout, kh * kw * cin)
    )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Codebook:
    """A kernel stored as ``K`` shared centroids plus one index per row.

    Attributes:
      indices: ``(N,)`` int32 centroid index of every row.
      centroids: ``(K, s)`` float centroids (the codebook).
      shape: static shape of the original kernel.
      layout: static layout (``"row"``, ``"filter"``, ``"kernel"`` or ``"scalar"``).
    """

    indices: jax.Array
    centroids: jax.Array
    shape: tuple[int, ...] = dataclasses.field(metadata={"static": True})
    layout: str = dataclasses.field(default="row", metadata={"static": True})

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def rows(self) -> jax.Array:
        """The shared ``(N, s)`` rows ``centroids[indices]``."""
        return self.centroids[self.indices]

    def expand(self) -> jax.Array:
        """The shared kernel, of the original shape."""
        return kernel_from_rows(self.rows, self.shape, self.layout)

    @classmethod
    def share(
        cls,
        kernel: jax.typing.ArrayLike,
        k: int,
        *,
        key: jax.Array,
        layout: str = "row",
        init: str = "kmeans++",
        max_iter: int = 300,
        tol: float = 1e-4,
        zero_fraction: float = 0.0,
    ) -> Codebook:
        """k-means of the rows (or, ``layout="scalar"``, the weights) of ``kernel``.

        Args:
          kernel: HWIO conv kernel (row layouts) or a kernel of any shape (``"scalar"``).
          k: clusters, ``1 <= k <= N``.
          key: PRNG key of the initialisation.
          layout: ``"row"`` (default), ``"filter"``, ``"kernel"`` or ``"scalar"`` (see the
            module docstring).
          init, max_iter, tol: passed to :func:`kmeans`.
          zero_fraction: the sparsity-promoting variant: the ``⌊p·N⌋`` rows of smallest norm
            form cluster 0 with an all-zero centroid, the others are clustered into ``k − 1``.

        Raises:
          ValueError: for an unknown layout, a non-conv kernel under a row layout, ``k``
            outside ``1..N``, NaN weights, or ``zero_fraction`` outside ``[0, 1)``.
        """
        rows = rows_from_kernel(kernel, layout)
        idx, cent = cluster_rows(
            rows, k, key=key, init=init, max_iter=max_iter, tol=tol, zero_fraction=zero_fraction
        )
        return cls(idx, cent.astype(rows.dtype), tuple(kernel.shape), layout)


def cluster_rows(
    rows: jax.Array,
    k: int,
    *,
    key: jax.Array,
    init: str | jax.Array = "kmeans++",
    max_iter: int = 300,
    tol: float = 1e-4,
    zero_fraction: float = 0.0,
) -> tuple[jax.Array, jax.Array]:
    """``(indices, centroids)`` of the rows; with ``zero_fraction`` cluster 0 is the zero row."""
    if not 0.0 <= zero_fraction < 1.0:
        raise ValueError(f"zero_fraction must be in [0, 1); got {zero_fraction}.")
    n = rows.shape[0]
    n_zero = int(zero_fraction * n)
    if n_zero == 0:
        res = kmeans(rows, k, key=key, init=init, max_iter=max_iter, tol=tol)
        return res.assignments, res.centroids
    if not 2 <= k <= n - n_zero + 1:
        raise ValueError(
            f"With zero_fraction={zero_fraction} K must be in 2..{n - n_zero + 1} (one zero "
            f"cluster plus at most one per remaining row); got K={k}."
        )
    norms = jnp.sum(rows * rows, axis=1)
    zero = jnp.zeros(n, bool).at[jnp.argsort(norms)[:n_zero]].set(True)
    if not isinstance(init, str):
        init = init[1:]
    res = kmeans(
        rows,
        k - 1,
        key=key,
        init=init,
        weights=(~zero).astype(jnp.float32),
        max_iter=max_iter,
        tol=tol,
    )
    idx = jnp.where(zero, 0, res.assignments + 1).astype(jnp.int32)
    return idx, jnp.concatenate([jnp.zeros((1, rows.shape[1]), res.centroids.dtype), res.centroids])
