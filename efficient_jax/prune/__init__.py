"""Pruning: global magnitude pruning (cross distillation arrives with its issue)."""

from efficient_jax.prune._finetune import KeepMaskedState, keep_masked, masked_finetune
from efficient_jax.prune._magnitude import (
    apply_masks,
    effective_macs,
    global_magnitude_masks,
    magnitude_pruning_compressor,
    sparse_bytes,
)

__all__ = [
    "KeepMaskedState",
    "keep_masked",
    "masked_finetune",
    "apply_masks",
    "global_magnitude_masks",
    "effective_macs",
    "magnitude_pruning_compressor",
    "sparse_bytes",
]
