import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import quant


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_per_channel_levels_and_error_bound(bits):
    w = jnp.asarray(np.random.default_rng(0).normal(size=(16, 5)), jnp.float32)
    q = quant.fake_quantize_per_channel(w, bits)
    scale = jnp.max(jnp.abs(w), axis=0) / (2 ** (bits - 1) - 1)
    codes = np.asarray(q / scale)
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-4)
    assert len(np.unique(np.round(codes))) <= 2**bits
    assert float(jnp.max(jnp.abs(q - w) / scale)) <= 0.5 + 1e-5


def test_constant_and_zero_tensors_do_not_nan():
    for w in (jnp.zeros((3, 4)), jnp.full((3, 4), 2.5)):
        q = quant.fake_quantize_per_channel(w, 4)
        assert bool(jnp.all(jnp.isfinite(q)))
        np.testing.assert_allclose(q, w, atol=1e-6)


def test_bytes_and_bad_input():
    params = {"d": {"kernel": jnp.ones((10, 4)), "bias": jnp.ones(4)}}
    _, nbytes = quant.quantize_weights(params, bits=4)
    assert nbytes == 20 + 16 + 16  # 40 codes at 4 bits, 4 float32 scales, the float32 bias.
    for bits in (0, 9, 2.5):
        with pytest.raises(ValueError, match="bits must be an integer in 1..8"):
            quant.quantize_weights(params, bits=bits)
    with pytest.raises(ValueError, match="NaN"):
        quant.quantize_weights({"d": {"kernel": jnp.full((2, 2), jnp.nan)}}, bits=4)
