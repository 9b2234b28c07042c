"""Weight sharing: k-means, Deep k-Means (Wu 2018), codebooks and entropy coding, Bidart sharing.

Two layouts of k-means sharing (``layout=`` of :func:`share_params`, :func:`deep_kmeans`,
:func:`resolve_clusters`, :func:`clusters_for_ratio`, :meth:`Codebook.share`):

- ``"row"`` (default; the thesis, Wu 2021 Ch. 2): the length-``kw`` rows of a 4-D conv kernel are
  the points, ``K`` shared rows per layer (``"filter"``/``"kernel"``: whole 2-D slices / output
  filters). Only conv kernels: a rule that also selects a dense kernel is an error naming it.
  Use it with the Deep k-Means re-training (:func:`deep_kmeans`); without re-training a small
  ``K`` approximates a layer coarsely.
- ``"scalar"`` (TFMOT ``cluster_weights``, Deep Compression): every weight is a point, ``K``
  distinct values per layer, any kernel shape; stored as ``⌈log2 K⌉``-bit indices plus ``K``
  floats. Use it to share without re-training: ``K = 16`` (linear init) keeps the pretrained
  ResNet-20 within about 2 pt of float on CIFAR-10, where 16 row centroids per layer fall to
  ~16% (``launch/eval_kmeans_layouts.py``); :func:`scalar_kmeans_compressor`, quickstart row
  ``deep_kmeans_scalar16``.
"""

from efficient_jax.share._clusters import (
    clusters_for_ratio,
    layer_ratio,
    resolve_clusters,
)
from efficient_jax.share._codebook import (
    LAYOUTS,
    Codebook,
    cluster_rows,
    kernel_from_rows,
    num_rows,
    rows_from_kernel,
)
from efficient_jax.share._coding import (
    INDEX_CODINGS,
    codebook_bits,
    compression_ratio,
    export_codebook,
    fixed_index_bits,
    huffman_code_lengths,
    import_codebook,
    index_bits,
    layer_ratios,
    pack_indices,
    shared_bits,
    unpack_indices,
)
from efficient_jax.share._compressors import deep_kmeans_compressor, deep_kmeans_finetune
from efficient_jax.share._deep_kmeans import (
    MODES,
    DeepKMeansState,
    deep_kmeans,
    deep_kmeans_penalty,
    expand_params,
    kmeans_penalty,
    share_params,
    spectral_basis,
    spectral_penalty,
    unique_weights,
)
from efficient_jax.share._fixed import (
    GRAD_REDUCTIONS,
    SharedDepthwiseConv,
    shared_depthwise_params,
    tile_shared,
)
from efficient_jax.share._kmeans import (
    INITS,
    KMeansResult,
    init_centroids,
    kmeans,
    kmeans_batched,
    lloyd,
)
from efficient_jax.share._priors import (
    KINDS,
    MixturePrior,
    init_mixture,
    mixture_log_prob,
    mixture_prior_loss,
    nearest_basis_loss,
    nearest_kernel_loss,
    snap_params,
    snap_to_basis,
)
from efficient_jax.share._scalar import scalar_kmeans_compressor

__all__ = [
    "LAYOUTS",
    "Codebook",
    "cluster_rows",
    "kernel_from_rows",
    "num_rows",
    "rows_from_kernel",
    "INDEX_CODINGS",
    "codebook_bits",
    "compression_ratio",
    "export_codebook",
    "fixed_index_bits",
    "huffman_code_lengths",
    "import_codebook",
    "index_bits",
    "layer_ratios",
    "pack_indices",
    "shared_bits",
    "unpack_indices",
    "deep_kmeans_compressor",
    "deep_kmeans_finetune",
    "MODES",
    "DeepKMeansState",
    "clusters_for_ratio",
    "deep_kmeans",
    "deep_kmeans_penalty",
    "expand_params",
    "kmeans_penalty",
    "layer_ratio",
    "resolve_clusters",
    "share_params",
    "spectral_basis",
    "spectral_penalty",
    "unique_weights",
    "GRAD_REDUCTIONS",
    "SharedDepthwiseConv",
    "shared_depthwise_params",
    "tile_shared",
    "INITS",
    "KMeansResult",
    "init_centroids",
    "kmeans",
    "kmeans_batched",
    "lloyd",
    "KINDS",
    "MixturePrior",
    "init_mixture",
    "mixture_log_prob",
    "mixture_prior_loss",
    "nearest_basis_loss",
    "nearest_kernel_loss",
    "snap_params",
    "snap_to_basis",
    "scalar_kmeans_compressor",
]
