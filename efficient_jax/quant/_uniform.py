"""Uniform fake quantization with a clipped straight-through estimator, and DoReFa weights.

:func:`uniform_quantize` is ``x̂ = s · Π_Ω(x / s)`` (Bai 2021, Eq. 2.4; symmetric, or asymmetric
with a zero point, see :mod:`~efficient_jax.quant._grid`) with the scale calibrated from ``x``
(min-max, percentile or MSE; per tensor, channel or group). The scale is derived from the data, so
it gets no gradient; the input gets the clipped STE: ``∂x̂/∂x = 1`` inside the calibration range
``[lo, hi]`` and 0 outside (Bai 2021 Fig. 2.3; qwix ``clip_gradient_to_calibration`` [ext]).

:func:`dorefa_quantize` is DoReFa's weight quantizer (Zhou et al. 2016; Bai 2021, Eq. 2.5).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from efficient_jax.quant._calibration import Calibration, parse_calibration, view_range
from efficient_jax.quant._common import (
    GRANULARITIES,
    Layout,
    check_broadcastable,
    check_input,
    compute_dtype,
    make_layout,
    nonzero_or_one,
)
from efficient_jax.quant._grid import decode, encode, grid_range, qrange, scale_from_range
from efficient_jax.quant._spec import LAYOUT_OPTIONS, QuantizerSpec, no_params


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def _fake_quant(x, scale, zero_point, lo, hi, qmin, qmax):
    return decode(encode(x, scale, zero_point, qmin, qmax), scale, zero_point)


def _fake_quant_fwd(x, scale, zero_point, lo, hi, qmin, qmax):
    return _fake_quant(x, scale, zero_point, lo, hi, qmin, qmax), (x, lo, hi)


def _fake_quant_bwd(qmin, qmax, res, g):
    del qmin, qmax
    x, lo, hi = res
    inside = (x >= lo) & (x <= hi)
    return jnp.where(inside, g, jnp.zeros_like(g)), None, None, None, None


_fake_quant.defvjp(_fake_quant_fwd, _fake_quant_bwd)


@dataclasses.dataclass(frozen=True)
class UniformConfig:
    """Validated static settings of a uniform quantizer (hashable: a ``jit`` static argument)."""

    bits: int
    symmetric: bool
    layout: Layout
    calibration: Calibration


def uniform_config(
    x: Any,
    bits: int,
    *,
    symmetric: bool,
    granularity: str,
    axis: Any,
    group_size: int | None,
    calibration: str | Calibration,
    name: str,
) -> tuple[jax.Array, UniformConfig]:
    """Validates eagerly (bits, dtype, concrete NaN/inf, granularity, calibration)."""
    bits = UNIFORM.check_bits(bits, name=name)
    x = check_input(x, name)
    layout = make_layout(x.shape, granularity, axis, group_size)
    return x, UniformConfig(bits, bool(symmetric), layout, parse_calibration(calibration))


def calibrated(
    x: jax.Array, scale: Any, zero_point: Any, cfg: UniformConfig, name: str
) -> tuple[jax.Array, jax.Array, jax.Array | None, jax.Array, jax.Array]:
    """``(x view, scale, zero_point, lo, hi)``, calibrated or from ``scale``; no gradients."""
    bits, symmetric, layout = cfg.bits, cfg.symmetric, cfg.layout
    xv = layout.view(x.astype(compute_dtype(x.dtype)))
    if scale is None:
        if zero_point is not None:
            raise ValueError(f"{name}: zero_point is only accepted together with scale.")
        xs = jax.lax.stop_gradient(xv)
        lo, hi = view_range(xs, layout, bits, symmetric, cfg.calibration)
        scale, zero_point = scale_from_range(lo, hi, bits, symmetric)
        return xv, scale, zero_point, lo, hi
    scale = jnp.asarray(scale, xv.dtype)
    check_broadcastable(scale, layout.scale_shape, f"{name}: scale")
    scale = nonzero_or_one(jnp.broadcast_to(scale, layout.scale_shape))
    if symmetric:
        if zero_point is not None:
            raise ValueError(f"{name}: symmetric quantization takes no zero_point.")
        zero_point = jnp.full_like(scale, -0.5) if bits == 1 else None
    else:
        if zero_point is None:
            raise ValueError(f"{name}: asymmetric quantization with a scale needs a zero_point.")
        zero_point = jnp.asarray(zero_point, xv.dtype)
        check_broadcastable(zero_point, layout.scale_shape, f"{name}: zero_point")
        zero_point = jnp.broadcast_to(zero_point, layout.scale_shape)
    scale, zero_point = jax.lax.stop_gradient((scale, zero_point))
    lo, hi = grid_range(scale, zero_point, bits, symmetric)
    return xv, scale, zero_point, lo, hi


@functools.partial(jax.jit, static_argnames=("cfg",))
def _uniform_impl(x, scale, zero_point, cfg: UniformConfig):
    xv, scale, zp, lo, hi = calibrated(x, scale, zero_point, cfg, "uniform_quantize")
    qmin, qmax = qrange(cfg.bits, cfg.symmetric)
    out = _fake_quant(xv, scale, zp, lo, hi, qmin, qmax)
    return cfg.layout.unview(out).astype(x.dtype)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _calibrate_impl(x, cfg: UniformConfig):
    return calibrated(x, None, None, cfg, "calibrate")[1:3]


def uniform_quantize(
    x: jax.typing.ArrayLike,
    bits: int,
    *,
    symmetric: bool = True,
    granularity: str = "per_tensor",
    axis: int | tuple[int, ...] = -1,
    group_size: int | None = None,
    calibration: str = "minmax",
    scale: jax.typing.ArrayLike | None = None,
    zero_point: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """Uniform fake quantization ``(clip(round(x/s + z), qmin, qmax) - z) · s`` with a clipped STE.

    Args:
      x: a floating array (any shape; bf16/f16 are quantized in float32 and cast back).
      bits: 1..8. Symmetric codes are ``Ω(b) = {-2^(b-1), ..., 2^(b-1)-1}`` (1 bit: the mid-rise
        grid ``{-s/2, s/2}``), asymmetric codes ``{0, ..., 2^b - 1}``.
      symmetric: symmetric grid (no zero point) or asymmetric (min-max with a zero point).
      granularity: ``"per_tensor"``, ``"per_channel"`` (one scale per index of ``axis``) or
        ``"per_group"`` (``group_size`` consecutive elements along ``axis``).
      axis: the channel axis (or axes) for per_channel, the grouped axis for per_group.
      group_size: elements per group (per_group only; must divide ``x.shape[axis]``).
      calibration: ``"minmax"``, ``"percentile[,P]"`` or ``"mse[,N]"``.
      scale, zero_point: skip calibration and use these (shapes broadcastable to the scale shape
        of the granularity; a zero scale is replaced by 1; asymmetric grids need both). The STE
        range is then the whole grid ``[(qmin - z) s, (qmax - z) s]``.

    Returns:
      The fake-quantized array, with ``x``'s shape and dtype. Gradient: 1 where
      ``lo <= x <= hi`` (the calibration range), else 0; the scale gets none.

    Raises:
      ValueError: bits outside 1..8, an unknown granularity or calibration, an integer dtype,
        or (concrete inputs only; not checked under ``jit``) NaN/inf in ``x``.

    Example:
        >>> import jax.numpy as jnp
        >>> uniform_quantize(jnp.array([-1.0, -0.3, 0.2, 1.0]), bits=2).tolist()
        [-1.0, -0.0, 0.0, 1.0]

    References:
      Bai 2021, Eq. 2.4. Calibration methods and per-group scales [ext, general practice].
    """
    x, cfg = uniform_config(
        x,
        bits,
        symmetric=symmetric,
        granularity=granularity,
        axis=axis,
        group_size=group_size,
        calibration=calibration,
        name="uniform_quantize",
    )
    return _uniform_impl(x, scale, zero_point, cfg)


def calibrate(
    x: jax.typing.ArrayLike,
    bits: int,
    *,
    symmetric: bool = True,
    granularity: str = "per_tensor",
    axis: int | tuple[int, ...] = -1,
    group_size: int | None = None,
    calibration: str = "minmax",
) -> tuple[jax.Array, jax.Array | None]:
    """The ``(scale, zero_point)`` :func:`uniform_quantize` would use (same arguments).

    Shapes are ``keepdims`` shapes of the grouped view (per_group splits ``axis`` into
    ``(n // group_size, group_size)`` and the scale has size 1 on the second part).
    ``zero_point`` is ``None`` for symmetric grids of 2+ bits.

    Example:
        >>> import jax.numpy as jnp
        >>> s, z = calibrate(jnp.array([[1.0, -2.0], [0.5, 4.0]]), 8, granularity="per_channel")
        >>> s.shape, z
        ((1, 2), None)
    """
    x, cfg = uniform_config(
        x,
        bits,
        symmetric=symmetric,
        granularity=granularity,
        axis=axis,
        group_size=group_size,
        calibration=calibration,
        name="calibrate",
    )
    return _calibrate_impl(x, cfg)


def calibrate_range(
    x: jax.typing.ArrayLike,
    bits: int,
    *,
    symmetric: bool = True,
    granularity: str = "per_tensor",
    axis: int | tuple[int, ...] = -1,
    group_size: int | None = None,
    calibration: str | Calibration = "minmax",
) -> tuple[jax.Array, jax.Array]:
    """The calibrated range ``(lo, hi)`` behind :func:`calibrate`'s scale (same arguments).

    Symmetric ranges are ``(-amax, amax)``. Shapes are ``keepdims`` shapes of the grouped view, as
    in :func:`calibrate`. Not jitted: it runs inside the caller's trace (e.g. a model-level
    calibration forward); :func:`scale_from_range` turns the range into ``(scale, zero_point)``.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.array([-1.0, 0.5, 2.0])
        >>> lo, hi = calibrate_range(x, 8, symmetric=False)
        >>> lo.tolist(), hi.tolist()
        ([-1.0], [2.0])
    """
    x, cfg = uniform_config(
        x,
        bits,
        symmetric=symmetric,
        granularity=granularity,
        axis=axis,
        group_size=group_size,
        calibration=calibration,
        name="calibrate_range",
    )
    xv = cfg.layout.view(x.astype(compute_dtype(x.dtype)))
    return view_range(xv, cfg.layout, cfg.bits, cfg.symmetric, cfg.calibration)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _dorefa(w, bits):
    t = jnp.tanh(w)
    m = nonzero_or_one(jnp.max(jnp.abs(t)))
    n = 2**bits - 1
    return 2 * (jnp.round((t / (2 * m) + 0.5) * n) / n) - 1


def _dorefa_fwd(w, bits):
    t = jnp.tanh(w)
    return _dorefa(w, bits), (t, nonzero_or_one(jnp.max(jnp.abs(t))))


def _dorefa_bwd(bits, res, g):
    del bits
    t, m = res
    return (g * (1 - t * t) / m,)


_dorefa.defvjp(_dorefa_fwd, _dorefa_bwd)


def dorefa_quantize(w: jax.typing.ArrayLike, bits: int) -> jax.Array:
    """DoReFa weights ``ŵ = 2 Q_b(w̄) − 1``, ``w̄ = tanh(w) / (2 max|tanh(w)|) + 1/2``.

    ``Q_b(v) = round((2^b − 1) v) / (2^b − 1)`` on ``[0, 1]``; the output lies in ``[-1, 1]``.
    Backward: STE through the rounding with ``max|tanh(w)|`` treated as a constant, i.e.
    ``∂ŵ/∂w = (1 − tanh²(w)) / max|tanh(w)|`` [ext: the DoReFa code lets the gradient flow through
    the max too; we treat the data-derived normaliser like every calibrated scale]. The DoReFa
    paper's special 1-bit form (``sign(w) · mean|w|``) is :func:`bwn_quantize`.

    Example:
        >>> import jax.numpy as jnp
        >>> dorefa_quantize(jnp.array([-2.0, 0.1, 2.0]), bits=2).tolist()
        [-1.0, 0.3333333730697632, 1.0]

    References:
      Zhou et al. 2016, "DoReFa-Net", Eq. 9; Bai 2021, Eq. 2.5.
    """
    bits = DOREFA.check_bits(bits, name="dorefa_quantize")
    w = check_input(w, "dorefa_quantize")
    return _dorefa_impl(w, bits)


@functools.partial(jax.jit, static_argnums=(1,))
def _dorefa_impl(w, bits):
    return _dorefa(w.astype(compute_dtype(w.dtype)), bits).astype(w.dtype)


# ---------------------------------------------------------------------------------------------
# Registry entries (registered in quant/_registry.py)

UNIFORM = QuantizerSpec(
    name="uniform",
    apply=lambda x, p, *, bits, **o: uniform_quantize(x, bits, **o),
    init=no_params,
    options=("symmetric", *LAYOUT_OPTIONS, "calibration"),
    granularities=GRANULARITIES,
    reference="Bai 2021 Eq. 2.4; min-max/percentile/MSE calibration",
)
DOREFA = QuantizerSpec(
    name="dorefa",
    apply=lambda x, p, *, bits: dorefa_quantize(x, bits),
    init=no_params,
    kind="weight",
    reference="Zhou et al. 2016; Bai 2021 Eq. 2.5",
)
