"""Differentiable neighbours of relaxed architecture weights (NA-DARTS, Wang thesis Ch. 3).

Reference: Xiaofang Wang, CMU-RI-TR-22-12, Ch. 3 "Neighborhood-Aware NAS", Sec. 3.4.2.2: pick
``d`` edges uniformly at random and perturb only those rows of α (the simplex weights, not the
logits). Additive (Eq. 3.6): ``α'_k = (α_k + q_k) / Σ_k (α_k + q_k)`` with ``|q_k| ≤ ε``,
``α_k + q_k ≥ 0`` (the thesis does not give the noise law; we draw ``q ~ U(-ε, ε)`` then clip
``q ≥ -α``). Multiplicative (Eq. 3.7): the row becomes the one-hot of ``none`` or ``skip_connect``
(chosen uniformly per edge), so perturbed rows pass no gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from efficient_jax.nas.spaces import NB201_OPS

PERTURBATIONS = ("additive", "multiplicative")


def _edge_subset(key: jax.Array, num_edges: int, d: int) -> jax.Array:
    """A (num_edges,) bool mask with exactly ``d`` random True entries."""
    perm = jax.random.permutation(key, num_edges)
    return jnp.zeros(num_edges, bool).at[perm[:d]].set(True)


def perturb_weights(
    weights: jax.Array, *, key: jax.Array, d: int, kind: str = "additive", eps: float = 0.1
) -> jax.Array:
    """One neighbour α' of simplex weights ``weights`` (``(E, M)``, rows sum to 1).

    Args:
      weights: softmax(β), one row per edge.
      key: PRNG key (edge subset and noise).
      d: number of edges to perturb, ``1 ≤ d ≤ E``.
      kind: ``"additive"`` (Eq. 3.6) or ``"multiplicative"`` (Eq. 3.7).
      eps: the additive noise bound ε (thesis: 0.1).

    Raises:
      ValueError: unknown ``kind``, ``d`` out of range or ``eps < 0``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> w = jnp.full((6, 5), 0.2)
        >>> a = perturb_weights(w, key=jax.random.key(0), d=2)
        >>> int((jnp.abs(a - w).max(-1) > 0).sum()), bool(jnp.allclose(a.sum(-1), 1.0))
        (2, True)
    """
    if kind not in PERTURBATIONS:
        raise ValueError(f"Unknown perturbation {kind!r}; valid: {PERTURBATIONS}.")
    num_edges, num_ops = weights.shape
    if not 1 <= int(d) <= num_edges:
        raise ValueError(f"d must be in [1, {num_edges}], got {d}.")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}.")
    k_edges, k_noise = jax.random.split(key)
    chosen = _edge_subset(k_edges, num_edges, int(d))[:, None]
    if kind == "additive":
        q = jax.random.uniform(k_noise, weights.shape, weights.dtype, -eps, eps)
        q = jnp.maximum(q, -jax.lax.stop_gradient(weights))
        new = (weights + q) / jnp.sum(weights + q, axis=-1, keepdims=True)
    else:
        cand = jnp.array([NB201_OPS.index("none"), NB201_OPS.index("skip_connect")])
        idx = cand[jax.random.randint(k_noise, (num_edges,), 0, 2)]
        r = jax.nn.one_hot(idx, num_ops, dtype=weights.dtype)
        new = r * weights / jnp.sum(r * weights, axis=-1, keepdims=True)
    return jnp.where(chosen, new, weights)


def neighbour_weights(
    weights: jax.Array,
    *,
    key: jax.Array,
    n_nbr: int,
    d: int,
    kind: str = "additive",
    eps: float = 0.1,
) -> jax.Array:
    """``(n_nbr, E, M)``: α itself first (always included), then ``n_nbr - 1`` neighbours.

    Raises:
      ValueError: ``n_nbr < 1`` (and whatever :func:`perturb_weights` rejects).
    """
    if int(n_nbr) < 1:
        raise ValueError(f"n_nbr must be >= 1, got {n_nbr}.")
    if int(n_nbr) == 1:
        return weights[None]
    keys = jax.random.split(key, int(n_nbr) - 1)
    others = jax.vmap(lambda k: perturb_weights(weights, key=k, d=d, kind=kind, eps=eps))(keys)
    return jnp.concatenate([weights[None], others], axis=0)
