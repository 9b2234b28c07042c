import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.cluster import KMeans

from efficient_jax import share


def _blobs(n=600, d=3, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.randn(5, d) * 4
    return (centers[rng.randint(0, 5, n)] + rng.randn(n, d)).astype(np.float32)


@pytest.mark.parametrize("init", ["kmeans++", "random"])
def test_inertia_within_one_percent_of_sklearn_from_the_same_init(init, key):
    x = _blobs()
    c0 = share.init_centroids(jnp.asarray(x), 16, key=key, init=init)
    ours = share.kmeans(x, 16, key=key, init=c0, max_iter=100)
    ref = KMeans(16, init=np.asarray(c0), n_init=1, max_iter=100).fit(x)
    assert abs(float(ours.inertia) / ref.inertia_ - 1) < 0.01
    assert float(ours.inertia) == pytest.approx(
        float(np.sum((x - np.asarray(ours.centroids)[np.asarray(ours.assignments)]) ** 2)), rel=1e-4
    )


def test_linear_and_density_inits_and_recovery_of_separated_clusters(key):
    x = jnp.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
    lin = share.init_centroids(x, 3, key=key, init="linear")
    np.testing.assert_allclose(lin[:, 0], [0.0, 5.1, 10.2], rtol=1e-6)
    dens = share.init_centroids(x, 2, key=key, init="density")
    assert dens.shape == (2, 1)
    res = share.kmeans(x, 2, key=key, init="linear")
    np.testing.assert_allclose(sorted(np.asarray(res.centroids[:, 0])), [0.1, 10.1], rtol=1e-5)


def test_empty_cluster_is_repaired_with_the_farthest_point(key):
    x = jnp.array([[0.0], [0.1], [5.0], [9.0]])
    init = jnp.array([[0.05], [100.0], [5.0]])  # cluster 1 starts empty
    res = share.kmeans(x, 3, key=key, init=init, max_iter=1, tol=0.0)
    assert len(np.unique(np.asarray(res.assignments))) == 3


def test_weighted_points_move_centroid_and_zero_weight_is_ignored(key):
    x = jnp.array([[0.0], [1.0], [100.0]])
    res = share.kmeans(x, 1, key=key, weights=jnp.array([3.0, 1.0, 0.0]))
    assert float(res.centroids[0, 0]) == pytest.approx(0.25)


def test_batched_matches_per_layer(key, fast_compile):
    x = jnp.asarray(np.stack([_blobs(200, seed=i) for i in range(3)]))
    res = share.kmeans_batched(x, 4, key=key)
    assert res.centroids.shape == (3, 4, 3) and res.assignments.shape == (3, 200)
    keys = jax.random.split(key, 3)
    one = share.kmeans(x[1], 4, key=keys[1])
    assert float(res.inertia[1]) == pytest.approx(float(one.inertia), rel=1e-4)


@pytest.mark.parametrize("k", [0, 7, 2.5])
def test_bad_k_is_rejected(k, key):
    with pytest.raises(ValueError, match="K must be an int in 1..N = 6"):
        share.kmeans(jnp.ones((6, 2)), k, key=key)


def test_nan_points_and_unknown_init_are_rejected(key):
    with pytest.raises(ValueError, match="NaN"):
        share.kmeans(jnp.array([[0.0], [jnp.nan]]), 1, key=key)
    with pytest.raises(ValueError, match="allowed: kmeans\\+\\+"):
        share.kmeans(jnp.ones((4, 1)), 2, key=key, init="kmedoids")
