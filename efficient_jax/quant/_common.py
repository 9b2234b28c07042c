"""Shared helpers of the quantizers: input checks, the granularity layout, small numerics.

Granularity says which elements share one scale (or threshold, or step):

- ``"per_tensor"``: one for the whole array (the theses' "layer-wise").
- ``"per_channel"``: one per index of ``axis`` (an int or a tuple of ints); every other axis is
  reduced. ``axis=-1`` is the output channel of a Dense/Conv kernel, ``axis=0`` a row of an
  embedding table (the theses' "row-wise").
- ``"per_group"``: groups of ``group_size`` consecutive elements along ``axis`` (which must be
  divisible by it), one scale per group *and* per index of every other axis (as in GPTQ/AWQ group
  quantization of a ``(in, out)`` kernel with ``axis=0``).

Statistics are computed on a *view* of the array (``per_group`` splits ``axis`` into
``(n // group_size, group_size)``) with ``keepdims=True``, so scales broadcast against the view.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

GRANULARITIES = ("per_tensor", "per_channel", "per_group")

# Smallest step size / clip value a learnable scale is clamped to (``max(|s|, EPS)``): keeps the
# step positive without changing its gradient while ``|s| > EPS``.
EPS = 1e-8


def check_bits(bits: Any, allowed: Sequence[int] = range(1, 9), *, name: str = "") -> int:
    """Returns ``bits`` as an int, or raises a ``ValueError`` naming the allowed widths."""
    allowed = tuple(allowed)
    if len(allowed) == 1:
        want = f"must be {allowed[0]}"
    elif allowed == tuple(range(allowed[0], allowed[-1] + 1)):
        want = f"must be an integer in {allowed[0]}..{allowed[-1]}"
    else:
        want = f"must be one of {list(allowed)}"
    ok = isinstance(bits, int | np.integer) and not isinstance(bits, bool) and bits in allowed
    if not ok:
        prefix = f"{name}: " if name else ""
        raise ValueError(f"{prefix}bits {want}; got {bits!r}.")
    return int(bits)


def is_concrete(x: Any) -> bool:
    """Whether ``x`` holds values (not a tracer inside ``jit``/``grad``/``vmap``)."""
    return not isinstance(x, jax.core.Tracer)


def check_input(x: Any, name: str) -> jax.Array:
    """Converts ``x`` to a floating array; raises on integer dtypes and on concrete NaN/inf.

    Only concrete inputs are checked for NaN/inf: under ``jit`` the values are unknown and a
    non-finite input propagates NaN to the output (no ``checkify``, no host callback).
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{name} expects a floating-point array; got dtype {x.dtype}.")
    if is_concrete(x) and x.size:
        # A concrete array closed over inside a jit trace is still checked (eagerly, on device).
        with jax.ensure_compile_time_eval():
            finite = bool(jnp.all(jnp.isfinite(x)))
        if not finite:
            raise ValueError(f"{name}: the input contains NaN or inf; quantize finite values only.")
    return x


def compute_dtype(dtype: Any) -> jnp.dtype:
    """float32, or float64 for float64 inputs: low-precision inputs are quantized in float32."""
    return jnp.promote_types(dtype, jnp.float32)


def positive(s: jax.Array) -> jax.Array:
    """``max(|s|, EPS)``: a learnable step/clip kept positive (gradient ``sign(s)`` above EPS)."""
    return jnp.maximum(jnp.abs(s), EPS)


def safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    """``num / den`` where ``den != 0``, else 0 (empty sets, all-zero channels)."""
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), 0)


def nonzero_or_one(s: jax.Array) -> jax.Array:
    """Replaces a zero (or negative) scale by 1 so constant/all-zero tensors never divide by 0."""
    return jnp.where(s > 0, s, jnp.ones_like(s))


def sum_to_shape(t: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Sums ``t`` over its broadcast dimensions so the result has ``shape`` (a cotangent helper)."""
    lead = t.ndim - len(shape)
    t = t.sum(axis=tuple(range(lead))) if lead else t
    axes = tuple(i for i, (a, b) in enumerate(zip(t.shape, shape)) if b == 1 and a != 1)
    return t.sum(axis=axes, keepdims=True).reshape(shape) if axes else t.reshape(shape)


def check_broadcastable(p: jax.Array, shape: tuple[int, ...], what: str) -> None:
    """Raises unless ``p`` broadcasts to ``shape`` without enlarging it (scalar or keepdims)."""
    ok = p.ndim <= len(shape) and all(
        a in (1, b) for a, b in zip(p.shape[::-1], shape[::-1], strict=False)
    )
    if not ok:
        raise ValueError(
            f"{what} of shape {p.shape} does not broadcast to the input shape {shape}; use a "
            f"scalar (per-tensor) or a keepdims shape (per-channel)."
        )


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where the statistics of one scale come from (see the module docstring)."""

    shape: tuple[int, ...]  # the array's shape
    view_shape: tuple[int, ...]  # the shape statistics are computed on
    reduce_axes: tuple[int, ...]  # axes of the view reduced into one scale
    granularity: str
    axis: tuple[int, ...]  # normalised channel axes (per_channel) or the group axis (per_group)
    group_size: int | None

    @property
    def scale_shape(self) -> tuple[int, ...]:
        return tuple(1 if i in self.reduce_axes else d for i, d in enumerate(self.view_shape))

    @property
    def group_numel(self) -> int:
        """Elements that share one scale."""
        return math.prod(self.view_shape[i] for i in self.reduce_axes)

    def view(self, x: jax.Array) -> jax.Array:
        return x.reshape(self.view_shape)

    def unview(self, x: jax.Array) -> jax.Array:
        return x.reshape(self.shape)


def _normalize_axes(axis: Any, ndim: int, what: str) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, int | np.integer) or isinstance(a, bool) or not -ndim <= a < ndim:
            raise ValueError(f"{what}: axis {axis!r} is out of range for an array of rank {ndim}.")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out) or not out:
        raise ValueError(f"{what}: axis {axis!r} must name distinct axes.")
    return tuple(sorted(out))


def make_layout(
    shape: Sequence[int],
    granularity: str = "per_tensor",
    axis: int | Sequence[int] = -1,
    group_size: int | None = None,
) -> Layout:
    """Validates a granularity and returns its :class:`Layout` for arrays of ``shape``."""
    shape = tuple(int(d) for d in shape)
    ndim = len(shape)
    if granularity == "per_tensor":
        return Layout(shape, shape, tuple(range(ndim)), granularity, (), None)
    if granularity not in GRANULARITIES:
        raise ValueError(f"Unknown granularity {granularity!r}; valid: {list(GRANULARITIES)}.")
    if ndim == 0:
        raise ValueError(f"{granularity} quantization needs an array of rank >= 1; got a scalar.")
    axes = _normalize_axes(axis, ndim, granularity)
    if granularity == "per_channel":
        reduce = tuple(i for i in range(ndim) if i not in axes)
        return Layout(shape, shape, reduce, granularity, axes, None)
    if len(axes) != 1:
        raise ValueError(f"per_group quantization takes one axis; got {axis!r}.")
    (a,) = axes
    ok = isinstance(group_size, int | np.integer) and not isinstance(group_size, bool)
    if not ok or group_size < 1 or shape[a] % group_size:
        raise ValueError(
            f"per_group needs a positive group_size dividing the size {shape[a]} of axis {a}; "
            f"got {group_size!r}."
        )
    g = int(group_size)
    view = shape[:a] + (shape[a] // g, g) + shape[a + 1 :]
    return Layout(shape, view, (a + 1,), granularity, axes, g)
