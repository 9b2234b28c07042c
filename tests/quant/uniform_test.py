import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import quant


def _normal(shape=(256, 64), seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


# Golden mean absolute errors on the fixed N(0, 1) tensor _normal() (256 x 64, seed 0, max|x| =
# 4.0232). Computed once with this implementation and pinned, to catch silent numerical changes.
# Sanity anchor for the first: round-to-nearest error is ~U(-s/2, s/2) with
# s = 4.0232 / 127 = 0.03168, so MAE ≈ s / 4 = 0.00792.
GOLDEN_MAE = [
    (dict(bits=8), 0.007909035310149193),
    (dict(bits=4, granularity="per_channel"), 0.10857392102479935),
    (dict(bits=4, calibration="mse"), 0.08625763654708862),
    (dict(bits=4, calibration="percentile,99.9"), 0.11712365597486496),
    (
        dict(bits=2, symmetric=False, granularity="per_group", axis=0, group_size=32),
        0.32406771183013916,
    ),
]


@pytest.mark.parametrize("cfg,mae", GOLDEN_MAE, ids=[str(c) for c, _ in GOLDEN_MAE])
def test_golden_mae(cfg, mae):
    x = _normal()
    got = float(jnp.mean(jnp.abs(quant.uniform_quantize(x, **cfg) - x)))
    np.testing.assert_allclose(got, mae, rtol=1e-5)


def test_mse_and_percentile_calibration_beat_minmax_on_heavy_tails():
    # Laplace data: the few largest values stretch the min-max range far beyond the bulk.
    x = jnp.asarray(np.random.default_rng(0).laplace(size=(64, 64)).astype(np.float32))

    def err(**kw):
        return float(jnp.sum((quant.uniform_quantize(x, 4, **kw) - x) ** 2))

    e_minmax, e_mse, e_pct = err(), err(calibration="mse"), err(calibration="percentile,99")
    assert e_mse <= e_minmax
    assert e_mse < 0.6 * e_minmax and e_pct < e_minmax  # measured: 0.52 and 0.7x
    # Per channel too: every channel's MSE error is at most its min-max error.
    per = dict(granularity="per_channel", axis=0)
    d_mse = jnp.sum((quant.uniform_quantize(x, 3, calibration="mse", **per) - x) ** 2, axis=1)
    d_mm = jnp.sum((quant.uniform_quantize(x, 3, **per) - x) ** 2, axis=1)
    assert bool(jnp.all(d_mse <= d_mm * (1 + 1e-6)))


def test_symmetric_grid_levels_and_asymmetric_range():
    x = _normal((32, 8))
    q = quant.uniform_quantize(x, 3)
    s = float(jnp.max(jnp.abs(x))) / 3
    codes = np.asarray(q) / s
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-5)
    assert set(np.round(codes).astype(int).ravel()) <= set(range(-4, 4))
    # Asymmetric: min and max are grid points, 2^b levels between them.
    y = jnp.abs(x) + 1.0
    qa = quant.uniform_quantize(y, 2, symmetric=False)
    np.testing.assert_allclose([qa.min(), qa.max()], [y.min(), y.max()], rtol=1e-6)
    assert len(np.unique(np.asarray(qa))) <= 4


def test_one_bit_symmetric_is_a_scaled_sign():
    x = jnp.array([-0.5, -0.01, 0.0, 0.2, 2.0])
    np.testing.assert_allclose(quant.uniform_quantize(x, 1), [-2.0, -2.0, 2.0, 2.0, 2.0])


def test_per_channel_any_axis_and_per_group():
    x = _normal((4, 5, 6))
    for axis, shape in [(1, (1, 5, 1)), ((0, 2), (4, 1, 6)), (-1, (1, 1, 6))]:
        s, z = quant.calibrate(x, 8, granularity="per_channel", axis=axis)
        assert s.shape == shape and z is None
        red = tuple(i for i in range(3) if shape[i] == 1)
        np.testing.assert_allclose(s, jnp.max(jnp.abs(x), axis=red, keepdims=True) / 127)
    # per_group: each group of 4 rows (per column) is quantized like its own tensor.
    w = _normal((8, 3))
    got = quant.uniform_quantize(w, 3, granularity="per_group", axis=0, group_size=4)
    for g in range(2):
        for c in range(3):
            block = w[4 * g : 4 * g + 4, c]
            np.testing.assert_array_equal(
                got[4 * g : 4 * g + 4, c], quant.uniform_quantize(block, 3)
            )
    s, _ = quant.calibrate(w, 3, granularity="per_group", axis=0, group_size=4)
    assert s.shape == (2, 1, 3)


