"""Quantization: STE fake quantizers, the ``QArray`` storage type, rules and weight PTQ.

- Fake quantizers (each a ``jax.custom_vjp`` with a straight-through backward, jittable, with
  learnable values as plain array arguments): :func:`uniform_quantize` (symmetric/asymmetric;
  min-max, percentile, MSE calibration; per tensor/channel/group), :func:`dorefa_quantize`,
  :func:`pact_quantize`, :func:`uniform_clip_quantize`, :func:`lsq_quantize`,
  :func:`lsq_plus_quantize`, :func:`twn_quantize`, :func:`ttq_quantize`, :func:`bwn_quantize`,
  :func:`laq_quantize`, :func:`binary_act_quantize`, :func:`ternary_act_quantize`.
- By name: :data:`QUANTIZERS`, :func:`get_quantizer`, :func:`apply_quantizer`,
  :func:`init_quantizer_params`; selected per parameter path by :class:`QuantRule`.
- Storage: :class:`QArray` with :func:`quantize` / :func:`dequantize` (exactly the fake-quant
  values) and :func:`pack` / :func:`unpack` bit-packing.
- Post-training weight quantization: :func:`quantize_weights` and the ``ptq_w8``/``ptq_w4``
  compressors.
- Whole models without touching their code: :func:`quantize_model` / :func:`prepare` (fake-quant
  QAT variables, calibrated by :func:`calibrate_model`) → :func:`convert` (packed ``QArray``
  weights and an integer serving forward); rule presets :func:`preset_rules`; the ``ptq_w8a8``,
  ``ptq_w4a8`` and ``lsq_w4a4_qat`` compressors.
- BinaryBERT (Bai 2021, ch. 5): ternary weight splitting :func:`tws_split_weight` (corrected
  Eq. 5.8) and :func:`tws_split_model` → :class:`SplitBinaryModel` (identical outputs),
  :func:`export_split`; adaptive splitting :func:`sensitivity_scores` + :func:`knapsack` /
  :func:`select_splits`; the distillation stages (:class:`QuantStudent`,
  :func:`feature_distill_loss`, :func:`shrink_bert_width`); sharpness
  :func:`top_hessian_eigenvalue` (power iteration on ``jvp(grad)`` Hessian-vector products);
  the ``bwn_tws`` compressor (:func:`tws_compressor`).

Bad input raises ``ValueError`` naming what is allowed: bit widths a quantizer does not support,
unknown granularities, calibrations or quantizer names, integer dtypes, and NaN/inf values. The
NaN/inf check runs only on concrete arrays (eager calls, or constants closed over in a traced
function); under ``jit``/``grad`` a traced NaN input is not checked and propagates to the output.
"""

from efficient_jax.quant._binarybert_adaptive import (
    PARTS,
    bert_module_group,
    brute_force_knapsack,
    knapsack,
    select_splits,
    sensitivity_scores,
)
from efficient_jax.quant._binarybert_compressor import tws_compressor
from efficient_jax.quant._binarybert_distill import (
    QuantStudent,
    feature_distill_loss,
    shrink_bert_width,
    split_trainable,
)
from efficient_jax.quant._binarybert_model import (
    SPLIT,
    SplitBinaryModel,
    binary_rule,
    binary_rules,
    export_split,
    ternary_layers,
    tws_split_model,
)
from efficient_jax.quant._binarybert_sharpness import (
    group_params,
    hvp,
    perturbation_curve,
    top_hessian_eigenvalue,
)
from efficient_jax.quant._binarybert_tws import (
    binary_reference,
    ternary_reference,
    tws_coefficients,
    tws_split_weight,
)
from efficient_jax.quant._calibration import CALIBRATIONS, Calibration, parse_calibration
from efficient_jax.quant._common import EPS, GRANULARITIES
from efficient_jax.quant._convert import (
    ServingModel,
    convert,
    ptq_compressor,
    quantized_weight_bytes,
    weight_to_qarray,
)
from efficient_jax.quant._intercept import QUANT, STATS
from efficient_jax.quant._laq import laq_quantize
from efficient_jax.quant._learned import (
    init_lsq_plus,
    init_lsq_step,
    init_pact_alpha,
    init_uniform_clip,
    lsq_plus_quantize,
    lsq_quantize,
    pact_quantize,
    uniform_clip_quantize,
)
from efficient_jax.quant._model import QuantizedModel, prepare, quantize_model
from efficient_jax.quant._model import calibrate as calibrate_model
from efficient_jax.quant._packing import pack, packed_size, unpack
from efficient_jax.quant._presets import PRESETS, preset_rules
from efficient_jax.quant._qarray import QArray, dequantize, quantize
from efficient_jax.quant._qat_compressor import qat_compressor
from efficient_jax.quant._registry import (
    QUANTIZERS,
    QuantizerSpec,
    apply_quantizer,
    get_quantizer,
    init_quantizer_params,
)
from efficient_jax.quant._rules import QuantRule
from efficient_jax.quant._ternary_binary import (
    binary_act_quantize,
    bwn_quantize,
    init_ttq,
    ternary_act_quantize,
    ttq_quantize,
    twn_quantize,
)
from efficient_jax.quant._uniform import calibrate, dorefa_quantize, uniform_quantize
from efficient_jax.quant._weight_ptq import (
    fake_quantize_per_channel,
    ptq_weights_compressor,
    quantize_weights,
)

__all__ = [
    "PARTS",
    "SPLIT",
    "QuantStudent",
    "SplitBinaryModel",
    "bert_module_group",
    "binary_reference",
    "binary_rule",
    "binary_rules",
    "brute_force_knapsack",
    "export_split",
    "feature_distill_loss",
    "group_params",
    "hvp",
    "knapsack",
    "perturbation_curve",
    "select_splits",
    "sensitivity_scores",
    "shrink_bert_width",
    "split_trainable",
    "ternary_layers",
    "ternary_reference",
    "top_hessian_eigenvalue",
    "tws_coefficients",
    "tws_compressor",
    "tws_split_model",
    "tws_split_weight",
    "CALIBRATIONS",
    "PRESETS",
    "QUANT",
    "STATS",
    "QuantizedModel",
    "ServingModel",
    "calibrate_model",
    "convert",
    "prepare",
    "preset_rules",
    "ptq_compressor",
    "qat_compressor",
    "quantize_model",
    "quantized_weight_bytes",
    "weight_to_qarray",
    "Calibration",
    "EPS",
    "GRANULARITIES",
    "QArray",
    "QUANTIZERS",
    "QuantRule",
    "QuantizerSpec",
    "apply_quantizer",
    "binary_act_quantize",
    "bwn_quantize",
    "calibrate",
    "dequantize",
    "dorefa_quantize",
    "fake_quantize_per_channel",
    "get_quantizer",
    "init_lsq_plus",
    "init_lsq_step",
    "init_pact_alpha",
    "init_quantizer_params",
    "init_ttq",
    "init_uniform_clip",
    "laq_quantize",
    "lsq_plus_quantize",
    "lsq_quantize",
    "pack",
    "packed_size",
    "pact_quantize",
    "parse_calibration",
    "ptq_weights_compressor",
    "quantize",
    "quantize_weights",
    "ternary_act_quantize",
    "ttq_quantize",
    "twn_quantize",
    "unpack",
    "uniform_clip_quantize",
    "uniform_quantize",
]
