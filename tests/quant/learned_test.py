"""LSQ/LSQ+/PACT/TTQ training behaviour, per-channel and asymmetric variants, TWN/BWN/LAQ."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import quant


def _normal(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def test_lsq_beats_its_fixed_initial_step_on_a_toy_regression():
    # y = X w; the student uses lsq(w, s) and learns only s by SGD on the regression loss.
    w, x = _normal((32, 8)), _normal((128, 32), seed=1)
    y = x @ w
    bits = 3
    s0 = quant.init_lsq_step(w, bits)  # 2 mean|w| / sqrt(3)

    def loss(s):
        return jnp.mean((x @ quant.lsq_quantize(w, s, bits) - y) ** 2)

    def quant_mse(s):
        return float(jnp.mean((quant.lsq_quantize(w, s, bits) - w) ** 2))

    step = jax.jit(jax.value_and_grad(loss))
    s = s0
    for _ in range(20):
        _, g = step(s)
        s = s - 0.1 * g
    assert float(loss(s)) < 0.7 * float(loss(s0))
    assert quant_mse(s) < 0.7 * quant_mse(s0)  # measured: 0.081 -> 0.044


def _lsq_stop_gradient(v, s, qn, qp):
    """The spec's custom_vjp-free LSQ recipe (digest §6.1)."""

    def grad_scale(x, g):
        return x * g + jax.lax.stop_gradient(x - x * g)

    def round_ste(x):
        return x + jax.lax.stop_gradient(jnp.round(x) - x)

    s = grad_scale(s, 1 / jnp.sqrt(v.size * qp))
    return round_ste(jnp.clip(v / s, qn, qp)) * s


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_lsq_custom_vjp_matches_the_stop_gradient_recipe(bits):
    v = _normal((8, 16)) * 2
    s = jnp.float32(0.3)
    qn, qp = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    ct = _normal((8, 16), seed=3)

    def f(fn):
        return jax.grad(lambda v, s: jnp.sum(fn(v, s) * ct), argnums=(0, 1))(v, s)

    got = f(lambda v, s: quant.lsq_quantize(v, s, bits))
    want = f(lambda v, s: _lsq_stop_gradient(v, s, qn, qp))
    np.testing.assert_allclose(got[0], want[0], atol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        quant.lsq_quantize(v, s, bits), _lsq_stop_gradient(v, s, qn, qp), atol=1e-6
    )


def test_asymmetric_lsq_matches_binarybert_asym_lsq():
    x = np.asarray(jax.nn.relu(_normal((6, 10))) - 0.1)  # mostly non-negative activations
    g = np.asarray(_normal((6, 10), seed=4))
    bits, s = 3, 0.15
    y, (gx, gs) = jax.value_and_grad(
        lambda x, s: jnp.sum(quant.lsq_quantize(x, s, bits, symmetric=False) * g), argnums=(0, 1)
    )(jnp.asarray(x), jnp.float32(s))
    # Reference (BinaryBERT AsymLsqQuantizer): subtract the constant min, Qn = 0, Qp = 2^b - 1.
    m, qp = x.min(), 2**bits - 1
    v = (x - m) / s
    yq = np.clip(np.round(v), 0, qp) * s + m
    small, big = v < 0, v > qp
    ds = np.where(small, 0, np.where(big, qp, np.round(v) - v))
    np.testing.assert_allclose(y, np.sum(yq * g), rtol=1e-5)
    np.testing.assert_allclose(gx, g * ~(small | big), atol=1e-6)
    np.testing.assert_allclose(gs, np.sum(ds * g) / np.sqrt(x.size * qp), atol=1e-6)
    # Init: 4 mean|v| / sqrt(Qp) (asymmetric), 2 mean|v| / sqrt(Qp) (symmetric).
    np.testing.assert_allclose(
        quant.init_lsq_step(x, bits, symmetric=False), 4 * np.abs(x).mean() / np.sqrt(qp), 1e-6
    )
    np.testing.assert_allclose(
        quant.init_lsq_step(x, bits), 2 * np.abs(x).mean() / np.sqrt(3), 1e-6
    )


def test_per_channel_lsq_step_gradient_uses_elements_per_step():
    x = _normal((16, 4))
    step = quant.init_lsq_step(x, 4, granularity="per_channel", axis=-1)
    assert step.shape == (1, 4)
    np.testing.assert_allclose(step[0], 2 * jnp.mean(jnp.abs(x), axis=0) / np.sqrt(7), rtol=1e-6)
    gs = jax.grad(lambda s: jnp.sum(quant.lsq_quantize(x, s, 4)))(step)
    assert gs.shape == (1, 4)
    for c in range(4):  # channel c alone behaves like a per-tensor LSQ with N = 16
        gc = jax.grad(lambda s, c=c: jnp.sum(quant.lsq_quantize(x[:, c], s, 4)))(step[0, c])
        np.testing.assert_allclose(gs[0, c], gc, rtol=1e-6)
    with pytest.raises(ValueError, match="does not broadcast"):
        quant.lsq_quantize(x, jnp.ones(3), 4)


