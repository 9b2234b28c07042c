"""Loss-aware quantization (LAQ) of weights, with the Hessian diagonal from Adam's second moment.

LAQ minimises the second-order loss increase ``(w − αb)ᵀ D (w − αb)`` instead of ``‖w − αb‖²``,
with ``D = diag(sqrt(v) + ε)`` from Adam's second-moment estimate ``v`` (``D = 1`` reduces it to a
plain least-squares fit). For ``b`` bits (``n = 2^(b−1) − 1`` positive levels) it alternates

    α = Σ |b · D · w| / Σ |b · D|,      b = round(clip(w / α, −1, 1) · n) / n

starting from ``b = sign(w)``, once plus ``iters`` (10) more times, and outputs ``α · b``. One bit
(loss-aware binarization) is closed form: ``α = Σ|D·w| / Σ D``, ``b = sign(w)``. Backward:
identity, no gradient to ``α`` [ext].

Pass ``v`` explicitly (e.g. ``opt_state[0].nu`` of ``optax.adam``, the leaf matching ``w``): the
quantizer itself holds no optimizer state.

Example:
    >>> import jax.numpy as jnp
    >>> w = jnp.array([1.0, 0.4, -0.1, -0.9])
    >>> laq_quantize(w, bits=2).tolist()  # ternary, D = 1: α = 0.6 → 0.767 (converged)
    [0.7666666507720947, 0.7666666507720947, -0.0, -0.7666666507720947]
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from efficient_jax.quant._common import (
    GRANULARITIES,
    check_input,
    compute_dtype,
    make_layout,
    safe_div,
)
from efficient_jax.quant._spec import LAYOUT_OPTIONS, QuantizerSpec, no_params


def _alpha(w, b, d, axes):
    return safe_div(
        jnp.sum(jnp.abs(b * d * w), axis=axes, keepdims=True),
        jnp.sum(jnp.abs(b * d), axis=axes, keepdims=True),
    )


def _laq_forward(w, d, bits, axes, iters):
    if bits == 1:
        alpha = jnp.sum(jnp.abs(d * w), axis=axes, keepdims=True) / jnp.sum(
            d, axis=axes, keepdims=True
        )
        return jnp.where(w >= 0, alpha, -alpha)
    n = 2 ** (bits - 1) - 1

    def step(b):
        alpha = _alpha(w, b, d, axes)
        return alpha, jnp.round(jnp.clip(safe_div(w, alpha), -1.0, 1.0) * n) / n

    alpha, b = step(jnp.sign(w))
    alpha, b = jax.lax.fori_loop(0, iters, lambda _, ab: step(ab[1]), (alpha, b))
    return alpha * b


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _laq(w, d, bits, axes, iters):
    return _laq_forward(w, d, bits, axes, iters)


def _laq_fwd(w, d, bits, axes, iters):
    return _laq_forward(w, d, bits, axes, iters), None


def _laq_bwd(bits, axes, iters, res, g):
    del bits, axes, iters, res
    return g, None


_laq.defvjp(_laq_fwd, _laq_bwd)
_laq_jit = jax.jit(_laq, static_argnums=(2, 3, 4))


def laq_quantize(
    w: jax.typing.ArrayLike,
    bits: int,
    *,
    v: jax.typing.ArrayLike | None = None,
    eps: float = 1e-8,
    granularity: str = "per_tensor",
    axis: int | tuple[int, ...] = -1,
    group_size: int | None = None,
    iters: int = 10,
) -> jax.Array:
    """Loss-aware ``b``-bit weights ``α · b`` (see the module docstring).

    Args:
      w: weights.
      bits: 1..8.
      v: Adam's second-moment estimate for ``w`` (same shape); ``D = sqrt(v) + eps``. ``None``
        uses ``D = 1`` (what the BinaryBERT code does).
      eps: added to ``sqrt(v)``.
      granularity, axis, group_size: one ``α`` per tensor ("layer-wise"), per channel
        (``axis=0``: "row-wise") or per group.
      iters: refinement iterations after the first.

    Raises:
      ValueError: bad bits, granularity or ``v`` shape; concrete NaN/inf in ``w`` or ``v``.

    References:
      Hou et al. 2017/2018, "Loss-aware binarization / weight quantization"; Bai 2021 §2.1.2;
      BinaryBERT ``utils_quant.LaqQuantizer`` [ext].
    """
    bits = LAQ.check_bits(bits, name="laq_quantize")
    w = check_input(w, "laq_quantize")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 0:
        raise ValueError(f"laq_quantize: iters must be a non-negative int; got {iters!r}.")
    cdt = compute_dtype(w.dtype)
    layout = make_layout(w.shape, granularity, axis, group_size)
    if v is None:
        d = jnp.ones(layout.view_shape, cdt)
    else:
        v = check_input(v, "laq_quantize: v")
        if v.shape != w.shape:
            raise ValueError(f"laq_quantize: v has shape {v.shape}; w has {w.shape}.")
        d = layout.view(jnp.sqrt(v.astype(cdt)) + eps)
    out = _laq_jit(
        layout.view(w.astype(cdt)), jax.lax.stop_gradient(d), bits, layout.reduce_axes, iters
    )
    return layout.unview(out).astype(w.dtype)


# ---------------------------------------------------------------------------------------------
# Registry entry (registered in quant/_registry.py)

LAQ = QuantizerSpec(
    name="laq",
    apply=lambda x, p, *, bits, **o: laq_quantize(x, bits, **o),
    init=no_params,
    kind="weight",
    options=(*LAYOUT_OPTIONS, "v", "eps", "iters"),
    granularities=GRANULARITIES,
    reference="Hou et al. 2018; BinaryBERT LaqQuantizer [ext]",
)
