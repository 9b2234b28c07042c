"""Range calibration for uniform quantization: min-max, percentile and MSE grid search.

A calibration method is a short string, parsed in one place (as qwix does):

- ``"minmax"``: ``[min(x), max(x)]`` (symmetric: ``max|x|``); sensitive to outliers (Bai 2021
  §2.1.2).
- ``"percentile"`` or ``"percentile,P"`` (default ``P = 99.9``): the ``P``-th percentile of ``|x|``
  (symmetric) or the ``(100 - P)``-th and ``P``-th percentiles of ``x`` (asymmetric).
- ``"mse"`` or ``"mse,N"`` (default ``N = 100``): clip ratios ``r = k / N``, ``k = 1..N``,
  applied to the min-max range; picks, per scale, the ``r`` minimising ``‖x − Q_r(x)‖²``
  [ext, general knowledge]. ``r = 1`` is a candidate, so the MSE range is never worse than
  min-max on the calibration data.

Example:
    >>> parse_calibration("percentile,99.99")
    Calibration(method='percentile', percentile=99.99, grid=100)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.quant._common import Layout
from efficient_jax.quant._grid import decode, encode, qrange, scale_from_range

CALIBRATIONS = ("minmax", "percentile", "mse")


@dataclasses.dataclass(frozen=True)
class Calibration:
    """A parsed calibration method (see the module docstring)."""

    method: str
    # Percentile of |x| (or of x) used as the range end, in (0, 100]; "percentile" only.
    percentile: float = 99.9
    # Number of clip ratios tried by "mse".
    grid: int = 100


def parse_calibration(spec: str | Calibration) -> Calibration:
    """Parses ``"minmax"``, ``"percentile[,P]"`` or ``"mse[,N]"``; else raises ``ValueError``."""
    if isinstance(spec, Calibration):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"calibration must be a string such as 'minmax'; got {spec!r}.")
    method, _, arg = spec.partition(",")
    method = method.strip()
    bad = ValueError(
        f"Unknown calibration {spec!r}; valid: 'minmax', 'percentile' or 'percentile,P' with "
        f"0 < P <= 100, 'mse' or 'mse,N' with an integer N >= 1."
    )
    if method not in CALIBRATIONS or (method == "minmax" and arg):
        raise bad
    try:
        if method == "percentile":
            p = float(arg) if arg else 99.9
            if not 0 < p <= 100:
                raise bad
            return Calibration(method, percentile=p)
        if method == "mse":
            n = int(arg) if arg else 100
            if n < 1:
                raise bad
            return Calibration(method, grid=n)
    except ValueError as e:
        raise bad from e
    return Calibration(method)


def view_range(
    xv: jax.Array, layout: Layout, bits: int, symmetric: bool, calibration: Calibration
) -> tuple[jax.Array, jax.Array]:
    """The range ``(lo, hi)`` of each scale group of the view ``xv`` (keepdims shapes).

    Symmetric ranges are returned as ``(-amax, amax)``.
    """
    axes = layout.reduce_axes
    if calibration.method == "percentile":
        p = calibration.percentile
        if symmetric:
            amax = jnp.percentile(jnp.abs(xv), p, axis=axes, keepdims=True)
            return -amax, amax
        lo = jnp.percentile(xv, 100 - p, axis=axes, keepdims=True)
        return lo, jnp.percentile(xv, p, axis=axes, keepdims=True)
    if symmetric:
        amax = jnp.max(jnp.abs(xv), axis=axes, keepdims=True)
        lo, hi = -amax, amax
    else:
        lo = jnp.min(xv, axis=axes, keepdims=True)
        hi = jnp.max(xv, axis=axes, keepdims=True)
    if calibration.method == "minmax":
        return lo, hi

    qmin, qmax = qrange(bits, symmetric)
    n = calibration.grid
    ratios = jnp.asarray(np.arange(1, n + 1) / n, xv.dtype)  # host constants: no XLA rounding

    def sq_error(r):
        scale, zp = scale_from_range(r * lo, r * hi, bits, symmetric)
        err = xv - decode(encode(xv, scale, zp, qmin, qmax), scale, zp)
        return jnp.sum(err * err, axis=axes, keepdims=True)

    errors = jax.lax.map(sq_error, ratios)  # (n, *scale_shape); one tensor-sized temporary
    best = jnp.argmin(errors, axis=0)  # the smallest ratio among ties
    r = ratios[best]
    return r * lo, r * hi
