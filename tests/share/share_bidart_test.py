import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax import share


@pytest.mark.parametrize("s", [1, 2, 4, 8])
def test_param_count_and_equivalence_with_tiled_kernel(s, key):
    conv = share.SharedDepthwiseConv(features=16, kernel_size=(3, 3), sharing=s)
    x = jax.random.normal(key, (2, 6, 6, 16))
    variables = conv.init(key, x)
    basis = variables["params"]["basis"]
    assert basis.size == share.shared_depthwise_params(16, (3, 3), s) == 16 // s * 9
    kernel = jnp.tile(basis, (1, 1, 1, s))
    ref = jax.lax.conv_general_dilated(
        x,
        kernel,
        (1, 1),
        "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=16,
    )
    np.testing.assert_allclose(conv.apply(variables, x), ref, atol=1e-6)


def test_grad_reduction_sum_vs_mean(key):
    basis = jax.random.normal(key, (3, 3, 1, 4))
    w = jax.random.normal(jax.random.key(1), (3, 3, 1, 16))
    g_full = w  # d/dk of sum(k * w)
    g_sum = jax.grad(lambda b: jnp.sum(share.tile_shared(b, 4, "sum") * w))(basis)
    g_mean = jax.grad(lambda b: jnp.sum(share.tile_shared(b, 4, "mean") * w))(basis)
    manual = g_full.reshape(3, 3, 1, 4, 4).sum(axis=3)
    np.testing.assert_allclose(g_sum, manual, rtol=1e-6)
    np.testing.assert_allclose(g_mean, manual / 4, rtol=1e-6)


def test_bad_sharing_is_rejected(key):
    with pytest.raises(ValueError, match="divisible"):
        share.SharedDepthwiseConv(features=6, sharing=4).init(key, jnp.ones((1, 4, 4, 6)))
    with pytest.raises(ValueError, match="grad_reduction"):
        share.SharedDepthwiseConv(features=4, sharing=2, grad_reduction="max").init(
            key, jnp.ones((1, 4, 4, 4))
        )


def test_mixture_log_prob_matches_closed_form(fast_compile):
    prior = share.MixturePrior(jnp.array([0.0, 1.0]), jnp.log(jnp.array([0.5, 0.25])), jnp.zeros(2))
    w = jnp.array([0.3])
    g = 0.5 * (np.exp(-0.5 * (0.3 / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi))) + 0.5 * (
        np.exp(-0.5 * (0.7 / 0.25) ** 2) / (0.25 * np.sqrt(2 * np.pi))
    )
    assert float(share.mixture_log_prob(w, prior)[0]) == pytest.approx(np.log(g), rel=1e-5)
    lap = 0.5 * np.exp(-0.3 / 0.5) / 1.0 + 0.5 * np.exp(-0.7 / 0.25) / 0.5
    assert float(share.mixture_log_prob(w, prior, "laplace")[0]) == pytest.approx(
        np.log(lap), rel=1e-5
    )
    # zero component: mean 0 is fixed, no gradient reaches it
    g_mu = jax.grad(
        lambda p: share.mixture_prior_loss(
            {"kernel": jnp.array([0.2, 0.9])}, p, zero_component=True
        )
    )(prior.__class__(jnp.array([0.1, 1.0]), prior.log_scales, prior.logits))
    assert float(g_mu.means[0]) == 0.0 and float(g_mu.means[1]) != 0.0


def test_gmm_prior_collapses_weights_onto_modes(key):
    w = jax.random.normal(key, (2000,))
    prior = share.init_mixture(w, 8, scale=0.05)
    params = {"kernel": w, "prior": prior}
    tx = optax.adam(1e-2)
    opt = tx.init(params)

    def loss(p):
        return share.mixture_prior_loss({"kernel": p["kernel"]}, p["prior"], tau=1.0 / w.size)

    @jax.jit
    def step(p, o):
        g = jax.grad(loss)(p)
        g = {**g, "prior": g["prior"]._replace(log_scales=jnp.zeros(8))}  # fixed σ
        u, o = tx.update(g, o, p)
        return optax.apply_updates(p, u), o

    before = float(jnp.mean((share.snap_to_basis(w, prior.means)[0] - w) ** 2))
    for _ in range(300):
        params, opt = step(params, opt)
    snapped = share.snap_to_basis(params["kernel"], params["prior"].means)[0]
    after = float(jnp.mean((snapped - params["kernel"]) ** 2))
    assert after < before / 10


def test_nearest_basis_losses_and_snapping():
    basis = jnp.array([-1.0, 0.0, 1.0])
    w = jnp.array([0.2, -0.9, 1.5])
    assert float(share.nearest_basis_loss(w, basis)) == pytest.approx(0.04 + 0.01 + 0.25)
    assert float(share.nearest_basis_loss(w, basis, p=1)) == pytest.approx(0.2 + 0.1 + 0.5)
    vals, idx = share.snap_to_basis(w, basis)
    assert vals.tolist() == [0.0, -1.0, 1.0] and idx.tolist() == [1, 0, 2]
    kernel = jnp.zeros((2, 2, 1, 2)).at[..., 1].set(1.0)
    basis_k = jnp.stack([jnp.zeros((2, 2)), jnp.full((2, 2), 0.5)])
    # kernel 0 is a basis kernel (distance 0); kernel 1 is at distance ||0.5·1||_2 = 1 from basis 1
    assert float(share.nearest_kernel_loss(kernel, basis_k)) == pytest.approx(1.0, rel=1e-5)
    snapped = share.snap_params({"a": w, "b": w}, basis, [("a", True)])
    assert snapped["a"].tolist() == [0.0, -1.0, 1.0] and snapped["b"].tolist() == w.tolist()
    with pytest.raises(ValueError, match="NaN"):
        share.snap_to_basis(jnp.array([jnp.nan]), basis)
