"""Model-level quantization: fake-quant Flax models selected by rules, calibration and serving.

- Rules: :class:`QuantRule` (which layers, which quantizers from
  :data:`efficient_jax.quant.QUANTIZERS`; first match wins) and :func:`preset_rules`
  (:data:`PRESETS`).
- QAT/PTQ without touching the model's code: :func:`quantize_model` / :func:`prepare` →
  :class:`QuantizedModel` (fake-quant forward, with a weight hook ``weight_fn``), calibrated by
  :func:`calibrate`; :func:`fake_quant_params`.
- Serving: :func:`convert` (packed ``QArray`` weights, :class:`ServingModel` with an integer
  forward), :func:`weight_to_qarray`, :func:`quantized_weight_bytes`.
- Layer interception, for algorithms that run quantized layers their own way (MREM, BinaryBERT):
  :func:`intercept_layers` hands each call of a selected layer to a function as a
  :class:`LayerCall` (:class:`LayerSpec`: path, weight name, rule); :func:`fake_quant_weight` /
  :func:`fake_quant_act` quantize a call's weight / input by its rule. Variables layout: the
  model's collections plus :data:`QUANT` (learned quantizer leaves) and :data:`STATS`
  (calibration statistics), nested by layer path, with :data:`INPUT` for a layer's input;
  :func:`split_variables`, :func:`tree_get`, :func:`tree_set`.
- Compressors: :func:`ptq_compressor`, :func:`qat_compressor`.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.models import get_model
    >>> model = get_model("mlp", features=(16,), num_classes=3)
    >>> x = jax.random.normal(jax.random.key(0), (4, 8))
    >>> variables = model.init(jax.random.key(1), x)
    >>> qat_params, qmodel = prepare(model, variables, preset_rules("w8a8"), [x])
    >>> serving, serve = convert(qat_params, model=qmodel)
    >>> bool(jnp.allclose(serve(serving, x), qmodel(qat_params, x), atol=1e-4))
    True
"""

from efficient_jax.qat._calibrate import calibrate
from efficient_jax.qat._compressors import ptq_compressor, qat_compressor
from efficient_jax.qat._convert import (
    ServingModel,
    convert,
    quantized_weight_bytes,
    weight_to_qarray,
)
from efficient_jax.qat._intercept import (
    INPUT,
    QUANT,
    STATS,
    SUPPORTED_LAYERS,
    WEIGHT_NAMES,
    LayerCall,
    LayerSpec,
    intercept_layers,
    split_variables,
    tree_get,
    tree_set,
)
from efficient_jax.qat._model import (
    QuantizedModel,
    fake_quant_params,
    prepare,
    quantize_model,
    resolve_layers,
)
from efficient_jax.qat._presets import PRESETS, preset_rules
from efficient_jax.qat._qlayer import fake_quant_act, fake_quant_weight
from efficient_jax.qat._rules import QuantRule

__all__ = [
    "INPUT",
    "PRESETS",
    "QUANT",
    "STATS",
    "SUPPORTED_LAYERS",
    "WEIGHT_NAMES",
    "LayerCall",
    "LayerSpec",
    "QuantRule",
    "QuantizedModel",
    "ServingModel",
    "calibrate",
    "convert",
    "fake_quant_act",
    "fake_quant_params",
    "fake_quant_weight",
    "intercept_layers",
    "preset_rules",
    "prepare",
    "ptq_compressor",
    "qat_compressor",
    "quantize_model",
    "quantized_weight_bytes",
    "resolve_layers",
    "split_variables",
    "tree_get",
    "tree_set",
    "weight_to_qarray",
]
