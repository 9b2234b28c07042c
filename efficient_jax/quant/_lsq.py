"""Learned step size quantization: LSQ and LSQ+ (a learnable offset).

The learnable values (LSQ's ``step``, LSQ+'s ``offset``) are plain array arguments, so they are
ordinary pytree leaves of the model's params and an optax optimizer trains them. Each has an
``init_*`` function computing its initial value from data. Steps are kept positive by
``max(|s|, 1e-8)`` (gradient unchanged above 1e-8).

Example:
    >>> import jax, jax.numpy as jnp
    >>> x = jnp.array([-1.0, -0.2, 0.3, 2.0])
    >>> step = init_lsq_step(x, bits=2)  # 2 mean|x| / sqrt(Qp) = 1.75
    >>> lsq_quantize(x, step, bits=2).tolist()
    [-1.75, -0.0, 0.0, 1.75]
    >>> g = jax.grad(lambda s: lsq_quantize(x, s, bits=2).sum())(step)  # Σ(round(v)-v, Qp)/2
    >>> round(float(g), 4)
    0.2571
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from efficient_jax.quant._common import (
    check_broadcastable,
    check_input,
    compute_dtype,
    make_layout,
    nonzero_or_one,
    positive,
    sum_to_shape,
)
from efficient_jax.quant._grid import decode, encode
from efficient_jax.quant._spec import QuantizerSpec, pick

# ---------------------------------------------------------------------------------------------
# LSQ and LSQ+


def lsq_qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """LSQ's ``(Q_n, Q_p)``: ``(-2^(b-1), 2^(b-1)-1)`` symmetric, ``(0, 2^b - 1)`` otherwise."""
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _lsq(x, step, qn, qp, grad_scale):
    return decode(encode(x, step, None, qn, qp), step, None)


def _lsq_fwd(x, step, qn, qp, grad_scale):
    return _lsq(x, step, qn, qp, grad_scale), (x, step)


def _lsq_bwd(qn, qp, grad_scale, res, g):
    x, step = res
    v = x * (1 / step)  # As encode() does: rounding agrees with the forward.
    small, big = v < qn, v > qp
    middle = ~(small | big)
    gx = jnp.where(middle, g, jnp.zeros_like(g))
    dstep = jnp.where(small, qn, jnp.where(big, qp, jnp.round(v) - v))
    return gx, sum_to_shape(dstep * g * grad_scale, step.shape)


_lsq.defvjp(_lsq_fwd, _lsq_bwd)
_lsq_jit = jax.jit(_lsq, static_argnums=(2, 3, 4))


def _lsq_args(spec, x, step, bits, name):
    bits = spec.check_bits(bits, name=name)
    x = check_input(x, name)
    step = jnp.asarray(step)
    check_broadcastable(step, x.shape, f"{name}: step")
    return bits, x, step, compute_dtype(x.dtype)


