"""GDAS: one op per edge sampled with the straight-through Gumbel-softmax.

Reference: Dong & Yang, "Searching for a Robust Neural Architecture in Four GPU Hours" (GDAS),
CVPR 2019, Eqs. 3-5; FBNet (Wu et al. 2019) uses the same Gumbel-softmax relaxation (spec
004_abstracts.md #3). The forward pass sees a one-hot architecture ``h = onehot(argmax(α + g))``;
the backward pass differentiates the tempered softmax ``softmax((α + g) / τ)`` (``h - sg(s) + s``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gumbel_softmax(
    logits: jax.Array, *, key: jax.Array, tau: float | jax.Array = 1.0, hard: bool = True
) -> jax.Array:
    """A Gumbel-softmax sample over the last axis; ``hard`` gives straight-through one-hots.

    Args:
      logits: architecture logits α, e.g. ``(6, 5)``.
      key: PRNG key for the Gumbel noise.
      tau: temperature τ > 0 (GDAS anneals 10 → 0.1).
      hard: forward one-hot (GDAS) instead of the soft sample (SNAS-style).

    Raises:
      ValueError: a concrete non-positive ``tau``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> h = gumbel_softmax(jnp.zeros((6, 5)), key=jax.random.key(0), tau=1.0)
        >>> h.sum(-1).tolist(), sorted(set(h.ravel().tolist()))
        ([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 1.0])
    """
    if not isinstance(tau, jax.Array) and float(tau) <= 0:
        raise ValueError(f"tau must be > 0, got {tau}.")
    g = jax.random.gumbel(key, logits.shape, logits.dtype)
    soft = jax.nn.softmax((logits + g) / tau, axis=-1)
    if not hard:
        return soft
    onehot = jax.nn.one_hot(jnp.argmax(soft, axis=-1), logits.shape[-1], dtype=soft.dtype)
    return onehot - jax.lax.stop_gradient(soft) + soft


def tau_schedule(step: jax.Array, num_steps: int, tau_max: float = 10.0, tau_min: float = 0.1):
    """GDAS' linear temperature decay from ``tau_max`` to ``tau_min`` over ``num_steps``."""
    if not 0 < tau_min <= tau_max:
        raise ValueError(f"need 0 < tau_min <= tau_max, got {tau_min}, {tau_max}.")
    frac = jnp.clip(step / max(int(num_steps) - 1, 1), 0.0, 1.0)
    return tau_max - (tau_max - tau_min) * frac
