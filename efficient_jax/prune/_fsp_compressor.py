"""The few-shot cross-distillation compressor of the quickstart table.

``few_shot_cd_channel50``: K = 5 images per class from the calibration batch, CD (μ = 0.6, the
thesis's VGG value), 50% of the input channels of every Conv/Dense layer whose producer is the
layer right before it (on LeNet-5: ``conv2``, ``fc2``, ``fc3``), 100 Adam steps per layer at
lr 1e-2 (1e-3 under-fits in 100 steps), then physical export: the result runs on the sliced
(smaller, dense) variables through :func:`~efficient_jax.prune.slim_apply`, so its size and MACs
are the real ones.

Example:
    >>> from efficient_jax.compressors import get_compressor
    >>> callable(get_compressor("few_shot_cd_channel50"))
    True
"""

from __future__ import annotations

import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax import cost
from efficient_jax.core import CompressionResult
from efficient_jax.prune._cross_distill import (
    LayerwiseConfig,
    few_shot_indices,
    few_shot_prune,
    model_layers,
)
from efficient_jax.prune._export import channel_groups, export_channel_pruned, slim_apply
from efficient_jax.train import model_inputs


def _chainable(model, variables, x) -> list[str]:
    """Conv/Dense layers whose input channels are the previous layer's outputs."""
    layers = model_layers(model, variables, x)
    out = []
    for li in layers:
        if li.kind == "norm":
            continue
        try:
            channel_groups(model, variables, x, [li.path])
        except ValueError:
            continue
        out.append(li.path)
    return out


def few_shot_compressor(
    k: int, sparsity: float, method: str = "cd", steps: int = 100, learning_rate: float = 1e-3
):
    """A compressor ``fn(variables, *, apply_fn, calib_batch)`` doing few-shot channel pruning.

    ``apply_fn`` must be a Linen model's bound ``apply`` (the model is needed to find layers).
    """
    config = LayerwiseConfig(
        method=method, structure="channel", mu=0.6, steps=steps, learning_rate=learning_rate
    )

    def compress(variables, *, apply_fn=None, calib_batch=None) -> CompressionResult:
        model = getattr(apply_fn, "__self__", None)
        if not isinstance(model, nn.Module) or calib_batch is None or "label" not in calib_batch:
            raise ValueError(
                "few-shot pruning needs apply_fn=model.apply of a Linen model and a labelled "
                "calib_batch."
            )
        labels = np.asarray(calib_batch["label"])
        k_used = min(k, int(np.min(np.unique(labels, return_counts=True)[1])))
        if k_used < k:
            warnings.warn(
                f"The calibration batch has only {k_used} examples of some class; few-shot "
                f"pruning uses K={k_used} instead of K={k} (reported as info['k']).",
                stacklevel=2,
            )
        idx = few_shot_indices(labels, k_used, seed=0)
        args, _ = model_inputs(jax.tree.map(lambda a: jnp.asarray(a)[idx], calib_batch))
        images = args[0]
        consumers = _chainable(model, variables, images)
        rules = [(f"^{p}$", sparsity) for p in consumers]
        student, masks, _ = few_shot_prune(model, variables, images, rules, config)
        groups = channel_groups(model, variables, images, consumers)
        slim, kept = export_channel_pruned(student, masks, groups)
        fn = slim_apply(model)
        macs = cost.macs(fn, slim, images[:1]).total
        return CompressionResult(
            slim,
            cost.model_bytes_from_tree(slim),
            macs=macs,
            info={"k": k_used, "sparsity": sparsity, "channels_kept": sum(kept.values())},
            apply_fn=fn,
        )

    return compress
