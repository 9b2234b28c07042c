import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import cost, quant


def _normal(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def _np_pack(codes, bits):
    """Reference layout: a little-endian bit stream per row, 8 stream bits per byte."""
    rows = []
    for row in np.asarray(codes).reshape(-1, codes.shape[-1]):
        stream = [(int(c) >> k) & 1 for c in row for k in range(bits)]
        stream += [0] * (-len(stream) % 8)
        rows.append(
            [sum(b << i for i, b in enumerate(stream[j : j + 8])) for j in range(0, len(stream), 8)]
        )
    return np.asarray(rows, np.uint8).reshape(*codes.shape[:-1], -1)


@pytest.mark.parametrize("bits", range(1, 9))
def test_pack_unpack_round_trip_and_layout(bits):
    rng = np.random.default_rng(bits)
    for n in (1, 3, 7, 8, 9, 17):
        codes = rng.integers(0, 2**bits, size=(3, n), dtype=np.uint8)
        packed = quant.pack(codes, bits)
        assert packed.dtype == jnp.uint8 and packed.shape == (3, quant.packed_size(n, bits))
        np.testing.assert_array_equal(packed, _np_pack(codes, bits))
        np.testing.assert_array_equal(quant.unpack(packed, bits, n), codes)
    with pytest.raises(ValueError, match="need"):
        quant.unpack(packed, bits, n + 8)


def _configs():
    for bits, symmetric, gran in itertools.product(
        (1, 2, 3, 4, 8), (True, False), ("per_tensor", "per_channel", "per_group")
    ):
        kw = dict(bits=bits, symmetric=symmetric, granularity=gran)
        if gran == "per_channel":
            kw["axis"] = 0
        if gran == "per_group":
            kw.update(axis=1, group_size=3)
        yield kw
    yield dict(bits=4, calibration="mse")
    yield dict(bits=3, symmetric=False, calibration="percentile,99")


@pytest.mark.parametrize("cfg", list(_configs()), ids=str)
def test_dequantize_of_quantize_equals_fake_quant_exactly(cfg):
    x = _normal((5, 9)) * 3 + 0.5
    q = quant.quantize(x, **cfg)
    _assert_same(quant.dequantize(q), quant.uniform_quantize(x, **cfg), cfg, x)
    # Also when each is compiled (one program each: inside a single fused program XLA may contract
    # a multiply-add into an FMA, see the QArray docstring).
    bits = cfg["bits"]
    rest = {k: v for k, v in cfg.items() if k != "bits"}
    deq = jax.jit(quant.dequantize)(jax.jit(lambda x: quant.quantize(x, bits, **rest))(x))
    _assert_same(deq, jax.jit(lambda x: quant.uniform_quantize(x, bits, **rest))(x), cfg, x)


def _assert_same(deq, fake, cfg, x):
    if cfg.get("symmetric", True):
        np.testing.assert_array_equal(deq, fake)
    else:
        # Asymmetric: (code - zero_point) * scale may be contracted into an FMA differently by
        # separately compiled programs (seen under pytest-xdist); allow a few float32 ulps.
        ulp = np.finfo(np.float32).eps * float(jnp.max(jnp.abs(x)))
        np.testing.assert_allclose(deq, fake, rtol=0, atol=4 * ulp)


def test_storage_dtypes_shapes_and_nbytes():
    x = _normal((16, 6))
    q8 = quant.quantize(x, 8)
    assert q8.codes.dtype == jnp.int8 and q8.codes.shape == (16, 6) and q8.zero_point is None
    assert quant.quantize(x, 8, symmetric=False).codes.dtype == jnp.uint8
    q4 = quant.quantize(x, 4, granularity="per_channel")
    assert q4.codes.dtype == jnp.uint8 and q4.codes.shape == (16, 3)
    assert q4.nbytes == 16 * 3 + 6 * 4 == cost.model_bytes_from_tree(q4)
    q3 = quant.quantize(x, 3, symmetric=False)  # 6 codes x 3 bits = 18 bits -> 3 bytes per row
    assert q3.codes.shape == (16, 3) and q3.nbytes == 48 + 4 + 4
    q1 = quant.quantize(_normal(()), 1)  # a scalar
    assert q1.codes.shape == (1,) and quant.dequantize(q1).shape == ()


def test_bf16_input_keeps_dtype():
    x = _normal((4, 8)).astype(jnp.bfloat16)
    q = quant.quantize(x, 4, granularity="per_channel")
    y = quant.dequantize(q)
    assert y.dtype == jnp.bfloat16 and q.scale.dtype == jnp.float32
    np.testing.assert_array_equal(y, quant.uniform_quantize(x, 4, granularity="per_channel"))


def test_qarray_is_a_pytree_through_jit_and_tree_map():
    x = _normal((8, 4))
    q = jax.jit(lambda x: quant.quantize(x, 4, granularity="per_channel"))(x)
    assert isinstance(q, quant.QArray) and q.bits == 4 and q.shape == (8, 4)
    leaves, treedef = jax.tree.flatten(q)
    assert len(leaves) == 2  # codes, scale (zero_point None)
    q2 = jax.tree.map(lambda a: a, q)
    assert jax.tree.structure(q2) == treedef
    np.testing.assert_array_equal(jax.jit(quant.dequantize)(q2), quant.dequantize(q))
    qa = quant.quantize(x, 2, symmetric=False)
    assert len(jax.tree.leaves(qa)) == 3
    # A tree of QArrays (a quantized params dict) round trips through jit.
    tree = {"a": q, "b": qa}
    out = jax.jit(
        lambda t: jax.tree.map(quant.dequantize, t, is_leaf=lambda n: isinstance(n, quant.QArray))
    )(tree)
    np.testing.assert_array_equal(out["b"], quant.dequantize(qa))


def test_explicit_scale_stores_lsq_and_twn_outputs_exactly():
    w = _normal((6, 5))
    step = quant.init_lsq_step(w, 4)
    q = quant.quantize(w, 4, scale=step)
    np.testing.assert_array_equal(quant.dequantize(q), quant.lsq_quantize(w, step, 4))
    t = quant.twn_quantize(w)
    alpha = jnp.max(jnp.abs(t))
    np.testing.assert_array_equal(quant.dequantize(quant.quantize(t, 2, scale=alpha)), t)


def test_quantize_bad_inputs():
    with pytest.raises(ValueError, match="bits must be an integer in 1..8"):
        quant.quantize(jnp.ones(3), 0)
    with pytest.raises(ValueError, match="NaN"):
        quant.quantize(jnp.array([1.0, jnp.nan]), 4)
    with pytest.raises(ValueError, match="Unknown granularity"):
        quant.quantize(jnp.ones(3), 4, granularity="rows")
    with pytest.raises(ValueError, match="expects a QArray"):
        quant.dequantize(jnp.ones(3))


def test_quantize_weights_bytes_come_from_qarrays():
    params = {"d": {"kernel": _normal((10, 5)), "bias": jnp.ones(5)}}
    out, nbytes = quant.quantize_weights(params, bits=4)
    q = quant.quantize(params["d"]["kernel"], 4, granularity="per_channel")
    assert nbytes == q.nbytes + 20
    np.testing.assert_array_equal(out["d"]["kernel"], quant.dequantize(q))
