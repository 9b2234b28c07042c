"""Keeping pruned weights at zero during training, and a short masked fine-tune after pruning.

:func:`keep_masked` wraps any optax optimizer so that updates to pruned weights are zero (so they
stay zero, and optimizer moments of pruned weights never move them). :func:`masked_finetune` is the
classic prune-then-fine-tune step: a few full-batch steps on a small calibration set with the masks
fixed (BatchNorm statistics frozen).

Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> params = {"w": jnp.array([1.0, 2.0])}
    >>> masks = {"w": jnp.array([True, False])}
    >>> tx = keep_masked(optax.sgd(0.1), masks)
    >>> updates, _ = tx.update({"w": jnp.ones(2)}, tx.init(params), params)
    >>> updates["w"].tolist()
    [-0.10000000149011612, 0.0]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from efficient_jax.train import finetune
from efficient_jax.types import ApplyFn, Batch, Params, PyTree

_is_none = lambda x: x is None  # noqa: E731


def _mask_tree(tree: PyTree, masks: PyTree) -> PyTree:
    return jax.tree.map(
        lambda m, x: x if m is None else jnp.where(m, x, jnp.zeros_like(x)),
        masks,
        tree,
        is_leaf=_is_none,
    )


class KeepMaskedState(NamedTuple):
    inner: optax.OptState
    masks: PyTree


def keep_masked(inner: optax.GradientTransformation, masks: PyTree) -> optax.GradientTransformation:
    """Wraps ``inner`` so that gradients into and updates of masked-out weights are zero.

    Args:
      inner: any optax transformation.
      masks: a pytree like params with boolean arrays (``True`` = kept) or ``None`` (not pruned);
        kept in the optimizer state, so it shards and checkpoints with it.
    """

    def init_fn(params):
        return KeepMaskedState(inner.init(params), masks)

    def update_fn(updates, state, params=None):
        updates = _mask_tree(updates, state.masks)
        updates, inner_state = inner.update(updates, state.inner, params)
        return _mask_tree(updates, state.masks), KeepMaskedState(inner_state, state.masks)

    return optax.GradientTransformation(init_fn, update_fn)


def masked_finetune(
    apply_fn: ApplyFn,
    variables: dict[str, Any],
    masks: PyTree,
    batch: Batch,
    *,
    steps: int = 100,
    learning_rate: float = 1e-3,
) -> Params:
    """Fine-tunes ``variables["params"]`` on ``batch`` (full-batch Adam), pruned weights kept at 0.

    Returns:
      The fine-tuned params (other collections, e.g. ``batch_stats``, are used frozen).

    Raises:
      ValueError: for non-positive ``steps``/``learning_rate`` or a batch without labels.
    """
    if steps <= 0 or learning_rate <= 0:
        raise ValueError(f"steps and learning_rate must be positive; got {steps}, {learning_rate}.")
    if "label" not in batch:
        raise ValueError(f"masked_finetune needs a labelled batch; got keys {sorted(batch)}.")
    tx = keep_masked(optax.adam(learning_rate), masks)
    masked = {**variables, "params": _mask_tree(variables["params"], masks)}
    return finetune(apply_fn, masked, batch, tx=tx, steps=steps)["params"]
