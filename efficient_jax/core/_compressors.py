"""The compressor registry: every compression method the quickstart table (and users) can run.

A compressor is ``fn(variables, *, apply_fn, calib_batch) -> CompressionResult``; it returns
variables that ``model.apply`` accepts unchanged (or, with ``apply_fn`` set, variables for that
function, e.g. an integer serving forward), the model's storage size in bytes, and extras.
Methods register themselves on import with :func:`register_compressor`.

Example:
    >>> import jax.numpy as jnp
    >>> @register_compressor("identity_example")
    ... def identity(variables, *, apply_fn=None, calib_batch=None):
    ...     return CompressionResult(variables, model_bytes=0)
    >>> "identity_example" in COMPRESSORS
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from efficient_jax.core._registry import Registry


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


COMPRESSORS = Registry("compressor")


def register_compressor(name: str) -> Callable[[Callable[..., CompressionResult]], Any]:
    """Decorator registering ``fn(variables, *, apply_fn, calib_batch) -> CompressionResult``."""
    return COMPRESSORS.register(name)
