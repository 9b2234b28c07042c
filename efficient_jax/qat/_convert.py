"""QAT variables -> packed serving variables (``QArray`` weights) and an integer serving forward.

:func:`convert` replaces every quantized weight by a :class:`~efficient_jax.quant.QArray` that
holds exactly the fake-quantized values on their integer grid (packed 1/2/4-bit codes, ``int8``
for 8 bits) and returns :class:`ServingModel`, which computes from the codes:

- ``Dense`` and ``Conv`` with a symmetric weight grid of 2-8 bits (per tensor, or per output
  channel) and a symmetric static activation grid (``"uniform"`` calibrated or ``"lsq"``): the
  input is encoded to ``int8`` codes with the activation scale, the layer's own
  ``dot_general``/``conv_general_dilated`` runs on the ``int8`` codes with ``int32``
  accumulation, and the result is rescaled by ``s_x · s_w`` before the float bias is added.
- Every other case (``Einsum``, ``Embed.attend``, asymmetric/1-bit/per-group grids, other
  activation quantizers, a masked ``Conv``): the input gets the same fake quantizer as in QAT and
  the weight is dequantized on the fly.
- ``Embed`` lookups gather the packed code rows of the ids (per-tensor or row-wise scales) and
  dequantize only those rows.

Serving layout: ``{"params": <QArray at each quantized weight>, ..., "quant": <learned activation
leaves>, "quant_stats": {<layer>: {"input": {"lo", "hi"}}} for "uniform" activations}``; the
weight-quantizer leaves are folded into the ``QArray`` scales.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.models import get_model
    >>> from efficient_jax.qat import QuantRule, prepare
    >>> model = get_model("mlp", features=(16,), num_classes=3)
    >>> x = jax.random.normal(jax.random.key(0), (4, 8))
    >>> variables = model.init(jax.random.key(1), x)
    >>> rules = [QuantRule(path_regex="kernel$", weight="uniform", weight_bits=4, act="uniform")]
    >>> qat, apply_fn = prepare(model, variables, rules, [x])
    >>> serving, serve = convert(qat, rules, model=apply_fn)
    >>> serving["params"]["head"]["kernel"].codes.dtype
    dtype('uint8')
    >>> bool(jnp.allclose(serve(serving, x), apply_fn(qat, x), atol=1e-5))
    True
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.qat._intercept import (
    INPUT,
    QUANT,
    STATS,
    LayerCall,
    LayerSpec,
    intercept_layers,
    keep_dtypes,
    split_variables,
    tree_get,
    tree_set,
)
from efficient_jax.qat._model import QuantizedModel, quantize_model
from efficient_jax.qat._qlayer import fake_quant_act, static_act_grid
from efficient_jax.qat._rules import QuantRule
from efficient_jax.quant import EPS, QArray, dequantize, encode, qrange, to_qarray, unpack


def weight_to_qarray(
    rule: QuantRule, w: jax.Array, params: Mapping[str, Any], where: str
) -> QArray:
    """The ``QArray`` holding ``rule``'s fake-quantized ``w`` on its integer grid.

    :func:`~efficient_jax.quant.to_qarray` with the rule's weight quantizer and options.

    Raises:
      ValueError: the quantizer's output has no single uniform grid (``ttq``: two scales), or
        the stored values differ from the fake-quantized ones (naming ``where``).

    Example:
        >>> import jax.numpy as jnp
        >>> rule = QuantRule(weight="bwn", weight_bits=1)
        >>> q = weight_to_qarray(rule, jnp.array([0.5, -1.5]), {}, "fc/kernel")
        >>> q.bits, q.codes.dtype
        (1, dtype('uint8'))
    """
    try:
        return to_qarray(rule.weight, w, params, bits=rule.weight_bits, **rule.weight_options())
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


# ---------------------------------------------------------------------------------------------
# Serving forward


def _int_act_scale(spec: LayerSpec, lquant: Mapping, lstats: Mapping | None) -> jax.Array | None:
    rule = spec.rule
    if not rule.act_symmetric or rule.act_bits < 2:
        return None
    if rule.act == "uniform" and lstats:
        scale = static_act_grid(rule, lstats)[0]
        return jnp.where(scale > 0, scale, jnp.ones_like(scale))  # a zero range: scale 1
    if rule.act == "lsq" and "step" in lquant and jnp.ndim(lquant["step"]) == 0:
        return jnp.maximum(jnp.abs(jnp.asarray(lquant["step"], jnp.float32)), EPS)  # as LSQ
    return None


def _int_weight_ok(call: LayerCall, q: QArray) -> bool:
    if call.kind not in ("dense", "conv") or not q.symmetric or q.bits < 2:
        return False
    if call.kind == "conv" and call.module.mask is not None:
        return False
    return q.granularity == "per_tensor" or (
        q.granularity == "per_channel" and q.axis == (len(q.shape) - 1,)
    )


def weight_codes(q: QArray) -> jax.Array:
    """The signed integer codes of a symmetric ``QArray`` as ``int8``, in the weight's shape."""
    if q.bits == 8:
        return q.codes
    qmin, _ = qrange(q.bits, q.symmetric)
    rows = q.shape if q.shape else (1,)
    codes = unpack(q.codes, q.bits, rows[-1]).astype(jnp.int16) + qmin
    return codes.astype(jnp.int8).reshape(q.shape)


