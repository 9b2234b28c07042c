"""The quantizer registry: open to new specs, and bit widths validated from each spec."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import ptq, qat, quant
from efficient_jax.models import get_model


@pytest.fixture
def restore_quantizers():
    saved = dict(quant.QUANTIZERS._items)
    yield
    quant.QUANTIZERS._items.clear()
    quant.QUANTIZERS._items.update(saved)


def test_builtin_order_and_lookup():
    assert quant.available_quantizers() == [
        "uniform",
        "dorefa",
        "pact",
        "uniform_clip",
        "lsq",
        "lsq_plus",
        "twn",
        "ttq",
        "bwn",
        "laq",
        "binary_act",
        "ternary_act",
    ]
    assert quant.get_quantizer("lsq") is quant.QUANTIZERS["lsq"]
    with pytest.raises(ValueError, match=r"Unknown quantizer 'lsqq'; valid: \["):
        quant.get_quantizer("lsqq")


def test_registered_spec_works_in_rules_and_models(restore_quantizers):
    # A learned activation quantizer registered by the user: LSQ's numerics under a new name.
    spec = dataclasses.replace(quant.get_quantizer("lsq"), name="my_lsq")
    assert quant.register_quantizer(spec) is spec
    assert "my_lsq" in quant.available_quantizers()
    with pytest.raises(ValueError, match="already registered"):
        quant.register_quantizer(spec)
    model = get_model("mlp", features=(8,), num_classes=2)
    x = jax.random.normal(jax.random.key(0), (4, 3))
    variables = model.init(jax.random.key(1), x)
    mine = [qat.QuantRule(path_regex="kernel$", weight="my_lsq", weight_bits=4, act="my_lsq")]
    ref = [qat.QuantRule(path_regex="kernel$", weight="lsq", weight_bits=4, act="lsq")]
    q_mine, m_mine = qat.prepare(model, variables, mine, [x])
    q_ref, m_ref = qat.prepare(model, variables, ref, [x])
    np.testing.assert_array_equal(m_mine(q_mine, x), m_ref(q_ref, x))


def test_register_rejects_non_specs_and_bad_specs():
    with pytest.raises(ValueError, match="takes a QuantizerSpec"):
        quant.register_quantizer(lambda x: x)
    base = dict(apply=lambda x, p, *, bits: x, init=lambda x, *, bits: {})
    with pytest.raises(ValueError, match="bits must be an integer in 1..8"):
        quant.QuantizerSpec(name="q", bits=(0, 2), **base)
    with pytest.raises(ValueError, match="kind must be one of"):
        quant.QuantizerSpec(name="q", kind="input", **base)
    with pytest.raises(ValueError, match="unknown init_stats"):
        quant.QuantizerSpec(name="q", init_stats=("median",), **base)
    with pytest.raises(ValueError, match="non-empty"):
        quant.QuantizerSpec(name="", **base)


def test_learned_act_quantizer_without_init_stats_is_rejected(restore_quantizers):
    spec = dataclasses.replace(quant.get_quantizer("pact"), name="my_pact", init_stats=())
    quant.register_quantizer(spec)
    model = get_model("mlp", features=(8,), num_classes=2)
    x = jax.random.normal(jax.random.key(0), (4, 3))
    rules = [qat.QuantRule(path_regex="kernel$", act="my_pact")]
    with pytest.raises(ValueError, match=r"supported learned ones: \['lsq', 'lsq_plus', 'pact'"):
        qat.prepare(model, model.init(jax.random.key(1), x), rules, [x])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: quant.lsq_quantize(x, 0.5, 1), "lsq_quantize: bits must be an integer in 2..8"),
        (lambda x: quant.init_lsq_step(x, 9), "init_lsq_step: bits must be an integer in 2..8"),
        (lambda x: quant.uniform_clip_quantize(x, -1.0, 1.0, 1), "in 2..8"),
        (lambda x: quant.pact_quantize(x, 1.0, 0), "pact_quantize: bits must be an integer in 1."),
        (lambda x: quant.apply_quantizer("twn", x, bits=3), "twn: bits must be 2; got 3"),
        (lambda x: quant.init_quantizer_params("bwn", x, bits=2), "bwn: bits must be 1"),
        (lambda x: quant.quantize_weights({"kernel": x}, 9), "quantize_weights: bits must"),
        (lambda x: qat.QuantRule(weight="lsq", weight_bits=1), "weight_bits of 'lsq': bits"),
    ],
)
def test_bit_widths_come_from_the_spec(call, message):
    with pytest.raises(ValueError, match=message):
        call(jnp.linspace(-1.0, 1.0, 8))


def test_widths_are_declared_once():
    assert quant.get_quantizer("lsq").bits == tuple(range(2, 9))
    assert ptq.ALLOWED_BITS == quant.get_quantizer("lsq").bits
    assert quant.get_quantizer("uniform").check_bits(np.int32(3)) == 3


@pytest.mark.parametrize(
    ("name", "bits", "options"),
    [
        ("uniform", 4, {"granularity": "per_channel"}),
        ("uniform", 3, {"symmetric": False}),
        ("lsq", 4, {}),
        ("lsq", 3, {"symmetric": False}),
        ("lsq_plus", 4, {}),
        ("dorefa", 3, {}),
        ("twn", 2, {"granularity": "per_channel", "axis": 0}),
        ("bwn", 1, {}),
        ("laq", 2, {}),
    ],
)
def test_to_qarray_stores_the_fake_quantized_values(name, bits, options):
    w = jax.random.normal(jax.random.key(0), (6, 8))
    params = quant.init_quantizer_params(name, w, bits=bits, **options)
    q = quant.to_qarray(name, w, params, bits=bits, **options)
    want = quant.apply_quantizer(name, w, params, bits=bits, **options)
    np.testing.assert_allclose(quant.dequantize(q), want, rtol=1e-5, atol=1e-6)
    assert q.bits == bits


def test_to_qarray_rejects_ttq():
    w = jax.random.normal(jax.random.key(0), (4, 4))
    with pytest.raises(ValueError, match="ttq.*two scales"):
        quant.to_qarray("ttq", w, quant.init_ttq(w), bits=2)
