"""Per-layer quantizers: weight and activation fake quantization, learned-leaf initialisation
and calibration statistics, shared by the QAT forward (``_model``) and the serving one
(``_convert``).

Example:
    >>> import jax.numpy as jnp
    >>> from efficient_jax.quant._rules import QuantRule
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

from efficient_jax.quant._calibration import calibrate_range, parse_calibration
from efficient_jax.quant._common import make_layout
from efficient_jax.quant._grid import scale_from_range
from efficient_jax.quant._intercept import LayerCall, LayerSpec, tree_get, tree_set
from efficient_jax.quant._registry import apply_quantizer, get_quantizer, init_quantizer_params
from efficient_jax.quant._rules import QuantRule
from efficient_jax.quant._uniform import uniform_quantize

STAT_KEYS = ("min", "max", "mean_abs", "lo", "hi")
# Statistics that initialise each learned activation quantizer: its init function is called on
# this small array, which has the same min / max / mean|x| as the calibration data.
_ACT_INIT_PROXY = {
    "pact": ("max",),
    "lsq": ("mean_abs",),
    "lsq_plus": ("min", "max"),
    "uniform_clip": ("min", "max"),
}


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
    """The stored weight of ``call``, fake-quantized by its rule (unchanged if ``weight=None``)."""
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
    """Fake-quantizes a layer input; ``"uniform"`` uses the static calibrated range."""
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
    """Learnable activation-quantizer leaves initialised from calibration statistics."""
    spec = get_quantizer(rule.act)
    if not spec.learned:
        return {}
    if rule.act not in _ACT_INIT_PROXY:
        raise ValueError(
            f"Cannot initialise the activation quantizer {rule.act!r} from statistics; "
            f"supported learned ones: {sorted(_ACT_INIT_PROXY)}."
        )
    proxy = jnp.asarray([stats[k] for k in _ACT_INIT_PROXY[rule.act]], jnp.float32)
    return init_quantizer_params(rule.act, proxy, rule.act_bits, **rule.act_options())


def input_stats(rule: QuantRule, x: jax.Array) -> dict[str, jax.Array]:
    """Range statistics of one layer input (and its element count)."""
    x = jax.lax.stop_gradient(jnp.asarray(x).astype(jnp.float32))
    cal = parse_calibration(rule.act_calibration)
    lo, hi = calibrate_range(x, make_layout(x.shape), rule.act_bits, rule.act_symmetric, cal)
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
