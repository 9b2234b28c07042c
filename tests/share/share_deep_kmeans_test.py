import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax import share


@pytest.fixture
def kernel():
    return jax.random.normal(jax.random.key(3), (3, 3, 4, 6))


@pytest.mark.parametrize(
    "layout,points", [("row", (72, 3)), ("filter", (24, 9)), ("kernel", (6, 36))]
)
def test_reshape_round_trip(kernel, layout, points):
    rows = share.rows_from_kernel(kernel, layout)
    assert rows.shape == points == share.num_rows(kernel.shape, layout)
    assert bool(jnp.all(share.kernel_from_rows(rows, kernel.shape, layout) == kernel))


def test_row_is_kw_taps_of_one_filter_slice(kernel):
    rows = share.rows_from_kernel(kernel)
    # rows ordered (kh, cin, cout): row of (i=1, ci=2, co=5)
    np.testing.assert_array_equal(rows[(1 * 4 + 2) * 6 + 5], kernel[1, :, 2, 5])


def test_hard_penalty_is_kmeans_sse_and_gradient_is_w_minus_assigned_means(kernel, key):
    rows = share.rows_from_kernel(kernel)
    res = share.kmeans(rows, 5, key=key)
    sse = float(res.inertia)
    pen = share.kmeans_penalty(rows, res.assignments, 5)
    assert float(pen) == pytest.approx(sse, rel=1e-4)
    # Trace form with the normalised hard indicator F: ||W||² − ||W F||².
    counts = np.bincount(np.asarray(res.assignments), minlength=5)
    f = np.zeros((72, 5), np.float32)
    f[np.arange(72), np.asarray(res.assignments)] = 1 / np.sqrt(counts[np.asarray(res.assignments)])
    w = np.asarray(rows).T
    assert float(np.sum(w * w) - np.sum((w @ f) ** 2)) == pytest.approx(sse, rel=1e-4)
    lam = 1e-3
    grad = jax.grad(lambda r: lam / 2 * share.kmeans_penalty(r, res.assignments, 5))(rows)
    expected = lam * (w - w @ f @ f.T).T
    np.testing.assert_allclose(grad, expected, atol=1e-7)
    np.testing.assert_allclose((w @ f @ f.T).T, res.centroids[res.assignments], atol=1e-5)


def test_spectral_penalty_vanishes_for_k_at_least_s(kernel):
    rows = share.rows_from_kernel(kernel)  # s = 3
    for k in (3, 8):
        basis = share.spectral_basis(rows, k)
        assert abs(float(share.spectral_penalty(rows, basis))) < 1e-4
        g = jax.grad(lambda r, b=basis: share.spectral_penalty(r, b))(rows)
        assert float(jnp.max(jnp.abs(g))) < 1e-4
    assert float(share.spectral_penalty(rows, share.spectral_basis(rows, 1))) > 1.0
    tx = share.deep_kmeans(
        optax.sgd(1.0), [("kernel", 8)], key=jax.random.key(0), mode="spectral_svd", strength=1.0
    )
    with pytest.warns(UserWarning, match="identically zero"):
        state = tx.init({"kernel": kernel})
    upd, _ = tx.update({"kernel": jnp.zeros_like(kernel)}, state, {"kernel": kernel})
    assert float(jnp.max(jnp.abs(upd["kernel"]))) < 1e-4


def test_shared_kernel_has_exactly_k_unique_rows_and_codebook_invariant(kernel, key):
    tree = share.share_params(
        {"conv": {"kernel": kernel, "bias": jnp.zeros(6)}}, [("kernel$", 7)], key=key
    )
    cb = tree["conv"]["kernel"]
    assert isinstance(cb, share.Codebook) and cb.k == 7
    expanded = share.expand_params(tree)["conv"]["kernel"]
    assert np.unique(np.asarray(share.rows_from_kernel(expanded)), axis=0).shape[0] == 7
    assert bool(jnp.all(expanded == share.kernel_from_rows(cb.centroids[cb.indices], kernel.shape)))
    leaves = jax.tree.leaves(tree)  # a pytree: indices, centroids, bias
    assert len(leaves) == 3


