"""Post-training quantization by reconstruction: REM and MREM (sequential and parallel).

Bai 2021, thesis Ch. 4 ("Towards Efficient Post-training Quantization of Pre-trained Language
Models", MREM). Starting from a calibrated round-to-nearest model (:func:`~efficient_jax.qat.
prepare` with :func:`ptq_rules`), the latent weights and LSQ steps are trained on a small
calibration set to reconstruct the float model:

- :func:`partition_modules`: N modules of consecutive layers (embedding in the first, head in
  the last) from the parameter tree, one path regex per module; :func:`stages_for` the matching
  stage models; :func:`build_modules` the per-module float/quantized forwards and loss (Eq. 4.2).
- :func:`rem`: per-matmul reconstruction (the REM baseline).
- :func:`mrem_sequential`: MREM-S, modules one after another.
- :func:`mrem_parallel`: MREM-P, all modules at once on a ``module`` mesh axis (``jax.shard_map``),
  FIFO input queues (:func:`ring_init`, :func:`ring_push`, :func:`ring_sample`) and annealed
  teacher forcing.
"""

from efficient_jax.ptq._modules import (
    ALLOWED_BITS,
    BIT_PRESETS,
    ModuleSet,
    ReconConfig,
    build_modules,
    chain_losses,
    check_calibration,
    merge_qvars,
    parse_bits,
    ptq_rules,
    recon_loss,
    reconstruction_error,
)
from efficient_jax.ptq._parallel import MODULE_AXIS, module_mesh, mrem_parallel
from efficient_jax.ptq._partition import ModulePartition, balanced_layers, partition_modules
from efficient_jax.ptq._ring import ring_init, ring_items, ring_push, ring_sample
from efficient_jax.ptq._sequential import batch_indices, layer_outputs, mrem_sequential, rem
from efficient_jax.ptq._stages import BertStage, stages_for

__all__ = [
    "ALLOWED_BITS",
    "BIT_PRESETS",
    "MODULE_AXIS",
    "BertStage",
    "ModulePartition",
    "ModuleSet",
    "ReconConfig",
    "balanced_layers",
    "batch_indices",
    "build_modules",
    "chain_losses",
    "check_calibration",
    "layer_outputs",
    "merge_qvars",
    "module_mesh",
    "mrem_parallel",
    "mrem_sequential",
    "parse_bits",
    "partition_modules",
    "ptq_rules",
    "recon_loss",
    "reconstruction_error",
    "rem",
    "ring_init",
    "ring_items",
    "ring_push",
    "ring_sample",
    "stages_for",
]
