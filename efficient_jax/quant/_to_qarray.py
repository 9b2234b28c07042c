"""The ``QArray`` form of a quantizer's output: exactly its fake-quantized values, stored as codes.

Every grid-valued quantizer's output lies on a uniform integer grid, so it can be stored as a
packed :class:`~efficient_jax.quant.QArray` and reconstructed exactly:

- ``"uniform"``: :func:`~efficient_jax.quant.quantize` with the same options;
- ``"lsq"``/``"lsq_plus"``: the learned step as the scale (and, asymmetric, the offset as the zero
  point);
- ``"dorefa"``: the grid ``{-1, ..., 1}`` of ``2^b - 1`` steps;
- ``"twn"``, ``"bwn"``, ``"laq"`` and any other quantizer: the output's largest level is on the
  grid, so a symmetric min-max grid of the same layout holds it;
- ``"ttq"`` has two scales (``W_p``, ``W_n``) and no single grid: a ``ValueError``.

The result is checked against the fake-quantized values (relative tolerance 1e-4 of their
largest magnitude), so a quantizer whose values are not on such a grid raises instead of being
stored approximately.

Example:
    >>> import jax.numpy as jnp
    >>> w = jnp.array([[0.9, -0.1], [0.05, -1.1]])
    >>> q = to_qarray("twn", w, bits=2)
    >>> q.bits, dequantize(q).tolist()
    (2, [[1.0, 0.0], [0.0, -1.0]])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from efficient_jax.quant._common import make_layout, positive
from efficient_jax.quant._qarray import QArray, dequantize, quantize
from efficient_jax.quant._registry import apply_quantizer

# Relative tolerance of the check that a QArray reproduces the fake-quantized values.
_GRID_RTOL = 1e-4


def to_qarray(
    name: str,
    x: jax.typing.ArrayLike,
    params: Mapping[str, Any] | None = None,
    *,
    bits: int,
    **options: Any,
) -> QArray:
    """The ``QArray`` holding ``apply_quantizer(name, x, params, bits=bits, **options)`` exactly.

    Args:
      name: a registered quantizer (see the module docstring for how each is stored).
      x: the values to quantize (usually a weight).
      params: the quantizer's learned leaves (``{"step": ...}`` for LSQ), if any.
      bits, **options: as for :func:`~efficient_jax.quant.apply_quantizer`.

    Raises:
      ValueError: as :func:`~efficient_jax.quant.apply_quantizer`; the quantizer's output has no
        single uniform grid (``ttq``: two scales), or the stored values differ from the
        fake-quantized ones.
    """
    x = jnp.asarray(x)
    params = {} if params is None else params
    fake = apply_quantizer(name, x, params, bits=bits, **options)
    granularity = options.get("granularity", "per_tensor")
    axis = options.get("axis", -1)
    if name == "uniform":
        q = quantize(x, bits, **options)
    elif name in ("lsq", "lsq_plus"):
        step = positive(jnp.asarray(params["step"], jnp.float32))
        kw = dict(granularity=granularity, axis=axis, scale=step)
        if name == "lsq" and options.get("symmetric", True):
            q = quantize(x, bits, **kw)
        else:
            if name == "lsq":
                reduce = make_layout(x.shape, granularity, axis).reduce_axes
                offset = jnp.min(x.astype(jnp.float32), axis=reduce, keepdims=True)
            else:
                offset = jnp.asarray(params["offset"], jnp.float32)
            q = quantize(x, bits, symmetric=False, zero_point=-offset * (1 / step), **kw)
    elif name == "dorefa":
        n = 2**bits - 1
        q = quantize(fake, bits, symmetric=False, scale=2.0 / n, zero_point=n / 2)
    elif name == "ttq":
        raise ValueError(
            "'ttq' weights take two scales (W_p, W_n) and have no single uniform grid to store "
            "as a QArray; use 'twn' for ternary serving weights."
        )
    else:  # twn, bwn, laq and any grid-valued quantizer: its max level is on the grid.
        layout = dict(granularity=granularity, axis=axis, group_size=options.get("group_size"))
        q = quantize(fake, bits, symmetric=True, calibration="minmax", **layout)
    err = float(jnp.max(jnp.abs(dequantize(q) - fake))) if x.size else 0.0
    ref = float(jnp.max(jnp.abs(fake))) if x.size else 0.0
    if err > _GRID_RTOL * max(ref, 1e-30):
        raise ValueError(
            f"the {name!r} values are not on a {bits}-bit uniform grid (max error {err:.3g}); "
            "they cannot be stored as a QArray."
        )
    return q
