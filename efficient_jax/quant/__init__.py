"""Quantizers: STE fake quantizers by name, the ``QArray`` storage type, and weight-only PTQ.

- Fake quantizers (each a ``jax.custom_vjp`` with a straight-through backward, jittable, with
  learnable values as plain array arguments): :func:`uniform_quantize` (symmetric/asymmetric;
  min-max, percentile, MSE calibration; per tensor/channel/group), :func:`dorefa_quantize`,
  :func:`pact_quantize`, :func:`uniform_clip_quantize`, :func:`lsq_quantize`,
  :func:`lsq_plus_quantize`, :func:`twn_quantize`, :func:`ttq_quantize`, :func:`bwn_quantize`,
  :func:`laq_quantize`, :func:`binary_act_quantize`, :func:`ternary_act_quantize`.
- By name: the registry :data:`QUANTIZERS` of :class:`QuantizerSpec` (filled in
  ``quant/_registry.py``; :func:`available_quantizers`, :func:`register_quantizer`),
  :func:`get_quantizer`, :func:`apply_quantizer`, :func:`init_quantizer_params`. A spec states the
  bit widths its quantizer allows; every bit-width check goes through
  :meth:`QuantizerSpec.check_bits`.
- The uniform grid: :func:`qrange`, :func:`encode`, :func:`decode`, :func:`scale_from_range`,
  :func:`calibrate` / :func:`calibrate_range` (:func:`parse_calibration`).
- Storage: :class:`QArray` with :func:`quantize` / :func:`dequantize` (exactly the fake-quant
  values), :func:`to_qarray` (any grid-valued quantizer's output) and :func:`pack` /
  :func:`unpack` bit-packing.
- Post-training weight quantization: :func:`quantize_weights` and
  :func:`ptq_weights_compressor`.

Whole models (rules, ``prepare``/``convert``, the layer-interception API) are
:mod:`efficient_jax.qat`; BinaryBERT is :mod:`efficient_jax.binarybert`.

Bad input raises ``ValueError`` naming what is allowed: bit widths a quantizer does not support,
unknown granularities, calibrations or quantizer names, integer dtypes, and NaN/inf values. The
NaN/inf check runs only on concrete arrays (eager calls, or constants closed over in a traced
function); under ``jit``/``grad`` a traced NaN input is not checked and propagates to the output.
"""

import importlib as _importlib
import warnings as _warnings

from efficient_jax.quant._calibration import CALIBRATIONS, Calibration, parse_calibration
from efficient_jax.quant._clip import (
    init_pact_alpha,
    init_uniform_clip,
    pact_quantize,
    uniform_clip_quantize,
)
from efficient_jax.quant._common import EPS, GRANULARITIES, check_bits
from efficient_jax.quant._grid import decode, encode, qrange, scale_from_range
from efficient_jax.quant._laq import laq_quantize
from efficient_jax.quant._lsq import init_lsq_plus, init_lsq_step, lsq_plus_quantize, lsq_quantize
from efficient_jax.quant._packing import pack, packed_size, unpack
from efficient_jax.quant._qarray import QArray, dequantize, quantize
from efficient_jax.quant._registry import (
    QUANTIZERS,
    apply_quantizer,
    available_quantizers,
    get_quantizer,
    init_quantizer_params,
    register_quantizer,
)
from efficient_jax.quant._spec import QuantizerSpec
from efficient_jax.quant._ternary_binary import (
    binary_act_quantize,
    bwn_quantize,
    init_ttq,
    ternary_act_quantize,
    ttq_quantize,
    twn_quantize,
)
from efficient_jax.quant._to_qarray import to_qarray
from efficient_jax.quant._uniform import (
    calibrate,
    calibrate_range,
    dorefa_quantize,
    uniform_quantize,
)
from efficient_jax.quant._weight_ptq import (
    fake_quantize_per_channel,
    ptq_weights_compressor,
    quantize_weights,
)

__all__ = [
    "CALIBRATIONS",
    "EPS",
    "GRANULARITIES",
    "QUANTIZERS",
    "Calibration",
    "QArray",
    "QuantizerSpec",
    "apply_quantizer",
    "available_quantizers",
    "binary_act_quantize",
    "bwn_quantize",
    "calibrate",
    "calibrate_range",
    "check_bits",
    "decode",
    "dequantize",
    "dorefa_quantize",
    "encode",
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
    "qrange",
    "quantize",
    "quantize_weights",
    "register_quantizer",
    "scale_from_range",
    "ternary_act_quantize",
    "to_qarray",
    "ttq_quantize",
    "twn_quantize",
    "unpack",
    "uniform_clip_quantize",
    "uniform_quantize",
]

# Transition only (not API): names that moved to efficient_jax.qat / efficient_jax.binarybert
# still resolve here, with a DeprecationWarning, until their last callers are updated.
_MOVED_TO_QAT = {
    "PRESETS": "PRESETS",
    "QUANT": "QUANT",
    "STATS": "STATS",
    "QuantRule": "QuantRule",
    "QuantizedModel": "QuantizedModel",
    "ServingModel": "ServingModel",
    "calibrate_model": "calibrate",
    "convert": "convert",
    "prepare": "prepare",
    "preset_rules": "preset_rules",
    "ptq_compressor": "ptq_compressor",
    "qat_compressor": "qat_compressor",
    "quantize_model": "quantize_model",
    "quantized_weight_bytes": "quantized_weight_bytes",
    "weight_to_qarray": "weight_to_qarray",
}
_MOVED_TO_BINARYBERT = (
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
)


def __getattr__(name: str):
    if name in _MOVED_TO_QAT:
        package, new = "efficient_jax.qat", _MOVED_TO_QAT[name]
    elif name in _MOVED_TO_BINARYBERT:
        package, new = "efficient_jax.binarybert", name
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _warnings.warn(
        f"efficient_jax.quant.{name} moved to {package}.{new}; import it from there.",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(_importlib.import_module(package), new)
