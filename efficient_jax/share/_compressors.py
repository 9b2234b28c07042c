"""Deep k-Means as compressors, and a short regularised fine-tune on a small batch.

``deep_kmeans_wr_cr8``: k-means sharing of every conv kernel at a per-layer CR of 8 (fixed-length
indices), without re-training ("WR"). ``deep_kmeans_cr8``: first a short full-batch re-training on
the calibration batch with the k-means regulariser (:func:`deep_kmeans_finetune`), then the same
sharing. Dense layers, biases and BatchNorm stay float32 (as in the thesis), so the *model* CR is
lower than the per-layer CR when dense layers dominate (LeNet-5).

Example:
    >>> from efficient_jax.compressors import available_compressors
    >>> "deep_kmeans_wr_cr8" in available_compressors()
    True
"""

from __future__ import annotations

import math
from typing import Any

import jax
import optax

from efficient_jax import cost
from efficient_jax.core import CompressionResult
from efficient_jax.share._coding import compression_ratio, layer_ratios, shared_bits
from efficient_jax.share._deep_kmeans import (
    Clusters,
    clusters_for_ratio,
    deep_kmeans,
    expand_params,
    share_params,
    unique_weights,
)
from efficient_jax.train import finetune, model_inputs
from efficient_jax.types import ApplyFn, Batch, Params


def deep_kmeans_finetune(
    apply_fn: ApplyFn,
    variables: dict[str, Any],
    batch: Batch,
    clusters: Clusters,
    *,
    key: jax.Array,
    steps: int = 100,
    learning_rate: float = 1e-3,
    strength: float = 1e-2,
    update_every: int = 25,
    layout: str = "row",
) -> Params:
    """Full-batch Adam on ``batch`` with the Deep k-Means regulariser (BatchNorm frozen).

    Raises:
      ValueError: for non-positive ``steps``/``learning_rate`` or a batch without labels.
    """
    if steps <= 0 or learning_rate <= 0:
        raise ValueError(f"steps and learning_rate must be positive; got {steps}, {learning_rate}.")
    if "label" not in batch:
        raise ValueError(f"deep_kmeans_finetune needs a labelled batch; got keys {sorted(batch)}.")
    tx = deep_kmeans(
        optax.adam(learning_rate),
        clusters,
        key=key,
        strength=strength,
        update_every=update_every,
        layout=layout,
    )
    # The k-means init (random, iterative) runs eagerly, outside the compiled loop.
    opt_state = tx.init(variables["params"])
    return finetune(apply_fn, variables, batch, tx=tx, steps=steps, opt_state=opt_state)["params"]


def deep_kmeans_compressor(
    target_ratio: float,
    retrain_steps: int = 0,
    *,
    strength: float = 0.1,
    learning_rate: float = 1e-3,
    seed: int = 0,
):
    """A registered-compressor function: Deep k-Means sharing of all conv kernels.

    Args:
      target_ratio: per-layer CR with fixed-length indices (first layer: 2).
      retrain_steps: full-batch regularised re-training steps on the calibration batch (0 = WR).
      strength: λ of the short re-training (larger than the thesis' 1e-4, which assumes a full
        re-training schedule).
      learning_rate: Adam learning rate of the re-training.
      seed: k-means seed.
    """

    def compress(variables, *, apply_fn=None, calib_batch=None) -> CompressionResult:
        key = jax.random.key(seed)
        params = variables["params"]
        clusters = clusters_for_ratio(params, target_ratio)
        if retrain_steps:
            if apply_fn is None or calib_batch is None:
                raise ValueError("Deep k-Means re-training needs apply_fn and calib_batch.")
            params = deep_kmeans_finetune(
                apply_fn,
                variables,
                calib_batch,
                clusters,
                key=jax.random.fold_in(key, 1),
                steps=retrain_steps,
                strength=strength,
                learning_rate=learning_rate,
            )
        tree = share_params(params, clusters, key=key)
        info = {"retrain_steps": retrain_steps}
        return codebook_result(variables, tree, info, apply_fn=apply_fn, calib_batch=calib_batch)

    return compress


def codebook_result(
    variables: Any, tree: Any, info: dict[str, float], *, apply_fn: Any, calib_batch: Any
) -> CompressionResult:
    """The :class:`CompressionResult` of shared params ``tree`` (``Codebook`` leaves).

    Stored bytes are the codebooks' (fixed-length indices); ``info`` gains the per-layer and model
    compression ratios and, given ``apply_fn`` and ``calib_batch``, the energy after sharing.
    """
    stored = {**variables, "params": tree}
    info = {
        **info,
        "layer_cr_min": min(layer_ratios(tree).values()),
        "model_cr_fixed": compression_ratio(variables, stored),
        "model_cr_huffman": compression_ratio(variables, stored, "huffman"),
    }
    shared = {**variables, "params": expand_params(tree)}
    if apply_fn is not None and calib_batch is not None:
        args, kwargs = model_inputs(jax.tree.map(lambda x: x[:1], calib_batch))
        dense = cost.energy(apply_fn, variables, *args, train=False, **kwargs)
        after = cost.energy(
            apply_fn, variables, *args, train=False, unique_weights=unique_weights(tree), **kwargs
        )
        info["energy"] = after.energy
        info["energy_ratio"] = dense.energy / after.energy
    return CompressionResult(shared, math.ceil(shared_bits(stored) / 8), info=info)
