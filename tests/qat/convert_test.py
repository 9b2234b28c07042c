"""QAT -> serving conversion: packed QArray weights, integer forward, bytes, compressors."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import compressors, cost
from efficient_jax.models import get_model
from efficient_jax.qat import (
    QuantRule,
    convert,
    prepare,
    quantize_model,
    quantized_weight_bytes,
    weight_to_qarray,
)
from efficient_jax.quant import QArray, dequantize

_PATH = "(kernel|embedding)$"
CONFIGS = {
    "w8a8_uniform": (
        [QuantRule(path_regex=_PATH, weight="uniform", weight_bits=8, act="uniform")],
        8,
    ),
    "w4a4_lsq": (
        [QuantRule(path_regex=_PATH, weight="lsq", weight_bits=4, act="lsq", act_bits=4)],
        4,
    ),
    "twn_a8": ([QuantRule(path_regex=_PATH, weight="twn", weight_bits=2, act="uniform")], 2),
}


def _model(name):
    key = jax.random.key(0)
    if name == "tiny_bert":
        model = get_model(
            "tiny_bert",
            vocab_size=50,
            hidden_size=16,
            num_heads=2,
            intermediate_size=32,
            num_layers=1,
            max_position=16,
        )
        x = jax.random.randint(key, (2, 8), 0, 50)
    else:
        model = get_model(name)
        x = jax.random.normal(key, (2, 8, 8, 3 if name == "resnet20" else 1))
    return model, model.init(jax.random.key(1), x), x


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize(
    "name", ["lenet5", pytest.param("resnet20", marks=pytest.mark.slow), "tiny_bert"]
)
def test_serving_matches_fake_quant_and_packs(name, config, fast_compile):
    model, variables, x = _model(name)
    rules, bits = CONFIGS[config]
    qat, apply_fn = prepare(model, variables, rules, [x])
    serving, serve = convert(qat, rules, model=apply_fn)
    fake, served = apply_fn(qat, x), serve(serving, x)
    scale = float(jnp.max(jnp.abs(fake)))
    np.testing.assert_allclose(served, fake, rtol=1e-4, atol=1e-5 * scale)
    assert not np.allclose(fake, model.apply(variables, x), rtol=1e-3, atol=1e-6)

    qarrays = [
        q
        for q in jax.tree.leaves(serving, is_leaf=lambda a: isinstance(a, QArray))
        if isinstance(q, QArray)
    ]
    assert len(qarrays) == len(apply_fn.layers)
    for q in qarrays:
        assert q.bits == bits
        assert q.codes.dtype == (jnp.int8 if bits == 8 else jnp.uint8)
    packed, float32 = quantized_weight_bytes(serving)
    assert bits / 32 <= packed / float32 < bits / 32 * 1.1  # + scales, row padding
    others = cost.model_bytes_from_tree(variables) - float32  # biases, norms stay float
    act_leaves = 8 * len(apply_fn.layers)  # at most lo/hi or one step per layer input
    assert packed + others <= cost.model_bytes_from_tree(serving) <= packed + others + act_leaves


def test_serving_runs_integer_matmuls_and_convs():
    model, variables, x = _model("lenet5")
    rules, _ = CONFIGS["w8a8_uniform"]
    qat, apply_fn = prepare(model, variables, rules, [x])
    serving, serve = convert(qat, rules, model=apply_fn)
    text = str(jax.make_jaxpr(serve)(serving, x))
    assert text.count("preferred_element_type=int32") == 5  # 2 convs + 3 dense, on int8 codes
    assert "i8[" in text


def test_serving_under_jit_and_sharding():
    model, variables, x = _model("lenet5")
    x = jnp.concatenate([x] * 4)
    rules, _ = CONFIGS["w4a4_lsq"]
    qat, apply_fn = prepare(model, variables, rules, [x])
    serving, serve = convert(qat, rules, model=apply_fn)
    mesh = jax.make_mesh((8,), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.P("data"))
    traces = []

    def fwd(p, x):
        traces.append(1)
        return serve(p, x)

    jitted = jax.jit(fwd)
    out = jitted(serving, jax.device_put(x, sharding))
    jitted(serving, jax.device_put(x + 1, sharding))
    assert len(traces) == 1
    assert out.sharding.is_equivalent_to(sharding, out.ndim)
    np.testing.assert_allclose(out, apply_fn(qat, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "rule",
    [
        QuantRule(weight="uniform", weight_bits=3, weight_symmetric=False),
        QuantRule(
            weight="uniform",
            weight_bits=4,
            weight_granularity="per_group",
            weight_axis=0,
            weight_group_size=4,
        ),
        QuantRule(weight="lsq", weight_bits=3, weight_symmetric=False),
        QuantRule(weight="lsq", weight_bits=4, weight_granularity="per_channel"),
        QuantRule(weight="lsq_plus", weight_bits=4),
        QuantRule(weight="bwn", weight_bits=1, weight_granularity="per_channel", weight_axis=0),
        QuantRule(weight="laq", weight_bits=3),
        QuantRule(weight="dorefa", weight_bits=2),
        QuantRule(weight="twn", weight_bits=2, weight_granularity="per_channel", weight_axis=0),
    ],
    ids=lambda r: f"{r.weight}{r.weight_bits}",
)
def test_weight_qarray_reproduces_every_grid_quantizer(rule, key):
    model = nn.Embed(16, 8)
    ids = jnp.arange(12).reshape(3, 4) % 16
    variables = model.init(key, ids)
    qat, apply_fn = prepare(model, variables, [rule], [])
    serving, serve = convert(qat, [rule], model=apply_fn)
    q = serving["params"]["embedding"]
    assert isinstance(q, QArray) and q.bits == rule.weight_bits
    np.testing.assert_allclose(serve(serving, ids), apply_fn(qat, ids), rtol=1e-5, atol=1e-7)
    assert not np.allclose(dequantize(q), variables["params"]["embedding"])


def test_ttq_weights_have_no_qarray_form(key):
    w = jax.random.normal(key, (4, 4))
    rule = QuantRule(weight="ttq", weight_bits=2)
    with pytest.raises(ValueError, match="ttq.*two scales"):
        weight_to_qarray(rule, w, {"wp": jnp.float32(1.0), "wn": jnp.float32(0.5)}, "k")


def test_convert_from_float_model_needs_rules(key):
    model, variables, x = _model("lenet5")
    rules, _ = CONFIGS["twn_a8"]
    qat, apply_fn = prepare(model, variables, rules, [x])
    with pytest.raises(ValueError, match="needs the rules"):
        convert(qat, model=model)
    serving, serve = convert(qat, rules, model=model)
    np.testing.assert_allclose(serve(serving, x), apply_fn(qat, x), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name,bits", [("ptq_w8a8", 8), ("ptq_w4a8", 4)])
def test_ptq_activation_compressors(name, bits):
    model, variables, x = _model("lenet5")
    result = compressors.get_compressor(name)(
        variables, apply_fn=model.apply, calib_batch={"image": x}
    )
    assert result.apply_fn is not None and result.info["act_bits"] == 8
    assert result.model_bytes == cost.model_bytes_from_tree(result.variables)
    ratio = cost.model_bytes_from_tree(variables) / result.model_bytes
    assert 32 / bits * 0.8 < ratio < 32 / bits  # float biases and scales
    y = jax.jit(result.apply_fn)(result.variables, x)
    ref = model.apply(variables, x)
    rel_err = float(jnp.linalg.norm(y - ref) / jnp.linalg.norm(ref))
    assert rel_err < (0.03 if bits == 8 else 0.4), rel_err
    with pytest.raises(ValueError, match="calib_batch"):
        compressors.get_compressor(name)(variables, apply_fn=model.apply, calib_batch=None)


def test_quantize_model_without_act_rules_needs_no_calibration():
    model, variables, x = _model("lenet5")
    rules = [QuantRule(path_regex="kernel$", weight="lsq", weight_bits=4)]
    qmodel = quantize_model(model, variables, rules)
    qat = qmodel.init(variables)
    serving, serve = convert(qat, model=qmodel)
    np.testing.assert_allclose(serve(serving, x), qmodel(qat, x), rtol=1e-5, atol=1e-6)
