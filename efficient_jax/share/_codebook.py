"""Row-wise reshaping of conv kernels and the ``Codebook(indices, centroids)`` pytree.

Deep k-Means (Wu et al., ICML 2018) cuts an ``s × s`` conv kernel into length-``s`` *rows* and
shares them through a codebook of ``K`` centroids. For a Flax HWIO kernel ``(kh, kw, cin, cout)``
one row is ``kernel[i, :, ci, co]`` (the ``kw`` taps), so there are ``N = kh·cin·cout`` rows. Two
alternatives from the thesis: ``"filter"`` (each 2-D ``kh × kw`` slice is one point of length
``kh·kw``, ``cin·cout`` points) and ``"kernel"`` (each output filter ``kh·kw·cin`` is one point,
``cout`` points).

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

References:
    Wu, Wang, Gong & Wang, "Deep k-Means: Re-Training and Parameter Sharing with Harder Cluster
    Assignments for Compressing Deep Convolutions", ICML 2018, §3.1.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from efficient_jax.share._kmeans import kmeans

LAYOUTS = ("row", "filter", "kernel")


def _check_kernel(kernel: Any, layout: str, name: str = "kernel") -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown row layout {layout!r}; allowed: {', '.join(LAYOUTS)}.")
    if len(kernel.shape) != 4:
        raise ValueError(
            f"{name} must be a 4-D HWIO conv kernel (kh, kw, cin, cout) for row-wise sharing; got "
            f"shape {tuple(kernel.shape)}. Select only conv kernels (e.g. rules "
            "[(r'conv.*kernel$', K)]); dense layers are not shared by Deep k-Means."
        )


def rows_from_kernel(kernel: jax.typing.ArrayLike, layout: str = "row") -> jax.Array:
    """``(N, s)`` points of an HWIO kernel: ``"row"`` (s = kw), ``"filter"`` or ``"kernel"``."""
    kernel = jnp.asarray(kernel)
    _check_kernel(kernel, layout)
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
    kh, kw, cin, cout = shape
    if layout == "row":
        return rows.reshape(kh, cin, cout, kw).transpose(0, 3, 1, 2)
    if layout == "filter":
        return rows.reshape(cin, cout, kh, kw).transpose(2, 3, 0, 1)
    return rows.reshape(cout, kh, kw, cin).transpose(1, 2, 3, 0)


def num_rows(shape: tuple[int, ...], layout: str = "row") -> tuple[int, int]:
    """``(N, s)``: number and length of the points of a kernel of ``shape``."""
    _check_kernel(jax.ShapeDtypeStruct(tuple(shape), jnp.float32), layout, "shape")
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
      layout: static row layout (``"row"``, ``"filter"`` or ``"kernel"``).
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
        """k-means of the rows of ``kernel`` into ``k`` shared centroids.

        Args:
          kernel: HWIO conv kernel.
          k: clusters, ``1 <= k <= N``.
          key: PRNG key of the initialisation.
          layout: row layout (see the module docstring).
          init, max_iter, tol: passed to :func:`kmeans`.
          zero_fraction: the sparsity-promoting variant: the ``⌊p·N⌋`` rows of smallest norm
            form cluster 0 with an all-zero centroid, the others are clustered into ``k − 1``.

        Raises:
          ValueError: for a non-conv kernel, ``k`` outside ``1..N``, NaN weights, or
            ``zero_fraction`` outside ``[0, 1)``.
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
