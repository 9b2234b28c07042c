"""Type aliases shared across efficient_jax."""

from collections.abc import Callable, Mapping
from typing import Any

import jax

PyTree = Any
Params = PyTree
Batch = Mapping[str, Any]
PRNGKey = jax.Array
ApplyFn = Callable[..., Any]

__all__ = ["ApplyFn", "Batch", "PRNGKey", "Params", "PyTree"]
