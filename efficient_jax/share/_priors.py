"""Learned weight sharing (Bidart 2023, §3.3): mixture priors, nearest-basis losses, snapping.

Weights are pushed towards a small set of basis values during training and then *snapped* to the
nearest one (storage: ``J`` floats plus ``⌈log2 J⌉``-bit indices):

- Gaussian mixture prior (soft weight sharing, Nowlan & Hinton 1992; Ullrich et al. 2017), eq. 3.1:
  ``p(w) = Σ_j π_j N(w | μ_j, σ_j²)``; loss term ``−τ log p(w)`` (eq. 3.2).
- Laplace mixture prior, eq. 3.4: ``p(w) = Σ_j π_j exp(−|w − μ_j| / b_j) / (2 b_j)``.
- Nearest-basis losses: per weight ``Σ_j |min_i |w_j − β_i||^p`` (eq. 3.5) and per kernel
  ``Σ_j (min_i ‖k_j − B_i‖₂)^p`` (eq. 3.6), with ``p = 2`` in the thesis experiments.

Mixture parameters are an ordinary pytree (:class:`MixturePrior`) so they can be learned with the
weights (empirical Bayes): ``σ = exp(log_scale)`` and ``π = softmax(logits)``. With
``zero_component=True`` component 0 has its mean fixed at 0 (``stop_gradient``): weights assigned
to it are pruned.

Example:
    >>> import jax.numpy as jnp
    >>> prior = init_mixture(jnp.linspace(-1, 1, 101), 5, scale=0.05)
    >>> w = jnp.array([0.49, -0.02])
    >>> [round(float(v), 3) for v in snap_to_basis(w, prior.means)[0]]
    [0.4, -0.0]

References:
    Bidart, PhD thesis, University of Waterloo, 2023, §3.3; Ullrich, Meeds & Welling, "Soft
    Weight-Sharing for Neural Network Compression", ICLR 2017.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from efficient_jax.core import match_rules
from efficient_jax.types import Params

KINDS = ("gaussian", "laplace")
_is_none = lambda x: x is None  # noqa: E731


class MixturePrior(NamedTuple):
    """A 1-D mixture over weight values.

    Attributes:
      means: ``(J,)`` component means (the basis values).
      log_scales: ``(J,)`` log σ (Gaussian) or log b (Laplace).
      logits: ``(J,)`` unnormalised mixing weights (``π = softmax(logits)``).
    """

    means: jax.Array
    log_scales: jax.Array
    logits: jax.Array


def init_mixture(
    weights: jax.typing.ArrayLike, num_components: int, *, scale: float = 0.05
) -> MixturePrior:
    """Means at the ``(j + ½)/J`` quantiles of ``weights``, equal scales and mixing weights."""
    if num_components < 1 or scale <= 0:
        raise ValueError(
            f"num_components must be >= 1 and scale > 0; got {num_components}, {scale}."
        )
    w = jnp.ravel(jnp.asarray(weights, jnp.float32))
    q = (jnp.arange(num_components, dtype=jnp.float32) + 0.5) / num_components
    means = jnp.quantile(w, q)
    log_s = jnp.full((num_components,), jnp.log(scale), jnp.float32)
    return MixturePrior(means, log_s, jnp.zeros((num_components,), jnp.float32))


def _means(prior: MixturePrior, zero_component: bool) -> jax.Array:
    if not zero_component:
        return prior.means
    return prior.means.at[0].set(0.0)  # fixed at zero: no gradient reaches means[0]


def mixture_log_prob(
    w: jax.typing.ArrayLike,
    prior: MixturePrior,
    kind: str = "gaussian",
    *,
    zero_component: bool = False,
    min_log_scale: float = -10.0,
) -> jax.Array:
    """Elementwise ``log p(w)`` under a Gaussian (eq. 3.1) or Laplace (eq. 3.4) mixture."""
    if kind not in KINDS:
        raise ValueError(f"Unknown mixture kind {kind!r}; allowed: {', '.join(KINDS)}.")
    w = jnp.asarray(w)[..., None]
    mu = _means(prior, zero_component)
    log_s = jnp.maximum(prior.log_scales, min_log_scale)
    log_pi = jax.nn.log_softmax(prior.logits)
    if kind == "gaussian":
        comp = -0.5 * ((w - mu) / jnp.exp(log_s)) ** 2 - log_s - 0.5 * jnp.log(2 * jnp.pi)
    else:
        comp = -jnp.abs(w - mu) / jnp.exp(log_s) - log_s - jnp.log(2.0)
    return jax.nn.logsumexp(comp + log_pi, axis=-1)


def _selected(params: Params, rules: Sequence[tuple[str, Any]]) -> list[jax.Array]:
    flags = jax.tree.leaves(match_rules(params, list(rules), name="prior rule"), is_leaf=_is_none)
    leaves = [p for p, f in zip(jax.tree.leaves(params), flags, strict=True) if f]
    if not leaves:
        raise ValueError(f"No parameter matches the rules {list(rules)}.")
    return leaves


def mixture_prior_loss(
    params: Params,
    prior: MixturePrior,
    rules: Sequence[tuple[str, Any]] = ((r"kernel$", True),),
    *,
    kind: str = "gaussian",
    tau: float = 1e-4,
    zero_component: bool = False,
) -> jax.Array:
    """``−τ Σ log p(w)`` over the weights of the leaves selected by ``rules`` (eq. 3.2)."""
    return -tau * sum(
        jnp.sum(mixture_log_prob(w, prior, kind, zero_component=zero_component))
        for w in _selected(params, rules)
    )


def nearest_basis_loss(
    w: jax.typing.ArrayLike, basis: jax.typing.ArrayLike, p: float = 2.0
) -> jax.Array:
    """Per-weight loss (eq. 3.5): ``Σ_j |min_i |w_j − β_i||^p``."""
    d = jnp.min(jnp.abs(jnp.asarray(w)[..., None] - jnp.asarray(basis)), axis=-1)
    return jnp.sum(d**p)


def nearest_kernel_loss(
    kernel: jax.typing.ArrayLike, basis_kernels: jax.typing.ArrayLike, p: float = 2.0
) -> jax.Array:
    """Per-kernel loss (eq. 3.6) for an HWIO ``kernel`` and ``(J, kh, kw)`` basis kernels.

    Each 2-D ``kh × kw`` slice is one kernel ``k_j``; the loss is ``Σ_j (min_i ‖k_j − B_i‖₂)^p``.
    """
    kernel = jnp.asarray(kernel)
    basis = jnp.asarray(basis_kernels)
    if kernel.ndim != 4 or basis.ndim != 3 or basis.shape[1:] != kernel.shape[:2]:
        raise ValueError(
            f"nearest_kernel_loss needs an HWIO kernel and (J, kh, kw) basis kernels; got "
            f"{kernel.shape} and {basis.shape}."
        )
    k = jnp.transpose(kernel, (2, 3, 0, 1)).reshape(-1, kernel.shape[0] * kernel.shape[1])
    b = basis.reshape(basis.shape[0], -1)
    d2 = jnp.sum((k[:, None, :] - b[None]) ** 2, axis=-1)
    return jnp.sum(jnp.sqrt(jnp.maximum(jnp.min(d2, axis=1), 1e-30)) ** p)


def snap_to_basis(
    w: jax.typing.ArrayLike, basis: jax.typing.ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """``(basis[idx], idx)`` with ``idx`` the nearest basis value of every weight."""
    w = jnp.asarray(w)
    basis = jnp.asarray(basis)
    if not bool(jnp.all(jnp.isfinite(w))):
        raise ValueError("snap_to_basis: weights contain NaN or inf.")
    idx = jnp.argmin(jnp.abs(w[..., None] - basis), axis=-1).astype(jnp.int32)
    return basis[idx].astype(w.dtype), idx


def snap_params(
    params: Params, basis: jax.typing.ArrayLike, rules: Sequence[tuple[str, Any]]
) -> Params:
    """Snaps every leaf selected by ``rules`` to its nearest basis values (others unchanged)."""
    flags = match_rules(params, list(rules), name="snap rule")
    return jax.tree.map(
        lambda f, p: snap_to_basis(p, basis)[0] if f else p, flags, params, is_leaf=_is_none
    )