def test_negative_or_zero_step_is_kept_positive():
    x = _normal((8,))
    np.testing.assert_array_equal(quant.lsq_quantize(x, -0.5, 4), quant.lsq_quantize(x, 0.5, 4))
    assert bool(jnp.all(jnp.isfinite(quant.lsq_quantize(x, 0.0, 4))))
    assert bool(jnp.all(jnp.isfinite(quant.pact_quantize(x, 0.0, 4))))


def test_lsq_plus_learns_an_offset_for_shifted_data():
    x = _normal((256,)) * 0.5 + 3.0  # far from zero: a symmetric grid wastes half its levels
    p = quant.init_lsq_plus(x, 3)
    np.testing.assert_allclose(p["offset"], x.min())
    np.testing.assert_allclose(p["step"], (x.max() - x.min()) / 7, rtol=1e-6)
    err_plus = jnp.mean((quant.lsq_plus_quantize(x, p["step"], p["offset"], 3) - x) ** 2)
    err_sym = jnp.mean((quant.lsq_quantize(x, quant.init_lsq_step(x, 3), 3) - x) ** 2)
    assert float(err_plus) < float(err_sym)


def test_pact_alpha_gradient_pulls_the_clip_toward_outliers():
    x = jnp.array([0.1, 0.5, 2.0, 3.0])
    g = jax.grad(lambda a: jnp.sum(quant.pact_quantize(x, a, 4)))(jnp.float32(1.0))
    assert float(g) == 2.0  # two inputs above alpha, each contributes dy/dalpha = 1
    assert float(quant.init_pact_alpha(x)) == 3.0


def test_ttq_init_and_threshold():
    w = jnp.array([0.5, 0.3, -0.02, -0.9, 0.01])
    p = quant.init_ttq(w)  # delta = 0.05 * 0.9 = 0.045
    np.testing.assert_allclose([p["wp"], p["wn"]], [0.4, 0.9], rtol=1e-6)
    np.testing.assert_allclose(quant.ttq_quantize(w, **p), [0.4, 0.4, 0.0, -0.9, 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match="threshold"):
        quant.ttq_quantize(w, 1.0, 1.0, threshold=-0.1)


def test_twn_and_bwn_row_wise_match_binarybert():
    w = np.asarray(_normal((5, 12)))
    got = quant.twn_quantize(w, granularity="per_channel", axis=0)
    for r in range(5):  # BinaryBERT TwnQuantizer, layerwise=False: one delta and alpha per row
        row = w[r]
        d = 0.7 * np.abs(row).mean()
        a = np.abs(row[np.abs(row) > d]).mean()
        np.testing.assert_allclose(got[r], a * (row > d) - a * (row < -d), rtol=1e-6)
    got = quant.bwn_quantize(w, granularity="per_channel", axis=0)
    np.testing.assert_allclose(got, np.abs(w).mean(1, keepdims=True) * np.sign(w), rtol=1e-6)


def _np_laq(w, d, bits):  # BinaryBERT LaqQuantizer with a given D, layer-wise
    if bits == 1:
        return np.sum(np.abs(d * w)) / np.sum(d) * np.sign(w)
    n = 2 ** (bits - 1) - 1
    b = np.sign(w)
    for _ in range(11):
        alpha = np.sum(np.abs(b * d * w)) / np.sum(np.abs(b * d))
        b = np.round(np.clip(w / alpha, -1, 1) * n) / n
    return alpha * b


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_laq_with_adam_second_moment(bits):
    w = np.asarray(_normal((6, 7)))
    v = np.asarray(_normal((6, 7), seed=5)) ** 2
    got = quant.laq_quantize(w, bits, v=v, eps=1e-8)
    np.testing.assert_allclose(got, _np_laq(w, np.sqrt(v) + 1e-8, bits), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        quant.laq_quantize(w, bits), _np_laq(w, np.ones_like(w), bits), rtol=1e-5, atol=1e-6
    )
    # D matters: the loss-aware fit weights large-curvature entries more.
    assert not np.allclose(got, quant.laq_quantize(w, bits))
    with pytest.raises(ValueError, match="shape"):
        quant.laq_quantize(w, bits, v=v[:3])


def test_laq_levels_and_row_wise():
    w = _normal((4, 50))
    y = np.asarray(quant.laq_quantize(w, 3, granularity="per_channel", axis=0))
    for r in range(4):  # 2^(b-1) - 1 = 3 positive levels: alpha * {0, 1/3, 2/3, 1}
        levels = np.unique(np.abs(y[r]))
        assert len(levels) <= 4
        np.testing.assert_allclose(
            levels / levels.max() * 3, np.round(levels / levels.max() * 3), atol=1e-5
        )