def _int_forward(call: LayerCall, x: jax.Array, q: QArray, s_x: jax.Array) -> jax.Array:
    rule = call.spec.rule
    qmin, qmax = qrange(rule.act_bits, True)
    xc = encode(jnp.asarray(x).astype(jnp.float32), s_x, None, qmin, qmax).astype(jnp.int8)
    op = "dot_general" if call.kind == "dense" else "conv_general_dilated"
    int_op = functools.partial(getattr(jax.lax, op), preferred_element_type=jnp.int32)
    acc = call.run(
        xc,
        promote=keep_dtypes,
        overrides={"use_bias": False, op: int_op},
        **{call.spec.weight_name: weight_codes(q)},
    )
    w_scale = q.scale.reshape(-1) if q.granularity == "per_channel" else q.scale.reshape(())
    y = acc.astype(jnp.float32) * (s_x * w_scale)
    bias = call.params().get("bias")
    if bias is not None:
        y = y + jnp.asarray(bias).astype(jnp.float32)
    return y.astype(call.module.dtype or jnp.result_type(x.dtype, q.dtype))


def _embed_lookup(call: LayerCall, q: QArray) -> jax.Array:
    ids = jnp.asarray(call.inputs)
    if not jnp.issubdtype(ids.dtype, jnp.integer):
        raise ValueError("Embed input must be integer token ids.")
    rowwise = q.granularity == "per_channel" and q.axis == (0,)
    if call.module.num_embeddings == 1 or not (q.granularity == "per_tensor" or rowwise):
        table = dequantize(q)
        return call.run(ids, **{call.spec.weight_name: table})
    flat = ids.reshape(-1)
    take = lambda a: jnp.take(a, flat, axis=0) if rowwise else a
    rows = dataclasses.replace(
        q,
        codes=jnp.take(q.codes, flat, axis=0),
        scale=take(q.scale),
        zero_point=None if q.zero_point is None else take(q.zero_point),
        shape=(flat.shape[0], q.shape[1]),
    )
    out = dequantize(rows).reshape(*ids.shape, q.shape[1])
    return out.astype(call.module.dtype or q.dtype)


def _serve_layer(call: LayerCall, lquant: Mapping, lstats: Mapping) -> Any:
    spec, w, x = call.spec, call.weight(), call.inputs
    if isinstance(w, QArray) and call.kind == "embed" and call.method == "__call__":
        return _embed_lookup(call, w)
    if isinstance(w, QArray) and call.quantizes_input and _int_weight_ok(call, w):
        s_x = _int_act_scale(spec, lquant.get(INPUT, {}), lstats.get(INPUT))
        if s_x is not None:
            return _int_forward(call, x, w, s_x)
    if call.quantizes_input:
        x = fake_quant_act(spec, lquant.get(INPUT, {}), lstats.get(INPUT), x)
    if isinstance(w, QArray):
        w = dequantize(w)
    return call.run(x, **{spec.weight_name: w})


