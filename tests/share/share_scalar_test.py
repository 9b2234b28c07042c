"""Scalar (per-weight, TFMOT ``cluster_weights``) k-means sharing beside the row layout."""

import math
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax import models, share
from efficient_jax.core import path_strings


def _params_of(model, x, **kw):
    """Params of ``model`` filled with ones (shapes by ``eval_shape``: nothing compiled)."""
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x, **kw))["params"]
    return jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), shapes)


def _lenet_params():
    model = models.get_model("lenet5", num_classes=10)
    return _params_of(model, jnp.zeros((1, 8, 8, 1)), train=False)


class _AutoNamedCNN(nn.Module):
    """Flax's default names: ``Conv_0``, ``Conv_1``, ``Dense_0``."""

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(4, (3, 3))(x)
        x = nn.Conv(4, (3, 3))(x)
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


# Every k-means below clusters N = 640 weights into K = 8: one compilation serves them all.
@pytest.mark.parametrize("shape", [(64, 10), (4, 4, 5, 8), (640,)])
def test_scalar_codebook_reconstruction_is_exact(shape, key, fast_compile):
    w = jax.random.normal(jax.random.key(1), shape)
    rows = share.rows_from_kernel(w, "scalar")
    assert rows.shape == (math.prod(shape), 1) == share.num_rows(shape, "scalar")
    assert bool(jnp.all(share.kernel_from_rows(rows, shape, "scalar") == w))
    cb = share.Codebook.share(w, 8, key=key, layout="scalar")
    assert cb.layout == "scalar" and cb.indices.shape == (math.prod(shape),)
    assert cb.centroids.shape == (8, 1)
    expanded = cb.expand()
    assert expanded.shape == shape
    assert bool(jnp.all(expanded == cb.centroids[cb.indices, 0].reshape(shape)))
    assert np.unique(np.asarray(expanded)).size == 8
    # Every weight sits at its nearest centroid.
    dist = np.abs(np.asarray(w).reshape(-1, 1) - np.asarray(cb.centroids).T)
    np.testing.assert_array_equal(np.asarray(cb.indices), dist.argmin(axis=1))
    back = share.import_codebook(share.export_codebook(cb))
    assert back.layout == "scalar" and bool(jnp.all(back.expand() == expanded))


@pytest.mark.parametrize("k,index_bits", [(16, 4), (5, 3), (2, 1), (1, 0)])
def test_scalar_storage_is_log2k_bit_indices_plus_k_floats(k, index_bits, key):
    w = jax.random.normal(key, (64, 10))
    idx = jnp.arange(640, dtype=jnp.int32) % k
    cb = share.Codebook(idx, jnp.linspace(-1.0, 1.0, k)[:, None], (64, 10), "scalar")
    assert share.codebook_bits(cb) == 640 * index_bits + k * 32
    stored = {"kernel": cb, "bias": jnp.zeros(10)}
    assert share.shared_bits(stored) == 640 * index_bits + k * 32 + 10 * 32
    assert share.layer_ratios(stored)["kernel"] == pytest.approx(
        640 * 32 / (640 * index_bits + k * 32)
    )
    ratio = share.compression_ratio({"kernel": w, "bias": jnp.zeros(10)}, stored)
    assert ratio == pytest.approx(650 * 32 / (640 * index_bits + k * 32 + 320))


def test_scalar_compressor_bytes_and_distinct_values(fast_compile):
    params = {
        "conv": {"kernel": jax.random.normal(jax.random.key(1), (4, 4, 5, 8)), "bias": jnp.ones(8)},
        "fc": {"kernel": jax.random.normal(jax.random.key(2), (64, 10)), "bias": jnp.ones(10)},
    }
    result = share.scalar_kmeans_compressor(8)({"params": params})
    # Indices of 3 bits per kernel weight + 8 float32 centroids per kernel; biases float32.
    bits = 2 * 640 * 3 + 2 * 8 * 32 + (8 + 10) * 32
    assert result.model_bytes == math.ceil(bits / 8)
    for layer in ("conv", "fc"):
        out = result.variables["params"][layer]
        assert np.unique(np.asarray(out["kernel"])).size == 8
        np.testing.assert_array_equal(out["bias"], params[layer]["bias"])
    assert result.info["clusters"] == 8
    assert result.info["model_cr_fixed"] == pytest.approx((1280 + 18) * 32 / bits)


