"""What every compressor returns; the registry of named compressors is
:mod:`efficient_jax.compressors`.

A compressor is ``fn(variables, *, apply_fn, calib_batch) -> CompressionResult``.

Example:
    >>> def identity(variables, *, apply_fn=None, calib_batch=None):
    ...     return CompressionResult(variables, model_bytes=0)
    >>> identity({"params": {}}).model_bytes
    0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class CompressionResult:
    """Output of a compressor.

    Attributes:
      variables: ``{"params", ...}`` usable with the original ``model.apply``, or with
        ``apply_fn`` when it is set.
      model_bytes: bytes needed to store the compressed model (codes, scales, masks, ...).
      macs: multiply-accumulates per example after compression (``None``: unchanged).
      info: method-specific figures (bits, sparsity, ...), flat numbers.
      apply_fn: ``apply_fn(variables, *args, **kwargs)`` to evaluate ``variables`` with, when
        the original ``model.apply`` cannot (quantized activations, packed weights); ``None``:
        ``model.apply``.
    """

    variables: Any
    model_bytes: int
    macs: int | None = None
    info: dict[str, float] = dataclasses.field(default_factory=dict)
    apply_fn: Callable[..., Any] | None = None
