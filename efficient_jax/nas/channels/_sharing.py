"""Affine parameter sharing (APS): candidate transforms, the sharing level Φ and its annealing.

A searched layer with candidate widths ``c_1 < … < c_A`` keeps one meta-weight ``W ∈ R^{c×c}``
and builds candidate ``(i, o)`` as ``W^{i,o} = (Q^i)ᵀ W P^o`` with ``Q^i ∈ R^{c×c_i}``,
``P^o ∈ R^{c×c_o}`` (Bai thesis §6.3, Eq. 6.2 in the 2-D form of Eq. 6.9; spec 001 §5.2, errata 12).

* ordinal selection (APS-O): ``P^o = [e_1 … e_{c_o}]``, nested ranges, maximal Φ (Thm 6.3.1);
* independent selection (APS-I): disjoint blocks of basis vectors, Φ = 0 between candidates;
* transition (APS-T): start ordinal, then decrease Φ by projected gradient descent on ``P, Q``
  with unit-norm columns (Eq. 6.11).

Sharing level (Def. 6.3.1, closed form Eq. 6.6/6.10) with ``W_jk ~ N(0, 1)``:
``φ(i,o; ĩ,õ) = ‖Cov(W^{i,o}, W^{ĩ,õ})‖_F² = ‖Q^{iᵀ}Q^{ĩ}‖_F² · ‖P^{oᵀ}P^{õ}‖_F²`` and
``Φ = Σ_{i≤ĩ} Σ_{o≤õ} φ``, which factorises into ``(Σ_{i≤ĩ} G^Q_{iĩ}) · (Σ_{o≤õ} G^P_{oõ})`` with
the Gram-norm matrix ``G_{ab} = ‖A_aᵀ A_b‖_F²``. (The definition's strict ``<`` is
``inclusive=False``; spec errata 10.)

Transforms are stored stacked and zero-padded: ``(A, c, w_max)`` with a ``(A, w_max)`` column
mask, so one compiled network serves every candidate.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

APS_STRATEGIES = ("ordinal", "independent", "transition")


def _check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    w = tuple(int(x) for x in widths)
    if not w or any(x < 1 for x in w) or list(w) != sorted(set(w)):
        raise ValueError(
            f"candidate widths must be positive and strictly increasing, got {widths}."
        )
    return w


def column_mask(widths: Sequence[int]) -> jax.Array:
    """``(A, max(widths))`` float mask: row ``a`` has ``widths[a]`` leading ones."""
    w = _check_widths(widths)
    return jnp.asarray(np.arange(max(w))[None, :] < np.asarray(w)[:, None], jnp.float32)


def init_transforms(strategy: str, meta_width: int, widths: Sequence[int]) -> jax.Array:
    """Stacked ``(A, meta_width, max(widths))`` basis-vector transforms of a sharing strategy.

    Args:
      strategy: ``ordinal`` (and ``transition``, which starts ordinal) or ``independent``.
      meta_width: rows ``c`` of the meta-weight.
      widths: candidate widths.

    Raises:
      ValueError: unknown strategy; ``meta_width`` below ``max(widths)`` (ordinal) or below
        ``sum(widths)`` (independent needs disjoint blocks).

    Example:
        >>> t = init_transforms("independent", 6, (2, 4))
        >>> t.shape, t[1, 2:, :].sum().item()
        ((2, 6, 4), 4.0)
    """
    w = _check_widths(widths)
    if strategy not in APS_STRATEGIES:
        raise ValueError(f"Unknown APS strategy {strategy!r}; valid: {APS_STRATEGIES}.")
    need = sum(w) if strategy == "independent" else max(w)
    if meta_width < need:
        raise ValueError(
            f"{strategy} sharing of widths {w} needs a meta-weight of at least {need} rows, "
            f"got {meta_width}."
        )
    out = np.zeros((len(w), meta_width, max(w)), np.float32)
    offset = 0
    for a, c_a in enumerate(w):
        start = offset if strategy == "independent" else 0
        out[a, start + np.arange(c_a), np.arange(c_a)] = 1.0
        offset += c_a
    return jnp.asarray(out)


def gram_norms(t: jax.Array) -> jax.Array:
    """``G_{ab} = ‖T_aᵀ T_b‖_F²`` for stacked transforms ``t`` of shape ``(A, c, w)``."""
    cross = jnp.einsum("aci,bcj->abij", t, t)
    return jnp.sum(cross**2, axis=(2, 3))


def _ordered_sum(g: jax.Array, inclusive: bool) -> jax.Array:
    a = g.shape[0]
    keep = np.triu(np.ones((a, a), bool), 0 if inclusive else 1)
    return jnp.sum(jnp.where(keep, g, 0.0))


def sharing_level(q: jax.Array, p: jax.Array, *, inclusive: bool = True) -> jax.Array:
    """Φ = Σ_{i≤ĩ} Σ_{o≤õ} ‖Q^{iᵀ}Q^{ĩ}‖_F² ‖P^{oᵀ}P^{õ}‖_F² (``<`` when ``inclusive=False``).

    Args:
      q: input-side transforms ``(A_in, c_in, w_in)`` (a fixed, unsearched side is ``(1, c, c)``
        identity).
      p: output-side transforms ``(A_out, c_out, w_out)``.

    Example:
        >>> t = init_transforms("ordinal", 4, (2, 4))
        >>> one = jnp.eye(3)[None]
        >>> float(sharing_level(one, t))  # ‖I₃‖² · (2 + 2 + 4)
        24.0
    """
    return _ordered_sum(gram_norms(q), inclusive) * _ordered_sum(gram_norms(p), inclusive)


def pair_sharing(q_i, p_o, q_j, p_p) -> jax.Array:
    """φ(i,o; ĩ,õ) = ‖Q_iᵀQ_ĩ‖_F² · ‖P_oᵀP_õ‖_F² for single (unstacked) transforms."""
    return jnp.sum((q_i.T @ q_j) ** 2) * jnp.sum((p_o.T @ p_p) ** 2)


def monte_carlo_sharing(q_i, p_o, q_j, p_p, *, key: jax.Array, num_samples: int = 100_000):
    """Monte-Carlo ‖Cov(Q_iᵀWP_o, Q_ĩᵀWP_õ)‖_F² with ``W_jk ~ N(0, 1)`` (Def. 6.3.1).

    The bias ``E‖Ĉ‖² − ‖C‖²`` of the plug-in estimate is of order ``d_1 d_2 / n``.
    """
    c_in, c_out = q_i.shape[0], p_o.shape[0]
    w = jax.random.normal(key, (num_samples, c_in, c_out))
    a = jnp.einsum("ci,ncd,do->nio", q_i, w, p_o).reshape(num_samples, -1)
    b = jnp.einsum("ci,ncd,do->nio", q_j, w, p_p).reshape(num_samples, -1)
    a = a - a.mean(0)
    b = b - b.mean(0)
    cov = a.T @ b / (num_samples - 1)
    return jnp.sum(cov**2)


def normalize_columns(t: jax.Array, mask: jax.Array) -> jax.Array:
    """Π_U: every real column scaled to unit ℓ2 norm; padded columns stay zero."""
    norms = jnp.sqrt(jnp.sum(t**2, axis=1, keepdims=True))
    return jnp.where(mask[:, None, :] > 0, t / jnp.maximum(norms, 1e-12), 0.0)


def anneal_step(t: jax.Array, mask: jax.Array, lr: float, *, inclusive: bool = True) -> jax.Array:
    """One projected-gradient step of ``Σ_{a≤b} ‖T_aᵀT_b‖_F²`` (Eq. 6.11) for one side.

    Φ factorises over the two sides, so with the other side fixed the gradient of Φ is a positive
    multiple of this one; each side is annealed on its own factor (the thesis alternates P and Q).

    Example:
        >>> m = column_mask((2, 4))
        >>> t = init_transforms("ordinal", 8, (2, 4))
        >>> t = normalize_columns(t + 0.01 * jax.random.normal(jax.random.key(0), t.shape), m)
        >>> t2 = anneal_step(t, m, 1e-2)
        >>> bool(_ordered_sum(gram_norms(t2), True) < _ordered_sum(gram_norms(t), True))
        True
    """
    grad = jax.grad(lambda x: _ordered_sum(gram_norms(x), inclusive))(t)
    return normalize_columns(t - lr * grad * mask[:, None, :], mask)
