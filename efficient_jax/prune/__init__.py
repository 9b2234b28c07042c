"""Pruning: global/layer-wise magnitude and channel masks, and few-shot cross distillation.

* Masks are params-like pytrees (bool at pruned leaves, ``None`` elsewhere) kept in the optimizer
  state by :func:`keep_masked`.
* Baselines: global and layer-wise magnitude pruning, L1-norm filter pruning (Li et al. 2017).
* Few-shot pruning by (soft) cross distillation (Bai 2021, Ch. 3): :func:`few_shot_prune`.
* Physical export of channel pruning: :func:`export_channel_pruned` + :func:`slim_apply`.
"""

from efficient_jax.prune._batchnorm import reestimate_batch_stats
from efficient_jax.prune._cd_losses import (
    correction_loss,
    cross_distillation_loss,
    estimation_loss,
    imitation_loss,
    soft_cross_distillation_loss,
)
from efficient_jax.prune._cross_distill import (
    LayerInfo,
    LayerwiseConfig,
    few_shot_indices,
    few_shot_prune,
    layer_function,
    layer_inputs,
    model_layers,
    select_layers,
    train_layer,
)
from efficient_jax.prune._export import (
    ChannelGroup,
    channel_groups,
    export_channel_pruned,
    slim_apply,
    verify_export,
)
from efficient_jax.prune._finetune import KeepMaskedState, keep_masked, masked_finetune
from efficient_jax.prune._fsp_compressor import few_shot_compressor
from efficient_jax.prune._l1_baseline import l1_norm_baseline
from efficient_jax.prune._magnitude import (
    apply_masks,
    effective_macs,
    global_magnitude_masks,
    magnitude_pruning_compressor,
    sparse_bytes,
)
from efficient_jax.prune._proximal import (
    channel_norms,
    expand_channel_mask,
    kept_fraction,
    prox_group_l2,
    prox_l1,
    topk_channel_mask,
    topk_mask,
)
from efficient_jax.prune._structured import (
    channel_keep,
    check_sparsity,
    l1_norm_channel_masks,
    layerwise_magnitude_masks,
    mask_sparsity,
    masks_are_binary,
)

__all__ = [
    "KeepMaskedState",
    "keep_masked",
    "masked_finetune",
    "few_shot_compressor",
    "apply_masks",
    "global_magnitude_masks",
    "effective_macs",
    "magnitude_pruning_compressor",
    "sparse_bytes",
    "LayerInfo",
    "LayerwiseConfig",
    "correction_loss",
    "cross_distillation_loss",
    "estimation_loss",
    "few_shot_indices",
    "few_shot_prune",
    "imitation_loss",
    "layer_function",
    "layer_inputs",
    "model_layers",
    "reestimate_batch_stats",
    "select_layers",
    "soft_cross_distillation_loss",
    "train_layer",
    "ChannelGroup",
    "channel_groups",
    "export_channel_pruned",
    "slim_apply",
    "verify_export",
    "channel_norms",
    "expand_channel_mask",
    "kept_fraction",
    "prox_group_l2",
    "prox_l1",
    "topk_channel_mask",
    "topk_mask",
    "channel_keep",
    "check_sparsity",
    "l1_norm_channel_masks",
    "l1_norm_baseline",
    "layerwise_magnitude_masks",
    "mask_sparsity",
    "masks_are_binary",
]
