"""Bit-packing of unsigned ``b``-bit codes into ``uint8`` along the last axis.

Layout: the codes of one row form a little-endian bit stream, code ``i`` occupying stream bits
``[i·b, (i+1)·b)``, byte ``j`` holding stream bits ``[8j, 8j+8)`` (bit 0 = least significant).
For ``b ∈ {1, 2, 4}`` this is ``8 / b`` whole codes per byte (code ``i`` at shift ``b·(i mod 8/b)``
of byte ``i // (8/b)``); for ``b ∈ {3, 5, 6, 7}`` codes straddle bytes. A row of ``n`` codes takes
``ceil(n·b / 8)`` bytes; the unused high bits of the last byte are zero. Packing per row keeps
the leading axes, so a row-sharded or row-gathered array (an embedding table) stays so.

Example:
    >>> import jax.numpy as jnp
    >>> p = pack(jnp.array([1, 2, 3], jnp.uint8), bits=2)
    >>> p.tolist(), unpack(p, bits=2, n=3).tolist()
    ([57], [1, 2, 3])
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from efficient_jax.quant._common import check_bits


def packed_size(n: int, bits: int) -> int:
    """Bytes taken by a row of ``n`` ``bits``-bit codes."""
    return -(-n * bits // 8)


def _pad_last(x: jax.Array, to_multiple: int) -> jax.Array:
    pad = (-x.shape[-1]) % to_multiple
    return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, pad)]) if pad else x


def pack(codes: jax.typing.ArrayLike, bits: int) -> jax.Array:
    """Packs unsigned codes ``0 <= c < 2**bits`` along the last axis into ``uint8``.

    Args:
      codes: integer array of rank >= 1 (values outside ``[0, 2**bits)`` are masked to ``bits``
        bits, so offset signed codes first).
      bits: 1..8.

    Returns:
      ``uint8`` array of shape ``codes.shape[:-1] + (ceil(n * bits / 8),)``.
    """
    bits = check_bits(bits, name="pack")
    codes = jnp.asarray(codes)
    if codes.ndim == 0:
        raise ValueError("pack needs an array of rank >= 1; reshape scalars to (1,).")
    return _pack(codes, bits)


@functools.partial(jax.jit, static_argnums=(1,))
def _pack(codes: jax.Array, bits: int) -> jax.Array:
    c = codes.astype(jnp.uint8) & jnp.uint8(2**bits - 1)
    lead, n = c.shape[:-1], c.shape[-1]
    if 8 % bits == 0:  # whole codes per byte
        per = 8 // bits
        c = _pad_last(c, per).reshape(*lead, -1, per)
        shifts = jnp.arange(per, dtype=jnp.uint8) * jnp.uint8(bits)
        return jnp.sum(c << shifts, axis=-1, dtype=jnp.uint8)  # disjoint bits: sum == or
    stream = (c[..., None] >> jnp.arange(bits, dtype=jnp.uint8)) & jnp.uint8(1)
    stream = _pad_last(stream.reshape(*lead, n * bits), 8).reshape(*lead, -1, 8)
    return jnp.sum(stream << jnp.arange(8, dtype=jnp.uint8), axis=-1, dtype=jnp.uint8)


def unpack(packed: jax.typing.ArrayLike, bits: int, n: int) -> jax.Array:
    """Inverse of :func:`pack`: the first ``n`` codes of each row, as ``uint8``.

    Raises:
      ValueError: if the last axis of ``packed`` is not ``ceil(n * bits / 8)`` bytes.
    """
    bits = check_bits(bits, name="unpack")
    packed = jnp.asarray(packed)
    if packed.dtype != jnp.uint8 or packed.ndim == 0:
        raise ValueError(f"unpack expects a uint8 array of rank >= 1; got {packed.dtype}.")
    if packed.shape[-1] != packed_size(n, bits):
        raise ValueError(
            f"{n} codes of {bits} bits need {packed_size(n, bits)} bytes per row; the packed "
            f"array has {packed.shape[-1]}."
        )
    return _unpack(packed, bits, n)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _unpack(packed: jax.Array, bits: int, n: int) -> jax.Array:
    lead = packed.shape[:-1]
    if 8 % bits == 0:
        per = 8 // bits
        shifts = jnp.arange(per, dtype=jnp.uint8) * jnp.uint8(bits)
        c = (packed[..., None] >> shifts) & jnp.uint8(2**bits - 1)
        return c.reshape(*lead, -1)[..., :n]
    stream = (packed[..., None] >> jnp.arange(8, dtype=jnp.uint8)) & jnp.uint8(1)
    stream = stream.reshape(*lead, -1)[..., : n * bits].reshape(*lead, n, bits)
    return jnp.sum(stream << jnp.arange(bits, dtype=jnp.uint8), axis=-1, dtype=jnp.uint8)