def test_optax_wrapper_adds_lambda_w_minus_means_and_updates_lazily(kernel, fast_compile):
    params = {"conv": {"kernel": kernel}, "dense": {"kernel": jnp.ones((4, 2))}}
    lam = 1e-2
    tx = share.deep_kmeans(
        optax.sgd(1.0), [("conv/kernel", 4)], key=jax.random.key(0), strength=lam, update_every=2
    )
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    upd, state1 = jax.jit(tx.update)(zeros, state, params)
    rows = share.rows_from_kernel(kernel)
    a = state.assignments["conv"]["kernel"]
    means = jax.ops.segment_sum(rows, a, 4) / jnp.bincount(a, length=4)[:, None]
    np.testing.assert_allclose(
        upd["conv"]["kernel"],
        -lam * share.kernel_from_rows(rows - means[a], kernel.shape),
        atol=1e-6,
    )
    assert bool(jnp.all(upd["dense"]["kernel"] == 0))
    penalty = share.deep_kmeans_penalty(params, state)
    assert float(penalty) == pytest.approx(float(jnp.sum((rows - means[a]) ** 2)), rel=1e-5)
    # Lazy update at step 2 re-clusters the (moved) weights.
    moved = {
        **params,
        "conv": {"kernel": kernel + 3.0 * (jnp.arange(kernel.size).reshape(kernel.shape) % 2)},
    }
    _, state2 = tx.update(zeros, state1, moved)
    assert bool(jnp.all(state2.assignments["conv"]["kernel"] == a))
    _, state3 = tx.update(zeros, state2, moved)
    assert not bool(jnp.all(state3.assignments["conv"]["kernel"] == a))


def test_sparsity_promoting_variant_zeroes_smallest_rows(kernel, key, fast_compile):
    tree = share.share_params({"k": kernel}, [("k", 5)], key=key, zero_fraction=0.25)
    cb = tree["k"]
    rows = share.rows_from_kernel(kernel)
    zero_rows = np.asarray(cb.indices) == 0
    assert zero_rows.sum() == 18 and bool(jnp.all(cb.centroids[0] == 0))
    norms = np.asarray(jnp.sum(rows**2, 1))
    assert norms[zero_rows].max() <= norms[~zero_rows].min()
    tx = share.deep_kmeans(optax.sgd(1.0), [("k", 5)], key=key, zero_fraction=0.25, strength=1.0)
    upd, _ = tx.update({"k": jnp.zeros_like(kernel)}, tx.init({"k": kernel}), {"k": kernel})
    g = share.rows_from_kernel(upd["k"])
    np.testing.assert_allclose(g[zero_rows], -rows[zero_rows], atol=1e-6)  # pulled to zero


def test_clusters_for_ratio_reaches_target_and_first_layer_is_finer():
    params = {"a": {"kernel": jnp.ones((3, 3, 3, 16))}, "b": {"kernel": jnp.ones((3, 3, 16, 16))}}
    ks = share.clusters_for_ratio(params, 8.0)
    n, s = 768, 3
    assert (
        share.layer_ratio(n, s, ks["b/kernel"]) >= 8 > share.layer_ratio(n, s, ks["b/kernel"] + 1)
    )
    assert ks["a/kernel"] / 144 > ks["b/kernel"] / 768


def test_bad_inputs_give_clear_errors(kernel, key):
    params = {"conv": {"kernel": kernel}, "dense": {"kernel": jnp.ones((4, 2))}}
    with pytest.raises(ValueError, match="K must be an int in 1..N = 72"):
        share.share_params(params, [("conv", 73)], key=key)
    with pytest.raises(ValueError, match="K must be an int in 1..N = 72"):
        share.share_params(params, [("conv", 0)], key=key)
    with pytest.raises(ValueError, match="4-D HWIO conv kernel"):
        share.share_params(params, [("kernel$", 2)], key=key)
    with pytest.raises(ValueError, match="NaN"):
        share.share_params({"k": kernel.at[0, 0, 0, 0].set(jnp.nan)}, [("k", 2)], key=key)
    with pytest.raises(ValueError, match="allowed: hard_kmeans"):
        share.deep_kmeans(optax.sgd(0.1), [("k", 2)], key=key, mode="svd")
    with pytest.raises(ValueError, match="No parameter is selected"), pytest.warns(UserWarning):
        share.share_params(params, [("nothing", 2)], key=key)


def test_batched_sharing_of_same_shaped_layers(kernel, key, fast_compile):
    params = {"a": kernel, "b": kernel * 2.0, "c": kernel[:, :, :2]}
    tree = share.share_params(params, [(".*", 6)], key=key, batched=True)
    for name in "abc":
        rows = share.rows_from_kernel(share.expand_params(tree)[name])
        assert np.unique(np.asarray(rows), axis=0).shape[0] == 6
    assert tree["a"].shape == tree["b"].shape == kernel.shape and tree["c"].k == 6
