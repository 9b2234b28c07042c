"""Cost of a model: parameter counts, MACs/FLOPs, packed model bytes, energy, measured latency."""

from efficient_jax.cost._compare import (
    CostPoint,
    Variant,
    accuracy_at_cost,
    cheapest_at_accuracy,
    compare_at_equal_cost,
    compound_scaling,
    pareto_front,
    scaling_variants,
    variant_flops,
)
from efficient_jax.cost._energy import (
    EnergyReport,
    LayerEnergy,
    energy,
    full_adders,
    layer_energy,
)
from efficient_jax.cost._latency import (
    LatencyStats,
    compare_latency,
    latency_ratio,
    measure_latency,
)
from efficient_jax.cost._macs import MacReport, macs, xla_flops
from efficient_jax.cost._size import count_params, dtype_bits, model_bytes, model_bytes_from_tree

__all__ = [
    "EnergyReport",
    "LayerEnergy",
    "energy",
    "full_adders",
    "layer_energy",
    "CostPoint",
    "Variant",
    "accuracy_at_cost",
    "cheapest_at_accuracy",
    "compare_at_equal_cost",
    "compound_scaling",
    "pareto_front",
    "scaling_variants",
    "variant_flops",
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
