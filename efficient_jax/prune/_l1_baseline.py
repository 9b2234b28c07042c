"""The data-free L1-norm pruning baseline of few-shot pruning (Bai 2021, Ch. 3, "L1-norm" rows).

No training: for channel pruning, L1-norm filter pruning (Li et al. 2017) of the producer of each
selected consumer layer (the consumer's input channels whose producer filters have the smallest
L1 norms are removed); for unstructured pruning, per-layer magnitude pruning (smallest |w|).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax

from efficient_jax.prune._cross_distill import model_layers, select_layers
from efficient_jax.prune._export import channel_groups
from efficient_jax.prune._magnitude import apply_masks
from efficient_jax.prune._structured import l1_norm_channel_masks, layerwise_magnitude_masks

STRUCTURES = ("channel", "unstructured")


def l1_norm_baseline(
    model: nn.Module,
    variables: Mapping[str, Any],
    images: jax.Array,
    rules: Sequence[tuple[str, float]],
    structure: str = "channel",
) -> tuple[dict[str, Any], Any]:
    """Prunes the layers selected by ``rules`` without data or training; ``(variables, masks)``.

    Args:
      model: a Flax model whose ``apply(variables, x, train=False)`` gives logits.
      variables: its variables (``params`` and, if any, ``batch_stats``).
      images: a few preprocessed inputs (used only to trace the layers, never to fit).
      rules: ``(layer regex, sparsity)`` pairs, first match wins (:func:`select_layers`).
      structure: ``"channel"`` (L1-norm filter pruning of each selected layer's producer, one
        call per distinct sparsity) or ``"unstructured"`` (per-layer smallest-|w| masks).

    Returns:
      The variables with pruned ``params`` and the mask tree (``None`` at unpruned leaves).

    Raises:
      ValueError: for an unknown ``structure`` or bad rules.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from efficient_jax import models, prune
        >>> model = models.get_model("lenet5", num_classes=10)
        >>> x = jnp.ones((2, 8, 8, 1))
        >>> v = model.init(jax.random.key(0), x)
        >>> pruned, masks = prune.l1_norm_baseline(model, v, x, [("^conv2$", 0.5)], "channel")
        >>> masks["conv2"]["kernel"].shape == v["params"]["conv2"]["kernel"].shape
        True
        >>> float(masks["conv2"]["kernel"].mean())
        0.5
    """
    if structure not in STRUCTURES:
        raise ValueError(f"structure must be one of {STRUCTURES}; got {structure!r}.")
    layers = model_layers(model, variables, images)
    chosen = select_layers(layers, rules)
    if structure == "unstructured":
        masks = layerwise_magnitude_masks(
            variables["params"], rules=[(f"^{p}/kernel$", s) for p, s in chosen.items()]
        )
    else:
        groups = channel_groups(model, variables, images, list(chosen))
        sparsities = set(chosen.values())
        masks = None
        for sp in sparsities:  # One call per distinct sparsity; merge the mask trees.
            pairs = {g.consumer: g.producer for g in groups if chosen[g.consumer] == sp}
            m = l1_norm_channel_masks(variables["params"], pairs, sp)
            masks = (
                m
                if masks is None
                else jax.tree.map(
                    lambda a, b: a if b is None else b, masks, m, is_leaf=lambda x: x is None
                )
            )
    return {**variables, "params": apply_masks(variables["params"], masks)}, masks
