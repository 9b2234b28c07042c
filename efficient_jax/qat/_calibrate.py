"""Calibration: static-range statistics of every quantized layer input over a few batches.

The model runs with its weights fake-quantized and its activations in float; each quantized layer
input contributes ``min``, ``max``, ``mean_abs`` and the range ``lo``/``hi`` of its rule's
``act_calibration`` (see :func:`calibrate`). :func:`~efficient_jax.qat.quantize_model` stores
them as ``QuantizedModel.stats``; ``QuantizedModel.init`` keeps them as the ``quant_stats``
collection and initialises learned activation quantizers from them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from efficient_jax.qat._intercept import (
    INPUT,
    LayerCall,
    as_variables,
    intercept_layers,
    split_variables,
    tree_get,
    tree_set,
)
from efficient_jax.qat._qlayer import (
    STAT_KEYS,
    fake_quant_weight,
    input_stats,
    merge_stats,
    weight_quant_params,
)


def batch_inputs(batch: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` for ``apply``: a batch dict (``image`` / ``input_ids`` + masks), an
    ``(args, kwargs)`` pair, or a single input array."""
    if isinstance(batch, Mapping):
        from efficient_jax.train import model_inputs

        return model_inputs(batch)
    if isinstance(batch, tuple) and len(batch) == 2 and isinstance(batch[1], Mapping):
        return tuple(batch[0]), dict(batch[1])
    return (batch,), {}


def _check_finite_batch(i: int, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    for leaf in jax.tree.leaves((args, kwargs)):
        arr = jnp.asarray(leaf)
        if jnp.issubdtype(arr.dtype, jnp.floating) and not bool(jnp.all(jnp.isfinite(arr))):
            raise ValueError(f"Calibration batch {i} contains NaN or inf inputs.")


def _calibration_forward(qmodel, variables, quant, args, kwargs):
    recorder: dict[tuple[str, ...], dict[str, jax.Array]] = {}

    def layer_fn(call: LayerCall) -> Any:
        w = fake_quant_weight(call, tree_get(quant, call.spec.path))
        if call.quantizes_input:
            rule = call.spec.rule
            new = input_stats(rule, call.inputs)
            path = call.spec.path
            recorder[path] = merge_stats(recorder.get(path), new, rule.act_calibration)
        return call.run(call.inputs, **{call.spec.weight_name: w})

    with intercept_layers(qmodel.layers, layer_fn):
        qmodel.apply_fn(variables, *args, **kwargs)
    return {"/".join(p): v for p, v in recorder.items()}


def calibrate(qmodel: Any, params: Mapping[str, Any], batches: Iterable[Any]) -> dict[str, Any]:
    """Static-range statistics of every quantized layer input over ``batches``.

    The model runs with its weights fake-quantized (learned weight quantizers from
    ``params["quant"]`` if present, else initialised) and activations in float. Per layer input:
    ``min``, ``max``, ``mean_abs`` (exact over all batches) and the range ``lo``/``hi`` of the
    rule's ``act_calibration``: exact global min-max for ``"minmax"``; for ``"percentile"`` and
    ``"mse"``, the element-count-weighted mean of the per-batch ranges.

    Args:
      qmodel: a :class:`~efficient_jax.qat.QuantizedModel` (from
        :func:`~efficient_jax.qat.quantize_model`).
      params: the model's variables (or QAT variables).
      batches: batch dicts (``"image"`` or ``"input_ids"`` plus masks), ``(args, kwargs)``
        pairs, or input arrays; each is run under one ``jit``.

    Returns:
      ``{layer path nested...: {"input": {"min", "max", "mean_abs", "lo", "hi"}}}`` with float32
      scalar leaves (``{}`` if no layer quantizes its input).

    Raises:
      ValueError: an empty ``batches`` or layers that never ran (naming the layers without
        statistics); NaN/inf in a batch or reaching a quantized layer input.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from efficient_jax.models import get_model
        >>> from efficient_jax.qat import QuantRule, quantize_model
        >>> model = get_model("mlp", features=(4,), num_classes=2)
        >>> x = jnp.array([[-1.0, 2.0]])
        >>> variables = model.init(jax.random.key(0), x)
        >>> qm = quantize_model(model, variables, [QuantRule(path_regex="Dense_0", act="uniform")])
        >>> stats = calibrate(qm, variables, [x, 2 * x])
        >>> float(stats["Dense_0"]["input"]["min"]), float(stats["Dense_0"]["input"]["hi"])
        (-2.0, 4.0)
    """
    variables = as_variables(params)
    model_vars, quant, _ = split_variables(variables)
    if not quant:
        quant = weight_quant_params(qmodel.layers, model_vars["params"])
    needed = [s for s in qmodel.layers.values() if s.rule.act is not None]
    if not needed:
        return {}
    forward = jax.jit(functools.partial(_calibration_forward, qmodel))
    totals: dict[str, Any] = {}
    count = 0
    for i, batch in enumerate(batches):
        args, kwargs = batch_inputs(batch)
        _check_finite_batch(i, args, kwargs)
        for name, st in forward(model_vars, quant, args, kwargs).items():
            bad = [k for k in STAT_KEYS if not bool(jnp.isfinite(st[k]))]
            if bad:
                raise ValueError(f"Calibration batch {i}: the input of layer {name!r} is NaN/inf.")
            rule = qmodel.layers[tuple(name.split("/")) if name else ()].rule
            totals[name] = merge_stats(totals.get(name), st, rule.act_calibration)
        count += 1
    required = [s.name for s in qmodel.input_layers()]
    if count == 0:
        raise ValueError(
            f"Empty calibration set: no statistics for layers {required}; pass at least one batch."
        )
    missing = [n for n in required if n not in totals]
    if missing:
        raise ValueError(
            f"No calibration statistics for layers {missing}: they did not run on the "
            f"{count} calibration batches."
        )
    out: dict[str, Any] = {}
    for name, st in totals.items():
        path = tuple(name.split("/")) if name else ()
        leaf = {k: jnp.asarray(st[k], jnp.float32) for k in STAT_KEYS}
        out = tree_set(out, (*path, INPUT), leaf)
    return out
