"""Ternary and binary quantizers: TWN, TTQ, BWN (weights) and sign/ternary activations.

TWN and BWN use the identity straight-through estimator (``∂ŵ/∂w = 1``) and give the scale ``α``
no gradient, as the TernaryBERT/BinaryBERT code does [ext]. Their scales are per tensor
("layer-wise", Transformer matrices) or per channel (``granularity="per_channel", axis=0``:
"row-wise", one ``α`` and ``Δ`` per row of a word embedding), or per group.

``sign`` here is ``+1`` for ``w >= 0`` (not ``jnp.sign``, which maps 0 to 0): binary values then
really take one bit. It differs from ``torch.sign`` only on exact zeros.

Example:
    >>> import jax.numpy as jnp
    >>> w = jnp.array([0.9, -0.1, 0.05, -1.1])
    >>> twn_quantize(w).tolist()  # Δ = 0.7 mean|w| = 0.3675, α = mean(0.9, 1.1) = 1.0
    [1.0, 0.0, 0.0, -1.0]
    >>> bwn_quantize(w).tolist()  # α = mean|w| = 0.5375
    [0.5375000238418579, -0.5375000238418579, 0.5375000238418579, -0.5375000238418579]
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from efficient_jax.quant._common import (
    GRANULARITIES,
    check_broadcastable,
    check_input,
    compute_dtype,
    make_layout,
    nonzero_or_one,
    safe_div,
    sum_to_shape,
)
from efficient_jax.quant._spec import LAYOUT_OPTIONS, QuantizerSpec, no_params


def _identity_bwd(static, res, g):
    del static, res
    return (g,)


def _layout_call(core, w, name, granularity, axis, group_size):
    w = check_input(w, name)
    layout = make_layout(w.shape, granularity, axis, group_size)
    out = core(layout.view(w.astype(compute_dtype(w.dtype))), layout.reduce_axes)
    return layout.unview(out).astype(w.dtype)


# ---------------------------------------------------------------------------------------------
# TWN


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _twn(w, axes):
    delta = 0.7 * jnp.mean(jnp.abs(w), axis=axes, keepdims=True)
    kept = jnp.abs(w) > delta
    total = jnp.sum(jnp.where(kept, jnp.abs(w), 0), axis=axes, keepdims=True)
    alpha = safe_div(total, jnp.sum(kept, axis=axes, keepdims=True).astype(w.dtype))
    return jnp.where(w > delta, alpha, jnp.where(w < -delta, -alpha, jnp.zeros_like(w)))


_twn.defvjp(lambda w, axes: (_twn(w, axes), None), _identity_bwd)
_twn_jit = jax.jit(_twn, static_argnums=(1,))


def twn_quantize(
    w: jax.typing.ArrayLike,
    *,
    granularity: str = "per_tensor",
    axis: int | tuple[int, ...] = -1,
    group_size: int | None = None,
) -> jax.Array:
    """Ternary weights ``ŵ = α · sign(w) · 1(|w| > Δ)``, ``Δ = 0.7 · mean|w|``.

    ``α`` is the mean of ``|w|`` over the kept weights (0 if none is kept, e.g. all-zero ``w``).
    The threshold is strict (``>``) as in the official code [ext]; the thesis prints ``>=``.
    Backward: identity; ``α`` and ``Δ`` get no gradient.

    Example:
        >>> import jax.numpy as jnp
        >>> twn_quantize(jnp.array([[1.0, -0.1], [0.2, -3.0]]), granularity="per_channel", axis=0)
        Array([[ 1.,  0.],
               [ 0., -3.]], dtype=float32)

    References:
      Li et al. 2016, "Ternary Weight Networks"; Bai 2021, Eqs. 2.6 and 5.1; BinaryBERT
      ``utils_quant.TwnQuantizer`` [ext].
    """
    return _layout_call(_twn_jit, w, "twn_quantize", granularity, axis, group_size)


# ---------------------------------------------------------------------------------------------
# BWN


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _bwn(w, axes):
    alpha = jnp.mean(jnp.abs(w), axis=axes, keepdims=True)
    return jnp.where(w >= 0, alpha, -alpha)


_bwn.defvjp(lambda w, axes: (_bwn(w, axes), None), _identity_bwd)
_bwn_jit = jax.jit(_bwn, static_argnums=(1,))


def bwn_quantize(
    w: jax.typing.ArrayLike,
    *,
    granularity: str = "per_tensor",
    axis: int | tuple[int, ...] = -1,
    group_size: int | None = None,
) -> jax.Array:
    """Binary weights ``ŵ = α · sign(w)``, ``α = mean|w|`` (the closed-form ``min ‖w − αb‖²``).

    Backward: identity; ``α`` gets no gradient. All-zero ``w`` gives ``α = 0`` and ``ŵ = 0``.

    Example:
        >>> import jax.numpy as jnp
        >>> bwn_quantize(jnp.array([0.5, -1.5, 0.0])).tolist()  # sign(0) = +1
        [0.6666666865348816, -0.6666666865348816, 0.6666666865348816]

    References:
      Rastegari et al. 2016, "XNOR-Net" (BWN); Bai 2021, Eqs. 2.7-2.9 and 5.2; BinaryBERT
      ``utils_quant.BwnQuantizer`` [ext].
    """
    return _layout_call(_bwn_jit, w, "bwn_quantize", granularity, axis, group_size)


# ---------------------------------------------------------------------------------------------
# TTQ


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _ttq(w, wp, wn, threshold):
    delta = threshold * jnp.max(jnp.abs(w))
    return jnp.where(w > delta, wp, jnp.where(w < -delta, -wn, jnp.zeros_like(w)))


def _ttq_fwd(w, wp, wn, threshold):
    return _ttq(w, wp, wn, threshold), (w, wp, wn, threshold * jnp.max(jnp.abs(w)))


def _ttq_bwd(threshold, res, g):
    del threshold
    w, wp, wn, delta = res
    pos, neg = w > delta, w < -delta
    zero = jnp.zeros_like(g)
    gw = jnp.where(pos, wp * g, jnp.where(neg, wn * g, g))
    gwp = sum_to_shape(jnp.where(pos, g, zero), wp.shape)
    gwn = sum_to_shape(jnp.where(neg, -g, zero), wn.shape)
    return gw, gwp, gwn


_ttq.defvjp(_ttq_fwd, _ttq_bwd)
_ttq_jit = jax.jit(_ttq, static_argnums=(3,))


def _check_threshold(threshold: float, name: str) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError(f"{name}: threshold must be a number; got {threshold!r}.")
    if not (math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"{name}: threshold must be finite and >= 0; got {threshold!r}.")
    return float(threshold)


def ttq_quantize(
    w: jax.typing.ArrayLike,
    wp: jax.typing.ArrayLike,
    wn: jax.typing.ArrayLike,
    *,
    threshold: float = 0.05,
) -> jax.Array:
    """Trained ternary quantization: ``ŵ = W_p`` if ``w > Δ``, ``−W_n`` if ``w < −Δ``, else 0.

    ``Δ = t · max|w|`` (per tensor, ``t = 0.05`` in the paper). Gradients (TTQ paper Eqs. 7-8):
    ``∂L/∂W_p = Σ_{w>Δ} g``; ``∂L/∂W_n = −Σ_{w<−Δ} g`` (the paper prints the sum without the sign;
    the minus is the true derivative of ``−W_n`` and what the official code computes [ext]);
    latent weights get ``W_p·g`` where ``w > Δ``, ``W_n·g`` where ``w < −Δ``, ``g`` elsewhere.
    ``W_p, W_n`` are scalars or keepdims arrays; initialise with :func:`init_ttq`.

    Example:
        >>> import jax.numpy as jnp
        >>> ttq_quantize(jnp.array([0.5, -0.01, -0.8]), 0.6, 0.7).tolist()
        [0.6000000238418579, 0.0, -0.699999988079071]

    References:
      Zhu et al. 2017, "Trained Ternary Quantization"; Bai 2021 §2.1.2.
    """
    threshold = _check_threshold(threshold, "ttq_quantize")
    w = check_input(w, "ttq_quantize")
    cdt = compute_dtype(w.dtype)
    wp, wn = jnp.asarray(wp, cdt), jnp.asarray(wn, cdt)
    check_broadcastable(wp, w.shape, "ttq_quantize: wp")
    check_broadcastable(wn, w.shape, "ttq_quantize: wn")
    return _ttq_jit(w.astype(cdt), wp, wn, threshold).astype(w.dtype)


def init_ttq(w: jax.typing.ArrayLike, *, threshold: float = 0.05) -> dict[str, jax.Array]:
    """``W_p`` = mean of ``w`` over ``w > Δ``, ``W_n`` = mean of ``|w|`` over ``w < −Δ``.

    An empty side starts at 1. (The official code starts both at 1.0 on weights normalised to
    ``[-1, 1]`` [ext]; the data means fit un-normalised weights.)
    """
    threshold = _check_threshold(threshold, "init_ttq")
    w = jnp.asarray(w).astype(jnp.float32)
    delta = threshold * jnp.max(jnp.abs(w))
    pos, neg = w > delta, w < -delta
    wp = safe_div(jnp.sum(jnp.where(pos, w, 0)), jnp.sum(pos).astype(w.dtype))
    wn = safe_div(jnp.sum(jnp.where(neg, -w, 0)), jnp.sum(neg).astype(w.dtype))
    return {"wp": nonzero_or_one(wp), "wn": nonzero_or_one(wn)}


# ---------------------------------------------------------------------------------------------
# Activations


@jax.custom_vjp
def _binary_act(x):
    return jnp.where(x >= 0, jnp.ones_like(x), -jnp.ones_like(x))


def _clipped_identity_bwd(x, g):
    return (jnp.where(jnp.abs(x) <= 1, g, jnp.zeros_like(g)),)


_binary_act.defvjp(lambda x: (_binary_act(x), x), _clipped_identity_bwd)
_binary_act_jit = jax.jit(_binary_act)


def binary_act_quantize(x: jax.typing.ArrayLike) -> jax.Array:
    """Binary activations ``sign(x) ∈ {−1, +1}`` with the clipped STE ``∂/∂x = 1(|x| <= 1)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.array([-2.0, -0.5, 0.0, 0.5])
        >>> binary_act_quantize(x).tolist(), jax.grad(lambda x: binary_act_quantize(x).sum())(x)
        ([-1.0, -1.0, 1.0, 1.0], Array([0., 1., 1., 1.], dtype=float32))

    References:
      Hubara et al. 2016, "Binarized Neural Networks" (the hard-tanh STE); Bai 2021 Fig. 2.3.
    """
    x = check_input(x, "binary_act_quantize")
    return _binary_act_jit(x)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _ternary_act(x, threshold):
    one = jnp.ones_like(x)
    return jnp.where(x > threshold, one, jnp.where(x < -threshold, -one, jnp.zeros_like(x)))


_ternary_act.defvjp(
    lambda x, t: (_ternary_act(x, t), x), lambda t, x, g: _clipped_identity_bwd(x, g)
)
_ternary_act_jit = jax.jit(_ternary_act, static_argnums=(1,))


def ternary_act_quantize(x: jax.typing.ArrayLike, *, threshold: float = 0.5) -> jax.Array:
    """Ternary activations ``sign(x) · 1(|x| > threshold)`` with the clipped STE ``1(|x| <= 1)``.

    Example:
        >>> import jax.numpy as jnp
        >>> ternary_act_quantize(jnp.array([-2.0, -0.3, 0.6]), threshold=0.5).tolist()
        [-1.0, 0.0, 1.0]

    References:
      [ext] the ternary analogue of the BNN sign activation (Hubara et al. 2016); the thesis
      itself quantizes activations to 4 or 8 bits.
    """
    threshold = _check_threshold(threshold, "ternary_act_quantize")
    x = check_input(x, "ternary_act_quantize")
    return _ternary_act_jit(x, threshold)


# ---------------------------------------------------------------------------------------------
# Registry entries (registered in quant/_registry.py)

TWN = QuantizerSpec(
    name="twn",
    apply=lambda x, p, *, bits, **o: twn_quantize(x, **o),
    init=no_params,
    bits=(2,),
    kind="weight",
    options=LAYOUT_OPTIONS,
    granularities=GRANULARITIES,
    reference="Li et al. 2016; Bai 2021 Eqs. 2.6/5.1; BinaryBERT TwnQuantizer [ext]",
)
TTQ = QuantizerSpec(
    name="ttq",
    apply=lambda x, p, *, bits, **o: ttq_quantize(x, p["wp"], p["wn"], **o),
    init=lambda x, *, bits, **o: init_ttq(x, **o),
    learned=("wp", "wn"),
    bits=(2,),
    kind="weight",
    options=("threshold",),
    reference="Zhu et al. 2017 (TTQ)",
)
BWN = QuantizerSpec(
    name="bwn",
    apply=lambda x, p, *, bits, **o: bwn_quantize(x, **o),
    init=no_params,
    bits=(1,),
    kind="weight",
    options=LAYOUT_OPTIONS,
    granularities=GRANULARITIES,
    reference="Rastegari et al. 2016; Bai 2021 Eqs. 2.7-2.9/5.2",
)
BINARY_ACT = QuantizerSpec(
    name="binary_act",
    apply=lambda x, p, *, bits: binary_act_quantize(x),
    init=no_params,
    bits=(1,),
    kind="activation",
    reference="Hubara et al. 2016 (sign with the |x| <= 1 STE)",
)
TERNARY_ACT = QuantizerSpec(
    name="ternary_act",
    apply=lambda x, p, *, bits, **o: ternary_act_quantize(x, **o),
    init=no_params,
    bits=(2,),
    kind="activation",
    options=("threshold",),
    reference="[ext] ternary sign activation",
)
