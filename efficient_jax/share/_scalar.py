"""Scalar (per-weight) k-means sharing as a compressor: TFMOT ``cluster_weights`` without training.

Every weight of each selected kernel (conv and dense alike) is one point; k-means puts ``K``
clusters per layer, so a layer keeps at most ``K`` distinct values and is stored as ``N`` indices
of ``⌈log2 K⌉`` bits plus ``K`` float32 centroids (:func:`~efficient_jax.share.shared_bits`). This
is the ``layout="scalar"`` of :func:`~efficient_jax.share.share_params`; the thesis' row layout
(Deep k-Means, :func:`~efficient_jax.share.deep_kmeans_compressor`) stores ``K`` whole rows
instead. Biases and BatchNorm stay float32.

Example:
    >>> import jax, jax.numpy as jnp, flax.linen as nn
    >>> model = nn.Dense(8)
    >>> variables = model.init(jax.random.key(0), jnp.ones((1, 32)))
    >>> result = scalar_kmeans_compressor(4)(variables)
    >>> int(jnp.unique(result.variables["params"]["kernel"]).size), result.model_bytes
    (4, 112)

References:
    TFMOT weight clustering, ``tfmot.clustering.keras.cluster_weights``; Han, Mao & Dally,
    "Deep Compression", ICLR 2016 (scalar k-means sharing, linear initialisation).
"""

from __future__ import annotations

import re

import jax

from efficient_jax.core import CompressionResult
from efficient_jax.share._compressors import codebook_result
from efficient_jax.share._deep_kmeans import share_params
from efficient_jax.share._kmeans import INITS


def scalar_kmeans_compressor(
    clusters: int = 16,
    *,
    rule: str = r"kernel$",
    init: str = "linear",
    max_iter: int = 300,
    seed: int = 0,
):
    """A registered-compressor function: scalar k-means sharing, ``clusters`` values per layer.

    Args:
      clusters: ``K``, the clusters (distinct values) of every selected kernel; each kernel needs
        at least ``K`` weights.
      rule: regex on parameter paths selecting the kernels (default: every ``.../kernel``).
      init: k-means initialisation, one of :data:`~efficient_jax.share.INITS` (TFMOT's
        ``CentroidInitialization`` names). ``"linear"`` (evenly spaced between the layer's min
        and max, Deep Compression's choice; deterministic) keeps the rare large weights their
        own clusters: on the pretrained ResNet-20 it loses 2.1 pt at K = 16 where
        ``"kmeans++"`` (TFMOT's current default) loses 5.0 pt and ``"density"`` 6.0 pt
        (``launch/eval_kmeans_layouts.py``).
      max_iter: Lloyd iterations per layer (at most).
      seed: k-means seed (layer ``i`` uses ``fold_in(key(seed), i)``).

    Returns:
      ``compress(variables, *, apply_fn=None, calib_batch=None) -> CompressionResult`` with the
      shared (expanded) variables, the stored bytes and ``info`` (``clusters``,
      ``layer_cr_min``, ``model_cr_fixed``, ``model_cr_huffman``; with ``apply_fn`` and
      ``calib_batch`` also ``energy`` and ``energy_ratio``).

    Raises:
      ValueError: for ``clusters`` not an int >= 1, an unknown ``init``, a bad regex or
        ``max_iter < 1`` (at once); for a kernel with fewer than ``clusters`` weights or no
        kernel matched (when called).

    Example:
        >>> scalar_kmeans_compressor(16, init="median")
        Traceback (most recent call last):
        ...
        ValueError: Unknown k-means init 'median'; allowed: kmeans++, linear, density, random.
    """
    if isinstance(clusters, bool) or not isinstance(clusters, int) or clusters < 1:
        raise ValueError(f"clusters must be an int >= 1; got {clusters!r}.")
    if init not in INITS:
        raise ValueError(f"Unknown k-means init {init!r}; allowed: {', '.join(INITS)}.")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1; got {max_iter}.")
    try:
        re.compile(rule)
    except re.error as e:
        raise ValueError(f"Invalid regex {rule!r} for scalar k-means sharing: {e}") from e

    def compress(variables, *, apply_fn=None, calib_batch=None) -> CompressionResult:
        tree = share_params(
            variables["params"],
            [(rule, clusters)],
            key=jax.random.key(seed),
            layout="scalar",
            init=init,
            max_iter=max_iter,
        )
        info = {"clusters": clusters}
        return codebook_result(variables, tree, info, apply_fn=apply_fn, calib_batch=calib_batch)

    return compress
