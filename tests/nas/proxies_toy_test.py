"""Zero-cost proxies on a two-layer ReLU network against hand-written numpy backprop."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax.nas import proxies

W1 = np.array([[0.5, -1.0, 0.3], [0.8, 0.4, -0.6]], np.float32)  # (in 2, hidden 3)
W2 = np.array([[1.0, -0.5], [-0.7, 0.9], [0.2, 0.6]], np.float32)  # (hidden 3, out 2)
X = np.array([[1.0, 0.6], [-0.4, 1.2], [0.9, -1.1], [0.3, 0.2]], np.float32)
Y = np.array([0, 1, 1, 0])


class Toy(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.Dense(3, use_bias=False, name="l1")(x)
        return nn.Dense(2, use_bias=False, name="l2")(nn.relu(h))


PARAMS = {"l1": {"kernel": jnp.asarray(W1)}, "l2": {"kernel": jnp.asarray(W2)}}
BATCH = {"image": jnp.asarray(X), "label": jnp.asarray(Y)}


def apply_fn(p, x, train):
    return Toy().apply({"params": p}, x)


def _forward(w1, w2, x):
    a = x @ w1
    h = np.maximum(a, 0)
    return a, h, h @ w2


def _grads(w1, w2, x, y):
    """Mean cross-entropy gradients by hand: (dW1, dW2, dlogits, da)."""
    a, h, z = _forward(w1, w2, x)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(2)[y]) / len(y)
    dw2 = h.T @ dz
    da = (dz @ w2.T) * (a > 0)
    return x.T @ da, dw2, dz, da


def test_gradient_proxies_match_hand_backprop():
    dw1, dw2, _, _ = _grads(W1, W2, X, Y)
    np.testing.assert_allclose(
        proxies.grad_norm(apply_fn, PARAMS, BATCH),
        np.linalg.norm(dw1) + np.linalg.norm(dw2),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        proxies.snip(apply_fn, PARAMS, BATCH),
        np.abs(W1 * dw1).sum() + np.abs(W2 * dw2).sum(),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        proxies.plain(apply_fn, PARAMS, BATCH), (W1 * dw1).sum() + (W2 * dw2).sum(), rtol=1e-5
    )
    np.testing.assert_allclose(
        proxies.l2_norm(apply_fn, PARAMS, BATCH),
        np.linalg.norm(W1) + np.linalg.norm(W2),
        rtol=1e-6,
    )


def test_synflow_is_twice_the_path_sum_for_two_layers():
    # R = 1ᵀ|W2|ᵀ... with ones input; each layer's Σ|θ ∂R/∂θ| equals R (homogeneity).
    r = np.ones(2) @ np.abs(W1) @ np.abs(W2) @ np.ones(2)
    np.testing.assert_allclose(proxies.synflow(apply_fn, PARAMS, BATCH), np.log(2 * r), rtol=1e-6)


def test_grasp_matches_finite_difference_hessian_product():
    dw1, dw2, _, _ = _grads(W1, W2, X, Y)
    eps = 1e-3
    w1 = W1.astype(np.float64)
    w2 = W2.astype(np.float64)
    p1, p2, _, _ = _grads(w1 + eps * dw1, w2 + eps * dw2, X.astype(np.float64), Y)
    m1, m2, _, _ = _grads(w1 - eps * dw1, w2 - eps * dw2, X.astype(np.float64), Y)
    hg1, hg2 = (p1 - m1) / (2 * eps), (p2 - m2) / (2 * eps)
    expected = -(w1 * hg1).sum() - (w2 * hg2).sum()
    np.testing.assert_allclose(proxies.grasp(apply_fn, PARAMS, BATCH), expected, rtol=1e-3)


def test_fisher_matches_hand_formula():
    _, _, dz, da = _grads(W1, W2, X, Y)
    a, _, z = _forward(W1, W2, X)
    per_channel_l1 = (0.5 * np.mean((a * da) ** 2, 0)).sum()
    per_channel_l2 = (0.5 * np.mean((z * dz) ** 2, 0)).sum()
    # NASLib broadcasts each channel's value to its fan-in weights: 2 inputs for l1, 3 for l2.
    expected = 2 * per_channel_l1 + 3 * per_channel_l2
    np.testing.assert_allclose(proxies.fisher(apply_fn, PARAMS, BATCH), expected, rtol=1e-5)
    np.testing.assert_allclose(
        proxies.fisher(apply_fn, PARAMS, BATCH, per_weight=False),
        per_channel_l1 + per_channel_l2,
        rtol=1e-5,
    )


def test_nwot_logdet_of_hand_kernel():
    # Hidden codes of the 4 inputs; l2's input is the ReLU output.
    a, _, _ = _forward(W1, W2, X)
    c = (a > 0).astype(np.float64)
    k = c @ c.T + (1 - c) @ (1 - c).T
    expected = np.linalg.slogdet(k)[1]
    got = proxies.nwot(apply_fn, PARAMS, BATCH, relu_inputs=r"^l2$")
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_jacov_matches_numpy_eigenvalues():
    # A wider input than the toy's (2 features give a rank-1 correlation matrix).
    # (a seed whose correlation matrix is well conditioned: jacov's 1/(λ + 1e-5) amplifies
    # float32 rounding of a near-zero eigenvalue)
    rng = np.random.default_rng(2)
    w1, w2 = rng.normal(size=(8, 8)).astype(np.float32), rng.normal(size=(8, 2)).astype(np.float32)
    x = rng.normal(size=(4, 8)).astype(np.float32)
    params = {"l1": {"kernel": jnp.asarray(w1)}, "l2": {"kernel": jnp.asarray(w2)}}

    def wide_apply(p, x, train):
        h = nn.relu(x @ p["l1"]["kernel"])
        return h @ p["l2"]["kernel"]

    a, _, _ = _forward(w1, w2, x)
    jac = ((a > 0) * (np.ones(2) @ w2.T)) @ w1.T  # ∂Σz/∂x per row
    v = np.linalg.eigvalsh(np.corrcoef(jac.astype(np.float64)))
    expected = -np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5))
    got = proxies.jacov(wide_apply, params, {"image": jnp.asarray(x), "label": None})
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_ntk_cond_and_gradsign_match_hand_jacobians():
    a, h, _ = _forward(W1, W2, X)
    # Rows: ∂(Σ_c z_nc)/∂θ; W1 part (Σ_c W2_jc)·1[a>0]_j·x_k, W2 part h_j for each c.
    j1 = np.einsum("nj,nk->nkj", (a > 0) * W2.sum(1), X).reshape(len(X), -1)
    j2 = np.repeat(h[:, :, None], 2, axis=2).reshape(len(X), -1)
    jac = np.concatenate([j1, j2], 1)
    v = np.linalg.eigvalsh(jac.astype(np.float64) @ jac.T.astype(np.float64))
    # cond ≈ 7e4: float32 eigenvalues carry a relative error of order cond · 1e-7.
    np.testing.assert_allclose(proxies.ntk_cond(apply_fn, PARAMS, BATCH), -v[-1] / v[0], rtol=1e-2)
    for rows in (3, 8):  # backward passes batched 3 (with a remainder) or more than N at a time
        np.testing.assert_allclose(
            proxies.ntk_cond(apply_fn, PARAMS, BATCH, rows_per_pass=rows), -v[-1] / v[0], rtol=1e-2
        )
    with pytest.raises(ValueError, match="rows_per_pass"):
        proxies.ntk_cond(apply_fn, PARAMS, BATCH, rows_per_pass=0)
    signs1, signs2 = 0, 0
    for n in range(len(X)):
        g1, g2, _, _ = _grads(W1, W2, X[n : n + 1], Y[n : n + 1])
        signs1, signs2 = signs1 + np.sign(g1), signs2 + np.sign(g2)
    expected = np.abs(signs1).sum() + np.abs(signs2).sum()
    np.testing.assert_allclose(proxies.gradsign(apply_fn, PARAMS, BATCH), expected)


def test_wpca_counts_components_times_params():
    class FFN(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(2, name="out")(nn.Dense(4, name="intermediate")(x))

    x = jax.random.normal(jax.random.key(0), (32, 3))
    p = FFN().init(jax.random.key(1), x)["params"]
    fn = lambda p, x, t: FFN().apply({"params": p}, x)  # noqa: E731
    n_params = sum(v.size for v in jax.tree.leaves(p))
    # A 3-dim input through a linear 4-unit layer spans 3 dims: η = 1 needs 3 components.
    got = proxies.wpca(fn, p, {"x": x}, eta=1.0, activation=None, input_key="x")
    assert float(got) == n_params * 3
    with pytest.raises(ValueError, match="ffn_layers"):
        proxies.wpca(fn, p, {"x": x}, ffn_layers="nope", input_key="x")


def test_unknown_proxy_name_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown zero-cost proxy 'synflw'.*synflow"):
        proxies.get_proxy("synflw")
    with pytest.raises(ValueError, match="zero-cost proxy"):
        proxies.score_cells("nope", None, PARAMS, BATCH, np.zeros((2, 2)))


def test_torch_default_init_bounds_and_untouched_leaves():
    from efficient_jax.nas.supernet import NB201Supernet

    net = NB201Supernet(10, 4, 1)
    v = net.init(jax.random.key(0), jnp.ones((1, 8, 8, 3)), jnp.full((6, 5), 0.2))
    q = proxies.torch_default_init(v["params"], jax.random.key(1))
    assert jax.tree.structure(q) == jax.tree.structure(v["params"])
    conv = q["cell_0"]["edge_0_1"]["nor_conv_3x3"]["conv"]["kernel"]  # fan_in 3·3·4
    assert float(jnp.abs(conv).max()) <= 1 / 6 and float(jnp.abs(conv).max()) > 0.12
    head = q["head"]
    assert float(jnp.abs(head["bias"]).max()) > 0  # torch.nn.Linear draws its bias too
    assert float(jnp.abs(head["bias"]).max()) <= 1 / np.sqrt(head["kernel"].shape[0])
    bn = q["cell_0"]["edge_0_1"]["nor_conv_3x3"]["bn"]
    np.testing.assert_array_equal(bn["scale"], 1.0)
    np.testing.assert_array_equal(bn["bias"], 0.0)