def _grad_scale(x_size: int, step_size: int, qp: int) -> float:
    """LSQ's ``g = 1 / sqrt(N · Q_p)``, ``N`` = elements per step (numel(v) per tensor)."""
    return 1.0 / math.sqrt(x_size // step_size * qp)


def lsq_quantize(
    x: jax.typing.ArrayLike, step: jax.typing.ArrayLike, bits: int, *, symmetric: bool = True
) -> jax.Array:
    """Learned step size quantization ``v̂ = s · clip(round(v / s), Q_n, Q_p)``.

    Backward (BinaryBERT ``SymLsqQuantizer``, Esser et al. 2020): ``∂v̂/∂v = 1(Q_n <= v/s <= Q_p)``;
    ``∂v̂/∂s = round(v/s) − v/s`` inside the range, ``Q_n`` below, ``Q_p`` above, multiplied by
    ``g = 1 / sqrt(N · Q_p)`` (``N`` = elements sharing the step) and summed.

    ``symmetric=False`` is BinaryBERT's ``AsymLsqQuantizer`` [ext]: ``v − min(v)`` (min treated as
    a constant, per step group) is quantized with ``Q_n = 0, Q_p = 2^b − 1`` and ``min(v)`` added
    back. The step is used as ``max(|s|, 1e-8)``.

    Args:
      x: the tensor to quantize (weights or activations).
      step: the learnable step ``s``, a scalar (per tensor, as in the theses) or a per-channel
        keepdims array; initialise with :func:`init_lsq_step`.
      bits: 2..8 (symmetric 1-bit LSQ has ``Q_p = 0``).
      symmetric: see above.

    Example:
        >>> import jax.numpy as jnp
        >>> lsq_quantize(jnp.array([0.26, -1.0, 5.0]), 0.5, bits=3).tolist()  # Q_p = 3
        [0.5, -1.0, 1.5]

    References:
      Esser et al. 2020, "Learned Step Size Quantization" [ext]; Bai 2021 §2.1.2, §4.2, §5.2;
      BinaryBERT ``utils_quant.py`` [ext].
    """
    bits, x, step, cdt = _lsq_args(LSQ, x, step, bits, "lsq_quantize")
    qn, qp = lsq_qrange(bits, symmetric)
    s = positive(step.astype(cdt))
    xc = x.astype(cdt)
    gs = _grad_scale(x.size, step.size, qp)
    if symmetric:
        return _lsq_jit(xc, s, qn, qp, gs).astype(x.dtype)
    axes = tuple(range(x.ndim - step.ndim)) + tuple(
        i + x.ndim - step.ndim for i, d in enumerate(step.shape) if d == 1
    )
    m = jax.lax.stop_gradient(jnp.min(xc, axis=axes, keepdims=True))
    return (_lsq_jit(xc - m, s, qn, qp, gs) + m).astype(x.dtype)


def _step_layout(x, granularity, axis):
    layout = make_layout(x.shape, granularity, axis)
    if granularity == "per_group":
        raise ValueError("LSQ steps are per_tensor or per_channel; per_group is not supported.")
    return layout


def init_lsq_step(
    x: jax.typing.ArrayLike,
    bits: int,
    *,
    symmetric: bool = True,
    granularity: str = "per_tensor",
    axis: int | tuple[int, ...] = -1,
) -> jax.Array:
    """LSQ's initial step ``2·mean|v| / sqrt(Q_p)`` (asymmetric: ``4·mean|v| / sqrt(Q_p)``).

    Per tensor it is a scalar; per channel a keepdims array. A zero mean (all-zero ``x``) gives
    ``s = 1`` instead of a zero step.
    """
    bits = LSQ.check_bits(bits, name="init_lsq_step")
    x = jnp.asarray(x).astype(jnp.float32)
    layout = _step_layout(x, granularity, axis)
    _, qp = lsq_qrange(bits, symmetric)
    mean_abs = jnp.mean(jnp.abs(x), axis=layout.reduce_axes, keepdims=granularity != "per_tensor")
    return nonzero_or_one((2.0 if symmetric else 4.0) * mean_abs / math.sqrt(qp))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _lsq_plus(x, step, offset, qn, qp, grad_scale):
    return decode(encode(x - offset, step, None, qn, qp), step, None) + offset


def _lsq_plus_fwd(x, step, offset, qn, qp, grad_scale):
    return _lsq_plus(x, step, offset, qn, qp, grad_scale), (x, step, offset)


def _lsq_plus_bwd(qn, qp, grad_scale, res, g):
    x, step, offset = res
    v = (x - offset) * (1 / step)
    small, big = v < qn, v > qp
    middle = ~(small | big)
    zero = jnp.zeros_like(g)
    gx = jnp.where(middle, g, zero)
    dstep = jnp.where(small, qn, jnp.where(big, qp, jnp.round(v) - v))
    doffset = jnp.where(middle, zero, g)
    return (
        gx,
        sum_to_shape(dstep * g * grad_scale, step.shape),
        sum_to_shape(doffset * grad_scale, offset.shape),
    )


_lsq_plus.defvjp(_lsq_plus_fwd, _lsq_plus_bwd)
_lsq_plus_jit = jax.jit(_lsq_plus, static_argnums=(3, 4, 5))


def lsq_plus_quantize(
    x: jax.typing.ArrayLike,
    step: jax.typing.ArrayLike,
    offset: jax.typing.ArrayLike,
    bits: int,
) -> jax.Array:
    """LSQ+ ``x̂ = s · clip(round((x − β) / s), 0, 2^b − 1) + β`` with a learnable offset ``β``.

    Backward: ``∂x̂/∂x = 1`` inside the range; ``∂x̂/∂s`` as LSQ on ``(x − β)/s``; ``∂x̂/∂β = 1``
    outside the range, 0 inside. Both ``s`` and ``β`` gradients are scaled by
    ``g = 1 / sqrt(N · Q_p)`` [ext, as in public LSQ+ implementations]. The step is used as
    ``max(|s|, 1e-8)``.

    Example:
        >>> import jax.numpy as jnp
        >>> lsq_plus_quantize(jnp.array([-0.2, 0.4, 2.0]), 0.5, -0.25, bits=2).tolist()
        [-0.25, 0.25, 1.25]

    References:
      Bhalgat et al. 2020, "LSQ+: Improving low-bit quantization through learnable offsets and
      better initialization" [ext]; Bai 2021 §2.1.2.
    """
    bits, x, step, cdt = _lsq_args(LSQ_PLUS, x, step, bits, "lsq_plus_quantize")
    offset = jnp.asarray(offset)
    check_broadcastable(offset, x.shape, "lsq_plus_quantize: offset")
    qn, qp = lsq_qrange(bits, symmetric=False)
    gs = _grad_scale(x.size, max(step.size, offset.size), qp)
    out = _lsq_plus_jit(x.astype(cdt), positive(step.astype(cdt)), offset.astype(cdt), qn, qp, gs)
    return out.astype(x.dtype)


def init_lsq_plus(
    x: jax.typing.ArrayLike,
    bits: int,
    *,
    granularity: str = "per_tensor",
    axis: int | tuple[int, ...] = -1,
) -> dict[str, jax.Array]:
    """Min-max start: ``s = (max − min) / (2^b − 1)``, ``β = min`` (LSQ+'s min-max init [ext]).

    A constant ``x`` gets ``s = 1``.
    """
    bits = LSQ_PLUS.check_bits(bits, name="init_lsq_plus")
    x = jnp.asarray(x).astype(jnp.float32)
    layout = _step_layout(x, granularity, axis)
    keep = granularity != "per_tensor"
    lo = jnp.min(x, axis=layout.reduce_axes, keepdims=keep)
    hi = jnp.max(x, axis=layout.reduce_axes, keepdims=keep)
    return {"step": nonzero_or_one((hi - lo) / (2**bits - 1)), "offset": lo}


# ---------------------------------------------------------------------------------------------
# Registry entries (registered in quant/_registry.py)

LSQ = QuantizerSpec(
    name="lsq",
    apply=lambda x, p, *, bits, **o: lsq_quantize(x, p["step"], bits, **pick(o, "symmetric")),
    init=lambda x, *, bits, **o: {"step": init_lsq_step(x, bits, **o)},
    learned=("step",),
    bits=tuple(range(2, 9)),
    options=("symmetric", "granularity", "axis"),
    granularities=("per_tensor", "per_channel"),
    init_stats=("mean_abs",),
    reference="Esser et al. 2020 [ext]; BinaryBERT Sym/AsymLsqQuantizer [ext]",
)
LSQ_PLUS = QuantizerSpec(
    name="lsq_plus",
    apply=lambda x, p, *, bits, **o: lsq_plus_quantize(x, p["step"], p["offset"], bits),
    init=lambda x, *, bits, **o: init_lsq_plus(x, bits, **o),
    learned=("step", "offset"),
    bits=tuple(range(2, 9)),
    options=("granularity", "axis"),
    granularities=("per_tensor", "per_channel"),
    init_stats=("min", "max"),
    reference="Bhalgat et al. 2020 (LSQ+) [ext]",
)
