"""Proximal operators and hard projections for sparse layer-wise training (Bai 2021, §3.2.4).

Pruning by proximal gradient descent (Bai 2021, Eqs. 3.16–3.18): ``w ← Prox_{λR}(w − η∇L̃)``.

* Unstructured, ``R = ‖w‖₁``: the soft threshold ``Prox(w) = sign(w)·max(|w| − λ, 0)``.
* Structured (channel), ``R = Σ_i ‖w_i‖₂`` over the **input-channel** groups ``w_i`` (all output
  channels and taps that read input channel ``i``): ``Prox(w_i) = max(1 − λ/‖w_i‖₂, 0)·w_i``.

The thesis's threshold schedule is garbled (spec §2.2 / errata 2). The public code
(haolibai/Cross-Distillation) [ext] instead keeps the top ``ratio`` fraction of weights (or input
channels) by magnitude after each Adam step, with the **kept fraction** annealed linearly from 1 to
its target over the first third of the steps: :func:`kept_fraction` and :func:`topk_mask` /
:func:`topk_channel_mask`.

Kernels follow the Flax layouts: Conv ``(kh, kw, c_in, c_out)`` and Dense ``(c_in, c_out)``, so
the input channel is always axis ``-2``.

Example:
    >>> import jax.numpy as jnp
    >>> prox_l1(jnp.array([-2.0, 0.5, 3.0]), 1.0).tolist()
    [-1.0, 0.0, 2.0]
    >>> float(kept_fraction(0, 300, 0.5)), float(kept_fraction(50, 300, 0.5))
    (1.0, 0.75)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def _check_lambda(lam: ArrayLike) -> None:
    if not isinstance(lam, jax.core.Tracer) and float(jnp.min(jnp.asarray(lam))) < 0:
        raise ValueError(f"The proximal threshold λ must be >= 0; got {lam}.")


def prox_l1(w: ArrayLike, lam: ArrayLike) -> jax.Array:
    """Soft threshold, the proximal operator of ``λ‖w‖₁`` (Bai 2021, Eq. 3.17).

    Raises:
      ValueError: if ``λ < 0`` (checked when ``λ`` is concrete).
    """
    _check_lambda(lam)
    w = jnp.asarray(w)
    return jnp.sign(w) * jnp.maximum(jnp.abs(w) - lam, 0.0)


def channel_norms(kernel: ArrayLike, ord: int = 2) -> jax.Array:
    """Per-input-channel norms ``‖w_i‖`` of a Conv/Dense kernel (input channel = axis -2).

    ``ord=2`` is the group norm of Bai 2021 Eq. 3.18; ``ord=1`` is the L1 norm of Li et al.

    Raises:
      ValueError: for a kernel with fewer than 2 dimensions or ``ord`` not in (1, 2).
    """
    kernel = jnp.asarray(kernel)
    if kernel.ndim < 2:
        raise ValueError(f"A Conv/Dense kernel has >= 2 dimensions; got shape {kernel.shape}.")
    if ord not in (1, 2):
        raise ValueError(f"ord must be 1 or 2; got {ord}.")
    moved = jnp.moveaxis(kernel, -2, 0).reshape(kernel.shape[-2], -1)
    if ord == 1:
        return jnp.sum(jnp.abs(moved), axis=1)
    return jnp.sqrt(jnp.sum(jnp.square(moved), axis=1))


def _broadcast_channels(vec: jax.Array, kernel: jax.Array) -> jax.Array:
    shape = [1] * kernel.ndim
    shape[-2] = kernel.shape[-2]
    return jnp.reshape(vec, shape)


def prox_group_l2(kernel: ArrayLike, lam: ArrayLike) -> jax.Array:
    """Group shrinkage, the proximal operator of ``λ Σ_i ‖w_i‖₂`` over input channels (Eq. 3.18).

    Exactly the groups with ``‖w_i‖₂ <= λ`` become zero; the others shrink by ``λ/‖w_i‖₂``.

    Raises:
      ValueError: if ``λ < 0`` or the kernel has fewer than 2 dimensions.
    """
    _check_lambda(lam)
    kernel = jnp.asarray(kernel)
    norms = channel_norms(kernel)
    scale = jnp.maximum(1.0 - lam / jnp.maximum(norms, 1e-30), 0.0)
    return kernel * _broadcast_channels(scale, kernel)


def _keep_count(n: int, kept: ArrayLike) -> jax.Array:
    return jnp.clip(jnp.round(jnp.asarray(kept, jnp.float32) * n), 1, n).astype(jnp.int32)


def _top_count(scores: jax.Array, count: jax.Array) -> jax.Array:
    """Boolean mask of the ``count`` largest entries (ties broken by index, exactly ``count``)."""
    flat = scores.ravel()
    ranks = jnp.argsort(jnp.argsort(-flat, stable=True), stable=True)
    return (ranks < count).reshape(scores.shape)


def topk_mask(w: ArrayLike, kept: ArrayLike) -> jax.Array:
    """Keeps the ``round(kept·n)`` (at least 1) largest ``|w|``: the public code's hard threshold.

    ``kept`` may be traced (the annealed fraction inside a jitted loop).
    """
    w = jnp.asarray(w)
    return _top_count(jnp.abs(w), _keep_count(w.size, kept))


def topk_channel_mask(kernel: ArrayLike, kept: ArrayLike, ord: int = 2) -> jax.Array:
    """Per-input-channel keep vector: the ``round(kept·c_in)`` channels with the largest norms."""
    norms = channel_norms(kernel, ord)
    return _top_count(norms, _keep_count(norms.size, kept))


def expand_channel_mask(keep: ArrayLike, kernel_shape: tuple[int, ...]) -> jax.Array:
    """Broadcasts a ``(c_in,)`` keep vector to a full boolean kernel mask."""
    keep = jnp.asarray(keep, bool)
    if len(kernel_shape) < 2 or keep.shape != (kernel_shape[-2],):
        raise ValueError(
            f"A channel keep vector must have shape (c_in,) = ({kernel_shape[-2:-1]}); got "
            f"{keep.shape} for kernel shape {kernel_shape}."
        )
    shape = [1] * len(kernel_shape)
    shape[-2] = kernel_shape[-2]
    return jnp.broadcast_to(keep.reshape(shape), kernel_shape)


def kept_fraction(step: ArrayLike, num_steps: int, sparsity: float, ramp: float = 1 / 3):
    """Annealed kept fraction: 1 at step 0, linear down to ``1 − sparsity`` at ``ramp·num_steps``.

    ``ratio = r + (1 − r)·(T_r − t)/T_r`` for ``t <= T_r = ramp·T``, then ``r`` (public code [ext];
    spec §2.2, errata 2), with ``r = 1 − sparsity`` the final kept fraction.

    Raises:
      ValueError: if ``sparsity`` is not in [0, 1), ``num_steps < 1`` or ``ramp`` not in [0, 1].
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1); got {sparsity}.")
    if num_steps < 1 or not 0.0 <= ramp <= 1.0:
        raise ValueError(f"num_steps must be >= 1 and ramp in [0, 1]; got {num_steps}, {ramp}.")
    r = 1.0 - sparsity
    ramp_steps = max(ramp * num_steps, 1e-9)
    progress = jnp.clip(jnp.asarray(step, jnp.float32) / ramp_steps, 0.0, 1.0)
    return r + (1.0 - r) * (1.0 - progress)
