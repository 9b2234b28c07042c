"""Per-layer quantizers: weight and activation fake quantization, learned-leaf initialisation
and calibration statistics, shared by the QAT forward (``_model``) and the serving one
(``_convert``).

Example:
    >>> import jax.numpy as jnp
    >>> from efficient_jax.qat import QuantRule
    >>> rule = QuantRule(act="lsq", act_bits=4)
    >>> stats = input_stats(rule, jnp.array([-1.0, 0.5, 2.0]))
    >>> round(float(stats["mean_abs"]), 4), round(float(init_act_params(rule, stats)["step"]), 4)
    (1.1667, 0.8819)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from efficient_jax.qat._intercept import LayerCall, LayerSpec, tree_get, tree_set
from efficient_jax.qat._rules import QuantRule
from efficient_jax.quant import (
    QUANTIZERS,
    apply_quantizer,
    calibrate_range,
    get_quantizer,
    init_quantizer_params,
    parse_calibration,
    scale_from_range,
    uniform_quantize,
)

STAT_KEYS = ("min", "max", "mean_abs", "lo", "hi")


def needs_stats(rule: QuantRule) -> bool:
    return rule.act == "uniform" or bool(get_quantizer(rule.act).learned)


def weight_quant_params(
    layers: Mapping[tuple[str, ...], LayerSpec], params: Mapping[str, Any]
) -> dict[str, Any]:
    """Initial learnable weight-quantizer leaves, nested by layer path."""
    quant: dict[str, Any] = {}
    for spec in layers.values():
        rule = spec.rule
        if rule.weight is None:
            continue
        w = tree_get(params, spec.path).get(spec.weight_name)
        where = "/".join((*spec.path, spec.weight_name))
        if w is None:
            raise ValueError(f"No weight at {where!r} in params.")
        if not bool(jnp.all(jnp.isfinite(jnp.asarray(w)))):
            raise ValueError(f"The weight {where!r} contains NaN or inf; quantize finite weights.")
        if get_quantizer(rule.weight).learned:
            init = init_quantizer_params(rule.weight, w, rule.weight_bits, **rule.weight_options())
            quant = tree_set(quant, (*spec.path, spec.weight_name), init)
    return quant


def fake_quant_weight(call: LayerCall, layer_quant: Mapping[str, Any]) -> jax.Array:
    """The stored weight of ``call``, fake-quantized by its rule (unchanged if ``weight=None``).

    ``layer_quant`` holds the layer's learned quantizer leaves (``{"kernel": {"step": ...}}``);
    this is :meth:`~efficient_jax.qat.QuantizedModel.apply`'s default weight hook.

    Example:
        >>> import flax.linen as nn, jax, jax.numpy as jnp
        >>> from efficient_jax.qat import LayerSpec, intercept_layers
        >>> model = nn.Dense(2)
        >>> variables = {"params": {"kernel": jnp.array([[0.9, -0.1]]), "bias": jnp.zeros(2)}}
        >>> spec = LayerSpec(path=(), weight_name="kernel", rule=QuantRule(weight="bwn",
        ...                                                                weight_bits=1))
        >>> run = lambda call: call.run(call.inputs, kernel=fake_quant_weight(call, {}))
        >>> with intercept_layers({(): spec}, run):
        ...     model.apply(variables, jnp.ones((1, 1))).tolist()
        [[0.5, -0.5]]
    """
    rule, name = call.spec.rule, call.spec.weight_name
    w = call.weight()
    if rule.weight is None:
        return w
    p = layer_quant.get(name, {})
    return apply_quantizer(rule.weight, w, p, bits=rule.weight_bits, **rule.weight_options())


def static_act_grid(rule: QuantRule, stats: Mapping[str, Any]) -> tuple[jax.Array, Any]:
    """``(scale, zero_point)`` of a ``"uniform"`` activation from its calibrated ``lo``/``hi``."""
    lo, hi = (jnp.asarray(stats[k], jnp.float32) for k in ("lo", "hi"))
    scale, zp = scale_from_range(lo, hi, rule.act_bits, rule.act_symmetric)
    return scale, (None if rule.act_symmetric else zp)


def fake_quant_act(
    spec: LayerSpec, params: Mapping[str, Any], stats: Mapping[str, Any] | None, x: jax.Array
) -> jax.Array:
    """Fake-quantizes a layer input; ``"uniform"`` uses the static calibrated range.

    Args:
      spec: the layer (its rule's ``act`` quantizer).
      params: the learned leaves of the input quantizer (``quant[...]["input"]``), if any.
      stats: the input's calibration statistics (``quant_stats[...]["input"]``); required for
        ``"uniform"``.
      x: the layer input.

    Example:
        >>> import jax.numpy as jnp
        >>> from efficient_jax.qat import LayerSpec
        >>> spec = LayerSpec(path=("fc",), weight_name="kernel",
        ...                  rule=QuantRule(act="uniform", act_bits=2))
        >>> fake_quant_act(spec, {}, {"lo": -1.0, "hi": 1.0}, jnp.array([0.3, -0.8])).tolist()
        [0.0, -1.0]
    """
    rule = spec.rule
    if rule.act == "uniform":
        if not stats:
            raise ValueError(
                f"Layer {spec.name!r} quantizes its input with a static 'uniform' range but has "
                "no calibration statistics; calibrate on batches that run it."
            )
        scale, zp = static_act_grid(rule, stats)
        return uniform_quantize(
            x, rule.act_bits, symmetric=rule.act_symmetric, scale=scale, zero_point=zp
        )
    if get_quantizer(rule.act).learned and not params:
        raise ValueError(
            f"Layer {spec.name!r}: the {rule.act!r} activation quantizer has no initialised "
            "parameters; build the variables with prepare() or QuantizedModel.init."
        )
    return apply_quantizer(rule.act, x, params, bits=rule.act_bits, **rule.act_options())


def init_act_params(rule: QuantRule, stats: Mapping[str, Any]) -> dict[str, jax.Array]:
    """Learnable activation-quantizer leaves initialised from calibration statistics.

    The quantizer's ``init`` runs on the array of the statistics its spec names in
    ``init_stats`` (same min / max / mean|x| as the calibration data).

    Example:
        >>> stats = {"min": -1.0, "max": 2.0, "mean_abs": 0.5}
        >>> init_act_params(QuantRule(act="pact"), stats)["alpha"].tolist()
        2.0
    """
    spec = get_quantizer(rule.act)
    if not spec.learned:
        return {}
    if not spec.init_stats:
        supported = sorted(n for n, s in QUANTIZERS.items() if s.learned and s.init_stats)
        raise ValueError(
            f"Cannot initialise the activation quantizer {rule.act!r} from statistics; "
            f"supported learned ones: {supported}."
        )
    proxy = jnp.asarray([stats[k] for k in spec.init_stats], jnp.float32)
    return init_quantizer_params(rule.act, proxy, rule.act_bits, **rule.act_options())


def input_stats(rule: QuantRule, x: jax.Array) -> dict[str, jax.Array]:
    """Range statistics of one layer input (and its element count)."""
    x = jax.lax.stop_gradient(jnp.asarray(x).astype(jnp.float32))
    lo, hi = calibrate_range(
        x, rule.act_bits, symmetric=rule.act_symmetric, calibration=rule.act_calibration
    )
    return {
        "min": jnp.min(x),
        "max": jnp.max(x),
        "mean_abs": jnp.mean(jnp.abs(x)),
        "lo": lo.reshape(()),
        "hi": hi.reshape(()),
        "count": jnp.asarray(x.size, jnp.float32),
    }


def merge_stats(a: Mapping | None, b: Mapping, calibration: str) -> dict[str, Any]:
    """Combines two statistics: exact min/max; count-weighted means of mean|x| and, for
    percentile/MSE calibration, of the per-batch ranges."""
    if a is None:
        return dict(b)
    n = a["count"] + b["count"]
    mean = lambda k: (a[k] * a["count"] + b[k] * b["count"]) / n
    exact = parse_calibration(calibration).method == "minmax"
    return {
        "min": jnp.minimum(a["min"], b["min"]),
        "max": jnp.maximum(a["max"], b["max"]),
        "mean_abs": mean("mean_abs"),
        "lo": jnp.minimum(a["lo"], b["lo"]) if exact else mean("lo"),
        "hi": jnp.maximum(a["hi"], b["hi"]) if exact else mean("hi"),
        "count": n,
    }
