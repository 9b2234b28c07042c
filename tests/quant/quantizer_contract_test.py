"""The contract every registered quantizer keeps, and its STE gradients against the formulas.

Each reference below is written out in numpy from the papers/spec (Bai 2021 §1.2 and §6.1 of the
digest, the BinaryBERT ``utils_quant.py`` formulas), independently of the library code.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from efficient_jax import quant
from efficient_jax.parallel import make_mesh


def _sign(x):  # +1 for x >= 0: the 1-bit sign used by BWN / binary activations
    return np.where(x >= 0, 1.0, -1.0)


def ref_uniform(x, p, g, bits):  # symmetric, per tensor, "percentile,90"
    amax = np.percentile(np.abs(x), 90)
    qmax = 2 ** (bits - 1) - 1
    s = amax / qmax
    y = np.clip(np.round(x / s), -qmax - 1, qmax) * s
    return y, {"x": g * (np.abs(x) <= amax)}


def ref_dorefa(x, p, g, bits):
    t = np.tanh(x)
    m = np.max(np.abs(t))
    n = 2**bits - 1
    y = 2 * np.round((t / (2 * m) + 0.5) * n) / n - 1
    return y, {"x": g * (1 - t**2) / m}


def ref_pact(x, p, g, bits):
    a = p["alpha"]
    s = a / (2**bits - 1)
    y = np.round(np.clip(x, 0, a) / s) * s
    return y, {"x": g * ((x >= 0) & (x < a)), "alpha": np.sum(g * (x >= a))}


def ref_uniform_clip(x, p, g, bits):
    lo, hi = p["clip_lo"], p["clip_hi"]
    xc = np.clip(x, lo, hi)
    s = (2 ** (bits - 1) - 1) / np.max(np.abs(xc))
    y = np.round(xc * s) / s
    return y, {
        "x": g * ((x > lo) & (x < hi)),
        "clip_lo": np.sum(g * (x <= lo)),
        "clip_hi": np.sum(g * (x >= hi)),
    }


def _lsq_grads(v, g, qn, qp, n):
    small, big = v < qn, v > qp
    mid = ~(small | big)
    ds = np.where(small, qn, np.where(big, qp, np.round(v) - v))
    return mid, np.sum(ds * g) / np.sqrt(n * qp), small | big


def ref_lsq(x, p, g, bits):  # BinaryBERT SymLsqQuantizer
    s = p["step"]
    qn, qp = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    v = x / s
    y = np.clip(np.round(v), qn, qp) * s
    mid, gs, _ = _lsq_grads(v, g, qn, qp, x.size)
    return y, {"x": g * mid, "step": gs}


def ref_lsq_plus(x, p, g, bits):
    s, beta = p["step"], p["offset"]
    qn, qp = 0, 2**bits - 1
    v = (x - beta) / s
    y = np.clip(np.round(v), qn, qp) * s + beta
    mid, gs, out = _lsq_grads(v, g, qn, qp, x.size)
    return y, {"x": g * mid, "step": gs, "offset": np.sum(g * out) / np.sqrt(x.size * qp)}


def ref_twn(x, p, g, bits):  # BinaryBERT TwnQuantizer, layer-wise
    delta = 0.7 * np.mean(np.abs(x))
    kept = np.abs(x) > delta
    alpha = np.abs(x[kept]).mean()
    return alpha * (x > delta) - alpha * (x < -delta), {"x": g}


def ref_ttq(x, p, g, bits):  # TTQ Eqs. 6-8, threshold t = 0.3 (the case's option)
    wp, wn = p["wp"], p["wn"]
    delta = 0.3 * np.max(np.abs(x))
    pos, neg = x > delta, x < -delta
    y = np.where(pos, wp, np.where(neg, -wn, 0.0))
    gx = np.where(pos, wp * g, np.where(neg, wn * g, g))
    return y, {"x": gx, "wp": np.sum(g * pos), "wn": -np.sum(g * neg)}


def ref_bwn(x, p, g, bits):
    return np.mean(np.abs(x)) * _sign(x), {"x": g}


def ref_laq(x, p, g, bits):  # BinaryBERT LaqQuantizer, D = 1, layer-wise
    n = 2 ** (bits - 1) - 1
    b = np.sign(x)
    for _ in range(11):
        alpha = np.sum(np.abs(b * x)) / np.sum(np.abs(b))
        b = np.round(np.clip(x / alpha, -1, 1) * n) / n
    return alpha * b, {"x": g}


def ref_binary_act(x, p, g, bits):
    return _sign(x), {"x": g * (np.abs(x) <= 1)}


def ref_ternary_act(x, p, g, bits):  # threshold 0.5 (default)
    return np.sign(x) * (np.abs(x) > 0.5), {"x": g * (np.abs(x) <= 1)}


# name -> (reference, bits, params (None: init from the data), options)
CASES = {
    "uniform": (ref_uniform, 4, None, {"calibration": "percentile,90"}),
    "dorefa": (ref_dorefa, 2, None, {}),
    "pact": (ref_pact, 3, {"alpha": 1.0}, {}),
    "uniform_clip": (ref_uniform_clip, 4, {"clip_lo": -1.5, "clip_hi": 1.2}, {}),
    "lsq": (ref_lsq, 3, {"step": 0.4}, {}),
    "lsq_plus": (ref_lsq_plus, 3, {"step": 0.3, "offset": -0.5}, {}),
    "twn": (ref_twn, 2, None, {}),
    "ttq": (ref_ttq, 2, {"wp": 0.8, "wn": 1.1}, {"threshold": 0.3}),
    "bwn": (ref_bwn, 1, None, {}),
    "laq": (ref_laq, 3, None, {}),
    "binary_act": (ref_binary_act, 1, None, {}),
    "ternary_act": (ref_ternary_act, 2, None, {}),
}
NAMES = sorted(quant.QUANTIZERS)


def _data(shape=(16, 8), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _case(name, x):
    _, bits, params, options = CASES[name]
    if params is None:
        params = quant.init_quantizer_params(name, x, bits, **options)
    params = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    return bits, params, options


def test_every_quantizer_has_a_reference():
    assert set(CASES) == set(quant.QUANTIZERS)


@pytest.mark.parametrize("name", NAMES)
def test_forward_and_ste_gradients_match_reference(name):
    x = _data()
    g = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    bits, params, options = _case(name, x)
    ref = CASES[name][0]

    def loss(x, params):
        y = quant.apply_quantizer(name, x, params, bits=bits, **options)
        return jnp.sum(y * g), y

    (_, y), (gx, gp) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
        jnp.asarray(x), params
    )
    p64 = {k: np.float64(v) for k, v in params.items()}
    y_ref, grads_ref = ref(x.astype(np.float64), p64, g.astype(np.float64), bits)
    np.testing.assert_allclose(y, y_ref, atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(gx, grads_ref.pop("x"), atol=1e-6, rtol=1e-6)
    assert set(gp) == set(grads_ref) == set(quant.QUANTIZERS[name].learned)
    for k, want in grads_ref.items():
        np.testing.assert_allclose(gp[k], want, atol=1e-6, rtol=1e-6, err_msg=k)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_shape_dtype_and_no_recompilation(name, dtype):
    x = _data((4, 6)).astype(dtype)
    bits, params, options = _case(name, x)
    traces = []

    @jax.jit
    def f(x, params):
        traces.append(1)
        return quant.apply_quantizer(name, x, params, bits=bits, **options)

    y = f(x, params)
    assert y.shape == x.shape and y.dtype == x.dtype
    f(jnp.asarray(_data((4, 6), seed=2), dtype), jax.tree.map(lambda v: v * 1.1, params))
    assert len(traces) == 1


@pytest.mark.parametrize("name", NAMES)
def test_sharding_is_preserved(name):
    mesh = make_mesh()
    x = _data((16, 8))
    bits, params, options = _case(name, x)
    xs = jax.device_put(x, NamedSharding(mesh, P("data")))
    params = jax.device_put(params, NamedSharding(mesh, P()))
    f = jax.jit(lambda x, p: quant.apply_quantizer(name, x, p, bits=bits, **options))
    y = f(xs, params)
    assert y.sharding.is_equivalent_to(xs.sharding, x.ndim), (y.sharding, xs.sharding)


@pytest.mark.parametrize("name", NAMES)
def test_init_from_shape_dtype_struct(name):
    _, bits, _, options = CASES[name]
    spec = quant.QUANTIZERS[name]
    shapes = jax.eval_shape(
        lambda x: quant.init_quantizer_params(name, x, bits, **options),
        jax.ShapeDtypeStruct((16, 8), jnp.float32),
    )
    assert sorted(shapes) == sorted(spec.learned)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fill", [0.0, 0.7, -2.0])
def test_constant_inputs_give_finite_values_and_nonzero_scales(name, fill):
    x = jnp.full((4, 8), fill, jnp.float32)
    _, bits, _, options = CASES[name]
    params = quant.init_quantizer_params(name, x, bits, **options)
    for k, v in params.items():
        assert bool(jnp.all(jnp.isfinite(v))), k
        if k in ("step", "alpha", "wp", "wn"):
            assert bool(jnp.all(v > 0)), (k, v)

    def loss(x, params):
        return jnp.sum(quant.apply_quantizer(name, x, params, bits=bits, **options))

    y = quant.apply_quantizer(name, x, params, bits=bits, **options)
    gx, gp = jax.grad(loss, argnums=(0, 1))(x, params)
    for leaf in [y, gx, *jax.tree.leaves(gp)]:
        assert bool(jnp.all(jnp.isfinite(leaf))), (name, fill)


@pytest.mark.parametrize("name", NAMES)
def test_bad_bits_nan_and_unknown_options(name):
    x = _data((4, 6))
    bits, params, options = _case(name, x)
    spec = quant.QUANTIZERS[name]
    for bad in [0, 9, 2.5, True, *sorted(set(range(1, 9)) - set(spec.bits))]:
        with pytest.raises(ValueError, match="bits must"):
            quant.apply_quantizer(name, x, params, bits=bad, **options)
    with pytest.raises(ValueError, match="NaN"):
        quant.apply_quantizer(
            name, jnp.asarray(x).at[0, 0].set(np.nan), params, bits=bits, **options
        )
    with pytest.raises(ValueError, match="does not take"):
        quant.apply_quantizer(name, x, params, bits=bits, bogus=1, **options)
    if spec.learned:
        with pytest.raises(ValueError, match="missing"):
            quant.apply_quantizer(name, x, {}, bits=bits, **options)


def test_unknown_quantizer_lists_the_valid_names():
    with pytest.raises(ValueError, match="valid: .*'lsq'"):
        quant.get_quantizer("lsqq")
    with pytest.raises(ValueError, match="Unknown quantizer"):
        quant.init_quantizer_params("nope", jnp.ones(3), 4)
