"""Post-training uniform weight quantization (round-to-nearest, symmetric, per output channel).

The simplest PTQ baseline: each matched kernel ``w`` gets ``s_c = max|w[..., c]| / (2^{b-1} - 1)``
per output channel ``c`` and is replaced by ``s_c · clip(round(w / s_c), -2^{b-1}, 2^{b-1} - 1)``
(Bai 2021, Eq. 2.4 with a max calibration). Storage: ``b`` bits per code plus one float32 scale per
channel (the packed :class:`~efficient_jax.quant.QArray`); leaves no rule matches stay float32.

Example:
    >>> import jax.numpy as jnp
    >>> kernel = jnp.array([[0.5, -1.0], [0.25, 1.0]])
    >>> params = {"Dense_0": {"kernel": kernel, "bias": jnp.zeros(2)}}
    >>> q, nbytes = quantize_weights(params, bits=2)
    >>> q["Dense_0"]["kernel"].tolist(), nbytes
    ([[0.5, -1.0], [0.0, 1.0]], 18)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from efficient_jax import cost
from efficient_jax.core import CompressionResult, match_rules
from efficient_jax.quant._qarray import dequantize, quantize
from efficient_jax.quant._uniform import UNIFORM, uniform_quantize
from efficient_jax.types import Params

DEFAULT_RULES: tuple[tuple[str, bool], ...] = ((r"(kernel|embedding)$", True),)
_PTQ_CONFIG = dict(symmetric=True, granularity="per_channel", axis=-1, calibration="minmax")


def fake_quantize_per_channel(w: jax.Array, bits: int) -> jax.Array:
    """Symmetric round-to-nearest quantization with one min-max scale per last-axis channel.

    The same values as ``dequantize(quantize(w, bits, granularity="per_channel"))``. All-zero
    channels keep a unit scale (no division by zero, no NaN). One bit is the mid-rise grid
    ``±max|w|`` (see :func:`~efficient_jax.quant.uniform_quantize`).
    """
    return uniform_quantize(w, bits, **_PTQ_CONFIG)


def quantize_weights(
    params: Params, bits: int, rules: Sequence[tuple[str, Any]] = DEFAULT_RULES
) -> tuple[Params, int]:
    """Quantizes every leaf matched by ``rules`` to ``bits``; returns ``(params, model_bytes)``.

    Matched leaves are replaced by their reconstruction ``dequantize(quantize(leaf))`` and counted
    as their packed :class:`~efficient_jax.quant.QArray` bytes (codes plus float32 scales);
    other leaves keep their dtype and count their own bytes.

    Raises:
      ValueError: if ``bits`` is outside 1..8 or a weight contains NaN/inf.
    """
    UNIFORM.check_bits(bits, name="quantize_weights")
    selected = match_rules(params, rules, name="quantization rule")
    total = 0

    def q(leaf, sel):
        nonlocal total
        if not sel:
            total += int(np.asarray(leaf).nbytes)
            return leaf
        qa = quantize(leaf, bits, **_PTQ_CONFIG)
        total += qa.nbytes
        return dequantize(qa)

    out = jax.tree.map(q, params, selected)
    return out, total


def ptq_weights_compressor(bits: int):
    """A registered-compressor function quantizing the weights of ``variables["params"]``."""
    UNIFORM.check_bits(bits, name="ptq_weights_compressor")

    def compress(variables, *, apply_fn=None, calib_batch=None) -> CompressionResult:
        del apply_fn, calib_batch
        params, nbytes = quantize_weights(variables["params"], bits)
        others = cost.model_bytes_from_tree({k: v for k, v in variables.items() if k != "params"})
        return CompressionResult(
            {**variables, "params": params}, nbytes + others, info={"weight_bits": bits}
        )

    return compress