def test_scalar_sharing_is_deterministic(key, fast_compile):
    params = {"a": {"kernel": jax.random.normal(key, (4, 4, 5, 8))}, "b": {"kernel": jnp.ones(4)}}
    rules = [("a/kernel", 8)]
    one = share.share_params(params, rules, key=key, layout="scalar")
    two = share.share_params(params, rules, key=key, layout="scalar")
    assert jax.tree.all(jax.tree.map(lambda x, y: bool(jnp.all(x == y)), one, two))
    # The linear init does not depend on the key at all.
    lin = [
        share.share_params(params, rules, key=jax.random.key(s), layout="scalar", init="linear")
        for s in (0, 1)
    ]
    np.testing.assert_array_equal(lin[0]["a"]["kernel"].centroids, lin[1]["a"]["kernel"].centroids)
    compress = share.scalar_kmeans_compressor(8, rule="a/kernel")
    r1, r2 = compress({"params": params}), compress({"params": params})
    assert r1.model_bytes == r2.model_bytes and r1.info == r2.info
    np.testing.assert_array_equal(
        r1.variables["params"]["a"]["kernel"], r2.variables["params"]["a"]["kernel"]
    )


def test_scalar_beats_row_at_equal_k(key, fast_compile):
    w = jax.random.normal(key, (4, 4, 5, 8))
    err = {
        layout: float(
            jnp.mean((share.Codebook.share(w, 8, key=key, layout=layout).expand() - w) ** 2)
        )
        for layout in ("scalar", "row")
    }
    assert err["scalar"] < 0.2 * err["row"]  # about 0.03 vs 0.4 for unit-normal weights


