"""Global magnitude pruning: zero the smallest-|w| fraction of all matched weights at once.

The magnitude criterion ``m = 1(|w| − λ > 0)`` (Bai 2021, §2.1) with one threshold ``λ`` shared by
every matched leaf, chosen so that a fraction ``sparsity`` of the matched weights is zero. Storage
of a pruned leaf: float32 values of the kept weights plus a 1-bit mask.

Example:
    >>> import jax.numpy as jnp
    >>> params = {"a": {"kernel": jnp.array([[1.0, -0.1], [0.2, -3.0]])}}
    >>> masks = global_magnitude_masks(params, sparsity=0.5)
    >>> apply_masks(params, masks)["a"]["kernel"].tolist()
    [[1.0, 0.0], [0.0, -3.0]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax import cost
from efficient_jax.core import CompressionResult, match_rules, path_strings
from efficient_jax.prune._finetune import masked_finetune
from efficient_jax.train import model_inputs
from efficient_jax.types import Params, PyTree

DEFAULT_RULES: tuple[tuple[str, bool], ...] = ((r"kernel$", True),)


def global_magnitude_masks(
    params: Params, sparsity: float, rules: Sequence[tuple[str, Any]] = DEFAULT_RULES
) -> PyTree:
    """Boolean masks (``True`` = kept) for the matched leaves; ``None`` for the others.

    Raises:
      ValueError: if ``sparsity`` is outside [0, 1) or no leaf matches.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1); got {sparsity}.")
    selected = match_rules(params, rules, name="pruning rule")
    is_none = lambda x: x is None  # noqa: E731
    leaves = [
        jnp.abs(p).ravel()
        for p, s in zip(
            jax.tree.leaves(params), jax.tree.leaves(selected, is_leaf=is_none), strict=True
        )
        if s
    ]
    if not leaves:
        raise ValueError(f"No parameter matches the pruning rules {list(rules)}.")
    scores = jnp.concatenate(leaves)
    k = int(math.floor(sparsity * scores.size))
    threshold = jnp.sort(scores)[k - 1] if k > 0 else -jnp.inf
    return jax.tree.map(lambda p, s: (jnp.abs(p) > threshold) if s else None, params, selected)


def apply_masks(params: Params, masks: PyTree) -> Params:
    """Zeroes masked-out weights; leaves with a ``None`` mask are unchanged."""
    return jax.tree.map(
        lambda p, m: p if m is None else jnp.where(m, p, jnp.zeros_like(p)),
        params,
        masks,
        is_leaf=lambda x: x is None,
    )


def sparse_bytes(params: Params, masks: PyTree) -> int:
    """Bytes of float32 kept values + 1-bit masks for masked leaves, dense bytes for the rest."""
    total = 0
    for p, m in zip(
        jax.tree.leaves(params), jax.tree.leaves(masks, is_leaf=lambda x: x is None), strict=True
    ):
        if m is None:
            total += int(np.asarray(p).nbytes)
        else:
            total += 4 * int(jnp.sum(m)) + math.ceil(m.size / 8)
    return total


def effective_macs(report: cost.MacReport, params: Params) -> int:
    """MACs left when zero weights are skipped: each layer's MACs times its kernel's density.

    A layer of ``report.per_layer`` is matched to the ``<layer>/kernel`` leaf of ``params``; layers
    without a kernel leaf count in full.
    """
    density = {
        path.rsplit("/", 1)[0]: float(jnp.mean(leaf != 0))
        for path, leaf in zip(path_strings(params), jax.tree.leaves(params))
        if path.endswith("kernel")
    }
    return int(round(sum(m * density.get(layer, 1.0) for layer, m in report.per_layer.items())))


def magnitude_pruning_compressor(sparsity: float, finetune_steps: int = 0):
    """A registered-compressor function pruning ``variables["params"]`` to ``sparsity``.

    With ``finetune_steps > 0`` the pruned model is then fine-tuned on the calibration batch with
    the masks fixed (:func:`masked_finetune`).
    """

    def compress(variables, *, apply_fn=None, calib_batch=None) -> CompressionResult:
        masks = global_magnitude_masks(variables["params"], sparsity)
        params = apply_masks(variables["params"], masks)
        if finetune_steps:
            if apply_fn is None or calib_batch is None:
                raise ValueError("Fine-tuning after pruning needs apply_fn and calib_batch.")
            params = masked_finetune(
                apply_fn, {**variables, "params": params}, masks, calib_batch, steps=finetune_steps
            )
        macs = None
        if apply_fn is not None and calib_batch is not None:
            args, kwargs = model_inputs(calib_batch)
            first = lambda t: jax.tree.map(lambda x: x[:1], t)  # noqa: E731
            report = cost.macs(apply_fn, variables, *first(args), train=False, **first(kwargs))
            macs = effective_macs(report, params)
        others = cost.model_bytes_from_tree({k: v for k, v in variables.items() if k != "params"})
        return CompressionResult(
            {**variables, "params": params},
            sparse_bytes(variables["params"], masks) + others,
            macs=macs,
            info={"sparsity": sparsity, "finetune_steps": finetune_steps},
        )

    return compress
