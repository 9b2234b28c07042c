import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import cost, qat, quant
from efficient_jax.core import match_rules


def test_rules_select_quantizers_first_match_wins():
    rules = [
        qat.QuantRule(path_regex=r"head/kernel$"),  # keep the head in float
        qat.QuantRule(path_regex=r"kernel$", weight="lsq", weight_bits=4, act="pact", act_bits=4),
    ]
    params = {"head": {"kernel": 0, "bias": 0}, "Dense_0": {"kernel": 0}}
    picked = match_rules(params, rules)
    assert picked["head"]["kernel"].weight is None
    assert picked["Dense_0"]["kernel"].weight == "lsq"
    assert picked["head"]["bias"] is None


def test_rule_drives_init_and_apply():
    w = jnp.asarray(np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32))
    rule = qat.QuantRule(
        weight="lsq", weight_bits=4, weight_granularity="per_channel", weight_axis=-1
    )
    opts = rule.weight_options()
    assert opts == {"symmetric": True, "granularity": "per_channel", "axis": -1}
    params = quant.init_quantizer_params(rule.weight, w, rule.weight_bits, **opts)
    assert params["step"].shape == (1, 4)
    y = quant.apply_quantizer(rule.weight, w, params, bits=rule.weight_bits, **opts)
    assert y.shape == w.shape
    uni = qat.QuantRule(weight="uniform", weight_bits=3, weight_calibration="mse,10")
    y = quant.apply_quantizer("uniform", w, bits=3, **uni.weight_options())
    np.testing.assert_array_equal(y, quant.uniform_quantize(w, 3, calibration="mse,10"))
    act = qat.QuantRule(act="uniform", act_symmetric=False, act_calibration="percentile,99")
    assert act.act_options() == {"symmetric": False, "calibration": "percentile,99"}
    assert act.weight_options() == {}


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(weight="lsq", weight_bits=1), r"bits must be an integer in 2\.\.8"),
        (dict(weight="twn", weight_bits=4), "bits must be 2"),
        (dict(weight_bits=9), r"bits must be an integer in 1\.\.8"),
        (dict(act="uniform", act_bits=0), r"1\.\.8"),
        (dict(weight="lsqq"), r"Unknown quantizer 'lsqq'; valid: \[.*'twn'"),
        (dict(weight="pact"), "activation quantizer and cannot be the weight"),
        (dict(act="twn", act_bits=2), "weight quantizer and cannot be the act"),
        (dict(weight="twn", weight_bits=2, weight_symmetric=False), "not used by 'twn'"),
        (dict(weight="lsq", weight_bits=4, weight_calibration="mse"), "not used by 'lsq'"),
        (dict(weight="uniform", weight_granularity="per_row"), "unknown weight_granularity"),
        (dict(weight="lsq", weight_bits=4, weight_granularity="per_group"), "supports"),
        (dict(weight="uniform", weight_granularity="per_group"), "positive weight_group_size"),
        (dict(act="uniform", act_calibration="absmax"), "Unknown calibration"),
        (dict(path_regex="("), "invalid regex"),
    ],
)
def test_rule_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        qat.QuantRule(**kwargs)


def test_rule_is_frozen_and_works_with_model_bytes():
    rule = qat.QuantRule(path_regex="kernel", weight="twn", weight_bits=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.weight_bits = 4
    params = {"kernel": jnp.ones((8, 4)), "bias": jnp.ones(4)}
    assert rule.bits == 2 and qat.QuantRule().bits is None
    assert cost.model_bytes(params, bits=[rule]) == 8 + 16
