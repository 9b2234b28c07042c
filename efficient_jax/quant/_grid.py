"""The uniform integer grid shared by fake quantization, LSQ and :class:`QArray`.

A value ``x`` is encoded as the integer code ``c = clip(round(x / s + z), qmin, qmax)`` and
reconstructed as ``x̂ = (c - z) · s`` (Bai 2021, Eq. 2.4, with an optional zero point ``z``):

- symmetric, ``b >= 2`` bits: ``c ∈ Ω(b) = {-2^(b-1), ..., 2^(b-1) - 1}``, no zero point;
- symmetric, ``b = 1``: ``Ω(1) = {-1, 0}`` has no positive level, so the 1-bit symmetric grid is
  the mid-rise grid ``z = -1/2``: ``x̂ ∈ {-s/2, +s/2}`` (a scaled sign);
- asymmetric: ``c ∈ {0, ..., 2^b - 1}`` with a real-valued zero point ``z = -lo / s`` (not
  rounded: ``x̂`` spans exactly ``[lo, hi]``, as in the BinaryBERT ``AsymQuantizer`` [ext]).

Every quantizer that produces grid values calls :func:`encode` then :func:`decode`, and so does
:func:`~efficient_jax.quant.dequantize`; that shared arithmetic is what makes
``dequantize(quantize(x)) == uniform_quantize(x)`` hold exactly (see :class:`QArray` for the
fine print). Divisions are spelled as products with reciprocals (``amax * (1 / qmax)``,
``x * (1 / s)``): a product is rounded the same way in every compiled program, whereas XLA turns
some divisions into reciprocal products and not others.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from efficient_jax.quant._common import nonzero_or_one


def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """The code range ``(qmin, qmax)`` of a ``bits``-bit grid.

    Example:
        >>> qrange(4, symmetric=True), qrange(4, symmetric=False), qrange(1, symmetric=True)
        ((-8, 7), (0, 15), (-1, 0))
    """
    if not symmetric:
        return 0, 2**bits - 1
    if bits == 1:
        return -1, 0
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def encode(
    x: jax.Array, scale: jax.Array, zero_point: jax.Array | None, qmin: int, qmax: int
) -> jax.Array:
    """Integer-valued (float) codes ``clip(round(x / scale + zero_point), qmin, qmax)``.

    ``x / scale`` is computed as ``x * (1 / scale)``: XLA rewrites a division by a broadcast
    divisor into that form in some programs and not in others, so spelling it out keeps the codes
    identical between separately compiled programs (``quantize`` and the fake-quant forward).
    """
    v = x * (1 / scale)
    if zero_point is not None:
        v = v + zero_point
    return jnp.clip(jnp.round(v), qmin, qmax)


def decode(codes: jax.Array, scale: jax.Array, zero_point: jax.Array | None) -> jax.Array:
    """Grid values ``(codes - zero_point) * scale``.

    Example:
        >>> import jax.numpy as jnp
        >>> decode(jnp.array([0.0, 3.0]), 0.5, jnp.array(1.0)).tolist()
        [-0.5, 1.0]
    """
    if zero_point is not None:
        codes = codes - zero_point
    return codes * scale


def scale_from_range(
    lo: jax.Array, hi: jax.Array, bits: int, symmetric: bool
) -> tuple[jax.Array, jax.Array | None]:
    """``(scale, zero_point)`` mapping the range ``[lo, hi]`` onto the grid.

    Symmetric grids use ``amax = max(|lo|, |hi|)`` and map it to ``qmax`` (``s = amax / qmax``;
    1 bit: ``s = 2 amax``, ``z = -1/2``); asymmetric grids map ``lo → 0`` and ``hi → 2^b - 1``.
    A zero-width range (all-zero or constant input) gets ``s = 1``: constant tensors are then
    reconstructed exactly and nothing divides by zero.

    Example:
        >>> import jax.numpy as jnp
        >>> scale, zp = scale_from_range(jnp.array(-1.0), jnp.array(2.0), 8, symmetric=True)
        >>> round(float(scale), 6), zp
        (0.015748, None)
    """
    qmin, qmax = qrange(bits, symmetric)
    if symmetric:
        amax = jnp.maximum(jnp.abs(lo), jnp.abs(hi))
        if bits == 1:
            scale = nonzero_or_one(2 * amax)
            return scale, jnp.full_like(scale, -0.5)
        return nonzero_or_one(amax * (1 / qmax)), None  # a product is rounded alike everywhere
    scale = nonzero_or_one((hi - lo) * (1 / (qmax - qmin)))
    return scale, -lo * (1 / scale)


def grid_range(
    scale: jax.Array, zero_point: jax.Array | None, bits: int, symmetric: bool
) -> tuple[jax.Array, jax.Array]:
    """The lowest and highest grid values ``(decode(qmin), decode(qmax))``."""
    qmin, qmax = qrange(bits, symmetric)
    return (
        decode(jnp.full_like(scale, qmin), scale, zero_point),
        decode(jnp.full_like(scale, qmax), scale, zero_point),
    )