def test_clipped_ste_zero_outside_calibration_range():
    x = jnp.asarray(np.random.default_rng(0).laplace(size=(256,)).astype(np.float32))
    cases = [
        dict(calibration="percentile,80"),
        dict(symmetric=False, calibration="percentile,95"),
        dict(calibration="mse,20"),
    ]
    for kw in cases:
        grad = jax.grad(lambda x, kw=kw: jnp.sum(quant.uniform_quantize(x, 3, **kw)))(x)
        s, z = quant.calibrate(x, 3, **kw)
        if z is None:
            lo, hi = -3 * s, 3 * s
        else:
            lo, hi = -z * s, (7 - z) * s
        inside = (x >= lo - 1e-6) & (x <= hi + 1e-6)
        assert 0 < int(inside.sum()) < x.size
        np.testing.assert_array_equal(grad, inside.astype(jnp.float32))


def test_explicit_scale_skips_calibration():
    x = jnp.array([0.1, 0.26, -3.0])
    np.testing.assert_allclose(quant.uniform_quantize(x, 4, scale=0.1), [0.1, 0.3, -0.8])
    y = quant.uniform_quantize(x, 2, symmetric=False, scale=0.5, zero_point=1.0)
    np.testing.assert_allclose(y, [0.0, 0.5, -0.5])
    with pytest.raises(ValueError, match="zero_point"):
        quant.uniform_quantize(x, 2, symmetric=False, scale=0.5)
    with pytest.raises(ValueError, match="no zero_point"):
        quant.uniform_quantize(x, 2, scale=0.5, zero_point=1.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        quant.uniform_quantize(x, 2, scale=jnp.ones(2))


def test_constant_and_zero_tensors_are_exact():
    for fill in (0.0, 2.5, -1.0):
        x = jnp.full((3, 4), fill)
        for kw in (
            dict(),
            dict(symmetric=False),
            dict(calibration="mse"),
            dict(symmetric=False, calibration="percentile"),
        ):
            y = quant.uniform_quantize(x, 4, **kw)
            np.testing.assert_allclose(y, x, atol=1e-6)
            s, _ = quant.calibrate(x, 4, **kw)
            assert bool(jnp.all(s > 0))


def test_bad_inputs():
    x = jnp.ones((4, 4))
    with pytest.raises(ValueError, match=r"bits must be an integer in 1\.\.8"):
        quant.uniform_quantize(x, 9)
    with pytest.raises(ValueError, match="Unknown granularity 'per_row'"):
        quant.uniform_quantize(x, 4, granularity="per_row")
    with pytest.raises(ValueError, match="group_size dividing"):
        quant.uniform_quantize(x, 4, granularity="per_group", group_size=3)
    with pytest.raises(ValueError, match="out of range"):
        quant.uniform_quantize(x, 4, granularity="per_channel", axis=2)
    for bad in ("max", "percentile,101", "mse,0", "minmax,3", "percentile,x"):
        with pytest.raises(ValueError, match="Unknown calibration"):
            quant.uniform_quantize(x, 4, calibration=bad)
    with pytest.raises(ValueError, match="floating-point"):
        quant.uniform_quantize(jnp.ones(3, jnp.int32), 4)
    for bad in (jnp.nan, jnp.inf):
        with pytest.raises(ValueError, match="NaN or inf"):
            quant.uniform_quantize(x.at[0, 0].set(bad), 4)


def test_nan_under_jit_is_not_checked_and_propagates():
    y = jax.jit(lambda x: quant.uniform_quantize(x, 4))(jnp.array([1.0, jnp.nan]))
    assert bool(jnp.isnan(y).any())


def test_fake_quantize_per_channel_is_uniform_per_channel():
    w = _normal((16, 5))
    np.testing.assert_array_equal(
        quant.fake_quantize_per_channel(w, 4),
        quant.uniform_quantize(w, 4, granularity="per_channel", axis=-1),
    )


def test_dorefa_levels():
    w = _normal((32,))
    y = np.asarray(quant.dorefa_quantize(w, 2))
    np.testing.assert_allclose(sorted(set(np.round(y, 5))), [-1, -1 / 3, 1 / 3, 1], atol=1e-5)


def test_concrete_nan_closed_over_inside_jit_is_still_rejected():
    w = jnp.array([1.0, jnp.nan])
    with pytest.raises(ValueError, match="NaN"):
        jax.jit(lambda s: quant.lsq_quantize(w, s, 4))(jnp.float32(0.1))
