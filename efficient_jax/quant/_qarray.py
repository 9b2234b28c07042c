"""``QArray``: uniformly quantized values as a registered pytree, with ``quantize``/``dequantize``.

Example:
    >>> import jax.numpy as jnp
    >>> from efficient_jax.quant import uniform_quantize
    >>> x = jnp.array([[0.5, -1.0, 0.25], [1.0, 0.0, -0.5]])
    >>> q = quantize(x, bits=4, granularity="per_channel", axis=0)
    >>> q.codes.dtype, q.codes.shape, q.nbytes  # 3 codes of 4 bits: 2 bytes per row
    (dtype('uint8'), (2, 2), 12)
    >>> bool(jnp.all(dequantize(q) == uniform_quantize(x, 4, granularity="per_channel", axis=0)))
    True
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.quant._calibration import Calibration
from efficient_jax.quant._common import Layout, make_layout
from efficient_jax.quant._grid import decode, encode, qrange
from efficient_jax.quant._packing import pack, unpack
from efficient_jax.quant._uniform import UniformConfig, calibrated, uniform_config


@dataclasses.dataclass(frozen=True)
class QArray:
    """A uniformly quantized array: integer codes, scales and an optional zero point.

    Reconstruction invariant: ``dequantize(q) == (codes - zero_point) · scale`` (zero point
    omitted when ``None``), broadcast over the granularity's view, reshaped to ``shape`` and cast
    to ``dtype``; and ``dequantize(quantize(x, **cfg)) == uniform_quantize(x, **cfg)`` exactly,
    (``==`` elementwise; a zero may differ in sign), because both run the same encode/decode
    arithmetic. This holds eagerly and when each function is compiled as its own program; inside
    one fused XLA program the compiler may contract a multiply-add into an FMA (e.g. the
    asymmetric ``(c - z)·s`` with ``z`` computed in the same fusion) and move the last bit.

    Storage of ``codes``:

    - ``bits == 8``: one code per byte in ``x``'s shape, ``int8`` for symmetric grids (codes
      ``-128..127``), ``uint8`` for asymmetric ones (``0..255``);
    - ``bits < 8``: unsigned codes bit-packed along the last axis into ``uint8`` (see
      :func:`pack`), shape ``shape[:-1] + (ceil(shape[-1]·bits/8),)`` (scalars as ``(1,)``);
      symmetric codes are stored offset by ``2^(bits-1)`` (i.e. ``c - qmin``).

    Attributes:
      codes: the stored codes (see above).
      scale: float32 (float64 for float64 inputs) scales, a keepdims shape of the view.
      zero_point: ``None`` (symmetric, 2+ bits), ``-1/2`` (symmetric 1-bit mid-rise grid) or
        the real-valued zero point of an asymmetric grid, shaped like ``scale``.
      bits, shape, dtype, symmetric, granularity, axis, group_size: static metadata (pytree aux
        data): the original shape/dtype and the layout of the scales.
    """

    codes: jax.Array
    scale: jax.Array
    zero_point: jax.Array | None
    bits: int
    shape: tuple[int, ...]
    dtype: Any
    symmetric: bool
    granularity: str = "per_tensor"
    axis: tuple[int, ...] = ()
    group_size: int | None = None

    @property
    def layout(self) -> Layout:
        return make_layout(self.shape, self.granularity, self.axis or -1, self.group_size)

    @property
    def nbytes(self) -> int:
        """Stored bytes: packed codes plus scales (and zero points)."""
        return sum(int(leaf.nbytes) for leaf in jax.tree.leaves(self))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dequantize(self) -> jax.Array:
        return dequantize(self)


jax.tree_util.register_dataclass(
    QArray,
    data_fields=["codes", "scale", "zero_point"],
    meta_fields=["bits", "shape", "dtype", "symmetric", "granularity", "axis", "group_size"],
)


def _row_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape if shape else (1,)


def quantize(
    x: jax.typing.ArrayLike,
    bits: int,
    *,
    symmetric: bool = True,
    granularity: str = "per_tensor",
    axis: int | tuple[int, ...] = -1,
    group_size: int | None = None,
    calibration: str | Calibration = "minmax",
    scale: jax.typing.ArrayLike | None = None,
    zero_point: jax.typing.ArrayLike | None = None,
) -> QArray:
    """Quantizes ``x`` into a :class:`QArray` (arguments as :func:`uniform_quantize`).

    Pass ``scale`` (and, asymmetric, ``zero_point``) to store values already on a grid, e.g. an
    LSQ-trained step: ``quantize(w, 4, scale=step)`` reproduces ``lsq_quantize(w, step, 4)``.

    Raises:
      ValueError: as :func:`uniform_quantize`.

    Example:
        >>> import jax.numpy as jnp
        >>> q = quantize(jnp.array([1.0, -0.6, 0.25, 0.0, 0.75]), bits=2)  # 5 codes in 2 bytes
        >>> q.codes.tolist(), q.scale.tolist(), dequantize(q).tolist()  # codes + 2, 4 per byte
        ([167, 3], [1.0], [1.0, -1.0, 0.0, 0.0, 1.0])
    """
    x, cfg = uniform_config(
        x,
        bits,
        symmetric=symmetric,
        granularity=granularity,
        axis=axis,
        group_size=group_size,
        calibration=calibration,
        name="quantize",
    )
    return _quantize_impl(x, scale, zero_point, cfg)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _quantize_impl(x, scale, zero_point, cfg: UniformConfig) -> QArray:
    xv, scale, zp, _, _ = calibrated(x, scale, zero_point, cfg, "quantize")
    bits, layout = cfg.bits, cfg.layout
    qmin, qmax = qrange(bits, cfg.symmetric)
    codes = layout.unview(encode(xv, scale, zp, qmin, qmax))
    if bits == 8:
        stored = codes.astype(jnp.int8 if cfg.symmetric else jnp.uint8)
    else:
        stored = pack((codes - qmin).astype(jnp.uint8).reshape(_row_shape(layout.shape)), bits)
    return QArray(
        codes=stored,
        scale=scale,
        zero_point=zp,
        bits=bits,
        shape=layout.shape,
        dtype=np.dtype(x.dtype),
        symmetric=cfg.symmetric,
        granularity=layout.granularity,
        axis=layout.axis,
        group_size=layout.group_size,
    )


def dequantize(q: QArray) -> jax.Array:
    """Reconstructs ``(codes - zero_point) · scale`` with ``q``'s shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> dequantize(quantize(jnp.array([0.0, 1.2, 3.0]), bits=2, symmetric=False)).tolist()
        [0.0, 1.0, 3.0]
    """
    if not isinstance(q, QArray):
        raise ValueError(f"dequantize expects a QArray; got {type(q).__name__}.")
    return _dequantize_impl(q)


@jax.jit
def _dequantize_impl(q: QArray) -> jax.Array:
    layout = q.layout
    cdt = q.scale.dtype
    if q.bits == 8:
        codes = q.codes.astype(cdt)
    else:
        qmin, _ = qrange(q.bits, q.symmetric)
        rows = _row_shape(q.shape)
        codes = unpack(q.codes, q.bits, rows[-1]).astype(cdt) + qmin
        codes = codes.reshape(q.shape)
    return layout.unview(decode(layout.view(codes), q.scale, q.zero_point)).astype(q.dtype)
