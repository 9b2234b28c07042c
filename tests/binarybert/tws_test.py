"""Ternary weight splitting: exact equivalence of the matrix split and of the network split."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import binarybert, cost, qat, quant
from efficient_jax.models import TinyBert

SHAPES = [(7,), (16, 8), (64, 32), (3, 5, 4)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mean", [0.0, 0.004])
def test_split_is_exact_per_tensor_float64(shape, mean):
    w = np.random.default_rng(sum(shape)).normal(mean, 0.05, size=shape)
    c = binarybert.tws_coefficients(w)
    assert np.all((c["a"] > 0) & (c["a"] < 1)) and np.all(c["b"] > 0)
    w1, w2 = binarybert.tws_split_weight(w)
    assert w1.dtype == np.float64
    np.testing.assert_allclose(w1 + w2, w, atol=1e-15)
    total = binarybert.binary_reference(w1) + binarybert.binary_reference(w2)
    assert np.max(np.abs(total - binarybert.ternary_reference(w))) <= 1e-12
    # alpha1 == alpha2 == alpha / 2
    np.testing.assert_allclose(np.mean(np.abs(w1)), np.mean(np.abs(w2)), rtol=1e-12)


@pytest.mark.parametrize("shape", [(10, 16), (50, 8)])
def test_split_is_exact_per_row_float64(shape):
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.05, size=shape) + rng.normal(0, 0.01, size=(shape[0], 1))  # row shifts
    kw = dict(granularity="per_channel", axis=0)
    w1, w2 = binarybert.tws_split_weight(w, **kw)
    c = binarybert.tws_coefficients(w, **kw)
    assert c["a"].shape == (shape[0], 1) and np.all((c["a"] > 0) & (c["a"] < 1))
    total = binarybert.binary_reference(w1, **kw) + binarybert.binary_reference(w2, **kw)
    assert np.max(np.abs(total - binarybert.ternary_reference(w, **kw))) <= 1e-12


@pytest.mark.parametrize("gran", ["per_tensor", "per_channel"])
def test_split_float32_matches_library_quantizers(gran):
    w = np.random.default_rng(5).normal(0.002, 0.05, size=(96, 48)).astype(np.float32)
    w1, w2 = binarybert.tws_split_weight(w, granularity=gran, axis=0)
    assert w1.dtype == np.float32
    kw = {"granularity": gran, "axis": 0} if gran == "per_channel" else {}
    split = quant.bwn_quantize(w1, **kw) + quant.bwn_quantize(w2, **kw)
    assert float(jnp.max(jnp.abs(split - quant.twn_quantize(w, **kw)))) <= 1e-6


def test_printed_eq_5_8_is_not_exact_on_asymmetric_weights():
    w = np.random.default_rng(0).normal(0.003, 0.05, size=4000)
    w1, w2 = binarybert.tws_split_weight(w, formula="printed")
    np.testing.assert_allclose(w1 + w2, w, atol=1e-15)  # latent sum still holds ...
    err = (
        binarybert.binary_reference(w1)
        + binarybert.binary_reference(w2)
        - binarybert.ternary_reference(w)
    )
    assert np.max(np.abs(err)) > 1e-5  # ... but the quantized sum does not (spec: 2.8e-4)


def test_split_rejects_bad_input():
    with pytest.raises(ValueError, match="granularity"):
        binarybert.tws_split_weight(np.ones(4), granularity="per_group")
    with pytest.raises(ValueError, match="floating"):
        binarybert.tws_split_weight(np.ones(4, np.int32))
    with pytest.raises(ValueError, match="NaN"):
        binarybert.tws_split_weight(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="non-zero"):
        binarybert.tws_split_weight(np.zeros((2, 3)), granularity="per_channel", axis=0)
    with pytest.raises(ValueError, match="formula"):
        binarybert.tws_split_weight(np.ones(4), formula="typo")


def _half_bert():
    model = TinyBert(
        vocab_size=64,
        hidden_size=16,
        num_layers=2,
        num_heads=1,
        head_size=8,
        intermediate_size=16,
        max_position=12,
    )
    ids = jax.random.randint(jax.random.key(0), (6, 12), 0, 64)
    mask = jnp.ones((6, 12), jnp.int32).at[:2, 9:].set(0)
    variables = model.init(jax.random.key(1), ids)
    rules = qat.preset_rules(
        "twn_a8", keep_8bit_regex=r"^classifier/", rowwise_embedding_regex=r"word_embeddings"
    )
    batch = {"input_ids": ids, "attention_mask": mask}
    qat_params, tern = qat.prepare(model, variables, rules, [batch])
    return qat_params, tern, ids, mask


def test_network_split_leaves_logits_unchanged():
    qat_params, tern, ids, mask = _half_bert()
    split, binary = binarybert.tws_split_model(qat_params, tern)
    assert "word_embeddings" in binary.names() and "pooler" in binary.names()
    assert "classifier" not in binary.names()
    ref = tern(qat_params, ids, attention_mask=mask)
    out = binary(split, ids, attention_mask=mask)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # The split halves are binary: BWN of each half has one magnitude per matrix.
    w2 = split[binarybert.SPLIT]["layer_0"]["intermediate"]["kernel"]
    assert np.unique(np.abs(np.asarray(quant.bwn_quantize(w2)))).size == 1
    # Packed export: same function, two 1-bit halves (+ scales) per split matrix.
    packed, apply_packed = binarybert.export_split(split, binary)
    np.testing.assert_allclose(apply_packed(packed, ids, attention_mask=mask), out, atol=1e-5)
    half, half_model = binarybert.tws_split_model(qat_params, tern, select=[])
    size = lambda q, m: cost.model_bytes_from_tree(binarybert.export_split(q, m)[0])
    assert size(half, half_model) < size(split, binary)


def test_partial_split_and_errors():
    qat_params, tern, ids, _ = _half_bert()
    split, model = binarybert.tws_split_model(qat_params, tern, select=["layer_1/intermediate"])
    assert model.names() == ["layer_1/intermediate"]
    assert set(jax.tree.leaves(jax.tree.map(lambda x: x.shape, split[binarybert.SPLIT]))) >= {16}
    # Gradients reach both latent halves through the straight-through BWN.
    grads = jax.grad(lambda s: binary_sum(model, {**split, binarybert.SPLIT: s}, ids))(
        split[binarybert.SPLIT]
    )
    assert float(jnp.abs(grads["layer_1"]["intermediate"]["kernel"]).sum()) > 0
    with pytest.raises(ValueError, match="not ternary"):
        binarybert.tws_split_model(qat_params, tern, select=["classifier"])


def binary_sum(model, variables, ids):
    return jnp.sum(model(variables, ids) ** 2)


def test_tws_compressor_packs_two_binary_halves():
    from efficient_jax.models import MLP

    model = MLP(features=(16,), num_classes=3)
    x = jax.random.normal(jax.random.key(0), (32, 8))
    variables = model.init(jax.random.key(1), x)
    result = binarybert.tws_compressor(steps=2)(
        variables, apply_fn=model.apply, calib_batch={"image": x, "label": jnp.zeros(32, jnp.int32)}
    )
    assert result.apply_fn(result.variables, x).shape == (32, 3)
    assert result.info["split_layers"] == 2
    # Two 1-bit halves per kernel: well under the 2-bit-per-weight float32/16 bound.
    assert result.model_bytes < cost.model_bytes_from_tree(variables) / 4
    with pytest.raises(ValueError, match="twn"):
        binarybert.tws_compressor(preset="lsq_w4a8")


def test_shrink_bert_width_keeps_function_at_full_width():
    full = TinyBert(
        vocab_size=40, hidden_size=16, num_heads=2, intermediate_size=24, max_position=8
    )
    ids = jax.random.randint(jax.random.key(2), (3, 8), 0, 40)
    variables = full.init(jax.random.key(3), ids)
    same, heads = binarybert.shrink_bert_width(
        variables["params"], num_heads=2, keep_heads=2, keep_intermediate=24
    )
    assert heads == [[0, 1], [0, 1]]
    np.testing.assert_allclose(full.apply({"params": same}, ids), full.apply(variables, ids), 1e-5)
    half_params, heads = binarybert.shrink_bert_width(
        variables["params"], num_heads=2, keep_heads=1, keep_intermediate=12
    )
    half = TinyBert(
        vocab_size=40,
        hidden_size=16,
        num_heads=1,
        head_size=8,
        intermediate_size=12,
        max_position=8,
    )
    assert half.apply({"params": half_params}, ids).shape == (3, 2)
    assert all(len(h) == 1 for h in heads)
    with pytest.raises(ValueError, match="keep_heads"):
        binarybert.shrink_bert_width(
            variables["params"], num_heads=2, keep_heads=3, keep_intermediate=4
        )
