"""W-PCA: a gradient-free proxy for transformer language models (spec 004 #2).

``W-PCA = #params × Σ_layers PCA_dim(H_l, η)``, where ``H_l`` are the FFN intermediate activations
of layer ``l`` over all tokens of a batch and ``PCA_dim(H, η)`` is the smallest number of principal
components whose cumulative explained variance reaches ``η`` (0.99 in the paper). Reference:
"W-PCA Based Gradient-Free Proxy for Efficient Search of Lightweight Language Models", ICLR 2025.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from efficient_jax.nas.proxies._taps import ProxyApplyFn, tapped_apply
from efficient_jax.types import Batch, Params


def pca_dim(h: jax.Array, eta: float = 0.99) -> jax.Array:
    """Smallest ``k`` with the top-``k`` principal components explaining ``≥ η`` of the variance.

    Args:
      h: ``(samples, features)`` activations (more dims are flattened into samples).
      eta: explained-variance threshold in ``(0, 1]``.

    Example:
        >>> import jax.numpy as jnp
        >>> h = jnp.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, -0.1, 0.0]])
        >>> int(pca_dim(h, 0.9)), int(pca_dim(h, 0.999))
        (1, 2)
    """
    if not 0.0 < float(eta) <= 1.0:
        raise ValueError(f"eta must be in (0, 1], got {eta}.")
    h = h.reshape(-1, h.shape[-1]).astype(jnp.float32)
    h = h - h.mean(axis=0, keepdims=True)
    s = jnp.linalg.svd(h, compute_uv=False)
    var = s**2
    frac = jnp.cumsum(var) / jnp.maximum(jnp.sum(var), 1e-30)
    # frac is non-decreasing; count the components strictly below eta, plus the one that reaches
    # it (a small tolerance absorbs float32 rounding of a cumulative fraction of exactly eta).
    return jnp.minimum(jnp.sum(frac < eta - 1e-6) + 1, h.shape[-1])


def wpca(
    apply_fn: ProxyApplyFn,
    params: Params,
    batch: Batch,
    *,
    ffn_layers: str = r"intermediate$",
    eta: float = 0.99,
    activation: Callable[[jax.Array], jax.Array] | None = nn.gelu,
    input_key: str = "input_ids",
) -> jax.Array:
    """``#params × Σ_l PCA_dim(act(FFN_l(x)), η)`` over Dense layers matching ``ffn_layers``.

    Args:
      apply_fn: ``(params, x, train) -> logits`` of a transformer (e.g. ``TinyBert``).
      params: its parameters (all leaves are counted).
      batch: holds the model input under ``input_key``.
      ffn_layers: regex on module paths of the FFN's first (expanding) Dense layer;
        ``TinyBert`` names it ``layer_i/intermediate``.
      eta: explained-variance threshold.
      activation: applied to the tapped pre-activation (TinyBert's FFN uses exact GELU); None
        keeps the Dense output.
      input_key: which batch entry is the model input.

    Raises:
      ValueError: if no layer matches ``ffn_layers`` or the input is missing.
    """
    if input_key not in batch:
        raise ValueError(f"wpca: batch has no {input_key!r}; keys: {sorted(batch)}.")
    _, ins, outs = tapped_apply(apply_fn, params, batch[input_key], False)
    rx = re.compile(ffn_layers)
    names = [n for n in ins if rx.search(n)]
    if not names:
        raise ValueError(
            f"wpca: no Dense layer matches ffn_layers={ffn_layers!r}; layers: {sorted(ins)}."
        )
    dims = 0
    for n in names:
        h = outs[n] if activation is None else activation(outs[n])
        dims = dims + pca_dim(h, eta)
    n_params = sum(x.size for x in jax.tree.leaves(params))
    return jnp.asarray(n_params * dims, jnp.float32)
