"""Cost of a model: parameter counts, MACs/FLOPs, packed model bytes and measured latency."""

from efficient_jax.cost._latency import (
    LatencyStats,
    compare_latency,
    latency_ratio,
    measure_latency,
)
from efficient_jax.cost._macs import MacReport, macs, xla_flops
from efficient_jax.cost._size import count_params, dtype_bits, model_bytes, model_bytes_from_tree

__all__ = [
    "LatencyStats",
    "MacReport",
    "compare_latency",
    "count_params",
    "dtype_bits",
    "latency_ratio",
    "macs",
    "measure_latency",
    "model_bytes",
    "model_bytes_from_tree",
    "xla_flops",
]
