"""Quantizers with a learnable clip range: PACT and the learnable-clip uniform quantizer.

The learnable values (PACT's ``alpha``, the ``clip_lo``/``clip_hi`` pair) are plain array
arguments, so they are ordinary pytree leaves of the model's params and an optax optimizer trains
them. Each has an ``init_*`` function computing its initial value from data. Clip values are kept
positive by ``max(|α|, 1e-8)`` (gradient unchanged above 1e-8).

Example:
    >>> import jax, jax.numpy as jnp
    >>> x = jnp.array([-1.0, 0.4, 0.6, 3.0])
    >>> alpha = init_pact_alpha(x)  # max(x): nothing clipped at init
    >>> pact_quantize(x, alpha, bits=2).tolist()
    [0.0, 0.0, 1.0, 3.0]
    >>> float(jax.grad(lambda a: pact_quantize(x, a, bits=2).sum())(2.0))  # one x >= α
    1.0
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from efficient_jax.quant._common import (
    check_broadcastable,
    check_input,
    compute_dtype,
    nonzero_or_one,
    positive,
    sum_to_shape,
)
from efficient_jax.quant._grid import decode, encode
from efficient_jax.quant._spec import QuantizerSpec

# ---------------------------------------------------------------------------------------------
# PACT


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _pact(x, alpha, levels):
    s = alpha * (1 / levels)
    return decode(encode(jnp.clip(x, 0, alpha), s, None, 0, levels), s, None)


def _pact_fwd(x, alpha, levels):
    return _pact(x, alpha, levels), (x, alpha)


def _pact_bwd(levels, res, g):
    del levels
    x, alpha = res
    zero = jnp.zeros_like(g)
    gx = jnp.where((x >= 0) & (x < alpha), g, zero)
    galpha = sum_to_shape(jnp.where(x >= alpha, g, zero), alpha.shape)
    return gx, galpha


_pact.defvjp(_pact_fwd, _pact_bwd)
_pact_jit = jax.jit(_pact, static_argnums=(2,))


def pact_quantize(x: jax.typing.ArrayLike, alpha: jax.typing.ArrayLike, bits: int) -> jax.Array:
    """PACT activations: ``y = clip(x, 0, α)`` quantized with step ``s = α / (2^b − 1)``.

    Backward (the PACT paper's STE): ``∂ŷ/∂x = 1`` for ``0 <= x < α`` else 0;
    ``∂ŷ/∂α = 1`` for ``x >= α`` else 0 (summed over the elements sharing ``α``). ``α`` is used as
    ``max(|α|, 1e-8)``; add the paper's L2 penalty on ``α`` to the loss (or weight decay).

    Args:
      x: activations (usually after a ReLU).
      alpha: the learnable clip value, a scalar or a per-channel keepdims array.
      bits: 1..8.

    Example:
        >>> import jax.numpy as jnp
        >>> pact_quantize(jnp.array([-1.0, 0.4, 0.6, 3.0]), 2.0, bits=2).tolist()
        [0.0, 0.6666666865348816, 0.6666666865348816, 2.0]

    References:
      Choi et al. 2018, "PACT", Eqs. 1-3 [ext]; Bai 2021 §2.1.2 (learnable clip range).
    """
    bits = PACT.check_bits(bits, name="pact_quantize")
    x = check_input(x, "pact_quantize")
    cdt = compute_dtype(x.dtype)
    alpha = jnp.asarray(alpha)
    check_broadcastable(alpha, x.shape, "pact_quantize: alpha")
    out = _pact_jit(x.astype(cdt), positive(alpha.astype(cdt)), 2**bits - 1)
    return out.astype(x.dtype)


def init_pact_alpha(x: jax.typing.ArrayLike) -> jax.Array:
    """``α = max(x)`` of a calibration sample (nothing clipped at init; 1 if ``max(x) <= 0``).

    The PACT paper starts from a constant (α = 10); a data-driven start avoids a scale mismatch.
    """
    x = jnp.asarray(x)
    return nonzero_or_one(jnp.max(x).astype(jnp.float32))


# ---------------------------------------------------------------------------------------------
# Learnable-clip symmetric uniform quantizer (BinaryBERT's 8-bit activations) [ext]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _uniform_clip(x, lo, hi, n):
    xc = jnp.maximum(jnp.minimum(x, hi), lo)
    s = n / nonzero_or_one(jnp.max(jnp.abs(xc)))
    return jnp.round(xc * s) / s


def _uniform_clip_fwd(x, lo, hi, n):
    return _uniform_clip(x, lo, hi, n), (x, lo, hi)


def _uniform_clip_bwd(n, res, g):
    del n
    x, lo, hi = res
    zero = jnp.zeros_like(g)
    gx = jnp.where((x < hi) & (x > lo), g, zero)
    glo = sum_to_shape(jnp.where(x <= lo, g, zero), lo.shape)
    ghi = sum_to_shape(jnp.where(x >= hi, g, zero), hi.shape)
    return gx, glo, ghi


_uniform_clip.defvjp(_uniform_clip_fwd, _uniform_clip_bwd)
_uniform_clip_jit = jax.jit(_uniform_clip, static_argnums=(3,))


def uniform_clip_quantize(
    x: jax.typing.ArrayLike,
    clip_lo: jax.typing.ArrayLike,
    clip_hi: jax.typing.ArrayLike,
    bits: int,
) -> jax.Array:
    """Clip to ``[clip_lo, clip_hi]``, then symmetric uniform with a dynamic per-tensor scale.

    Forward: ``x_c = clip(x, lo, hi)``, ``s = (2^(b−1) − 1) / max|x_c|``, ``x̂ = round(x_c·s) / s``.
    Backward (PACT-style): ``∂x̂/∂x = 1`` for ``lo < x < hi``; ``∂/∂hi = Σ g·1(x >= hi)``;
    ``∂/∂lo = Σ g·1(x <= lo)``. This is BinaryBERT's 8-bit activation quantizer.

    Example:
        >>> import jax.numpy as jnp
        >>> uniform_clip_quantize(jnp.array([-3.0, 0.3, 1.2]), -2.0, 2.0, bits=2).tolist()
        [-2.0, 0.0, 2.0]

    References:
      [ext] BinaryBERT code ``utils_quant.SymQuantizer`` (huawei-noah/Pretrained-Language-Model);
      Bai 2021 §5.2 (A8 "uniform" activations).
    """
    bits = UNIFORM_CLIP.check_bits(bits, name="uniform_clip_quantize")
    x = check_input(x, "uniform_clip_quantize")
    cdt = compute_dtype(x.dtype)
    lo, hi = jnp.asarray(clip_lo, cdt), jnp.asarray(clip_hi, cdt)
    check_broadcastable(lo, x.shape, "uniform_clip_quantize: clip_lo")
    check_broadcastable(hi, x.shape, "uniform_clip_quantize: clip_hi")
    return _uniform_clip_jit(x.astype(cdt), lo, hi, 2 ** (bits - 1) - 1).astype(x.dtype)


def init_uniform_clip(x: jax.typing.ArrayLike) -> dict[str, jax.Array]:
    """``{"clip_lo": min(x), "clip_hi": max(x)}`` (BinaryBERT starts from ±2.5 [ext])."""
    x = jnp.asarray(x).astype(jnp.float32)
    return {"clip_lo": jnp.min(x), "clip_hi": jnp.max(x)}


# ---------------------------------------------------------------------------------------------
# Registry entries (registered in quant/_registry.py)

PACT = QuantizerSpec(
    name="pact",
    apply=lambda x, p, *, bits: pact_quantize(x, p["alpha"], bits),
    init=lambda x, *, bits: {"alpha": init_pact_alpha(x)},
    learned=("alpha",),
    kind="activation",
    init_stats=("max",),
    reference="Choi et al. 2018 (PACT) [ext]",
)
UNIFORM_CLIP = QuantizerSpec(
    name="uniform_clip",
    apply=lambda x, p, *, bits: uniform_clip_quantize(x, p["clip_lo"], p["clip_hi"], bits),
    init=lambda x, *, bits: init_uniform_clip(x),
    learned=("clip_lo", "clip_hi"),
    bits=tuple(range(2, 9)),
    init_stats=("min", "max"),
    reference="BinaryBERT utils_quant.SymQuantizer [ext]; Bai 2021 §5.2 (A8)",
)
