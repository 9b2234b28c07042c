"""Mesh helpers, batch placement and data-parallel training."""

from efficient_jax.parallel._data_parallel import data_parallel_step, param_shardings, shard_params
from efficient_jax.parallel._mesh import (
    DATA_AXIS,
    data_sharding,
    make_mesh,
    maybe_initialize_distributed,
    replicate,
    replicated,
    shard_batch,
)

__all__ = [
    "DATA_AXIS",
    "data_parallel_step",
    "data_sharding",
    "make_mesh",
    "maybe_initialize_distributed",
    "param_shardings",
    "replicate",
    "replicated",
    "shard_batch",
    "shard_params",
]
