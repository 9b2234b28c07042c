"""Layer-wise magnitude masks and channel (structured) masks, including L1-norm filter pruning.

Masks are pytrees like the params: a boolean array (``True`` = kept) at each pruned leaf and
``None`` elsewhere, so :func:`~efficient_jax.prune.apply_masks` and
:func:`~efficient_jax.prune.keep_masked` take them unchanged. A channel mask is a full-shape
kernel mask that is constant along every axis but the input channel (axis -2 of Flax Conv
``(kh, kw, c_in, c_out)`` and Dense ``(c_in, c_out)`` kernels); :func:`channel_keep` recovers the
``(c_in,)`` vector for physical export.

* Layer-wise magnitude pruning: each matched kernel loses its own smallest-|w| fraction (the
  uniform "r% of each layer" of Bai 2021, §3.3; compare the global threshold of
  :func:`~efficient_jax.prune.global_magnitude_masks`).
* L1-norm filter pruning (Li et al. 2017; Bai 2021 §3.3 baseline "L1-norm"): remove the output
  filters of a producer layer with the smallest L1 norm, i.e. the consumer layer's input channels.
  Data-free; without fine-tuning this is the "L1-norm" row of Bai 2021 Tables 3.2–3.5.

Example:
    >>> import jax.numpy as jnp
    >>> params = {"a": {"kernel": jnp.array([[1.0, 2.0], [0.1, 0.2]])}}
    >>> layerwise_magnitude_masks(params, 0.5)["a"]["kernel"].tolist()
    [[True, True], [False, False]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from efficient_jax.core import map_with_path_str, match_rules, path_strings
from efficient_jax.prune._proximal import (
    _keep_count,
    _top_count,
    channel_norms,
    expand_channel_mask,
    topk_mask,
)
from efficient_jax.types import Params, PyTree

_is_none = lambda x: x is None  # noqa: E731


def check_sparsity(sparsity: Any, where: str = "sparsity") -> float:
    """Returns ``float(sparsity)``; ValueError unless it is a number in [0, 1)."""
    try:
        value = float(sparsity)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a number in [0, 1); got {sparsity!r}.") from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{where} must be in [0, 1); got {sparsity!r}.")
    return value


def _rule_sparsities(params: Params, rules: Sequence[tuple[str, Any]]) -> PyTree:
    selected = match_rules(params, rules, warn_unused=False, name="pruning rule")
    for regex, value in rules:
        check_sparsity(value, f"sparsity of rule {regex!r}")
    if all(s is None for s in jax.tree.leaves(selected, is_leaf=_is_none)):
        raise ValueError(
            f"No parameter matches the pruning rules {list(rules)}; paths: {path_strings(params)}."
        )
    return selected


def layerwise_magnitude_masks(
    params: Params, sparsity: float | None = None, rules: Sequence[tuple[str, Any]] | None = None
) -> PyTree:
    """Per-leaf top-|w| masks: each matched kernel keeps ``round((1 − s)·n)`` weights.

    Args:
      params: the model params.
      sparsity: one sparsity for every leaf matched by ``r"kernel$"`` (when ``rules`` is None).
      rules: ``(regex, sparsity)`` pairs, first match wins; unmatched leaves get ``None``.

    Raises:
      ValueError: if a sparsity is not in [0, 1) or no leaf matches.
    """
    if rules is None:
        rules = ((r"kernel$", check_sparsity(sparsity)),)
    selected = _rule_sparsities(params, rules)
    return jax.tree.map(
        lambda p, s: None if s is None else topk_mask(p, 1.0 - s),
        params,
        selected,
        is_leaf=_is_none,
    )


def channel_keep(mask: jax.Array) -> jax.Array:
    """The ``(c_in,)`` keep vector of a channel mask (a channel is kept if any weight is)."""
    axes = tuple(i for i in range(mask.ndim) if i != mask.ndim - 2)
    return jnp.any(mask, axis=axes)


def _get(tree: Mapping[str, Any], path: str) -> Any:
    node = tree
    for part in path.split("/"):
        if not isinstance(node, Mapping) or part not in node:
            raise ValueError(f"No parameter at {path!r}; existing paths: {path_strings(tree)}.")
        node = node[part]
    return node


def l1_norm_channel_masks(
    params: Params, pairs: Mapping[str, str], sparsity: float, *, ord: int = 1
) -> PyTree:
    """L1-norm filter pruning (Li et al. 2017) as channel masks on the consumer kernels.

    Args:
      params: the model params.
      pairs: ``{consumer layer path: producer layer path}`` (module paths like
        ``"layer1_0/conv2": "layer1_0/conv1"``): the producer's output filter ``j`` feeds the
        consumer's input channel ``j``.
      sparsity: fraction of the consumer's input channels to remove, in [0, 1).
      ord: 1 for Li et al.'s L1 norm of the filter, 2 for its L2 norm.

    Returns:
      A params-like mask tree with full-shape masks on the consumer kernels.

    Raises:
      ValueError: for a bad sparsity, an unknown layer or mismatched channel counts.
    """
    sparsity = check_sparsity(sparsity)
    if not pairs:
        raise ValueError("l1_norm_channel_masks needs at least one {consumer: producer} pair.")
    masks: dict[str, jax.Array] = {}
    for consumer, producer in pairs.items():
        ck, pk = _get(params, f"{consumer}/kernel"), _get(params, f"{producer}/kernel")
        if ck.shape[-2] != pk.shape[-1]:
            raise ValueError(
                f"Producer {producer!r} has {pk.shape[-1]} output filters but consumer "
                f"{consumer!r} reads {ck.shape[-2]} input channels."
            )
        # The producer's output filters are its kernel's last axis: norm over all other axes.
        scores = channel_norms(jnp.swapaxes(pk, -1, -2), ord)
        keep = _top_count(scores, _keep_count(scores.size, 1.0 - sparsity))
        masks[f"{consumer}/kernel"] = expand_channel_mask(keep, ck.shape)
    return map_with_path_str(lambda path, _: masks.get(path), params)


def masks_are_binary(masks: PyTree) -> bool:
    """Whether every mask leaf is a boolean array (``None`` leaves are allowed)."""
    return all(
        m is None or jnp.asarray(m).dtype == jnp.bool_
        for m in jax.tree.leaves(masks, is_leaf=_is_none)
    )


def mask_sparsity(masks: PyTree) -> float:
    """Fraction of masked-out entries over all mask leaves."""
    leaves = [m for m in jax.tree.leaves(masks, is_leaf=_is_none) if m is not None]
    total = sum(m.size for m in leaves)
    return float(1.0 - sum(int(jnp.sum(m)) for m in leaves) / max(total, 1))