@dataclasses.dataclass(frozen=True, eq=False)
class ServingModel:
    """The serving forward of a converted model: ``serve(serving_params, x, train=False)``."""

    qmodel: QuantizedModel

    def __call__(self, serving_params: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        model_vars, quant, stats = split_variables(serving_params)

        def layer_fn(call: LayerCall) -> Any:
            path = call.spec.path
            return _serve_layer(call, tree_get(quant, path), tree_get(stats, path))

        with intercept_layers(self.qmodel.layers, layer_fn):
            return self.qmodel.apply_fn(model_vars, *args, **kwargs)


def convert(
    qat_params: Mapping[str, Any],
    rules: Sequence[QuantRule] | None = None,
    *,
    model: QuantizedModel | Callable[..., Any],
) -> tuple[dict[str, Any], ServingModel]:
    """Packs trained QAT variables for serving: ``(serving_params, serving_apply_fn)``.

    Args:
      qat_params: from :func:`~efficient_jax.qat.prepare` (and training).
      rules: the rules used in ``prepare``; ``None`` takes ``model.rules``.
      model: the ``apply_fn`` returned by ``prepare`` (a ``QuantizedModel``), or the float model
        or its apply function (then ``rules`` is required).

    Returns:
      The serving variables (layout in the module docstring; every quantized weight a
      ``QArray``) and ``serving_apply_fn(serving_params, *args, **kwargs)``, whose output matches
      the fake-quant forward up to float rounding.

    Raises:
      ValueError: missing rules, or weights without a ``QArray`` form (see
        :func:`weight_to_qarray`).

    Runs eagerly (it checks every ``QArray`` against the fake-quantized weight); the returned
    ``serving_apply_fn`` works under ``jit`` and keeps the input's sharding.
    """
    model_vars, quant, stats = split_variables(qat_params)
    if isinstance(model, QuantizedModel) and (rules is None or tuple(rules) == model.rules):
        qmodel = model
    else:
        if rules is None:
            raise ValueError("convert needs the rules when model is not a QuantizedModel.")
        apply_fn = model.apply_fn if isinstance(model, QuantizedModel) else model
        qmodel = quantize_model(apply_fn, model_vars, rules)
    params = model_vars["params"]
    serve_quant: dict[str, Any] = {}
    serve_stats: dict[str, Any] = {}
    for spec in qmodel.layers.values():
        rule, lq = spec.rule, tree_get(quant, spec.path)
        if rule.weight is not None:
            where = "/".join((*spec.path, spec.weight_name))
            w = tree_get(params, spec.path).get(spec.weight_name)
            q = weight_to_qarray(rule, w, lq.get(spec.weight_name, {}), where)
            params = tree_set(params, (*spec.path, spec.weight_name), q)
        if INPUT in lq:
            serve_quant = tree_set(serve_quant, (*spec.path, INPUT), dict(lq[INPUT]))
        st = tree_get(stats, spec.path).get(INPUT)
        if rule.act == "uniform" and st:
            serve_stats = tree_set(
                serve_stats, (*spec.path, INPUT), {k: st[k] for k in ("lo", "hi")}
            )
    serving = {**model_vars, "params": params, QUANT: serve_quant, STATS: serve_stats}
    return serving, ServingModel(qmodel)


def quantized_weight_bytes(serving_params: Mapping[str, Any]) -> tuple[int, int]:
    """``(packed bytes, float32 bytes of the same shapes)`` of the ``QArray`` leaves of a tree."""
    qs = jax.tree.leaves(serving_params, is_leaf=lambda x: isinstance(x, QArray))
    qs = [q for q in qs if isinstance(q, QArray)]
    return sum(q.nbytes for q in qs), sum(4 * int(np.prod(q.shape)) for q in qs)
