"""Post-training uniform weight quantization (round-to-nearest, symmetric, per output channel).

The simplest PTQ baseline: each matched kernel ``w`` gets ``s_c = max|w[..., c]| / (2^{b-1} - 1)``
per output channel ``c`` and is replaced by ``s_c · clip(round(w / s_c), -2^{b-1}, 2^{b-1} - 1)``
(Bai 2021, Eq. 2.4 with a max calibration). Storage: ``b`` bits per code plus one float32 scale per
channel; leaves no rule matches stay float32.

Example:
    >>> import jax.numpy as jnp
    >>> params = {"Dense_0": {"kernel": jnp.array([[0.5, -1.0], [0.25, 1.0]]), "bias": jnp.zeros(2)}}
    >>> q, nbytes = quantize_weights(params, bits=2)
    >>> q["Dense_0"]["kernel"].tolist(), nbytes
    ([[0.5, -1.0], [0.0, 1.0]], 17)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax import cost
from efficient_jax.core import CompressionResult, match_rules, register_compressor
from efficient_jax.types import Params

DEFAULT_RULES: tuple[tuple[str, bool], ...] = ((r"(kernel|embedding)$", True),)


def _check_bits(bits: int) -> None:
    if not isinstance(bits, int) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be an integer in 1..8; got {bits!r}.")


def fake_quantize_per_channel(w: jax.Array, bits: int) -> jax.Array:
    """Symmetric round-to-nearest quantization with one scale per last-axis channel.

    All-zero channels keep a unit scale (no division by zero, no NaN).
    """
    _check_bits(bits)
    qmax = 2 ** (bits - 1) - 1 if bits > 1 else 1
    qmin = -(2 ** (bits - 1)) if bits > 1 else -1
    reduce_axes = tuple(range(w.ndim - 1))
    amax = jnp.max(jnp.abs(w), axis=reduce_axes, keepdims=True)
    scale = jnp.where(amax > 0, amax / qmax, 1.0)
    return scale * jnp.clip(jnp.round(w / scale), qmin, qmax)


def quantize_weights(
    params: Params, bits: int, rules: Sequence[tuple[str, Any]] = DEFAULT_RULES
) -> tuple[Params, int]:
    """Quantizes every leaf matched by ``rules`` to ``bits``; returns ``(params, model_bytes)``.

    Raises:
      ValueError: if ``bits`` is outside 1..8 or a weight contains NaN/inf.
    """
    _check_bits(bits)
    selected = match_rules(params, rules, name="quantization rule")
    total = 0

    def q(leaf, sel):
        nonlocal total
        if not sel:
            total += int(np.asarray(leaf).nbytes)
            return leaf
        if not bool(jnp.all(jnp.isfinite(leaf))):
            raise ValueError("Cannot quantize weights containing NaN or inf.")
        total += math.ceil(leaf.size * bits / 8) + 4 * leaf.shape[-1]
        return fake_quantize_per_channel(leaf, bits)

    out = jax.tree.map(q, params, selected)
    return out, total


def ptq_weights_compressor(bits: int):
    """A registered-compressor function quantizing the weights of ``variables["params"]``."""
    _check_bits(bits)

    def compress(variables, *, apply_fn=None, calib_batch=None) -> CompressionResult:
        del apply_fn, calib_batch
        params, nbytes = quantize_weights(variables["params"], bits)
        others = cost.model_bytes_from_tree({k: v for k, v in variables.items() if k != "params"})
        return CompressionResult(
            {**variables, "params": params}, nbytes + others, info={"weight_bits": bits}
        )

    return compress


for _bits in (8, 4):
    register_compressor(f"ptq_w{_bits}")(ptq_weights_compressor(_bits))