def test_bad_layout_lists_the_valid_ones(key):
    params = {"conv": {"kernel": jnp.ones((3, 3, 2, 2))}}
    allowed = "allowed: row, filter, kernel, scalar"
    calls = [
        lambda: share.share_params(params, [("kernel", 2)], key=key, layout="scalars"),
        lambda: share.Codebook.share(params["conv"]["kernel"], 2, key=key, layout="weights"),
        lambda: share.rows_from_kernel(params["conv"]["kernel"], "Scalar"),
        lambda: share.clusters_for_ratio(params, 8.0, layout="per_weight"),
        lambda: share.resolve_clusters(params, [("kernel", 2)], layout=""),
        lambda: share.deep_kmeans(optax.sgd(0.1), [("kernel", 2)], key=key, layout="col"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=allowed):
            call()


def test_scalar_bad_inputs(key):
    params = {"fc": {"kernel": jnp.ones((3, 4)), "bias": jnp.ones(3)}, "s": jnp.ones(())}
    with pytest.raises(ValueError, match="K must be an int in 1..N = 12 .its number of weights"):
        share.share_params(params, [("fc/kernel", 13)], key=key, layout="scalar")
    with pytest.raises(ValueError, match="Parameter 's': .*at least one dimension"):
        share.share_params(params, [("^s$", 1)], key=key, layout="scalar")
    with pytest.raises(ValueError, match="clusters must be an int >= 1"):
        share.scalar_kmeans_compressor(0)
    with pytest.raises(ValueError, match="clusters must be an int >= 1"):
        share.scalar_kmeans_compressor(16.0)
    with pytest.raises(ValueError, match="Unknown k-means init 'median'; allowed: kmeans\\+\\+"):
        share.scalar_kmeans_compressor(16, init="median")
    with pytest.raises(ValueError, match="Invalid regex"):
        share.scalar_kmeans_compressor(16, rule="(")
    with pytest.raises(ValueError, match="No kernel of 2 or more dimensions"):
        share.clusters_for_ratio({"b": jnp.ones(8)}, 8.0, layout="scalar")


def test_clusters_for_ratio_scalar_includes_dense_kernels():
    ks = share.clusters_for_ratio(_lenet_params(), 8.0, layout="scalar", first_layer_target=8.0)
    assert sorted(ks) == ["conv1/kernel", "conv2/kernel", "fc1/kernel", "fc2/kernel", "fc3/kernel"]
    for path, k in ks.items():
        n = {"conv1/kernel": 150, "conv2/kernel": 2400, "fc1/kernel": 7680}.get(path)
        if n:
            assert share.layer_ratio(n, 1, k) >= 8 > share.layer_ratio(n, 1, k + 1)


def test_deep_kmeans_regulariser_with_scalar_layout(key, fast_compile):
    w = jax.random.normal(key, (64, 10))
    params = {"fc": {"kernel": w}}
    tx = share.deep_kmeans(optax.sgd(1.0), [("kernel", 8)], key=key, strength=1.0, layout="scalar")
    state = tx.init(params)
    upd, _ = tx.update({"fc": {"kernel": jnp.zeros_like(w)}}, state, params)
    a = state.assignments["fc"]["kernel"]
    x = np.asarray(w).ravel()
    means = np.array([x[np.asarray(a) == j].mean() for j in range(8)])
    np.testing.assert_allclose(-np.asarray(upd["fc"]["kernel"]).ravel(), x - means[a], atol=1e-5)


# ------------------------------------------------------------------- regression (issue 18)


def _suggested_rule(message: str) -> str:
    return re.search(r"e\.g\. \[\('([^']+)', ", message).group(1)


@pytest.mark.parametrize("auto_named", [False, True])
def test_row_rule_matching_a_dense_kernel_names_it_and_suggests_fixes(auto_named, key):
    """Issue 18 item 6: ``kernel$`` under the row layout also selects the classifier kernel.

    Before the fix the error said ``shape must be a 4-D ...``, did not mention the scalar layout,
    and suggested ``conv.*kernel$``, which selects nothing in a model with Flax's default names
    (``Conv_0``).
    """
    if auto_named:
        params = _params_of(_AutoNamedCNN(), jnp.zeros((1, 6, 6, 2)))
        dense, convs = "Dense_0/kernel", {"Conv_0/kernel", "Conv_1/kernel"}
    else:
        params = _lenet_params()
        dense, convs = "fc1/kernel", {"conv1/kernel", "conv2/kernel"}
    for fn in (share.resolve_clusters, _share):
        with pytest.raises(ValueError) as info:
            fn(params, [(r"kernel$", 4)])
        msg = str(info.value)
        assert repr(dense) in msg and "layout='scalar'" in msg and "narrower rule" in msg
    # The suggested narrower rule selects exactly the conv kernels.
    assert set(share.resolve_clusters(params, [(_suggested_rule(msg), 4)])) == convs
    # The suggested alternative works too: every kernel shared per weight.
    kernels = {p for p in path_strings(params) if p.endswith("kernel")}
    assert set(share.resolve_clusters(params, [(r"kernel$", 4)], layout="scalar")) == kernels


def _share(params, rules, **kw):
    return share.share_params(params, rules, key=jax.random.key(0), **kw)


def test_row_k_above_rows_suggests_the_scalar_layout(key):
    params = _lenet_params()  # conv1: (5, 5, 1, 6) -> 30 rows, 150 weights
    with pytest.raises(ValueError) as info:
        share.share_params(params, [(r"conv.*kernel$", 64)], key=key)
    msg = str(info.value)
    assert "'conv1/kernel': K must be an int in 1..N = 30" in msg
    assert "layout='scalar'" in msg and "N = 150" in msg
    ks = share.resolve_clusters(params, [(r"conv.*kernel$", 64)], layout="scalar")
    assert ks == {"conv1/kernel": 64, "conv2/kernel": 64}
